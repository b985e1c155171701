<?php
/**
 * The Bridge API's routes under `allybridge/v1`, registered with
 * WordPress's own REST routing: argument schemas taken from the contract,
 * one permission callback (HTTPS, a logged-in user, the `allybridge_sync`
 * capability), WordPress's error shape, `page`/`per_page` with
 * `X-WP-Total`, `X-WP-TotalPages` and `Link`, a body size limit, and one
 * integration-log line per call.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Route registration and handlers.
 */
final class Allybridge_Rest {

	const NAMESPACE     = 'allybridge/v1';
	const CAPABILITY    = 'allybridge_sync';
	const MAX_BODY      = 1048576;
	const ORDER_STATUSES = array( 'started', 'success', 'failed', 'refunded', 'partially_refunded', 'sca_pending', 'sca_success', 'sca_failed', 'error' );
	const TOPICS        = array( 'order.completed', 'order.refunded', 'offering.created', 'offering.updated', 'offering.deleted', 'coupon.created', 'coupon.updated', 'coupon.deleted' );

	/** @var float|null When the current Bridge API request started. */
	private ?float $started = null;

	public function __construct( private Allybridge_Catalog $catalog ) {}

	/**
	 * Hooks the routes, the size limit and the log.
	 */
	public function hook(): void {
		add_action( 'rest_api_init', array( $this, 'register_routes' ) );
		add_filter( 'rest_pre_dispatch', array( $this, 'before_dispatch' ), 10, 3 );
		add_filter( 'rest_post_dispatch', array( $this, 'after_dispatch' ), 10, 3 );
	}

	public function register_routes(): void {
		$id = '/(?P<id>[^/]+)';
		$this->route( '/offerings', 'GET', 'list_offerings', array( $this, 'list_offerings' ) );
		$this->route( '/offerings', 'POST', 'create_offering', fn( $r ) => $this->answer( $this->catalog->write_offering( null, $this->body( $r ) ), 201 ) );
		$this->route( '/offerings' . $id, 'GET', 'get_offering', array( $this, 'get_offering' ) );
		$this->route( '/offerings' . $id, 'PUT', 'update_offering', fn( $r ) => $this->with_id( $r, 'offering', fn( $i ) => $this->catalog->write_offering( $i, $this->body( $r ) ) ) );
		$this->route( '/offerings' . $id, 'DELETE', 'delete_offering', fn( $r ) => $this->with_id( $r, 'offering', fn( $i ) => $this->catalog->delete_offering( $i ) ) );
		$this->route( '/coupons', 'GET', 'list_coupons', array( $this, 'list_coupons' ) );
		$this->route( '/coupons', 'POST', 'create_coupon', fn( $r ) => $this->answer( $this->catalog->write_coupon( null, $this->body( $r ) ), 201 ) );
		$this->route( '/coupons' . $id, 'GET', 'get_coupon', array( $this, 'get_coupon' ) );
		$this->route( '/coupons' . $id, 'PUT', 'update_coupon', fn( $r ) => $this->with_id( $r, 'coupon', fn( $i ) => $this->catalog->write_coupon( $i, $this->body( $r ) ) ) );
		$this->route( '/coupons' . $id, 'DELETE', 'delete_coupon', fn( $r ) => $this->with_id( $r, 'coupon', fn( $i ) => $this->catalog->delete_coupon( $i ) ) );
		$this->route( '/orders', 'GET', 'list_orders', array( $this, 'list_orders' ) );
		$this->route( '/orders' . $id, 'GET', 'get_order', array( $this, 'get_order' ) );
		$this->route( '/access-grants', 'POST', 'create_access_grant', array( $this, 'create_grant' ) );
		$this->route( '/webhooks', 'GET', 'list_webhooks', array( $this, 'list_webhooks' ) );
		$this->route( '/webhooks', 'POST', 'create_webhook', array( $this, 'create_webhook' ) );
		$this->route( '/webhooks' . $id, 'DELETE', 'delete_webhook', array( $this, 'delete_webhook' ) );
	}

