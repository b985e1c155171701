<?php
/**
 * Every call this plugin makes into AccessAlly's own PHP, in one place.
 * AccessAlly publishes no PHP API: each class, method, constant, option and
 * user meta used here was seen in public code that works with AccessAlly
 * (WP Fusion's AccessAlly integration, AccessAlly's own course-migration
 * plugins, ProgressAlly), as UNKNOWNS.md beside this file lists. Each call is
 * guarded by class_exists/method_exists (defined() for a constant) and
 * answers null or false when this AccessAlly has no such thing, so that the
 * caller takes its fallback; an exception or a PHP error thrown inside
 * AccessAlly becomes an Allybridge_Storage_Exception, which rolls the write
 * back and answers a retryable 500.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Guarded access to AccessAlly's internals.
 */
final class Allybridge_AccessAlly_Internals {

	/** User meta of a user's AccessAlly tag ids before AccessAlly 4.0 (`AccessAllyUserPermission::WP_USER_TAG_IDS`). */
	const LEGACY_TAG_META = '_accessally_user_tag_ids';

	/** Option of AccessAlly's CRM settings; `system` names the CRM. */
	const API_SETTINGS_OPTION = '_accessally_setting_api';

	/** Before 4.0, the option holding the tag list, by CRM `system` (lower case): the class and constant naming it. */
	const LEGACY_TAG_OPTIONS = array(
		'drip'            => array( 'AccessAllyDripUtilities', 'DRIP_TAG_OPTION_KEY' ),
		'ontraport'       => array( 'AccessAllyOntraportUtilities', 'ONTRAPORT_TAG_OPTION_KEY' ),
		'infusionsoft'    => array( 'AccessAllyInfusionUtilities', 'INFUSIONSOFT_TAG_OPTION_KEY' ),
		'active-campaign' => array( 'AccessAllyActiveCampaignUtilities', 'ACTIVECAMPAIGN_TAG_OPTION_KEY' ),
		'convertkit'      => array( 'AccessAllyConvertkitUtilities', 'CONVERTKIT_TAG_OPTION_KEY' ),
	);

	/** Every static method this class may call, for probe(). */
	const METHODS = array(
		array( 'AccessAllyUserPermission', 'get_user_contact_id' ),
		array( 'AccessAllyAPI', 'get_crm_contact_id' ),
		array( 'AccessAllyMembershipUtilities', 'get_all_tags' ),
		array( 'AccessAllyAPI', 'get_all_tags' ),
		array( 'AccessAllyMembershipUtilities', 'get_contact_tags' ),
		array( 'AccessAllyMembershipUtilities', 'add_contact_tags' ),
		array( 'AccessAllyUserTags', 'sync_user_tag_list' ),
		array( 'AccessAllyAPI', 'add_tag_by_wp_user_id' ),
		array( 'AccessAllyAPI', 'sync_user_info_from_crm' ),
		array( 'AccessAllySettingSetup', 'get_api_settings' ),
	);

	/**
	 * Whether `$class::$method()` can be called here.
	 *
	 * @param string $class  AccessAlly class.
	 * @param string $method Static method.
	 */
	public static function can( string $class, string $method ): bool {
		return class_exists( $class ) && method_exists( $class, $method ) && is_callable( array( $class, $method ) );
	}

	/**
	 * What this AccessAlly offers of what the plugin uses: its version, its
	 * CRM and each method (true when present). For a site check:
	 * `wp eval 'var_export( Allybridge_AccessAlly::probe() );'`.
	 *
	 * @return array{version: ?string, crm_system: ?string, tags_in_usermeta: bool, methods: array<string,bool>, wizard_product: bool}
	 */
	public function probe(): array {
		$methods = array();
		foreach ( self::METHODS as list( $class, $method ) ) {
			$methods[ $class . '::' . $method ] = self::can( $class, $method );
		}
		return array(
			'version'          => $this->version(),
			'crm_system'       => $this->crm_system(),
			'tags_in_usermeta' => $this->tags_in_usermeta(),
			'methods'          => $methods,
			'wizard_product'   => self::can( 'AccessAllyWizardProduct', 'merge_default_settings' ) && self::can( 'AccessAllyUtilities', 'set_incrementing_settings' ),
		);
	}

