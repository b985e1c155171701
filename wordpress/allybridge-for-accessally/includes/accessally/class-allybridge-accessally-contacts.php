<?php
/**
 * The contact source where AccessAlly is active: CRM contacts are
 * AccessAlly's, reached through its WordPress users (a user is linked to one
 * CRM contact id) and tagged through AccessAlly, so that AccessAlly's own
 * permissions grant the access.
 *
 * What AccessAlly's internals do not tell (how to create a CRM contact for an
 * e-mail, which user a contact id belongs to) is kept by this plugin:
 * - a buyer AccessAlly knows no contact for becomes a contact of the plugin's
 *   own table (Allybridge_Standalone_Contacts), with the id
 *   `allybridge-<n>`, and gets a WordPress user whose tags are applied through
 *   AccessAlly; once AccessAlly links that user to a CRM contact, the
 *   AccessAlly id is used;
 * - the contact id ↔ user links this plugin has seen (from AccessAlly's
 *   lookups and its `accessally_update_user` action) are kept in the user meta
 *   `allybridge_accessally_contact_id`.
 * UNKNOWNS.md beside this file says why, and how to check each on a real site.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * AccessAlly contacts, users and tags.
 */
final class Allybridge_AccessAlly_Contacts implements Allybridge_Contact_Source {

	/** Prefix of the ids of contacts kept in the plugin's own table. */
	const LOCAL_PREFIX = 'allybridge-';

	/** User meta: the AccessAlly CRM contact id this plugin last saw linked to the user. */
	const CONTACT_META = 'allybridge_accessally_contact_id';

	public function __construct(
		private Allybridge_AccessAlly_Internals $accessally,
		private Allybridge_Standalone_Contacts $local
	) {}

	/**
	 * The AccessAlly contact of the user with this e-mail; else a contact of the plugin's own table.
	 *
	 * @param string $email      E-mail.
	 * @param string $first_name First name (kept for a contact of our own; AccessAlly's CRM fields are not written).
	 * @param string $last_name  Last name.
	 */
	public function contact_for( string $email, string $first_name, string $last_name ): string {
		$user = get_user_by( 'email', $email );
		if ( $user ) {
			$contact = $this->contact_of_user( (int) $user->ID );
			if ( null !== $contact ) {
				return $contact;
			}
		}
		return self::LOCAL_PREFIX . $this->local->contact_for( $email, $first_name, $last_name );
	}

	public function exists( string $contact_id ): bool {
		$local = self::local_id( $contact_id );
		if ( null !== $local ) {
			return $this->local->exists( $local );
		}
		return null !== $this->user_of_contact( $contact_id );
	}

	/**
	 * The contact's WordPress user. A contact of our own gets one as the
	 * standalone site makes it (the e-mail as user name); an AccessAlly
	 * contact must be linked to a user already (AccessAlly's `aal_genpass`
	 * makes that link; how to make it from here is not known).
	 *
	 * @param string $contact_id Contact.
	 * @throws Allybridge_Storage_Exception When no user can be found or made.
	 */
	public function ensure_user( string $contact_id ): int {
		$local = self::local_id( $contact_id );
		if ( null !== $local ) {
			return $this->local->ensure_user( $local );
		}
		$user_id = $this->user_of_contact( $contact_id );
		if ( null === $user_id ) {
			throw new Allybridge_Storage_Exception( sprintf( 'no WordPress user is known for AccessAlly contact %s', $contact_id ) );
		}
		return $user_id;
	}

	/**
	 * Applies tags (names or ids of AccessAlly tags) through AccessAlly.
	 * AccessAlly keeps tags on a user's CRM contact: a contact of our own
	 * records them in the plugin's table too, and gets its user first.
	 *
	 * @param string   $contact_id Contact.
	 * @param string[] $tags       Tag names or ids.
	 * @throws Allybridge_Storage_Exception When a tag is not AccessAlly's, or AccessAlly offers no way to apply it.
	 */
	public function add_tags( string $contact_id, array $tags ): void {
		$ids = $this->tag_ids( $tags );
		if ( ! $ids ) {
			return;
		}
		$local = self::local_id( $contact_id );
		if ( null !== $local ) {
			$this->local->add_tags( $local, $tags );
			$user_id = $this->ensure_user( $contact_id );
			$linked  = $this->contact_of_user( $user_id );
			if ( null !== $linked && $this->accessally->can_add_contact_tags() ) {
				$this->tag_contact( $linked, $ids, $user_id );
			} else {
				$this->tag_user( $user_id, $linked, $ids );
			}
			return;
		}
		$user_id = $this->user_of_contact( $contact_id );
		if ( $this->accessally->can_add_contact_tags() || null === $user_id ) {
			$this->tag_contact( $contact_id, $ids, $user_id );
		} else {
			$this->tag_user( $user_id, $contact_id, $ids );
		}
	}

