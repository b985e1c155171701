<?php
/**
 * The AccessAlly side of the seam: detects AccessAlly and builds the sources
 * the Bridge API uses where it is active. Contacts, their WordPress users and
 * tags go through AccessAlly's internals (Allybridge_AccessAlly_Contacts,
 * Allybridge_AccessAlly_Internals); offerings, coupons, orders and the grant
 * records stay in the plugin's own tables, because where AccessAlly keeps
 * those is not known (UNKNOWNS.md beside this file lists every such place,
 * and how to check it on a real AccessAlly site).
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Detects AccessAlly and builds the sources that use it.
 */
final class Allybridge_AccessAlly {

	/** The parent slug of AccessAlly's admin menu in 4.x (`_accessally_setting_all` before; see UNKNOWNS.md). */
	const MENU_SLUG = '_accessally_dashboard';

	private Allybridge_AccessAlly_Internals $internals;

	public function __construct( ?Allybridge_AccessAlly_Internals $internals = null ) {
		$this->internals = $internals ?? new Allybridge_AccessAlly_Internals();
	}

	/**
	 * Whether AccessAlly is active on this site.
	 */
	public static function is_active(): bool {
		return class_exists( 'AccessAllyMembershipUtilities' ) || class_exists( 'AccessAllyAPI' );
	}

	/**
	 * Hooks what AccessAlly announces (called once, where AccessAlly is active).
	 */
	public static function hook(): void {
		add_action( 'accessally_update_user', array( self::class, 'on_update_user' ), 10, 2 ); // phpcs:ignore WordPress.NamingConventions.PrefixAllGlobals.NonPrefixedHooknameFound -- AccessAlly's hook.
	}

	/**
	 * `accessally_update_user`: AccessAlly updated a user linked to a CRM contact; the link is remembered.
	 *
	 * @param mixed $user_id    WordPress user.
	 * @param mixed $contact_id CRM contact id.
	 */
	public static function on_update_user( $user_id, $contact_id = null ): void {
		if ( is_numeric( $user_id ) && is_scalar( $contact_id ) && ! is_bool( $contact_id ) ) {
			Allybridge_AccessAlly_Contacts::remember_link( (int) $user_id, trim( (string) $contact_id ) );
		}
	}

	/**
	 * What this AccessAlly offers of the internals the plugin uses.
	 *
	 * @return array<string,mixed>
	 */
	public static function probe(): array {
		return ( new Allybridge_AccessAlly_Internals() )->probe();
	}

	/** Offerings: where AccessAlly keeps prices, payment options and order forms is not known; the plugin's own tables. */
	public function offerings(): Allybridge_Offering_Source {
		return new Allybridge_Standalone_Offerings();
	}

	/** Coupons: AccessAlly's coupon fields and storage are not documented; the plugin's own tables. */
	public function coupons(): Allybridge_Coupon_Source {
		return new Allybridge_Standalone_Coupons();
	}

	/** Orders: AccessAlly's order storage is not known; the orders recorded through this plugin. */
	public function orders(): Allybridge_Order_Source {
		return new Allybridge_Standalone_Orders();
	}

	/** Contacts, users and tags: AccessAlly's. */
	public function contacts(): Allybridge_Contact_Source {
		return new Allybridge_AccessAlly_Contacts( $this->internals, new Allybridge_Standalone_Contacts() );
	}

	/** Grants: the plugin's record of each grant (idempotency on source_ref); the tags themselves are AccessAlly's. */
	public function grants(): Allybridge_Grant_Source {
		return new Allybridge_Standalone_Grants();
	}
}
