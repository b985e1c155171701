//! Helpers shared by allybridge's reliability tests (`tests/`): the real
//! `allybridge` binary run against both simulators started in the test
//! process (a temporary folder with `allybridge init`'s key, a configuration
//! whose credentials reach the binary only through environment variables,
//! and a store file that outlives each process), a fresh PostgreSQL
//! database per test, the request-log checks (one create call per created
//! record) and the secret scan. The crate has no product code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use sim_kit::{Faults, RunningSim, Seed};
use sqlx::Connection;

/// Where the PostgreSQL server for the tests is (trust auth).
pub const POSTGRES_URL_ENV: &str = "ALLYBRIDGE_TEST_POSTGRES_URL";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Whether the long versions of the tests run (`ALLYBRIDGE_SOAK=1`).
pub fn soak() -> bool {
    std::env::var("ALLYBRIDGE_SOAK").is_ok_and(|v| v == "1")
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// Every credential of both simulators: what must never be logged or stored
/// in plain text. Each webhook secret is also listed without its `whsec_`
/// prefix (the base64 key itself).
pub fn secrets_of(ghl_info: &Value, aa_info: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["token", "agency_token", "client_secret"] {
        out.push(s(ghl_info, k));
    }
    if let Some(tokens) = ghl_info["tokens"].as_object() {
        out.extend(tokens.values().filter_map(|t| t.as_str().map(String::from)));
    }
    for k in ["app_password", "handshake", "webhook_secret"] {
        out.push(s(aa_info, k));
    }
    if let Some(key) = s(aa_info, "webhook_secret").strip_prefix("whsec_") {
        out.push(key.to_string());
    }
    out.retain(|x| x.len() >= 8);
    out.sort();
    out.dedup();
    out
}

/// The secrets of `secrets` found in `haystack` (by position in the list).
pub fn hits(haystack: &[u8], secrets: &[String]) -> Vec<usize> {
    secrets
        .iter()
        .enumerate()
        .filter(|(_, secret)| {
            haystack
                .windows(secret.len())
                .any(|w| w == secret.as_bytes())
        })
        .map(|(i, _)| i)
        .collect()
}

/// The `allybridge` binary of this workspace, built first (a no-op when it
/// is up to date) so the tests always run the current source.
/// `ALLYBRIDGE_BIN` points at another build instead.
pub fn allybridge_bin() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("ALLYBRIDGE_BIN") {
        return Ok(PathBuf::from(p));
    }
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            // target/<profile>/deps/<test> → target/<profile>/allybridge
            let dir = exe
                .parent()
                .and_then(Path::parent)
                .ok_or("no target folder")?
                .to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let target_dir = dir.parent().ok_or("no target folder")?;
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-q", "-p", "allybridge", "--bin", "allybridge"])
                .env("CARGO_TARGET_DIR", target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd.status().map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("cargo build -p allybridge failed: {status}"));
            }
            Ok(dir.join("allybridge"))
        })
        .clone()
        .map_err(|e| anyhow::anyhow!(e))
}

/// Both simulators on free ports, and a folder with the binary's key and
/// configuration.
pub struct Harness {
    pub ghl: RunningSim,
    pub ghl_state: std::sync::Arc<sim_ghl::Sim>,
    pub aa: RunningSim,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub bin: PathBuf,
}

impl Harness {
    /// Starts the simulators (seed `seed`, optional faults), runs
    /// `allybridge init` and writes a configuration for them; `store_url`
    /// replaces the default SQLite file in the folder.
    pub async fn start(
        seed: Seed,
        faults: Faults,
        store_url: Option<&str>,
    ) -> anyhow::Result<Harness> {
        Self::start_with(allybridge_bin()?, seed, faults, store_url).await
    }