	/**
	 * `aal_updateuser`: AccessAlly pulls the user's details and tags from the
	 * CRM (`AccessAllyAPI::sync_user_info_from_crm`). A contact of our own is
	 * marked in the plugin's table, as on a standalone site.
	 *
	 * @param string $contact_id Contact.
	 * @throws Allybridge_Storage_Exception When AccessAlly offers no way to do it.
	 */
	public function request_refresh( string $contact_id ): void {
		$local = self::local_id( $contact_id );
		if ( null !== $local ) {
			$this->local->request_refresh( $local );
			return;
		}
		$user_id = $this->user_of_contact( $contact_id );
		if ( null === $user_id ) {
			throw new Allybridge_Storage_Exception( sprintf( 'no WordPress user is known for AccessAlly contact %s', $contact_id ) );
		}
		if ( ! $this->accessally->sync_user_info_from_crm( $user_id ) ) {
			throw new Allybridge_Storage_Exception( 'this AccessAlly has no AccessAllyAPI::sync_user_info_from_crm to refresh a user from the CRM' );
		}
	}

	/**
	 * Remembers a contact id ↔ user link that AccessAlly made known.
	 *
	 * @param int    $user_id    WordPress user.
	 * @param string $contact_id AccessAlly CRM contact id.
	 */
	public static function remember_link( int $user_id, string $contact_id ): void {
		if ( $user_id > 0 && '' !== $contact_id && ! str_starts_with( $contact_id, self::LOCAL_PREFIX ) && get_userdata( $user_id ) ) {
			if ( get_user_meta( $user_id, self::CONTACT_META, true ) !== $contact_id ) {
				update_user_meta( $user_id, self::CONTACT_META, $contact_id );
			}
		}
	}

	/**
	 * The AccessAlly contact id of a user: AccessAlly's answer where it can
	 * be asked, else the last link AccessAlly announced.
	 *
	 * @param int $user_id WordPress user.
	 */
	private function contact_of_user( int $user_id ): ?string {
		if ( $this->accessally->can_read_user_contacts() ) {
			$contact = $this->accessally->contact_id_of_user( $user_id );
			if ( null !== $contact ) {
				self::remember_link( $user_id, $contact );
			}
			return $contact;
		}
		$seen = get_user_meta( $user_id, self::CONTACT_META, true );
		return is_string( $seen ) && '' !== $seen ? $seen : null;
	}

	/**
	 * The user this plugin has seen linked to an AccessAlly contact id, while
	 * AccessAlly (where it can be asked) still links them.
	 *
	 * @param string $contact_id AccessAlly CRM contact id.
	 */
	private function user_of_contact( string $contact_id ): ?int {
		if ( '' === $contact_id ) {
			return null;
		}
		$users = get_users(
			array(
				'meta_key'    => self::CONTACT_META, // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_key -- AccessAlly offers no lookup by contact id.
				'meta_value'  => $contact_id, // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_value
				'orderby'     => 'ID',
				'order'       => 'ASC',
				'fields'      => 'ID',
				'number'      => 5,
				'count_total' => false,
			)
		);
		$ask = $this->accessally->can_read_user_contacts();
		foreach ( $users as $user_id ) {
			if ( ! $ask || $this->accessally->contact_id_of_user( (int) $user_id ) === $contact_id ) {
				return (int) $user_id;
			}
		}
		return null;
	}

	/**
	 * Tags a CRM contact through AccessAlly 4.x: only the tags it lacks, then AccessAlly's local copy, then the announcement.
	 *
	 * @param string                $contact_id AccessAlly CRM contact id.
	 * @param array<int,int|string> $ids        Tag ids.
	 * @param int|null              $user_id    Its user, when known.
	 * @throws Allybridge_Storage_Exception When AccessAlly offers no way to tag the contact.
	 */
	private function tag_contact( string $contact_id, array $ids, ?int $user_id ): void {
		if ( ! $this->accessally->can_add_contact_tags() ) {
			throw new Allybridge_Storage_Exception( sprintf( 'this AccessAlly offers no known way to tag contact %s: AccessAllyMembershipUtilities::add_contact_tags is missing and no WordPress user is known for it', $contact_id ) );
		}
		$current = $this->accessally->contact_tag_ids( $contact_id );
		$missing = null === $current ? $ids : self::without( $ids, $current );
		if ( ! $missing ) {
			return;
		}
		$this->accessally->add_contact_tags( $contact_id, $missing );
		if ( null !== $current ) {
			// Only with the full list: this replaces AccessAlly's copy.
			$this->accessally->sync_user_tag_list( $contact_id, array_merge( $current, $missing ) );
		}
		if ( null !== $user_id ) {
			/**
			 * AccessAlly's own action after it updates a user; add_contact_tags does not fire it, so integrations listening to it (WP Fusion) learn of the grant here.
			 *
			 * @param int    $user_id    WordPress user.
			 * @param string $contact_id CRM contact id.
			 */
			do_action( 'accessally_update_user', $user_id, $contact_id ); // phpcs:ignore WordPress.NamingConventions.PrefixAllGlobals.NonPrefixedHooknameFound -- AccessAlly's hook.
		}
	}

