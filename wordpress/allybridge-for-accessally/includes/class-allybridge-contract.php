<?php
/**
 * The Bridge API contract (`bridge-api.json`, the OpenAPI 3.0 file the
 * simulator and the allybridge client share) turned into WordPress REST
 * argument schemas, so the routes validate exactly what the contract
 * writes down and nothing is typed twice: `$ref`s resolved, `nullable`
 * written as WordPress's `[type, 'null']`, `allOf` merged, patterns
 * anchored as ECMA-262 reads `$`, and a strict type check in front of
 * WordPress's own validation (a JSON `"5"` is not an integer, `1` is not a
 * boolean, `{}` is not an array, `null` only where the contract says
 * `nullable`). Rules the contract states with `oneOf`/`not` or in words
 * are the catalog's to check.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Reads the contract and answers argument schemas per operation.
 */
final class Allybridge_Contract {

	/** @var array|null The decoded contract. */
	private static ?array $spec = null;

	/** @var WeakMap|null Each request's JSON body decoded with objects kept as objects. */
	private static ?WeakMap $raw_bodies = null;

	/**
	 * The decoded contract.
	 */
	public static function spec(): array {
		if ( null === self::$spec ) {
			$json       = file_get_contents( dirname( ALLYBRIDGE_FILE ) . '/bridge-api.json' ); // phpcs:ignore WordPress.WP.AlternativeFunctions.file_get_contents_file_get_contents -- a local file of the plugin.
			$decoded    = false === $json ? null : json_decode( $json, true );
			self::$spec = is_array( $decoded ) ? $decoded : array( 'paths' => array() );
		}
		return self::$spec;
	}

	/**
	 * The operation with this `operationId`, with its path and method.
	 *
	 * @param string $operation_id Contract operation id.
	 * @return array{0: array, 1: array} The operation and its path item.
	 */
	private static function operation( string $operation_id ): array {
		foreach ( self::spec()['paths'] as $item ) {
			foreach ( array( 'get', 'post', 'put', 'delete' ) as $method ) {
				if ( isset( $item[ $method ]['operationId'] ) && $item[ $method ]['operationId'] === $operation_id ) {
					return array( $item[ $method ], $item );
				}
			}
		}
		return array( array(), array() );
	}

	/**
	 * WordPress `args` for an operation: query and path parameters, and the
	 * JSON body's properties (required as the contract's body schema says).
	 *
	 * @param string $operation_id Contract operation id.
	 */
	public static function args( string $operation_id ): array {
		list( $op, $item ) = self::operation( $operation_id );
		$args              = array();
		$parameters        = array_merge( $item['parameters'] ?? array(), $op['parameters'] ?? array() );
		foreach ( $parameters as $parameter ) {
			$parameter = self::resolve( $parameter );
			if ( ! in_array( $parameter['in'] ?? '', array( 'query', 'path' ), true ) ) {
				continue;
			}
			$schema = self::to_wp( $parameter['schema'] ?? array() );
			if ( 'path' === $parameter['in'] ) {
				// A path id that is not a number is an unknown record (404), never a 400.
				continue;
			}
			$schema['required']          = ! empty( $parameter['required'] );
			$schema['validate_callback'] = array( self::class, 'validate_query_arg' );
			$args[ $parameter['name'] ]  = $schema;
		}
		$body = $op['requestBody']['content']['application/json']['schema'] ?? null;
		if ( null !== $body ) {
			$body     = self::to_wp( $body );
			$required = $body['required'] ?? array();
			foreach ( $body['properties'] ?? array() as $name => $schema ) {
				$schema['required']          = in_array( $name, $required, true );
				$schema['validate_callback'] = array( self::class, 'validate_body_arg' );
				$schema['sanitize_callback'] = static fn( $value ) => $value;
				$args[ $name ]               = $schema;
			}
		}
		return $args;
	}

	/**
	 * Whether a request body is well-formed JSON that is not an object
	 * (`[]`, `5`, `"a"`, `null`): WordPress would read it as no fields, or
	 * warn while reading it, so the Bridge API refuses it first.
	 *
	 * @param string $body Request body.
	 */
	public static function is_json_but_not_object( string $body ): bool {
		if ( '' === trim( $body ) ) {
			return false;
		}
		json_decode( $body, true );
		return JSON_ERROR_NONE === json_last_error() && '{' !== substr( ltrim( $body ), 0, 1 );
	}

