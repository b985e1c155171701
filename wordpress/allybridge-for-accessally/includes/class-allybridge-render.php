<?php
/**
 * Records as the contract's JSON: money as decimal strings in the
 * currency's places, dates as RFC 3339 UTC. What `GET` answers and what an
 * event carries are made here and nowhere else.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Renders normalised records.
 */
final class Allybridge_Render {

	public static function offering( array $o ): array {
		$options = array();
		foreach ( $o['payment_options'] as $p ) {
			$options[] = array(
				'id'                 => (int) $p['id'],
				'type'               => $p['type'],
				'amount'             => Allybridge_Values::format_money( (int) $p['amount_minor'], $p['currency'] ),
				'currency'           => $p['currency'],
				'sku'                => $p['sku'],
				'trial_days'         => (int) $p['trial_days'],
				'number_of_payments' => $p['number_of_payments'],
				'interval'           => $p['interval'],
				'interval_count'     => $p['interval_count'],
			);
		}
		return array(
			'id'              => (int) $o['id'],
			'name'            => $o['name'],
			'description'     => $o['description'],
			'status'          => $o['status'],
			'payment_options' => $options,
			'availability'    => array(
				'unlimited' => null === $o['quantity'],
				'quantity'  => $o['quantity'],
			),
			'order_form_ids'  => array_values( array_map( 'intval', $o['order_form_ids'] ) ),
			'access_tags'     => array_values( $o['access_tags'] ),
			'external_ref'    => $o['external_ref'],
			'date_created'    => Allybridge_Values::format_date( $o['created'] ),
			'date_modified'   => Allybridge_Values::format_date( $o['modified'] ),
		);
	}

	/**
	 * @param array $c     Coupon.
	 * @param int[] $forms Order forms of its offerings.
	 */
	public static function coupon( array $c, array $forms ): array {
		$fixed = 'fixed' === $c['discount_type'] && null !== $c['currency'];
		return array(
			'id'                   => (int) $c['id'],
			'code'                 => $c['code'],
			'amount'               => $fixed
				? Allybridge_Values::format_money( (int) $c['amount_minor'], $c['currency'] )
				: Allybridge_Values::format_decimal( (int) $c['amount_minor'], 2 ),
			'discount_type'        => $c['discount_type'],
			'currency'             => $c['currency'],
			'date_starts'          => Allybridge_Values::format_date( $c['date_starts'] ),
			'date_expires'         => Allybridge_Values::format_date( $c['date_expires'] ),
			'usage_limit'          => $c['usage_limit'],
			'usage_count'          => (int) $c['usage_count'],
			'usage_limit_per_user' => $c['usage_limit_per_user'],
			'first_payment_only'   => (bool) $c['first_payment_only'],
			'offering_ids'         => array_values( array_map( 'intval', $c['offering_ids'] ) ),
			'order_form_ids'       => array_values( $forms ),
			'external_ref'         => $c['external_ref'],
			'date_created'         => Allybridge_Values::format_date( $c['created'] ),
			'date_modified'        => Allybridge_Values::format_date( $c['modified'] ),
		);
	}

	public static function order( array $o ): array {
		$money = static fn( int $minor ) => Allybridge_Values::format_money( $minor, $o['currency'] );
		$items = array();
		foreach ( $o['line_items'] as $l ) {
			$items[] = array(
				'offering_id'       => (int) $l['offering_id'],
				'payment_option_id' => (int) $l['payment_option_id'],
				'name'              => (string) $l['name'],
				'sku'               => $l['sku'] ?? null,
				'quantity'          => (int) $l['quantity'],
				'amount'            => $money( (int) $l['amount_minor'] ),
			);
		}
		return array(
			'id'             => (int) $o['id'],
			'status'         => $o['status'],
			'order_form_id'  => (int) $o['order_form_id'],
			'buyer'          => array(
				'email'          => $o['email'],
				'first_name'     => $o['first_name'],
				'last_name'      => $o['last_name'],
				'crm_contact_id' => $o['crm_contact_id'],
			),
			'line_items'     => $items,
			'coupon_code'    => $o['coupon_code'],
			'subtotal'       => $money( (int) $o['subtotal_minor'] ),
			'discount'       => $money( (int) $o['discount_minor'] ),
			'total'          => $money( (int) $o['total_minor'] ),
			'refunded'       => $money( (int) $o['refunded_minor'] ),
			'currency'       => $o['currency'],
			'payment_method' => $o['payment_method'],
			'transaction_id' => $o['transaction_id'],
			'date_created'   => Allybridge_Values::format_date( $o['created'] ),
			'date_modified'  => Allybridge_Values::format_date( $o['modified'] ),
		);
	}

	public static function grant( array $g ): array {
		return array(
			'id'           => (int) $g['id'],
			'email'        => $g['email'],
			'first_name'   => $g['first_name'],
			'last_name'    => $g['last_name'],
			'offering_id'  => (int) $g['offering_id'],
			'source_ref'   => $g['source_ref'],
			'user_id'      => (int) $g['user_id'],
			'tags_applied' => array_values( $g['tags_applied'] ),
			'date_created' => Allybridge_Values::format_date( $g['created'] ),
		);
	}

	/**
	 * @param array $w           Webhook row.
	 * @param bool  $with_secret Only in the answer to its creation.
	 */
	public static function webhook( array $w, bool $with_secret = false ): array {
		$out = array(
			'id'           => (int) $w['id'],
			'url'          => $w['url'],
			'topics'       => array_values( Allybridge_Values::json_list( $w['topics'] ) ),
			'status'       => 'disabled' === $w['status'] ? 'disabled' : 'active',
			'date_created' => Allybridge_Values::format_date( $w['created_gmt'] ),
		);
		if ( $with_secret ) {
			$out['secret'] = Allybridge_Secrets::reveal( $w['secret'] );
		}
		return $out;
	}
}
