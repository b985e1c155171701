<?php
/**
 * The Bridge API's rules for writes, whatever the source behind the seam:
 * an update changes only the fields given, cross-field rules the contract
 * states in words (a plan needs its number of payments, a fixed coupon its
 * currency, an expiry after the start, amounts in the currency's places),
 * unique codes and references, idempotent grants on `source_ref`, and the
 * events each change causes, written to the outbox in the same transaction
 * as the change.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * A write the store refused.
 */
final class Allybridge_Storage_Exception extends RuntimeException {}

/**
 * Writes of offerings, coupons and grants.
 */
final class Allybridge_Catalog {

	const MAX_REF = 191;

	public function __construct(
		public Allybridge_Offering_Source $offerings,
		public Allybridge_Coupon_Source $coupons,
		public Allybridge_Order_Source $orders,
		public Allybridge_Contact_Source $contacts,
		public Allybridge_Grant_Source $grants,
		private Allybridge_Outbox $outbox
	) {}

	/**
	 * The order forms a coupon is attached to: those of its offerings.
	 *
	 * @param array $coupon Coupon.
	 * @return int[]
	 */
	public function coupon_order_forms( array $coupon ): array {
		$forms = array();
		foreach ( $coupon['offering_ids'] as $id ) {
			$offering = $this->offerings->get( (int) $id );
			foreach ( $offering['order_form_ids'] ?? array() as $form ) {
				$forms[ (int) $form ] = true;
			}
		}
		$forms = array_keys( $forms );
		sort( $forms );
		return $forms;
	}

	public function render_coupon( array $coupon ): array {
		return Allybridge_Render::coupon( $coupon, $this->coupon_order_forms( $coupon ) );
	}

	/**
	 * Creates (`$id` null) or updates an offering from a validated body.
	 *
	 * @param int|null $id   Offering to update.
	 * @param array    $body JSON body (types already checked against the contract).
	 * @return array|WP_Error The offering as the API shows it, and whether it was created.
	 */
	public function write_offering( ?int $id, array $body ) {
		$existing = null;
		if ( null !== $id ) {
			$existing = $this->offerings->get( $id );
			if ( null === $existing ) {
				return Allybridge_Errors::invalid_id( 'offering' );
			}
		}
		$invalid = array();
		if ( array_key_exists( 'name', $body ) && Allybridge_Values::is_blank( (string) $body['name'] ) ) {
			$invalid['name'] = __( 'name must not be empty.', 'allybridge-for-accessally' );
		}
		$options = null;
		if ( array_key_exists( 'payment_options', $body ) ) {
			$options = $this->read_payment_options( (array) $body['payment_options'], $existing, $invalid );
		}
		$quantity_given = false;
		$quantity       = null;
		if ( isset( $body['availability'] ) ) {
			$quantity_given = true;
			if ( ! $body['availability']['unlimited'] ) {
				if ( ! isset( $body['availability']['quantity'] ) ) {
					$invalid['availability'] = __( 'a limited availability needs a quantity of 0 or more.', 'allybridge-for-accessally' );
				} else {
					$quantity = (int) $body['availability']['quantity'];
				}
			}
		}
		$this->check_external_ref( $body, $invalid );
		if ( $invalid ) {
			return Allybridge_Errors::invalid_params( $invalid );
		}
		if ( isset( $body['external_ref'] ) ) {
			$holder = $this->offerings->id_by_external_ref( $body['external_ref'] );
			if ( null !== $holder && $holder !== $id ) {
				return $this->external_ref_taken( $body['external_ref'] );
			}
		}

		$now = Allybridge_Values::now();
		$o   = $existing ?? array(
			'id'              => 0,
			'name'            => '',
			'description'     => '',
			'status'          => 'publish',
			'payment_options' => array(),
			'quantity'        => null,
			'order_form_ids'  => array(),
			'access_tags'     => array(),
			'external_ref'    => null,
			'created'         => $now,
		);
		foreach ( array( 'name', 'status' ) as $key ) {
			if ( isset( $body[ $key ] ) ) {
				$o[ $key ] = $body[ $key ];
			}
		}
		if ( array_key_exists( 'description', $body ) ) {
			$o['description'] = (string) $body['description'];
		}
		if ( null !== $options ) {
			$o['payment_options'] = $options;
		}
		if ( $quantity_given ) {
			$o['quantity'] = $quantity;
		}
		$o['order_form_ids_given'] = null !== $existing || array_key_exists( 'order_form_ids', $body );
		if ( array_key_exists( 'order_form_ids', $body ) ) {
			$o['order_form_ids'] = array_values( array_unique( array_map( 'intval', (array) $body['order_form_ids'] ) ) );
		}
		if ( array_key_exists( 'access_tags', $body ) ) {
			$o['access_tags'] = array_values( array_map( 'strval', (array) $body['access_tags'] ) );
		}
		if ( null === $existing && ! $o['access_tags'] ) {
			/* translators: %s: offering name. */
			$o['access_tags'] = array( sprintf( '%s - Access', $o['name'] ) );
		}
		if ( array_key_exists( 'external_ref', $body ) ) {
			$o['external_ref'] = $body['external_ref'];
		}
		$o['modified'] = $now;

		return $this->in_transaction(
			'offering',
			function () use ( $o, $existing ) {
				$stored = null === $existing ? $this->offerings->insert( $o ) : $this->offerings->update( $o );
				$json   = Allybridge_Render::offering( $stored );
				$this->outbox->record( null === $existing ? 'offering.created' : 'offering.updated', $json );
				return $json;
			}
		);
	}

