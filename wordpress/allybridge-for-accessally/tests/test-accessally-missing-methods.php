<?php
/**
 * Tests of the fallbacks when AccessAlly lacks a method the plugin would
 * use: each runs in a PHP process of its own (tests/bin/scenario.php) where
 * the fixture plays an AccessAlly before 4.0 (`v3`: no contact lookups, tags
 * in user meta, only AccessAllyAPI::add_tag_by_wp_user_id) or one with
 * nothing usable (`bare`), on the same real WordPress and database.
 *
 * @package allybridge-for-accessally
 */

/**
 * Missing-method tests.
 */
final class Allybridge_AccessAlly_Missing_Methods_Test extends Allybridge_Test_Case {

	public function test_before_4_0_contacts_stay_in_the_plugin_s_table_and_tags_go_by_user_id(): void {
		$out = $this->run_profile(
			'v3',
			array(
				array(
					'op'   => 'offering',
					'body' => array(
						'name'        => 'Course',
						'access_tags' => array( 'Course_Access' ),
					),
				),
				array(
					'op'             => 'user',
					'email'          => 'old@example.com',
					'legacy_tag_ids' => array( 13 ),
				),
				array(
					'op'       => 'grant',
					'offering' => 0,
					'body'     => array(
						'email'      => 'old@example.com',
						'source_ref' => 'ghl-v3-1',
					),
				),
				array(
					'op'       => 'grant',
					'offering' => 0,
					'body'     => array(
						'email'      => 'fresh@example.com',
						'source_ref' => 'ghl-v3-2',
					),
				),
				array(
					'op'    => 'read_user',
					'email' => 'old@example.com',
				),
				array(
					'op'    => 'read_user',
					'email' => 'fresh@example.com',
				),
				array( 'op' => 'probe' ),
			)
		);

		$this->assertTrue( $out['active'] );
		$this->assertSame( Allybridge_AccessAlly_Contacts::class, $out['contact_source'] );
		list( , $old_id, $first, $second, $old, $fresh, $probe ) = $out['steps'];
		$this->assertTrue( $first['created'], (string) wp_json_encode( $first ) );
		$this->assertTrue( $second['created'], (string) wp_json_encode( $second ) );
		$this->assertSame( $old_id, $first['grant']['user_id'], 'the existing user, linked by e-mail' );
		$this->assertSame( $fresh['id'], $second['grant']['user_id'] );
		$this->assertGreaterThan( 0, $fresh['id'] );

		$this->assertSame( array( 'old@example.com', 'fresh@example.com' ), array_column( $out['local_contacts'], 'email' ), 'no contact lookup: the plugin keeps the contacts' );
		$this->assertSame( array( (string) $old_id, (string) $fresh['id'] ), array_column( $out['local_contacts'], 'user_id' ) );
		$this->assertSame( 2, $out['grants'] );

		$tagged = array_map( static fn( $c ) => $c['args'], array_values( array_filter( $out['calls'], static fn( $c ) => 'AccessAllyAPI::add_tag_by_wp_user_id' === $c['method'] ) ) );
		$this->assertSame( array( array( 11, $old_id ), array( 11, $fresh['id'] ) ), $tagged, 'the tag id came from the CRM\'s tag option' );
		$this->assertSame( array( 'AccessAllyAPI::add_tag_by_wp_user_id', 'AccessAllyAPI::add_tag_by_wp_user_id' ), array_column( $out['calls'], 'method' ), 'nothing else is there to call' );

		$this->assertSame( array( 'ids' => array( 13, 11 ) ), $old['legacy_tag_ids'], 'AccessAlly\'s user meta copy updated, as WP Fusion does' );
		$this->assertSame( '', $fresh['legacy_tag_ids'], 'never created: its other keys are not known' );

		$this->assertSame( '3.9.2', $probe['version'] );
		$this->assertTrue( $probe['tags_in_usermeta'] );
		$this->assertSame( 'Infusionsoft', $probe['crm_system'], 'from the _accessally_setting_api option' );
		$this->assertSame( array( 'AccessAllyAPI::add_tag_by_wp_user_id' ), array_keys( array_filter( $probe['methods'] ) ) );
	}

