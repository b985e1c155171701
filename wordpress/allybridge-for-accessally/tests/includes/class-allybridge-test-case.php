<?php
/**
 * The tests' base class: each test starts from a clean site (the plugin's
 * tables emptied, every user but the two wordpress/dev/up made removed) and
 * a fresh AccessAlly fixture CRM, and has helpers to make offerings, users
 * and grants through the plugin's own code, to read the fixture's recorded
 * calls, to call the REST API in-process, and to run steps in another PHP
 * process where the fixture plays another AccessAlly.
 *
 * @package allybridge-for-accessally
 */

use PHPUnit\Framework\TestCase;

/**
 * Base class of the allybridge tests.
 */
abstract class Allybridge_Test_Case extends TestCase {

	/** Users wordpress/dev/up makes, kept between tests. */
	const KEEP_USERS = array( 'admin', 'allybridge' );

	/** The fixture CRM's tags. */
	const TAGS = array(
		array(
			'Id'      => 11,
			'TagName' => 'Course_Access',
		),
		array(
			'Id'      => 12,
			'TagName' => 'Course_Made_Purchase',
		),
		array(
			'Id'      => 13,
			'TagName' => 'Coaching_Access',
		),
		array(
			'Id'      => 15,
			'TagName' => 'VIP',
		),
		array(
			'Id'      => 16,
			'TagName' => 'vip',
		),
	);

	protected function setUp(): void {
		parent::setUp();
		self::reset_site();
		Allybridge_AccessAlly_Fixture::reset( self::crm() );
	}

	protected function tearDown(): void {
		wp_set_current_user( 0 );
		parent::tearDown();
	}

	/**
	 * A fixture CRM state: the tags, and what a test adds.
	 *
	 * @param array<string,mixed> $extra State keys.
	 */
	protected static function crm( array $extra = array() ): array {
		return array_merge( array( 'tags' => self::TAGS ), $extra );
	}

