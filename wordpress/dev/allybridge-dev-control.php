<?php
/**
 * Plugin Name: allybridge development control (test sites only)
 * Description: The development site's control API, `allybridge-dev/v1`: what the AccessAlly simulator's `/__sim/` offers a test, on a real WordPress. A test checkout and refunds (through the plugin's standalone checkout), CRM contacts, admin edits (through the plugin's catalog, as an editor in wp-admin would make them), and the ground truth read straight from the plugin's tables. Installed as a must-use plugin by `wordpress/dev/up` only; never on a production site.
 * License: GPL-2.0-or-later
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

if ( 'production' === wp_get_environment_type() ) {
	return; // A control API that writes orders has no place on a live site.
}

// No internet on a development machine: WordPress.org update checks get an empty answer instead of a warning.
add_filter(
	'pre_http_request',
	static function ( $pre, $args, $url ) {
		if ( is_string( $url ) && str_contains( $url, 'api.wordpress.org' ) ) {
			return array(
				'headers'  => array(),
				'body'     => '',
				'response' => array(
					'code'    => 200,
					'message' => 'OK',
				),
				'cookies'  => array(),
				'filename' => null,
			);
		}
		return $pre;
	},
	10,
	3
);

add_action(
	'rest_api_init',
	static function () {
		if ( ! class_exists( 'Allybridge_Plugin' ) ) {
			return;
		}
		$can  = static fn() => current_user_can( 'allybridge_sync' );
		$body = static fn( WP_REST_Request $r ) => is_array( $r->get_json_params() ) ? $r->get_json_params() : array();
		$wrap = static function ( $result, int $status = 200 ) {
			return is_wp_error( $result ) ? $result : new WP_REST_Response( $result, $status );
		};
		$checkout = static function () {
			$plugin = Allybridge_Plugin::instance();
			return new Allybridge_Checkout( $plugin->catalog, new Allybridge_Standalone_Orders(), $plugin->outbox );
		};
		$routes = array(
			'/checkout'                     => array( 'POST', static fn( $r ) => $wrap( $checkout()->checkout( $body( $r ) ), 201 ) ),
			'/refund'                       => array(
				'POST',
				static function ( $r ) use ( $body, $wrap, $checkout ) {
					$in = $body( $r );
					return $wrap( $checkout()->refund( (int) ( $in['order_id'] ?? 0 ), isset( $in['amount'] ) ? (string) $in['amount'] : null ) );
				},
			),
			'/contacts'                     => array(
				'POST',
				static function ( $r ) use ( $body ) {
					$in = $body( $r );
					$id = Allybridge_Plugin::instance()->catalog->contacts->contact_for( (string) ( $in['email'] ?? '' ), (string) ( $in['first_name'] ?? '' ), (string) ( $in['last_name'] ?? '' ) );
					return new WP_REST_Response( array( 'crm_contact_id' => $id ), 201 );
				},
			),
			'/admin/offerings'              => array( 'POST', static fn( $r ) => $wrap( Allybridge_Plugin::instance()->catalog->write_offering( null, $body( $r ) ), 201 ) ),
			'/admin/offerings/(?P<id>\d+)'  => array( 'PUT', static fn( $r ) => $wrap( Allybridge_Plugin::instance()->catalog->write_offering( (int) $r['id'], $body( $r ) ) ) ),
			'/admin/coupons'                => array( 'POST', static fn( $r ) => $wrap( Allybridge_Plugin::instance()->catalog->write_coupon( null, $body( $r ) ), 201 ) ),
			'/admin/coupons/(?P<id>\d+)'    => array( 'PUT', static fn( $r ) => $wrap( Allybridge_Plugin::instance()->catalog->write_coupon( (int) $r['id'], $body( $r ) ) ) ),
			'/state'                        => array( 'GET', static fn() => new WP_REST_Response( allybridge_dev_state() ) ),
		);
		foreach ( $routes as $path => list( $method, $callback ) ) {
			register_rest_route(
				'allybridge-dev/v1',
				$path,
				array(
					'methods'             => $method,
					'callback'            => $callback,
					'permission_callback' => $can,
				)
			);
		}
	}
);

/**
 * The ground truth, read straight from the tables (not through the Bridge API's code).
 */
