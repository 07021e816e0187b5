//! Command line (clap derive; every flag has an env twin).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::settings::Overrides;

/// Renders Vault secrets into files for a pod (ferrovault's Vault Agent).
#[derive(Debug, Parser)]
#[command(name = "ferrovault-agent", version)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Agent config as a JSON file (otherwise env FERROVAULT_AGENT_CONFIG, base64 JSON).
    #[arg(long, global = true, env = "FERROVAULT_AGENT_CONFIG_FILE")]
    pub config: Option<PathBuf>,
    /// Re-root every output path (destinations, sinks, secrets dirs) under this directory, for local runs.
    #[arg(long, global = true, env = "FERROVAULT_SECRETS_ROOT")]
    pub secrets_root: Option<PathBuf>,
    /// Use this directory instead of /home/vault.
    #[arg(long, global = true, env = "FERROVAULT_HOME")]
    pub home: Option<PathBuf>,
    /// Read the service-account token (kubernetes method) or JWT (jwt method) from this file instead of
    /// the path in the config: to run an injected config outside its pod.
    #[arg(long, global = true, env = "FERROVAULT_TOKEN_PATH")]
    pub token_path: Option<PathBuf>,
    /// Ready marker path (default /home/vault/.ferrovault-ready, under --home if given).
    #[arg(long, global = true, env = "FERROVAULT_READY_FILE")]
    pub ready_file: Option<PathBuf>,
    /// Bound of init mode, a Go duration.
    #[arg(long, global = true, env = "FERROVAULT_INIT_TIMEOUT", default_value = "5m", value_parser = go_duration)]
    pub init_timeout: Duration,
    /// First delay of the secret fetch retry (tests).
    #[arg(long, global = true, env = "FERROVAULT_RETRY_BASE", hide = true, value_parser = go_duration)]
    pub retry_base: Option<Duration>,
    /// Longest delay of the secret fetch retry (tests).
    #[arg(long, global = true, env = "FERROVAULT_RETRY_CAP", hide = true, value_parser = go_duration)]
    pub retry_cap: Option<Duration>,
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Render every template once and exit (init container).
    Init,
    /// Keep the files fresh until SIGTERM (classic sidecar).
    Sidecar,
    /// Like sidecar; create the ready marker after the first complete render (native sidecar).
    Native,
    /// Exit 0 only when the ready marker exists (the native sidecar's startupProbe).
    Ready,
    /// Check a Vault Agent config file (`agent-configmap`'s config.hcl / config-init.hcl) the way the
    /// agent reads it: exit 0 if accepted, else 64 with the line and block of the first problem.
    Check {
        /// The file (HCL, or JSON).
        file: PathBuf,
    },
}

impl Args {
    /// The local-run overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            secrets_root: self.secrets_root.clone(),
            home: self.home.clone(),
            ready_file: self.ready_file.clone(),
            token_path: self.token_path.clone(),
            retry_base: self.retry_base,
            retry_cap: self.retry_cap,
        }
    }

    /// Where the ready marker is, without needing the agent config.
    pub fn ready_path(&self) -> PathBuf {
        self.ready_file.clone().unwrap_or_else(|| {
            crate::settings::remap(
                std::path::Path::new(ferrovault_contract::READY_MARKER),
                &self.overrides(),
            )
        })
    }
}

fn go_duration(value: &str) -> Result<Duration, String> {
    ferrovault_contract::go::parse_duration(value)
        .ok_or_else(|| format!("{value:?} is not {}", ferrovault_contract::go::DURATION_ACCEPTED))
}
