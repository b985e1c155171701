<?php
/**
 * Who may call the Bridge API: over HTTPS only outside local and development
 * sites (with a message saying why), a logged-in user with the
 * `allybridge_sync` capability, and nobody else.
 *
 * @package allybridge-for-accessally
 */

/**
 * The REST permission callback.
 */
class Test_Rest_Permissions extends Allybridge_Test_Case {

	/** @var mixed The request's HTTPS flag before the test. */
	private $https;

	protected function setUp(): void {
		parent::setUp();
		$this->https = $_SERVER['HTTPS'] ?? null;
		add_filter( 'allybridge_allow_plain_http', '__return_false' );
	}

	protected function tearDown(): void {
		remove_filter( 'allybridge_allow_plain_http', '__return_false' );
		if ( null === $this->https ) {
			unset( $_SERVER['HTTPS'] );
		} else {
			$_SERVER['HTTPS'] = $this->https;
		}
		parent::tearDown();
	}

	private function permission() {
		return ( new Allybridge_Rest( $this->catalog() ) )->permission();
	}

	public function test_plain_http_is_refused_on_a_production_site_and_says_why(): void {
		unset( $_SERVER['HTTPS'] );
		wp_set_current_user( (int) get_user_by( 'login', 'allybridge' )->ID );
		$result = $this->permission();
		$this->assertInstanceOf( WP_Error::class, $result );
		$this->assertSame( 'allybridge_https_required', $result->get_error_code() );
		$this->assertSame( 403, $result->get_error_data()['status'] );
		$this->assertStringContainsString( 'HTTPS', $result->get_error_message() );
	}

	public function test_over_https_only_a_user_with_the_capability_gets_in(): void {
		$_SERVER['HTTPS'] = 'on';
		wp_set_current_user( 0 );
		$anonymous = $this->permission();
		$this->assertInstanceOf( WP_Error::class, $anonymous );
		$this->assertSame( 'rest_not_logged_in', $anonymous->get_error_code() );

		wp_set_current_user( (int) get_user_by( 'login', 'allybridge' )->ID );
		$this->assertTrue( $this->permission() );

		$subscriber = wp_insert_user(
			array(
				'user_login' => 'plain-subscriber',
				'user_email' => 'plain-subscriber@example.com',
				'user_pass'  => wp_generate_password( 24 ),
				'role'       => 'subscriber',
			)
		);
		$this->assertIsInt( $subscriber );
		wp_set_current_user( $subscriber );
		$refused = $this->permission();
		$this->assertInstanceOf( WP_Error::class, $refused );
		$this->assertSame( 'rest_forbidden', $refused->get_error_code() );
		$this->assertSame( 403, $refused->get_error_data()['status'] );
	}

	public function test_the_sync_role_has_the_capability_and_nothing_else(): void {
		$role = get_role( Allybridge_Plugin::ROLE );
		$this->assertNotNull( $role );
		$this->assertSame( array( Allybridge_Rest::CAPABILITY => true ), $role->capabilities );
		$this->assertTrue( get_role( 'administrator' )->has_cap( Allybridge_Rest::CAPABILITY ) );
		$this->assertFalse( get_role( 'editor' )->has_cap( Allybridge_Rest::CAPABILITY ) );
	}
}
