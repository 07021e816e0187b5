//! ferrovault's mutating admission webhook: vault-k8s' annotations in, an agent-injected pod out.
//!
//! - [`inject`]: the pure mutation logic (annotations → spec → RFC 6902 patch);
//! - [`review`]: AdmissionReview in, AdmissionReview out (pure);
//! - [`server`], [`tls`], [`metrics`]: the HTTPS edge;
//! - [`args`], [`cli`]: the command line (`serve`, `inject`).

pub mod args;
pub mod autotls;
pub mod cli;
pub mod error;
pub mod idle;
pub mod inject;
pub mod metrics;
pub mod review;
pub mod server;
pub mod tls;
