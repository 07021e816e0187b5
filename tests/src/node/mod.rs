//! Real Kubernetes nodes for end-to-end tests: containerd + runc + the bridge CNI plugin from
//! Debian, the kubelet and kube-scheduler (v1.37.2 by default, built by
//! `scripts/control-plane.sh build`) beside a [`ControlPlane`] started for a node
//! ([`Options::for_node`]). Pods really run — on one node ([`NodeCluster::start`]) or on several
//! ([`NodeCluster::start_nodes`]), each with its own containerd, kubelet, address, pod network and
//! cgroup root ([`Node`]).
//!
//! ```no_run
//! let cluster = ferrovault_tests::node::NodeCluster::start().unwrap();
//! cluster.cp().kubectl(&["run", "x", "--image=ferrovault.test/pause:0.1.0"]).unwrap();
//! ```
//!
//! Needs root, the Debian packages `scripts/node.sh install` installs, and the images of
//! `scripts/images.sh all` (imported into the node's containerd at start). On this machine:
//!
//! - The node IP [`NODE_IP`] is a /32 on `lo`: the kubelet refuses a loopback node IP, and the API
//!   server (bound to it), the kubelet and OpenBao ([`NodeCluster::vault_listen_address`]) stay on
//!   this machine. Pods reach it through their bridge's gateway. Further nodes have the next
//!   addresses (`10.245.0.2`, …), bridges (`ferrovault1`, …) and pod networks (`10.244.1.0/24`, …);
//!   the host routes between the bridges and nowhere else.
//! - No kube-proxy and no DNS: the API server resolves webhook Services to pod IPs
//!   (`--enable-aggregator-routing`); the `kubernetes` Service IP is DNAT'ed to the API server by a
//!   rule of our own; pods reach Vault by address.
//! - `scripts/node.sh teardown` runs on drop (also after a panic, and at the next start if a run was
//!   killed): no process, mount, bridge, firewall chain, cgroup or address is left behind.
//! - One node per machine at a time (fixed address and bridge): [`NodeCluster::start`] takes a lock.

mod config;
mod seed;

pub use seed::{ROLE, seed_openbao};

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::kube::{ControlPlane, Options, kube_bin};
use crate::{Error, Result, free_port, wait_for};

/// The first node's address (on `lo`), where the API server, its kubelet and OpenBao listen.
pub const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 245, 0, 1);
/// The first node's name.
pub const NODE_NAME: &str = "ferrovault-node";
/// The first node's pod network.
pub const POD_SUBNET: &str = "10.244.0.0/24";
/// The first node's bridge address on the host.
pub const POD_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 1);
/// The first node's bridge device.
pub const BRIDGE: &str = "ferrovault0";
/// The first node's kubelet cgroup root (in every hierarchy).
pub const CGROUP_ROOT: &str = "ferrovault-node";
/// Every node's pod network together (each node has a /24 of it).
pub const PODS_NETWORK: &str = "10.244.0.0/16";
/// The most nodes `scripts/node.sh` sets up.
pub const MAX_NODES: usize = 4;

/// One node of a [`NodeCluster`], by index: its name, address, pod network, bridge and cgroup root.
/// The first ([`Node::FIRST`]) is the constants above; `scripts/node.sh` names the others the same
/// way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node(pub usize);

impl Node {
    /// The node the single-node scenarios use.
    pub const FIRST: Node = Node(0);

    /// `ferrovault-node`, `ferrovault-node-2`, …
    pub fn name(self) -> String {
        self.numbered(NODE_NAME)
    }

    /// `10.245.0.1`, `10.245.0.2`, …
    pub fn ip(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 245, 0, self.octet() + 1)
    }

    /// `10.244.0.0/24`, `10.244.1.0/24`, …
    pub fn pod_subnet(self) -> String {
        format!("10.244.{}.0/24", self.octet())
    }

    /// The bridge's address on the host: `10.244.0.1`, `10.244.1.1`, …
    pub fn gateway(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 244, self.octet(), 1)
    }

    /// `ferrovault0`, `ferrovault1`, …
    pub fn bridge(self) -> String {
        format!("ferrovault{}", self.0)
    }

    /// `ferrovault-node`, `ferrovault-node-2`, …
    pub fn cgroup_root(self) -> String {
        self.numbered(CGROUP_ROOT)
    }

    /// A component's name on this node (`kubelet`, `kubelet-2`, …): its child process and log.
    pub fn component(self, base: &str) -> String {
        self.numbered(base)
    }

    /// The node's directory: the state dir itself for the first, a directory named after the node
    /// inside it for the others (`scripts/node.sh kill-node` finds its processes by it).
    fn dir(self, state: &Path) -> PathBuf {
        if self == Self::FIRST {
            state.to_owned()
        } else {
            state.join(self.name())
        }
    }

    fn numbered(self, base: &str) -> String {
        if self == Self::FIRST {
            base.to_owned()
        } else {
            format!("{base}-{}", self.0 + 1)
        }
    }

    fn octet(self) -> u8 {
        u8::try_from(self.0).expect("a handful of nodes")
    }
}

