<?php
/**
 * Tests of the wiring where AccessAlly is active: which sources the plugin
 * builds, the AccessAlly action it listens to, the `aal_*` commands it
 * leaves to AccessAlly, and what the probe reports of the fixture's
 * AccessAlly 4.x.
 *
 * @package allybridge-for-accessally
 */

/**
 * Wiring tests.
 */
final class Allybridge_AccessAlly_Wiring_Test extends Allybridge_Test_Case {

	public function test_the_plugin_serves_contacts_from_accessally_and_the_rest_from_its_own_tables(): void {
		$this->assertTrue( Allybridge_AccessAlly::is_active() );
		$catalog = $this->catalog();
		$this->assertInstanceOf( Allybridge_AccessAlly_Contacts::class, $catalog->contacts );
		$this->assertInstanceOf( Allybridge_Standalone_Offerings::class, $catalog->offerings );
		$this->assertInstanceOf( Allybridge_Standalone_Coupons::class, $catalog->coupons );
		$this->assertInstanceOf( Allybridge_Standalone_Orders::class, $catalog->orders );
		$this->assertInstanceOf( Allybridge_Standalone_Grants::class, $catalog->grants );
	}

	public function test_it_listens_to_accessally_update_user_and_leaves_aal_commands_to_accessally(): void {
		global $wp_filter;
		$this->assertSame( 10, has_action( 'accessally_update_user', array( Allybridge_AccessAlly::class, 'on_update_user' ) ) );
		$handlers = array();
		foreach ( $wp_filter['init']->callbacks as $callbacks ) {
			foreach ( $callbacks as $callback ) {
				if ( is_array( $callback['function'] ) && is_object( $callback['function'][0] ) ) {
					$handlers[] = get_class( $callback['function'][0] );
				}
			}
		}
		$this->assertNotContains( Allybridge_Aal_Commands::class, $handlers, 'AccessAlly answers the aal_* commands itself' );
	}

	public function test_the_probe_reports_what_this_accessally_offers(): void {
		$probe = Allybridge_AccessAlly::probe();
		$this->assertSame( '4.3.1', $probe['version'] );
		$this->assertSame( 'Infusionsoft', $probe['crm_system'] );
		$this->assertFalse( $probe['tags_in_usermeta'] );
		$this->assertTrue( $probe['wizard_product'] );
		$this->assertCount( count( Allybridge_AccessAlly_Internals::METHODS ), $probe['methods'] );
		$this->assertSame( array(), array_keys( array_filter( $probe['methods'], static fn( $present ) => ! $present ) ), 'every method the plugin uses is there' );
		$this->assertSame( array( array() ), self::args_of( 'AccessAllySettingSetup::get_api_settings' ), 'the CRM system comes from AccessAllySettingSetup::get_api_settings()' );
	}

	public function test_the_crm_system_falls_back_to_the_option_when_accessally_settings_have_none(): void {
		update_option( '_accessally_setting_api', array( 'system' => 'Ontraport' ), false );
		$this->assertSame( 'Ontraport', ( new Allybridge_AccessAlly_Internals() )->crm_system() );
		update_option( '_accessally_setting_api', array(), false );
		$this->assertNull( ( new Allybridge_AccessAlly_Internals() )->crm_system() );
	}
}