	/**
	 * `AccessAlly::VERSION`, or null.
	 */
	public function version(): ?string {
		if ( ! class_exists( 'AccessAlly' ) || ! defined( 'AccessAlly::VERSION' ) ) {
			return null;
		}
		$version = constant( 'AccessAlly::VERSION' );
		return is_scalar( $version ) ? (string) $version : null;
	}

	/**
	 * Whether this AccessAlly keeps user tags in user meta (before 4.0; 4.0 and later use their own table).
	 */
	public function tags_in_usermeta(): bool {
		$version = $this->version();
		return null !== $version && version_compare( $version, '4.0.0', '<' );
	}

	/**
	 * The CRM AccessAlly is connected to (`drip`, `Ontraport`, `Infusionsoft`, `active-campaign`, `convertkit`…), or null.
	 */
	public function crm_system(): ?string {
		$settings = null;
		if ( self::can( 'AccessAllySettingSetup', 'get_api_settings' ) ) {
			$settings = self::call( 'AccessAllySettingSetup', 'get_api_settings' );
		}
		if ( ! is_array( $settings ) || ! isset( $settings['system'] ) ) {
			$settings = get_option( self::API_SETTINGS_OPTION, array() );
		}
		if ( is_array( $settings ) && isset( $settings['system'] ) && is_string( $settings['system'] ) && '' !== $settings['system'] ) {
			return $settings['system'];
		}
		return null;
	}

	/**
	 * Whether AccessAlly can tell a WordPress user's CRM contact id.
	 */
	public function can_read_user_contacts(): bool {
		return self::can( 'AccessAllyUserPermission', 'get_user_contact_id' ) || self::can( 'AccessAllyAPI', 'get_crm_contact_id' );
	}

	/**
	 * The CRM contact id AccessAlly links to a WordPress user, or null (none, or no way to ask).
	 *
	 * @param int $user_id WordPress user.
	 */
	public function contact_id_of_user( int $user_id ): ?string {
		foreach ( array( array( 'AccessAllyUserPermission', 'get_user_contact_id' ), array( 'AccessAllyAPI', 'get_crm_contact_id' ) ) as list( $class, $method ) ) {
			if ( self::can( $class, $method ) ) {
				return self::contact_id( self::call( $class, $method, $user_id ) );
			}
		}
		return null;
	}

	/**
	 * AccessAlly's tags as `{id, name}` (the id as AccessAlly gives it), or null when there is no known way to list them.
	 *
	 * @return array<int, array{id: int|string, name: string}>|null
	 */
	public function all_tags(): ?array {
		$raw = null;
		if ( self::can( 'AccessAllyMembershipUtilities', 'get_all_tags' ) ) {
			$raw = self::call( 'AccessAllyMembershipUtilities', 'get_all_tags' );
		} elseif ( self::can( 'AccessAllyAPI', 'get_all_tags' ) ) {
			$raw = self::call( 'AccessAllyAPI', 'get_all_tags' );
		} else {
			$option = $this->legacy_tag_option();
			if ( null !== $option ) {
				$raw = get_option( $option, null );
			}
		}
		if ( ! is_array( $raw ) ) {
			return null;
		}
		$tags = array();
		foreach ( $raw as $tag ) {
			$tag = is_object( $tag ) ? get_object_vars( $tag ) : $tag;
			if ( is_array( $tag ) && isset( $tag['Id'], $tag['TagName'] ) && is_scalar( $tag['Id'] ) && is_scalar( $tag['TagName'] ) ) {
				$tags[] = array(
					'id'   => is_int( $tag['Id'] ) ? $tag['Id'] : (string) $tag['Id'],
					'name' => (string) $tag['TagName'],
				);
			}
		}
		return $tags;
	}