	/**
	 * Body fields sent as `null` that the contract does not make nullable
	 * (WordPress skips validation for a `null` argument), checked before the
	 * route's handler runs.
	 *
	 * @param string          $operation_id Contract operation id.
	 * @param WP_REST_Request $request      Request.
	 * @return WP_Error|null The error to answer; null when there is none.
	 */
	public static function refused_nulls( string $operation_id, WP_REST_Request $request ): ?WP_Error {
		$body = $request->get_json_params();
		if ( ! is_array( $body ) ) {
			return null;
		}
		$refused = array();
		foreach ( self::args( $operation_id ) as $name => $schema ) {
			if ( 'validate_body_arg' !== ( $schema['validate_callback'][1] ?? '' ) || ! array_key_exists( $name, $body ) || null !== $body[ $name ] ) {
				continue;
			}
			$types = (array) ( $schema['type'] ?? array() );
			if ( $types && ! in_array( 'null', $types, true ) ) {
				/* translators: 1: field, 2: type list. */
				$refused[ $name ] = sprintf( __( '%1$s is not of type %2$s.', 'allybridge-for-accessally' ), $name, implode( ',', $types ) );
			}
		}
		return $refused ? Allybridge_Errors::invalid_params( $refused ) : null;
	}

	/**
	 * The request's JSON body with JSON objects as `stdClass` (WordPress's
	 * own reading turns `{}` and `[]` into the same empty PHP array). PHP
	 * cannot hold an object property whose name starts with a NUL byte: a
	 * body with such a (necessarily unknown) field is read as WordPress reads
	 * it, objects as arrays.
	 *
	 * @param WP_REST_Request $request Request.
	 * @return mixed The decoded body; null when there is none or it is not JSON.
	 */
	private static function raw_body( WP_REST_Request $request ) {
		self::$raw_bodies ??= new WeakMap();
		if ( ! isset( self::$raw_bodies[ $request ] ) ) {
			$body    = (string) $request->get_body();
			$decoded = '' === $body ? null : json_decode( $body );
			if ( JSON_ERROR_INVALID_PROPERTY_NAME === json_last_error() ) {
				$decoded = json_decode( $body, true );
			}
			// Wrapped, so that a body of JSON `null` is cached too.
			self::$raw_bodies[ $request ] = array( $decoded );
		}
		return self::$raw_bodies[ $request ][0];
	}

	/**
	 * A query parameter: WordPress's own validation (query strings are text).
	 *
	 * @param mixed           $value   Value.
	 * @param WP_REST_Request $request Request.
	 * @param string          $param   Name.
	 * @return true|WP_Error
	 */
	public static function validate_query_arg( $value, $request, $param ) {
		return rest_validate_request_arg( $value, $request, $param );
	}

	/**
	 * A JSON body field: JSON types checked strictly, then WordPress's validation.
	 *
	 * @param mixed           $value   Value.
	 * @param WP_REST_Request $request Request.
	 * @param string          $param   Name.
	 * @return true|WP_Error
	 */
	public static function validate_body_arg( $value, $request, $param ) {
		$attributes = $request->get_attributes();
		$schema     = $attributes['args'][ $param ] ?? array();
		$raw        = self::raw_body( $request );
		if ( $raw instanceof stdClass && property_exists( $raw, $param ) ) {
			$strict = self::strict_types( $raw->$param, $schema, $param, true );
		} else {
			$strict = self::strict_types( $value, $schema, $param, false );
		}
		if ( true !== $strict ) {
			return $strict;
		}
		return rest_validate_value_from_schema( $value, $schema, $param );
	}

	/**
	 * Checks JSON types without WordPress's coercions from text, on the
	 * value as sent: with `$objects`, JSON objects are `stdClass` and JSON
	 * arrays PHP arrays; without, both are PHP arrays (as WordPress reads
	 * them) and an empty one passes for either.
	 *
	 * @param mixed  $value   Value.
	 * @param array  $schema  WordPress schema.
	 * @param string $name    Field path for the message.
	 * @param bool   $objects Whether JSON objects were decoded as `stdClass`.
	 * @return true|WP_Error
	 */
	private static function strict_types( $value, array $schema, string $name, bool $objects ) {
		$types = (array) ( $schema['type'] ?? array() );
		if ( $types ) {
			$ok = false;
			foreach ( $types as $type ) {
				$ok = $ok || match ( $type ) {
					'null'    => null === $value,
					'string'  => is_string( $value ),
					'integer' => is_int( $value ),
					'number'  => is_int( $value ) || is_float( $value ),
					'boolean' => is_bool( $value ),
					'array'   => is_array( $value ) && ( $objects || array_is_list( $value ) ),
					'object'  => $value instanceof stdClass || ( ! $objects && is_array( $value ) && ( ! array_is_list( $value ) || array() === $value ) ),
					default   => true,
				};
			}
			if ( ! $ok ) {
				/* translators: 1: field, 2: type list. */
				return new WP_Error( 'rest_invalid_type', sprintf( __( '%1$s is not of type %2$s.', 'allybridge-for-accessally' ), $name, implode( ',', $types ) ), array( 'param' => $name ) );
			}
		}
		$fields = $value instanceof stdClass ? get_object_vars( $value ) : $value;
		if ( is_array( $value ) && array_is_list( $value ) && isset( $schema['items'] ) ) {
			foreach ( $value as $i => $item ) {
				$check = self::strict_types( $item, $schema['items'], $name . '[' . $i . ']', $objects );
				if ( true !== $check ) {
					return $check;
				}
			}
		} elseif ( is_array( $fields ) && isset( $schema['properties'] ) ) {
			foreach ( $schema['properties'] as $key => $sub ) {
				if ( array_key_exists( $key, $fields ) ) {
					$check = self::strict_types( $fields[ $key ], $sub, $name . '[' . $key . ']', $objects );
					if ( true !== $check ) {
						return $check;
					}
				}
			}
		}
		return true;
	}

