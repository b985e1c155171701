<?php
/**
 * The integration panel in wp-admin (under AccessAlly's menu where
 * AccessAlly is active, else under Settings): the connection (allybridge's
 * last call, the webhook subscriptions with each one's last delivery and
 * status), failed deliveries with Redeliver, "Send test event", the
 * integration log (filter by record, paginated) and the uninstall choice.
 * Every form carries a nonce and is checked against `manage_options`;
 * every value is escaped; no secret is shown.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * The admin page and its form handlers.
 */
final class Allybridge_Admin {

	const SLUG       = 'allybridge';
	const CAPABILITY = 'manage_options';
	const PER_PAGE   = 25;

	public function __construct( private Allybridge_Plugin $plugin ) {}

	public function hook(): void {
		add_action( 'admin_menu', array( $this, 'menu' ) );
		add_action( 'admin_post_allybridge_redeliver', array( $this, 'handle_redeliver' ) );
		add_action( 'admin_post_allybridge_test_event', array( $this, 'handle_test_event' ) );
		add_action( 'admin_post_allybridge_settings', array( $this, 'handle_settings' ) );
		add_filter( 'removable_query_args', array( $this, 'removable_query_args' ) );
	}

	/**
	 * The one-time notice argument is dropped from the address bar (and from the log's page links), so a reload does not show it again.
	 *
	 * @param string[] $args Arguments WordPress removes.
	 * @return string[]
	 */
	public function removable_query_args( $args ) {
		$args   = (array) $args;
		$args[] = 'allybridge_notice';
		return $args;
	}

	public function menu(): void {
		$title = __( 'allybridge', 'allybridge-for-accessally' );
		$label = __( 'allybridge integration', 'allybridge-for-accessally' );
		if ( Allybridge_AccessAlly::is_active() ) {
			add_submenu_page( Allybridge_AccessAlly::MENU_SLUG, $label, $title, self::CAPABILITY, self::SLUG, array( $this, 'render' ) );
		} else {
			add_options_page( $label, $title, self::CAPABILITY, self::SLUG, array( $this, 'render' ) );
		}
	}

	/**
	 * The panel's own URL, with arguments.
	 *
	 * @param array $args Query arguments.
	 */
	public static function url( array $args = array() ): string {
		$base = Allybridge_AccessAlly::is_active() ? admin_url( 'admin.php' ) : admin_url( 'options-general.php' );
		return add_query_arg( array_merge( array( 'page' => self::SLUG ), $args ), $base );
	}