	/**
	 * Empties the plugin's tables and removes the users tests made.
	 */
	protected static function reset_site(): void {
		global $wpdb;
		foreach ( Allybridge_Schema::TABLES as $name ) {
			$wpdb->query( 'DELETE FROM ' . Allybridge_Schema::table( $name ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- our table, no input.
		}
		wp_cache_flush();
		foreach ( get_users( array( 'fields' => array( 'ID', 'user_login' ) ) ) as $user ) {
			if ( ! in_array( $user->user_login, self::KEEP_USERS, true ) ) {
				wp_delete_user( (int) $user->ID );
			}
		}
		wp_cache_flush();
	}

	protected function catalog(): Allybridge_Catalog {
		return Allybridge_Plugin::instance()->catalog;
	}

	protected function contacts(): Allybridge_Contact_Source {
		return $this->catalog()->contacts;
	}

	/**
	 * An offering made through the catalog.
	 *
	 * @param string[] $access_tags Its access tags.
	 * @param string   $name        Its name.
	 */
	protected function offering( array $access_tags, string $name = 'Course' ): array {
		$made = $this->catalog()->write_offering(
			null,
			array(
				'name'        => $name,
				'access_tags' => $access_tags,
			)
		);
		$this->assertIsArray( $made, 'the offering was made' );
		return $made;
	}

	/**
	 * A grant through the catalog, as the REST route makes it.
	 *
	 * @param int    $offering_id Offering.
	 * @param string $email       Buyer.
	 * @param string $source_ref  Idempotency key.
	 * @return array|WP_Error `[grant, created]`.
	 */
	protected function grant( int $offering_id, string $email, string $source_ref ) {
		return $this->catalog()->grant_access(
			array(
				'email'       => $email,
				'first_name'  => 'Ann',
				'last_name'   => 'Lee',
				'offering_id' => $offering_id,
				'source_ref'  => $source_ref,
			)
		);
	}

	/**
	 * A WordPress user, optionally linked to an AccessAlly contact (silently, as before the plugin came).
	 *
	 * @param string      $email   E-mail (and user name).
	 * @param string|null $contact CRM contact id.
	 */
	protected function user( string $email, ?string $contact = null ): int {
		$id = wp_insert_user(
			array(
				'user_login' => $email,
				'user_email' => $email,
				'user_pass'  => wp_generate_password( 24 ),
			)
		);
		$this->assertIsInt( $id, 'the user was made' );
		if ( null !== $contact ) {
			Allybridge_AccessAlly_Fixture::set_user_contact( $id, $contact );
		}
		return $id;
	}

	/**
	 * The arguments of each recorded call of one fixture method.
	 *
	 * @param string $method `Class::method`.
	 * @return array[]
	 */
	protected static function args_of( string $method ): array {
		return array_map( static fn( $c ) => $c['args'], Allybridge_AccessAlly_Fixture::calls( $method ) );
	}

	/**
	 * The recorded calls that write to AccessAlly.
	 *
	 * @param array[] $calls Calls (the fixture's, or a scenario's).
	 * @return string[]
	 */
	protected static function writes( array $calls ): array {
		$writes = array( 'AccessAllyMembershipUtilities::add_contact_tags', 'AccessAllyUserTags::sync_user_tag_list', 'AccessAllyAPI::add_tag_by_wp_user_id', 'AccessAllyAPI::sync_user_info_from_crm' );
		return array_values( array_filter( array_map( static fn( $c ) => $c['method'], $calls ), static fn( $m ) => in_array( $m, $writes, true ) ) );
	}

	/**
	 * Rows of the plugin's contacts table.
	 */
	protected static function local_contacts(): array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'contacts' );
		return (array) $wpdb->get_results( "SELECT * FROM $table ORDER BY id", ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- our table, no input.
	}

	protected static function grant_rows(): int {
		global $wpdb;
		return (int) $wpdb->get_var( 'SELECT COUNT(*) FROM ' . Allybridge_Schema::table( 'grants' ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- our table, no input.
	}

	/**
	 * The user with this e-mail as the database has it now (no cached copy).
	 *
	 * @param string $email E-mail.
	 * @return WP_User|false
	 */
	protected static function fresh_user( string $email ) {
		wp_cache_flush();
		return get_user_by( 'email', $email );
	}

	/**
	 * A Bridge API call in-process, as the allybridge connection user.
	 *
	 * @param string $method HTTP method.
	 * @param string $route  Route, e.g. `/allybridge/v1/access-grants`.
	 * @param array  $body   JSON body.
	 */
	protected function rest( string $method, string $route, array $body = array() ): WP_REST_Response {
		$user = get_user_by( 'login', 'allybridge' );
		$this->assertInstanceOf( WP_User::class, $user, 'wordpress/dev/up made the allybridge user' );
		wp_set_current_user( $user->ID );
		$request = new WP_REST_Request( $method, $route );
		if ( $body ) {
			$request->set_header( 'content-type', 'application/json' );
			$request->set_body( (string) wp_json_encode( $body ) );
		}
		return rest_do_request( $request );
	}

	/**
	 * Runs steps (see tests/bin/scenario.php) in another PHP process, with the fixture in another profile.
	 *
	 * @param string $profile `v4`, `v3` or `bare`.
	 * @param array  $steps   Steps.
	 * @param array  $state   Fixture CRM state.
	 * @return array What the scenario printed.
	 */
	protected function run_profile( string $profile, array $steps, array $state = array() ): array {
		$process = proc_open(
			array( PHP_BINARY, dirname( __DIR__ ) . '/bin/scenario.php' ),
			array(
				0 => array( 'pipe', 'r' ),
				1 => array( 'pipe', 'w' ),
				2 => array( 'pipe', 'w' ),
			),
			$pipes
		);
		$this->assertIsResource( $process, 'the scenario process started' );
		fwrite( $pipes[0], (string) wp_json_encode( array( 'profile' => $profile, 'state' => self::crm( $state ), 'steps' => $steps ) ) ); // phpcs:ignore WordPress.WP.AlternativeFunctions.file_system_operations_fwrite
		fclose( $pipes[0] ); // phpcs:ignore WordPress.WP.AlternativeFunctions.file_system_operations_fclose
		$out  = (string) stream_get_contents( $pipes[1] );
		$err  = (string) stream_get_contents( $pipes[2] );
		$code = proc_close( $process );
		$this->assertSame( 0, $code, "the scenario process failed:\n$err\n$out" );
		$result = json_decode( $out, true );
		$this->assertIsArray( $result, "the scenario printed no JSON:\n$err\n$out" );
		$this->assertSame( $profile, $result['profile'] );
		$this->assertSame( array(), $result['php_errors'], 'no PHP notice, warning or deprecation in the scenario' );
		wp_cache_flush();
		return $result;
	}
}
