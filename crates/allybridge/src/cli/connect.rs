//! `allybridge connect`: stores a tenant's credentials encrypted in the
//! store. `ghl --token` reads a private integration token (stdin or an
//! environment variable), tries it with one read and stores it only if
//! HighLevel accepts it; `ghl --oauth` prints the consent URL with the
//! least scopes for the flows' modes (as the admin page may have switched
//! them: a flow switched to write asks for its write scopes), catches the
//! redirect on a local callback, exchanges the code and stores the token
//! pair. `accessally`
//! reads the application password (and optionally the handshake), tests
//! them with a read call, and stores them only if the site accepts them.
//! Secrets are never printed.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use config::{GhlAuth, TenantConfig};
use futures::TryStreamExt;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::context::{self, ConfigArgs};
use super::probe::{self, Failure};
use daemon::ClientTuning;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub system: ConnectSystem,
}

#[derive(Debug, Subcommand)]
pub enum ConnectSystem {
    /// Connect a HighLevel location: --token (private integration token) or --oauth.
    Ghl {
        #[arg(long)]
        tenant: String,
        /// Store a private integration token read from stdin (or --token-env).
        #[arg(long, conflicts_with = "oauth")]
        token: bool,
        /// Read the token from this environment variable instead of stdin.
        #[arg(long, requires = "token")]
        token_env: Option<String>,
        /// Authorise the marketplace app in a browser and store the token pair.
        #[arg(long)]
        oauth: bool,
        /// Where the local OAuth callback listens (the app's redirect URI must point here).
        #[arg(long, default_value = "127.0.0.1:8941")]
        callback_addr: std::net::SocketAddr,
    },
    /// Connect an AccessAlly site: application password (stdin or --password-env), tested before storing.
    Accessally {
        #[arg(long)]
        tenant: String,
        /// Read the application password from this environment variable instead of stdin.
        #[arg(long)]
        password_env: Option<String>,
        /// Read the aal_* handshake from this environment variable and store it too.
        #[arg(long)]
        handshake_env: Option<String>,
    },
}

/// Waits for one `GET /…?code=…` on `listener`; answers the browser and returns the code.
async fn catch_code(listener: tokio::net::TcpListener, state: &str) -> anyhow::Result<String> {
    loop {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0u8; 8192];
        let n = socket.read(&mut buf).await.unwrap_or(0);
        let request = String::from_utf8_lossy(&buf[..n]).to_string();
        let target = request.split_whitespace().nth(1).unwrap_or("/").to_string();
        let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (status, message) = match (get("code"), get("state")) {
            (Some(code), Some(s)) if s == state => {
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nallybridge is connected; you can close this tab.\n")
                    .await;
                return Ok(code);
            }
            (Some(_), _) => ("400 Bad Request", "the state does not match; start again"),
            _ => ("404 Not Found", "waiting for the OAuth redirect"),
        };
        let _ = socket
            .write_all(
                format!("HTTP/1.1 {status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n{message}\n")
                    .as_bytes(),
            )
            .await;
    }
}

/// What one read with a token showed, when HighLevel accepted it.
struct Accepted {
    /// The scope of that read, when the token is not granted it.
    lacking: Option<String>,
}

/// Tries a private integration token with one read (the product list of
/// the tenant's location) before anything is stored: a token HighLevel
/// refuses, or a HighLevel that cannot be reached, is an error that says
/// nothing was stored.
async fn try_token(t: &TenantConfig, token: SecretString) -> anyhow::Result<Accepted> {
    let client = daemon::tenants::ghl_client_with_token(t, token, &probe::tuning())?;
    let scope = "products.readonly";
    match probe::scope_granted(&client, scope).await {
        Ok(true) => Ok(Accepted { lacking: None }),
        // Refused for the scope only: HighLevel knows the token.
        Ok(false) => Ok(Accepted {
            lacking: Some(scope.to_string()),
        }),
        Err(Failure::Unreachable(m)) => bail!(
            "could not reach HighLevel at {} ({m}); check [tenant.ghl] base_url and the network; nothing was stored",
            t.ghl.base_url
        ),
        Err(Failure::Unauthenticated(m)) => bail!(
            "HighLevel refused the token for location {} ({m}); check that it is the private integration token of that location, copied whole; nothing was stored",
            t.ghl.location_id
        ),
        Err(_) => bail!(
            "HighLevel answered the token's test read with an error; try again later; nothing was stored"
        ),
    }
}

