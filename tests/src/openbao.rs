//! A real OpenBao dev server for tests: `DevServer::start()` runs `bao server -dev` on a free loopback
//! port with a random root token and kills it when dropped (also when the test panics);
//! [`DevServer::start_on`] listens on another address (the node tests' node IP, which pods reach).
//!
//! [`DevServer::start_raft`] runs a real (non-dev) server on integrated raft storage instead,
//! initialised with one unseal key and a kv-v2 mount at `secret/` like dev mode: its data survives
//! [`DevServer::restart`] (which unseals again), and it can be [`DevServer::seal`]ed, for fault tests.
//!
//! The dev server keeps everything in memory, so [`DevServer::restart`] (for outage tests) replays every
//! configuration command issued through the helpers ([`DevServer::setup`] and the typed helpers built
//! on it) against the new process: same port, same root token, same mounts, secrets, roles and
//! AppRole credentials. Tokens issued by the old process are gone, as after a real storage loss.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{Error, Result, command_words, free_port, random_hex, tools::bao_bin};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `bao server -dev`.
pub struct DevServer {
    child: Option<Child>,
    ip: Ipv4Addr,
    port: u16,
    root_token: String,
    dir: tempfile::TempDir,
    generation: u32,
    tls: bool,
    replay: Mutex<Vec<(Vec<String>, Option<String>)>>,
    /// Raft mode: the unseal key, once initialised.
    raft: Option<Raft>,
}

struct Raft {
    unseal_key: Option<String>,
    cluster_port: u16,
}

/// AppRole credentials created by [`DevServer::enable_approle`].
#[derive(Debug, Clone)]
pub struct AppRoleCreds {
    /// The role's `role_id`.
    pub role_id: String,
    /// A `secret_id` of the role.
    pub secret_id: String,
}

impl DevServer {
    /// Starts a dev server on `127.0.0.1:<free port>` and waits until it answers `sys/health`.
    pub fn start() -> Result<Self> {
        Self::start_with(Ipv4Addr::LOCALHOST, false)
    }

    /// Like [`DevServer::start`] on `<ip>:<free port>`: the node tests' OpenBao listens on the node IP,
    /// which pods reach through the bridge (they cannot reach the host's loopback).
    pub fn start_on(ip: Ipv4Addr) -> Result<Self> {
        Self::start_with(ip, false)
    }

    /// Like [`DevServer::start`] with `-dev-tls`: HTTPS with a generated CA ([`DevServer::ca_cert`])
    /// and a certificate for `localhost` and `127.0.0.1`.
    pub fn start_tls() -> Result<Self> {
        Self::start_with(Ipv4Addr::LOCALHOST, true)
    }