const LOCK: &str = "/run/ferrovault-node.lock";
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(180);

/// The image names and archives of `scripts/images.sh names`.
#[derive(Debug, Clone)]
pub struct Images {
    /// `ghcr.io/ferrovault/ferrovault-webhook:<version>`.
    pub webhook: String,
    /// `ghcr.io/ferrovault/ferrovault-agent:<version>`.
    pub agent: String,
    /// The sandbox image.
    pub pause: String,
    /// The stand-in for the seed app's image.
    pub standin: String,
    archives: Vec<PathBuf>,
}

impl Images {
    /// Asks `scripts/images.sh names` (the one place the names come from).
    pub fn from_script() -> Result<Self> {
        let out = crate::run(&script("images.sh"), &base_env(), &["names"], None)?;
        let get = |key: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let archives: Vec<PathBuf> = ["WEBHOOK", "AGENT", "PAUSE", "STANDIN"]
            .iter()
            .map(|k| PathBuf::from(get(&format!("{k}_ARCHIVE"))))
            .collect();
        if let Some(missing) = archives.iter().find(|a| !a.is_file()) {
            return Err(Error::NotReady {
                component: "node images".into(),
                waited: Duration::ZERO,
                log: format!(
                    "{} is missing: run `make images` (scripts/images.sh all)",
                    missing.display()
                ),
            });
        }
        Ok(Self {
            webhook: get("WEBHOOK_IMAGE"),
            agent: get("AGENT_IMAGE"),
            pause: get("PAUSE_IMAGE"),
            standin: get("STANDIN_IMAGE"),
            archives,
        })
    }
}

/// A control plane with real nodes. Dropping it stops everything and cleans the host.
pub struct NodeCluster {
    children: Vec<(String, Child)>,
    nodes: usize,
    cp: Option<ControlPlane>,
    state: PathBuf,
    host_ready: bool,
    images: Images,
    lock: Option<File>,
    // removed last, after teardown
    _dir: tempfile::TempDir,
}

impl NodeCluster {
    /// Sets up the host, starts the control plane, containerd (with the images imported), the
    /// kubelet and the scheduler, and waits until the node is Ready and schedulable.
    pub fn start() -> Result<Self> {
        Self::start_nodes(1)
    }

    /// [`NodeCluster::start`] with `nodes` nodes (at most [`MAX_NODES`]), each with its own
    /// containerd and kubelet; waits until every node is Ready and schedulable.
    pub fn start_nodes(nodes: usize) -> Result<Self> {
        assert!((1..=MAX_NODES).contains(&nodes), "1 to {MAX_NODES} nodes");
        let lock = File::create(LOCK).map_err(|source| io(format!("create {LOCK}"), source))?;
        lock.lock().map_err(|source| io(format!("lock {LOCK}"), source))?;
        let images = Images::from_script()?;
        let dir = tempfile::Builder::new()
            .prefix("ferrovault-node-")
            .tempdir()
            .map_err(|source| io("create the node's state dir".into(), source))?;
        let mut cluster = Self {
            children: Vec::new(),
            nodes,
            cp: None,
            state: dir.path().to_owned(),
            host_ready: false,
            images,
            lock: Some(lock),
            _dir: dir,
        };
        cluster.host_ready = true;
        cluster.node_sh(&["setup", &nodes.to_string()])?;
        let cp = ControlPlane::start_with(&Options {
            address: NODE_IP,
            for_node: true,
        })?;
        cluster.own_dir(cp.dir())?;
        cluster.node_sh(&["dnat", &cp.port().to_string()])?;
        cluster.cp = Some(cp);
        for node in cluster.nodes() {
            cluster.start_containerd(node)?;
            cluster.start_kubelet(node)?;
        }
        cluster.start_scheduler()?;
        for node in cluster.nodes() {
            cluster.wait_node_ready(node)?;
        }
        Ok(cluster)
    }

    /// The cluster's nodes.
    pub fn nodes(&self) -> Vec<Node> {
        (0..self.nodes).map(Node).collect()
    }

