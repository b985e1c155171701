<?php
/**
 * Runs steps on the test site in a PHP process of its own, with the
 * AccessAlly fixture playing another AccessAlly (a class's methods cannot be
 * taken away inside one process, so tests of a missing method run here).
 * Reads `{profile, state, steps}` as JSON on stdin; loads WordPress with
 * ALLYBRIDGE_ACCESSALLY_FIXTURE_PROFILE set; runs each step through the
 * plugin's own code (Allybridge_Plugin's catalog and its contact source);
 * prints one JSON object: each step's outcome, the fixture's calls and CRM,
 * and every PHP error raised on the way.
 *
 * Steps (`op`): `offering` {body}; `user` {email, legacy_tag_ids?} makes a
 * user; `grant` {body, offering: index of an earlier offering}; `link`
 * {email, contact} (AccessAlly links the user and fires its action);
 * `contact_for` {email}; `exists`, `ensure_user`, `request_refresh`
 * {contact}; `add_tags` {contact, tags}; `read_user` {email}; `probe`.
 *
 * @package allybridge-for-accessally
 */

// phpcs:disable WordPress.WP.AlternativeFunctions, WordPress.Security.EscapeOutput -- a command-line script.

if ( 'cli' !== PHP_SAPI ) {
	exit; // A command-line script, never served.
}

$allybridge_input = json_decode( (string) stream_get_contents( STDIN ), true );
if ( ! is_array( $allybridge_input ) || ! isset( $allybridge_input['profile'], $allybridge_input['steps'] ) ) {
	fwrite( STDERR, "expected {profile, state, steps} as JSON on stdin\n" );
	exit( 2 );
}
define( 'ALLYBRIDGE_ACCESSALLY_FIXTURE_PROFILE', (string) $allybridge_input['profile'] );

$allybridge_php_errors = array();
set_error_handler( // phpcs:ignore WordPress.PHP.DevelopmentFunctions.prevent_path_disclosure_error_reporting
	static function ( int $level, string $message, string $file, int $line ) use ( &$allybridge_php_errors ): bool {
		if ( error_reporting() & $level ) {
			$allybridge_php_errors[] = sprintf( '%d: %s (%s:%d)', $level, $message, basename( $file ), $line );
		}
		return true;
	}
);

require __DIR__ . '/../includes/load-site.php';

Allybridge_AccessAlly_Fixture::reset( (array) ( $allybridge_input['state'] ?? array() ) );

/**
 * Runs one step.
 *
 * @param array $step      Step.
 * @param array $offerings Offerings made so far.
 * @return mixed Outcome.
 */
function allybridge_scenario_step( array $step, array &$offerings ) {
	$catalog  = Allybridge_Plugin::instance()->catalog;
	$contacts = $catalog->contacts;
	$user_id  = static function ( string $email ): int {
		$user = get_user_by( 'email', $email );
		return $user ? (int) $user->ID : 0;
	};
	try {
		switch ( $step['op'] ) {
			case 'offering':
				$made = $catalog->write_offering( null, $step['body'] );
				if ( is_wp_error( $made ) ) {
					return array( 'error' => $made->get_error_code() );
				}
				$offerings[] = $made;
				return $made;
			case 'user':
				$id = wp_insert_user(
					array(
						'user_login' => $step['email'],
						'user_email' => $step['email'],
						'user_pass'  => wp_generate_password( 24 ),
					)
				);
				if ( is_wp_error( $id ) ) {
					return array( 'error' => $id->get_error_message() );
				}
				if ( isset( $step['legacy_tag_ids'] ) ) {
					update_user_meta( $id, '_accessally_user_tag_ids', array( 'ids' => $step['legacy_tag_ids'] ) );
				}
				return $id;
			case 'grant':
				$body                = $step['body'];
				$body['offering_id'] = (int) $offerings[ (int) ( $step['offering'] ?? 0 ) ]['id'];
				$result              = $catalog->grant_access( $body );
				if ( is_wp_error( $result ) ) {
					return array(
						'error'  => $result->get_error_code(),
						'status' => $result->get_error_data()['status'] ?? 0,
					);
				}
				return array(
					'created' => $result[1],
					'grant'   => $result[0],
				);
			case 'link':
				Allybridge_AccessAlly_Fixture::link_user( $user_id( $step['email'] ), (string) $step['contact'] );
				return true;
			case 'contact_for':
				return $contacts->contact_for( $step['email'], '', '' );
			case 'exists':
				return $contacts->exists( (string) $step['contact'] );
			case 'ensure_user':
				return $contacts->ensure_user( (string) $step['contact'] );
			case 'add_tags':
				$contacts->add_tags( (string) $step['contact'], $step['tags'] );
				return true;
			case 'request_refresh':
				$contacts->request_refresh( (string) $step['contact'] );
				return true;
			case 'read_user':
				wp_cache_flush(); // The database's answer, not a copy cached before a rollback.
				$id = $user_id( $step['email'] );
				return array(
					'id'             => $id,
					'contact_meta'   => $id ? get_user_meta( $id, Allybridge_AccessAlly_Contacts::CONTACT_META, true ) : null,
					'legacy_tag_ids' => $id ? get_user_meta( $id, '_accessally_user_tag_ids', true ) : null,
				);
			case 'probe':
				return Allybridge_AccessAlly::probe();
			default:
				return array( 'error' => 'unknown op ' . $step['op'] );
		}
	} catch ( Allybridge_Storage_Exception $e ) {
		return array( 'exception' => $e->getMessage() );
	}
}

global $wpdb;
$allybridge_offerings = array();
$allybridge_outcomes  = array();
foreach ( $allybridge_input['steps'] as $allybridge_step ) {
	$allybridge_outcomes[] = allybridge_scenario_step( $allybridge_step, $allybridge_offerings );
}
$allybridge_table = Allybridge_Schema::table( 'contacts' );
echo wp_json_encode(
	array(
		'profile'        => Allybridge_AccessAlly_Fixture::profile(),
		'active'         => Allybridge_AccessAlly::is_active(),
		'contact_source' => get_class( Allybridge_Plugin::instance()->catalog->contacts ),
		'steps'          => $allybridge_outcomes,
		'calls'          => Allybridge_AccessAlly_Fixture::calls(),
		'crm'            => Allybridge_AccessAlly_Fixture::state(),
		'local_contacts' => $wpdb->get_results( "SELECT id, email, user_id, tags FROM $allybridge_table ORDER BY id", ARRAY_A ), // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- our table, no input.
		'grants'         => (int) $wpdb->get_var( 'SELECT COUNT(*) FROM ' . Allybridge_Schema::table( 'grants' ) ), // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- our table, no input.
		'php_errors'     => $allybridge_php_errors,
	)
) . "\n";
