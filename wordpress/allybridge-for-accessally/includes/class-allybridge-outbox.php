<?php
/**
 * Outgoing events. A change writes one outbox row per subscribed webhook in
 * the same transaction as the change itself; delivery happens after the
 * response (a non-blocking loopback request, or inline after
 * `fastcgi_finish_request` under PHP-FPM, with WP-Cron every minute as the
 * backstop), so an event is never lost to a PHP fatal, a timeout or a
 * restart: a row stays pending until a receiver answered 2xx.
 *
 * Each attempt is signed per Standard Webhooks (`webhook-id` the same on
 * every retry, `webhook-timestamp` the attempt's time, `webhook-signature:
 * v1,<base64 HMAC-SHA256 of "id.timestamp.body">`). Failed attempts are
 * retried with exponential back-off, 5 attempts in all; a subscription
 * whose 5 deliveries in a row failed every attempt is disabled, as
 * WooCommerce does. One delivery worker runs at a time (a database lock);
 * it sends the deliveries that are due together, in parallel (the Requests
 * library WordPress ships, over curl), so a receiver that hangs costs its
 * own timeout and delays no other subscription's events. Without curl, or
 * behind a proxy configured for WordPress, it sends them one by one
 * through WordPress's HTTP API.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * The outbox and its delivery worker.
 */
final class Allybridge_Outbox {

	const MAX_ATTEMPTS     = 5;
	const DISABLE_AFTER    = 5;
	const LOCK             = 'allybridge_delivery';
	const TIMEOUT          = 10;
	const WORKER_QUERY_VAR = 'allybridge_deliver';

	/** @var bool Whether this request recorded events to deliver. */
	private bool $pending = false;

