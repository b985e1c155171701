<?php
/**
 * Orders on a standalone site: the checkout rules AccessAlly's order forms
 * apply (a coupon's dates, usage limits, offerings and currency; the
 * offering's availability decremented; the buyer's contact, user and access
 * tags) and refunds. A payment integration, or the development site's test
 * checkout, records orders through here; each completed or refunded order
 * causes its event in the same transaction.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Standalone checkout and refunds.
 */
final class Allybridge_Checkout {

	const OUTCOMES = array(
		'success'     => array( 'started', 'success' ),
		'failed'      => array( 'started', 'failed' ),
		'error'       => array( 'started', 'error' ),
		'sca_success' => array( 'started', 'sca_pending', 'sca_success', 'success' ),
		'sca_failed'  => array( 'started', 'sca_pending', 'sca_failed' ),
		'sca_pending' => array( 'started', 'sca_pending' ),
	);

	public function __construct(
		private Allybridge_Catalog $catalog,
		private Allybridge_Standalone_Orders $orders,
		private Allybridge_Outbox $outbox
	) {}

	/**
	 * Places an order.
	 *
	 * @param array $in offering_id or order_form_id, payment_option_id?, buyer {email, first_name?, last_name?}, coupon_code?, outcome?, payment_method?.
	 * @return array|WP_Error The order as the API shows it.
	 */
	public function checkout( array $in ) {
		$email = (string) ( $in['buyer']['email'] ?? '' );
		if ( ! Allybridge_Values::looks_like_email( $email ) ) {
			return Allybridge_Errors::invalid_params( array( 'buyer.email' => __( 'buyer.email is not a valid email address.', 'allybridge-for-accessally' ) ) );
		}
		$outcome = (string) ( $in['outcome'] ?? 'success' );
		$method  = (string) ( $in['payment_method'] ?? 'stripe' );
		if ( ! isset( self::OUTCOMES[ $outcome ] ) || ! in_array( $method, array( 'stripe', 'paypal' ), true ) ) {
			return Allybridge_Errors::invalid_params( array( 'outcome' => __( 'outcome or payment_method is not one the checkout knows.', 'allybridge-for-accessally' ) ) );
		}
		$offering = isset( $in['offering_id'] ) ? $this->catalog->offerings->get( (int) $in['offering_id'] ) : $this->offering_on_form( (int) ( $in['order_form_id'] ?? 0 ) );
		if ( null === $offering ) {
			return new WP_Error( 'allybridge_invalid_id', __( 'No offering is sold on this order form.', 'allybridge-for-accessally' ), array( 'status' => 404 ) );
		}
		$option = $offering['payment_options'][0] ?? null;
		if ( isset( $in['payment_option_id'] ) ) {
			$option = null;
			foreach ( $offering['payment_options'] as $p ) {
				if ( (int) $p['id'] === (int) $in['payment_option_id'] ) {
					$option = $p;
				}
			}
		}
		if ( null === $option ) {
			return Allybridge_Errors::invalid_params( array( 'payment_option_id' => __( 'not a payment option of this offering.', 'allybridge-for-accessally' ) ) );
		}
		if ( 0 === $offering['quantity'] ) {
			return Allybridge_Errors::conflict( 'allybridge_sold_out', __( 'This offering is sold out.', 'allybridge-for-accessally' ) );
		}
		$subtotal = (int) $option['amount_minor'];
		$discount = 0;
		$coupon   = null;
		if ( ! empty( $in['coupon_code'] ) ) {
			$coupon_id = $this->catalog->coupons->id_by_code( (string) $in['coupon_code'] );
			$coupon    = null === $coupon_id ? null : $this->catalog->coupons->get( $coupon_id );
			$refusal   = $this->coupon_refusal( $coupon, $offering, $option, $email );
			if ( null !== $refusal ) {
				/* translators: 1: code, 2: reason. */
				return new WP_Error( 'allybridge_invalid_coupon', sprintf( __( 'Coupon `%1$s` %2$s.', 'allybridge-for-accessally' ), $in['coupon_code'], $refusal ), array( 'status' => 400 ) );
			}
			$discount = 'percent' === $coupon['discount_type']
				? intdiv( $subtotal * (int) $coupon['amount_minor'] + 5000, 10000 )
				: min( (int) $coupon['amount_minor'], $subtotal );
		}
		$history   = self::OUTCOMES[ $outcome ];
		$status    = end( $history );
		$succeeded = 'success' === $status;
		$first     = (string) ( $in['buyer']['first_name'] ?? '' );
		$last      = (string) ( $in['buyer']['last_name'] ?? '' );
		return $this->catalog->in_transaction(
			'order',
			function () use ( $offering, $option, $coupon, $email, $first, $last, $subtotal, $discount, $status, $succeeded, $method, $in ) {
				$contact = $this->catalog->contacts->contact_for( $email, $first, $last );
				$now     = Allybridge_Values::now();
				$order   = $this->orders->insert(
					array(
						'status'         => $status,
						'order_form_id'  => (int) ( $in['order_form_id'] ?? ( $offering['order_form_ids'][0] ?? 0 ) ),
						'email'          => $email,
						'first_name'     => $first,
						'last_name'      => $last,
						'crm_contact_id' => $contact,
						'line_items'     => array(
							array(
								'offering_id'       => (int) $offering['id'],
								'payment_option_id' => (int) $option['id'],
								'name'              => $offering['name'],
								'sku'               => $option['sku'],
								'quantity'          => 1,
								'amount_minor'      => $subtotal,
							),
						),
						'coupon_code'    => $coupon['code'] ?? null,
						'subtotal_minor' => $subtotal,
						'discount_minor' => $discount,
						'total_minor'    => $subtotal - $discount,
						'refunded_minor' => 0,
						'currency'       => $option['currency'],
						'payment_method' => $method,
						'transaction_id' => $succeeded ? ( 'paypal' === $method ? 'PAYID-' . strtoupper( wp_generate_password( 20, false ) ) : 'ch_' . wp_generate_password( 24, false ) ) : null,
						'created'        => $now,
						'modified'       => $now,
					)
				);
				$json    = Allybridge_Render::order( $order );
				if ( ! $succeeded ) {
					return $json;
				}
				if ( null !== $coupon ) {
					$coupon['usage_count'] = (int) $coupon['usage_count'] + 1;
					$this->catalog->coupons->update( $coupon );
				}
				$this->catalog->contacts->add_tags( $contact, array_merge( $offering['access_tags'], array( $offering['name'] . ' - Purchase Success' ) ) );
				$this->catalog->contacts->ensure_user( $contact );
				$this->outbox->record( 'order.completed', $json );
				if ( null !== $offering['quantity'] ) {
					$offering['quantity'] = max( 0, $offering['quantity'] - 1 );
					$offering['modified'] = $now;
					$stored               = $this->catalog->offerings->update( $offering );
					$this->outbox->record( 'offering.updated', Allybridge_Render::offering( $stored ) );
				}
				return $json;
			}
		);
	}

