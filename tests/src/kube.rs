//! A real Kubernetes control plane for end-to-end tests: etcd, kube-apiserver and
//! kube-controller-manager (v1.37.2 by default, or the release `K8S_VERSION` names; built by
//! `scripts/control-plane.sh build`) on free loopback ports,
//! with fresh certificates, killed when dropped (also when the test panics).
//!
//! There is no kubelet here: pods are created, admitted (so mutating webhooks run) and then stay
//! `Pending`, unless [`crate::node`] adds one (with [`Options::for_node`]). The controller-manager runs every controller, so StatefulSets get their pods,
//! namespaces their `default` ServiceAccount and `kube-root-ca.crt`.
//!
//! ```no_run
//! let cp = ferrovault_tests::kube::ControlPlane::start().unwrap();
//! cp.kubectl(&["create", "namespace", "app"]).unwrap();
//! let jwt = cp.create_token("app", "default", "https://kubernetes.default.svc").unwrap();
//! ```

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod pki;

use pki::{Pki, write_kubeconfig};

pub use crate::run;
use crate::{Error, Result, command_words, free_port, wait_for};

/// The Kubernetes release the harness runs by default (and `scripts/control-plane.sh` builds).
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.37.2";

/// The Kubernetes release the harness runs: env `K8S_VERSION` (`make test-k8s K8S_VERSION=…`,
/// exported by `scripts/control-plane.sh`), else [`DEFAULT_KUBERNETES_VERSION`].
pub fn kubernetes_version() -> String {
    std::env::var("K8S_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_KUBERNETES_VERSION.to_owned())
}

/// The (major, minor) of [`kubernetes_version`], for tests whose expectations follow the release.
pub fn kubernetes_minor() -> (u32, u32) {
    let version = kubernetes_version();
    let mut parts = version.trim_start_matches('v').split('.');
    let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (next(), next())
}

/// Audiences the API server accepts in service-account tokens.
pub const API_AUDIENCES: &str = "https://kubernetes.default.svc,vault";

/// The issuer (and default audience) of service-account tokens.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc";

/// The reviewer OpenBao's Kubernetes auth uses for TokenReview against this API server.
const TOKEN_REVIEWER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: openbao}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: token-reviewer, namespace: openbao}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: openbao-token-reviewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{kind: ServiceAccount, name: token-reviewer, namespace: openbao}]
"#;

const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Directory of `kube-apiserver`, `kube-controller-manager`, `etcd` and `kubectl`: env
/// `KUBE_BIN_DIR`, else `${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}/k8s-<version>/bin`.
pub fn kube_bin_dir() -> (PathBuf, &'static str) {
    if let Some(dir) = std::env::var_os("KUBE_BIN_DIR").filter(|v| !v.is_empty()) {
        return (PathBuf::from(dir), "env KUBE_BIN_DIR");
    }
    let cache = std::env::var_os("FERROVAULT_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/ferrovault")
        });
    (
        cache.join(format!("k8s-{}/bin", kubernetes_version())),
        "the default cache; set KUBE_BIN_DIR to use another",
    )
}

/// The path of one control-plane binary, or [`Error::MissingBinary`] saying how to build it.
pub fn kube_bin(name: &str) -> Result<PathBuf> {
    let (dir, source_of_dir) = kube_bin_dir();
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingBinary {
            missing: name.to_owned(),
            dir: dir.display().to_string(),
            source_of_dir,
        })
    }
}

/// A running etcd + kube-apiserver + kube-controller-manager.
pub struct ControlPlane {
    dir: tempfile::TempDir,
    // stopped in reverse order of start
    children: Vec<(String, Child)>,
    address: Ipv4Addr,
    port: u16,
    ca_pem: String,
    kubectl: PathBuf,
    pki: Pki,
}

