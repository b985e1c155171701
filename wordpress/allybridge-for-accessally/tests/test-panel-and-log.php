<?php
/**
 * The integration panel and its log: the page shows no secret (webhook
 * signing secrets, the `aal_*` handshake) and escapes what it shows; only
 * administrators see it; log entries older than 30 days are pruned and the
 * newer ones kept.
 *
 * @package allybridge-for-accessally
 */

/**
 * Panel rendering and log pruning.
 */
class Test_Panel_And_Log extends Allybridge_Test_Case {

	private function render_panel(): string {
		// What wp-admin loads before a page renders (submit_button and friends).
		require_once ABSPATH . 'wp-admin/includes/template.php';
		$admin = get_user_by( 'login', 'admin' );
		$this->assertInstanceOf( WP_User::class, $admin );
		wp_set_current_user( $admin->ID );
		ob_start();
		( new Allybridge_Admin( Allybridge_Plugin::instance() ) )->render();
		return (string) ob_get_clean();
	}

	public function test_the_panel_never_shows_a_secret_and_escapes_what_it_shows(): void {
		$created = $this->rest(
			'POST',
			'/allybridge/v1/webhooks',
			array(
				'url'    => 'http://127.0.0.1:9/hook',
				'topics' => array( 'coupon.created' ),
			)
		);
		$this->assertSame( 201, $created->get_status() );
		$secret = $created->get_data()['secret'];
		$this->assertStringStartsWith( 'whsec_', $secret );
		Allybridge_Log::write( 'api', 'GET', '/allybridge/v1/offerings', 200, 'offering <b>7</b>', 0, '<script>alert(1)</script>' );

		$html = $this->render_panel();
		$this->assertStringContainsString( 'Webhook subscriptions', $html );
		$this->assertStringNotContainsString( $secret, $html );
		$this->assertStringNotContainsString( substr( $secret, 6, 20 ), $html );
		$this->assertStringNotContainsString( Allybridge_Secrets::handshake(), $html );
		$this->assertStringNotContainsString( Allybridge_Secrets::default_webhook_secret(), $html );
		$this->assertStringNotContainsString( '<script>alert(1)</script>', $html );
		$this->assertStringNotContainsString( '<b>7</b>', $html );
		$this->assertStringContainsString( 'offering &lt;b&gt;7&lt;/b&gt;', $html );
		// Every form carries a nonce.
		$this->assertSame( substr_count( $html, '<form method="post"' ), substr_count( $html, 'name="_wpnonce"' ) );
	}

	public function test_only_administrators_see_the_panel(): void {
		$subscriber = wp_insert_user(
			array(
				'user_login' => 'panel-subscriber',
				'user_email' => 'panel-subscriber@example.com',
				'user_pass'  => wp_generate_password( 24 ),
				'role'       => 'subscriber',
			)
		);
		$this->assertIsInt( $subscriber );
		wp_set_current_user( $subscriber );
		$died = false;
		$stop = static function () use ( &$died ) {
			return static function () use ( &$died ) {
				$died = true;
				throw new RuntimeException( 'wp_die' );
			};
		};
		require_once ABSPATH . 'wp-admin/includes/template.php';
		add_filter( 'wp_die_handler', $stop );
		ob_start();
		try {
			( new Allybridge_Admin( Allybridge_Plugin::instance() ) )->render();
		} catch ( RuntimeException $e ) {
			$this->assertSame( 'wp_die', $e->getMessage() );
		} finally {
			$html = (string) ob_get_clean();
			remove_filter( 'wp_die_handler', $stop );
		}
		$this->assertTrue( $died, 'a subscriber is turned away' );
		$this->assertStringNotContainsString( 'Webhook subscriptions', $html );
	}

	public function test_entries_older_than_thirty_days_are_pruned(): void {
		global $wpdb;
		$table = Allybridge_Schema::table( 'log' );
		$old   = gmdate( 'Y-m-d H:i:s', time() - 31 * DAY_IN_SECONDS );
		$wpdb->query( $wpdb->prepare( "INSERT INTO $table (at_gmt, kind, method, route, status, record) VALUES (%s, 'api', 'GET', '/old', 200, 'offering 1')", $old ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		Allybridge_Log::write( 'api', 'GET', '/new', 200, 'offering 1' );
		Allybridge_Log::prune();
		list( $rows, $total ) = Allybridge_Log::page( 'offering 1', 1, 10 );
		$this->assertSame( 1, $total );
		$this->assertSame( '/new', $rows[0]['route'] );
	}
}
