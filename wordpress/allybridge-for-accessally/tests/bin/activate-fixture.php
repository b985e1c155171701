<?php
/**
 * Activates the AccessAlly fixture plugin on the test site (run by
 * wordpress/dev/phpunit after copying it into the site's plugins folder):
 * WordPress's own activate_plugin(), then a check that the allybridge
 * plugin now sees AccessAlly.
 *
 * @package allybridge-for-accessally
 */

// phpcs:disable WordPress.WP.AlternativeFunctions, WordPress.Security.EscapeOutput -- a command-line script.

require __DIR__ . '/../includes/load-site.php';

$allybridge_activated = activate_plugin( 'accessally-fixture/accessally-fixture.php' );
if ( is_wp_error( $allybridge_activated ) ) {
	fwrite( STDERR, 'activating the AccessAlly fixture failed: ' . $allybridge_activated->get_error_message() . "\n" );
	exit( 1 );
}
if ( ! is_plugin_active( 'allybridge-for-accessally/allybridge-for-accessally.php' ) || ! Allybridge_AccessAlly::is_active() ) {
	fwrite( STDERR, "the allybridge plugin is not active, or does not see the AccessAlly fixture\n" );
	exit( 1 );
}
fwrite( STDERR, "AccessAlly fixture active\n" );
