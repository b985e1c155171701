//! The binary's test harness: both simulators started in-process on free
//! ports, a temporary folder with `allybridge init`'s key and a
//! configuration pointing at the simulators, whose credentials reach the
//! binary only through environment variables named in the file; the
//! binary run as a command or as a `serve` daemon (stopped with SIGTERM);
//! and the admin page's cookie-keeping client, shared with the server's
//! tests.

#![allow(dead_code)]

#[path = "../../../server/tests/common/browser.rs"]
mod browser;

use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use browser::{Browser, Page, csrf_of};
use serde_json::Value;
use sim_kit::{RunningSim, Seed};

pub const BIN: &str = env!("CARGO_BIN_EXE_allybridge");

/// A HighLevel simulator and an AccessAlly simulator: one tenant's two systems.
pub struct Sims {
    pub ghl: RunningSim,
    pub aa: RunningSim,
}

impl Sims {
    /// Both simulators with `seed`, HighLevel rate limits off, and the
    /// private tokens granted `scopes` (all when `None`).
    pub async fn start(seed: Seed, scopes: Option<Vec<String>>) -> Sims {
        let mut ghl_config = sim_ghl::SimConfig {
            seed,
            rate_limits: sim_ghl::auth::RateLimits::unlimited(),
            ..sim_ghl::SimConfig::default()
        };
        if let Some(scopes) = scopes {
            ghl_config.private_token_scopes = scopes;
        }
        let (ghl, _state) = sim_ghl::start(ghl_config).await.expect("ghl sim");
        let aa = sim_accessally::start(sim_accessally::SimConfig {
            seed,
            ..sim_accessally::SimConfig::for_tests()
        })
        .await
        .expect("accessally sim");
        Sims { ghl, aa }
    }

    /// Waits up to `within` for the two sides to converge; the last differences otherwise.
    pub async fn converge(&self, http: &reqwest::Client, within: Duration) -> Vec<String> {
        converge(http, &self.ghl, &self.aa, within).await
    }
}

/// The differences between two simulators' ground truths (empty: converged).
pub async fn differences(http: &reqwest::Client, ghl: &RunningSim, aa: &RunningSim) -> Vec<String> {
    let g = control(http, &ghl.url, "/__sim/state").await["locations"][0].clone();
    let a = control(http, &aa.url, "/__sim/state").await;
    sandbox::compare(&g, &a)
}