	/**
	 * Records an event for every active subscription of its topic.
	 *
	 * @param string $topic Contract topic.
	 * @param array  $data  The resource as `GET` answers it.
	 */
	public function record( string $topic, array $data ): void {
		global $wpdb;
		$hooks = $wpdb->get_results( 'SELECT id, topics FROM ' . Allybridge_Schema::table( 'webhooks' ) . " WHERE status = 'active'", ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- no input.
		$ids   = array();
		foreach ( (array) $hooks as $hook ) {
			if ( in_array( $topic, Allybridge_Values::json_list( $hook['topics'] ), true ) ) {
				$ids[] = (int) $hook['id'];
			}
		}
		$this->enqueue( $topic, $data, $ids );
	}

	/**
	 * Records a `webhook.test` event for these subscriptions, whatever their topics (the panel's "Send test event").
	 *
	 * @param int[] $webhook_ids Subscriptions.
	 */
	public function record_test_event( array $webhook_ids ): void {
		$this->enqueue(
			'webhook.test',
			array(
				'id'      => 0,
				'message' => __( 'A test event sent from the allybridge panel in WordPress.', 'allybridge-for-accessally' ),
			),
			$webhook_ids
		);
	}

	/**
	 * One outbox row per subscription, all with one message id.
	 *
	 * @param string $topic       Topic.
	 * @param array  $data        Payload data.
	 * @param int[]  $webhook_ids Subscriptions.
	 */
	private function enqueue( string $topic, array $data, array $webhook_ids ): void {
		global $wpdb;
		if ( ! $webhook_ids ) {
			return;
		}
		$now        = Allybridge_Values::now();
		$body       = wp_json_encode(
			array(
				'type'      => $topic,
				'timestamp' => Allybridge_Values::format_date( $now ),
				'data'      => $data,
			)
		);
		$message_id = 'msg_' . wp_generate_password( 24, false );
		foreach ( $webhook_ids as $webhook_id ) {
			$ok = $wpdb->insert(
				Allybridge_Schema::table( 'outbox' ),
				array(
					'webhook_id'       => $webhook_id,
					'message_id'       => $message_id,
					'topic'            => $topic,
					'record_id'        => (int) ( $data['id'] ?? 0 ),
					'body'             => $body,
					'state'            => 'pending',
					'attempts'         => 0,
					'next_attempt_gmt' => $now,
					'created_gmt'      => $now,
				)
			);
			if ( false === $ok ) {
				throw new Allybridge_Storage_Exception( $wpdb->last_error );
			}
			$this->pending = true;
		}
	}

	/**
	 * Asks for delivery once this request has answered.
	 */
	public function schedule_delivery(): void {
		if ( $this->pending ) {
			$this->pending = false;
			if ( ! has_action( 'shutdown', array( $this, 'deliver_after_response' ) ) ) {
				add_action( 'shutdown', array( $this, 'deliver_after_response' ), 100 );
			}
		}
	}

	/**
	 * Shutdown hook: deliver inline after the response under PHP-FPM, else start a worker request.
	 */
	public function deliver_after_response(): void {
		if ( function_exists( 'fastcgi_finish_request' ) ) {
			fastcgi_finish_request();
			$this->deliver_due( 20.0 );
			return;
		}
		self::spawn_worker();
	}

	/**
	 * Starts a delivery worker in another request without waiting for it.
	 */
	public static function spawn_worker(): void {
		$url = add_query_arg( self::WORKER_QUERY_VAR, self::worker_token(), home_url( '/' ) );
		wp_remote_post(
			$url,
			array(
				'timeout'   => 0.5,
				'blocking'  => false,
				'sslverify' => apply_filters( 'https_local_ssl_verify', false ), // phpcs:ignore WordPress.NamingConventions.PrefixAllGlobals -- core filter.
			)
		);
	}

	/**
	 * The token a worker request must carry (not a secret shown anywhere: derived from the site's salts).
	 */
	public static function worker_token(): string {
		return substr( hash_hmac( 'sha256', 'allybridge-delivery-worker', wp_salt( 'nonce' ) ), 0, 32 );
	}

	/**
	 * Delivers what is due, and waits for retries due within the budget.
	 *
	 * @param float $budget_seconds Wall time this worker may take.
	 * @return int Deliveries attempted.
	 */
	public function deliver_due( float $budget_seconds ): int {
		global $wpdb;
		$deadline = microtime( true ) + $budget_seconds;
		$sent     = 0;
		do {
			if ( '1' !== (string) $wpdb->get_var( $wpdb->prepare( 'SELECT GET_LOCK(%s, 0)', self::lock_name() ) ) ) {
				return $sent; // Another worker holds the lock; it will see these rows.
			}
			while ( microtime( true ) < $deadline ) {
				$due = $this->due_rows();
				if ( $due ) {
					$this->attempt_all( $due );
					$sent += count( $due );
					continue;
				}
				$next = $this->seconds_to_next();
				if ( null === $next || microtime( true ) + $next > $deadline ) {
					break;
				}
				usleep( (int) ( min( max( $next, 0.05 ), 0.25 ) * 1e6 ) );
			}
			$wpdb->get_var( $wpdb->prepare( 'SELECT RELEASE_LOCK(%s)', self::lock_name() ) );
			// A row committed while the lock was held but after the last look would wait for cron: look once more.
		} while ( microtime( true ) < $deadline && $this->due_rows( 1 ) );
		return $sent;
	}

	/**
	 * The worker lock's name. Locks are server-wide, and one database server
	 * often holds many WordPress sites with the same table prefix: the name
	 * is this site's own (its database and prefix), at most 64 characters.
	 */
	private static function lock_name(): string {
		global $wpdb;
		return self::LOCK . '_' . md5( DB_NAME . '|' . $wpdb->prefix );
	}

	/**
	 * Sends one delivery again now (admin's Redeliver), whatever its state;
	 * false when there is no such row, or its subscription is disabled or
	 * deleted (the worker would only cancel it, and it would leave the panel).
	 *
	 * @param int $id Outbox row.
	 */
	public function redeliver( int $id ): bool {
		global $wpdb;
		$table  = Allybridge_Schema::table( 'outbox' );
		$status = $wpdb->get_var( $wpdb->prepare( 'SELECT w.status FROM ' . $table . ' o JOIN ' . Allybridge_Schema::table( 'webhooks' ) . ' w ON w.id = o.webhook_id WHERE o.id = %d', $id ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- table names only.
		if ( 'active' !== $status ) {
			return false;
		}
		$ok = $wpdb->update(
			$table,
			array(
				'state'            => 'pending',
				'attempts'         => 0,
				'next_attempt_gmt' => Allybridge_Values::now(),
			),
			array( 'id' => $id )
		);
		if ( $ok ) {
			self::spawn_worker();
		}
		return (bool) $ok;
	}

	/**
	 * @param int $limit Rows.
	 * @return array[]
	 */
	private function due_rows( int $limit = 20 ): array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'outbox' );
		return (array) $wpdb->get_results( $wpdb->prepare( "SELECT * FROM $table WHERE state = 'pending' AND next_attempt_gmt <= %s ORDER BY next_attempt_gmt, id LIMIT %d", Allybridge_Values::now(), $limit ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
	}

	private function seconds_to_next(): ?float {
		global $wpdb;
		$table = Allybridge_Schema::table( 'outbox' );
		$next  = $wpdb->get_var( "SELECT MIN(next_attempt_gmt) FROM $table WHERE state = 'pending'" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		if ( null === $next ) {
			return null;
		}
		$at = DateTimeImmutable::createFromFormat( 'Y-m-d H:i:s.u', $next, new DateTimeZone( 'UTC' ) );
		return false === $at ? 0.0 : max( 0.0, (float) $at->format( 'U.u' ) - microtime( true ) );
	}

	/**
	 * One attempt of each of these deliveries, sent together, and what
	 * follows from each answer.
	 *
	 * @param array[] $rows Outbox rows.
	 */
	private function attempt_all( array $rows ): void {
		global $wpdb;
		$outbox   = Allybridge_Schema::table( 'outbox' );
		$requests = array();
		$webhooks = array();
		foreach ( $rows as $key => $row ) {
			$webhook = $wpdb->get_row( $wpdb->prepare( 'SELECT * FROM ' . Allybridge_Schema::table( 'webhooks' ) . ' WHERE id = %d', $row['webhook_id'] ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared
			if ( ! $webhook || 'active' !== $webhook['status'] ) {
				$wpdb->update( $outbox, array( 'state' => 'cancelled', 'last_error' => 'subscription deleted or disabled' ), array( 'id' => $row['id'] ) );
				continue;
			}
			$timestamp        = (string) time();
			$webhooks[ $key ] = $webhook;
			$requests[ $key ] = array(
				'url'     => $webhook['url'],
				'headers' => array(
					'content-type'      => 'application/json',
					'webhook-id'        => $row['message_id'],
					'webhook-timestamp' => $timestamp,
					'webhook-signature' => self::sign( Allybridge_Secrets::reveal( $webhook['secret'] ), $row['message_id'], $timestamp, $row['body'] ),
					'user-agent'        => 'allybridge-for-accessally/' . ALLYBRIDGE_VERSION,
				),
				'body'    => $row['body'],
			);
		}
		foreach ( $this->send_all( $requests ) as $key => $answer ) {
			$this->record_answer( $rows[ $key ], $webhooks[ $key ], $answer );
		}
	}

	/**
	 * Sends these POSTs and answers, for each, `status` (0 when none came),
	 * `error` (null on a 2xx) and `ms`. In parallel when curl is there and
	 * no proxy is configured for WordPress; else one by one through
	 * WordPress's HTTP API. A URL WordPress deems unsafe is refused unsent
	 * (as `wp_safe_remote_post` refuses it), unless the site allows local URLs.
	 *
	 * @param array[] $requests Each with `url`, `headers` and `body`.
	 * @return array[] By the requests' keys.
	 */
	private function send_all( array $requests ): array {
		$answers = array();
		$safe    = ! Allybridge_Plugin::allows_local_urls();
		foreach ( $requests as $key => $request ) {
			if ( $safe && ! wp_http_validate_url( $request['url'] ) ) {
				$answers[ $key ] = array(
					'status' => 0,
					'error'  => __( 'A valid URL was not provided.', 'allybridge-for-accessally' ),
					'ms'     => 0,
				);
				unset( $requests[ $key ] );
			}
		}
		$library = self::parallel_library();
		if ( count( $requests ) > 1 && null !== $library ) {
			return $answers + self::send_in_parallel( $library, $requests );
		}
		foreach ( $requests as $key => $request ) {
			$started         = microtime( true );
			$response        = wp_remote_post(
				$request['url'],
				array(
					'timeout'     => self::TIMEOUT,
					'redirection' => 0,
					'headers'     => $request['headers'],
					'body'        => $request['body'],
				)
			);
			$status          = is_wp_error( $response ) ? 0 : (int) wp_remote_retrieve_response_code( $response );
			$answers[ $key ] = array(
				'status' => $status,
				'error'  => is_wp_error( $response ) ? $response->get_error_message() : self::status_error( $status ),
				'ms'     => (int) round( ( microtime( true ) - $started ) * 1000 ),
			);
		}
		return $answers;
	}

	/**
	 * The Requests class WordPress ships (`WpOrg\Requests\Requests` since
	 * 6.2, `Requests` before), when it can send in parallel here: curl is
	 * loaded and WordPress is not configured to go through a proxy.
	 */
	private static function parallel_library(): ?string {
		if ( ! function_exists( 'curl_multi_init' ) || ( new WP_HTTP_Proxy() )->is_enabled() ) {
			return null;
		}
		if ( class_exists( '\WpOrg\Requests\Requests' ) ) {
			return '\WpOrg\Requests\Requests';
		}
		return class_exists( 'Requests' ) ? 'Requests' : null;
	}

	/**
	 * Sends these POSTs at once with `$library::request_multiple`, with the
	 * options WordPress's HTTP API would give them: the timeout, no
	 * redirects, WordPress's certificate bundle and its `https_ssl_verify`
	 * filter.
	 *
	 * @param string  $library  See {@see parallel_library()}.
	 * @param array[] $requests Each with `url`, `headers` and `body`.
	 * @return array[] See {@see send_all()}.
	 */
	private static function send_in_parallel( string $library, array $requests ): array {
		$started  = microtime( true );
		$finished = array();
		$multiple = array();
		foreach ( $requests as $key => $request ) {
			$multiple[ $key ] = array(
				'url'     => $request['url'],
				'headers' => $request['headers'],
				'data'    => $request['body'],
				'type'    => 'POST',
				'options' => array(
					'timeout'          => self::TIMEOUT,
					'connect_timeout'  => self::TIMEOUT,
					'follow_redirects' => false,
					'data_format'      => 'body',
					'useragent'        => $request['headers']['user-agent'],
					'verify'           => apply_filters( 'https_ssl_verify', ABSPATH . WPINC . '/certificates/ca-bundle.crt', $request['url'] ), // phpcs:ignore WordPress.NamingConventions.PrefixAllGlobals -- core filter.
				),
			);
		}
		$responses = $library::request_multiple(
			$multiple,
			array(
				'complete' => static function ( $response, $key ) use ( &$finished ) {
					$finished[ $key ] = microtime( true );
				},
			)
		);
		$answers   = array();
		foreach ( $requests as $key => $request ) {
			$response        = $responses[ $key ] ?? null;
			$failed          = ! is_object( $response ) || $response instanceof Exception;
			$status          = $failed ? 0 : (int) $response->status_code;
			$answers[ $key ] = array(
				'status' => $status,
				'error'  => $failed ? ( $response instanceof Exception ? $response->getMessage() : 'no answer' ) : self::status_error( $status ),
				'ms'     => (int) round( ( ( $finished[ $key ] ?? microtime( true ) ) - $started ) * 1000 ),
			);
		}
		return $answers;
	}

	/**
	 * Null for a 2xx status, else what to record.
	 *
	 * @param int $status HTTP status.
	 */
	private static function status_error( int $status ): ?string {
		return ( $status >= 200 && $status < 300 ) ? null : "HTTP $status";
	}

	/**
	 * What follows from one delivery's answer: delivered; retried with
	 * back-off; or failed, its subscription disabled after
	 * `DISABLE_AFTER` failed deliveries in a row.
	 *
	 * @param array $row     Outbox row.
	 * @param array $webhook Its subscription.
	 * @param array $answer  See {@see send_all()}.
	 */
	private function record_answer( array $row, array $webhook, array $answer ): void {
		global $wpdb;
		$outbox   = Allybridge_Schema::table( 'outbox' );
		$webhooks = Allybridge_Schema::table( 'webhooks' );
		$status   = $answer['status'];
		$error    = $answer['error'];
		$ok       = null === $error;
		$attempts = (int) $row['attempts'] + 1;
		$now      = Allybridge_Values::now();
		Allybridge_Log::write( 'webhook', $row['topic'], $webhook['url'], $status, self::record_label( $row['topic'], (int) $row['record_id'] ), $answer['ms'], $ok ? "attempt $attempts" : "attempt $attempts: " . (string) $error );

		if ( $ok ) {
			$wpdb->update( $outbox, array( 'state' => 'delivered', 'attempts' => $attempts, 'last_status' => (string) $status, 'last_error' => null, 'delivered_gmt' => $now ), array( 'id' => $row['id'] ) );
			$wpdb->update( $webhooks, array( 'failures_in_row' => 0, 'last_delivery_gmt' => $now, 'last_status' => (string) $status ), array( 'id' => $webhook['id'] ) );
			return;
		}
		$last_status = 0 === $status ? 'error' : (string) $status;
		if ( $attempts < self::MAX_ATTEMPTS ) {
			$delay = self::retry_base_seconds() * ( 2 ** ( $attempts - 1 ) );
			$next  = DateTimeImmutable::createFromFormat( 'U.u', sprintf( '%.6F', microtime( true ) + $delay ) );
			$wpdb->update( $outbox, array( 'attempts' => $attempts, 'last_status' => $last_status, 'last_error' => $error, 'next_attempt_gmt' => $next ? $next->format( 'Y-m-d H:i:s.u' ) : $now ), array( 'id' => $row['id'] ) );
			$wpdb->update( $webhooks, array( 'last_delivery_gmt' => $now, 'last_status' => $last_status ), array( 'id' => $webhook['id'] ) );
			return;
		}
		$wpdb->update( $outbox, array( 'state' => 'failed', 'attempts' => $attempts, 'last_status' => $last_status, 'last_error' => $error ), array( 'id' => $row['id'] ) );
		// Counted in the database: deliveries of one subscription answered in one batch each count.
		$wpdb->query( $wpdb->prepare( "UPDATE $webhooks SET failures_in_row = failures_in_row + 1, status = IF(failures_in_row >= %d, 'disabled', status), last_delivery_gmt = %s, last_status = %s WHERE id = %d", self::DISABLE_AFTER, $now, $last_status, $webhook['id'] ) ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name only.
	}

	/**
	 * The Standard Webhooks signature.
	 *
	 * @param string $secret    `whsec_…`.
	 * @param string $id        Message id.
	 * @param string $timestamp Unix seconds.
	 * @param string $body      Exact body bytes.
	 */
	public static function sign( string $secret, string $id, string $timestamp, string $body ): string {
		$key = base64_decode( (string) preg_replace( '/^whsec_/', '', $secret ), true ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode
		return 'v1,' . base64_encode( hash_hmac( 'sha256', "$id.$timestamp.$body", false === $key ? '' : $key, true ) ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode
	}

	/**
	 * Seconds before the first retry; each next one waits twice as long.
	 * 30 s by default; `ALLYBRIDGE_WEBHOOK_RETRY_BASE` (wp-config.php) changes it, e.g. for tests.
	 */
	public static function retry_base_seconds(): float {
		$base = defined( 'ALLYBRIDGE_WEBHOOK_RETRY_BASE' ) ? (float) ALLYBRIDGE_WEBHOOK_RETRY_BASE : 30.0;
		return (float) apply_filters( 'allybridge_webhook_retry_base', max( 0.05, $base ) );
	}

	/**
	 * `order 12` from a topic and an id.
	 *
	 * @param string $topic Topic.
	 * @param int    $id    Record id.
	 */
	public static function record_label( string $topic, int $id ): string {
		return strtok( $topic, '.' ) . ' ' . $id;
	}
}
