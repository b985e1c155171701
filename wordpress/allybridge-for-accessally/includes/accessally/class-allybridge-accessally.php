<?php
/**
 * The AccessAlly side of the seam: where AccessAlly is active, records come
 * from AccessAlly itself, through what is publicly known of its internals
 * (see UNKNOWNS.md beside this file for every place its storage is not).
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Detects AccessAlly and builds the sources that use it.
 */
final class Allybridge_AccessAlly {

	/** AccessAlly's admin menu slug (see UNKNOWNS.md). */
	const MENU_SLUG = 'accessally';

	/**
	 * Whether AccessAlly is active on this site.
	 */
	public static function is_active(): bool {
		return class_exists( 'AccessAllyMembershipUtilities' ) || class_exists( 'AccessAllyAPI' );
	}
}
