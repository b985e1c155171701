<?php
/**
 * The seam between the Bridge API and where a site keeps its records: one
 * interface per resource. The API's rules (validation, merging an update,
 * events, idempotency) live in the services above this seam; a source only
 * reads and writes records in their normalised form:
 *
 * - offering: id, name, description, status, payment_options (id, type,
 *   amount_minor, currency, sku, trial_days, number_of_payments, interval,
 *   interval_count), quantity (null = unlimited), order_form_ids,
 *   access_tags, external_ref, created, modified;
 * - coupon: id, code, amount_minor (hundredths of a percent for `percent`),
 *   discount_type, currency, date_starts, date_expires, usage_limit,
 *   usage_count, usage_limit_per_user, first_payment_only, offering_ids,
 *   external_ref, created, modified;
 * - order: as the contract's Order with amounts in minor units;
 * - grant: id, email, first_name, last_name, offering_id, source_ref,
 *   user_id, tags_applied, created.
 *
 * Dates are UTC `Y-m-d H:i:s.u` strings. Two implementations: the plugin's
 * own tables (standalone/) and AccessAlly's records (accessally/).
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * What a list query asks: filters, order and page. `modified_after` is a
 * stored date or null; `orderby` is `id` or `modified`; `order` `asc` or `desc`.
 */
final class Allybridge_List_Query {
	/** @var array<string,mixed> Exact-match filters a source understands (e.g. `external_ref`, `status`, `code`, `email`, `statuses`, `after`). */
	public array $filters = array();
	public ?string $modified_after = null;
	public string $orderby = 'id';
	public string $order = 'asc';
	public int $page = 1;
	public int $per_page = 10;
}

/**
 * A page of records and the count of all that matched.
 */
final class Allybridge_Page {
	/**
	 * @param array[] $items Records of this page.
	 * @param int     $total Matching records in all.
	 */
	public function __construct( public array $items, public int $total ) {}
}

interface Allybridge_Offering_Source {
	public function query( Allybridge_List_Query $query ): Allybridge_Page;
	public function get( int $id ): ?array;
	public function id_by_external_ref( string $external_ref ): ?int;
	/** Stores a new offering; its payment options without an id get one. Returns the stored record. */
	public function insert( array $offering ): array;
	/** Replaces an offering's fields and options (options without an id get one). Returns the stored record. */
	public function update( array $offering ): array;
	public function delete( int $id ): void;
}

interface Allybridge_Coupon_Source {
	public function query( Allybridge_List_Query $query ): Allybridge_Page;
	public function get( int $id ): ?array;
	/** Case-insensitive. */
	public function id_by_code( string $code ): ?int;
	public function id_by_external_ref( string $external_ref ): ?int;
	public function insert( array $coupon ): array;
	public function update( array $coupon ): array;
	public function delete( int $id ): void;
	/** Ids of the coupons that name this offering. */
	public function ids_naming_offering( int $offering_id ): array;
}

interface Allybridge_Order_Source {
	public function query( Allybridge_List_Query $query ): Allybridge_Page;
	public function get( int $id ): ?array;
}

/**
 * The CRM side of AccessAlly: contacts (by e-mail), their WordPress users and tags.
 */
interface Allybridge_Contact_Source {
	/** The contact id for this e-mail, the contact created when there is none. */
	public function contact_for( string $email, string $first_name, string $last_name ): string;
	public function exists( string $contact_id ): bool;
	/** The contact's WordPress user, created (or linked by e-mail) when there is none. */
	public function ensure_user( string $contact_id ): int;
	public function add_tags( string $contact_id, array $tags ): void;
	/** Marks the contact for an activity-based permission update (`aal_updateuser`). */
	public function request_refresh( string $contact_id ): void;
}

interface Allybridge_Grant_Source {
	public function by_source_ref( string $source_ref ): ?array;
	public function insert( array $grant ): array;
}
