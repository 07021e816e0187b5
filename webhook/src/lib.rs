//! ferrovault's mutating admission webhook: vault-k8s' annotations in, an agent-injected pod out.
//!
//! - [`inject`]: the pure mutation logic (annotations → spec → RFC 6902 patch);
//! - [`review`]: AdmissionReview in, AdmissionReview out (pure);
//! - [`server`], [`tls`], [`metrics`]: the HTTPS edge;
//! - [`missed`]: pods that ask for injection but carry no agent (the detector and `audit`);
//! - [`leader`]: the Lease election (auto TLS, the detector);
//! - [`args`], [`cli`]: the command line (`serve`, `inject`, `audit`).

pub mod args;
pub mod autotls;
pub mod cli;
pub mod error;
pub mod idle;
pub mod inject;
pub mod leader;
pub mod metrics;
pub mod missed;
pub mod review;
pub mod server;
pub mod tls;
