<?php
/**
 * The plugin's own tables: the standalone catalog (offerings, payment
 * options, coupons, orders, CRM contacts, access grants), the webhook
 * subscriptions, the outbox of events and the integration log. Created and
 * upgraded with `dbDelta` by numbered migrations; dropped only by
 * `uninstall.php` when the site owner asked for it.
 *
 * @package allybridge-for-accessally
 */

defined( 'ABSPATH' ) || exit;

/**
 * Table names and migrations.
 */
final class Allybridge_Schema {

	/**
	 * The schema version this code writes; stored in the `allybridge_db_version` option.
	 * 1: every table. 2: the log's `method` column holds a webhook topic (40 characters).
	 */
	const VERSION = 2;

	const TABLES = array( 'offerings', 'payment_options', 'coupons', 'coupon_offerings', 'orders', 'contacts', 'grants', 'webhooks', 'outbox', 'log' );

	/**
	 * A table's full name, with the site's prefix.
	 *
	 * @param string $name One of TABLES.
	 */
	public static function table( string $name ): string {
		global $wpdb;
		return $wpdb->prefix . 'allybridge_' . $name;
	}

	/**
	 * Runs the migrations the stored version has not seen yet.
	 */
	public static function migrate(): void {
		$stored = (int) get_option( 'allybridge_db_version', 0 );
		if ( $stored >= self::VERSION ) {
			return;
		}
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		// dbDelta creates what is missing and alters what changed: the tables below are always the newest version.
		dbDelta( self::tables() );
		update_option( 'allybridge_db_version', self::VERSION, true );
	}

	/**
	 * Drops every table and option of the plugin (uninstall only).
	 */
	public static function drop_everything(): void {
		global $wpdb;
		foreach ( self::TABLES as $name ) {
			$wpdb->query( 'DROP TABLE IF EXISTS ' . self::table( $name ) ); // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- table names are ours.
		}
		foreach ( array( 'allybridge_db_version', 'allybridge_aal_handshake', 'allybridge_webhook_secret', 'allybridge_settings', 'allybridge_next_id' ) as $option ) {
			delete_option( $option );
		}
	}

