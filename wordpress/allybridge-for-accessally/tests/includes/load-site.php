<?php
/**
 * Loads the test site's WordPress: the `wp-load.php` of the site that
 * wordpress/dev/phpunit set up (environment ALLYBRIDGE_WP_SITE), with its
 * database, the allybridge plugin and the AccessAlly fixture active. Shared
 * by the PHPUnit bootstrap and the scenario runner; included, never run.
 *
 * @package allybridge-for-accessally
 */

// phpcs:disable WordPress.WP.AlternativeFunctions, WordPress.Security.EscapeOutput -- runs before WordPress is loaded, on the command line.

if ( 'cli' !== PHP_SAPI ) {
	exit; // A command-line script, never served.
}

$allybridge_site = getenv( 'ALLYBRIDGE_WP_SITE' );
if ( ! is_string( $allybridge_site ) || '' === $allybridge_site || ! is_file( $allybridge_site . '/wp-load.php' ) ) {
	fwrite( STDERR, "ALLYBRIDGE_WP_SITE must name the test site's folder: run the tests with wordpress/dev/phpunit.\n" );
	exit( 1 );
}
$allybridge_url  = is_file( dirname( $allybridge_site ) . '/url' ) ? trim( (string) file_get_contents( dirname( $allybridge_site ) . '/url' ) ) : 'http://127.0.0.1';
$allybridge_host = (string) parse_url( $allybridge_url, PHP_URL_HOST ); // phpcs:ignore WordPress.WP.AlternativeFunctions.parse_url_parse_url -- WordPress is not loaded yet.
$allybridge_port = parse_url( $allybridge_url, PHP_URL_PORT ); // phpcs:ignore WordPress.WP.AlternativeFunctions.parse_url_parse_url

$_SERVER['HTTP_HOST']       = $allybridge_host . ( $allybridge_port ? ':' . $allybridge_port : '' );
$_SERVER['SERVER_NAME']     = $allybridge_host;
$_SERVER['SERVER_PORT']     = (string) ( $allybridge_port ? $allybridge_port : 80 );
$_SERVER['REQUEST_URI']     = '/';
$_SERVER['REQUEST_METHOD']  = 'GET';
$_SERVER['REMOTE_ADDR']     = '127.0.0.1';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';

// No loopback requests to WP-Cron from the tests.
if ( ! defined( 'DISABLE_WP_CRON' ) ) {
	define( 'DISABLE_WP_CRON', true );
}

require_once $allybridge_site . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/user.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
