//! The engine a configuration describes: its store opened, each selected
//! tenant built ([`crate::tenants`]), every client call reported to the
//! metrics (and to the API activity log when the daemon keeps one), and the
//! engine's options from `[engine]`. A dry run computes on a scratch copy
//! of the links so that it leaves nothing in the real store.

use std::sync::Arc;

use config::Config;
use engine::{Engine, EngineOptions};
use model::FlowMode;
use store::Store;

use crate::DaemonError;
use crate::store_setup::open_store;
use crate::tenants::{ClientTuning, TenantGhl, TenantLoad, build_tenant, selected};

/// Everything a verb that syncs needs: configuration, store, engine.
pub struct Loaded {
    pub config: Config,
    pub engine: Arc<Engine>,
    /// Each tenant's HighLevel auth and rate budget.
    pub ghl: Vec<TenantGhl>,
    /// The API activity log the clients report to, with
    /// [`TenantLoad::log_calls`].
    pub activity: Option<Arc<engine::housekeeping::ActivityLog>>,
    /// A dry run's scratch store, removed when this is dropped.
    _dry_run_scratch: Option<tempfile::TempDir>,
}

/// Opens the store of a loaded configuration and builds the engine for the
/// selected tenants (all when `only` is `None`) as `load` says;
/// `force_mode` overrides every enabled flow's mode.
pub async fn build_engine(
    config: Config,
    only: Option<&str>,
    options: EngineOptions,
    force_mode: Option<FlowMode>,
    load: &TenantLoad,
) -> Result<Loaded, DaemonError> {
    let store = open_store(&config).await?;
    let mut tuning = ClientTuning::default();
    // Every call the clients make reaches the metrics, and the API
    // activity log when the command keeps one.
    let metrics = Arc::new(engine::metrics::Metrics::new());
    let mut observers: Vec<Arc<dyn transport::CallObserver>> = vec![metrics.clone()];
    let activity = load.log_calls.then(|| {
        let (log, _writer) = engine::housekeeping::ActivityLog::start(store.clone());
        observers.push(log.clone());
        log
    });
    tuning.observer = transport::Observer::new(Arc::new(transport::Fanout(observers)));
    let mut tenants = Vec::new();
    let mut ghl = Vec::new();
    for t in selected(&config, only)? {
        let (mut tenant, kept) = build_tenant(&config, &store, t, &tuning, load).await?;
        ghl.push(kept);
        if let Some(mode) = force_mode {
            for m in tenant.modes.values_mut() {
                if *m != FlowMode::Off {
                    *m = mode;
                }
            }
        }
        tenants.push(tenant);
    }
    let options = EngineOptions {
        // A dry run does not wait for retries: what would fail now is reported.
        max_attempts: if options.dry_run {
            1
        } else {
            i64::from(config.engine.max_attempts)
        },
        concurrency: usize::from(config.engine.workers.max(1)),
        ..options
    };
    let options = match &config.engine.worker_id {
        Some(id) => EngineOptions {
            worker_id: id.clone(),
            stable_worker_id: true,
            ..options
        },
        None => options,
    };
    // A dry run computes on a scratch copy of the links, so it leaves no
    // job, log entry or dead letter in the real store; the tenants' clients
    // keep the real store for their credentials (a refreshed OAuth pair
    // must be kept, whatever the run).
    let (store, dry_run_scratch) = if options.dry_run {
        let (scratch, dir) = dry_run_store(&store).await?;
        (scratch, Some(dir))
    } else {
        (store, None)
    };
    Ok(Loaded {
        engine: Arc::new(Engine::new(store, tenants, options).with_metrics(metrics)),
        config,
        ghl,
        activity,
        _dry_run_scratch: dry_run_scratch,
    })
}

/// A throwaway SQLite store holding a copy of `real`'s links, for a dry run.
async fn dry_run_store(real: &Store) -> Result<(Store, tempfile::TempDir), DaemonError> {
    let dir = tempfile::tempdir().map_err(DaemonError::Scratch)?;
    let scratch = Store::open(
        &Store::sqlite_url(&dir.path().join("dry-run.db")),
        store::Keyring::new(store::MasterKey::generate()),
    )
    .await
    .map_err(DaemonError::store("open the dry run's scratch store"))?;
    let mut after = 0;
    loop {
        let page = real
            .links(None, after, 1_000)
            .await
            .map_err(DaemonError::store("read the links to copy for the dry run"))?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for link in &page {
            scratch
                .save_link(&store::NewLink {
                    entity_type: link.entity_type.clone(),
                    highlevel_id: link.highlevel_id.clone(),
                    accessally_id: link.accessally_id.clone(),
                    highlevel_hash: link.highlevel_hash.clone(),
                    accessally_hash: link.accessally_hash.clone(),
                    highlevel_state: None,
                })
                .await
                .map_err(DaemonError::store(
                    "copy a link into the dry run's scratch store",
                ))?;
        }
    }
    Ok((scratch, dir))
}
