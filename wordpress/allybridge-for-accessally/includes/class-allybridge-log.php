<?php
/**
 * The integration log: every Bridge API call, every webhook delivery and
 * every `aal_*` command, with time, route, status, record and duration;
 * pruned after 30 days. Never a secret: routes are stored without their
 * query string, and details are written by this plugin, not copied from
 * requests.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Writes and reads the log.
 */
final class Allybridge_Log {

	const KEEP_DAYS = 30;

	/**
	 * @param string $kind        `api`, `webhook` or `aal`.
	 * @param string $method      HTTP method, or the topic for a delivery (40 characters at most).
	 * @param string $route       Route or URL (no query string).
	 * @param int    $status      HTTP status (0 when none came back).
	 * @param string $record      `offering 123`, `order 9`…
	 * @param int    $duration_ms Time taken.
	 * @param string $detail      A short note.
	 */
	public static function write( string $kind, string $method, string $route, int $status, string $record = '', int $duration_ms = 0, string $detail = '' ): void {
		global $wpdb;
		$wpdb->insert(
			Allybridge_Schema::table( 'log' ),
			array(
				'at_gmt'      => Allybridge_Values::now(),
				'kind'        => $kind,
				'method'      => substr( $method, 0, 40 ),
				'route'       => substr( strtok( $route, '?' ), 0, 191 ),
				'status'      => $status,
				'record'      => substr( $record, 0, 191 ),
				'duration_ms' => $duration_ms,
				'detail'      => substr( $detail, 0, 1000 ),
			)
		);
	}

	/**
	 * A page of entries, newest first.
	 *
	 * @param string $record   Only entries about this record (`offering 12`, or just `12`); '' for all.
	 * @param int    $page     1-based.
	 * @param int    $per_page Entries a page.
	 * @return array{0: array[], 1: int}
	 */
	public static function page( string $record, int $page, int $per_page ): array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'log' );
		$where = '1=1';
		if ( '' !== $record ) {
			$where = ctype_digit( $record )
				? $wpdb->prepare( 'record LIKE %s', '% ' . $wpdb->esc_like( $record ) )
				: $wpdb->prepare( 'record = %s', $record );
		}
		// phpcs:disable WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- $where is prepared above.
		$total = (int) $wpdb->get_var( "SELECT COUNT(*) FROM $table WHERE $where" );
		$rows  = $wpdb->get_results( $wpdb->prepare( "SELECT * FROM $table WHERE $where ORDER BY id DESC LIMIT %d OFFSET %d", $per_page, ( $page - 1 ) * $per_page ), ARRAY_A );
		// phpcs:enable
		return array( (array) $rows, $total );
	}

	/**
	 * Deletes entries older than KEEP_DAYS (daily, by WP-Cron).
	 */
	public static function prune(): void {
		global $wpdb;
		$table  = Allybridge_Schema::table( 'log' );
		$cutoff = gmdate( 'Y-m-d H:i:s', time() - self::KEEP_DAYS * DAY_IN_SECONDS );
		$wpdb->query( $wpdb->prepare( "DELETE FROM $table WHERE at_gmt < %s", $cutoff ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
	}
}