	public function test_before_4_0_the_link_accessally_announces_gives_the_contact_id(): void {
		$out = $this->run_profile(
			'v3',
			array(
				array(
					'op'   => 'offering',
					'body' => array(
						'name'        => 'Course',
						'access_tags' => array( 'Course_Access' ),
					),
				),
				array(
					'op'       => 'grant',
					'offering' => 0,
					'body'     => array(
						'email'      => 'fresh@example.com',
						'source_ref' => 'ghl-v3-3',
					),
				),
				array(
					'op'    => 'contact_for',
					'email' => 'fresh@example.com',
				),
				array(
					'op'      => 'link',
					'email'   => 'fresh@example.com',
					'contact' => '9001',
				),
				array(
					'op'    => 'contact_for',
					'email' => 'fresh@example.com',
				),
				array(
					'op'      => 'exists',
					'contact' => '9001',
				),
				array(
					'op'      => 'request_refresh',
					'contact' => '9001',
				),
				array(
					'op'      => 'add_tags',
					'contact' => '9001',
					'tags'    => array( 'Coaching_Access' ),
				),
				array(
					'op'    => 'read_user',
					'email' => 'fresh@example.com',
				),
			)
		);

		list( , $grant, $before, , $after, $exists, $refresh, $tagged, $user ) = $out['steps'];
		$this->assertTrue( $grant['created'] );
		$this->assertMatchesRegularExpression( '/^allybridge-\d+$/', $before );
		$this->assertSame( '9001', $after, 'the link from accessally_update_user' );
		$this->assertTrue( $exists );
		$this->assertSame( '9001', $user['contact_meta'] );
		$this->assertStringContainsString( 'sync_user_info_from_crm', $refresh['exception'] ?? '', 'no way to refresh a user: a clear error' );
		$this->assertTrue( $tagged, 'a linked contact is tagged through its user' );
		$this->assertSame( array( 11 ), $out['crm']['user_tags'][ $user['id'] ] ?? null, 'tagged by user id before AccessAlly linked a contact' );
		$this->assertSame( array( 13 ), $out['crm']['contact_tags']['9001'] ?? null, 'tagged by user id, landing on the linked contact' );
	}

	public function test_with_nothing_usable_a_grant_is_refused_and_nothing_is_kept(): void {
		$out = $this->run_profile(
			'bare',
			array(
				array(
					'op'   => 'offering',
					'body' => array(
						'name'        => 'Course',
						'access_tags' => array( 'Course_Access' ),
					),
				),
				array(
					'op'   => 'offering',
					'body' => array(
						'name'        => 'By id',
						'access_tags' => array( '12' ),
					),
				),
				array(
					'op'       => 'grant',
					'offering' => 0,
					'body'     => array(
						'email'      => 'fresh@example.com',
						'source_ref' => 'ghl-bare-1',
					),
				),
				array(
					'op'       => 'grant',
					'offering' => 1,
					'body'     => array(
						'email'      => 'fresh@example.com',
						'source_ref' => 'ghl-bare-2',
					),
				),
				array(
					'op'    => 'contact_for',
					'email' => 'fresh@example.com',
				),
				array(
					'op'      => 'add_tags',
					'contact' => '501',
					'tags'    => array( 'Course_Access' ),
				),
				array(
					'op'      => 'add_tags',
					'contact' => '501',
					'tags'    => array( '12' ),
				),
				array(
					'op'    => 'read_user',
					'email' => 'fresh@example.com',
				),
				array( 'op' => 'probe' ),
			)
		);

		$this->assertTrue( $out['active'], 'an AccessAllyAPI class is enough to be seen' );
		list( , , $by_name, $by_id, $contact, $tag_name, $tag_id, $user, $probe ) = $out['steps'];
		$this->assertSame(
			array(
				'error'  => 'allybridge_internal_error',
				'status' => 500,
			),
			$by_name
		);
		$this->assertSame( $by_name, $by_id );
		$this->assertSame( 0, $out['grants'] );
		$this->assertSame( 0, $user['id'], 'the user made on the way was rolled back' );
		$this->assertSame( array(), $out['calls'] );
		$this->assertStringContainsString( 'only tag ids can be applied', $tag_name['exception'] ?? '' );
		$this->assertStringContainsString( 'no known way to tag contact 501', $tag_id['exception'] ?? '' );
		$this->assertMatchesRegularExpression( '/^allybridge-\d+$/', $contact, 'no contact lookup: a contact of our own' );
		$this->assertCount( 1, $out['local_contacts'] );
		$this->assertNull( $probe['version'] );
		$this->assertSame( array(), array_keys( array_filter( $probe['methods'] ) ) );
	}
}
