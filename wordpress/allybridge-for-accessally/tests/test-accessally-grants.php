<?php
/**
 * Tests of access grants where AccessAlly 4.x is active, through the
 * plugin's own code (Allybridge_Catalog::grant_access, and the REST route):
 * the buyer's WordPress user, the tags applied through AccessAlly (asserted
 * on the fixture's recorded calls and its CRM), idempotency, and a refused
 * or failing tag changing nothing.
 *
 * @package allybridge-for-accessally
 */

/**
 * Grant tests.
 */
final class Allybridge_AccessAlly_Grants_Test extends Allybridge_Test_Case {

	public function test_a_grant_to_a_linked_user_tags_its_contact_through_accessally(): void {
		$user     = $this->user( 'ann@example.com', '501' );
		$offering = $this->offering( array( 'Course_Access', 'Course_Made_Purchase' ) );
		Allybridge_AccessAlly_Fixture::set_contact_tags( '501', array( 13 ) );
		$announced = did_action( 'accessally_update_user' );

		$result = $this->grant( $offering['id'], 'ann@example.com', 'ghl-order-1' );

		$this->assertIsArray( $result );
		$this->assertTrue( $result[1], 'granted now' );
		$this->assertSame( $user, $result[0]['user_id'] );
		$this->assertSame( array( 'Course_Access', 'Course_Made_Purchase' ), $result[0]['tags_applied'] );
		$this->assertSame( array( array( '501', array( 11, 12 ) ) ), self::args_of( 'AccessAllyMembershipUtilities::add_contact_tags' ) );
		$this->assertSame( array( array( '501', array( 13, 11, 12 ), 'Infusionsoft' ) ), self::args_of( 'AccessAllyUserTags::sync_user_tag_list' ) );
		$this->assertSame( array(), self::args_of( 'AccessAllyAPI::add_tag_by_wp_user_id' ) );
		$this->assertSame( array( 13, 11, 12 ), Allybridge_AccessAlly_Fixture::contact_tags( '501' ) );
		$this->assertSame( $announced + 1, did_action( 'accessally_update_user' ), 'accessally_update_user announced the change' );
		$this->assertSame( '501', get_user_meta( $user, Allybridge_AccessAlly_Contacts::CONTACT_META, true ) );
		$this->assertSame( array(), self::local_contacts(), 'an AccessAlly contact needs no contact of our own' );
		$this->assertSame( 1, self::grant_rows() );
	}

	public function test_a_repeated_grant_makes_no_new_accessally_call(): void {
		$this->user( 'ann@example.com', '501' );
		$offering = $this->offering( array( 'Course_Access' ) );
		$this->assertTrue( $this->grant( $offering['id'], 'ann@example.com', 'ghl-order-2' )[1] );
		$calls = count( Allybridge_AccessAlly_Fixture::calls() );

		$again = $this->grant( $offering['id'], 'ann@example.com', 'ghl-order-2' );

		$this->assertFalse( $again[1], 'the first grant is answered again' );
		$this->assertCount( $calls, Allybridge_AccessAlly_Fixture::calls() );
		$this->assertCount( 1, self::args_of( 'AccessAllyMembershipUtilities::add_contact_tags' ) );
		$this->assertSame( 1, self::grant_rows() );
	}

	public function test_tags_the_contact_has_already_are_not_sent_again(): void {
		$this->user( 'ann@example.com', '501' );
		Allybridge_AccessAlly_Fixture::set_contact_tags( '501', array( 11, 12 ) );
		$offering = $this->offering( array( 'Course_Access', 'Course_Made_Purchase' ) );

		$this->assertTrue( $this->grant( $offering['id'], 'ann@example.com', 'ghl-order-3' )[1] );

		$this->assertSame( array(), self::writes( Allybridge_AccessAlly_Fixture::calls() ) );
		$this->assertSame( array( array( '501' ) ), self::args_of( 'AccessAllyMembershipUtilities::get_contact_tags' ) );
	}

