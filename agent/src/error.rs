//! The agent's one error type. Messages name the setting, file, template or Vault path involved and
//! never carry a secret value, a token or a request body.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything that can stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The agent config could not be decoded.
    #[error("agent config: {0}")]
    Contract(#[from] ferrovault_contract::ContractError),
    /// A setting has a value the agent does not accept.
    #[error("invalid setting {field}: {message}")]
    Config {
        /// The setting, e.g. `auto_auth.method.config.role`.
        field: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The Vault Agent config file (`agent-configmap`) holds something the agent does not accept.
    #[error("{}: {source}", file.display())]
    ConfigFile {
        /// The file.
        file: PathBuf,
        /// Line, block and message.
        source: ferrovault_contract::hcl::HclError,
    },
    /// A local file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`reading`, `writing`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A destination, sink or marker would land outside the directories the agent may write.
    #[error("{what} {} is outside the allowed directories ({allowed}); refusing to write it", path.display())]
    PathEscape {
        /// Which file (`template "x" destination`, `token sink`, …).
        what: String,
        /// The offending path.
        path: PathBuf,
        /// The allowed directories.
        allowed: String,
    },
    /// Building the TLS or HTTP client for Vault failed.
    #[error("vault client: {0}")]
    Client(String),
    /// Logging in to Vault failed.
    #[error("login with {method} at {mount} failed: {message}")]
    Login {
        /// Auth method type.
        method: String,
        /// Mount path.
        mount: String,
        /// Cause (Vault's error list or the transport error).
        message: String,
    },
    /// A Vault request failed.
    #[error("{operation} {path}: {message}")]
    Vault {
        /// `read`, `write`, `list`, `renew`, …
        operation: &'static str,
        /// The Vault path (never a value).
        path: String,
        /// Cause (HTTP status and Vault's error list, or the transport error).
        message: String,
        /// The HTTP status Vault answered with (`None` for transport errors).
        status: Option<u16>,
    },
    /// A template does not compile or failed to render.
    #[error("template {name:?}: {source}")]
    Template {
        /// The template's secret name.
        name: String,
        /// Line, column and message.
        source: ferrovault_template::TemplateError,
    },
    /// A template's data could not be fetched after all retries.
    #[error("template {name:?}: {source}")]
    Fetch {
        /// The template's secret name.
        name: String,
        /// What failed.
        source: Box<Error>,
    },
    /// A rendered env file would be misread by the kubelet: it is not written.
    #[error(
        "template {name:?} is an env file (ferrovault.dev/env-{name}) the kubelet would misread, so it was not written: {message}"
    )]
    EnvFile {
        /// The template's secret name.
        name: String,
        /// Which line or key and why (never a value).
        message: String,
    },
    /// A template kept asking for new data.
    #[error("template {name:?}: still missing data after {passes} render passes")]
    TooManyPasses {
        /// The template's secret name.
        name: String,
        /// How many passes were made.
        passes: usize,
    },
    /// Init mode did not finish in time.
    #[error("init did not complete within {timeout:?}; last error: {last}")]
    InitTimeout {
        /// The configured bound.
        timeout: Duration,
        /// The most recent failure, if any.
        last: String,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }

    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The template a render error is about.
    pub fn template(&self) -> Option<&str> {
        match self {
            Error::Template { name, .. } | Error::Fetch { name, .. } | Error::TooManyPasses { name, .. } => {
                Some(name)
            }
            _ => None,
        }
    }

    /// Vault answered 403: the token was revoked or lacks a policy. Logging in again is the cure for
    /// the first; retrying with the same token cures neither.
    pub fn is_forbidden(&self) -> bool {
        match self {
            Error::Vault { status, .. } => *status == Some(403),
            Error::Fetch { source, .. } => source.is_forbidden(),
            _ => false,
        }
    }

    /// Exit code for this error: 64 (`EX_USAGE`) for bad configuration, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Contract(_) | Error::Config { .. } | Error::ConfigFile { .. } => 64,
            _ => 1,
        }
    }
}

/// Result of the agent.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `source()` chain of an error joined with `: ` (transport errors hide their cause otherwise).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// The most recent failure, shared so that a timeout can say what went wrong.
#[derive(Debug, Clone, Default)]
pub struct LastError(Arc<Mutex<Option<String>>>);

impl LastError {
    /// Records `err`.
    pub fn set(&self, err: &Error) {
        *self.0.lock().expect("last error") = Some(err.to_string());
    }

    /// The recorded failure, or a placeholder.
    pub fn get(&self) -> String {
        self.0
            .lock()
            .expect("last error")
            .clone()
            .unwrap_or_else(|| "none recorded".into())
    }
}
