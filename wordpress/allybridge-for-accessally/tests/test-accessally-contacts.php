<?php
/**
 * Tests of the AccessAlly contact source on its own (the seam's methods
 * exists, ensure_user, add_tags, request_refresh), where AccessAlly 4.x is
 * active: contact ids from AccessAlly's users, the links its
 * `accessally_update_user` action announces, contacts of the plugin's own
 * where AccessAlly knows none, and the errors where nothing is known.
 *
 * @package allybridge-for-accessally
 */

/**
 * Contact source tests.
 */
final class Allybridge_AccessAlly_Contacts_Test extends Allybridge_Test_Case {

	public function test_a_linked_user_s_contact_is_accessally_s_and_the_link_is_remembered(): void {
		$user = $this->user( 'ann@example.com', '501' );

		$this->assertSame( '501', $this->contacts()->contact_for( 'ann@example.com', 'Ann', 'Lee' ) );

		$this->assertSame( array( array( $user ) ), self::args_of( 'AccessAllyUserPermission::get_user_contact_id' ) );
		$this->assertSame( '501', get_user_meta( $user, Allybridge_AccessAlly_Contacts::CONTACT_META, true ) );
		$this->assertTrue( $this->contacts()->exists( '501' ) );
		$this->assertSame( $user, $this->contacts()->ensure_user( '501' ) );
	}

	public function test_contacts_nobody_is_linked_to_do_not_exist_and_have_no_user(): void {
		$this->assertFalse( $this->contacts()->exists( '999' ) );
		$this->assertFalse( $this->contacts()->exists( Allybridge_AccessAlly_Contacts::LOCAL_PREFIX . '999999' ) );
		$this->expectException( Allybridge_Storage_Exception::class );
		$this->expectExceptionMessage( 'no WordPress user is known for AccessAlly contact 999' );
		$this->contacts()->ensure_user( '999' );
	}

	public function test_the_accessally_update_user_action_links_a_user_to_its_contact(): void {
		$user = $this->user( 'ann@example.com' );

		Allybridge_AccessAlly_Fixture::link_user( $user, '888' );

		$this->assertSame( '888', get_user_meta( $user, Allybridge_AccessAlly_Contacts::CONTACT_META, true ) );
		$this->assertTrue( $this->contacts()->exists( '888' ) );
		$this->assertSame( $user, $this->contacts()->ensure_user( '888' ) );
	}

	public function test_a_link_accessally_has_since_changed_or_dropped_is_not_followed(): void {
		$user = $this->user( 'ann@example.com' );
		Allybridge_AccessAlly_Fixture::link_user( $user, '888' );
		Allybridge_AccessAlly_Fixture::set_user_contact( $user, '999' );

		$this->assertFalse( $this->contacts()->exists( '888' ), 'AccessAlly now links the user to 999' );
		$this->assertSame( '999', $this->contacts()->contact_for( 'ann@example.com', '', '' ) );
		$this->assertSame( $user, $this->contacts()->ensure_user( '999' ) );

		Allybridge_AccessAlly_Fixture::set_user_contact( $user, '' );
		$this->assertFalse( $this->contacts()->exists( '999' ), 'AccessAlly links the user to no contact now' );
		$this->assertMatchesRegularExpression( '/^allybridge-\d+$/', $this->contacts()->contact_for( 'ann@example.com', '', '' ) );
	}

	public function test_odd_announcements_are_ignored(): void {
		$user = $this->user( 'ann@example.com' );
		foreach ( array( array( $user, '' ), array( $user, false ), array( $user, array( '1' ) ), array( 'x', '5' ), array( 987654, '5' ), array( $user, 'allybridge-3' ) ) as list( $who, $contact ) ) {
			do_action( 'accessally_update_user', $who, $contact ); // phpcs:ignore WordPress.NamingConventions.PrefixAllGlobals.NonPrefixedHooknameFound -- AccessAlly's hook.
		}
		$this->assertSame( '', get_user_meta( $user, Allybridge_AccessAlly_Contacts::CONTACT_META, true ) );
		$this->assertSame( array(), get_users( array( 'meta_key' => Allybridge_AccessAlly_Contacts::CONTACT_META, 'fields' => 'ID' ) ) ); // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_key
	}

	public function test_an_existing_user_without_a_contact_gets_one_of_ours_and_keeps_its_user(): void {
		$user    = $this->user( 'ann@example.com' );
		$contact = $this->contacts()->contact_for( 'ann@example.com', 'Ann', 'Lee' );

		$this->assertMatchesRegularExpression( '/^allybridge-\d+$/', $contact );
		$this->assertTrue( $this->contacts()->exists( $contact ) );
		$this->assertSame( $user, $this->contacts()->ensure_user( $contact ), 'linked by e-mail, not a second user' );
		$this->assertSame( $contact, $this->contacts()->contact_for( 'ann@example.com', '', '' ), 'the same contact again' );
		$this->assertCount( 1, self::local_contacts() );
	}

	public function test_tags_before_the_user_make_the_user_first(): void {
		// The order the standalone checkout uses: contact, tags, then user.
		$contact = $this->contacts()->contact_for( 'buyer@example.com', 'Bo', 'Ray' );

		$this->contacts()->add_tags( $contact, array( 'Course_Access' ) );

		$user = self::fresh_user( 'buyer@example.com' );
		$this->assertInstanceOf( WP_User::class, $user );
		$this->assertSame( array( array( 11, $user->ID ) ), self::args_of( 'AccessAllyAPI::add_tag_by_wp_user_id' ) );
		$this->assertSame( array( 'Course_Access' ), json_decode( self::local_contacts()[0]['tags'], true ), 'recorded on our contact too' );
		$this->assertSame( $user->ID, $this->contacts()->ensure_user( $contact ) );
	}

	public function test_tags_of_an_accessally_contact_nobody_is_linked_to_go_to_the_contact(): void {
		$this->contacts()->add_tags( '4242', array( 'Course_Access' ) );

		$this->assertSame( array( array( '4242', array( 11 ) ) ), self::args_of( 'AccessAllyMembershipUtilities::add_contact_tags' ) );
		$this->assertSame( array( 11 ), Allybridge_AccessAlly_Fixture::contact_tags( '4242' ) );
	}

	public function test_no_tags_make_no_call(): void {
		$this->contacts()->add_tags( '501', array() );
		$this->contacts()->add_tags( '501', array( '', '  ' ) );
		$this->assertSame( array(), Allybridge_AccessAlly_Fixture::calls() );
	}

	public function test_a_refresh_asks_accessally_to_sync_the_user_from_the_crm(): void {
		$user = $this->user( 'ann@example.com', '501' );
		$this->contacts()->contact_for( 'ann@example.com', '', '' );

		$this->contacts()->request_refresh( '501' );

		$this->assertSame( array( array( $user ) ), self::args_of( 'AccessAllyAPI::sync_user_info_from_crm' ) );
	}

	public function test_a_refresh_of_a_contact_of_ours_marks_it_as_a_standalone_site_does(): void {
		$contact = $this->contacts()->contact_for( 'buyer@example.com', '', '' );

		$this->contacts()->request_refresh( $contact );

		$this->assertSame( '1', self::local_contacts()[0]['refresh_pending'] );
		$this->assertSame( array(), self::args_of( 'AccessAllyAPI::sync_user_info_from_crm' ) );
	}

	public function test_a_refresh_of_an_unknown_accessally_contact_is_an_error(): void {
		$this->expectException( Allybridge_Storage_Exception::class );
		$this->contacts()->request_refresh( '31337' );
	}
}