    /// The loss of `node`: its kubelet and containerd are killed, and with them every container it
    /// ran (`scripts/node.sh kill-node`), as when a machine goes away. The API server, the
    /// scheduler and the other nodes keep running; the node turns NotReady once the node-lifecycle
    /// controller notices.
    pub fn kill_node(&self, node: Node) -> Result<()> {
        // by pid (the children are reaped when the cluster stops)
        for base in ["kubelet", "containerd"] {
            let name = node.component(base);
            if let Some((_, child)) = self.children.iter().find(|(n, _)| *n == name) {
                let _ = Command::new("kill")
                    .args(["-KILL", &child.id().to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        self.node_sh(&["kill-node", &node.0.to_string()]).map(drop)
    }

    /// Registers a directory whose processes belong to this node (their command lines name it):
    /// if the run is killed before it stops them, the next [`NodeCluster::start`] (or
    /// `scripts/node.sh cleanup`) does.
    pub fn own_dir(&self, dir: &Path) -> Result<()> {
        use std::io::Write as _;
        let path = self.state.join("host/owned");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{}", dir.display()))
            .map_err(|source| io(format!("write {}", path.display()), source))
    }

    /// The control plane (kubectl, helm environment, certificates).
    pub fn cp(&self) -> &ControlPlane {
        self.cp
            .as_ref()
            .expect("the control plane runs while the cluster lives")
    }

    /// The images imported into the node.
    pub fn images(&self) -> &Images {
        &self.images
    }

    /// Where a host service pods must reach listens: [`NODE_IP`] (pods route it via the bridge).
    pub fn vault_listen_address(&self) -> Ipv4Addr {
        NODE_IP
    }

    /// The node's state directory (component logs are in `logs/`).
    pub fn state(&self) -> &Path {
        &self.state
    }

    /// The last `lines` lines of `containerd`, `kubelet` or `kube-scheduler`'s log.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(component)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn log_path(&self, component: &str) -> PathBuf {
        self.state.join("logs").join(format!("{component}.log"))
    }

    fn socket(&self, node: Node) -> PathBuf {
        node.dir(&self.state).join("containerd/containerd.sock")
    }

    fn node_sh(&self, args: &[&str]) -> Result<String> {
        let state = self.state.display().to_string();
        let mut full = vec![args[0], state.as_str()];
        full.extend_from_slice(&args[1..]);
        crate::run(&script("node.sh"), &base_env(), &full, None)
    }

    fn spawn(&mut self, name: &str, bin: &Path, args: &[String]) -> Result<()> {
        std::fs::create_dir_all(self.state.join("logs"))
            .map_err(|source| io("create the node's log dir".into(), source))?;
        let (log, log2) = crate::log_file(&self.log_path(name))?;
        let child = Command::new(bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.state)
            .current_dir(&self.state)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| io(format!("start {}", bin.display()), source))?;
        self.children.push((name.to_owned(), child));
        Ok(())
    }

    fn start_containerd(&mut self, node: Node) -> Result<()> {
        let dir = node.dir(&self.state);
        let cni_dir = dir.join("cni/net.d");
        std::fs::create_dir_all(&cni_dir).map_err(|source| io("create the CNI conf dir".into(), source))?;
        let conf = dir.join("containerd.toml");
        write(
            &conf,
            &config::containerd(&dir, &self.socket(node), &self.images.pause),
        )?;
        write(&cni_dir.join("10-ferrovault.conflist"), &config::cni(node, &dir))?;
        let conf_arg = conf.display().to_string();
        let name = node.component("containerd");
        self.spawn(
            &name,
            Path::new("containerd"),
            &["--config".into(), conf_arg, "--log-level=warn".into()],
        )?;
        let socket = self.socket(node).display().to_string();
        self.wait(&name, Duration::from_secs(60), || {
            crate::run(
                Path::new("ctr"),
                &base_env(),
                &["--address", &socket, "version"],
                None,
            )
            .ok()
        })?;
        for archive in &self.images.archives {
            let archive = archive.display().to_string();
            crate::run(
                Path::new("ctr"),
                &base_env(),
                &["--address", &socket, "-n", "k8s.io", "images", "import", &archive],
                None,
            )?;
        }
        Ok(())
    }

    fn start_kubelet(&mut self, node: Node) -> Result<()> {
        let cp = self.cp();
        let dir = node.dir(&self.state);
        let (ip, name) = (node.ip().to_string(), node.name());
        let (serving_cert, serving_key) = cp.issue_cert(
            &node.component("kubelet-serving"),
            &format!("/O=system:nodes/CN=system:node:{name}"),
            &format!(
                "subjectAltName=IP:{ip},DNS:{name}\nextendedKeyUsage=serverAuth\n\
                 keyUsage=critical,digitalSignature,keyEncipherment\n"
            ),
        )?;
        let (client_cert, client_key) = cp.issue_cert(
            &node.component("kubelet-client"),
            &format!("/O=system:nodes/CN=system:node:{name}"),
            "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
        )?;
        let kubeconfig = dir.join("kubelet.kubeconfig");
        write(
            &kubeconfig,
            &config::kubeconfig(&name, &cp.server_url(), &cp.ca_path(), &client_cert, &client_key),
        )?;
        let conf = dir.join("kubelet.yaml");
        write(
            &conf,
            &config::kubelet(&config::Kubelet {
                node,
                state: &dir,
                ca: &cp.ca_path(),
                serving_cert: &serving_cert,
                serving_key: &serving_key,
                socket: &self.socket(node),
                port: free_port(),
                healthz_port: free_port(),
            }),
        )?;
        let kubelet = kube_bin("kubelet")?;
        let d = |p: &Path| p.display().to_string();
        let args = vec![
            format!("--config={}", d(&conf)),
            format!("--kubeconfig={}", d(&kubeconfig)),
            format!("--root-dir={}", d(&dir.join("kubelet"))),
            format!("--cert-dir={}", d(&dir.join("kubelet-pki"))),
            format!("--node-ip={ip}"),
            format!("--hostname-override={name}"),
            "--v=1".into(),
        ];
        self.spawn(&node.component("kubelet"), &kubelet, &args)
    }

    fn start_scheduler(&mut self) -> Result<()> {
        let cp = self.cp();
        let kubeconfig = cp.kubeconfig_path().display().to_string();
        let certs = self.state.join("scheduler-certs").display().to_string();
        let args = vec![
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()),
            format!("--cert-dir={certs}"),
            "--leader-elect=false".into(),
            "--profiling=false".into(),
        ];
        let scheduler = kube_bin("kube-scheduler")?;
        self.spawn("kube-scheduler", &scheduler, &args)
    }

    /// Ready, with no taints left (the node-lifecycle controller lifts `not-ready`).
    fn wait_node_ready(&self, node: Node) -> Result<()> {
        let name = node.name();
        self.wait(&node.component("kubelet"), NODE_READY_TIMEOUT, || {
            let node = self.cp().kubectl_json(&["get", "node", &name]).ok()?;
            let ready = node["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let tainted = node["spec"]["taints"].as_array().is_some_and(|t| !t.is_empty());
            (ready && !tainted).then_some(())
        })
    }

    fn wait<T>(&self, name: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Result<T> {
        let started = Instant::now();
        let pid = self.children.iter().find(|(n, _)| n == name).map(|(_, c)| c.id());
        let alive = || pid.is_none_or(process_alive);
        wait_for(timeout, || if alive() { check().map(Some) } else { Some(None) })
            .flatten()
            .ok_or_else(|| Error::NotReady {
                component: name.to_owned(),
                waited: started.elapsed(),
                log: self.log_tail(name, 40),
            })
    }

    /// Stops the kubelet, the scheduler, containerd, the control plane, and cleans the host.
    pub fn stop(&mut self) {
        while let Some((_, mut child)) = self.children.pop() {
            terminate(&mut child, Duration::from_secs(10));
        }
        if let Some(mut cp) = self.cp.take() {
            cp.stop();
        }
        if std::mem::take(&mut self.host_ready)
            && let Err(e) = self.node_sh(&["teardown"])
        {
            eprintln!("node teardown: {e}");
        }
        if self.lock.take().is_some() {
            let _ = std::fs::remove_file(LOCK);
        }
    }
}

impl Drop for NodeCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for NodeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCluster")
            .field("state", &self.state)
            .field("cp", &self.cp)
            .finish_non_exhaustive()
    }
}

/// SIGTERM (through kill(1): the crate forbids unsafe code), then SIGKILL after `grace`.
fn terminate(child: &mut Child, grace: Duration) {
    let pid = child.id().to_string();
    let _ = Command::new("kill")
        .args(["-TERM", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if wait_for(grace, || child.try_wait().ok().flatten()).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The process exists and is not a zombie.
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

fn base_env() -> Vec<(String, String)> {
    ["PATH", "HOME", "FERROVAULT_CACHE"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| io(format!("write {}", path.display()), source))
}

fn io(what: String, source: std::io::Error) -> Error {
    Error::Io { what, source }
}
