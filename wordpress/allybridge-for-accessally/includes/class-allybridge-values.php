<?php
/**
 * Values of the Bridge API: money as integer minor units written as decimal
 * strings, ISO 4217 currencies, RFC 3339 dates in UTC and e-mail addresses.
 * Every conversion between the wire and storage goes through here; no float
 * ever holds an amount.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Conversions of money, dates and identifiers.
 */
final class Allybridge_Values {

	/**
	 * White space as ECMA-262's `\s` reads it (the characters the contract's
	 * `name` and `code` patterns list), as a PCRE character-class body.
	 */
	const WHITE_SPACE = '\x{9}-\x{D}\x{20}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}';

	/**
	 * Whether a string has no character but white space (an empty one has none).
	 *
	 * @param string $text Text.
	 */
	public static function is_blank( string $text ): bool {
		return 1 !== preg_match( '/[^' . self::WHITE_SPACE . ']/u', $text );
	}

	/**
	 * Whether a string has a white-space character.
	 *
	 * @param string $text Text.
	 */
	public static function has_white_space( string $text ): bool {
		return 1 === preg_match( '/[' . self::WHITE_SPACE . ']/u', $text );
	}

	/**
	 * Decimal places of a currency's minor unit (ISO 4217).
	 *
	 * @param string $currency Upper-case ISO code.
	 */
	public static function currency_exponent( string $currency ): int {
		if ( in_array( $currency, array( 'JPY', 'KRW', 'VND', 'CLP', 'ISK', 'UGX', 'XAF', 'XOF', 'PYG', 'RWF' ), true ) ) {
			return 0;
		}
		if ( in_array( $currency, array( 'BHD', 'KWD', 'OMR', 'JOD', 'TND', 'LYD', 'IQD' ), true ) ) {
			return 3;
		}
		return 2;
	}

	/**
	 * Whether a string is a three-letter upper-case currency code.
	 *
	 * @param mixed $value Candidate.
	 */
	public static function is_currency( $value ): bool {
		return is_string( $value ) && 1 === preg_match( '/^[A-Z]{3}$/D', $value );
	}

	/**
	 * Parses `49.00` into minor units at `$decimals` places: at most 12
	 * digits before the point and 3 after (the contract's pattern); decimals
	 * past `$decimals` only when they are zeros.
	 *
	 * @param string $text     Decimal text.
	 * @param int    $decimals Places of the minor unit.
	 * @return int|string The amount, or the reason it is refused.
	 */
	public static function parse_decimal( string $text, int $decimals ) {
		if ( 1 !== preg_match( '/^([0-9]+)(?:\.([0-9]{1,3}))?$/D', $text, $m ) ) {
			return sprintf( '`%s` is not a decimal amount like `49.00`', $text );
		}
		$int_part  = $m[1];
		$frac_part = rtrim( $m[2] ?? '', '0' );
		if ( strlen( $int_part ) > 12 ) {
			return 'amount is too large';
		}
		if ( strlen( $frac_part ) > $decimals ) {
			return sprintf( '`%s` has more than %d decimal places', $text, $decimals );
		}
		$value = (int) $int_part;
		for ( $i = 0; $i < $decimals; $i++ ) {
			$value = $value * 10 + ( isset( $frac_part[ $i ] ) ? (int) $frac_part[ $i ] : 0 );
		}
		return $value;
	}

	/**
	 * Writes minor units as a decimal string with `$decimals` places.
	 *
	 * @param int $value    Minor units (never negative here).
	 * @param int $decimals Places.
	 */
	public static function format_decimal( int $value, int $decimals ): string {
		if ( 0 === $decimals ) {
			return (string) $value;
		}
		$scale = 10 ** $decimals;
		return sprintf( '%d.%0' . $decimals . 'd', intdiv( $value, $scale ), $value % $scale );
	}

	/**
	 * Minor units of `$currency` as the API writes them.
	 *
	 * @param int    $minor    Minor units.
	 * @param string $currency ISO code.
	 */
	public static function format_money( int $minor, string $currency ): string {
		return self::format_decimal( $minor, self::currency_exponent( $currency ) );
	}

	/**
	 * The current moment as stored: `Y-m-d H:i:s.u` in UTC.
	 */
	public static function now(): string {
		return ( new DateTimeImmutable( 'now', new DateTimeZone( 'UTC' ) ) )->format( 'Y-m-d H:i:s.u' );
	}

	/**
	 * A stored UTC moment (`Y-m-d H:i:s[.u]`) as RFC 3339 (`2024-05-01T12:00:00Z`).
	 *
	 * @param string|null $stored Stored value.
	 */
	public static function format_date( ?string $stored ): ?string {
		if ( null === $stored || '' === $stored ) {
			return null;
		}
		return substr( str_replace( ' ', 'T', $stored ), 0, 19 ) . 'Z';
	}

	/**
	 * Parses an RFC 3339 date-time, or one without an offset (read as UTC),
	 * into the stored form; null when it is not a date.
	 *
	 * @param mixed $text Candidate.
	 */
	public static function parse_date( $text ): ?string {
		if ( ! is_string( $text ) ) {
			return null;
		}
		$pattern = '/^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$/D';
		if ( 1 !== preg_match( $pattern, $text, $m ) ) {
			return null;
		}
		if ( ! checkdate( (int) $m[2], (int) $m[3], (int) $m[1] ) || (int) $m[4] > 23 || (int) $m[5] > 59 || (int) $m[6] > 59 ) {
			return null;
		}
		$offset = $m[8] ?? '';
		$offset = ( '' === $offset || 'z' === strtolower( $offset ) ) ? '+00:00' : $offset;
		$micro  = isset( $m[7] ) && '' !== $m[7] ? substr( str_pad( substr( $m[7], 1 ), 6, '0' ), 0, 6 ) : '000000';
		$parsed = DateTimeImmutable::createFromFormat(
			'Y-m-d H:i:s.uP',
			sprintf( '%s-%s-%s %s:%s:%s.%s%s', $m[1], $m[2], $m[3], $m[4], $m[5], $m[6], $micro, $offset )
		);
		if ( false === $parsed ) {
			return null;
		}
		return $parsed->setTimezone( new DateTimeZone( 'UTC' ) )->format( 'Y-m-d H:i:s.u' );
	}

	/**
	 * Whether a string looks like an e-mail address (as the contract's `format: email`).
	 *
	 * @param mixed $value Candidate.
	 */
	public static function looks_like_email( $value ): bool {
		return is_string( $value ) && strlen( $value ) <= 254 && false !== is_email( $value );
	}

	/**
	 * Decodes a JSON list column; an empty list when it holds nothing usable.
	 *
	 * @param string|null $json Column value.
	 */
	public static function json_list( ?string $json ): array {
		$decoded = null === $json ? null : json_decode( $json, true );
		return is_array( $decoded ) ? array_values( $decoded ) : array();
	}
}
