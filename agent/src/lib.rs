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
pub mod listener;
pub mod metrics;
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

/// With `agent-configmap` (`config_dir` set), reads the Vault Agent config file for `mode`
/// (`config-init.hcl` in init mode, else `config.hcl`) and lays it over `cfg`; otherwise returns
/// `cfg` as it is.
pub fn resolve_config(cfg: AgentConfig, mode: Mode) -> Result<AgentConfig> {
    let Some(dir) = cfg.config_dir.clone() else {
        return Ok(cfg);
    };
    use ferrovault_contract::hcl;
    let name = if mode == Mode::Init {
        hcl::INIT_FILE
    } else {
        hcl::SIDECAR_FILE
    };
    let file = Path::new(&dir).join(name);
    let read = check_config_file(&file)?;
    hcl::apply(cfg, read).map_err(|source| Error::ConfigFile { file, source })
}

/// `ferrovault-agent check FILE`: reads a Vault Agent config file as an agent would and says what in
/// it is not accepted (line and block). The pod's annotations are not known here, so a file without
/// a Vault address passes.
pub fn check_config_file(file: &Path) -> Result<ferrovault_contract::hcl::FileConfig> {
    use std::io::Read as _;
    let cap = ferrovault_contract::hcl::MAX_FILE_BYTES;
    // read one byte past the cap at most: a huge file is refused without being read whole
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(cap as u64 + 1).read_to_end(&mut bytes))
        .map_err(Error::io("reading", file))?;
    if bytes.len() > cap {
        let size = std::fs::metadata(file).map_or(bytes.len() as u64, |m| m.len());
        return Err(Error::ConfigFile {
            file: file.to_owned(),
            source: ferrovault_contract::hcl::HclError {
                line: 0,
                block: String::new(),
                message: format!(
                    "the file is {size} bytes, more than the {cap} bytes (1 MiB, a ConfigMap's limit) ferrovault reads"
                ),
            },
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::ConfigFile {
        file: file.to_owned(),
        source: ferrovault_contract::hcl::HclError {
            line: 0,
            block: String::new(),
            message: "the file is not UTF-8 text".to_owned(),
        },
    })?;
    ferrovault_contract::hcl::read(&text).map_err(|source| Error::ConfigFile {
        file: file.to_owned(),
        source,
    })
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
    let pid_file = (settings.pid_file.as_ref())
        .map(|p| files::confine("pid_file", p, &settings.sink_dirs()))
        .transpose()?;
    if let Some(path) = &pid_file {
        files::write_atomic(
            path,
            std::process::id().to_string().as_bytes(),
            Some(0o644),
            0o644,
        )?;
    }
    let listeners = settings.listeners.clone();
    let agent = Agent::new(settings, last_error.clone())?;
    let result = if mode != Mode::Init {
        match serve_listeners(&agent, &listeners, shutdown).await {
            Ok(shutdown) => agent.run(mode, shutdown).await,
            Err(err) => Err(err),
        }
    } else {
        match tokio::time::timeout(init_timeout, agent.run(mode, shutdown)).await {
            Ok(result) => result,
            Err(_) => Err(Error::InitTimeout {
                timeout: init_timeout,
                last: last_error.get(),
            }),
        }
    };
    if let Some(path) = &pid_file {
        let _ = files::remove(path);
    }
    result
}

/// Starts the listeners of the long-running modes; the returned channel turns true on `shutdown` or
/// on `POST /agent/v1/quit`.
async fn serve_listeners(
    agent: &Agent,
    settings: &listener::ListenersSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<watch::Receiver<bool>> {
    if settings.listeners.is_empty() {
        return Ok(shutdown);
    }
    let (quit, mut quit_rx) = watch::channel(false);
    let metrics = agent.metrics();
    let shared = std::sync::Arc::new(listener::Shared {
        vault: agent.vault().clone(),
        http: agent.vault().proxy_client()?,
        token: agent.token(),
        cache: settings
            .cache
            .then(|| listener::cache::Cache::new(agent.vault().clone(), metrics.clone())),
        metrics,
        use_auto_auth_token: settings.use_auto_auth_token,
        serve_metrics: settings.metrics,
        quit,
    });
    listener::start(settings, shared).await?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let quit = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => false,
            _ = quit_rx.wait_for(|quit| *quit) => true,
        };
        if quit {
            // let the quit request's answer reach the client before the process ends
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// Marks the agent non-dumpable (`PR_SET_DUMPABLE` 0): its `/proc/<pid>/` files (`environ`, `root`,
/// `fd`, `mem`) then belong to root, so another process of the agent's uid — an app in a pod with
/// `shareProcessNamespace`, which a signal reload turns on — cannot read its environment, its token
/// sink through `/proc/<pid>/root`, or its memory, unless it has `CAP_SYS_PTRACE`. No core dumps
/// either (they would hold tokens). Signals are not affected.
pub fn harden_process() {
    if let Err(err) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        eprintln!("ferrovault-agent: warning: could not make the process non-dumpable: {err}");
    }
}

/// Never let a panic message (which could hold secret data) reach the logs: report the location only.
pub fn install_panic_hook() {
    ferrovault_contract::logging::install_panic_hook("ferrovault-agent", "secret data");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #19 §11: a config file over the cap is refused before it is read whole, naming the
    /// file, its size and the cap.
    #[test]
    fn check_refuses_a_config_file_over_one_mib() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.hcl");
        let size = ferrovault_contract::hcl::MAX_FILE_BYTES + 10;
        std::fs::write(&file, vec![b'#'; size]).unwrap();
        let msg = check_config_file(&file).unwrap_err().to_string();
        assert!(msg.contains("config.hcl"), "{msg}");
        assert!(
            msg.contains(&size.to_string()) && msg.contains("1048576"),
            "{msg}"
        );
    }
}