	/**
	 * The tag ids a CRM contact has, as AccessAlly knows them, or null when
	 * there is no known way to ask or the answer is not a list (then the
	 * contact's full list is not known, and is never written back).
	 *
	 * @param string $contact_id CRM contact.
	 * @return array<int, int|string>|null
	 */
	public function contact_tag_ids( string $contact_id ): ?array {
		if ( ! self::can( 'AccessAllyMembershipUtilities', 'get_contact_tags' ) ) {
			return null;
		}
		$ids = self::call( 'AccessAllyMembershipUtilities', 'get_contact_tags', $contact_id );
		return is_array( $ids ) ? array_values( array_filter( $ids, 'is_scalar' ) ) : null;
	}

	public function can_add_contact_tags(): bool {
		return self::can( 'AccessAllyMembershipUtilities', 'add_contact_tags' );
	}

	/**
	 * Applies tags to a CRM contact (AccessAlly 4.0 and later).
	 *
	 * @param string                $contact_id CRM contact.
	 * @param array<int,int|string> $tag_ids    Tag ids.
	 * @return bool False when this AccessAlly has no such method.
	 */
	public function add_contact_tags( string $contact_id, array $tag_ids ): bool {
		if ( ! $this->can_add_contact_tags() ) {
			return false;
		}
		self::call( 'AccessAllyMembershipUtilities', 'add_contact_tags', $contact_id, array_values( $tag_ids ) );
		return true;
	}

	/**
	 * Refreshes AccessAlly's local copy of a contact's tags (what WP Fusion does after add_contact_tags).
	 *
	 * @param string                $contact_id CRM contact.
	 * @param array<int,int|string> $tag_ids    All the contact's tag ids.
	 * @return bool False when this AccessAlly has no such method or no CRM system is set.
	 */
	public function sync_user_tag_list( string $contact_id, array $tag_ids ): bool {
		$system = $this->crm_system();
		if ( null === $system || ! self::can( 'AccessAllyUserTags', 'sync_user_tag_list' ) ) {
			return false;
		}
		self::call( 'AccessAllyUserTags', 'sync_user_tag_list', $contact_id, array_values( $tag_ids ), $system );
		return true;
	}

	public function can_tag_users(): bool {
		return self::can( 'AccessAllyAPI', 'add_tag_by_wp_user_id' );
	}

	/**
	 * Applies one tag to a WordPress user's CRM contact.
	 *
	 * @param int|string $tag_id  Tag id.
	 * @param int        $user_id WordPress user.
	 * @return bool False when this AccessAlly has no such method.
	 * @throws Allybridge_Storage_Exception When AccessAlly says it failed.
	 */
	public function add_tag_by_wp_user_id( $tag_id, int $user_id ): bool {
		if ( ! $this->can_tag_users() ) {
			return false;
		}
		$result = self::call( 'AccessAllyAPI', 'add_tag_by_wp_user_id', $tag_id, $user_id );
		$status = is_array( $result ) && isset( $result['status'] ) && is_scalar( $result['status'] ) ? strtolower( (string) $result['status'] ) : null;
		if ( false === $result || 'error' === $status ) {
			$detail = is_array( $result ) && isset( $result['message'] ) && is_scalar( $result['message'] ) ? ': ' . $result['message'] : '';
			throw new Allybridge_Storage_Exception( sprintf( 'AccessAllyAPI::add_tag_by_wp_user_id refused tag %s for user %d%s', (string) $tag_id, $user_id, $detail ) );
		}
		return true;
	}

	/**
	 * Pulls a user's details and tags from the CRM into AccessAlly (what `aal_updateuser` asks for).
	 *
	 * @param int $user_id WordPress user.
	 * @return bool False when this AccessAlly has no such method.
	 */
	public function sync_user_info_from_crm( int $user_id ): bool {
		if ( ! self::can( 'AccessAllyAPI', 'sync_user_info_from_crm' ) ) {
			return false;
		}
		self::call( 'AccessAllyAPI', 'sync_user_info_from_crm', $user_id );
		return true;
	}

