//! Helpers for the agent's end-to-end tests: a real OpenBao dev server, an AppRole, an agent config
//! and the real `ferrovault-agent` binary, killed when dropped.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ferrovault_contract::{
    AgentConfig, AuthMethod, AutoAuth, Sink, Template, TemplateConfig, VaultConnection,
};
use ferrovault_tests::openbao::{AppRoleCreds, DevServer};

/// A dev server plus a scratch root the agent writes into (`--secrets-root`, `--home`).
pub struct Env {
    pub bao: DevServer,
    pub root: tempfile::TempDir,
    pub creds: Option<AppRoleCreds>,
}

impl Env {
    pub fn start() -> Self {
        Self {
            bao: DevServer::start().expect("start OpenBao dev server"),
            root: tempfile::tempdir().expect("tempdir"),
            creds: None,
        }
    }

    /// Like [`Env::start`] with a real raft-storage server (data survives restarts; can be sealed).
    pub fn raft() -> Self {
        Self {
            bao: DevServer::start_raft().expect("start OpenBao on raft storage"),
            root: tempfile::tempdir().expect("tempdir"),
            creds: None,
        }
    }

    /// Like [`Env::start`] with an HTTPS dev server.
    pub fn tls() -> Self {
        Self {
            bao: DevServer::start_tls().expect("start OpenBao dev server with TLS"),
            root: tempfile::tempdir().expect("tempdir"),
            creds: None,
        }
    }

    /// An AppRole `app` allowed everything but sudo, with its credentials in files.
    pub fn approle(&mut self, settings: &[(&str, &str)]) -> AuthMethod {
        self.bao
            .policy_for("app", &["*"], &["create", "read", "update", "delete", "list"])
            .unwrap();
        let creds = self
            .bao
            .enable_approle("app", &["default", "app"], settings)
            .unwrap();
        let dir = self.root.path().join("creds");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("role-id"), &creds.role_id).unwrap();
        std::fs::write(dir.join("secret-id"), &creds.secret_id).unwrap();
        self.creds = Some(creds);
        AuthMethod {
            kind: "approle".into(),
            mount_path: "auth/approle".into(),
            min_backoff: Some("100ms".parse().unwrap()),
            max_backoff: Some("500ms".parse().unwrap()),
            config: BTreeMap::from([
                (
                    "role_id_file_path".into(),
                    dir.join("role-id").display().to_string(),
                ),
                (
                    "secret_id_file_path".into(),
                    dir.join("secret-id").display().to_string(),
                ),
            ]),
            ..Default::default()
        }
    }

    /// A config as the webhook would write it, for `method` and `templates`.
    pub fn config(&self, method: AuthMethod, templates: Vec<Template>) -> AgentConfig {
        AgentConfig {
            version: ferrovault_contract::CONFIG_VERSION,
            vault: VaultConnection {
                address: self.bao.addr(),
                ..Default::default()
            },
            auto_auth: AutoAuth {
                method,
                sinks: vec![Sink {
                    path: ferrovault_contract::HOME_TOKEN_SINK.into(),
                    mode: None,
                }],
            },
            templates,
            template_config: TemplateConfig::default(),
            secrets_dirs: vec!["/vault/secrets".into()],
            log: ferrovault_contract::LogConfig {
                level: "debug".into(),
                format: "standard".into(),
            },
            revoke_on_shutdown: false,
            config_dir: None,
            exit_after_auth: false,
            pid_file: None,
            listeners: Vec::new(),
            cache: None,
            telemetry: None,
            host_network: false,
        }
    }

    /// Where `/vault/secrets/<name>` lands locally.
    pub fn secret_file(&self, name: &str) -> PathBuf {
        self.root.path().join("vault/secrets").join(name)
    }

    /// The local `/home/vault`.
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// The agent command for `mode`, with local-run remapping and fast fetch retries.
    pub fn command(&self, cfg: &AgentConfig, mode: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrovault-agent"));
        cmd.arg(mode)
            .arg("--secrets-root")
            .arg(self.root.path())
            .arg("--home")
            .arg(self.home())
            .args(["--retry-base", "50ms", "--retry-cap", "200ms"])
            .env_remove("VAULT_TOKEN")
            .env_remove("RUST_LOG")
            .env(ferrovault_contract::AGENT_CONFIG_ENV, cfg.encode_env())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs init mode to completion (killed after 60 s) and returns its status and output.
    pub fn run_init(&self, cfg: &AgentConfig, extra: &[&str]) -> (ExitStatus, String) {
        let mut cmd = self.command(cfg, "init");
        cmd.args(extra);
        let agent = AgentProcess::spawn(cmd, self.root.path());
        agent.wait(Duration::from_secs(60))
    }

    /// Starts a long-running mode.
    pub fn spawn(&self, cfg: &AgentConfig, mode: &str) -> AgentProcess {
        AgentProcess::spawn(self.command(cfg, mode), self.root.path())
    }
}

/// A template rendered to `/vault/secrets/<name>`.
pub fn template(name: &str, contents: &str) -> Template {
    Template {
        name: name.into(),
        destination: format!("/vault/secrets/{name}"),
        contents: Some(contents.into()),
        left_delimiter: "{{".into(),
        right_delimiter: "}}".into(),
        ..Default::default()
    }
}

/// A running agent; its stdout and stderr go to a log file. Killed on drop.
pub struct AgentProcess {
    child: Option<Child>,
    log: PathBuf,
}

impl AgentProcess {
    fn spawn(mut cmd: Command, dir: &Path) -> Self {
        let log = dir.join(format!("agent-{}.log", ferrovault_tests::random_hex(8)));
        let file = std::fs::File::create(&log).unwrap();
        cmd.stdout(file.try_clone().unwrap()).stderr(file);
        Self {
            child: Some(cmd.spawn().expect("start ferrovault-agent")),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Everything the agent printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (through the `kill` utility: no unsafe code here).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// Waits for exit (panics after `limit`) and returns status and log.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                self.child = None;
                return (status, self.log());
            }
            if started.elapsed() > limit {
                panic!("agent still running after {limit:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Fails if any of `secrets` appears in `log`.
pub fn assert_no_secrets(log: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(!log.contains(secret), "log leaks a secret value; log:\n{log}");
    }
}

/// Polls until `path` holds `expected` (max 60 s).
pub fn wait_for_contents(path: &Path, expected: &str, agent: &AgentProcess) {
    let found = ferrovault_tests::wait_for(Duration::from_secs(60), || {
        (std::fs::read_to_string(path).ok().as_deref() == Some(expected)).then_some(())
    });
    assert!(
        found.is_some(),
        "{} never held {expected:?} (has {:?}); agent log:\n{}",
        path.display(),
        std::fs::read_to_string(path).ok(),
        agent.log()
    );
}