	/**
	 * Follows a `$ref` into the contract's components.
	 *
	 * @param array $node Schema or parameter.
	 */
	private static function resolve( array $node ): array {
		$guard = 0;
		while ( isset( $node['$ref'] ) && $guard++ < 16 ) {
			$target = self::spec();
			foreach ( explode( '/', substr( $node['$ref'], 2 ) ) as $key ) {
				$target = $target[ $key ] ?? array();
			}
			$rest = $node;
			unset( $rest['$ref'] );
			$node = array_merge( $target, $rest );
		}
		return $node;
	}

	/**
	 * An OpenAPI 3.0 schema as WordPress's JSON Schema dialect.
	 *
	 * @param array $schema OpenAPI schema.
	 */
	public static function to_wp( array $schema ): array {
		$schema = self::resolve( $schema );
		if ( isset( $schema['allOf'] ) ) {
			$merged = array();
			foreach ( $schema['allOf'] as $part ) {
				$part     = self::to_wp( $part );
				$required = array_merge( $merged['required'] ?? array(), $part['required'] ?? array() );
				$merged   = array_replace_recursive( $merged, $part );
				if ( $required ) {
					$merged['required'] = array_values( array_unique( $required ) );
				}
			}
			unset( $schema['allOf'] );
			$schema = array_replace_recursive( $merged, self::to_wp( $schema ) );
			if ( isset( $merged['required'] ) ) {
				$schema['required'] = array_values( array_unique( array_merge( $merged['required'], $schema['required'] ?? array() ) ) );
			}
		}
		$out = array();
		foreach ( $schema as $key => $value ) {
			switch ( $key ) {
				case 'properties':
					$out['properties'] = array();
					foreach ( $value as $name => $sub ) {
						$out['properties'][ $name ] = self::to_wp( $sub );
					}
					break;
				case 'items':
					$out['items'] = self::to_wp( $value );
					break;
				case 'type':
				case 'enum':
				case 'minimum':
				case 'maximum':
				case 'minLength':
				case 'maxLength':
				case 'minItems':
				case 'maxItems':
				case 'format':
				case 'default':
				case 'description':
				case 'required':
					$out[ $key ] = $value;
					break;
				case 'pattern':
					// WordPress matches with PCRE, whose `$` also matches before a final newline; the contract's (ECMA-262) does not.
					$out['pattern'] = preg_replace( '/(?<!\\\\)\\$\\z/', '\\\\z', $value );
					break;
				default:
					break;
			}
		}
		if ( ! empty( $schema['nullable'] ) && isset( $out['type'] ) ) {
			$out['type'] = array( $out['type'], 'null' );
			if ( isset( $out['enum'] ) ) {
				$out['enum'][] = null;
			}
		}
		if ( isset( $out['properties'] ) && ! isset( $out['type'] ) ) {
			$out['type'] = 'object';
		}
		// WordPress reads `required: true` inside properties (draft 3); the contract's list stays at the top.
		if ( isset( $out['required'] ) && is_array( $out['required'] ) && isset( $out['properties'] ) ) {
			foreach ( $out['required'] as $name ) {
				if ( isset( $out['properties'][ $name ] ) ) {
					$out['properties'][ $name ]['required'] = true;
				}
			}
		}
		if ( isset( $out['format'] ) && ! in_array( $out['format'], array( 'date-time', 'email', 'uri' ), true ) ) {
			unset( $out['format'] );
		}
		return $out;
	}
}