	/**
	 * Deletes an offering; coupons that named it lose it (and say so in an event).
	 *
	 * @param int $id Offering.
	 * @return array|WP_Error `{deleted, previous}`.
	 */
	public function delete_offering( int $id ) {
		$existing = $this->offerings->get( $id );
		if ( null === $existing ) {
			return Allybridge_Errors::invalid_id( 'offering' );
		}
		return $this->in_transaction(
			'offering',
			function () use ( $existing, $id ) {
				$json = Allybridge_Render::offering( $existing );
				$this->offerings->delete( $id );
				$this->outbox->record( 'offering.deleted', $json );
				$now = Allybridge_Values::now();
				foreach ( $this->coupons->ids_naming_offering( $id ) as $coupon_id ) {
					$coupon = $this->coupons->get( $coupon_id );
					if ( null === $coupon ) {
						continue;
					}
					$coupon['offering_ids'] = array_values( array_diff( $coupon['offering_ids'], array( $id ) ) );
					$coupon['modified']     = $now;
					$stored                 = $this->coupons->update( $coupon );
					$this->outbox->record( 'coupon.updated', $this->render_coupon( $stored ) );
				}
				return array(
					'deleted'  => true,
					'previous' => $json,
				);
			}
		);
	}

	/**
	 * Creates or updates a coupon from a validated body.
	 *
	 * @param int|null $id   Coupon to update.
	 * @param array    $body JSON body.
	 * @return array|WP_Error
	 */
	public function write_coupon( ?int $id, array $body ) {
		$existing = null;
		if ( null !== $id ) {
			$existing = $this->coupons->get( $id );
			if ( null === $existing ) {
				return Allybridge_Errors::invalid_id( 'coupon' );
			}
		}
		$invalid = array();
		if ( isset( $body['code'] ) && ( '' === $body['code'] || mb_strlen( $body['code'] ) > 100 || Allybridge_Values::has_white_space( $body['code'] ) ) ) {
			$invalid['code'] = __( 'code must be 1 to 100 characters without spaces.', 'allybridge-for-accessally' );
		}
		if ( isset( $body['offering_ids'] ) ) {
			foreach ( $body['offering_ids'] as $offering_id ) {
				if ( null === $this->offerings->get( (int) $offering_id ) ) {
					/* translators: %d: id. */
					$invalid['offering_ids'] = sprintf( __( '%d is not an offering id.', 'allybridge-for-accessally' ), $offering_id );
					break;
				}
			}
		}
		$this->check_external_ref( $body, $invalid );
		if ( null === $existing && ( $body['discount_type'] ?? '' ) === 'fixed' && empty( $body['currency'] ) ) {
			$invalid['currency'] = __( 'a fixed discount needs a currency.', 'allybridge-for-accessally' );
		}
		$now = Allybridge_Values::now();
		$c   = $existing ?? array(
			'id'                   => 0,
			'code'                 => '',
			'amount_minor'         => 0,
			'discount_type'        => 'percent',
			'currency'             => null,
			'date_starts'          => null,
			'date_expires'         => null,
			'usage_limit'          => null,
			'usage_count'          => 0,
			'usage_limit_per_user' => null,
			'first_payment_only'   => false,
			'offering_ids'         => array(),
			'external_ref'         => null,
			'created'              => $now,
		);
		$old_scale = self::coupon_scale( $c );
		if ( isset( $body['code'] ) ) {
			$c['code'] = $body['code'];
		}
		if ( isset( $body['discount_type'] ) ) {
			$c['discount_type'] = $body['discount_type'];
		}
		if ( array_key_exists( 'currency', $body ) ) {
			$c['currency'] = $body['currency'];
		}
		if ( 'fixed' === $c['discount_type'] && null === $c['currency'] ) {
			$invalid['currency'] = __( 'a fixed discount needs a currency.', 'allybridge-for-accessally' );
		}
		if ( 'percent' === $c['discount_type'] ) {
			$c['currency'] = null;
		}
		// The amount's scale depends on the (possibly new) type and currency.
		$amount_text = $body['amount'] ?? ( null === $existing ? null : Allybridge_Values::format_decimal( (int) $existing['amount_minor'], $old_scale ) );
		if ( null !== $amount_text && ! isset( $invalid['currency'] ) ) {
			$amount = Allybridge_Values::parse_decimal( $amount_text, self::coupon_scale( $c ) );
			if ( is_string( $amount ) ) {
				$invalid['amount'] = $amount;
			} elseif ( 'percent' === $c['discount_type'] && $amount > 10000 ) {
				$invalid['amount'] = __( 'a percent discount is at most 100.', 'allybridge-for-accessally' );
			} else {
				$c['amount_minor'] = $amount;
			}
		}
		foreach ( array( 'date_starts', 'date_expires' ) as $key ) {
			if ( array_key_exists( $key, $body ) ) {
				$c[ $key ] = null === $body[ $key ] ? null : Allybridge_Values::parse_date( $body[ $key ] );
				if ( null !== $body[ $key ] && null === $c[ $key ] ) {
					/* translators: %s: field. */
					$invalid[ $key ] = sprintf( __( '%s is not a valid date.', 'allybridge-for-accessally' ), $key );
				}
			}
		}
		if ( null !== $c['date_starts'] && null !== $c['date_expires'] && $c['date_expires'] <= $c['date_starts'] ) {
			$invalid['date_expires'] = __( 'date_expires must be after date_starts.', 'allybridge-for-accessally' );
		}
		if ( $invalid ) {
			return Allybridge_Errors::invalid_params( $invalid );
		}
		if ( isset( $body['code'] ) ) {
			$holder = $this->coupons->id_by_code( $body['code'] );
			if ( null !== $holder && $holder !== $id ) {
				/* translators: %s: coupon code. */
				return Allybridge_Errors::conflict( 'allybridge_coupon_code_exists', sprintf( __( 'The coupon code `%s` already exists.', 'allybridge-for-accessally' ), $body['code'] ) );
			}
		}
		if ( isset( $body['external_ref'] ) ) {
			$holder = $this->coupons->id_by_external_ref( $body['external_ref'] );
			if ( null !== $holder && $holder !== $id ) {
				return $this->external_ref_taken( $body['external_ref'] );
			}
		}
		foreach ( array( 'usage_limit', 'usage_limit_per_user' ) as $key ) {
			if ( array_key_exists( $key, $body ) ) {
				$c[ $key ] = null === $body[ $key ] ? null : (int) $body[ $key ];
			}
		}
		if ( isset( $body['first_payment_only'] ) ) {
			$c['first_payment_only'] = (bool) $body['first_payment_only'];
		}
		if ( array_key_exists( 'offering_ids', $body ) ) {
			$c['offering_ids'] = array_values( array_unique( array_map( 'intval', (array) $body['offering_ids'] ) ) );
		}
		if ( array_key_exists( 'external_ref', $body ) ) {
			$c['external_ref'] = $body['external_ref'];
		}
		$c['modified'] = $now;
		return $this->in_transaction(
			'coupon',
			function () use ( $c, $existing ) {
				$stored = null === $existing ? $this->coupons->insert( $c ) : $this->coupons->update( $c );
				$json   = $this->render_coupon( $stored );
				$this->outbox->record( null === $existing ? 'coupon.created' : 'coupon.updated', $json );
				return $json;
			}
		);
	}

