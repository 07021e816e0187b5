//! Shared test harness for ferrovault: real components, started and stopped by the tests.
//!
//! - [`tools`]: where the real binaries are (`bao`).
//! - [`openbao`]: an OpenBao dev server on a free loopback port, killed when dropped, plus helpers
//!   that configure it through the `bao` CLI.

pub mod kube;
pub mod openbao;
pub mod tools;

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Starting or talking to a process failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A `bao` CLI command exited non-zero. Only the command words (never `k=v` values) are shown.
    #[error("`bao {command}` failed ({status}): {stderr}")]
    Command {
        /// The command words before the first argument carrying a value.
        command: String,
        /// Exit status.
        status: std::process::ExitStatus,
        /// What the CLI printed on stderr.
        stderr: String,
    },
    /// The dev server did not become ready.
    #[error("OpenBao dev server on {addr} not ready after {waited:?}; its log:\n{log}")]
    NotReady {
        /// The listen address.
        addr: String,
        /// How long we waited.
        waited: std::time::Duration,
        /// The server's output.
        log: String,
    },
    /// The CLI printed something that is not the JSON we asked for.
    #[error("`bao {command}` printed invalid JSON: {source}")]
    Json {
        /// The command words.
        command: String,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Result of the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A random hex string (64 bits of `RandomState` entropy per 16 characters), for tokens and names.
pub fn random_hex(len: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(out.len());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: std::time::Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