	/**
	 * Registers one operation of the contract.
	 *
	 * @param string   $path         Route under the namespace.
	 * @param string   $method       HTTP method.
	 * @param string   $operation_id Contract operation.
	 * @param callable $callback     Handler.
	 */
	private function route( string $path, string $method, string $operation_id, callable $callback ): void {
		register_rest_route(
			self::NAMESPACE,
			$path,
			array(
				'methods'             => $method,
				'callback'            => static function ( WP_REST_Request $request ) use ( $operation_id, $callback ) {
					// WordPress does not validate a field sent as null: the contract allows null only where it says `nullable`.
					$refused = Allybridge_Contract::refused_nulls( $operation_id, $request );
					return null === $refused ? $callback( $request ) : $refused;
				},
				'permission_callback' => array( $this, 'permission' ),
				'args'                => Allybridge_Contract::args( $operation_id ),
			)
		);
	}

	/**
	 * Who may call the Bridge API: over HTTPS (or on a local/development
	 * site), a logged-in user (an Application Password) with `allybridge_sync`.
	 *
	 * @return true|WP_Error
	 */
	public function permission() {
		if ( ! is_ssl() && ! Allybridge_Plugin::allows_plain_http() ) {
			return new WP_Error(
				'allybridge_https_required',
				__( 'The Bridge API answers over HTTPS only: Application Passwords would cross the network in the clear. Serve the site over HTTPS (behind a proxy, make WordPress see it: is_ssl()), or set WP_ENVIRONMENT_TYPE to local or development on a test site.', 'allybridge-for-accessally' ),
				array( 'status' => 403 )
			);
		}
		if ( ! is_user_logged_in() ) {
			return self::why_not_logged_in();
		}
		if ( ! current_user_can( self::CAPABILITY ) ) {
			return new WP_Error( 'rest_forbidden', __( 'Sorry, you are not allowed to use the allybridge Bridge API: the user needs the allybridge_sync capability.', 'allybridge-for-accessally' ), array( 'status' => 403 ) );
		}
		return true;
	}

	/**
	 * Why a request has no user: credentials that were sent and refused say
	 * so (`incorrect_password`, `invalid_username`), as the contract
	 * promises; none at all is `rest_not_logged_in`. WordPress settles the
	 * current user at `init`, before it knows a request is a REST call, so a
	 * refused Application Password leaves no error of its own: it is checked
	 * again here, now that it is.
	 */
	private static function why_not_logged_in(): WP_Error {
		// phpcs:disable WordPress.Security.ValidatedSanitizedInput -- credentials are compared, never stored or shown.
		if ( isset( $_SERVER['PHP_AUTH_USER'], $_SERVER['PHP_AUTH_PW'] ) && wp_is_application_passwords_available() ) {
			$checked = wp_authenticate_application_password( null, wp_unslash( $_SERVER['PHP_AUTH_USER'] ), wp_unslash( $_SERVER['PHP_AUTH_PW'] ) );
			// phpcs:enable
			if ( is_wp_error( $checked ) ) {
				return new WP_Error( $checked->get_error_code(), wp_strip_all_tags( $checked->get_error_message() ), array( 'status' => 401 ) );
			}
		}
		return new WP_Error( 'rest_not_logged_in', __( 'You are not currently logged in.', 'allybridge-for-accessally' ), array( 'status' => 401 ) );
	}

	/**
	 * Before a Bridge API route runs: the clock for the log, and the body size limit.
	 *
	 * @param mixed           $result  Short-circuit value.
	 * @param WP_REST_Server  $server  Server.
	 * @param WP_REST_Request $request Request.
	 * @return mixed
	 */
	public function before_dispatch( $result, $server, $request ) {
		if ( ! self::is_ours( $request ) ) {
			return $result;
		}
		$this->started = microtime( true );
		$body          = (string) $request->get_body();
		if ( '' !== $body && ! $request->is_json_content_type() ) {
			// The contract's bodies are JSON whatever the client labelled them: read them so, and refuse what is not.
			$request->set_header( 'content-type', 'application/json' );
		}
		if ( null === $result && strlen( $body ) > self::MAX_BODY ) {
			/* translators: %d: bytes. */
			return new WP_Error( 'allybridge_body_too_large', sprintf( __( 'The request body is larger than %d bytes; send fewer records at once.', 'allybridge-for-accessally' ), self::MAX_BODY ), array( 'status' => 413 ) );
		}
		if ( null === $result && in_array( $request->get_method(), array( 'POST', 'PUT' ), true ) && Allybridge_Contract::is_json_but_not_object( $body ) ) {
			// WordPress would read it as no fields (and warn while sanitizing a JSON string); malformed JSON stays WordPress's to refuse.
			return new WP_Error( 'rest_invalid_json', __( 'The request body must be a JSON object.', 'allybridge-for-accessally' ), array( 'status' => 400 ) );
		}
		return $result;
	}

