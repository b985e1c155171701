<?php
/**
 * Secrets at rest: webhook signing secrets and the `aal_*` handshake are
 * stored sealed with libsodium's secretbox (PHP's own sodium, or the
 * sodium_compat WordPress ships), keyed from the site's salts in
 * `wp-config.php`, so a database dump alone does not reveal them.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Seals and reveals stored secrets.
 */
final class Allybridge_Secrets {

	private static function key(): string {
		return sodium_crypto_generichash( wp_salt( 'secure_auth' ) . '|allybridge-secrets', '', SODIUM_CRYPTO_SECRETBOX_KEYBYTES );
	}

	/**
	 * @param string $plain Secret.
	 * @return string `sealed:` + base64(nonce . box).
	 */
	public static function seal( string $plain ): string {
		$nonce = random_bytes( SODIUM_CRYPTO_SECRETBOX_NONCEBYTES );
		return 'sealed:' . base64_encode( $nonce . sodium_crypto_secretbox( $plain, $nonce, self::key() ) ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode -- binary to text.
	}

	/**
	 * @param string $stored Sealed value (a plain value from before sealing is returned as it is).
	 * @return string The secret, or '' when it cannot be opened (the salts changed).
	 */
	public static function reveal( string $stored ): string {
		if ( ! str_starts_with( $stored, 'sealed:' ) ) {
			return $stored;
		}
		$raw = base64_decode( substr( $stored, 7 ), true ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode -- text to binary.
		if ( false === $raw || strlen( $raw ) <= SODIUM_CRYPTO_SECRETBOX_NONCEBYTES ) {
			return '';
		}
		$plain = sodium_crypto_secretbox_open( substr( $raw, SODIUM_CRYPTO_SECRETBOX_NONCEBYTES ), substr( $raw, 0, SODIUM_CRYPTO_SECRETBOX_NONCEBYTES ), self::key() );
		return false === $plain ? '' : $plain;
	}

	/**
	 * A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
	 */
	public static function new_webhook_secret(): string {
		return 'whsec_' . base64_encode( random_bytes( 32 ) ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode
	}

	/**
	 * A stored option's secret, generated and sealed on first use.
	 *
	 * @param string   $option    Option name.
	 * @param callable $generate  Makes a new secret.
	 */
	public static function option( string $option, callable $generate ): string {
		$stored = get_option( $option, '' );
		$plain  = is_string( $stored ) && '' !== $stored ? self::reveal( $stored ) : '';
		if ( '' === $plain ) {
			$plain = $generate();
			update_option( $option, self::seal( $plain ), false );
		}
		return $plain;
	}

	/** The site's `aal_*` handshake. */
	public static function handshake(): string {
		return self::option( 'allybridge_aal_handshake', static fn() => wp_generate_password( 24, false ) );
	}

	/** The secret of subscriptions created without one. */
	public static function default_webhook_secret(): string {
		return self::option( 'allybridge_webhook_secret', array( self::class, 'new_webhook_secret' ) );
	}
}
