<?php
/**
 * Plugin Name:       allybridge for AccessAlly
 * Plugin URI:        https://github.com/allybridge/allybridge
 * Description:       Serves the allybridge Bridge API inside WordPress, so allybridge keeps this AccessAlly site and a HighLevel sub-account in sync: offerings, coupons, orders and access grants over the REST API, signed webhooks, and an integration log.
 * Version:           1.0.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            allybridge
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       allybridge-for-accessally
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

define( 'ALLYBRIDGE_VERSION', '1.0.0' );
define( 'ALLYBRIDGE_FILE', __FILE__ );

foreach ( array(
	'class-allybridge-values.php',
	'class-allybridge-errors.php',
	'class-allybridge-schema.php',
	'class-allybridge-secrets.php',
	'class-allybridge-contract.php',
	'sources/interface-allybridge-sources.php',
	'class-allybridge-render.php',
	'class-allybridge-log.php',
	'class-allybridge-outbox.php',
	'class-allybridge-catalog.php',
	'standalone/class-allybridge-table-query.php',
	'standalone/class-allybridge-standalone-offerings.php',
	'standalone/class-allybridge-standalone-coupons.php',
	'standalone/class-allybridge-standalone-orders.php',
	'standalone/class-allybridge-standalone-contacts.php',
	'standalone/class-allybridge-checkout.php',
	'accessally/class-allybridge-accessally-internals.php',
	'accessally/class-allybridge-accessally-contacts.php',
	'accessally/class-allybridge-accessally.php',
	'class-allybridge-aal-commands.php',
	'class-allybridge-rest.php',
	'class-allybridge-admin.php',
	'class-allybridge-plugin.php',
) as $allybridge_file ) {
	require_once __DIR__ . '/includes/' . $allybridge_file;
}
unset( $allybridge_file );

register_activation_hook( __FILE__, array( 'Allybridge_Plugin', 'activate' ) );
register_deactivation_hook( __FILE__, array( 'Allybridge_Plugin', 'deactivate' ) );
add_action( 'plugins_loaded', array( 'Allybridge_Plugin', 'boot' ) );