	/**
	 * After a Bridge API route ran: one log line.
	 *
	 * @param WP_HTTP_Response $response Response.
	 * @param WP_REST_Server   $server   Server.
	 * @param WP_REST_Request  $request  Request.
	 * @return WP_HTTP_Response
	 */
	public function after_dispatch( $response, $server, $request ) {
		if ( ! self::is_ours( $request ) || null === $this->started ) {
			return $response;
		}
		$route  = $request->get_route();
		$record = '';
		if ( preg_match( '#^/allybridge/v1/(offerings|coupons|orders|webhooks)(?:/(\d+))?$#', $route, $m ) ) {
			$data = $response->get_data();
			$id   = $m[2] ?? ( is_array( $data ) && isset( $data['id'] ) ? (string) $data['id'] : '' );
			if ( '' !== $id ) {
				$record = rtrim( $m[1], 's' ) . ' ' . $id;
			}
		} elseif ( '/allybridge/v1/access-grants' === $route ) {
			$params = $request->get_json_params();
			$ref    = is_array( $params ) && is_string( $params['source_ref'] ?? null ) ? $params['source_ref'] : '';
			$record = 'grant ' . $ref;
		}
		Allybridge_Log::write( 'api', $request->get_method(), $route, $response->get_status(), $record, (int) round( ( microtime( true ) - $this->started ) * 1000 ) );
		update_option( 'allybridge_last_call', gmdate( 'c' ), false );
		$this->started = null;
		return $response;
	}

	private static function is_ours( $request ): bool {
		return str_starts_with( (string) $request->get_route(), '/' . self::NAMESPACE . '/' );
	}

	/**
	 * The JSON body as an array (WordPress already refused malformed JSON).
	 *
	 * @param WP_REST_Request $request Request.
	 */
	private function body( WP_REST_Request $request ): array {
		$body = $request->get_json_params();
		return is_array( $body ) ? $body : array();
	}

	/**
	 * Runs a handler on a path id; a non-numeric id is an unknown record.
	 *
	 * @param WP_REST_Request $request Request.
	 * @param string          $what    Record kind.
	 * @param callable        $run     Handler taking the id.
	 * @return WP_REST_Response|WP_Error
	 */
	private function with_id( WP_REST_Request $request, string $what, callable $run ) {
		$id = self::path_id( $request );
		if ( null === $id ) {
			return Allybridge_Errors::invalid_id( $what );
		}
		return $this->answer( $run( $id ) );
	}

	private static function path_id( WP_REST_Request $request ): ?int {
		$raw = (string) $request['id'];
		return ( ctype_digit( $raw ) && strlen( $raw ) < 19 && (int) $raw >= 1 ) ? (int) $raw : null;
	}

	/**
	 * @param mixed $result Data or error.
	 * @param int   $status Status when it succeeded.
	 * @return WP_REST_Response|WP_Error
	 */
	private function answer( $result, int $status = 200 ) {
		if ( is_wp_error( $result ) ) {
			return $result;
		}
		return new WP_REST_Response( $result, $status );
	}

	// ----- lists -----

	/**
	 * The list query a request asks for.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return Allybridge_List_Query|WP_Error
	 */
	private function list_query( WP_REST_Request $request ) {
		$q           = new Allybridge_List_Query();
		$q->page     = (int) ( $request['page'] ?? 1 );
		$q->per_page = (int) ( $request['per_page'] ?? 10 );
		$q->orderby  = (string) ( $request['orderby'] ?? 'id' );
		$q->order    = (string) ( $request['order'] ?? 'asc' );
		if ( null !== $request['modified_after'] ) {
			$q->modified_after = Allybridge_Values::parse_date( $request['modified_after'] );
			if ( null === $q->modified_after ) {
				return Allybridge_Errors::invalid_params( array( 'modified_after' => __( 'modified_after is not a valid date.', 'allybridge-for-accessally' ) ) );
			}
		}
		foreach ( array( 'external_ref', 'status', 'code', 'email' ) as $key ) {
			if ( null !== $request[ $key ] ) {
				$q->filters[ $key ] = (string) $request[ $key ];
			}
		}
		return $q;
	}

