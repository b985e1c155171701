<?php
/**
 * The Bridge API's error answers, in WordPress's own shape
 * (`{code, message, data: {status, params?}}`): one constructor per kind
 * of failure the contract names, so every route says the same thing the
 * same way.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Error constructors.
 */
final class Allybridge_Errors {

	/**
	 * One field of the request is wrong: 400 `rest_invalid_param`.
	 *
	 * @param array<string,string> $params Field name to reason.
	 */
	public static function invalid_params( array $params ): WP_Error {
		return new WP_Error(
			'rest_invalid_param',
			/* translators: %s: comma-separated field names. */
			sprintf( __( 'Invalid parameter(s): %s', 'allybridge-for-accessally' ), implode( ', ', array_keys( $params ) ) ),
			array(
				'status' => 400,
				'params' => $params,
			)
		);
	}

	/**
	 * Required fields are absent: 400 `rest_missing_callback_param`, `data.params` listing them (WordPress's shape).
	 *
	 * @param string[] $names Missing field names.
	 */
	public static function missing( array $names ): WP_Error {
		return new WP_Error(
			'rest_missing_callback_param',
			/* translators: %s: comma-separated field names. */
			sprintf( __( 'Missing parameter(s): %s', 'allybridge-for-accessally' ), implode( ', ', $names ) ),
			array(
				'status' => 400,
				'params' => array_values( $names ),
			)
		);
	}

	/**
	 * No record of this kind has this id: 404 `allybridge_invalid_id`.
	 *
	 * @param string $what Record kind, e.g. `offering`.
	 */
	public static function invalid_id( string $what ): WP_Error {
		/* translators: %s: record kind. */
		return new WP_Error( 'allybridge_invalid_id', sprintf( __( 'Invalid %s ID.', 'allybridge-for-accessally' ), $what ), array( 'status' => 404 ) );
	}

	/**
	 * A unique value is taken, or an idempotency key reused: 409.
	 *
	 * @param string $code    Contract error code.
	 * @param string $message What clashed.
	 */
	public static function conflict( string $code, string $message ): WP_Error {
		return new WP_Error( $code, $message, array( 'status' => 409 ) );
	}

	/**
	 * Whether a `$wpdb` failure was a unique-key clash.
	 *
	 * @param string $db_error `$wpdb->last_error`.
	 */
	public static function is_duplicate_key( string $db_error ): bool {
		return false !== stripos( $db_error, 'Duplicate entry' );
	}

	/**
	 * The database refused a write: 500 `allybridge_internal_error`, retryable; the details go to the log, not the answer.
	 *
	 * @param string $context What was being written.
	 */
	public static function internal( string $context ): WP_Error {
		return new WP_Error(
			'allybridge_internal_error',
			/* translators: %s: what was being written. */
			sprintf( __( 'The site could not save the %s; nothing was changed. Try again.', 'allybridge-for-accessally' ), $context ),
			array( 'status' => 500 )
		);
	}
}
