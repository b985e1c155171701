//! `allybridge demo`: the whole product on embedded defaults — both
//! simulators with demo data, SQLite in a temporary folder, the engine in
//! write mode for all five flows with its webhook intake — then live
//! activity on both sides (coupon edits, product and price changes,
//! checkouts, refunds, a spell of injected faults) and a closing summary.
//! `converged` compares both simulators' ground truth, not the engine's view.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use engine::scan::{PASS_PHASES, ScanKind, scan};
use model::Flow;
use rand::Rng;
use rand::seq::SliceRandom;
use sandbox::{Sandbox, SandboxOptions, checkout_body};
use serde_json::{Value, json};
use sim_kit::Faults;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seconds of live activity after the backfill.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Progress output: a bar on a terminal, plain lines otherwise (and none with --json).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    last_plain: std::sync::Mutex<Option<Instant>>,
}

impl Progress {
    fn new(json: bool) -> Self {
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = (!json && tty).then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix:>10} [{bar:30}] {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        Self {
            bar,
            plain: !json && !tty,
            last_plain: std::sync::Mutex::new(None),
        }
    }

    fn stage(&self, prefix: &str, len: u64) {
        if let Some(b) = &self.bar {
            b.set_prefix(prefix.to_string());
            b.set_length(len);
            b.set_position(0);
        }
    }

