<?php
/**
 * Offerings and their payment options in the plugin's own tables, for a
 * site without AccessAlly.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Standalone offering storage.
 */
final class Allybridge_Standalone_Offerings implements Allybridge_Offering_Source {

	public function query( Allybridge_List_Query $query ): Allybridge_Page {
		$q = new Allybridge_Table_Query( Allybridge_Schema::table( 'offerings' ) );
		if ( isset( $query->filters['external_ref'] ) ) {
			$q->where( 'external_ref = %s', $query->filters['external_ref'] );
		}
		if ( isset( $query->filters['status'] ) ) {
			$q->where( 'status = %s', $query->filters['status'] );
		}
		list( $rows, $total ) = $q->run( $query );
		$options              = $this->options_of( array_map( static fn( $r ) => (int) $r['id'], $rows ) );
		$items                = array();
		foreach ( $rows as $row ) {
			$items[] = $this->record( $row, $options[ (int) $row['id'] ] ?? array() );
		}
		return new Allybridge_Page( $items, $total );
	}

	public function get( int $id ): ?array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'offerings' );
		$row   = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM $table WHERE id = %d", $id ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		if ( ! $row ) {
			return null;
		}
		return $this->record( $row, $this->options_of( array( $id ) )[ $id ] ?? array() );
	}

	public function id_by_external_ref( string $external_ref ): ?int {
		global $wpdb;
		$table = Allybridge_Schema::table( 'offerings' );
		$id    = $wpdb->get_var( $wpdb->prepare( "SELECT id FROM $table WHERE external_ref = %s", $external_ref ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return null === $id ? null : (int) $id;
	}

	public function insert( array $offering ): array {
		global $wpdb;
		$ok = $wpdb->insert( Allybridge_Schema::table( 'offerings' ), $this->row( $offering ) );
		if ( false === $ok ) {
			throw new Allybridge_Storage_Exception( $wpdb->last_error );
		}
		$offering['id'] = (int) $wpdb->insert_id;
		if ( ! $offering['order_form_ids_given'] ) {
			// A standalone site has no order forms of its own: each offering is sold on one numbered like it.
			$offering['order_form_ids'] = array( $offering['id'] );
			$wpdb->update( Allybridge_Schema::table( 'offerings' ), array( 'order_form_ids' => wp_json_encode( $offering['order_form_ids'] ) ), array( 'id' => $offering['id'] ) );
		}
		$offering['payment_options'] = $this->write_options( $offering['id'], $offering['payment_options'] );
		return $this->get( $offering['id'] ) ?? $offering;
	}

	public function update( array $offering ): array {
		global $wpdb;
		$ok = $wpdb->update( Allybridge_Schema::table( 'offerings' ), $this->row( $offering ), array( 'id' => $offering['id'] ) );
		if ( false === $ok ) {
			throw new Allybridge_Storage_Exception( $wpdb->last_error );
		}
		$this->write_options( (int) $offering['id'], $offering['payment_options'] );
		return $this->get( (int) $offering['id'] ) ?? $offering;
	}

	public function delete( int $id ): void {
		global $wpdb;
		$wpdb->delete( Allybridge_Schema::table( 'payment_options' ), array( 'offering_id' => $id ) );
		$wpdb->delete( Allybridge_Schema::table( 'offerings' ), array( 'id' => $id ) );
	}

	/**
	 * Replaces an offering's options: kept ids are updated, new ones inserted, the rest removed.
	 *
	 * @param int     $offering_id Offering.
	 * @param array[] $options     Options in order.
	 * @return array[] The options with their ids.
	 */
	private function write_options( int $offering_id, array $options ): array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'payment_options' );
		$kept  = array();
		foreach ( $options as $position => &$option ) {
			$row = array(
				'offering_id'        => $offering_id,
				'position'           => $position,
				'type'               => $option['type'],
				'amount_minor'       => $option['amount_minor'],
				'currency'           => $option['currency'],
				'sku'                => $option['sku'],
				'trial_days'         => $option['trial_days'],
				'number_of_payments' => $option['number_of_payments'],
				'interval_unit'      => $option['interval'],
				'interval_count'     => $option['interval_count'],
			);
			if ( ! empty( $option['id'] ) ) {
				$wpdb->update( $table, $row, array( 'id' => $option['id'] ) );
			} else {
				if ( false === $wpdb->insert( $table, $row ) ) {
					throw new Allybridge_Storage_Exception( $wpdb->last_error );
				}
				$option['id'] = (int) $wpdb->insert_id;
			}
			$kept[] = (int) $option['id'];
		}
		unset( $option );
		$in = implode( ',', array_map( 'intval', $kept ) );
		$sql = $kept
			? $wpdb->prepare( "DELETE FROM $table WHERE offering_id = %d AND id NOT IN ($in)", $offering_id ) // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- $in is integers.
			: $wpdb->prepare( "DELETE FROM $table WHERE offering_id = %d", $offering_id ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$wpdb->query( $sql ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
		return $options;
	}

	/**
	 * Payment options of these offerings, by offering id, in order.
	 *
	 * @param int[] $ids Offering ids.
	 * @return array<int,array[]>
	 */
	private function options_of( array $ids ): array {
		global $wpdb;
		if ( ! $ids ) {
			return array();
		}
		$table = Allybridge_Schema::table( 'payment_options' );
		$in    = implode( ',', array_map( 'intval', $ids ) );
		$rows  = $wpdb->get_results( "SELECT * FROM $table WHERE offering_id IN ($in) ORDER BY offering_id, position, id", ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- integers only.
		$by    = array();
		foreach ( (array) $rows as $r ) {
			$by[ (int) $r['offering_id'] ][] = array(
				'id'                 => (int) $r['id'],
				'type'               => $r['type'],
				'amount_minor'       => (int) $r['amount_minor'],
				'currency'           => $r['currency'],
				'sku'                => $r['sku'],
				'trial_days'         => (int) $r['trial_days'],
				'number_of_payments' => null === $r['number_of_payments'] ? null : (int) $r['number_of_payments'],
				'interval'           => $r['interval_unit'],
				'interval_count'     => null === $r['interval_count'] ? null : (int) $r['interval_count'],
			);
		}
		return $by;
	}

	private function row( array $o ): array {
		return array(
			'name'           => $o['name'],
			'description'    => $o['description'],
			'status'         => $o['status'],
			'quantity'       => $o['quantity'],
			'order_form_ids' => wp_json_encode( array_values( $o['order_form_ids'] ) ),
			'access_tags'    => wp_json_encode( array_values( $o['access_tags'] ) ),
			'external_ref'   => $o['external_ref'],
			'created_gmt'    => $o['created'],
			'modified_gmt'   => $o['modified'],
		);
	}

	private function record( array $row, array $options ): array {
		return array(
			'id'              => (int) $row['id'],
			'name'            => $row['name'],
			'description'     => $row['description'],
			'status'          => $row['status'],
			'payment_options' => $options,
			'quantity'        => null === $row['quantity'] ? null : (int) $row['quantity'],
			'order_form_ids'  => array_map( 'intval', Allybridge_Values::json_list( $row['order_form_ids'] ) ),
			'access_tags'     => array_map( 'strval', Allybridge_Values::json_list( $row['access_tags'] ) ),
			'external_ref'    => $row['external_ref'],
			'created'         => $row['created_gmt'],
			'modified'        => $row['modified_gmt'],
		);
	}
}