    /// A real server on raft storage (not dev mode): initialised with one unseal key, unsealed, with
    /// kv-v2 at `secret/`. Data and tokens survive [`DevServer::restart`].
    pub fn start_raft() -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            what: "create temp dir for the raft server".into(),
            source,
        })?;
        let mut server = Self {
            child: None,
            ip: Ipv4Addr::LOCALHOST,
            port: free_port(),
            root_token: String::new(),
            dir,
            generation: 0,
            tls: false,
            replay: Mutex::new(Vec::new()),
            raft: Some(Raft {
                unseal_key: None,
                cluster_port: free_port(),
            }),
        };
        server.spawn()?;
        let init = server.bao_json(&["operator", "init", "-key-shares=1", "-key-threshold=1"])?;
        let field = |name: &str| -> Result<String> {
            let v = &init[name];
            v.as_str()
                .or_else(|| v[0].as_str())
                .map(str::to_owned)
                .ok_or_else(|| Error::NotReady {
                    component: "OpenBao raft init".into(),
                    waited: Duration::ZERO,
                    log: format!("no {name} in the init answer"),
                })
        };
        server.root_token = field("root_token")?;
        if let Some(raft) = &mut server.raft {
            raft.unseal_key = Some(field("unseal_keys_b64")?);
        }
        server.unseal()?;
        server.enable_kv("secret", 2)?;
        Ok(server)
    }

    /// Seals a raft server: every request fails with 503 until [`DevServer::unseal`].
    pub fn seal(&self) -> Result<()> {
        self.run(&["operator", "seal"], None).map(drop)
    }

    /// Unseals a raft server and waits until it is active.
    pub fn unseal(&self) -> Result<()> {
        let key = self
            .raft
            .as_ref()
            .and_then(|r| r.unseal_key.clone())
            .unwrap_or_default();
        self.run(&["operator", "unseal", &key], None)?;
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            if health_ok(self.ip, self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::NotReady {
            component: format!("OpenBao raft server on {} (unsealing)", self.addr()),
            waited: started.elapsed(),
            log: self.log(),
        })
    }

    fn start_with(ip: Ipv4Addr, tls: bool) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            what: "create temp dir for the dev server".into(),
            source,
        })?;
        let mut server = Self {
            child: None,
            ip,
            port: free_port(),
            root_token: format!("root-{}", random_hex(24)),
            dir,
            generation: 0,
            tls,
            replay: Mutex::new(Vec::new()),
            raft: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>` (the address given to [`DevServer::start_on`] instead of 127.0.0.1).
    pub fn addr(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.ip, self.port)
    }

    /// The CA certificate of a [`DevServer::start_tls`] server.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.tls.then(|| self.tls_dir().join("vault-ca.pem"))
    }

    fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("tls")
    }

    /// The listen port (kept across [`DevServer::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The root token (kept across [`DevServer::restart`]).
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// A scratch directory that lives as long as the server (its logs are in here too).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Kills the server. The port stays reserved for [`DevServer::restart`] only by convention.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, starts a new one on the same port with the same root token and
    /// replays every configuration command recorded so far (a raft server keeps its data instead, and
    /// is unsealed again).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()?;
        if self.raft.is_some() {
            return self.unseal();
        }
        let replay = self.replay.lock().expect("replay log").clone();
        for (args, stdin) in replay {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.run(&args, stdin.as_deref())?;
        }
        Ok(())
    }

    /// The server's output so far (all generations).
    pub fn log(&self) -> String {
        let mut out = String::new();
        for generation in 0..=self.generation {
            if let Ok(text) = std::fs::read_to_string(self.log_path(generation)) {
                out.push_str(&text);
            }
        }
        out
    }

    /// Runs `bao <args>` against the server as root and returns stdout. Not recorded for replay.
    pub fn bao(&self, args: &[&str]) -> Result<String> {
        self.run(args, None)
    }

    /// Like [`DevServer::bao`] with `-format=json` inserted after the subcommand words, parsed.
    pub fn bao_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let mut full: Vec<&str> = Vec::with_capacity(args.len() + 1);
        let split = args
            .iter()
            .position(|a| a.starts_with('-') || a.contains('/'))
            .unwrap_or(args.len());
        full.extend_from_slice(&args[..split]);
        full.push("-format=json");
        full.extend_from_slice(&args[split..]);
        let out = self.run(&full, None)?;
        if out.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&out).map_err(|source| Error::Json {
            command: format!("bao {}", command_words(args)),
            source,
        })
    }

    /// Runs `bao <args>` (with optional stdin) and records it, so [`DevServer::restart`] replays it.
    pub fn setup(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let out = self.run(args, stdin)?;
        self.replay.lock().expect("replay log").push((
            args.iter().map(|s| s.to_string()).collect(),
            stdin.map(str::to_owned),
        ));
        Ok(out)
    }

    /// Mounts a KV engine of `version` (1 or 2) at `path`.
    pub fn enable_kv(&self, path: &str, version: u8) -> Result<()> {
        let path = format!("-path={}", path.trim_matches('/'));
        let version = format!("-version={version}");
        self.setup(&["secrets", "enable", &path, &version, "kv"], None)
            .map(drop)
    }

    /// Unmounts the secrets engine at `path` (e.g. the dev server's default KV v2 `secret/`).
    pub fn disable(&self, path: &str) -> Result<()> {
        self.setup(&["secrets", "disable", path], None).map(drop)
    }

    /// Replaces the dev server's default KV v2 `secret/` with a KV v1 mount.
    pub fn kv1_at_secret(&self) -> Result<()> {
        self.disable("secret")?;
        self.enable_kv("secret", 1)
    }

    /// `bao kv put <path> k=v…` (works on KV v1 and v2 mounts).
    pub fn kv_put(&self, path: &str, pairs: &[(&str, &str)]) -> Result<()> {
        let mut args = vec!["kv".to_owned(), "put".to_owned(), path.to_owned()];
        args.extend(pairs.iter().map(|(k, v)| format!("{k}={v}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.setup(&args, None).map(drop)
    }

    /// `bao write <path> k=v…`, recorded for replay; returns the JSON response (`Null` when empty).
    pub fn write(&self, path: &str, pairs: &[(&str, &str)]) -> Result<serde_json::Value> {
        let mut args = vec!["write".to_owned(), "-format=json".to_owned(), path.to_owned()];
        args.extend(pairs.iter().map(|(k, v)| format!("{k}={v}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.setup(&args, None)?;
        if out.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&out).map_err(|source| Error::Json {
            command: format!("write {path}"),
            source,
        })
    }

    /// `bao read <path>` as JSON (not recorded).
    pub fn read(&self, path: &str) -> Result<serde_json::Value> {
        self.bao_json(&["read", path])
    }

    /// Writes an ACL policy.
    pub fn policy_write(&self, name: &str, hcl: &str) -> Result<()> {
        self.setup(&["policy", "write", name, "-"], Some(hcl)).map(drop)
    }

    /// A policy `name` granting `capabilities` (e.g. `["read", "list"]`) on each path glob.
    pub fn policy_for(&self, name: &str, paths: &[&str], capabilities: &[&str]) -> Result<()> {
        let caps = capabilities
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let hcl: String = paths
            .iter()
            .map(|p| format!("path \"{p}\" {{ capabilities = [{caps}] }}\n"))
            .collect();
        self.policy_write(name, &hcl)
    }

    /// Enables the auth method `kind` at `path` (e.g. `approle` at `approle`).
    pub fn enable_auth(&self, kind: &str, path: &str) -> Result<()> {
        let path = format!("-path={}", path.trim_matches('/'));
        self.setup(&["auth", "enable", &path, kind], None).map(drop)
    }

    /// Enables AppRole at `auth/approle` (once) and creates `role` with `policies` and extra role
    /// settings (e.g. `("token_ttl", "3s")`), with fixed random credentials that survive a restart.
    pub fn enable_approle(
        &self,
        role: &str,
        policies: &[&str],
        settings: &[(&str, &str)],
    ) -> Result<AppRoleCreds> {
        let enabled = self.bao(&["auth", "list"])?;
        if !enabled.lines().any(|l| l.starts_with("approle/")) {
            self.enable_auth("approle", "approle")?;
        }
        let policies = policies.join(",");
        let mut role_settings = vec![("token_policies", policies.as_str())];
        role_settings.extend_from_slice(settings);
        self.write(&format!("auth/approle/role/{role}"), &role_settings)?;
        let creds = AppRoleCreds {
            role_id: format!("role-{}", random_hex(20)),
            secret_id: format!("sid-{}", random_hex(32)),
        };
        self.write(
            &format!("auth/approle/role/{role}/role-id"),
            &[("role_id", &creds.role_id)],
        )?;
        self.write(
            &format!("auth/approle/role/{role}/custom-secret-id"),
            &[("secret_id", &creds.secret_id)],
        )?;
        Ok(creds)
    }

    /// Mounts PKI at `path` with a self-signed root and a role `role` allowing any name.
    pub fn enable_pki(&self, path: &str, role: &str) -> Result<()> {
        let mount = path.trim_matches('/');
        self.setup(&["secrets", "enable", &format!("-path={mount}"), "pki"], None)?;
        self.setup(&["secrets", "tune", "-max-lease-ttl=87600h", mount], None)?;
        self.write(
            &format!("{mount}/root/generate/internal"),
            &[("common_name", "ferrovault test root"), ("ttl", "87600h")],
        )?;
        self.write(
            &format!("{mount}/roles/{role}"),
            &[
                ("allow_any_name", "true"),
                ("max_ttl", "72h"),
                ("generate_lease", "false"),
            ],
        )?;
        Ok(())
    }

    fn log_path(&self, generation: u32) -> PathBuf {
        self.dir.path().join(format!("bao-server-{generation}.log"))
    }

    fn spawn(&mut self) -> Result<()> {
        if self.child.is_some() || self.log_path(self.generation).exists() {
            self.generation += 1;
        }
        let log_path = self.log_path(self.generation);
        let (log, log2) = crate::log_file(&log_path)?;
        let mut args = if self.raft.is_some() {
            vec![
                "server".to_owned(),
                format!("-config={}", self.raft_config()?.display()),
            ]
        } else {
            Vec::new()
        };
        let dev_args = vec![
            "server".to_owned(),
            "-dev".to_owned(),
            "-dev-no-store-token".to_owned(),
            format!("-dev-root-token-id={}", self.root_token),
            format!("-dev-listen-address={}:{}", self.ip, self.port),
            // Names the scratch directory on the command line, so that a killed run's server can be
            // found from it (the node tests' cleanup does).
            format!("-log-file={}", self.dir.path().join("server-file.log").display()),
        ];
        if self.raft.is_none() {
            args = dev_args;
        }
        if self.tls {
            std::fs::create_dir_all(self.tls_dir()).map_err(|source| Error::Io {
                what: "create the dev server's TLS directory".into(),
                source,
            })?;
            args.push("-dev-tls".to_owned());
            args.push(format!("-dev-tls-cert-dir={}", self.tls_dir().display()));
        }
        let child = Command::new(bao_bin())
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| Error::Io {
                what: format!("start {} server -dev", bao_bin().display()),
                source,
            })?;
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            if !self.is_running() {
                break;
            }
            let ready = if self.raft.is_some() {
                // Sealed or not initialised yet: it answers, which is all a raft start waits for.
                health_code(self.ip, self.port).is_some()
            } else if self.tls {
                self.ca_cert().is_some_and(|ca| ca.exists()) && self.run(&["status"], None).is_ok()
            } else {
                health_ok(self.ip, self.port)
            };
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(if self.tls { 200 } else { 50 }));
        }
        let waited = started.elapsed();
        self.stop();
        Err(Error::NotReady {
            component: format!("OpenBao dev server on {}", self.addr()),
            waited,
            log: self.log(),
        })
    }

    /// The config of a raft server: its storage in the scratch directory, HTTP on the loopback port.
    fn raft_config(&self) -> Result<PathBuf> {
        let dir = self.dir.path();
        let data = dir.join("raft");
        let path = dir.join("server.hcl");
        let cluster_port = self.raft.as_ref().map_or(0, |r| r.cluster_port);
        let hcl = format!(
            "storage \"raft\" {{\n  path = \"{}\"\n  node_id = \"node1\"\n}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  cluster_address = \"127.0.0.1:{cluster_port}\"\n  tls_disable = true\n}}\n\
             api_addr = \"http://127.0.0.1:{port}\"\ncluster_addr = \"http://127.0.0.1:{cluster_port}\"\n\
             disable_mlock = true\n",
            data.display(),
            port = self.port,
        );
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Io { what, source }
        };
        std::fs::create_dir_all(&data).map_err(io("create the raft directory"))?;
        std::fs::write(&path, hcl).map_err(io("write the raft server config"))?;
        Ok(path)
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".to_owned(), self.dir.path().display().to_string()),
            ("BAO_ADDR".to_owned(), self.addr()),
            ("BAO_TOKEN".to_owned(), self.root_token.clone()),
        ];
        if let Some(ca) = self.ca_cert() {
            env.push(("BAO_CACERT".to_owned(), ca.display().to_string()));
        }
        crate::run(&bao_bin(), &env, args, stdin)
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /v1/sys/health` answered 200 (initialised, unsealed, active).
fn health_ok(ip: Ipv4Addr, port: u16) -> bool {
    health_code(ip, port) == Some(200)
}

/// The status `GET /v1/sys/health` answers with (501 not initialised, 503 sealed), if any.
fn health_code(ip: Ipv4Addr, port: u16) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect((ip, port)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /v1/sys/health HTTP/1.0\r\nHost: {ip}:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Needs the `bao` binary: `cargo test -p ferrovault-tests --features with-openbao`.
#[cfg(all(test, feature = "with-openbao"))]
mod with_openbao;
