//! `allybridge demo --json` runs the whole product on embedded defaults and
//! reports convergence computed from both simulators' ground truth.

use std::process::Command;

use serde_json::Value;

#[test]
fn demo_converges_and_reports_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_allybridge"))
        .args(["demo", "--duration", "4", "--json"])
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(summary["converged"], true, "{summary}");
    let flows = summary["flows"].as_object().expect("flows");
    assert_eq!(flows.len(), 5);
    assert!(
        flows["products_to_accessally"]["created"]
            .as_u64()
            .unwrap_or(0)
            >= 20
    );
    assert!(
        flows["orders_to_highlevel"]["created"]
            .as_u64()
            .unwrap_or(0)
            >= 10
    );
    assert_eq!(summary["dead_letters"], 0);
    assert!(summary["calls"]["highlevel"].as_u64().unwrap_or(0) > 0);
}