pub async fn run(args: ConnectArgs) -> anyhow::Result<ExitCode> {
    let config = context::load_config(&args.config.config)?;
    let store = daemon::open_store(&config).await?;
    match args.system {
        ConnectSystem::Ghl {
            tenant,
            token,
            token_env,
            oauth,
            callback_addr,
        } => {
            let t = daemon::tenants::selected(&config, Some(&tenant))?[0];
            if token {
                let secret = context::read_secret(
                    token_env.as_deref(),
                    "the HighLevel private integration token",
                )?;
                let accepted = try_token(t, secret.clone()).await?;
                daemon::credentials::store_private_token(&store, t, secret).await?;
                println!(
                    "HighLevel accepted the private integration token of tenant `{}`; stored it encrypted{}.",
                    t.name,
                    if t.ghl.private_token.is_some() {
                        " (it is used instead of [tenant.ghl] private_token)"
                    } else {
                        ""
                    }
                );
                if let Some(scope) = accepted.lacking {
                    println!(
                        "It is not granted `{scope}`: add the scopes the flows need to the private integration in HighLevel (`allybridge check` lists them)."
                    );
                }
                if t.ghl.auth == GhlAuth::PrivateToken {
                    println!("Next: `allybridge check`.");
                } else {
                    println!(
                        "Tenant `{}` uses OAuth: set [tenant.ghl] auth = \"private_token\" in the configuration to use this token, then run `allybridge check`.",
                        t.name
                    );
                }
            } else if oauth {
                let redirect = format!("http://{callback_addr}/oauth/callback");
                let app = daemon::tenants::oauth_app(&config, t, redirect)?;
                let modes =
                    daemon::tenants::effective_modes(&context::mode_file(&args.config).load()?, t);
                let scopes = ghl::required_scopes(&modes);
                let state = format!("{:016x}", rand::random::<u64>());
                let listener = tokio::net::TcpListener::bind(callback_addr)
                    .await
                    .with_context(|| format!("could not listen on {callback_addr} for the OAuth callback; choose another with --callback-addr"))?;
                println!("Open this URL, choose the location and approve:");
                println!("{}", app.authorize_url(&scopes, &state));
                eprintln!("Waiting for the redirect on http://{callback_addr}/oauth/callback …");
                let code = catch_code(listener, &state).await?;
                let manager = daemon::tenants::oauth_manager(
                    &store,
                    t,
                    app,
                    transport::HttpConfig::default().request_timeout,
                )?;
                let pair = manager.exchange_code(&code).await.context(
                    "the code exchange failed; check client_id/client_secret and try again",
                )?;
                println!(
                    "Connected tenant `{}` to location {} with scopes: {}",
                    t.name,
                    pair.location_id.as_deref().unwrap_or("?"),
                    pair.scopes.iter().cloned().collect::<Vec<_>>().join(" ")
                );
            } else {
                bail!("choose --token (private integration token) or --oauth");
            }
        }
        ConnectSystem::Accessally {
            tenant,
            password_env,
            handshake_env,
        } => {
            let t = daemon::tenants::selected(&config, Some(&tenant))?[0];
            let password = context::read_secret(
                password_env.as_deref(),
                "the AccessAlly application password",
            )?;
            let handshake = handshake_env
                .as_deref()
                .map(|v| context::read_secret(Some(v), "the aal_* handshake"))
                .transpose()?;
            let client = daemon::tenants::accessally_client_with(
                t,
                password.clone(),
                handshake.clone(),
                &ClientTuning::default(),
            )?;
            client
                .offerings(accessally::ListQuery::default().per_page(1))
                .try_next()
                .await
                .map_err(|e| match e.status() {
                    Some(401) | Some(403) => anyhow::anyhow!(
                        "AccessAlly refused the application password for user `{}` ({e}); check the user and password; nothing was stored",
                        t.accessally.user
                    ),
                    _ => anyhow::anyhow!(
                        "could not read from AccessAlly at {} ({e}); check site_url and that the allybridge plugin is active; nothing was stored",
                        t.accessally.site_url
                    ),
                })?;
            daemon::credentials::store_accessally_credentials(&store, t, password, handshake)
                .await?;
            println!(
                "AccessAlly accepted the credentials; stored them encrypted for tenant `{}`.",
                t.name
            );
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
