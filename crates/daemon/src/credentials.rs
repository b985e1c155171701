//! A tenant's credentials in the store: the connection ids they are kept
//! under, storing them (what `allybridge connect` and the daemon's OAuth
//! callback do), reading one back before the configuration's reference,
//! and the store-backed HighLevel token store the OAuth token manager
//! refreshes through. Secrets stay in `secrecy` types and are never
//! logged.

use config::{Config, SecretRef, TenantConfig};
use ghl::auth::{BoxFuture, UserType};
use ghl::{GhlError, TokenPair, TokenStore};
use secrecy::SecretString;
use store::{Credential, CredentialKind, Store, System};

use crate::DaemonError;

/// The connection id of a tenant's account on one system.
pub fn connection_id(tenant: &str, system: System) -> String {
    format!("{tenant}/{}", system.as_str())
}

/// The connection id under which a tenant's `aal_*` handshake is stored.
pub fn handshake_connection_id(tenant: &str) -> String {
    format!("{tenant}/accessally-handshake")
}

/// A credential with nothing but its secret.
fn plain(secret: SecretString) -> Credential {
    Credential {
        secret,
        refresh_secret: None,
        expires_at: None,
        scopes: Vec::new(),
    }
}

/// Stores tenant `t`'s HighLevel private integration token encrypted,
/// creating the connection row for its location if needed.
pub async fn store_private_token(
    store: &Store,
    t: &TenantConfig,
    token: SecretString,
) -> Result<(), store::StoreError> {
    let connection = connection_id(&t.name, System::HighLevel);
    store
        .upsert_connection(&connection, System::HighLevel, &t.ghl.location_id, &t.name)
        .await?;
    store
        .save_credential(
            &connection,
            CredentialKind::HighLevelPrivateToken,
            &plain(token),
        )
        .await
}

/// Stores one AccessAlly secret of tenant `t` (application password,
/// handshake, webhook secret) encrypted under `connection`, creating the
/// connection row for the site if needed.
pub async fn store_accessally_secret(
    store: &Store,
    connection: &str,
    t: &TenantConfig,
    kind: CredentialKind,
    secret: SecretString,
) -> Result<(), store::StoreError> {
    store
        .upsert_connection(
            connection,
            System::AccessAlly,
            t.accessally.site_url.as_str(),
            &t.name,
        )
        .await?;
    store
        .save_credential(connection, kind, &plain(secret))
        .await
}

/// Stores tenant `t`'s AccessAlly application password and, when given,
/// its `aal_*` handshake.
pub async fn store_accessally_credentials(
    store: &Store,
    t: &TenantConfig,
    app_password: SecretString,
    handshake: Option<SecretString>,
) -> Result<(), store::StoreError> {
    store_accessally_secret(
        store,
        &connection_id(&t.name, System::AccessAlly),
        t,
        CredentialKind::AccessAllyAppPassword,
        app_password,
    )
    .await?;
    if let Some(handshake) = handshake {
        store_accessally_secret(
            store,
            &handshake_connection_id(&t.name),
            t,
            CredentialKind::AccessAllyAppPassword,
            handshake,
        )
        .await?;
    }
    Ok(())
}

/// A secret from the store, else from the configuration's reference.
pub(crate) async fn secret_from(
    config: &Config,
    store: &Store,
    connection: &str,
    kind: CredentialKind,
    reference: Option<&SecretRef>,
    what: &str,
) -> Result<Option<SecretString>, DaemonError> {
    if let Some(c) = store
        .credential(connection, kind)
        .await
        .map_err(DaemonError::store(format!("read the stored {what}")))?
    {
        return Ok(Some(c.secret));
    }
    match reference {
        Some(r) => Ok(Some(config.secret(r).map_err(DaemonError::secret(what))?)),
        None => Ok(None),
    }
}

/// The `aal_*` handshake of a tenant: the stored one, else
/// `[tenant.accessally] handshake`; `None` when neither has one (the
/// `aal_*` commands then cannot be sent).
pub async fn handshake(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
) -> Result<Option<SecretString>, DaemonError> {
    secret_from(
        config,
        store,
        &handshake_connection_id(&tenant.name),
        CredentialKind::AccessAllyAppPassword,
        tenant.accessally.handshake.as_ref(),
        "the AccessAlly aal_* handshake",
    )
    .await
}

/// HighLevel OAuth token pairs kept encrypted in the store, as
/// `CredentialKind::HighLevelOAuth` of the tenant's HighLevel connection.
pub struct StoreTokenStore {
    store: Store,
    /// (location id, connection id).
    connections: Vec<(String, String)>,
}

impl StoreTokenStore {
    pub fn new(store: Store, connections: Vec<(String, String)>) -> Self {
        Self { store, connections }
    }

    fn connection_for(&self, key: &str) -> Result<&str, GhlError> {
        self.connections
            .iter()
            .find(|(location, _)| location == key)
            .map(|(_, id)| id.as_str())
            .ok_or_else(|| {
                GhlError::TokenStore(format!(
                    "location {key} is not the location_id of any tenant in the configuration"
                ))
            })
    }
}

impl TokenStore for StoreTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<TokenPair>, GhlError>> {
        Box::pin(async move {
            let id = self.connection_for(key)?;
            let credential = self
                .store
                .credential(id, CredentialKind::HighLevelOAuth)
                .await
                .map_err(|e| GhlError::TokenStore(e.to_string()))?;
            Ok(credential.map(|c| TokenPair {
                access_token: c.secret,
                refresh_token: c.refresh_secret,
                expires_at: c.expires_at,
                scopes: c.scopes.into_iter().collect(),
                user_type: UserType::Location,
                location_id: Some(key.to_string()),
                company_id: None,
                minted_from: None,
            }))
        })
    }

    fn save<'a>(&'a self, key: &'a str, pair: TokenPair) -> BoxFuture<'a, Result<(), GhlError>> {
        Box::pin(async move {
            let id = self.connection_for(key)?;
            self.store
                .upsert_connection(id, System::HighLevel, key, id)
                .await
                .map_err(|e| GhlError::TokenStore(e.to_string()))?;
            let credential = Credential {
                secret: pair.access_token,
                refresh_secret: pair.refresh_token,
                expires_at: pair.expires_at,
                scopes: pair.scopes.into_iter().collect(),
            };
            self.store
                .save_credential(id, CredentialKind::HighLevelOAuth, &credential)
                .await
                .map_err(|e| GhlError::TokenStore(e.to_string()))
        })
    }
}