    /// Like [`Harness::start`], running the `allybridge` binary at `bin`.
    pub async fn start_with(
        bin: PathBuf,
        seed: Seed,
        faults: Faults,
        store_url: Option<&str>,
    ) -> anyhow::Result<Harness> {
        let (ghl, ghl_state) = sim_ghl::start(sim_ghl::SimConfig {
            seed,
            faults: faults.clone(),
            rate_limits: sim_ghl::auth::RateLimits::unlimited(),
            webhook_retry_spacing: Duration::from_millis(50),
            ..sim_ghl::SimConfig::default()
        })
        .await?;
        let aa = sim_accessally::start(sim_accessally::SimConfig {
            seed,
            faults,
            ..sim_accessally::SimConfig::for_tests()
        })
        .await?;
        let h = Harness {
            ghl,
            ghl_state,
            aa,
            dir: tempfile::tempdir()?,
            http: reqwest::Client::new(),
            bin,
        };
        let out = h.command(&["init"]).output()?;
        if !out.status.success() {
            bail!("init: {}", String::from_utf8_lossy(&out.stderr));
        }
        h.write_config(store_url)?;
        Ok(h)
    }

    /// The one tenant, every flow writing, its credentials from `ABT_*`
    /// variables; HighLevel's webhooks verified with the simulator's key.
    fn tenant(&self) -> test_support::Tenant<'_> {
        test_support::Tenant {
            name: "main",
            ghl: &self.ghl,
            aa: &self.aa,
            auth: test_support::GhlAuth::PrivateToken,
            env_prefix: "ABT",
            mode: "write",
            ghl_webhook_key: true,
        }
    }

    fn write_config(&self, store_url: Option<&str>) -> anyhow::Result<()> {
        let store = match store_url {
            Some(u) => format!("[store]\nurl = \"{u}\"\nkey_file = \"allybridge.key\"\n"),
            None => String::new(),
        };
        let config = format!("{store}\n[engine]\nworkers = 4\n{}", self.tenant().toml());
        std::fs::write(self.dir.path().join("allybridge.toml"), config)
            .context("writing the configuration")
    }

    /// The binary with `args`, in the folder, with the credentials in its
    /// environment and fast pollers (1 s) and reconciler (2 s).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("ALLYBRIDGE_MASTER_KEY")
            .env_remove("ALLYBRIDGE_CONFIG")
            .env("ALLYBRIDGE_LOG", "warn")
            .envs(self.tenant().env())
            .env("ALLYBRIDGE_ENGINE_COUPON_POLL_INTERVAL", "1s")
            .env("ALLYBRIDGE_ENGINE_PRODUCT_POLL_INTERVAL", "1s")
            .env("ALLYBRIDGE_ENGINE_ORDER_POLL_INTERVAL", "1s")
            .env("ALLYBRIDGE_ENGINE_RECONCILE_INTERVAL", "2s")
            .stdin(Stdio::null());
        cmd
    }

    /// Makes the daemon listen on `port` every time, as its public URL:
    /// the AccessAlly subscription it makes once stays valid across
    /// restarts, and HighLevel's deliveries go there.
    pub async fn fix_port(&self, port: u16) -> anyhow::Result<()> {
        let path = self.dir.path().join("allybridge.toml");
        let mut config = std::fs::read_to_string(&path)?;
        config.push_str(&format!(
            "\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n"
        ));
        std::fs::write(&path, config)?;
        self.control(
            "ghl",
            "PUT",
            "/__sim/webhooks",
            Some(serde_json::json!({"urls": [format!("http://127.0.0.1:{port}/webhooks/ghl")]})),
        )
        .await?;
        Ok(())
    }

    /// Starts `allybridge serve` (on `[server] listen`, see [`Harness::fix_port`]);
    /// its output goes to `log` (appended) so a kill never blocks on a full pipe.
    pub fn spawn_serve(&self, log: &Path) -> anyhow::Result<Child> {
        self.spawn_serve_on(log, None)
    }

    /// Like [`Harness::spawn_serve`], listening on `listen` when given.
    pub fn spawn_serve_on(&self, log: &Path, listen: Option<&str>) -> anyhow::Result<Child> {
        let mut args = vec!["serve"];
        if let Some(l) = listen {
            args.extend(["--listen", l]);
        }
        Self::spawn_logged(self.command(&args), log)
    }

    /// Like [`Harness::spawn_serve`], with `env` added to its environment.
    pub fn spawn_serve_with_env(&self, log: &Path, env: &[(&str, &str)]) -> anyhow::Result<Child> {
        let mut command = self.command(&["serve"]);
        command.envs(env.iter().copied());
        Self::spawn_logged(command, log)
    }

    /// Starts `command` with its output appended to `log`.
    fn spawn_logged(mut command: Command, log: &Path) -> anyhow::Result<Child> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let err = out.try_clone()?;
        Ok(command.stdout(out).stderr(err).spawn()?)
    }

    pub async fn control(
        &self,
        sim: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let base = if sim == "ghl" {
            &self.ghl.url
        } else {
            &self.aa.url
        };
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.http.request(m, format!("{base}{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path}: {status} {value}");
        }
        Ok(value)
    }

    pub async fn ghl_truth(&self) -> anyhow::Result<Value> {
        Ok(self.control("ghl", "GET", "/__sim/state", None).await?["locations"][0].clone())
    }

    pub async fn aa_truth(&self) -> anyhow::Result<Value> {
        self.control("accessally", "GET", "/__sim/state", None)
            .await
    }

    pub async fn differences(&self) -> anyhow::Result<Vec<String>> {
        Ok(sandbox::compare(
            &self.ghl_truth().await?,
            &self.aa_truth().await?,
        ))
    }

    /// Polls the ground truth until both sides agree, at most `limit`.
    pub async fn converge(&self, limit: Duration) -> anyhow::Result<Vec<String>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let checked = tokio::time::Instant::now();
            let d = self.differences().await?;
            if d.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(d);
            }
            // Every 200 ms, or less often when a check is slow (a large
            // catalog): the checker takes at most a quarter of the time, so
            // it does not slow down the daemon it waits for.
            tokio::time::sleep(Duration::from_millis(200).max(checked.elapsed() * 3)).await;
        }
    }

    /// The request log of a simulator (`ghl` or `accessally`).
    pub async fn requests(&self, sim: &str) -> anyhow::Result<Vec<Value>> {
        requests(
            &self.http,
            if sim == "ghl" {
                &self.ghl.url
            } else {
                &self.aa.url
            },
        )
        .await
    }
}