    fn update(&self, done: u64, msg: &str) {
        match &self.bar {
            Some(b) => {
                b.set_position(done);
                b.set_message(msg.to_string());
            }
            None if self.plain => {
                // Plain lines at most every 2 s, and at each stage's end.
                let mut last = self.last_plain.lock().unwrap_or_else(|e| e.into_inner());
                let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
                if due || msg.ends_with("done") {
                    eprintln!("  {done} — {msg}");
                    *last = Some(Instant::now());
                }
            }
            None => {}
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None if self.plain => eprintln!("{line}"),
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// How often the live phase polls HighLevel's coupons.
const COUPON_POLL: Duration = Duration::from_secs(2);

/// Runs jobs until the queue is idle, showing progress.
async fn drain(sb: &Sandbox, progress: &Progress, label: &str) -> anyhow::Result<()> {
    let stats = sb.engine.store.queue_stats().await?;
    let total = (stats.pending + stats.running) as u64;
    progress.stage(label, total);
    let engine = sb.engine.clone();
    let worker = tokio::spawn(async move { engine.work_until_idle(Duration::from_secs(2)).await });
    let start = sb.engine.stats.jobs.load(Ordering::Relaxed);
    while !worker.is_finished() {
        let done = sb.engine.stats.jobs.load(Ordering::Relaxed) - start;
        progress.update(done.min(total), &format!("{label} jobs"));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    worker.await.context("the engine stopped")??;
    progress.update(total, &format!("{label} done"));
    Ok(())
}

/// One random change a person would make on one side.
async fn act(sb: &Sandbox, counts: &ActivityCounts) -> anyhow::Result<()> {
    let roll = rand::thread_rng().gen_range(0..5);
    match roll {
        0 => {
            let g = sb.ghl_truth().await?;
            let Some(c) = g["coupons"]
                .as_array()
                .and_then(|a| a.choose(&mut rand::thread_rng()).cloned())
            else {
                return Ok(());
            };
            let value = rand::thread_rng().gen_range(5..40);
            let mut body = json!({"altId": g["id"], "altType": "location", "id": c["_id"], "name": c["name"],
                                  "code": c["code"], "discountType": "percentage", "discountValue": value,
                                  "startDate": c["startDate"], "productIds": c["productIds"]});
            if let Some(end) = c.get("endDate") {
                body["endDate"] = end.clone();
            }
            sb.control("ghl", "PUT", "/__sim/ui/payments/coupon", Some(body))
                .await?;
            counts.coupon_edits.fetch_add(1, Ordering::Relaxed);
        }
        1 => {
            let g = sb.ghl_truth().await?;
            let prices = g["prices"].as_array().cloned().unwrap_or_default();
            let Some(p) = prices.choose(&mut rand::thread_rng()).cloned() else {
                return Ok(());
            };
            let mut body = p.clone();
            let amount = (rand::thread_rng().gen_range(1_000..50_000) as f64) / 100.0;
            body["amount"] = json!(amount);
            body["locationId"] = g["id"].clone();
            for k in [
                "_id",
                "product",
                "createdAt",
                "updatedAt",
                "userId",
                "membershipOffers",
                "variantOptionIds",
            ] {
                if let Some(m) = body.as_object_mut() {
                    m.remove(k);
                }
            }
            let path = format!(
                "/__sim/ui/products/{}/price/{}",
                p["product"].as_str().unwrap_or(""),
                p["_id"].as_str().unwrap_or("")
            );
            sb.control("ghl", "PUT", &path, Some(body)).await?;
            counts.price_changes.fetch_add(1, Ordering::Relaxed);
        }
        2 | 3 => {
            let a = sb.aa_truth().await?;
            let offerings: Vec<Value> = a["offerings"]
                .as_array()
                .map(|o| {
                    o.iter()
                        .filter(|x| x["status"] == "publish")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let Some(o) = offerings.choose(&mut rand::thread_rng()).cloned() else {
                return Ok(());
            };
            let option = o["payment_options"][0]["id"].as_u64().unwrap_or(0);
            let n = counts.checkouts.fetch_add(1, Ordering::Relaxed);
            let body = checkout_body(
                &format!("demo.buyer{n}@example.com"),
                o["id"].as_u64().unwrap_or(0),
                option,
                None,
            );
            sb.control("accessally", "POST", "/__sim/checkout", Some(body))
                .await?;
        }
        _ => {
            let a = sb.aa_truth().await?;
            let paid: Vec<Value> = a["orders"]
                .as_array()
                .map(|o| {
                    o.iter()
                        .filter(|x| x["status"] == "success" && x["total"] != "0.00")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let Some(o) = paid.choose(&mut rand::thread_rng()).cloned() else {
                return Ok(());
            };
            sb.control(
                "accessally",
                "POST",
                "/__sim/refund",
                Some(json!({"order_id": o["id"]})),
            )
            .await?;
            counts.refunds.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

#[derive(Default)]
struct ActivityCounts {
    coupon_edits: AtomicU64,
    price_changes: AtomicU64,
    checkouts: AtomicU64,
    refunds: AtomicU64,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let progress = Progress::new(args.json);
    let mut sb = Sandbox::start(SandboxOptions::default())
        .await
        .context("could not start the sandbox (simulators, store, engine)")?;
    progress.say(&format!("HighLevel simulator:  {}", sb.ghl_sim.url));
    progress.say(&format!("AccessAlly simulator: {}", sb.aa_site.url()));
    let tenant = sb.tenant().clone();

    // 1. Backfill both catalogs.
    for phase in PASS_PHASES {
        for flow in phase {
            scan(&sb.engine, &tenant, ScanKind::Backfill, Some(*flow)).await?;
        }
        let names: Vec<&str> = phase.iter().map(|flow| flow.as_str()).collect();
        drain(&sb, &progress, &names.join(" + ")).await?;
    }
    let backfill = started.elapsed();
    progress.say(&format!("backfill done in {:.1} s", backfill.as_secs_f64()));

    // 2. Live: webhooks in, workers on, pollers for what has no webhook.
    let url = sb.go_live().await?;
    progress.say(&format!(
        "allybridge daemon:   {url} (webhooks, /metrics, /healthz)"
    ));
    let sb = Arc::new(sb);
    let counts = Arc::new(ActivityCounts::default());
    // HighLevel fires no webhook for coupons: they are polled, by the
    // poller `serve` runs, on the daemon's background-task driver.
    let mut background = daemon::Background::new();
    let coupons = daemon::Poller::new(
        sb.engine.clone(),
        daemon::Poll {
            name: "coupons",
            kind: ScanKind::Poll,
            flows: vec![Some(Flow::CouponsToAccessally)],
            every: COUPON_POLL,
        },
        Arc::new(server::health::Connections::default()),
    );
    background.spawn::<_, ()>(coupons.name(), coupons.every(), None, coupons);
    let duration = Duration::from_secs(args.duration);
    let live_start = Instant::now();
    let fault_window = (duration / 3, duration / 3 * 2);
    let mut faulted = false;
    progress.stage("live", args.duration);
    while live_start.elapsed() < duration {
        let t = live_start.elapsed();
        let in_window = t >= fault_window.0 && t < fault_window.1;
        if in_window != faulted {
            faulted = in_window;
            let faults = if faulted {
                progress.say("injecting faults: 20 % of calls fail, 30 % of webhooks are lost");
                Faults {
                    error_rate: 0.2,
                    error_statuses: vec![429, 500, 502],
                    webhook_drop_rate: 0.3,
                    webhook_duplicate_rate: 0.1,
                    ..Faults::default()
                }
            } else {
                progress.say("faults off");
                Faults::default()
            };
            sb.set_faults(&faults).await?;
        }
        if let Err(e) = act(&sb, &counts).await {
            tracing::debug!(error = %e, "a demo action failed");
        }
        progress.update(t.as_secs(), "live activity");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    background.stop().await;
    sb.set_faults(&Faults::default()).await?;

    // 3. Reconcile: what lost webhooks never announced is found and repaired.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut drift_found = 0;
    let mut converged = false;
    let mut differences = Vec::new();
    for _ in 0..3 {
        let report = scan(&sb.engine, &tenant, ScanKind::Reconcile, None).await?;
        drift_found += report.drifted;
        sb.engine.work_until_idle(Duration::from_secs(3)).await?;
        differences = sb.differences().await?;
        if differences.is_empty() {
            converged = true;
            break;
        }
    }
    progress.finish();

    let ghl_calls = sb
        .control("ghl", "GET", "/__sim/requests?limit=0", None)
        .await?;
    let aa_calls = sb
        .control("accessally", "GET", "/__sim/requests?limit=0", None)
        .await?;
    let queue = sb.engine.store.queue_stats().await?;
    let summary = json!({
        "converged": converged,
        "differences": differences,
        "flows": sb.engine.stats.summary(),
        "activity": {
            "coupon_edits": counts.coupon_edits.load(Ordering::Relaxed),
            "price_changes": counts.price_changes.load(Ordering::Relaxed),
            "checkouts": counts.checkouts.load(Ordering::Relaxed),
            "refunds": counts.refunds.load(Ordering::Relaxed),
        },
        "calls": {
            "highlevel": ghl_calls["summary"]["total"], "highlevel_writes": ghl_calls["summary"]["writes"],
            "accessally": aa_calls["summary"]["total"], "accessally_writes": aa_calls["summary"]["writes"],
        },
        "jobs": sb.engine.stats.jobs.load(Ordering::Relaxed),
        "dead_letters": queue.dead,
        "drift_found_and_repaired": drift_found,
        "backfill_seconds": (backfill.as_secs_f64() * 10.0).round() / 10.0,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    if args.json {
        println!("{summary}");
    } else {
        print_summary(&summary);
    }
    Ok(if converged {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_summary(s: &Value) {
    println!();
    println!("allybridge demo — summary");
    println!(
        "{:<24} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "flow", "created", "updated", "deleted", "skipped", "retried", "dead"
    );
    if let Some(flows) = s["flows"].as_object() {
        for (name, c) in flows {
            let n = |k: &str| c[k].as_u64().unwrap_or(0);
            println!(
                "{:<24} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
                name,
                n("created"),
                n("updated"),
                n("deleted"),
                n("skipped"),
                n("retried"),
                n("dead_lettered")
            );
        }
    }
    println!(
        "live activity: {} coupon edits, {} price changes, {} checkouts, {} refunds",
        s["activity"]["coupon_edits"],
        s["activity"]["price_changes"],
        s["activity"]["checkouts"],
        s["activity"]["refunds"]
    );
    println!(
        "calls: HighLevel {} ({} writes), AccessAlly {} ({} writes); jobs {}; dead letters {}",
        s["calls"]["highlevel"],
        s["calls"]["highlevel_writes"],
        s["calls"]["accessally"],
        s["calls"]["accessally_writes"],
        s["jobs"],
        s["dead_letters"]
    );
    println!(
        "drift found and repaired by reconciliation: {}",
        s["drift_found_and_repaired"]
    );
    println!(
        "backfill {} s, whole run {} s",
        s["backfill_seconds"], s["seconds"]
    );
    if s["converged"] == true {
        println!("both sides match: yes (checked on both simulators' ground truth)");
    } else {
        println!("both sides match: NO");
        for d in s["differences"].as_array().into_iter().flatten() {
            println!("  - {}", d.as_str().unwrap_or(""));
        }
    }
}