function allybridge_dev_state(): array {
	global $wpdb;
	$t    = static fn( string $name ) => $wpdb->prefix . 'allybridge_' . $name;
	$rows = static fn( string $sql ) => (array) $wpdb->get_results( $sql, ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- no input.
	$options = array();
	foreach ( $rows( 'SELECT * FROM ' . $t( 'payment_options' ) . ' ORDER BY offering_id, position, id' ) as $p ) {
		$options[ $p['offering_id'] ][] = array(
			'id'       => (int) $p['id'],
			'type'     => $p['type'],
			'amount'   => Allybridge_Values::format_money( (int) $p['amount_minor'], $p['currency'] ),
			'currency' => $p['currency'],
			'sku'      => $p['sku'],
		);
	}
	$offerings = array();
	foreach ( $rows( 'SELECT * FROM ' . $t( 'offerings' ) . ' ORDER BY id' ) as $o ) {
		$offerings[] = array(
			'id'              => (int) $o['id'],
			'name'            => $o['name'],
			'status'          => $o['status'],
			'quantity'        => null === $o['quantity'] ? null : (int) $o['quantity'],
			'external_ref'    => $o['external_ref'],
			'payment_options' => $options[ $o['id'] ] ?? array(),
		);
	}
	$coupon_offerings = array();
	foreach ( $rows( 'SELECT * FROM ' . $t( 'coupon_offerings' ) . ' ORDER BY coupon_id, position' ) as $l ) {
		$coupon_offerings[ $l['coupon_id'] ][] = (int) $l['offering_id'];
	}
	$coupons = array();
	foreach ( $rows( 'SELECT * FROM ' . $t( 'coupons' ) . ' ORDER BY id' ) as $c ) {
		$coupons[] = array(
			'id'            => (int) $c['id'],
			'code'          => $c['code'],
			'discount_type' => $c['discount_type'],
			'amount_minor'  => (int) $c['amount_minor'],
			'currency'      => $c['currency'],
			'amount'        => 'fixed' === $c['discount_type'] && null !== $c['currency'] ? Allybridge_Values::format_money( (int) $c['amount_minor'], $c['currency'] ) : Allybridge_Values::format_decimal( (int) $c['amount_minor'], 2 ),
			'usage_limit'   => null === $c['usage_limit'] ? null : (int) $c['usage_limit'],
			'date_expires'  => Allybridge_Values::format_date( $c['date_expires'] ),
			'offering_ids'  => $coupon_offerings[ $c['id'] ] ?? array(),
			'external_ref'  => $c['external_ref'],
		);
	}
	$orders = array();
	foreach ( $rows( 'SELECT * FROM ' . $t( 'orders' ) . ' ORDER BY id' ) as $o ) {
		$orders[] = array(
			'id'       => (int) $o['id'],
			'status'   => $o['status'],
			'email'    => $o['email'],
			'total'    => Allybridge_Values::format_money( (int) $o['total_minor'], $o['currency'] ),
			'currency' => $o['currency'],
		);
	}
	$grants = array();
	foreach ( $rows( 'SELECT * FROM ' . $t( 'grants' ) . ' ORDER BY id' ) as $g ) {
		$grants[] = array(
			'id'          => (int) $g['id'],
			'email'       => $g['email'],
			'offering_id' => (int) $g['offering_id'],
			'source_ref'  => $g['source_ref'],
			'user_id'     => (int) $g['user_id'],
			'user_exists' => false !== get_userdata( (int) $g['user_id'] ),
		);
	}
	$contacts = array();
	foreach ( $rows( 'SELECT * FROM ' . $t( 'contacts' ) . ' ORDER BY id' ) as $c ) {
		$contacts[] = array(
			'crm_contact_id'  => (string) $c['id'],
			'email'           => $c['email'],
			'wp_user_id'      => null === $c['user_id'] ? null : (int) $c['user_id'],
			'tags'            => Allybridge_Values::json_list( $c['tags'] ),
			'refresh_pending' => (bool) (int) $c['refresh_pending'],
		);
	}
	$outbox = array();
	foreach ( $rows( 'SELECT id, webhook_id, topic, record_id, state, attempts FROM ' . $t( 'outbox' ) . ' ORDER BY id' ) as $d ) {
		$outbox[] = array_map( static fn( $v ) => is_numeric( $v ) ? (int) $v : $v, $d );
	}
	$api_writes = (int) $wpdb->get_var( 'SELECT COUNT(*) FROM ' . $t( 'log' ) . " WHERE (kind = 'api' AND method IN ('POST','PUT','DELETE')) OR kind = 'aal'" ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- no input.
	return array(
		'api_writes'    => $api_writes,
		'offerings'     => $offerings,
		'coupons'       => $coupons,
		'orders'        => $orders,
		'access_grants' => $grants,
		'contacts'      => $contacts,
		'outbox'        => $outbox,
	);
}