	public function render(): void {
		global $wpdb;
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to see the allybridge panel.', 'allybridge-for-accessally' ) );
		}
		// phpcs:disable WordPress.Security.NonceVerification.Recommended -- read-only filters and notices.
		$record = isset( $_GET['record'] ) ? sanitize_text_field( wp_unslash( $_GET['record'] ) ) : '';
		$paged  = isset( $_GET['paged'] ) ? max( 1, absint( $_GET['paged'] ) ) : 1;
		$notice = isset( $_GET['allybridge_notice'] ) ? sanitize_key( wp_unslash( $_GET['allybridge_notice'] ) ) : '';
		// phpcs:enable
		$hooks  = (array) $wpdb->get_results( 'SELECT id, url, topics, status, failures_in_row, last_delivery_gmt, last_status FROM ' . Allybridge_Schema::table( 'webhooks' ) . ' ORDER BY id', ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
		$failed = (array) $wpdb->get_results( 'SELECT id, webhook_id, message_id, topic, record_id, state, attempts, last_status, last_error, created_gmt FROM ' . Allybridge_Schema::table( 'outbox' ) . " WHERE state = 'failed' OR (state = 'pending' AND attempts > 0) ORDER BY id DESC LIMIT 50", ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
		list( $entries, $total ) = Allybridge_Log::page( $record, $paged, self::PER_PAGE );
		$notices = array(
			'redelivered'     => array( 'success', __( 'The delivery was queued again and is being sent.', 'allybridge-for-accessally' ) ),
			'not_redelivered' => array( 'error', __( 'That delivery cannot be sent again: it is gone, or its subscription is disabled or deleted (allybridge subscribes again when it starts).', 'allybridge-for-accessally' ) ),
			'test_sent'       => array( 'success', __( 'A test event was queued for every active subscription.', 'allybridge-for-accessally' ) ),
			'no_hooks'        => array( 'warning', __( 'No active webhook subscription: connect allybridge first (it subscribes when it starts).', 'allybridge-for-accessally' ) ),
			'saved'           => array( 'success', __( 'Settings saved.', 'allybridge-for-accessally' ) ),
		);
		?>
		<div class="wrap allybridge-panel">
			<h1><?php esc_html_e( 'allybridge integration', 'allybridge-for-accessally' ); ?></h1>
			<?php if ( isset( $notices[ $notice ] ) ) : ?>
				<div class="notice notice-<?php echo esc_attr( $notices[ $notice ][0] ); ?> is-dismissible"><p><?php echo esc_html( $notices[ $notice ][1] ); ?></p></div>
			<?php endif; ?>

			<h2><?php esc_html_e( 'Connection', 'allybridge-for-accessally' ); ?></h2>
			<table class="widefat striped" id="allybridge-connection">
				<tbody>
					<tr><th scope="row"><?php esc_html_e( 'Records served from', 'allybridge-for-accessally' ); ?></th>
						<td><?php echo esc_html( Allybridge_AccessAlly::is_active() ? __( 'AccessAlly', 'allybridge-for-accessally' ) : __( 'this plugin\'s own tables (AccessAlly is not active)', 'allybridge-for-accessally' ) ); ?></td></tr>
					<tr><th scope="row"><?php esc_html_e( 'Bridge API', 'allybridge-for-accessally' ); ?></th>
						<td><code><?php echo esc_html( rest_url( Allybridge_Rest::NAMESPACE ) ); ?></code></td></tr>
					<tr><th scope="row"><?php esc_html_e( 'allybridge\'s last call', 'allybridge-for-accessally' ); ?></th>
						<td><?php echo esc_html( (string) get_option( 'allybridge_last_call', __( 'never', 'allybridge-for-accessally' ) ) ); ?></td></tr>
				</tbody>
			</table>

			<h2><?php esc_html_e( 'Webhook subscriptions', 'allybridge-for-accessally' ); ?></h2>
			<table class="widefat striped" id="allybridge-subscriptions">
				<thead><tr>
					<th scope="col"><?php esc_html_e( 'ID', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'URL', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Topics', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Status', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Last delivery', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Last answer', 'allybridge-for-accessally' ); ?></th>
				</tr></thead>
				<tbody>
				<?php if ( ! $hooks ) : ?>
					<tr><td colspan="6"><?php esc_html_e( 'None yet.', 'allybridge-for-accessally' ); ?></td></tr>
				<?php endif; ?>
				<?php foreach ( $hooks as $hook ) : ?>
					<tr>
						<td><?php echo esc_html( $hook['id'] ); ?></td>
						<td><code><?php echo esc_html( $hook['url'] ); ?></code></td>
						<td><?php echo esc_html( implode( ', ', Allybridge_Values::json_list( $hook['topics'] ) ) ); ?></td>
						<td><?php echo esc_html( $hook['status'] ); ?><?php echo (int) $hook['failures_in_row'] > 0 ? esc_html( sprintf( /* translators: %d: count. */ __( ' (%d failed in a row)', 'allybridge-for-accessally' ), $hook['failures_in_row'] ) ) : ''; ?></td>
						<td><?php echo esc_html( (string) Allybridge_Values::format_date( $hook['last_delivery_gmt'] ) ); ?></td>
						<td><?php echo esc_html( (string) $hook['last_status'] ); ?></td>
					</tr>
				<?php endforeach; ?>
				</tbody>
			</table>
			<form method="post" action="<?php echo esc_url( admin_url( 'admin-post.php' ) ); ?>">
				<input type="hidden" name="action" value="allybridge_test_event">
				<?php wp_nonce_field( 'allybridge_test_event' ); ?>
				<p><?php submit_button( __( 'Send test event', 'allybridge-for-accessally' ), 'secondary', 'submit', false, array( 'id' => 'allybridge-test-event' ) ); ?></p>
			</form>

			<h2><?php esc_html_e( 'Failed deliveries', 'allybridge-for-accessally' ); ?></h2>
			<table class="widefat striped" id="allybridge-failed">
				<thead><tr>
					<th scope="col"><?php esc_html_e( 'Event', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Record', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Subscription', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'State', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Attempts', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Last error', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><span class="screen-reader-text"><?php esc_html_e( 'Actions', 'allybridge-for-accessally' ); ?></span></th>
				</tr></thead>
				<tbody>
				<?php if ( ! $failed ) : ?>
					<tr><td colspan="7"><?php esc_html_e( 'No failed delivery.', 'allybridge-for-accessally' ); ?></td></tr>
				<?php endif; ?>
				<?php foreach ( $failed as $row ) : ?>
					<tr>
						<td><?php echo esc_html( $row['topic'] ); ?><br><small><code><?php echo esc_html( $row['message_id'] ); ?></code></small></td>
						<td><?php echo esc_html( Allybridge_Outbox::record_label( $row['topic'], (int) $row['record_id'] ) ); ?></td>
						<td><?php echo esc_html( $row['webhook_id'] ); ?></td>
						<td><?php echo esc_html( $row['state'] ); ?></td>
						<td><?php echo esc_html( $row['attempts'] ); ?></td>
						<td><?php echo esc_html( (string) $row['last_error'] ); ?></td>
						<td>
							<form method="post" action="<?php echo esc_url( admin_url( 'admin-post.php' ) ); ?>">
								<input type="hidden" name="action" value="allybridge_redeliver">
								<input type="hidden" name="delivery" value="<?php echo esc_attr( $row['id'] ); ?>">
								<?php wp_nonce_field( 'allybridge_redeliver_' . $row['id'] ); ?>
								<?php
								submit_button(
									__( 'Redeliver', 'allybridge-for-accessally' ),
									'small',
									'submit',
									false,
									array(
										'id'         => 'allybridge-redeliver-' . $row['id'],
										/* translators: %s: message id. */
										'aria-label' => sprintf( __( 'Redeliver %s', 'allybridge-for-accessally' ), $row['message_id'] ),
									)
								);
								?>
							</form>
						</td>
					</tr>
				<?php endforeach; ?>
				</tbody>
			</table>

			<h2><?php esc_html_e( 'Integration log', 'allybridge-for-accessally' ); ?></h2>
			<form method="get" action="<?php echo esc_url( Allybridge_AccessAlly::is_active() ? admin_url( 'admin.php' ) : admin_url( 'options-general.php' ) ); ?>">
				<input type="hidden" name="page" value="<?php echo esc_attr( self::SLUG ); ?>">
				<label for="allybridge-record"><?php esc_html_e( 'Record (e.g. order 12, or 12)', 'allybridge-for-accessally' ); ?></label>
				<input type="search" id="allybridge-record" name="record" value="<?php echo esc_attr( $record ); ?>">
				<?php submit_button( __( 'Filter', 'allybridge-for-accessally' ), 'secondary', '', false ); ?>
			</form>
			<table class="widefat striped" id="allybridge-log">
				<thead><tr>
					<th scope="col"><?php esc_html_e( 'Time (UTC)', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Kind', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Call', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Status', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Record', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Duration', 'allybridge-for-accessally' ); ?></th>
					<th scope="col"><?php esc_html_e( 'Detail', 'allybridge-for-accessally' ); ?></th>
				</tr></thead>
				<tbody>
				<?php if ( ! $entries ) : ?>
					<tr><td colspan="7"><?php esc_html_e( 'Nothing logged.', 'allybridge-for-accessally' ); ?></td></tr>
				<?php endif; ?>
				<?php foreach ( $entries as $e ) : ?>
					<tr>
						<td><?php echo esc_html( (string) Allybridge_Values::format_date( $e['at_gmt'] ) ); ?></td>
						<td><?php echo esc_html( $e['kind'] ); ?></td>
						<td><?php echo esc_html( $e['method'] . ' ' . $e['route'] ); ?></td>
						<td><?php echo esc_html( $e['status'] ); ?></td>
						<td><?php echo esc_html( $e['record'] ); ?></td>
						<td><?php echo esc_html( $e['duration_ms'] . ' ms' ); ?></td>
						<td><?php echo esc_html( (string) $e['detail'] ); ?></td>
					</tr>
				<?php endforeach; ?>
				</tbody>
			</table>
			<div class="tablenav"><div class="tablenav-pages">
				<?php
				// paginate_links() carries the current URL's arguments over: not the one-time notice.
				$without_notice = static fn( $link ) => remove_query_arg( wp_removable_query_args(), $link );
				add_filter( 'get_pagenum_link', $without_notice );
				echo wp_kses_post(
					(string) paginate_links(
						array(
							'base'    => add_query_arg( 'paged', '%#%', self::url( array( 'record' => rawurlencode( $record ) ) ) ),
							'format'  => '',
							'current' => $paged,
							'total'   => max( 1, (int) ceil( $total / self::PER_PAGE ) ),
						)
					)
				);
				remove_filter( 'get_pagenum_link', $without_notice );
				?>
			</div></div>

			<h2><?php esc_html_e( 'When the plugin is deleted', 'allybridge-for-accessally' ); ?></h2>
			<form method="post" action="<?php echo esc_url( admin_url( 'admin-post.php' ) ); ?>">
				<input type="hidden" name="action" value="allybridge_settings">
				<?php wp_nonce_field( 'allybridge_settings' ); ?>
				<?php $settings = (array) get_option( 'allybridge_settings', array() ); ?>
				<label><input type="checkbox" name="delete_data_on_uninstall" value="1" <?php checked( ! empty( $settings['delete_data_on_uninstall'] ) ); ?>>
					<?php esc_html_e( 'Delete all allybridge data (catalog tables, log, subscriptions) when the plugin is deleted', 'allybridge-for-accessally' ); ?></label>
				<?php submit_button( __( 'Save', 'allybridge-for-accessally' ), 'secondary', 'submit', true, array( 'id' => 'allybridge-save-settings' ) ); ?>
			</form>
		</div>
		<?php
	}

	public function handle_redeliver(): void {
		$id = isset( $_POST['delivery'] ) ? absint( $_POST['delivery'] ) : 0; // phpcs:ignore WordPress.Security.NonceVerification.Missing -- checked on the next line with the id in the action.
		$this->guard( 'allybridge_redeliver_' . $id );
		$this->back( $this->plugin->outbox->redeliver( $id ) ? 'redelivered' : 'not_redelivered' );
	}

	public function handle_test_event(): void {
		global $wpdb;
		$this->guard( 'allybridge_test_event' );
		$hooks = (array) $wpdb->get_col( 'SELECT id FROM ' . Allybridge_Schema::table( 'webhooks' ) . " WHERE status = 'active'" ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
		if ( ! $hooks ) {
			$this->back( 'no_hooks' );
		}
		$this->plugin->outbox->record_test_event( array_map( 'intval', $hooks ) );
		$this->plugin->outbox->schedule_delivery();
		$this->back( 'test_sent' );
	}

	public function handle_settings(): void {
		$this->guard( 'allybridge_settings' );
		$settings                             = (array) get_option( 'allybridge_settings', array() );
		$settings['delete_data_on_uninstall'] = ! empty( $_POST['delete_data_on_uninstall'] ); // phpcs:ignore WordPress.Security.NonceVerification.Missing -- guard() checked it.
		update_option( 'allybridge_settings', $settings, false );
		$this->back( 'saved' );
	}

	private function guard( string $action ): void {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to do that.', 'allybridge-for-accessally' ), 403 );
		}
		check_admin_referer( $action );
	}

	private function back( string $notice ): void {
		wp_safe_redirect( self::url( array( 'allybridge_notice' => $notice ) ) );
		exit;
	}
}
