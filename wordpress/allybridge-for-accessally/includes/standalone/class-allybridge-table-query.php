<?php
/**
 * The list query every standalone table answers the same way: exact-match
 * filters, `modified_after`, order by id or modification time, one page and
 * the total count; every value goes through `$wpdb->prepare`.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Builds and runs a paged SELECT on one of the plugin's tables.
 */
final class Allybridge_Table_Query {

	/** @var string[] SQL conditions, each already prepared. */
	private array $where = array( '1=1' );

	/**
	 * @param string $table Full table name (ours, never user input).
	 */
	public function __construct( private string $table ) {}

	/**
	 * Adds a prepared condition.
	 *
	 * @param string $sql    Condition with placeholders.
	 * @param mixed  ...$args Values.
	 */
	public function where( string $sql, ...$args ): self {
		global $wpdb;
		$this->where[] = $args ? $wpdb->prepare( $sql, ...$args ) : $sql; // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- placeholders prepared here.
		return $this;
	}

	/**
	 * Runs the query: rows of the page and the total.
	 *
	 * @param Allybridge_List_Query $query Page, order and `modified_after`.
	 * @return array{0: array[], 1: int}
	 */
	public function run( Allybridge_List_Query $query ): array {
		global $wpdb;
		if ( null !== $query->modified_after ) {
			$this->where( 'modified_gmt > %s', $query->modified_after );
		}
		$where = implode( ' AND ', $this->where );
		$dir   = 'desc' === $query->order ? 'DESC' : 'ASC';
		$order = 'modified' === $query->orderby ? "modified_gmt $dir, id $dir" : "id $dir";
		// phpcs:disable WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- $where holds prepared conditions; table and order are ours.
		$total = (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$this->table} WHERE $where" );
		$rows  = $wpdb->get_results(
			$wpdb->prepare( "SELECT * FROM {$this->table} WHERE $where ORDER BY $order LIMIT %d OFFSET %d", $query->per_page, ( $query->page - 1 ) * $query->per_page ),
			ARRAY_A
		);
		// phpcs:enable
		return array( is_array( $rows ) ? $rows : array(), $total );
	}
}
