<?php
/**
 * Coupons and the offerings they apply to, in the plugin's own tables.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Standalone coupon storage.
 */
final class Allybridge_Standalone_Coupons implements Allybridge_Coupon_Source {

	public function query( Allybridge_List_Query $query ): Allybridge_Page {
		$q = new Allybridge_Table_Query( Allybridge_Schema::table( 'coupons' ) );
		if ( isset( $query->filters['external_ref'] ) ) {
			$q->where( 'external_ref = %s', $query->filters['external_ref'] );
		}
		if ( isset( $query->filters['code'] ) ) {
			// The column's collation compares case-insensitively, as WooCommerce does.
			$q->where( 'code = %s', $query->filters['code'] );
		}
		list( $rows, $total ) = $q->run( $query );
		$links                = $this->offerings_of( array_map( static fn( $r ) => (int) $r['id'], $rows ) );
		return new Allybridge_Page(
			array_map( fn( $row ) => $this->record( $row, $links[ (int) $row['id'] ] ?? array() ), $rows ),
			$total
		);
	}

	public function get( int $id ): ?array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'coupons' );
		$row   = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM $table WHERE id = %d", $id ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return $row ? $this->record( $row, $this->offerings_of( array( $id ) )[ $id ] ?? array() ) : null;
	}

	public function id_by_code( string $code ): ?int {
		return $this->id_where( 'code', $code );
	}

	public function id_by_external_ref( string $external_ref ): ?int {
		return $this->id_where( 'external_ref', $external_ref );
	}

	public function insert( array $coupon ): array {
		global $wpdb;
		if ( false === $wpdb->insert( Allybridge_Schema::table( 'coupons' ), $this->row( $coupon ) ) ) {
			throw new Allybridge_Storage_Exception( $wpdb->last_error );
		}
		$coupon['id'] = (int) $wpdb->insert_id;
		$this->write_offerings( $coupon['id'], $coupon['offering_ids'] );
		return $this->get( $coupon['id'] ) ?? $coupon;
	}

	public function update( array $coupon ): array {
		global $wpdb;
		if ( false === $wpdb->update( Allybridge_Schema::table( 'coupons' ), $this->row( $coupon ), array( 'id' => $coupon['id'] ) ) ) {
			throw new Allybridge_Storage_Exception( $wpdb->last_error );
		}
		$this->write_offerings( (int) $coupon['id'], $coupon['offering_ids'] );
		return $this->get( (int) $coupon['id'] ) ?? $coupon;
	}

	public function delete( int $id ): void {
		global $wpdb;
		$wpdb->delete( Allybridge_Schema::table( 'coupon_offerings' ), array( 'coupon_id' => $id ) );
		$wpdb->delete( Allybridge_Schema::table( 'coupons' ), array( 'id' => $id ) );
	}

	public function ids_naming_offering( int $offering_id ): array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'coupon_offerings' );
		return array_map( 'intval', (array) $wpdb->get_col( $wpdb->prepare( "SELECT coupon_id FROM $table WHERE offering_id = %d ORDER BY coupon_id", $offering_id ) ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
	}

	private function id_where( string $column, string $value ): ?int {
		global $wpdb;
		$table = Allybridge_Schema::table( 'coupons' );
		$id    = $wpdb->get_var( $wpdb->prepare( "SELECT id FROM $table WHERE $column = %s", $value ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- column names are ours.
		return null === $id ? null : (int) $id;
	}

	private function write_offerings( int $coupon_id, array $offering_ids ): void {
		global $wpdb;
		$table = Allybridge_Schema::table( 'coupon_offerings' );
		$wpdb->delete( $table, array( 'coupon_id' => $coupon_id ) );
		foreach ( array_values( $offering_ids ) as $position => $offering_id ) {
			$wpdb->insert(
				$table,
				array(
					'coupon_id'   => $coupon_id,
					'offering_id' => (int) $offering_id,
					'position'    => $position,
				)
			);
		}
	}

	/**
	 * @param int[] $ids Coupon ids.
	 * @return array<int,int[]> Offering ids by coupon, in the order given.
	 */
	private function offerings_of( array $ids ): array {
		global $wpdb;
		if ( ! $ids ) {
			return array();
		}
		$table = Allybridge_Schema::table( 'coupon_offerings' );
		$in    = implode( ',', array_map( 'intval', $ids ) );
		$rows  = $wpdb->get_results( "SELECT coupon_id, offering_id FROM $table WHERE coupon_id IN ($in) ORDER BY coupon_id, position", ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- integers only.
		$by    = array();
		foreach ( (array) $rows as $r ) {
			$by[ (int) $r['coupon_id'] ][] = (int) $r['offering_id'];
		}
		return $by;
	}

	private function row( array $c ): array {
		return array(
			'code'                 => $c['code'],
			'amount_minor'         => $c['amount_minor'],
			'discount_type'        => $c['discount_type'],
			'currency'             => $c['currency'],
			'date_starts'          => $c['date_starts'],
			'date_expires'         => $c['date_expires'],
			'usage_limit'          => $c['usage_limit'],
			'usage_count'          => $c['usage_count'],
			'usage_limit_per_user' => $c['usage_limit_per_user'],
			'first_payment_only'   => $c['first_payment_only'] ? 1 : 0,
			'external_ref'         => $c['external_ref'],
			'created_gmt'          => $c['created'],
			'modified_gmt'         => $c['modified'],
		);
	}

	private function record( array $row, array $offering_ids ): array {
		$int_or_null = static fn( $v ) => null === $v ? null : (int) $v;
		return array(
			'id'                   => (int) $row['id'],
			'code'                 => $row['code'],
			'amount_minor'         => (int) $row['amount_minor'],
			'discount_type'        => $row['discount_type'],
			'currency'             => $row['currency'],
			'date_starts'          => $row['date_starts'],
			'date_expires'         => $row['date_expires'],
			'usage_limit'          => $int_or_null( $row['usage_limit'] ),
			'usage_count'          => (int) $row['usage_count'],
			'usage_limit_per_user' => $int_or_null( $row['usage_limit_per_user'] ),
			'first_payment_only'   => (bool) (int) $row['first_payment_only'],
			'offering_ids'         => $offering_ids,
			'external_ref'         => $row['external_ref'],
			'created'              => $row['created_gmt'],
			'modified'             => $row['modified_gmt'],
		);
	}
}