	/**
	 * Refunds an order, all of what is left or `amount`.
	 *
	 * @param int         $order_id Order.
	 * @param string|null $amount   Decimal amount, or null for the rest.
	 * @return array|WP_Error The order.
	 */
	public function refund( int $order_id, ?string $amount ) {
		$order = $this->orders->get( $order_id );
		if ( null === $order ) {
			return Allybridge_Errors::invalid_id( 'order' );
		}
		if ( ! in_array( $order['status'], array( 'success', 'partially_refunded' ), true ) ) {
			/* translators: %s: status. */
			return Allybridge_Errors::conflict( 'allybridge_not_refundable', sprintf( __( 'An order in status `%s` cannot be refunded.', 'allybridge-for-accessally' ), $order['status'] ) );
		}
		$remaining = $order['total_minor'] - $order['refunded_minor'];
		$minor     = null === $amount ? $remaining : Allybridge_Values::parse_decimal( $amount, Allybridge_Values::currency_exponent( $order['currency'] ) );
		if ( ! is_int( $minor ) || $minor <= 0 || $minor > $remaining ) {
			return Allybridge_Errors::invalid_params( array( 'amount' => __( 'amount must be more than 0 and at most what is left to refund.', 'allybridge-for-accessally' ) ) );
		}
		$order['refunded_minor'] += $minor;
		$order['status']          = $order['refunded_minor'] === $order['total_minor'] ? 'refunded' : 'partially_refunded';
		$order['modified']        = Allybridge_Values::now();
		return $this->catalog->in_transaction(
			'order',
			function () use ( $order ) {
				$json = Allybridge_Render::order( $this->orders->update( $order ) );
				$this->outbox->record( 'order.refunded', $json );
				return $json;
			}
		);
	}

	private function offering_on_form( int $form_id ): ?array {
		$query           = new Allybridge_List_Query();
		$query->per_page = 100;
		for ( $query->page = 1; ; $query->page++ ) {
			$page = $this->catalog->offerings->query( $query );
			foreach ( $page->items as $o ) {
				if ( in_array( $form_id, $o['order_form_ids'], true ) ) {
					return $o;
				}
			}
			if ( $query->page * $query->per_page >= $page->total ) {
				return null;
			}
		}
	}

	/**
	 * Why a coupon cannot be used for this purchase, or null when it can.
	 */
	private function coupon_refusal( ?array $c, array $offering, array $option, string $email ): ?string {
		if ( null === $c ) {
			return __( 'does not exist', 'allybridge-for-accessally' );
		}
		$now = Allybridge_Values::now();
		if ( null !== $c['date_starts'] && $now < $c['date_starts'] ) {
			return __( 'is not valid yet', 'allybridge-for-accessally' );
		}
		if ( null !== $c['date_expires'] && $now >= $c['date_expires'] ) {
			return __( 'has expired', 'allybridge-for-accessally' );
		}
		if ( null !== $c['usage_limit'] && $c['usage_count'] >= $c['usage_limit'] ) {
			return __( 'has reached its usage limit', 'allybridge-for-accessally' );
		}
		if ( null !== $c['usage_limit_per_user'] && $this->orders->uses_by( $c['code'], $email ) >= $c['usage_limit_per_user'] ) {
			return __( 'has reached its limit for this buyer', 'allybridge-for-accessally' );
		}
		if ( ! in_array( (int) $offering['id'], $c['offering_ids'], true ) ) {
			return __( 'does not apply to this offering', 'allybridge-for-accessally' );
		}
		if ( 'fixed' === $c['discount_type'] && $c['currency'] !== $option['currency'] ) {
			return __( 'is in another currency', 'allybridge-for-accessally' );
		}
		return null;
	}
}