	/**
	 * @param int $id Coupon.
	 * @return array|WP_Error
	 */
	public function delete_coupon( int $id ) {
		$existing = $this->coupons->get( $id );
		if ( null === $existing ) {
			return Allybridge_Errors::invalid_id( 'coupon' );
		}
		return $this->in_transaction(
			'coupon',
			function () use ( $existing, $id ) {
				$json = $this->render_coupon( $existing );
				$this->coupons->delete( $id );
				$this->outbox->record( 'coupon.deleted', $json );
				return array(
					'deleted'  => true,
					'previous' => $json,
				);
			}
		);
	}

	/**
	 * Grants a buyer an offering's access tags, once per `source_ref`.
	 *
	 * @param array $body JSON body.
	 * @return array|WP_Error `[grant JSON, created?]`.
	 */
	public function grant_access( array $body ) {
		$invalid = array();
		if ( ! Allybridge_Values::looks_like_email( $body['email'] ) ) {
			$invalid['email'] = __( 'email is not a valid email address.', 'allybridge-for-accessally' );
		}
		if ( '' === $body['source_ref'] || mb_strlen( $body['source_ref'] ) > self::MAX_REF ) {
			/* translators: %d: maximum length. */
			$invalid['source_ref'] = sprintf( __( 'source_ref must be 1 to %d characters.', 'allybridge-for-accessally' ), self::MAX_REF );
		}
		if ( $invalid ) {
			return Allybridge_Errors::invalid_params( $invalid );
		}
		$first = (string) ( $body['first_name'] ?? '' );
		$last  = (string) ( $body['last_name'] ?? '' );
		$email = (string) $body['email'];
		$ref   = (string) $body['source_ref'];
		$oid   = (int) $body['offering_id'];
		$prior = $this->grants->by_source_ref( $ref );
		if ( null !== $prior ) {
			return $this->repeat_grant( $prior, $email, $oid, $first, $last );
		}
		$offering = $this->offerings->get( $oid );
		if ( null === $offering ) {
			/* translators: %d: id. */
			return Allybridge_Errors::invalid_params( array( 'offering_id' => sprintf( __( '%d is not an offering id.', 'allybridge-for-accessally' ), $oid ) ) );
		}
		$result = $this->in_transaction(
			'access grant',
			function () use ( $email, $first, $last, $oid, $ref, $offering ) {
				$contact = $this->contacts->contact_for( $email, $first, $last );
				$user_id = $this->contacts->ensure_user( $contact );
				$this->contacts->add_tags( $contact, $offering['access_tags'] );
				$grant = $this->grants->insert(
					array(
						'email'        => $email,
						'first_name'   => $first,
						'last_name'    => $last,
						'offering_id'  => $oid,
						'source_ref'   => $ref,
						'user_id'      => $user_id,
						'tags_applied' => $offering['access_tags'],
						'created'      => Allybridge_Values::now(),
					)
				);
				return array( Allybridge_Render::grant( $grant ), true );
			}
		);
		if ( is_wp_error( $result ) && 409 === ( $result->get_error_data()['status'] ?? 0 ) ) {
			// A concurrent request with the same key won the race: answer as a repeat.
			$prior = $this->grants->by_source_ref( $ref );
			if ( null !== $prior ) {
				return $this->repeat_grant( $prior, $email, $oid, $first, $last );
			}
		}
		return $result;
	}

