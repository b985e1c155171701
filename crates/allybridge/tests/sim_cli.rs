//! `allybridge sim` starts both simulators, prints one JSON line each with
//! URL and credentials, and serves until stopped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn sim_prints_one_line_per_simulator_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_allybridge"))
        .args(["sim", "--seed", "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ghl: Value =
        serde_json::from_str(&lines.next().expect("a line").expect("utf-8")).expect("JSON");
    let aa: Value =
        serde_json::from_str(&lines.next().expect("a line").expect("utf-8")).expect("JSON");
    assert_eq!(ghl["sim"], "ghl");
    for key in [
        "url",
        "location_id",
        "token",
        "client_id",
        "client_secret",
        "webhook_public_key",
    ] {
        assert!(ghl[key].is_string(), "ghl line lacks {key}: {ghl}");
    }
    assert_eq!(aa["sim"], "accessally");
    for key in ["url", "user", "app_password", "handshake", "webhook_secret"] {
        assert!(aa[key].is_string(), "accessally line lacks {key}: {aa}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let products = rt.block_on(async {
        let url = format!(
            "{}/products/?locationId={}",
            ghl["url"].as_str().unwrap(),
            ghl["location_id"].as_str().unwrap()
        );
        reqwest::Client::new()
            .get(url)
            .header("Version", "2021-07-28")
            .bearer_auth(ghl["token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    child.kill().ok();
    child.wait().ok();
    assert!(
        products["total"][0]["total"].as_u64().unwrap() >= 20,
        "{products}"
    );
}

#[test]
fn sim_refuses_bad_arguments_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_allybridge"))
        .args(["sim", "--seed", "lots"])
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("seed must be `empty`, `demo` or a number"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_allybridge"))
        .args(["sim", "--faults", "{\"error_rate\": 3}"])
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error_rate must be between 0 and 1"));
}