	/**
	 * Before 4.0: the tag ids AccessAlly keeps in the user's meta, or null when it keeps none for this user.
	 *
	 * @param int $user_id WordPress user.
	 * @return array<int, int|string>|null
	 */
	public function legacy_user_tag_ids( int $user_id ): ?array {
		if ( ! $this->tags_in_usermeta() ) {
			return null;
		}
		$meta = get_user_meta( $user_id, $this->legacy_tag_meta_key(), true );
		if ( ! is_array( $meta ) || ! isset( $meta['ids'] ) || ! is_array( $meta['ids'] ) ) {
			return null;
		}
		return array_values( $meta['ids'] );
	}

	/**
	 * Before 4.0: adds tag ids to the user's meta and AccessAlly's cached copy of it, as WP Fusion does.
	 * Only where AccessAlly already keeps that meta for the user: its other keys are not known, so it is never created.
	 *
	 * @param int                   $user_id WordPress user.
	 * @param array<int,int|string> $tag_ids Tag ids to add.
	 * @return bool Whether the meta was there to update.
	 */
	public function add_legacy_user_tag_ids( int $user_id, array $tag_ids ): bool {
		if ( ! $this->tags_in_usermeta() ) {
			return false;
		}
		$key  = $this->legacy_tag_meta_key();
		$meta = get_user_meta( $user_id, $key, true );
		if ( ! is_array( $meta ) || ! isset( $meta['ids'] ) || ! is_array( $meta['ids'] ) ) {
			return false;
		}
		foreach ( $tag_ids as $id ) {
			if ( ! in_array( (string) $id, array_map( 'strval', $meta['ids'] ), true ) ) {
				$meta['ids'][] = $id;
			}
		}
		update_user_meta( $user_id, $key, $meta );
		if ( defined( 'AccessAlly::CACHE_PERIOD' ) ) {
			wp_cache_set( $key, $meta, (string) $user_id, time() + (int) constant( 'AccessAlly::CACHE_PERIOD' ) );
		}
		return true;
	}

	private function legacy_tag_meta_key(): string {
		if ( class_exists( 'AccessAllyUserPermission' ) && defined( 'AccessAllyUserPermission::WP_USER_TAG_IDS' ) ) {
			$key = constant( 'AccessAllyUserPermission::WP_USER_TAG_IDS' );
			if ( is_string( $key ) && '' !== $key ) {
				return $key;
			}
		}
		return self::LEGACY_TAG_META;
	}

	/**
	 * Before 4.0: the option holding the tag list of the connected CRM, or null.
	 */
	private function legacy_tag_option(): ?string {
		$system = $this->crm_system();
		if ( null === $system ) {
			return null;
		}
		$where = self::LEGACY_TAG_OPTIONS[ strtolower( $system ) ] ?? null;
		if ( null === $where || ! class_exists( $where[0] ) || ! defined( $where[0] . '::' . $where[1] ) ) {
			return null;
		}
		$option = constant( $where[0] . '::' . $where[1] );
		return is_string( $option ) && '' !== $option ? $option : null;
	}

	/**
	 * A contact id as AccessAlly returned it, or null for "none".
	 *
	 * @param mixed $value Returned value.
	 */
	private static function contact_id( $value ): ?string {
		if ( ! is_scalar( $value ) || is_bool( $value ) ) {
			return null;
		}
		$id = trim( (string) $value );
		return ( '' === $id || '0' === $id ) ? null : $id;
	}

	/**
	 * Calls an AccessAlly static method; whatever it throws becomes an Allybridge_Storage_Exception.
	 *
	 * @param string $class  Class.
	 * @param string $method Method.
	 * @param mixed  ...$args Arguments.
	 * @return mixed
	 * @throws Allybridge_Storage_Exception When AccessAlly throws.
	 */
	private static function call( string $class, string $method, ...$args ) {
		try {
			return call_user_func_array( array( $class, $method ), $args );
		} catch ( Allybridge_Storage_Exception $e ) {
			throw $e;
		} catch ( Throwable $e ) {
			throw new Allybridge_Storage_Exception( sprintf( '%s::%s failed: %s', $class, $method, $e->getMessage() ), 0, $e );
		}
	}
}