	public function test_a_new_buyer_gets_a_wordpress_user_and_its_tags_by_user_id(): void {
		$offering = $this->offering( array( 'Course_Access', 'Course_Made_Purchase' ) );

		$result = $this->grant( $offering['id'], 'new@example.com', 'ghl-order-4' );

		$this->assertIsArray( $result );
		$user = self::fresh_user( 'new@example.com' );
		$this->assertInstanceOf( WP_User::class, $user );
		$this->assertSame( 'new@example.com', $user->user_login, 'the e-mail is the user name, as AccessAlly makes it' );
		$this->assertSame( (int) $user->ID, $result[0]['user_id'] );
		$this->assertSame( array( array( 11, $user->ID ), array( 12, $user->ID ) ), self::args_of( 'AccessAllyAPI::add_tag_by_wp_user_id' ) );
		$this->assertSame( array( array( $user->ID ) ), self::args_of( 'AccessAllyAPI::sync_user_info_from_crm' ) );
		$this->assertSame( array(), self::args_of( 'AccessAllyMembershipUtilities::add_contact_tags' ), 'AccessAlly knows no contact for this user yet' );
		$this->assertSame( array( 11, 12 ), Allybridge_AccessAlly_Fixture::state()['user_tags'][ $user->ID ] );
		$local = self::local_contacts();
		$this->assertCount( 1, $local, 'AccessAlly offers no way to make a contact: the plugin keeps one' );
		$this->assertSame( 'new@example.com', $local[0]['email'] );
		$this->assertSame( (string) $user->ID, $local[0]['user_id'] );
		$this->assertSame( Allybridge_AccessAlly_Contacts::LOCAL_PREFIX . $local[0]['id'], $this->contacts()->contact_for( 'new@example.com', '', '' ) );
	}

	public function test_once_accessally_links_the_user_its_contact_is_tagged(): void {
		$first  = $this->offering( array( 'Course_Access' ) );
		$second = $this->offering( array( 'Coaching_Access' ), 'Coaching' );
		$this->grant( $first['id'], 'new@example.com', 'ghl-order-5' );
		$user = self::fresh_user( 'new@example.com' );

		Allybridge_AccessAlly_Fixture::link_user( $user->ID, '777' );

		$this->assertSame( '777', get_user_meta( $user->ID, Allybridge_AccessAlly_Contacts::CONTACT_META, true ), 'the link AccessAlly announced is remembered' );
		$this->assertSame( '777', $this->contacts()->contact_for( 'new@example.com', '', '' ) );
		$this->assertTrue( $this->grant( $second['id'], 'new@example.com', 'ghl-order-6' )[1] );
		$this->assertSame( array( array( '777', array( 13 ) ) ), self::args_of( 'AccessAllyMembershipUtilities::add_contact_tags' ) );
	}

	public function test_access_tags_may_be_ids_or_names_in_any_case(): void {
		$this->user( 'ann@example.com', '501' );
		$offering = $this->offering( array( '12', 'coaching_access', 'Course_Made_Purchase' ) );

		$this->assertTrue( $this->grant( $offering['id'], 'ann@example.com', 'ghl-order-7' )[1] );

		$this->assertSame( array( array( '501', array( 12, 13 ) ) ), self::args_of( 'AccessAllyMembershipUtilities::add_contact_tags' ), 'one tag id once' );
	}

	public function test_an_unknown_tag_fails_the_grant_and_changes_nothing(): void {
		$offering = $this->offering( array( 'Course_Access', 'No_Such_Tag' ) );

		$result = $this->grant( $offering['id'], 'new@example.com', 'ghl-order-8' );

		$this->assertWPError( $result, 'allybridge_internal_error', 500 );
		$this->assertSame( array(), self::writes( Allybridge_AccessAlly_Fixture::calls() ), 'nothing was sent to AccessAlly' );
		$this->assertFalse( self::fresh_user( 'new@example.com' ), 'the user made on the way was rolled back' );
		$this->assertSame( array(), self::local_contacts() );
		$this->assertSame( 0, self::grant_rows() );
	}

	public function test_a_name_matching_two_tags_but_for_case_is_refused(): void {
		$this->user( 'ann@example.com', '501' );
		$offering = $this->offering( array( 'Vip' ) );

		$this->assertWPError( $this->grant( $offering['id'], 'ann@example.com', 'ghl-order-9' ), 'allybridge_internal_error', 500 );
		$this->assertSame( array(), self::writes( Allybridge_AccessAlly_Fixture::calls() ) );

		$exact = $this->offering( array( 'vip' ), 'VIP' );
		$this->assertTrue( $this->grant( $exact['id'], 'ann@example.com', 'ghl-order-10' )[1] );
		$this->assertSame( array( array( '501', array( 16 ) ) ), self::args_of( 'AccessAllyMembershipUtilities::add_contact_tags' ) );
	}

	public function test_accessally_throwing_rolls_the_grant_back_and_a_retry_succeeds(): void {
		Allybridge_AccessAlly_Fixture::reset( self::crm( array( 'throw' => array( 'AccessAllyMembershipUtilities::add_contact_tags' => 'CRM unreachable' ) ) ) );
		$this->user( 'ann@example.com', '501' );
		$offering = $this->offering( array( 'Course_Access' ) );

		$this->assertWPError( $this->grant( $offering['id'], 'ann@example.com', 'ghl-order-11' ), 'allybridge_internal_error', 500 );
		$this->assertSame( 0, self::grant_rows() );

		$state          = Allybridge_AccessAlly_Fixture::state();
		$state['throw'] = array();
		Allybridge_AccessAlly_Fixture::reset( $state );
		$this->assertTrue( $this->grant( $offering['id'], 'ann@example.com', 'ghl-order-11' )[1] );
		$this->assertSame( 1, self::grant_rows() );
	}