	private function repeat_grant( array $prior, string $email, int $offering_id, string $first, string $last ) {
		$same = 0 === strcasecmp( $prior['email'], $email ) && $prior['offering_id'] === $offering_id
			&& $prior['first_name'] === $first && $prior['last_name'] === $last;
		if ( ! $same ) {
			/* translators: %s: source_ref. */
			return Allybridge_Errors::conflict( 'allybridge_source_ref_conflict', sprintf( __( 'source_ref `%s` was already used for another grant.', 'allybridge-for-accessally' ), $prior['source_ref'] ) );
		}
		return array( Allybridge_Render::grant( $prior ), false );
	}

	/**
	 * Runs a write and its outbox rows in one transaction; a refused write changes nothing.
	 *
	 * @param string   $what  Record kind, for the error.
	 * @param callable $write The write.
	 * @return mixed|WP_Error
	 */
	public function in_transaction( string $what, callable $write ) {
		global $wpdb;
		$wpdb->query( 'START TRANSACTION' );
		try {
			$result = $write();
			$wpdb->query( 'COMMIT' );
			$this->outbox->schedule_delivery();
			return $result;
		} catch ( Allybridge_Storage_Exception $e ) {
			$wpdb->query( 'ROLLBACK' );
			self::forget_cached_writes();
			if ( Allybridge_Errors::is_duplicate_key( $e->getMessage() ) ) {
				/* translators: %s: record kind. */
				return Allybridge_Errors::conflict( 'allybridge_conflict', sprintf( __( 'Another request changed this %s at the same moment; read it again and retry.', 'allybridge-for-accessally' ), $what ) );
			}
			return Allybridge_Errors::internal( $what );
		} catch ( Throwable $e ) {
			$wpdb->query( 'ROLLBACK' );
			self::forget_cached_writes();
			throw $e;
		}
	}

