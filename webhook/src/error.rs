//! The webhook's error type (serving and CLI). Denials are not errors: they are answers
//! ([`crate::inject::Decision::Deny`]).

use std::path::PathBuf;

/// Errors of the webhook process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request body is not something we can answer (HTTP 400). Never echoes the body.
    #[error("{0}")]
    BadRequest(String),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// Binding or serving failed.
    #[error("server: {0}")]
    Serve(#[from] std::io::Error),
    /// Talking to the Kubernetes API failed.
    #[error("kubernetes: {0}")]
    Kube(String),
    /// A setting is wrong.
    #[error("configuration: {0}")]
    Config(String),
}