	public function test_a_tag_accessally_refuses_fails_the_grant(): void {
		Allybridge_AccessAlly_Fixture::reset( self::crm( array( 'refuse' => array( 'AccessAllyAPI::add_tag_by_wp_user_id' ) ) ) );
		$offering = $this->offering( array( 'Course_Access' ) );

		$this->assertWPError( $this->grant( $offering['id'], 'new@example.com', 'ghl-order-12' ), 'allybridge_internal_error', 500 );
		$this->assertCount( 1, self::args_of( 'AccessAllyAPI::add_tag_by_wp_user_id' ) );
		$this->assertSame( 0, self::grant_rows() );
		$this->assertFalse( self::fresh_user( 'new@example.com' ) );
	}

	public function test_the_rest_route_grants_through_accessally(): void {
		$user     = $this->user( 'ann@example.com', '501' );
		$offering = $this->offering( array( 'Course_Access' ) );

		$response = $this->rest(
			'POST',
			'/allybridge/v1/access-grants',
			array(
				'email'       => 'ann@example.com',
				'offering_id' => $offering['id'],
				'source_ref'  => 'ghl-order-13',
			)
		);

		$this->assertSame( 201, $response->get_status(), (string) wp_json_encode( $response->get_data() ) );
		$this->assertSame( $user, $response->get_data()['user_id'] );
		$this->assertSame( array( 'Course_Access' ), $response->get_data()['tags_applied'] );
		$this->assertSame( array( array( '501', array( 11 ) ) ), self::args_of( 'AccessAllyMembershipUtilities::add_contact_tags' ) );
	}

	public function test_a_grant_over_http_runs_the_same_way_in_the_site_s_own_server(): void {
		$site = json_decode( (string) file_get_contents( dirname( (string) getenv( 'ALLYBRIDGE_WP_SITE' ) ) . '/site.json' ), true ); // phpcs:ignore WordPress.WP.AlternativeFunctions.file_get_contents_file_get_contents -- a local file.
		$this->assertIsArray( $site, 'wordpress/dev/up wrote site.json' );
		$this->user( 'ann@example.com' );
		$offering = $this->offering( array( 'Course_Access' ) );

		$response = wp_remote_post(
			$site['url'] . '/wp-json/allybridge/v1/access-grants',
			array(
				'timeout' => 20,
				'headers' => array(
					'Authorization' => 'Basic ' . base64_encode( $site['user'] . ':' . $site['app_password'] ), // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode -- HTTP Basic auth.
					'Content-Type'  => 'application/json',
				),
				'body'    => (string) wp_json_encode(
					array(
						'email'       => 'ann@example.com',
						'offering_id' => $offering['id'],
						'source_ref'  => 'ghl-order-14',
					)
				),
			)
		);

		$this->assertNotWPError( $response );
		$this->assertSame( 201, wp_remote_retrieve_response_code( $response ), wp_remote_retrieve_body( $response ) );
		$grant = json_decode( wp_remote_retrieve_body( $response ), true );
		$user  = self::fresh_user( 'ann@example.com' );
		$this->assertSame( (int) $user->ID, $grant['user_id'] );
		$local = self::local_contacts();
		$this->assertCount( 1, $local, 'the server, too, found no AccessAlly contact for the user' );
		$this->assertSame( (string) $user->ID, $local[0]['user_id'] );
	}

	/**
	 * @param mixed $result Result.
	 */
	private function assertNotWPError( $result ): void { // phpcs:ignore WordPress.NamingConventions.ValidFunctionName.MethodNameInvalid -- PHPUnit's naming.
		$this->assertNotInstanceOf( WP_Error::class, $result, is_wp_error( $result ) ? $result->get_error_message() : '' );
	}

	/**
	 * @param mixed  $result Result.
	 * @param string $code   Expected error code.
	 * @param int    $status Expected HTTP status.
	 */
	private function assertWPError( $result, string $code, int $status ): void { // phpcs:ignore WordPress.NamingConventions.ValidFunctionName.MethodNameInvalid -- PHPUnit's naming.
		$this->assertInstanceOf( WP_Error::class, $result );
		$this->assertSame( $code, $result->get_error_code() );
		$this->assertSame( $status, $result->get_error_data()['status'] ?? null );
	}
}
