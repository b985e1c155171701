//! The flow modes switched at run time (the admin page's switch), kept in a
//! small TOML file next to the configuration — `allybridge.modes.toml` for
//! `allybridge.toml` — so a restart keeps them. Each entry records the mode
//! chosen and the mode the configuration had when it was chosen: the switch
//! wins while the configuration still says that mode, and yields as soon as
//! the configuration is edited for that flow (editing `allybridge.toml`
//! stays the way to decide for good). It reads and writes that one file
//! (atomically: a temporary file renamed over it) and nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use model::{Flow, FlowMode};
use serde::Deserialize;

/// Why the modes file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ModesError {
    #[error(
        "could not read the flow modes switched at run time from {path}: {source}; fix its permissions, or delete it to go back to the configuration's modes"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}, line {line}, column {column}: {message}; fix the entry, or delete the file to go back to the configuration's modes"
    )]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "could not keep the flow mode in {path}: {source}; check that the configuration's folder is writable"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One flow's switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeSwitch {
    /// The mode chosen at run time.
    pub mode: FlowMode,
    /// The configuration's mode when it was chosen.
    pub configured: FlowMode,
}

/// Switches by tenant name, then flow.
pub type Switches = BTreeMap<String, BTreeMap<Flow, ModeSwitch>>;

/// The modes file of one configuration file.
#[derive(Debug)]
pub struct ModeFile {
    path: PathBuf,
    /// Serialises read-modify-write cycles within this process.
    lock: Mutex<()>,
}

const HEADER: &str = "# Flow modes switched at run time on allybridge's admin page; written by\n\
# allybridge. Each wins over [tenant.flows] in the configuration while the\n\
# configuration still says `configured`; edit the configuration and the\n\
# configuration wins. Delete an entry, or this file, to go back to the\n\
# configuration's modes.\n";

fn mode_name(mode: FlowMode) -> &'static str {
    match mode {
        FlowMode::Off => "off",
        FlowMode::Observe => "observe",
        FlowMode::Write => "write",
    }
}

impl ModeFile {
    /// The modes file next to `config_file`: `NAME.modes.toml` for `NAME.toml`.
    pub fn next_to(config_file: &Path) -> Self {
        let stem = config_file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "allybridge".into());
        Self {
            path: config_file.with_file_name(format!("{stem}.modes.toml")),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every switch; none when the file does not exist.
    pub fn load(&self) -> Result<Switches, ModesError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Switches::new()),
            Err(source) => {
                return Err(ModesError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| crate::line_column(&text, span.start))
                .unwrap_or((1, 1));
            ModesError::Parse {
                path: self.path.clone(),
                line,
                column,
                message: e.message().to_string(),
            }
        })
    }

    /// Keeps `mode` for `flow` of `tenant`, whose configuration says
    /// `configured`; a switch back to the configured mode removes the entry.
    pub fn save(
        &self,
        tenant: &str,
        flow: Flow,
        mode: FlowMode,
        configured: FlowMode,
    ) -> Result<(), ModesError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut switches = self.load()?;
        let flows = switches.entry(tenant.to_string()).or_default();
        if mode == configured {
            flows.remove(&flow);
        } else {
            flows.insert(flow, ModeSwitch { mode, configured });
        }
        switches.retain(|_, flows| !flows.is_empty());
        let write = |source| ModesError::Write {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("toml.tmp");
        std::fs::write(&tmp, render(&switches)).map_err(write)?;
        std::fs::rename(&tmp, &self.path).map_err(write)
    }
}

/// The file's text. Tenant names are letters, digits, `-` and `_` (the
/// configuration checks), so they are bare TOML keys; they are quoted anyway.
fn render(switches: &Switches) -> String {
    let mut out = String::from(HEADER);
    for (tenant, flows) in switches {
        for (flow, s) in flows {
            let tenant = tenant.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str(&format!(
                "\n[\"{tenant}\".{}]\nmode = \"{}\"\nconfigured = \"{}\"\n",
                flow.as_str(),
                mode_name(s.mode),
                mode_name(s.configured)
            ));
        }
    }
    out
}

/// The mode `flow` of a tenant runs in: the switch while the configuration
/// still says what it said when the switch was made, else `configured`.
pub fn effective(switches: &Switches, tenant: &str, flow: Flow, configured: FlowMode) -> FlowMode {
    switches
        .get(tenant)
        .and_then(|flows| flows.get(&flow))
        .filter(|s| s.configured == configured)
        .map_or(configured, |s| s.mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary folder, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(format!(
                "allybridge-config-{name}-{}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default()
            ));
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn switches_round_trip_and_yield_to_a_changed_configuration() -> anyhow::Result<()> {
        let dir = TempDir::new("round-trip")?;
        let file = ModeFile::next_to(&dir.path().join("prod.toml"));
        assert_eq!(file.path(), dir.path().join("prod.modes.toml"));
        assert!(file.load()?.is_empty(), "no file: no switch");

        file.save(
            "main",
            Flow::CouponsToAccessally,
            FlowMode::Write,
            FlowMode::Observe,
        )?;
        file.save(
            "b-2",
            Flow::OrdersToHighlevel,
            FlowMode::Off,
            FlowMode::Write,
        )?;
        let switches = ModeFile::next_to(&dir.path().join("prod.toml")).load()?;
        let m = |t, f, c| effective(&switches, t, f, c);
        assert_eq!(
            m("main", Flow::CouponsToAccessally, FlowMode::Observe),
            FlowMode::Write
        );
        assert_eq!(
            m("b-2", Flow::OrdersToHighlevel, FlowMode::Write),
            FlowMode::Off
        );
        // The configuration was edited for that flow since: it wins.
        assert_eq!(
            m("main", Flow::CouponsToAccessally, FlowMode::Off),
            FlowMode::Off
        );
        // Other flows and tenants keep their configured mode.
        assert_eq!(
            m("main", Flow::OrdersToHighlevel, FlowMode::Observe),
            FlowMode::Observe
        );

        // Switching back to the configured mode removes the entry.
        file.save(
            "main",
            Flow::CouponsToAccessally,
            FlowMode::Observe,
            FlowMode::Observe,
        )?;
        let switches = file.load()?;
        assert!(!switches.contains_key("main"));
        assert_eq!(switches["b-2"].len(), 1);
        assert!(!dir.path().join("prod.modes.toml.tmp").exists());
        Ok(())
    }

    #[test]
    fn a_broken_file_names_its_line_and_what_to_do() -> anyhow::Result<()> {
        let dir = TempDir::new("broken")?;
        let file = ModeFile::next_to(&dir.path().join("allybridge.toml"));
        std::fs::write(
            file.path(),
            "[main.coupons_to_accessally]\nmode = \"sometimes\"\nconfigured = \"off\"\n",
        )?;
        let message = file.load().expect_err("refused").to_string();
        assert!(
            message.contains("line 2") && message.contains("delete the file"),
            "{message}"
        );
        std::fs::write(file.path(), "[main.no_such_flow]\nmode = \"off\"\n")?;
        assert!(file.load().is_err());
        Ok(())
    }
}