/// How [`ControlPlane::start_with`] runs the API server.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address the API server listens on and advertises (`127.0.0.1` by default). A node needs
    /// one its pods can reach, e.g. an address on `lo` (see [`crate::node`]).
    pub address: Ipv4Addr,
    /// What a kubelet needs from the API server: a client certificate to reach the kubelet (logs,
    /// exec), the kubelet's InternalIP, webhook Services resolved to their pod IPs
    /// (`--enable-aggregator-routing`, as there is no kube-proxy), the `kubernetes` Service IP
    /// ([`SERVICE_IP`]) in the serving certificate, and the `EnvFiles` feature gate.
    pub for_node: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            address: Ipv4Addr::LOCALHOST,
            for_node: false,
        }
    }
}

/// The ClusterIP of the `kubernetes` Service (the first address of `--service-cluster-ip-range`).
pub const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// Feature gates of the API server and the kubelet in [`Options::for_node`] mode: `EnvFiles` is
/// alpha (off) in 1.34 and on by default from 1.35, where the node runs with the defaults users get.
pub fn node_feature_gates() -> Option<&'static str> {
    (kubernetes_minor() < (1, 35)).then_some("EnvFiles=true")
}

impl ControlPlane {
    /// Makes certificates, starts etcd, the API server (waits for `/readyz`) and the
    /// controller-manager (waits until it made the `default` ServiceAccount).
    pub fn start() -> Result<Self> {
        Self::start_with(&Options::default())
    }

    /// [`ControlPlane::start`] with `options`.
    pub fn start_with(options: &Options) -> Result<Self> {
        let etcd_bin = kube_bin("etcd")?;
        let apiserver_bin = kube_bin("kube-apiserver")?;
        let kcm_bin = kube_bin("kube-controller-manager")?;
        let kubectl = kube_bin("kubectl")?;
        let dir = tempfile::Builder::new()
            .prefix("ferrovault-k8s-")
            .tempdir()
            .map_err(|source| Error::Io {
                what: "create temp dir for the control plane".into(),
                source,
            })?;
        let mut sans = vec![options.address.to_string()];
        if options.for_node {
            sans.push(SERVICE_IP.to_string());
        }
        let pki = Pki::create(dir.path(), &sans)?;
        let port = free_port();
        let mut cp = Self {
            dir,
            children: Vec::new(),
            address: options.address,
            port,
            ca_pem: read(&pki.ca_cert)?,
            kubectl,
            pki,
        };
        write_kubeconfig(&cp.kubeconfig_path(), &cp.server_url(), &cp.pki)?;

        let etcd_port = free_port();
        let etcd_peer = free_port();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        let data = cp.path("etcd-data");
        cp.spawn(
            "etcd",
            &etcd_bin,
            &[
                "--name=default".into(),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=default={peer_url}"),
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ],
        )?;
        cp.wait_component("etcd", || {
            http_get_ok(etcd_port, "/health", b"\"health\":\"true\"")
        })?;

        let p = |path: &Path| path.display().to_string();
        let mut node_args = Vec::new();
        if options.for_node {
            let (cert, key) = cp.issue_cert(
                "apiserver-kubelet-client",
                "/O=system:masters/CN=kube-apiserver-kubelet-client",
                "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
            )?;
            node_args = vec![
                format!("--kubelet-client-certificate={}", p(&cert)),
                format!("--kubelet-client-key={}", p(&key)),
                format!("--kubelet-certificate-authority={}", p(&cp.pki.ca_cert)),
                "--kubelet-preferred-address-types=InternalIP".into(),
                "--enable-aggregator-routing=true".into(),
                // a lost node's pods are evicted after 30 s rather than 5 min (the default
                // tolerations the DefaultTolerationSeconds admission plugin adds)
                "--default-not-ready-toleration-seconds=30".into(),
                "--default-unreachable-toleration-seconds=30".into(),
            ];
            node_args.extend(node_feature_gates().map(|gates| format!("--feature-gates={gates}")));
        }
        let pki = &cp.pki;
        let address = options.address;
        let mut apiserver_args = vec![
            format!("--etcd-servers={etcd_url}"),
            format!("--bind-address={address}"),
            format!("--advertise-address={address}"),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", cp.path("apiserver-certs").display()),
            format!("--tls-cert-file={}", p(&pki.serving_cert)),
            format!("--tls-private-key-file={}", p(&pki.serving_key)),
            format!("--client-ca-file={}", p(&pki.ca_cert)),
            format!("--service-account-key-file={}", p(&pki.sa_pub)),
            format!("--service-account-signing-key-file={}", p(&pki.sa_key)),
            format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
            format!("--api-audiences={API_AUDIENCES}"),
            "--authorization-mode=Node,RBAC".into(),
            // an allocation range inside the API server; only a node's own DNAT rule for
            // SERVICE_IP (crate::node) ever sends traffic to one of its addresses
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            // the `kubernetes` Service's endpoint would be 127.0.0.1, which Endpoints refuse
            "--endpoint-reconciler-type=none".into(),
            "--profiling=false".into(),
        ];
        apiserver_args.extend(node_args);
        cp.spawn("kube-apiserver", &apiserver_bin, &apiserver_args)?;
        cp.wait_component("kube-apiserver", || {
            cp.kubectl(&["get", "--raw", "/readyz"])
                .ok()
                .filter(|out| out.trim() == "ok")
        })?;

        let kubeconfig = p(&cp.kubeconfig_path());
        cp.spawn(
            "kube-controller-manager",
            &kcm_bin,
            &[
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", free_port()),
                format!("--cert-dir={}", cp.path("kcm-certs").display()),
                "--controllers=*".into(),
                format!("--service-account-private-key-file={}", p(&cp.pki.sa_key)),
                format!("--root-ca-file={}", p(&cp.pki.ca_cert)),
                format!("--cluster-signing-cert-file={}", p(&cp.pki.ca_cert)),
                format!("--cluster-signing-key-file={}", p(&cp.pki.ca_key)),
                "--use-service-account-credentials=true".into(),
                "--leader-elect=false".into(),
                "--profiling=false".into(),
                // a node whose kubelet stopped reporting turns NotReady after 20 s, not 50
                "--node-monitor-grace-period=20s".into(),
            ],
        )?;
        cp.wait_component("kube-controller-manager", || {
            cp.kubectl(&["get", "serviceaccount", "default", "-n", "default", "-o", "name"])
                .ok()
        })?;
        Ok(cp)
    }

