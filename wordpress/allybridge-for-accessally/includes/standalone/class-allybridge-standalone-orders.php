<?php
/**
 * Orders in the plugin's own tables. A standalone site has no order form of
 * its own: orders come from whatever checkout records them through
 * `Allybridge_Checkout` (a payment integration, or the development site's
 * test checkout).
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Standalone order storage.
 */
final class Allybridge_Standalone_Orders implements Allybridge_Order_Source {

	public function query( Allybridge_List_Query $query ): Allybridge_Page {
		$q = new Allybridge_Table_Query( Allybridge_Schema::table( 'orders' ) );
		if ( ! empty( $query->filters['statuses'] ) ) {
			$placeholders = implode( ',', array_fill( 0, count( $query->filters['statuses'] ), '%s' ) );
			$q->where( "status IN ($placeholders)", ...$query->filters['statuses'] );
		}
		if ( isset( $query->filters['after'] ) ) {
			$q->where( 'created_gmt > %s', $query->filters['after'] );
		}
		if ( isset( $query->filters['email'] ) ) {
			$q->where( 'email = %s', $query->filters['email'] );
		}
		list( $rows, $total ) = $q->run( $query );
		return new Allybridge_Page( array_map( array( $this, 'record' ), $rows ), $total );
	}

	public function get( int $id ): ?array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'orders' );
		$row   = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM $table WHERE id = %d", $id ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return $row ? $this->record( $row ) : null;
	}

	/**
	 * Stores a new order; returns it with its id.
	 *
	 * @param array $order Order without id.
	 */
	public function insert( array $order ): array {
		global $wpdb;
		if ( false === $wpdb->insert( Allybridge_Schema::table( 'orders' ), $this->row( $order ) ) ) {
			throw new Allybridge_Storage_Exception( $wpdb->last_error );
		}
		return $this->get( (int) $wpdb->insert_id ) ?? $order;
	}

	/**
	 * Stores a changed order (refunds).
	 *
	 * @param array $order Order with id.
	 */
	public function update( array $order ): array {
		global $wpdb;
		if ( false === $wpdb->update( Allybridge_Schema::table( 'orders' ), $this->row( $order ), array( 'id' => $order['id'] ) ) ) {
			throw new Allybridge_Storage_Exception( $wpdb->last_error );
		}
		return $this->get( (int) $order['id'] ) ?? $order;
	}

	/**
	 * Successful uses of a coupon by one buyer (for `usage_limit_per_user`).
	 *
	 * @param string $code  Coupon code.
	 * @param string $email Buyer.
	 */
	public function uses_by( string $code, string $email ): int {
		global $wpdb;
		$table = Allybridge_Schema::table( 'orders' );
		return (int) $wpdb->get_var( $wpdb->prepare( "SELECT COUNT(*) FROM $table WHERE coupon_code = %s AND email = %s AND status IN ('success','refunded','partially_refunded')", $code, $email ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
	}

	private function row( array $o ): array {
		return array(
			'status'         => $o['status'],
			'order_form_id'  => $o['order_form_id'],
			'email'          => $o['email'],
			'first_name'     => $o['first_name'],
			'last_name'      => $o['last_name'],
			'crm_contact_id' => $o['crm_contact_id'],
			'line_items'     => wp_json_encode( $o['line_items'] ),
			'coupon_code'    => $o['coupon_code'],
			'subtotal_minor' => $o['subtotal_minor'],
			'discount_minor' => $o['discount_minor'],
			'total_minor'    => $o['total_minor'],
			'refunded_minor' => $o['refunded_minor'],
			'currency'       => $o['currency'],
			'payment_method' => $o['payment_method'],
			'transaction_id' => $o['transaction_id'],
			'created_gmt'    => $o['created'],
			'modified_gmt'   => $o['modified'],
		);
	}

	/**
	 * @param array $row Table row.
	 */
	public function record( array $row ): array {
		return array(
			'id'             => (int) $row['id'],
			'status'         => $row['status'],
			'order_form_id'  => (int) $row['order_form_id'],
			'email'          => $row['email'],
			'first_name'     => $row['first_name'],
			'last_name'      => $row['last_name'],
			'crm_contact_id' => $row['crm_contact_id'],
			'line_items'     => Allybridge_Values::json_list( $row['line_items'] ),
			'coupon_code'    => $row['coupon_code'],
			'subtotal_minor' => (int) $row['subtotal_minor'],
			'discount_minor' => (int) $row['discount_minor'],
			'total_minor'    => (int) $row['total_minor'],
			'refunded_minor' => (int) $row['refunded_minor'],
			'currency'       => $row['currency'],
			'payment_method' => $row['payment_method'],
			'transaction_id' => $row['transaction_id'],
			'created'        => $row['created_gmt'],
			'modified'       => $row['modified_gmt'],
		);
	}
}