	/**
	 * After a rollback the object cache may still hold what the transaction
	 * wrote (a user made for a grant): drop this request's cache so nothing
	 * rolled back is read again.
	 */
	private static function forget_cached_writes(): void {
		if ( function_exists( 'wp_cache_flush_runtime' ) ) {
			wp_cache_flush_runtime();
		} else {
			wp_cache_flush();
		}
	}

	/**
	 * Reads `payment_options`, keeping ids that belong to the offering.
	 *
	 * @param array      $list     Options as sent.
	 * @param array|null $existing Offering being updated.
	 * @param array      $invalid  Collected reasons.
	 * @return array[]
	 */
	private function read_payment_options( array $list, ?array $existing, array &$invalid ): array {
		$known   = array_map( static fn( $p ) => (int) $p['id'], $existing['payment_options'] ?? array() );
		$kept    = array();
		$options = array();
		foreach ( $list as $i => $p ) {
			$name = "payment_options[$i]";
			$type = $p['type'];
			$plan = 'payment_plan' === $type;
			if ( $plan && empty( $p['number_of_payments'] ) ) {
				$invalid[ "$name.number_of_payments" ] = __( 'a payment_plan needs number_of_payments (2 or more).', 'allybridge-for-accessally' );
			}
			if ( 'one_time' !== $type && empty( $p['interval'] ) ) {
				$invalid[ "$name.interval" ] = __( 'a payment_plan or recurring option needs an interval.', 'allybridge-for-accessally' );
			}
			$amount = Allybridge_Values::parse_decimal( $p['amount'], Allybridge_Values::currency_exponent( $p['currency'] ) );
			if ( is_string( $amount ) ) {
				$invalid[ "$name.amount" ] = $amount;
			}
			$id = isset( $p['id'] ) ? (int) $p['id'] : null;
			if ( null !== $id && ( ! in_array( $id, $known, true ) || in_array( $id, $kept, true ) ) ) {
				$invalid[ "$name.id" ] = __( 'id is not a payment option of this offering.', 'allybridge-for-accessally' );
			}
			if ( null !== $id ) {
				$kept[] = $id;
			}
			$recurring = 'one_time' !== $type;
			$options[] = array(
				'id'                 => $id,
				'type'               => $type,
				'amount_minor'       => is_int( $amount ) ? $amount : 0,
				'currency'           => $p['currency'],
				'sku'                => $p['sku'] ?? null,
				'trial_days'         => (int) ( $p['trial_days'] ?? 0 ),
				'number_of_payments' => $plan ? ( $p['number_of_payments'] ?? null ) : null,
				'interval'           => $recurring ? ( $p['interval'] ?? null ) : null,
				'interval_count'     => $recurring ? (int) ( $p['interval_count'] ?? 1 ) : null,
			);
		}
		return $options;
	}

	private function check_external_ref( array $body, array &$invalid ): void {
		if ( isset( $body['external_ref'] ) && ( '' === $body['external_ref'] || mb_strlen( $body['external_ref'] ) > self::MAX_REF ) ) {
			/* translators: %d: maximum length. */
			$invalid['external_ref'] = sprintf( __( 'external_ref must be 1 to %d characters.', 'allybridge-for-accessally' ), self::MAX_REF );
		}
	}

	private function external_ref_taken( string $ref ): WP_Error {
		/* translators: %s: external reference. */
		return Allybridge_Errors::conflict( 'allybridge_external_ref_exists', sprintf( __( 'Another record already has external_ref `%s`.', 'allybridge-for-accessally' ), $ref ) );
	}

	/**
	 * Decimal places of a coupon's amount: the currency's for `fixed`, 2 (hundredths of a percent) for `percent`.
	 *
	 * @param array $c Coupon.
	 */
	private static function coupon_scale( array $c ): int {
		return ( 'fixed' === $c['discount_type'] && null !== $c['currency'] ) ? Allybridge_Values::currency_exponent( $c['currency'] ) : 2;
	}
}