    /// `https://<address>:<port>` (`127.0.0.1` unless [`Options::address`] says otherwise).
    pub fn server_url(&self) -> String {
        format!("https://{}:{}", self.address, self.port)
    }

    /// A key and a certificate signed by the cluster CA, written to `pki/<name>.{key,crt}`, with
    /// `subject` (e.g. `/O=system:nodes/CN=system:node:x`) and the openssl extensions in `ext`.
    pub fn issue_cert(&self, name: &str, subject: &str, ext: &str) -> Result<(PathBuf, PathBuf)> {
        let dir = self.path("pki");
        self.pki.leaf(&dir, name, subject, ext)?;
        Ok((dir.join(format!("{name}.crt")), dir.join(format!("{name}.key"))))
    }

    /// The cluster CA's private key (to sign certificates for components the tests add).
    pub fn ca_key_path(&self) -> PathBuf {
        self.pki.ca_key.clone()
    }

    /// The API server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A kubeconfig with cluster-admin (`system:masters`) client credentials.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.path("kubeconfig")
    }

    /// The PEM of the cluster CA (signs the API server's certificate and client certificates).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The cluster CA certificate file.
    pub fn ca_path(&self) -> PathBuf {
        self.path("pki/ca.crt")
    }

    /// A scratch directory that lives as long as the control plane (component logs are in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `dir()/name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The kubectl binary used (built with the control plane, so it matches the server).
    pub fn kubectl_bin(&self) -> &Path {
        &self.kubectl
    }

    /// Runs `kubectl <args>` as cluster-admin and returns stdout.
    pub fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.kubectl_with_stdin(args, None)
    }

    /// Runs `kubectl <args>` with `stdin` (e.g. `apply -f -`) and returns stdout.
    pub fn kubectl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        run(&self.kubectl, &self.kubectl_env(), args, stdin)
    }

    /// `kubectl <args> -o json`, parsed.
    pub fn kubectl_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        let out = self.kubectl(&full)?;
        serde_json::from_str(&out).map_err(|source| Error::Json {
            command: command_words(args),
            source,
        })
    }

    /// `kubectl apply -f -` of a YAML or JSON manifest.
    pub fn apply(&self, manifest: &str) -> Result<String> {
        self.kubectl_with_stdin(&["apply", "-f", "-"], Some(manifest))
    }

    /// The environment for kubectl and helm: `KUBECONFIG` pointing at the admin kubeconfig.
    pub fn kubectl_env(&self) -> Vec<(String, String)> {
        vec![
            ("KUBECONFIG".into(), self.kubeconfig_path().display().to_string()),
            ("HOME".into(), self.dir.path().display().to_string()),
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ]
    }

    /// Polls `/readyz` until the API server answers `ok`.
    pub fn wait_ready(&self) -> Result<()> {
        self.wait_component("kube-apiserver", || {
            self.kubectl(&["get", "--raw", "/readyz"])
                .ok()
                .filter(|out| out.trim() == "ok")
        })
        .map(drop)
    }

    /// A service-account token for `namespace/service_account` with `audience`, from the
    /// TokenRequest API (`kubectl create token`), valid for an hour.
    pub fn create_token(&self, namespace: &str, service_account: &str, audience: &str) -> Result<String> {
        let audience = format!("--audience={audience}");
        let out = self.kubectl(&[
            "create",
            "token",
            service_account,
            "-n",
            namespace,
            &audience,
            "--duration=1h",
        ])?;
        Ok(out.trim().to_owned())
    }

    /// A token OpenBao's Kubernetes auth can review other tokens with: the `openbao/token-reviewer`
    /// ServiceAccount bound to `system:auth-delegator`, created if missing.
    pub fn token_reviewer_jwt(&self) -> Result<String> {
        self.apply(TOKEN_REVIEWER)?;
        self.create_token("openbao", "token-reviewer", SERVICE_ACCOUNT_ISSUER)
    }

    /// The last `lines` lines of a component's log (`etcd`, `kube-apiserver`,
    /// `kube-controller-manager`), for failure messages.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        tail(&self.path(&format!("{component}.log")), lines)
    }

    /// Kills every component (also done on drop).
    pub fn stop(&mut self) {
        while let Some((_, mut child)) = self.children.pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn spawn(&mut self, name: &str, bin: &Path, args: &[String]) -> Result<()> {
        let log_path = self.path(&format!("{name}.log"));
        let (log, log2) = crate::log_file(&log_path)?;
        let child = Command::new(bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| Error::Io {
                what: format!("start {}", bin.display()),
                source,
            })?;
        self.children.push((name.to_owned(), child));
        Ok(())
    }

    fn wait_component<T>(&self, name: &str, mut check: impl FnMut() -> Option<T>) -> Result<T> {
        let started = Instant::now();
        let pid = self.children.iter().find(|(n, _)| n == name).map(|(_, c)| c.id());
        let alive = || pid.is_none_or(|pid| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid));
        let found = wait_for(READY_TIMEOUT, || {
            if !alive() {
                return Some(None);
            }
            check().map(Some)
        })
        .flatten();
        found.ok_or_else(|| Error::NotReady {
            component: name.to_owned(),
            waited: started.elapsed(),
            log: self.log_tail(name, 40),
        })
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server", &self.server_url())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: format!("read {}", path.display()),
        source,
    })
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Plain-HTTP `GET path` on 127.0.0.1:`port` answered 200 with `needle` in the body.
fn http_get_ok(port: u16, path: &str, needle: &[u8]) -> Option<()> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body).ok()?;
    (body.starts_with(b"HTTP/1.0 200") || body.starts_with(b"HTTP/1.1 200"))
        .then_some(())
        .filter(|_| body.windows(needle.len()).any(|w| w == needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_stop_before_values() {
        assert_eq!(
            command_words(&["create", "token", "sa", "--audience=x"]),
            "create token sa --audience=x"
        );
        assert_eq!(
            command_words(&["create", "secret", "generic", "s", "pw=hunter2"]),
            "create secret generic s"
        );
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() {
        let err = kube_bin("no-such-binary-ferrovault").unwrap_err().to_string();
        assert!(err.contains("scripts/control-plane.sh build"), "{err}");
    }
}
