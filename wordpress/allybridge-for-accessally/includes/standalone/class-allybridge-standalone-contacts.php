<?php
/**
 * The standalone site's CRM: contacts by e-mail with their tags and their
 * WordPress user (real users, made with `wp_insert_user`), and the access
 * grants made for them.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Standalone contacts.
 */
final class Allybridge_Standalone_Contacts implements Allybridge_Contact_Source {

	public function contact_for( string $email, string $first_name, string $last_name ): string {
		global $wpdb;
		$table = Allybridge_Schema::table( 'contacts' );
		$row   = $wpdb->get_row( $wpdb->prepare( "SELECT id, first_name, last_name FROM $table WHERE email = %s", $email ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		if ( $row ) {
			$fill = array();
			if ( '' === $row['first_name'] && '' !== $first_name ) {
				$fill['first_name'] = $first_name;
			}
			if ( '' === $row['last_name'] && '' !== $last_name ) {
				$fill['last_name'] = $last_name;
			}
			if ( $fill ) {
				$wpdb->update( $table, $fill, array( 'id' => $row['id'] ) );
			}
			return (string) $row['id'];
		}
		$ok = $wpdb->insert(
			$table,
			array(
				'email'      => $email,
				'first_name' => $first_name,
				'last_name'  => $last_name,
				'tags'       => '[]',
			)
		);
		if ( false === $ok ) {
			throw new Allybridge_Storage_Exception( $wpdb->last_error );
		}
		return (string) $wpdb->insert_id;
	}

	public function exists( string $contact_id ): bool {
		return null !== $this->row( $contact_id );
	}

	public function ensure_user( string $contact_id ): int {
		global $wpdb;
		$contact = $this->row( $contact_id );
		if ( null === $contact ) {
			throw new Allybridge_Storage_Exception( 'unknown contact' );
		}
		if ( ! empty( $contact['user_id'] ) && get_userdata( (int) $contact['user_id'] ) ) {
			return (int) $contact['user_id'];
		}
		$user = get_user_by( 'email', $contact['email'] );
		if ( $user ) {
			$user_id = (int) $user->ID;
		} else {
			// AccessAlly uses the e-mail as the user name.
			$user_id = wp_insert_user(
				array(
					'user_login' => $contact['email'],
					'user_email' => $contact['email'],
					'user_pass'  => wp_generate_password( 24 ),
					'first_name' => $contact['first_name'],
					'last_name'  => $contact['last_name'],
					'role'       => get_option( 'default_role', 'subscriber' ),
				)
			);
			if ( is_wp_error( $user_id ) ) {
				throw new Allybridge_Storage_Exception( $user_id->get_error_message() );
			}
		}
		$wpdb->update( Allybridge_Schema::table( 'contacts' ), array( 'user_id' => $user_id ), array( 'id' => (int) $contact_id ) );
		update_user_meta( $user_id, 'allybridge_crm_contact_id', $contact_id );
		return (int) $user_id;
	}

	public function add_tags( string $contact_id, array $tags ): void {
		global $wpdb;
		$contact = $this->row( $contact_id );
		if ( null === $contact ) {
			return;
		}
		$all = array_values( array_unique( array_merge( Allybridge_Values::json_list( $contact['tags'] ), $tags ) ) );
		$wpdb->update( Allybridge_Schema::table( 'contacts' ), array( 'tags' => wp_json_encode( $all ) ), array( 'id' => (int) $contact_id ) );
	}

	public function request_refresh( string $contact_id ): void {
		global $wpdb;
		$wpdb->update( Allybridge_Schema::table( 'contacts' ), array( 'refresh_pending' => 1 ), array( 'id' => (int) $contact_id ) );
	}

	private function row( string $contact_id ): ?array {
		global $wpdb;
		if ( ! ctype_digit( $contact_id ) ) {
			return null;
		}
		$table = Allybridge_Schema::table( 'contacts' );
		$row   = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM $table WHERE id = %d", (int) $contact_id ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return $row ?: null;
	}
}

/**
 * Standalone access grants.
 */
final class Allybridge_Standalone_Grants implements Allybridge_Grant_Source {

	public function by_source_ref( string $source_ref ): ?array {
		global $wpdb;
		$table = Allybridge_Schema::table( 'grants' );
		$row   = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM $table WHERE source_ref = %s", $source_ref ), ARRAY_A ); // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		if ( ! $row ) {
			return null;
		}
		return array(
			'id'           => (int) $row['id'],
			'email'        => $row['email'],
			'first_name'   => $row['first_name'],
			'last_name'    => $row['last_name'],
			'offering_id'  => (int) $row['offering_id'],
			'source_ref'   => $row['source_ref'],
			'user_id'      => (int) $row['user_id'],
			'tags_applied' => array_map( 'strval', Allybridge_Values::json_list( $row['tags_applied'] ) ),
			'created'      => $row['created_gmt'],
		);
	}

	public function insert( array $grant ): array {
		global $wpdb;
		$ok = $wpdb->insert(
			Allybridge_Schema::table( 'grants' ),
			array(
				'email'        => $grant['email'],
				'first_name'   => $grant['first_name'],
				'last_name'    => $grant['last_name'],
				'offering_id'  => $grant['offering_id'],
				'source_ref'   => $grant['source_ref'],
				'user_id'      => $grant['user_id'],
				'tags_applied' => wp_json_encode( array_values( $grant['tags_applied'] ) ),
				'created_gmt'  => $grant['created'],
			)
		);
		if ( false === $ok ) {
			throw new Allybridge_Storage_Exception( $wpdb->last_error );
		}
		return $this->by_source_ref( $grant['source_ref'] ) ?? $grant;
	}
}
