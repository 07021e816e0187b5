//! OpenBao for pods on the test node: `bao server -dev` listening on the node IP (pods reach it
//! through the bridge gateway; [`crate::openbao::DevServer`] listens on 127.0.0.1, which pods
//! cannot reach), configured through the `bao` CLI, killed when dropped.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools::bao_bin;
use crate::{Error, Result, free_port, random_hex, wait_for};

/// A running `bao server -dev` on `<ip>:<port>`.
pub struct NodeVault {
    child: Option<Child>,
    addr: String,
    root_token: String,
    dir: tempfile::TempDir,
}

impl NodeVault {
    /// Starts a dev server on `ip` and waits until `bao status` answers.
    pub fn start(ip: Ipv4Addr) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            what: "create temp dir for OpenBao".into(),
            source,
        })?;
        let listen = format!("{ip}:{}", free_port());
        let root_token = format!("root-{}", random_hex(24));
        let (log, log2) = crate::log_file(&dir.path().join("bao.log"))?;
        let child = Command::new(bao_bin())
            .args([
                "server",
                "-dev",
                "-dev-no-store-token",
                &format!("-dev-root-token-id={root_token}"),
                &format!("-dev-listen-address={listen}"),
                // names the dir on the command line, so a killed run's server is found and stopped
                &format!("-log-file={}/server-file.log", dir.path().display()),
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| Error::Io {
                what: format!("start {} server -dev", bao_bin().display()),
                source,
            })?;
        let vault = Self {
            child: Some(child),
            addr: format!("http://{listen}"),
            root_token,
            dir,
        };
        let started = Instant::now();
        if wait_for(Duration::from_secs(30), || vault.bao(&["status"]).ok()).is_none() {
            return Err(Error::NotReady {
                component: format!("OpenBao dev server on {listen}"),
                waited: started.elapsed(),
                log: vault.log(),
            });
        }
        Ok(vault)
    }

    /// `http://<node ip>:<port>`: the address pods use.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Its scratch directory (named on its command line).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The server's output.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bao.log")).unwrap_or_default()
    }

    /// Runs `bao <args>` as root against the server; stdout.
    pub fn bao(&self, args: &[&str]) -> Result<String> {
        self.bao_stdin(args, None)
    }

    /// Runs `bao <args>` with `stdin` (e.g. `policy write p -`).
    pub fn bao_stdin(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".to_owned(), self.dir.path().display().to_string()),
            ("BAO_ADDR".to_owned(), self.addr.clone()),
            ("BAO_TOKEN".to_owned(), self.root_token.clone()),
        ];
        crate::run(&bao_bin(), &env, args, stdin)
    }
}

impl Drop for NodeVault {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl std::fmt::Debug for NodeVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeVault")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