/// All entries of a simulator's request log (`GET /__sim/requests`).
pub async fn requests(http: &reqwest::Client, base: &str) -> anyhow::Result<Vec<Value>> {
    let v: Value = http
        .get(format!("{base}/__sim/requests?limit=100000"))
        .send()
        .await?
        .json()
        .await?;
    let list = v["entries"].as_array().cloned().unwrap_or_default();
    Ok(list)
}

/// A free loopback port (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Successful `POST` calls in a request log whose route ends with `suffix`.
pub fn creates(log: &[Value], suffix: &str) -> usize {
    log.iter()
        .filter(|e| {
            e["method"] == "POST"
                && e["status"]
                    .as_u64()
                    .is_some_and(|s| (200..300).contains(&s))
                && e["route"]
                    .as_str()
                    .or_else(|| e["path"].as_str())
                    .is_some_and(|r| r.ends_with(suffix))
        })
        .count()
}

/// Kills a child with SIGKILL and reaps it.
pub fn kill9(child: &mut Child) -> anyhow::Result<()> {
    child.kill().context("SIGKILL")?;
    child.wait().context("reaping the killed daemon")?;
    Ok(())
}

/// A fresh PostgreSQL database, dropped with [`TestPostgres::drop_db`].
pub struct TestPostgres {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestPostgres {
    /// A new database on the server of `ALLYBRIDGE_TEST_POSTGRES_URL` (or
    /// the local default); `None` with a printed reason when unreachable,
    /// an error then when `CI` is set.
    pub async fn create() -> anyhow::Result<Option<TestPostgres>> {
        let admin_url =
            std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
        let connected = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::PgConnection::connect(&admin_url),
        )
        .await;
        let why = match connected {
            Ok(Ok(mut admin)) => {
                let name = format!("allybridge_rel_{:016x}", rand::random::<u64>());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                let _ = admin.close().await;
                let mut url = url::Url::parse(&admin_url)?;
                url.set_path(&format!("/{name}"));
                return Ok(Some(TestPostgres {
                    url: url.to_string(),
                    admin_url,
                    name,
                }));
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_string(),
        };
        if std::env::var_os("CI").is_some() {
            bail!("PostgreSQL is unreachable ({why}); CI needs it");
        }
        eprintln!(
            "SKIPPED: PostgreSQL is unreachable ({why}); set {POSTGRES_URL_ENV} to run this test"
        );
        Ok(None)
    }

    /// Drops the database (after every connection to it closed).
    pub async fn drop_db(self) -> anyhow::Result<()> {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        let _ = admin.close().await;
        Ok(())
    }
}
