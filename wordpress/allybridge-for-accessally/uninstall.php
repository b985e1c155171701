<?php
/**
 * Uninstall: removes the plugin's tables, options, role and capability,
 * only when the site owner ticked "Delete all allybridge data when the
 * plugin is deleted" on the panel; otherwise the data stays, so a
 * reinstall finds its links again.
 *
 * @package allybridge-for-accessally
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

require_once __DIR__ . '/includes/class-allybridge-schema.php';

$allybridge_settings = get_option( 'allybridge_settings', array() );
if ( is_array( $allybridge_settings ) && ! empty( $allybridge_settings['delete_data_on_uninstall'] ) ) {
	Allybridge_Schema::drop_everything();
	foreach ( array( 'allybridge_crm_contact_id', 'allybridge_accessally_contact_id' ) as $allybridge_meta ) {
		delete_metadata( 'user', 0, $allybridge_meta, '', true );
	}
	remove_role( 'allybridge_bridge' );
	$allybridge_admin = get_role( 'administrator' );
	if ( $allybridge_admin ) {
		$allybridge_admin->remove_cap( 'allybridge_sync' );
	}
}
wp_clear_scheduled_hook( 'allybridge_deliver_outbox' );
wp_clear_scheduled_hook( 'allybridge_prune_log' );