/// Waits up to `within` for two simulators to converge; the last differences otherwise.
pub async fn converge(
    http: &reqwest::Client,
    ghl: &RunningSim,
    aa: &RunningSim,
    within: Duration,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let differences = differences(http, ghl, aa).await;
        if differences.is_empty() || tokio::time::Instant::now() >= deadline {
            return differences;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub use test_support::GhlAuth;

/// A `[[tenant]]` block for the simulators `ghl` and `aa`
/// ([`test_support::Tenant`]): credentials from the environment variables
/// named after `prefix` (see [`tenant_env`]), every flow in `mode`.
pub fn tenant_block(
    name: &str,
    ghl: &RunningSim,
    aa: &RunningSim,
    auth: GhlAuth,
    prefix: &str,
    mode: &str,
) -> String {
    test_support::Tenant {
        name,
        ghl,
        aa,
        auth,
        env_prefix: prefix,
        mode,
        ghl_webhook_key: false,
    }
    .toml()
}

/// The environment a [`tenant_block`] with `prefix` reads: the AccessAlly
/// credentials, the HighLevel private token (`{prefix}_GHL_TOKEN`) and the
/// OAuth client secret (`{prefix}_GHL_CLIENT_SECRET`).
pub fn tenant_env(sims: &Sims, prefix: &str) -> Vec<(String, String)> {
    test_support::env(&sims.ghl, &sims.aa, prefix)
}

pub struct Harness {
    pub ghl: RunningSim,
    pub aa: RunningSim,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The environment every run gets (each tenant's credentials).
    pub env: Vec<(String, String)>,
}

pub fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

pub async fn control(http: &reqwest::Client, base: &str, path: &str) -> Value {
    http.get(format!("{base}{path}"))
        .send()
        .await
        .expect("control call")
        .json()
        .await
        .expect("JSON")
}

impl Harness {
    pub async fn start(seed: Seed) -> Harness {
        Self::start_with(seed, None, "write").await
    }

    /// One tenant `main` (private token) on fresh simulators, flows in `mode`.
    pub async fn start_with(seed: Seed, scopes: Option<Vec<String>>, mode: &str) -> Harness {
        let h = Self::bare(Sims::start(seed, scopes).await).await;
        h.write_config(mode);
        h
    }

    /// `allybridge init` in a temporary folder for `sims`, without a configuration yet.
    pub async fn bare(sims: Sims) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let env = tenant_env(&sims, "ABT");
        let h = Harness {
            ghl: sims.ghl,
            aa: sims.aa,
            dir,
            http: reqwest::Client::new(),
            env,
        };
        let out = h.run(&["init"]).await;
        assert!(out.status.success(), "init: {}", text(&out.stderr));
        h
    }

    /// The tenant `main` on the harness's simulators (private token), flows in `mode`.
    pub fn main_tenant(&self, mode: &str) -> String {
        tenant_block(
            "main",
            &self.ghl,
            &self.aa,
            GhlAuth::PrivateToken,
            "ABT",
            mode,
        )
    }

    /// `allybridge.toml`: `[engine] workers = 4` and the tenant `main`.
    pub fn write_config(&self, mode: &str) {
        self.write_config_text(&format!(
            "[engine]\nworkers = 4\n{}",
            self.main_tenant(mode)
        ));
    }

    pub fn write_config_text(&self, config: &str) {
        std::fs::write(self.path("allybridge.toml"), config).expect("write config");
    }

    pub fn secrets(&self) -> Vec<String> {
        vec![
            s(&self.ghl.info, "token"),
            s(&self.aa.info, "app_password"),
            s(&self.aa.info, "handshake"),
        ]
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[], None).await
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("ALLYBRIDGE_MASTER_KEY")
            .env_remove("ALLYBRIDGE_CONFIG")
            .env_remove("ALLYBRIDGE_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    pub async fn run_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Output {
        let mut cmd = self.command(args, env);
        cmd.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        let mut child = cmd.spawn().expect("binary starts");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
            drop(pipe);
        }
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("the command finishes within a minute")
            .expect("output")
    }

    /// Starts `allybridge serve --listen 127.0.0.1:0` with `env` added;
    /// returns once it listens.
    pub async fn serve(&self, env: &[(&str, &str)]) -> Daemon {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = self.command(&["serve", "--listen", "127.0.0.1:0"], env);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.lock().expect("log").push(line.clone());
                if let Some(rest) = line.split("serving on ").nth(1) {
                    return rest.trim().to_string();
                }
            }
            panic!(
                "serve ended without listening: {}",
                seen.lock().expect("log").join("\n")
            );
        })
        .await
        .expect("serve listens");
        // Keep draining stderr (a full pipe would block the daemon) and keep it for assertions.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.lock().expect("log").push(line);
            }
        });
        Daemon { child, url, log }
    }

    pub async fn control(&self, base: &str, path: &str) -> Value {
        control(&self.http, base, path).await
    }

    /// Write requests each of the main simulators has served (HighLevel, AccessAlly).
    pub async fn writes(&self) -> (u64, u64) {
        let g = self.control(&self.ghl.url, "/__sim/requests?limit=0").await;
        let a = self.control(&self.aa.url, "/__sim/requests?limit=0").await;
        (
            g["summary"]["writes"].as_u64().unwrap_or(0),
            a["summary"]["writes"].as_u64().unwrap_or(0),
        )
    }

    /// Waits up to `within` for the main simulators to converge; the last differences otherwise.
    pub async fn converge(&self, within: Duration) -> Vec<String> {
        converge(&self.http, &self.ghl, &self.aa, within).await
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// The store the binary uses, opened with the key file.
    /// Makes dead letters the way a worker does (enqueue, claim, dead-letter),
    /// one per `(kind, entity type, record id)`; returns their ids.
    pub async fn dead_letters(&self, jobs: &[(&str, &str, &str)]) -> Vec<i64> {
        let store = self.store().await;
        let mut ids = Vec::new();
        for (kind, entity, record) in jobs {
            let job = store::NewJob {
                kind: (*kind).into(),
                entity_type: (*entity).into(),
                record_system: store::System::HighLevel,
                record_id: (*record).into(),
                location: None,
                dedupe_key: format!("test:{record}"),
                priority: store::Priority::Live,
                run_at: chrono::Utc::now(),
                payload: serde_json::json!({}),
            };
            ids.push(store.enqueue(&job).await.expect("enqueue").job_id);
        }
        let claimed = store
            .claim_jobs(
                "test",
                &store::ClaimScope::Any,
                100,
                Duration::from_secs(60),
            )
            .await
            .expect("claim");
        for j in &claimed {
            store
                .dead_letter_job(j.id, "test", "permanent: the test says so")
                .await
                .expect("dead letter");
        }
        store.close().await;
        ids
    }

    pub async fn store(&self) -> store::Store {
        let key = store::MasterKey::load_file(&self.path("allybridge.key")).expect("key file");
        store::Store::open(
            &store::Store::sqlite_url(&self.path("allybridge.db")),
            store::Keyring::new(key),
        )
        .await
        .expect("store opens")
    }
}

/// A running `allybridge serve`.
pub struct Daemon {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Every stderr line so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The stderr lines so far, joined.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// SIGTERM, then the exit code (within 20 s).
    pub async fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().expect("pid").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("serve stops after SIGTERM")
            .expect("status")
            .code()
    }
}

/// Waits up to `within` for `check` to hold, polling every 100 ms.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn json_out(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// Logs in to the admin page of `daemon` with `password`.
pub async fn log_in(b: &mut Browser, daemon: &Daemon, password: &str) -> anyhow::Result<Page> {
    let page = b.get(&daemon.url("/admin/login")).await?;
    let csrf = csrf_of(&page.body)?;
    b.post(
        &daemon.url("/admin/login"),
        &[("csrf", &csrf), ("password", password)],
    )
    .await
}