	/**
	 * A page as WordPress answers one: the records, `X-WP-Total`, `X-WP-TotalPages` and `Link`.
	 *
	 * @param WP_REST_Request       $request Request.
	 * @param Allybridge_List_Query $query   What was asked.
	 * @param Allybridge_Page       $page    What was found.
	 * @param callable              $render  Record to JSON.
	 * @return WP_REST_Response|WP_Error
	 */
	private function paged( WP_REST_Request $request, Allybridge_List_Query $query, Allybridge_Page $page, callable $render ) {
		$pages = (int) ceil( $page->total / $query->per_page );
		if ( $page->total > 0 && $query->page > $pages ) {
			return new WP_Error( 'rest_invalid_page_number', __( 'The page number requested is larger than the number of pages available.', 'allybridge-for-accessally' ), array( 'status' => 400 ) );
		}
		$response = new WP_REST_Response( array_map( $render, $page->items ), 200 );
		$response->header( 'X-WP-Total', (string) $page->total );
		$response->header( 'X-WP-TotalPages', (string) $pages );
		$base  = add_query_arg( urlencode_deep( $request->get_query_params() ), rest_url( ltrim( $request->get_route(), '/' ) ) );
		$links = array();
		if ( $query->page > 1 && $query->page <= $pages ) {
			$links[] = '<' . esc_url_raw( add_query_arg( 'page', $query->page - 1, $base ) ) . '>; rel="prev"';
		}
		if ( $query->page < $pages ) {
			$links[] = '<' . esc_url_raw( add_query_arg( 'page', $query->page + 1, $base ) ) . '>; rel="next"';
		}
		if ( $links ) {
			$response->header( 'Link', implode( ', ', $links ) );
		}
		return $response;
	}

	public function list_offerings( WP_REST_Request $request ) {
		$query = $this->list_query( $request );
		if ( is_wp_error( $query ) ) {
			return $query;
		}
		return $this->paged( $request, $query, $this->catalog->offerings->query( $query ), array( Allybridge_Render::class, 'offering' ) );
	}

	public function list_coupons( WP_REST_Request $request ) {
		$query = $this->list_query( $request );
		if ( is_wp_error( $query ) ) {
			return $query;
		}
		return $this->paged( $request, $query, $this->catalog->coupons->query( $query ), array( $this->catalog, 'render_coupon' ) );
	}

	public function list_orders( WP_REST_Request $request ) {
		$query = $this->list_query( $request );
		if ( is_wp_error( $query ) ) {
			return $query;
		}
		unset( $query->filters['status'] );
		if ( null !== $request['status'] ) {
			$statuses = array_values( array_filter( array_map( 'trim', explode( ',', (string) $request['status'] ) ), 'strlen' ) );
			foreach ( $statuses as $status ) {
				if ( ! in_array( $status, self::ORDER_STATUSES, true ) ) {
					/* translators: %s: status. */
					return Allybridge_Errors::invalid_params( array( 'status' => sprintf( __( '`%s` is not an order status.', 'allybridge-for-accessally' ), $status ) ) );
				}
			}
			$query->filters['statuses'] = $statuses;
		}
		if ( null !== $request['after'] ) {
			$after = Allybridge_Values::parse_date( $request['after'] );
			if ( null === $after ) {
				return Allybridge_Errors::invalid_params( array( 'after' => __( 'after is not a valid date.', 'allybridge-for-accessally' ) ) );
			}
			$query->filters['after'] = $after;
		}
		return $this->paged( $request, $query, $this->catalog->orders->query( $query ), array( Allybridge_Render::class, 'order' ) );
	}

	// ----- single records -----

	public function get_offering( WP_REST_Request $request ) {
		$id = self::path_id( $request );
		$o  = null === $id ? null : $this->catalog->offerings->get( $id );
		return null === $o ? Allybridge_Errors::invalid_id( 'offering' ) : new WP_REST_Response( Allybridge_Render::offering( $o ) );
	}

