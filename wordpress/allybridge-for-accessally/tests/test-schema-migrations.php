<?php
/**
 * The plugin's tables upgrade in place: a site on an older schema version
 * gets the newer columns at the next load, keeping its rows, and records the
 * new version; a site already current is left alone.
 *
 * @package allybridge-for-accessally
 */

/**
 * Schema migrations.
 */
class Test_Schema_Migrations extends Allybridge_Test_Case {

	private function method_column_type(): string {
		global $wpdb;
		$table = Allybridge_Schema::table( 'log' );
		$row   = $wpdb->get_row( "SHOW COLUMNS FROM $table LIKE 'method'", ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- our table.
		return strtolower( (string) ( $row['Type'] ?? '' ) );
	}

	public function test_a_version_1_site_is_migrated_keeping_its_rows(): void {
		global $wpdb;
		$table = Allybridge_Schema::table( 'log' );
		// The site as version 1 left it: a 10-character method column, and a row in it.
		$wpdb->query( "ALTER TABLE $table MODIFY method varchar(10) NOT NULL DEFAULT ''" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		update_option( 'allybridge_db_version', 1 );
		// Written with plain SQL: $wpdb caches a table's column lengths at its first insert, and a
		// real upgrade runs at plugins_loaded, before any write of its request.
		$wpdb->query( $wpdb->prepare( "INSERT INTO $table (at_gmt, kind, method, route, status, record) VALUES (%s, 'api', 'GET', '/allybridge/v1/offerings', 200, 'offering 1')", Allybridge_Values::now() ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$this->assertSame( 'varchar(10)', $this->method_column_type() );

		Allybridge_Schema::migrate();

		$this->assertSame( 'varchar(40)', $this->method_column_type() );
		$this->assertSame( Allybridge_Schema::VERSION, (int) get_option( 'allybridge_db_version' ) );
		list( $rows ) = Allybridge_Log::page( 'offering 1', 1, 10 );
		$this->assertCount( 1, $rows, 'the row written before the migration is still there' );
		Allybridge_Log::write( 'webhook', 'offering.updated', 'http://127.0.0.1/hook', 204, 'offering 1' );
		list( $rows ) = Allybridge_Log::page( 'offering 1', 1, 10 );
		$this->assertSame( 'offering.updated', $rows[0]['method'], 'a topic fits whole' );
	}

	public function test_a_current_site_is_left_alone(): void {
		update_option( 'allybridge_db_version', Allybridge_Schema::VERSION );
		$queries = 0;
		$count   = static function ( $query ) use ( &$queries ) {
			if ( preg_match( '/^\s*(CREATE|ALTER)\b/i', $query ) ) {
				++$queries;
			}
			return $query;
		};
		add_filter( 'query', $count );
		Allybridge_Schema::migrate();
		remove_filter( 'query', $count );
		$this->assertSame( 0, $queries );
	}
}
