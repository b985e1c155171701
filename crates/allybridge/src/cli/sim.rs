//! `allybridge sim`: starts the simulators on the requested (or free) ports,
//! prints one JSON line per simulator with its URL and credentials, and
//! serves until interrupted.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sim_kit::{Faults, Seed};

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address of the HighLevel simulator (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub ghl_addr: SocketAddr,
    /// Address of the AccessAlly simulator (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub accessally_addr: SocketAddr,
    /// Start data: `empty`, `demo`, or a number of generated products.
    #[arg(long, default_value = "demo")]
    pub seed: Seed,
    /// Number of HighLevel locations (sub-accounts).
    #[arg(long, default_value_t = 1)]
    pub locations: usize,
    /// URL the HighLevel simulator sends its webhooks to.
    #[arg(long)]
    pub ghl_webhook_url: Option<String>,
    /// Seconds between HighLevel's webhook retries after a 429.
    #[arg(long, default_value_t = 600)]
    pub webhook_retry_secs: u64,
    /// Lifetime of OAuth access tokens, in seconds.
    #[arg(long, default_value_t = 86_399)]
    pub token_ttl_secs: u64,
    /// Switch HighLevel rate limits off (for benchmarks).
    #[arg(long)]
    pub no_rate_limits: bool,
    /// Faults as JSON, e.g. '{"error_rate":0.2,"webhook_drop_rate":0.3}'.
    #[arg(long)]
    pub faults: Option<String>,
    /// Also sign HighLevel webhooks with the legacy RSA `x-wh-signature`,
    /// which HighLevel no longer sends (default: `x-ghl-signature` only).
    #[arg(long)]
    pub ghl_legacy_rsa_signature: bool,
}

fn parse_faults(args: &SimArgs) -> anyhow::Result<Faults> {
    let faults: Faults = match &args.faults {
        Some(text) => serde_json::from_str(text).context("--faults is not valid fault JSON")?,
        None => Faults::default(),
    };
    faults
        .validate()
        .map_err(anyhow::Error::msg)
        .context("--faults")?;
    Ok(faults)
}

pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let faults = parse_faults(&args)?;
    let mut config = sim_ghl::SimConfig {
        addr: args.ghl_addr,
        seed: args.seed,
        locations: args.locations,
        faults,
        webhook_url: args.ghl_webhook_url.clone(),
        webhook_retry_spacing: Duration::from_secs(args.webhook_retry_secs),
        access_token_ttl: Duration::from_secs(args.token_ttl_secs),
        legacy_rsa_signature: args.ghl_legacy_rsa_signature,
        ..sim_ghl::SimConfig::default()
    };
    if args.no_rate_limits {
        config.rate_limits = sim_ghl::auth::RateLimits::unlimited();
    }
    let (ghl, _state) = sim_ghl::start(config).await.with_context(|| {
        format!(
            "could not start the HighLevel simulator on {}",
            args.ghl_addr
        )
    })?;
    let accessally = sim_accessally::start(sim_accessally::SimConfig {
        addr: args.accessally_addr,
        seed: args.seed,
        faults: parse_faults(&args)?,
        ..sim_accessally::SimConfig::default()
    })
    .await
    .with_context(|| {
        format!(
            "could not start the AccessAlly simulator on {}",
            args.accessally_addr
        )
    })?;
    println!("{}", ghl.info);
    println!("{}", accessally.info);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    ghl.stop().await;
    accessally.stop().await;
    Ok(ExitCode::SUCCESS)
}
