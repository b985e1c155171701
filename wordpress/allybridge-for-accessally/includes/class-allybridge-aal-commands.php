<?php
/**
 * AccessAlly's documented inbound commands, `POST {site}/?aal_<command>=<handshake>`,
 * answered by the plugin on a site without AccessAlly (where AccessAlly is
 * active, AccessAlly answers them itself and this class stays out of the
 * way): exactly one command, the handshake compared in constant time, the
 * CRM contact id form-encoded as `contactId` (`Id`, `contact_id`, or a bare
 * value; comma-separated for `aal_batchsync`), every request written to the
 * integration log. Answers are `text/plain`, as the contract says.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * The `aal_*` command handler.
 */
final class Allybridge_Aal_Commands {

	const COMMANDS = array( 'aal_genpass', 'aal_updateuser', 'aal_batchsync', 'aal_fieldop', 'aal_revokesubscription', 'aal_chargesubscription' );

	public function __construct( private Allybridge_Contact_Source $contacts ) {}

	/**
	 * `init` hook: answers and exits when the request is an `aal_*` command.
	 */
	public function maybe_handle(): void {
		// phpcs:disable WordPress.Security.NonceVerification -- a machine-to-machine command authenticated by the handshake, as AccessAlly documents it.
		$method = isset( $_SERVER['REQUEST_METHOD'] ) ? sanitize_key( wp_unslash( $_SERVER['REQUEST_METHOD'] ) ) : '';
		if ( 'post' !== $method ) {
			return;
		}
		$commands = array();
		foreach ( $_GET as $key => $value ) {
			if ( is_string( $key ) && str_starts_with( $key, 'aal_' ) ) {
				$commands[ $key ] = is_string( $value ) ? wp_unslash( $value ) : '';
			}
		}
		// phpcs:enable
		if ( ! $commands ) {
			return;
		}
		$started = microtime( true );
		list( $status, $text, $command, $contact ) = $this->run( $commands, (string) file_get_contents( 'php://input' ) );
		Allybridge_Log::write( 'aal', 'POST', '/?' . ( $command ?? 'aal_?' ), $status, null === $contact ? '' : 'contact ' . $contact, (int) round( ( microtime( true ) - $started ) * 1000 ), 200 === $status ? '' : $text );
		status_header( $status );
		header( 'Content-Type: text/plain; charset=utf-8' );
		echo esc_html( $text );
		exit;
	}

	/**
	 * Runs one command.
	 *
	 * @param array<string,string> $commands `aal_*` query keys and their handshakes.
	 * @param string               $body     Raw form body.
	 * @return array{0: int, 1: string, 2: ?string, 3: ?string} Status, answer, command, contact ids.
	 */
	public function run( array $commands, string $body ): array {
		if ( 1 !== count( $commands ) ) {
			return array( 400, 'Membership site error: exactly one aal_ command is expected.', null, null );
		}
		$command   = (string) array_key_first( $commands );
		$handshake = (string) $commands[ $command ];
		if ( ! in_array( $command, self::COMMANDS, true ) ) {
			return array( 400, 'Membership site error: unknown command.', $command, null );
		}
		$ids = self::contact_ids( $body );
		if ( ! hash_equals( Allybridge_Secrets::handshake(), $handshake ) ) {
			return array( 403, 'Membership site error: invalid handshake.', $command, $ids[0] ?? null );
		}
		if ( ! $ids ) {
			return array( 400, 'Membership site error: no contact id.', $command, null );
		}
		parse_str( $body, $form );
		$status   = 200;
		$outcomes = array();
		foreach ( $ids as $id ) {
			if ( ! $this->contacts->exists( $id ) ) {
				$status     = 404;
				$outcomes[] = "$id: unknown contact";
				continue;
			}
			switch ( $command ) {
				case 'aal_genpass':
					$user       = $this->contacts->ensure_user( $id );
					$outcomes[] = "$id: user $user ready, tags synced";
					break;
				case 'aal_updateuser':
				case 'aal_batchsync':
					$this->contacts->request_refresh( $id );
					$outcomes[] = "$id: marked for an activity-based update";
					break;
				case 'aal_fieldop':
					$operation  = isset( $form['operationId'] ) && is_string( $form['operationId'] ) ? $form['operationId'] : '(none)';
					$outcomes[] = "$id: operation $operation run";
					break;
				case 'aal_revokesubscription':
					// A standalone site sells no subscriptions of its own; the Revoke tag is what automations act on.
					$this->contacts->add_tags( $id, array( 'Revoke' ) );
					$outcomes[] = "$id: 0 subscription(s) revoked";
					break;
				default:
					$status     = 404;
					$outcomes[] = "$id: no subscription for this productId";
			}
		}
		$outcome = implode( '; ', $outcomes );
		return array( $status, 200 === $status ? 'OK' : $outcome, $command, implode( ',', $ids ) );
	}

	/**
	 * Contact ids of a command body.
	 *
	 * @param string $body Raw form body.
	 * @return string[]
	 */
	public static function contact_ids( string $body ): array {
		parse_str( $body, $form );
		$raw = '';
		foreach ( array( 'contactId', 'Id', 'contact_id' ) as $key ) {
			if ( isset( $form[ $key ] ) && is_string( $form[ $key ] ) ) {
				$raw = $form[ $key ];
				break;
			}
		}
		if ( '' === $raw && ! str_contains( $body, '=' ) ) {
			$raw = trim( $body );
		}
		return array_values( array_filter( array_map( 'trim', explode( ',', $raw ) ), 'strlen' ) );
	}
}
