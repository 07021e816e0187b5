//! Shared test harness for ferrovault: real components, started and stopped by the tests.
//!
//! - [`tools`]: where the real binaries are (`bao`).
//! - [`openbao`]: an OpenBao dev server on a free loopback port, killed when dropped, plus helpers
//!   that configure it through the `bao` CLI.
//! - [`kube`]: etcd, kube-apiserver and kube-controller-manager; [`node`] adds a real node
//!   (containerd, kubelet, kube-scheduler) so pods run.

pub mod kube;
pub mod node;
pub mod openbao;
pub mod proxy;
pub mod tools;

/// Errors of the harness (OpenBao, the control plane, any command it runs).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control-plane binaries are not built.
    #[error(
        "{missing} not found in {dir} (from {source_of_dir}): run `eval \"$(scripts/control-plane.sh build)\"` \
         before the end-to-end tests (`make demo-cluster` builds them and runs the tests)"
    )]
    MissingBinary {
        /// The missing file name.
        missing: String,
        /// Where it was looked for.
        dir: String,
        /// Why there: `KUBE_BIN_DIR` or the cache default.
        source_of_dir: &'static str,
    },
    /// Starting or talking to a process failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A command exited non-zero. Only the program and command words (never `k=v` values or stdin)
    /// are shown.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// Program and command words.
        command: String,
        /// Exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A component did not become ready, or exited.
    #[error("{component} not ready after {waited:?}; the end of its log:\n{log}")]
    NotReady {
        /// `OpenBao dev server on …`, `etcd`, `kube-apiserver`, ….
        component: String,
        /// How long we waited.
        waited: std::time::Duration,
        /// The end of its log.
        log: String,
    },
    /// A command printed something that is not the JSON we asked for.
    #[error("`{command}` printed invalid JSON: {source}")]
    Json {
        /// Program and command words.
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

/// Runs `program args` with exactly `env`; stdout on success, [`Error::Command`] (command words and
/// stderr, never stdin or `k=v` values) otherwise.
pub fn run(
    program: &std::path::Path,
    env: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let what = |verb: &str| format!("{verb} {name} {}", command_words(args));
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Io {
            what: what("run"),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(|source| Error::Io {
            what: format!("write stdin of {name}"),
            source,
        })?;
    }
    let out = child.wait_with_output().map_err(|source| Error::Io {
        what: what("wait for"),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{name} {}", command_words(args)),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The words of a command up to the first `k=v` argument that is not a flag (values may be secrets).
pub fn command_words(args: &[&str]) -> String {
    args.iter()
        .take_while(|a| !a.contains('=') || a.starts_with('-'))
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A log file for a child process's stdout and stderr (two handles to one file).
pub fn log_file(path: &std::path::Path) -> Result<(std::fs::File, std::fs::File)> {
    let log = std::fs::File::create(path).map_err(|source| Error::Io {
        what: format!("create {}", path.display()),
        source,
    })?;
    let log2 = log.try_clone().map_err(|source| Error::Io {
        what: "clone log handle".into(),
        source,
    })?;
    Ok((log, log2))
}
