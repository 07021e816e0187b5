//! Locations of the real tools the tests drive.

use std::path::{Path, PathBuf};

/// A tool installed by `scripts/install-tools.sh`: env `var`, else `$HOME/.cache/ferrovault/bin/<name>`
/// if it exists, else `name` (looked up on `PATH`).
fn installed_tool(var: &str, name: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let cached = PathBuf::from(home).join(".cache/ferrovault/bin").join(name);
        if cached.is_file() {
            return cached;
        }
    }
    PathBuf::from(name)
}

/// The OpenBao binary (`BAO_BIN`).
pub fn bao_bin() -> PathBuf {
    installed_tool("BAO_BIN", "bao")
}

/// The helm binary (`HELM_BIN`).
pub fn helm_bin() -> PathBuf {
    installed_tool("HELM_BIN", "helm")
}

/// One of our own binaries (`ferrovault-webhook`, `ferrovault-agent`) built for the tests: in
/// `FERROVAULT_BIN_DIR`, else `$CARGO_TARGET_DIR/debug`, else the workspace's `target/debug`.
/// Panics with the command to run when it is missing (`make test` builds them first).
pub fn our_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("FERROVAULT_BIN_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .filter(|v| !v.is_empty())
                .map(|t| PathBuf::from(t).join("debug"))
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p ferrovault-webhook -p ferrovault-agent` (or set FERROVAULT_BIN_DIR)",
        path.display()
    );
    path
}

/// Runs the `openssl` CLI (test key generation, signing, certificate inspection); stdout on success.
/// Panics with openssl's stderr otherwise.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI is installed");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs OpenBao's agent (`bao agent -config=CONFIG`, the oracle of the differential tests) to the
/// end — the config sets `exit_after_auth` — bounded by 120 s, with `env` and without an inherited
/// `VAULT_ADDR` (it would override the config). Panics with the agent's output when it fails.
pub fn run_bao_agent(config: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(bao_bin())
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .env_remove("VAULT_ADDR")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running bao agent: {e}"));
    assert!(
        out.status.success(),
        "bao agent failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Runs `ferrovault-agent init --home HOME --config CONFIG` (60 s bound) with `env`. Panics with
/// its log when it fails.
pub fn run_our_agent_init(home: &Path, config: &Path, env: &[(&str, &str)]) -> std::process::Output {
    let out = std::process::Command::new(our_bin("ferrovault-agent"))
        .args(["init", "--init-timeout", "60s", "--home"])
        .arg(home)
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running ferrovault-agent: {e}"));
    assert!(
        out.status.success(),
        "ferrovault-agent failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