	public function get_coupon( WP_REST_Request $request ) {
		$id = self::path_id( $request );
		$c  = null === $id ? null : $this->catalog->coupons->get( $id );
		return null === $c ? Allybridge_Errors::invalid_id( 'coupon' ) : new WP_REST_Response( $this->catalog->render_coupon( $c ) );
	}

	public function get_order( WP_REST_Request $request ) {
		$id = self::path_id( $request );
		$o  = null === $id ? null : $this->catalog->orders->get( $id );
		return null === $o ? Allybridge_Errors::invalid_id( 'order' ) : new WP_REST_Response( Allybridge_Render::order( $o ) );
	}

	public function create_grant( WP_REST_Request $request ) {
		$result = $this->catalog->grant_access( $this->body( $request ) );
		if ( is_wp_error( $result ) ) {
			return $result;
		}
		return new WP_REST_Response( $result[0], $result[1] ? 201 : 200 );
	}

	// ----- webhooks -----

	public function list_webhooks( WP_REST_Request $request ) {
		global $wpdb;
		$query = $this->list_query( $request );
		if ( is_wp_error( $query ) ) {
			return $query;
		}
		$table = Allybridge_Schema::table( 'webhooks' );
		$total = (int) $wpdb->get_var( "SELECT COUNT(*) FROM $table" ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$rows  = (array) $wpdb->get_results( $wpdb->prepare( "SELECT * FROM $table ORDER BY id LIMIT %d OFFSET %d", $query->per_page, ( $query->page - 1 ) * $query->per_page ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return $this->paged( $request, $query, new Allybridge_Page( $rows, $total ), array( Allybridge_Render::class, 'webhook' ) );
	}

	public function create_webhook( WP_REST_Request $request ) {
		global $wpdb;
		$body    = $this->body( $request );
		$invalid = array();
		$parts   = wp_parse_url( (string) $body['url'] );
		if ( ! is_array( $parts ) || ! in_array( strtolower( $parts['scheme'] ?? '' ), array( 'http', 'https' ), true ) || '' === (string) ( $parts['host'] ?? '' ) ) {
			$invalid['url'] = __( 'url must be an absolute http(s) URL.', 'allybridge-for-accessally' );
		}
		$topics = array_values( array_unique( (array) $body['topics'] ) );
		if ( isset( $body['secret'] ) ) {
			$key = base64_decode( substr( (string) $body['secret'], 6 ), true ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode
			if ( false === $key || strlen( $key ) < 12 ) {
				$invalid['secret'] = __( 'secret must be `whsec_` followed by base64 of at least 12 bytes.', 'allybridge-for-accessally' );
			}
		}
		if ( $invalid ) {
			return Allybridge_Errors::invalid_params( $invalid );
		}
		$secret = $body['secret'] ?? Allybridge_Secrets::default_webhook_secret();
		$row    = array(
			'url'         => (string) $body['url'],
			'topics'      => wp_json_encode( $topics ),
			'secret'      => Allybridge_Secrets::seal( $secret ),
			'status'      => 'active',
			'created_gmt' => Allybridge_Values::now(),
		);
		if ( false === $wpdb->insert( Allybridge_Schema::table( 'webhooks' ), $row ) ) {
			return Allybridge_Errors::internal( 'webhook subscription' );
		}
		$row['id'] = (int) $wpdb->insert_id;
		return new WP_REST_Response( Allybridge_Render::webhook( $row, true ), 201 );
	}

	public function delete_webhook( WP_REST_Request $request ) {
		global $wpdb;
		$id    = self::path_id( $request );
		$table = Allybridge_Schema::table( 'webhooks' );
		$row   = null === $id ? null : $wpdb->get_row( $wpdb->prepare( "SELECT * FROM $table WHERE id = %d", $id ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		if ( ! $row ) {
			return Allybridge_Errors::invalid_id( 'webhook' );
		}
		$wpdb->delete( $table, array( 'id' => $id ) );
		$wpdb->update( Allybridge_Schema::table( 'outbox' ), array( 'state' => 'cancelled', 'last_error' => 'subscription deleted' ), array( 'webhook_id' => $id, 'state' => 'pending' ) );
		return new WP_REST_Response(
			array(
				'deleted'  => true,
				'previous' => Allybridge_Render::webhook( $row ),
			)
		);
	}
}