	/**
	 * Every table as the newest version has it (dbDelta syntax: two spaces after PRIMARY KEY, one field per line).
	 *
	 * @return string[]
	 */
	private static function tables(): array {
		global $wpdb;
		$c = $wpdb->get_charset_collate();
		$t = array();
		foreach ( self::TABLES as $name ) {
			$t[ $name ] = self::table( $name );
		}
		return array(
			"CREATE TABLE {$t['offerings']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  name text NOT NULL,
  description longtext NOT NULL,
  status varchar(20) NOT NULL DEFAULT 'publish',
  quantity bigint(20) NULL,
  order_form_ids text NOT NULL,
  access_tags longtext NOT NULL,
  external_ref varchar(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  created_gmt datetime(6) NOT NULL,
  modified_gmt datetime(6) NOT NULL,
  PRIMARY KEY  (id),
  UNIQUE KEY external_ref (external_ref),
  KEY modified_gmt (modified_gmt)
) $c;",
			"CREATE TABLE {$t['payment_options']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  offering_id bigint(20) unsigned NOT NULL,
  position int(11) NOT NULL DEFAULT 0,
  type varchar(20) NOT NULL,
  amount_minor bigint(20) NOT NULL,
  currency char(3) NOT NULL,
  sku varchar(191) NULL,
  trial_days int(11) NOT NULL DEFAULT 0,
  number_of_payments int(11) NULL,
  interval_unit varchar(10) NULL,
  interval_count int(11) NULL,
  PRIMARY KEY  (id),
  KEY offering_id (offering_id)
) $c;",
			"CREATE TABLE {$t['coupons']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  code varchar(100) NOT NULL,
  amount_minor bigint(20) NOT NULL,
  discount_type varchar(10) NOT NULL,
  currency char(3) NULL,
  date_starts datetime(6) NULL,
  date_expires datetime(6) NULL,
  usage_limit bigint(20) NULL,
  usage_count bigint(20) NOT NULL DEFAULT 0,
  usage_limit_per_user bigint(20) NULL,
  first_payment_only tinyint(1) NOT NULL DEFAULT 0,
  external_ref varchar(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  created_gmt datetime(6) NOT NULL,
  modified_gmt datetime(6) NOT NULL,
  PRIMARY KEY  (id),
  UNIQUE KEY code (code),
  UNIQUE KEY external_ref (external_ref),
  KEY modified_gmt (modified_gmt)
) $c;",
			"CREATE TABLE {$t['coupon_offerings']} (
  coupon_id bigint(20) unsigned NOT NULL,
  offering_id bigint(20) unsigned NOT NULL,
  position int(11) NOT NULL DEFAULT 0,
  PRIMARY KEY  (coupon_id,offering_id),
  KEY offering_id (offering_id)
) $c;",
			"CREATE TABLE {$t['orders']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  status varchar(30) NOT NULL,
  order_form_id bigint(20) unsigned NOT NULL DEFAULT 0,
  email varchar(191) NOT NULL,
  first_name varchar(191) NOT NULL DEFAULT '',
  last_name varchar(191) NOT NULL DEFAULT '',
  crm_contact_id varchar(64) NULL,
  line_items longtext NOT NULL,
  coupon_code varchar(100) NULL,
  subtotal_minor bigint(20) NOT NULL,
  discount_minor bigint(20) NOT NULL,
  total_minor bigint(20) NOT NULL,
  refunded_minor bigint(20) NOT NULL DEFAULT 0,
  currency char(3) NOT NULL,
  payment_method varchar(20) NOT NULL,
  transaction_id varchar(191) NULL,
  created_gmt datetime(6) NOT NULL,
  modified_gmt datetime(6) NOT NULL,
  PRIMARY KEY  (id),
  KEY email (email),
  KEY status (status),
  KEY modified_gmt (modified_gmt)
) $c;",
			"CREATE TABLE {$t['contacts']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  email varchar(191) NOT NULL,
  first_name varchar(191) NOT NULL DEFAULT '',
  last_name varchar(191) NOT NULL DEFAULT '',
  user_id bigint(20) unsigned NULL,
  tags longtext NOT NULL,
  refresh_pending tinyint(1) NOT NULL DEFAULT 0,
  PRIMARY KEY  (id),
  UNIQUE KEY email (email)
) $c;",
			"CREATE TABLE {$t['grants']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  email varchar(191) NOT NULL,
  first_name varchar(191) NOT NULL DEFAULT '',
  last_name varchar(191) NOT NULL DEFAULT '',
  offering_id bigint(20) unsigned NOT NULL,
  source_ref varchar(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  user_id bigint(20) unsigned NOT NULL,
  tags_applied longtext NOT NULL,
  created_gmt datetime(6) NOT NULL,
  PRIMARY KEY  (id),
  UNIQUE KEY source_ref (source_ref)
) $c;",
			"CREATE TABLE {$t['webhooks']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  url text NOT NULL,
  topics text NOT NULL,
  secret text NOT NULL,
  status varchar(10) NOT NULL DEFAULT 'active',
  failures_in_row int(11) NOT NULL DEFAULT 0,
  last_delivery_gmt datetime(6) NULL,
  last_status varchar(40) NULL,
  created_gmt datetime(6) NOT NULL,
  PRIMARY KEY  (id)
) $c;",
			"CREATE TABLE {$t['outbox']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  webhook_id bigint(20) unsigned NOT NULL,
  message_id varchar(64) NOT NULL,
  topic varchar(40) NOT NULL,
  record_id bigint(20) unsigned NOT NULL DEFAULT 0,
  body longtext NOT NULL,
  state varchar(12) NOT NULL DEFAULT 'pending',
  attempts int(11) NOT NULL DEFAULT 0,
  next_attempt_gmt datetime(6) NOT NULL,
  last_status varchar(40) NULL,
  last_error text NULL,
  created_gmt datetime(6) NOT NULL,
  delivered_gmt datetime(6) NULL,
  PRIMARY KEY  (id),
  KEY due (state,next_attempt_gmt),
  KEY webhook_id (webhook_id)
) $c;",
			"CREATE TABLE {$t['log']} (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  at_gmt datetime(6) NOT NULL,
  kind varchar(12) NOT NULL,
  method varchar(40) NOT NULL DEFAULT '',
  route varchar(191) NOT NULL,
  status int(11) NOT NULL,
  record varchar(191) NOT NULL DEFAULT '',
  duration_ms int(11) NOT NULL DEFAULT 0,
  detail text NULL,
  PRIMARY KEY  (id),
  KEY at_gmt (at_gmt),
  KEY record (record)
) $c;",
		);
	}
}
