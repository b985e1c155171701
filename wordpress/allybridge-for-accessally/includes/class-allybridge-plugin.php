<?php
/**
 * Wiring: which source serves the records (AccessAlly's where AccessAlly is
 * active, else the plugin's own tables), the REST routes, the `aal_*`
 * commands, the delivery worker and its WP-Cron backstop, the log's
 * pruning, the admin panel, activation and upgrades.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * The plugin.
 */
final class Allybridge_Plugin {

	const CRON_DELIVER = 'allybridge_deliver_outbox';
	const CRON_PRUNE   = 'allybridge_prune_log';
	const ROLE         = 'allybridge_bridge';

	private static ?Allybridge_Plugin $instance = null;

	public Allybridge_Outbox $outbox;
	public Allybridge_Catalog $catalog;

	private function __construct() {
		$this->outbox = new Allybridge_Outbox();
		if ( Allybridge_AccessAlly::is_active() ) {
			$adapter       = new Allybridge_AccessAlly();
			$this->catalog = new Allybridge_Catalog( $adapter->offerings(), $adapter->coupons(), $adapter->orders(), $adapter->contacts(), $adapter->grants(), $this->outbox );
		} else {
			$this->catalog = new Allybridge_Catalog(
				new Allybridge_Standalone_Offerings(),
				new Allybridge_Standalone_Coupons(),
				new Allybridge_Standalone_Orders(),
				new Allybridge_Standalone_Contacts(),
				new Allybridge_Standalone_Grants(),
				$this->outbox
			);
		}
	}

	public static function instance(): self {
		if ( null === self::$instance ) {
			self::$instance = new self();
		}
		return self::$instance;
	}

	/**
	 * Hooks everything (called once the plugins are loaded).
	 */
	public static function boot(): void {
		Allybridge_Schema::migrate();
		$plugin = self::instance();
		( new Allybridge_Rest( $plugin->catalog ) )->hook();
		if ( Allybridge_AccessAlly::is_active() ) {
			Allybridge_AccessAlly::hook();
		} else {
			$aal = new Allybridge_Aal_Commands( $plugin->catalog->contacts );
			add_action( 'init', array( $aal, 'maybe_handle' ), 1 );
		}
		add_action( 'init', array( self::class, 'maybe_run_worker' ), 2 );
		add_filter( 'cron_schedules', array( self::class, 'cron_schedules' ) ); // phpcs:ignore WordPress.WP.CronInterval -- a one-minute backstop, as WooCommerce's Action Scheduler runs.
		add_action( self::CRON_DELIVER, array( $plugin, 'deliver_from_cron' ) );
		add_action( self::CRON_PRUNE, array( Allybridge_Log::class, 'prune' ) );
		add_filter( 'wp_is_application_passwords_available', array( self::class, 'application_passwords_on_development_sites' ) );
		if ( is_admin() ) {
			( new Allybridge_Admin( $plugin ) )->hook();
		}
		self::ensure_cron();
	}

	/**
	 * Activation: tables, the capability and role, secrets, cron.
	 */
	public static function activate(): void {
		Allybridge_Schema::migrate();
		$admin = get_role( 'administrator' );
		if ( $admin ) {
			$admin->add_cap( Allybridge_Rest::CAPABILITY );
		}
		if ( ! get_role( self::ROLE ) ) {
			add_role( self::ROLE, __( 'allybridge connection', 'allybridge-for-accessally' ), array( Allybridge_Rest::CAPABILITY => true ) );
		}
		Allybridge_Secrets::handshake();
		Allybridge_Secrets::default_webhook_secret();
		self::ensure_cron();
	}

	/**
	 * Deactivation: cron events off; data stays until uninstall.
	 */
	public static function deactivate(): void {
		wp_clear_scheduled_hook( self::CRON_DELIVER );
		wp_clear_scheduled_hook( self::CRON_PRUNE );
	}

	private static function ensure_cron(): void {
		if ( ! wp_next_scheduled( self::CRON_DELIVER ) ) {
			wp_schedule_event( time() + 60, 'allybridge_minute', self::CRON_DELIVER );
		}
		if ( ! wp_next_scheduled( self::CRON_PRUNE ) ) {
			wp_schedule_event( time() + HOUR_IN_SECONDS, 'daily', self::CRON_PRUNE );
		}
	}

	/**
	 * @param array $schedules WP-Cron schedules.
	 */
	public static function cron_schedules( $schedules ) {
		$schedules['allybridge_minute'] = array(
			'interval' => 60,
			'display'  => __( 'Every minute (allybridge deliveries)', 'allybridge-for-accessally' ),
		);
		return $schedules;
	}

	public function deliver_from_cron(): void {
		$this->outbox->deliver_due( 20.0 );
	}

	/**
	 * `init`: the delivery worker request started after a response (`?allybridge_deliver=TOKEN`).
	 */
	public static function maybe_run_worker(): void {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- authenticated by a token derived from the site's salts; it only delivers what is already due.
		$token = isset( $_GET[ Allybridge_Outbox::WORKER_QUERY_VAR ] ) ? sanitize_text_field( wp_unslash( $_GET[ Allybridge_Outbox::WORKER_QUERY_VAR ] ) ) : null;
		if ( null === $token ) {
			return;
		}
		if ( ! hash_equals( Allybridge_Outbox::worker_token(), $token ) ) {
			status_header( 403 );
			exit;
		}
		ignore_user_abort( true );
		if ( function_exists( 'set_time_limit' ) ) {
			set_time_limit( 60 );
		}
		status_header( 202 );
		header( 'Content-Type: text/plain; charset=utf-8' );
		header( 'Content-Length: 0' );
		header( 'Connection: close' );
		flush();
		self::instance()->outbox->deliver_due( 30.0 );
		exit;
	}

	/**
	 * Whether this site may be used without HTTPS (a local or development environment).
	 */
	public static function allows_plain_http(): bool {
		/**
		 * Whether the Bridge API may be called over plain HTTP: on `local` and `development` sites only, unless filtered.
		 *
		 * @param bool $allowed The environment's answer.
		 */
		return (bool) apply_filters( 'allybridge_allow_plain_http', in_array( wp_get_environment_type(), array( 'local', 'development' ), true ) );
	}

	/**
	 * Whether webhooks may go to loopback and private addresses (local and development sites only).
	 */
	public static function allows_local_urls(): bool {
		return self::allows_plain_http();
	}

	/**
	 * WordPress offers Application Passwords over plain HTTP only on `local` sites; a `development` site is as private.
	 *
	 * @param bool $available Core's answer.
	 */
	public static function application_passwords_on_development_sites( $available ) {
		return $available || 'development' === wp_get_environment_type();
	}
}
