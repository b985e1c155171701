<?php
/**
 * PHPUnit bootstrap: a real WordPress, the test site wordpress/dev/phpunit
 * set up (its wp-load.php and database), with the allybridge plugin and the
 * AccessAlly fixture active; then the tests' base class.
 *
 * @package allybridge-for-accessally
 */

// PHPUnit includes this file inside a method: declare WordPress's globals, as WordPress's own test bootstrap does.
// phpcs:ignore WordPress.NamingConventions.PrefixAllGlobals.NonPrefixedVariableFound -- WordPress's globals.
global $wpdb, $current_site, $current_blog, $wp_rewrite, $shortcode_tags, $wp, $phpmailer, $wp_theme_directories, $table_prefix, $wp_filter, $wp_actions, $wp_current_filter;

require __DIR__ . '/includes/load-site.php';

if ( ! class_exists( 'Allybridge_Plugin' ) || ! class_exists( 'Allybridge_AccessAlly_Fixture' ) ) {
	fwrite( STDERR, "The test site must have the allybridge plugin and the AccessAlly fixture active: run the tests with wordpress/dev/phpunit.\n" ); // phpcs:ignore WordPress.WP.AlternativeFunctions
	exit( 1 );
}

/*
 * WordPress 6.1's bundled Requests library declares ArrayAccess and
 * IteratorAggregate methods without the return types PHP 8.1 asks for, and
 * PHP says so when a class is first loaded. Load them all here, before any
 * test, so that core's deprecation is not taken for one of ours (the tests
 * turn every deprecation into a failure).
 */
$allybridge_requests = ABSPATH . WPINC . '/Requests';
if ( is_dir( $allybridge_requests ) ) {
	foreach ( new RecursiveIteratorIterator( new RecursiveDirectoryIterator( $allybridge_requests, FilesystemIterator::SKIP_DOTS ) ) as $allybridge_file ) {
		if ( 'php' === $allybridge_file->getExtension() ) {
			$allybridge_class = 'Requests_' . str_replace( '/', '_', substr( $allybridge_file->getPathname(), strlen( $allybridge_requests ) + 1, -4 ) );
			class_exists( $allybridge_class ) || interface_exists( $allybridge_class );
		}
	}
}

require_once __DIR__ . '/includes/class-allybridge-test-case.php';
