<?php
/**
 * Installs the development site without a browser (run by wordpress/dev/up
 * from the site's folder): WordPress's own wp_install(), pretty permalinks,
 * the plugin activated, an admin, and a user with only the plugin's
 * capability and an Application Password. Prints one JSON line.
 *
 * @package allybridge-for-accessally
 */

// phpcs:disable WordPress.Security.EscapeOutput -- a command-line script.
define( 'WP_INSTALLING', true );
$allybridge_url       = (string) getenv( 'ALLYBRIDGE_SITE_URL' );
$_SERVER['HTTP_HOST'] = (string) wp_parse_url_host( $allybridge_url );
$_SERVER['REQUEST_URI'] = '/';
require_once getcwd() . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

/**
 * Host and port of a URL (before WordPress is loaded).
 *
 * @param string $url URL.
 */
function wp_parse_url_host( string $url ): string {
	$parts = parse_url( $url ); // phpcs:ignore WordPress.WP.AlternativeFunctions.parse_url_parse_url -- WordPress is not loaded yet.
	return ( $parts['host'] ?? 'localhost' ) . ( isset( $parts['port'] ) ? ':' . $parts['port'] : '' );
}

// No mail server on a development machine: the welcome e-mail is skipped.
add_filter( 'pre_wp_mail', '__return_true' );
$admin_password = wp_generate_password( 20, false );
$installed      = wp_install( 'allybridge development site', 'admin', 'admin@example.com', false, '', $admin_password );
update_option( 'permalink_structure', '/%postname%/' );
flush_rewrite_rules( false );

$activated = activate_plugin( 'allybridge-for-accessally/allybridge-for-accessally.php' );
if ( is_wp_error( $activated ) ) {
	fwrite( STDERR, 'activating the plugin failed: ' . $activated->get_error_message() . "\n" );
	exit( 1 );
}
Allybridge_Plugin::activate();

$user_id = wp_insert_user(
	array(
		'user_login' => 'allybridge',
		'user_email' => 'allybridge@example.com',
		'user_pass'  => wp_generate_password( 32 ),
		'role'       => Allybridge_Plugin::ROLE,
	)
);
if ( is_wp_error( $user_id ) ) {
	fwrite( STDERR, 'creating the allybridge user failed: ' . $user_id->get_error_message() . "\n" );
	exit( 1 );
}
$created = WP_Application_Passwords::create_new_application_password( $user_id, array( 'name' => 'allybridge' ) );
if ( is_wp_error( $created ) ) {
	fwrite( STDERR, 'creating the Application Password failed: ' . $created->get_error_message() . "\n" );
	exit( 1 );
}
// A user without the plugin's capability, for the tests of refused calls.
$reader_id = wp_insert_user(
	array(
		'user_login' => 'allybridge-reader',
		'user_email' => 'reader@example.com',
		'user_pass'  => wp_generate_password( 32 ),
		'role'       => 'subscriber',
	)
);
$reader = is_wp_error( $reader_id ) ? $reader_id : WP_Application_Passwords::create_new_application_password( $reader_id, array( 'name' => 'tests' ) );
if ( is_wp_error( $reader ) ) {
	fwrite( STDERR, 'creating the reader user failed: ' . $reader->get_error_message() . "\n" );
	exit( 1 );
}
echo wp_json_encode(
	array(
		'site'           => 'wordpress',
		'url'            => $allybridge_url,
		'user'           => 'allybridge',
		'app_password'   => $created[0],
		'handshake'      => Allybridge_Secrets::handshake(),
		'webhook_secret' => Allybridge_Secrets::default_webhook_secret(),
		'admin_user'     => 'admin',
		'admin_password' => $admin_password,
		'control_url'    => $allybridge_url . '/wp-json/allybridge-dev/v1',
		'debug_log'      => WP_DEBUG_LOG,
		'unprivileged_user'         => 'allybridge-reader',
		'unprivileged_app_password' => $reader[0],
	),
	JSON_UNESCAPED_SLASHES
) . "\n";
