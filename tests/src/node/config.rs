//! The configuration files of the test node: containerd, the CNI network, the kubelet.
//!
//! Every setting here is one that was measured to matter on this kind of machine (see the module
//! docs of [`crate::node`]); the comments say why.

use std::net::Ipv4Addr;
use std::path::Path;

use super::{NODE_IP, Node, PODS_NETWORK};
use crate::kube::{SERVICE_IP, node_feature_gates};

/// containerd's `config.toml`: its own root, state and socket under `state`, the local pause image
/// as the sandbox image, runc with cgroupfs, CNI from Debian's plugin directory.
pub(super) fn containerd(state: &Path, socket: &Path, pause_image: &str) -> String {
    let s = state.display();
    format!(
        r#"version = 2
root = "{s}/containerd/root"
state = "{s}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{s}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  # no registry is reachable: the sandbox image is imported from a local archive
  sandbox_image = "{pause_image}"
  # this VM refuses to lower oom_score_adj (no CAP_SYS_RESOURCE): without this every sandbox fails
  # with "can't get final child's PID from pipe: EOF"
  restrict_oom_score_adj = true
  # pod network namespaces under the state dir, not /run/netns
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{s}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{s}/cni/net.d"
    max_conf_num = 1
"#,
        socket = socket.display(),
    )
}

/// A node's pod network: its own bridge with host-local IPAM on its own /24. No masquerading and
/// no default route: pods reach each other (on every node: the host routes between the bridges),
/// the first node's IP (the API server, OpenBao), and the Service range (DNAT'ed to the API server
/// by `scripts/node.sh dnat`), nothing else.
pub(super) fn cni(node: Node, state: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "ferrovault-node",
        "plugins": [{
            "type": "bridge",
            "bridge": node.bridge(),
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": node.pod_subnet(), "gateway": node.gateway().to_string()}]],
                "routes": [
                    {"dst": format!("{NODE_IP}/32")},
                    {"dst": format!("{}/24", service_network(SERVICE_IP))},
                    {"dst": PODS_NETWORK},
                ],
                "dataDir": state.join("cni/ipam").display().to_string(),
            },
        }],
    })
    .to_string()
}

fn service_network(ip: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = ip.octets();
    Ipv4Addr::new(a, b, c, 0)
}

/// Ports and files the kubelet configuration refers to.
pub(super) struct Kubelet<'a> {
    pub node: Node,
    pub state: &'a Path,
    pub ca: &'a Path,
    pub serving_cert: &'a Path,
    pub serving_key: &'a Path,
    pub socket: &'a Path,
    pub port: u16,
    pub healthz_port: u16,
}

/// The KubeletConfiguration that works on this kind of machine.
pub(super) fn kubelet(k: &Kubelet) -> String {
    let s = k.state.display();
    let gates = node_feature_gates()
        .map(|g| format!("featureGates:\n  {}\n", g.replace('=', ": ")))
        .unwrap_or_default();
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {ip}
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: "{ca}"}}
authorization:
  mode: Webhook
tlsCertFile: "{cert}"
tlsPrivateKeyFile: "{key}"
rotateCertificates: false
containerRuntimeEndpoint: "unix://{socket}"
# cgroup v1 hierarchy, no systemd: cgroupfs under a root of our own that teardown removes
cgroupDriver: cgroupfs
cgroupRoot: /{cgroup_root}
failCgroupV1: false
failSwapOn: false
# lowering oom_score_adj is refused in this VM
oomScoreAdj: 0
# the kubelet must not edit the host firewall (KUBE-FIREWALL drops some traffic to 127/8)
makeIPTablesUtilChains: false
# small disks: never garbage-collect the imported images, evict only when really full
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
podLogsDir: "{s}/pod-logs"
volumePluginDir: "{s}/volume-plugins"
# no cluster DNS: pods use addresses; no host resolv.conf leaks into pods
resolvConf: ""
clusterDomain: cluster.local
serializeImagePulls: false
maxPods: 110
{gates}"#,
        ip = k.node.ip(),
        cgroup_root = k.node.cgroup_root(),
        port = k.port,
        healthz = k.healthz_port,
        ca = k.ca.display(),
        cert = k.serving_cert.display(),
        key = k.serving_key.display(),
        socket = k.socket.display(),
    )
}

/// A kubeconfig for `user` with a client certificate, talking to `server`.
pub(super) fn kubeconfig(user: &str, server: &str, ca: &Path, cert: &Path, key: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: node\n  cluster:\n    server: {server}\n    \
         certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    client-certificate: {cert}\n    \
         client-key: {key}\ncontexts:\n- name: node\n  context:\n    cluster: node\n    user: {user}\n\
         current-context: node\n",
        ca = ca.display(),
        cert = cert.display(),
        key = key.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_network_routes_only_the_node_ip_the_service_range_and_the_pods() {
        let conf: serde_json::Value = serde_json::from_str(&cni(Node::FIRST, Path::new("/s"))).unwrap();
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["bridge"], "ferrovault0");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.244.0.0/24");
        let routes: Vec<&str> = bridge["ipam"]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dst"].as_str().unwrap())
            .collect();
        assert_eq!(routes, ["10.245.0.1/32", "10.0.0.0/24", "10.244.0.0/16"]);
        let second: serde_json::Value = serde_json::from_str(&cni(Node(1), Path::new("/s"))).unwrap();
        assert_eq!(second["plugins"][0]["bridge"], "ferrovault1");
        assert_eq!(
            second["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.244.1.0/24"
        );
        assert_eq!(
            second["plugins"][0]["ipam"]["ranges"][0][0]["gateway"],
            "10.244.1.1"
        );
    }

    #[test]
    fn each_node_has_its_address_and_cgroup_root_and_gates_become_a_yaml_map() {
        let text = kubelet(&Kubelet {
            node: Node(1),
            state: Path::new("/s"),
            ca: Path::new("/ca"),
            serving_cert: Path::new("/c"),
            serving_key: Path::new("/k"),
            socket: Path::new("/sock"),
            port: 1,
            healthz_port: 2,
        });
        assert!(text.contains("address: 10.245.0.2\n"), "{text}");
        assert!(text.contains("cgroupRoot: /ferrovault-node-2\n"), "{text}");
        match node_feature_gates() {
            Some(_) => assert!(text.contains("featureGates:\n  EnvFiles: true\n"), "{text}"),
            None => assert!(!text.contains("featureGates"), "{text}"),
        }
        assert!(text.contains("oomScoreAdj: 0\n"));
    }
}
