//! nginx with TLS in front of the real `allybridge serve`, as
//! docs/DEPLOY.md sets it up: `deploy/nginx/allybridge.conf` itself,
//! rendered with this test's ports, host name and a self-signed
//! certificate (made with the `openssl` command, installed with nginx,
//! rather than with a certificate crate compiled into the tests), run as
//! a foreground nginx with its own prefix, pid and temporary
//! folders. Through it, over HTTPS: signed HighLevel webhooks (the
//! largest allybridge takes passes nginx; one byte more is refused by
//! allybridge, not by nginx), the admin login with `[server]
//! trusted_proxies` naming nginx — failed logins count against the
//! client nginx forwards for, so one client locked out does not lock out
//! another, and a forged `X-Forwarded-For` changes neither — and a
//! HighLevel OAuth consent coming back to the callback. Clients differ by
//! their loopback address (127.0.0.2, 127.0.0.3); nginx reaches the
//! daemon from 127.0.0.1. Without nginx or openssl the test prints
//! `SKIPPED` and passes, except when `CI` is set, where it fails.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use common::{Browser, GhlAuth, Harness, Page, Sims, csrf_of, eventually, s, tenant_block};
use serde_json::{Value, json};
use sim_kit::Seed;

/// The host name nginx serves and the certificate names.
const HOST: &str = "allybridge.test";
const PASSWORD: &str = "proxy-admin-Pw!42";
/// Two clients on the far side of the proxy.
const CLIENT_A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const CLIENT_B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// The proxy configuration users copy (docs/DEPLOY.md).
const NGINX_SITE: &str = include_str!("../../../deploy/nginx/allybridge.conf");

