//! `allybridge scopes`: what HighLevel must grant for the chosen flows —
//! the scopes, from the operations table (`ghl::required_scopes`, the
//! same computation `check`, `connect` and the OAuth consent use), and the
//! webhook events to subscribe — to set up a marketplace app or a private
//! integration token before anything is configured or connected. It reads
//! no configuration and contacts nothing; `check` then compares a live
//! connection against the configured modes.

use std::collections::BTreeSet;
use std::process::ExitCode;

use clap::Args;
use model::{Flow, FlowMode};
use serde_json::json;

use super::context;
use super::webhooks;

#[derive(Debug, Args)]
pub struct ScopesArgs {
    /// The flows, comma-separated (e.g. products_to_accessally,orders_to_highlevel); all five when left out.
    #[arg(long, value_delimiter = ',', value_parser = context::parse_flow)]
    pub flows: Vec<Flow>,
    /// The mode the flows are to run in: `observe` needs only read scopes; `write` adds the write scopes (a marketplace app lists every scope its consent may ask for, so the default is write).
    #[arg(long, default_value = "write", value_parser = parse_mode)]
    pub mode: FlowMode,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `--mode`: observe or write (a flow that is off needs no scope).
fn parse_mode(s: &str) -> Result<FlowMode, String> {
    server::admin::parse_mode(s)
        .filter(|m| *m != FlowMode::Off)
        .ok_or_else(|| format!("`{s}` is not observe or write"))
}

/// The scopes of each flow: what observing needs, and what writing adds.
struct FlowScopes {
    flow: Flow,
    observe: BTreeSet<&'static str>,
    write_adds: BTreeSet<&'static str>,
}

fn per_flow(flows: &[Flow]) -> Vec<FlowScopes> {
    flows
        .iter()
        .map(|&flow| FlowScopes {
            flow,
            observe: ghl::required_scopes(&[(flow, FlowMode::Observe)]),
            write_adds: ghl::scopes_to_write(flow),
        })
        .collect()
}

fn list(scopes: &BTreeSet<&str>) -> String {
    if scopes.is_empty() {
        "none".to_string()
    } else {
        scopes.iter().copied().collect::<Vec<_>>().join(" ")
    }
}

pub async fn run(args: ScopesArgs) -> anyhow::Result<ExitCode> {
    let flows: Vec<Flow> = if args.flows.is_empty() {
        Flow::ALL.to_vec()
    } else {
        Flow::ALL
            .into_iter()
            .filter(|f| args.flows.contains(f))
            .collect()
    };
    let mode = args.mode;
    let modes: Vec<(Flow, FlowMode)> = flows.iter().map(|&f| (f, mode)).collect();
    let scopes = ghl::required_scopes(&modes);
    let events = webhooks::highlevel_events(&modes);
    let each = per_flow(&flows);
    let mode_name = server::admin::mode_name(mode);
    if args.json {
        let per: Vec<_> = each
            .iter()
            .map(|f| json!({"flow": f.flow, "observe": f.observe, "write_adds": f.write_adds}))
            .collect();
        println!(
            "{}",
            json!({"mode": mode_name, "flows": flows, "scopes": scopes, "per_flow": per, "webhook_events": events})
        );
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<&str> = flows.iter().map(Flow::as_str).collect();
    println!(
        "HighLevel scopes for {} in {mode_name} mode:",
        names.join(", ")
    );
    for scope in &scopes {
        println!("  {scope}");
    }
    println!();
    println!("Per flow (observe needs the read scopes; write adds the rest):");
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    for f in &each {
        println!(
            "  {:width$}  observe: {}",
            f.flow.as_str(),
            list(&f.observe)
        );
        println!("  {:width$}  write adds: {}", "", list(&f.write_adds));
    }
    println!();
    if events.is_empty() {
        println!("HighLevel webhook events: none of these flows uses them.");
    } else {
        println!(
            "HighLevel webhook events to subscribe (Webhook URL {{public_url}}/webhooks/ghl): {}",
            events.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observing_flows_need_read_scopes_and_writing_adds_the_write_scopes() {
        for f in per_flow(&Flow::ALL) {
            assert!(!f.observe.is_empty(), "{}", f.flow);
            assert!(
                f.observe.iter().all(|s| !s.ends_with(".write")),
                "{}: {:?}",
                f.flow,
                f.observe
            );
            assert!(f.write_adds.is_disjoint(&f.observe), "{}", f.flow);
            let mut both = f.observe.clone();
            both.extend(&f.write_adds);
            assert_eq!(
                both,
                ghl::required_scopes(&[(f.flow, FlowMode::Write)]),
                "{}",
                f.flow
            );
        }
    }
}
