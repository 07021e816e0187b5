//! ferrovault-agent: renders Vault secrets into files, as Vault Agent does for vault-k8s.
//!
//! Modes: `init` (render once, exit), `sidecar` (keep rendering), `native` (sidecar plus a ready
//! marker for the startupProbe) and `ready` (the probe itself). `main.rs` only parses arguments and
//! calls [`run`].

pub mod args;
pub mod auth;
pub mod credential;
mod envfile;
mod error;
pub mod fetch;
pub mod files;
mod jitter;
pub mod lease;
pub mod pki;
pub mod reload;
pub mod runner;
pub mod settings;
pub mod vault;

use std::path::Path;
use std::time::Duration;

pub use error::LastError;
pub use error::{Error, Result};
use ferrovault_contract::{AGENT_CONFIG_ENV, AgentConfig, LogConfig};
pub use runner::{Agent, Mode};
pub use settings::{Overrides, Settings};
use tokio::sync::watch;

/// Reads the agent config: `--config FILE` (JSON) if given, else env `FERROVAULT_AGENT_CONFIG`.
pub fn load_config(file: Option<&Path>, env_value: Option<&str>) -> Result<AgentConfig> {
    match (file, env_value) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(Error::io("reading config", path))?;
            Ok(AgentConfig::from_json(&bytes)?)
        }
        (None, Some(value)) => Ok(AgentConfig::decode_env(value)?),
        (None, None) => Err(Error::config(
            "--config",
            format!("no agent config: pass --config FILE or set {AGENT_CONFIG_ENV}"),
        )),
    }
}

/// Installs the tracing subscriber from the config's `log` (level and `standard`/`json` format), on
/// stderr. Env `RUST_LOG` overrides the level. Dependencies are kept at `warn`.
pub fn init_logging(log: &LogConfig) {
    // vault-k8s passes `log-level` through unvalidated; an unknown name logs at info
    ferrovault_contract::logging::init(
        "ferrovault-agent",
        &["ferrovault_agent", "ferrovault_template"],
        &log.level,
        ferrovault_contract::log_format(&log.format) == Some("json"),
    );
}

/// A channel that turns true on SIGTERM or SIGINT.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
        let _ = tx.send(true);
    });
    rx
}

/// Runs the agent in `mode` until done. In init mode the whole run is bounded by `init_timeout`.
pub async fn run(
    settings: Settings,
    mode: Mode,
    init_timeout: Duration,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let last_error = LastError::default();
    let agent = Agent::new(settings, last_error.clone())?;
    let run = agent.run(mode, shutdown);
    if mode != Mode::Init {
        return run.await;
    }
    match tokio::time::timeout(init_timeout, run).await {
        Ok(result) => result,
        Err(_) => Err(Error::InitTimeout {
            timeout: init_timeout,
            last: last_error.get(),
        }),
    }
}

/// Never let a panic message (which could hold secret data) reach the logs: report the location only.
pub fn install_panic_hook() {
    ferrovault_contract::logging::install_panic_hook("ferrovault-agent", "secret data");
}