	/**
	 * Tags a WordPress user's CRM contact by user id (`AccessAllyAPI::add_tag_by_wp_user_id`), then refreshes AccessAlly's copy.
	 *
	 * @param int                   $user_id    WordPress user.
	 * @param string|null           $contact_id Its AccessAlly contact id, when known.
	 * @param array<int,int|string> $ids        Tag ids.
	 * @throws Allybridge_Storage_Exception When AccessAlly offers no way to tag the user.
	 */
	private function tag_user( int $user_id, ?string $contact_id, array $ids ): void {
		if ( ! $this->accessally->can_tag_users() ) {
			throw new Allybridge_Storage_Exception( sprintf( 'this AccessAlly offers no known way to tag WordPress user %d: neither AccessAllyAPI::add_tag_by_wp_user_id nor (for a user linked to a CRM contact) AccessAllyMembershipUtilities::add_contact_tags is there', $user_id ) );
		}
		$current = null === $contact_id ? null : $this->accessally->contact_tag_ids( $contact_id );
		$current = $current ?? $this->accessally->legacy_user_tag_ids( $user_id );
		$missing = null === $current ? $ids : self::without( $ids, $current );
		if ( ! $missing ) {
			return;
		}
		foreach ( $missing as $id ) {
			$this->accessally->add_tag_by_wp_user_id( $id, $user_id );
		}
		if ( ! $this->accessally->sync_user_info_from_crm( $user_id ) ) {
			$this->accessally->add_legacy_user_tag_ids( $user_id, $missing );
		}
	}

	/**
	 * AccessAlly tag ids of tag names or ids: a tag's exact name, else its id, else its name in any case.
	 * Without a tag list, only ids (digits) are taken. Creating a tag is not known, so an unknown one is an error.
	 *
	 * @param string[] $tags Names or ids.
	 * @return array<int, int|string>
	 * @throws Allybridge_Storage_Exception When a tag is not AccessAlly's.
	 */
	private function tag_ids( array $tags ): array {
		$all     = null;
		$ids     = array();
		$unknown = array();
		foreach ( $tags as $tag ) {
			$tag = trim( (string) $tag );
			if ( '' === $tag ) {
				continue;
			}
			$all = $all ?? $this->accessally->all_tags() ?? false;
			$id  = false === $all ? ( ctype_digit( $tag ) ? (int) $tag : null ) : self::find_tag( $all, $tag );
			if ( null === $id ) {
				$unknown[] = '`' . $tag . '`';
			} elseif ( ! in_array( (string) $id, array_map( 'strval', $ids ), true ) ) {
				$ids[] = $id;
			}
		}
		if ( $unknown ) {
			throw new Allybridge_Storage_Exception(
				sprintf(
					false === $all
						? 'this AccessAlly offers no known way to list its tags, so only tag ids can be applied, not %s'
						: 'AccessAlly has no tag %s: create it in AccessAlly, or name an existing tag (or its id) in the offering\'s access_tags',
					implode( ', ', $unknown )
				)
			);
		}
		return $ids;
	}

	/**
	 * @param array<int, array{id: int|string, name: string}> $all AccessAlly's tags.
	 * @param string                                           $tag Name or id.
	 * @return int|string|null
	 */
	private static function find_tag( array $all, string $tag ) {
		foreach ( $all as $t ) {
			if ( $t['name'] === $tag ) {
				return $t['id'];
			}
		}
		foreach ( $all as $t ) {
			if ( (string) $t['id'] === $tag ) {
				return $t['id'];
			}
		}
		$found = array_values( array_filter( $all, static fn( $t ) => 0 === strcasecmp( $t['name'], $tag ) ) );
		return 1 === count( $found ) ? $found[0]['id'] : null;
	}

	/**
	 * @param array<int,int|string> $ids  Tag ids.
	 * @param array<int,int|string> $have Ids already there.
	 * @return array<int,int|string>
	 */
	private static function without( array $ids, array $have ): array {
		$have = array_map( 'strval', $have );
		return array_values( array_filter( $ids, static fn( $id ) => ! in_array( (string) $id, $have, true ) ) );
	}

	/**
	 * The row id of a contact of our own (`allybridge-<n>`), or null for an AccessAlly contact id.
	 *
	 * @param string $contact_id Contact.
	 */
	private static function local_id( string $contact_id ): ?string {
		return preg_match( '/^' . preg_quote( self::LOCAL_PREFIX, '/' ) . '(\d+)$/', $contact_id, $m ) ? $m[1] : null;
	}
}