/// The program `env` names, else the first of `candidates` that answers `args`.
fn find(env: &str, candidates: &[&str], args: &[&str]) -> Option<String> {
    if let Ok(path) = std::env::var(env) {
        return Some(path);
    }
    candidates
        .iter()
        .find(|c| {
            std::process::Command::new(c)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|c| (*c).to_string())
}

/// A free port on 127.0.0.1 (bound, read, released).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `deploy/nginx/allybridge.conf` for this test: its comments left out,
/// then each setting that names the machine replaced by this test's value.
/// Each must be found as often as stated, so an edit of the file that this
/// no longer matches fails here instead of testing something else.
fn render_site(
    daemon: u16,
    http: u16,
    https: u16,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<String> {
    let mut text: String = NGINX_SITE
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let replacements = [
        (
            "server 127.0.0.1:8940;",
            format!("server 127.0.0.1:{daemon};"),
        ),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        ("listen [::]:80;", String::new()),
        ("listen 443 ssl;", format!("listen 127.0.0.1:{https} ssl;")),
        ("listen [::]:443 ssl;", String::new()),
        (
            "/etc/letsencrypt/live/allybridge.example.com/fullchain.pem",
            cert.display().to_string(),
        ),
        (
            "/etc/letsencrypt/live/allybridge.example.com/privkey.pem",
            key.display().to_string(),
        ),
        (
            "server_name allybridge.example.com;",
            format!("server_name {HOST};"),
        ),
    ];
    for (from, to) in replacements {
        let expected = if from.starts_with("server_name") {
            2
        } else {
            1
        };
        let found = text.matches(from).count();
        if found != expected {
            bail!(
                "deploy/nginx/allybridge.conf has `{from}` {found} times, expected {expected}: update render_site to the file"
            );
        }
        text = text.replace(from, &to);
    }
    if text.contains("example.com") {
        bail!(
            "deploy/nginx/allybridge.conf names example.com where render_site does not replace it"
        );
    }
    Ok(text)
}

/// A foreground nginx (no master process) serving `site` from `dir`.
struct Nginx {
    child: tokio::process::Child,
    dir: PathBuf,
}

impl Nginx {
    async fn start(binary: &str, dir: &Path, site: &str, https: u16) -> anyhow::Result<Nginx> {
        let d = dir.display();
        std::fs::write(dir.join("allybridge.conf"), site)?;
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/client_body;\n  proxy_temp_path {d}/proxy;\n  \
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/allybridge.conf;\n}}\n"
            ),
        )?;
        let mut child = tokio::process::Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("could not start {binary}"))?;
        let up = eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", https))
                .await
                .is_ok()
        })
        .await;
        if !up || child.try_wait()?.is_some() {
            bail!(
                "nginx did not listen on {https}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
        }
        Ok(Nginx {
            child,
            dir: dir.to_path_buf(),
        })
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A self-signed certificate for [`HOST`] (end-entity, server auth): (cert, key).
fn certificate(openssl: &str, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
        ])
        .arg(format!("/CN={HOST}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{HOST}"))
        .args([
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()?;
    if !out.status.success() {
        bail!(
            "openssl could not make a certificate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((cert, key))
}

/// A client at `from` that trusts `cert` and reaches [`HOST`] at nginx,
/// sending `forged` as its own `X-Forwarded-For` when given.
fn client(
    cert: &reqwest::Certificate,
    https: SocketAddr,
    from: IpAddr,
    forged: Option<&str>,
) -> anyhow::Result<Browser> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(forged) = forged {
        headers.insert("x-forwarded-for", forged.parse()?);
    }
    Browser::from_builder(
        reqwest::Client::builder()
            .no_proxy()
            .add_root_certificate(cert.clone())
            .resolve(HOST, https)
            .local_address(from)
            .default_headers(headers)
            .timeout(Duration::from_secs(20)),
    )
}

/// One login attempt: the form (for its CSRF token), then `password`.
async fn log_in(b: &mut Browser, base: &str, password: &str) -> anyhow::Result<Page> {
    let form = b.get(&format!("{base}/admin/login")).await?;
    let csrf = csrf_of(&form.body)?;
    b.post(
        &format!("{base}/admin/login"),
        &[("csrf", &csrf), ("password", password)],
    )
    .await
}

/// A HighLevel `ProductUpdate` for `product`, padded to `size` bytes when given.
fn product_update(location: &str, product: &str, id: &str, size: Option<usize>) -> Vec<u8> {
    let mut event = json!({
        "type": "ProductUpdate", "locationId": location, "_id": product, "name": "Through nginx",
        "webhookId": id, "timestamp": chrono::Utc::now().to_rfc3339(), "pad": "",
    });
    let Some(size) = size else {
        return serde_json::to_vec(&event).unwrap_or_default();
    };
    let bare = serde_json::to_vec(&event).unwrap_or_default().len();
    event["pad"] = json!("x".repeat(size.saturating_sub(bare)));
    serde_json::to_vec(&event).unwrap_or_default()
}

async fn post_webhook(b: &Browser, url: &str, body: Vec<u8>) -> anyhow::Result<(u16, String)> {
    let signature = sim_ghl::signing::WebhookKeys::get().sign_ed25519(&body);
    let r = b
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-ghl-signature", signature)
        .body(body)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_with_tls_carries_webhooks_logins_and_the_oauth_callback() -> anyhow::Result<()> {
    let (Some(nginx), Some(openssl)) = (
        find("ALLYBRIDGE_NGINX", &["nginx", "/usr/sbin/nginx"], &["-v"]),
        find("ALLYBRIDGE_OPENSSL", &["openssl"], &["version"]),
    ) else {
        let why = "nginx and openssl are needed (apt-get install -y nginx openssl)";
        if std::env::var_os("CI").is_some() {
            bail!("{why}");
        }
        println!("SKIPPED: {why}");
        return Ok(());
    };
    tokio::time::timeout(Duration::from_secs(120), run(&nginx, &openssl))
        .await
        .context("the test did not finish within 2 minutes")?
}

async fn run(nginx_binary: &str, openssl: &str) -> anyhow::Result<()> {
    let h = Harness::bare(Sims::start(Seed::Demo, None).await).await;
    let (http_port, https_port) = (free_port()?, free_port()?);
    let base = format!("https://{HOST}:{https_port}");
    let hash = server::admin::auth::hash_password(PASSWORD)?;
    let tenant = tenant_block("main", &h.ghl, &h.aa, GhlAuth::OAuth, "ABT", "observe").replace(
        "[tenant.ghl]\n",
        &format!(
            "[tenant.ghl]\nwebhook_public_key = \"\"\"{}\"\"\"\n",
            s(&h.ghl.info, "webhook_public_key")
        ),
    );
    h.write_config_text(&format!(
        "[server]\npublic_url = \"{base}\"\nadmin_password_hash = \"{hash}\"\ntrusted_proxies = [\"127.0.0.1\"]\n{tenant}"
    ));
    let daemon = h.serve(&[]).await;
    let daemon_port: u16 = daemon
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("the daemon's port")?;

    let tls = tempfile::tempdir()?;
    let (cert_path, key_path) = certificate(openssl, tls.path())?;
    let site = render_site(daemon_port, http_port, https_port, &cert_path, &key_path)?;
    let nginx = Nginx::start(nginx_binary, tls.path(), &site, https_port).await?;
    let cert = reqwest::Certificate::from_pem(&std::fs::read(&cert_path)?)?;
    let at_nginx = SocketAddr::from(([127, 0, 0, 1], https_port));

    // Plain HTTP redirects to HTTPS.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?
        .get(format!("http://127.0.0.1:{http_port}/admin"))
        .header("host", HOST)
        .send()
        .await?;
    assert_eq!(plain.status().as_u16(), 301);
    assert_eq!(
        plain
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some(format!("https://{HOST}/admin").as_str())
    );

    // Webhooks: a signed delivery is stored once; the largest body
    // allybridge takes passes nginx; one byte more is refused by allybridge.
    let mut a = client(&cert, at_nginx, CLIENT_A, None)?;
    let location = s(&h.ghl.info, "location_id");
    let state = h.control(&h.ghl.url, "/__sim/state").await;
    let product = s(&state["locations"][0]["products"][0], "_id");
    assert!(!product.is_empty(), "the seed has products: {state}");
    let hook = format!("{base}/webhooks/ghl");
    let event = product_update(&location, &product, "via-nginx-1", None);
    let (status, body) = post_webhook(&a, &hook, event.clone()).await?;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body)?;
    assert_eq!(answer["duplicate"], false, "{answer}");
    let (status, body) = post_webhook(&a, &hook, event).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body)?["duplicate"], true);
    let largest = product_update(&location, &product, "via-nginx-max", Some(server::MAX_BODY));
    assert_eq!(largest.len(), server::MAX_BODY);
    let (status, body) = post_webhook(&a, &hook, largest).await?;
    assert_eq!(status, 200, "a {} byte webhook: {body}", server::MAX_BODY);
    let too_large = product_update(
        &location,
        &product,
        "via-nginx-over",
        Some(server::MAX_BODY + 1),
    );
    let (status, body) = post_webhook(&a, &hook, too_large).await?;
    assert_eq!(status, 413, "{body}");
    assert!(
        !body.contains("nginx"),
        "nginx refused it, not allybridge: {body}"
    );

    // Logins: five failures from A lock A out, as A, whatever A claims.
    for attempt in 1..=5 {
        let page = log_in(&mut a, &base, "wrong password").await?;
        assert_eq!(page.status, 401, "attempt {attempt}: {}", page.body);
    }
    let locked = log_in(&mut a, &base, PASSWORD).await?;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.headers.contains_key("retry-after"));
    for forged in ["127.0.0.3", "127.0.0.1", "127.0.0.3, 127.0.0.1", "garbage"] {
        let mut spoofer = client(&cert, at_nginx, CLIENT_A, Some(forged))?;
        let page = log_in(&mut spoofer, &base, PASSWORD).await?;
        assert_eq!(
            page.status, 429,
            "A claiming X-Forwarded-For: {forged}: {}",
            page.body
        );
    }
    // Another client behind the same proxy is not locked out.
    let mut b = client(&cert, at_nginx, CLIENT_B, None)?;
    let page = log_in(&mut b, &base, "wrong password").await?;
    assert_eq!(page.status, 401, "{}", page.body);
    let page = log_in(&mut b, &base, PASSWORD).await?;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/admin"));
    let dashboard = b.get(&format!("{base}/admin")).await?;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    // A peer that is not a trusted proxy cannot borrow A's address.
    let mut direct = client(&cert, at_nginx, CLIENT_B, Some("127.0.0.2"))?;
    let page = log_in(&mut direct, &daemon.url, "wrong password").await?;
    assert_eq!(page.status, 401, "{}", page.body);
    let log = daemon.log_text();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("admin login refused"))
        .collect();
    assert!(
        refused
            .iter()
            .any(|l| l.contains("too many failed logins") && l.contains("client=127.0.0.2")),
        "{log}"
    );
    assert!(
        refused.iter().all(|l| !l.contains("client=127.0.0.1")),
        "a login was counted against nginx's address: {log}"
    );

    // The OAuth consent comes back through nginx to the callback.
    let csrf = csrf_of(&dashboard.body)?;
    let start = b
        .post(&format!("{base}/admin/oauth/main"), &[("csrf", &csrf)])
        .await?;
    let consent = start.location.clone().unwrap_or_default();
    let callback =
        url::form_urlencoded::byte_serialize(format!("{base}/oauth/callback").as_bytes())
            .collect::<String>();
    assert!(consent.contains(&callback), "redirect_uri: {consent}");
    let back = b.get(&consent).await?.location.unwrap_or_default();
    assert!(
        back.starts_with(&format!("{base}/oauth/callback?code=")),
        "{back}"
    );
    let connected = b.get(&back).await?;
    assert_eq!(connected.status, 200, "{}", connected.body);
    assert!(
        connected.body.contains("is connected to HighLevel"),
        "{}",
        connected.body
    );
    let ready = eventually(Duration::from_secs(10), || async {
        let Ok(r) = a.http.get(format!("{base}/readyz")).send().await else {
            return false;
        };
        let body: Value = r.json().await.unwrap_or(Value::Null);
        body["connections"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["tenant"] == "main" && c["system"] == "highlevel" && c["state"] == "connected"
            })
        })
    })
    .await;
    assert!(ready, "/readyz through nginx never said connected");

    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
    nginx.stop().await?;
    assert_eq!(daemon.stop().await, Some(0));
    Ok(())
}
