//! The scenarios of `tests/tests/node.rs` and the environment they share.

mod config_map;
mod env_reload;
mod helpers;
mod missed;
mod more;
mod two_nodes;

use std::time::Duration;

use ferrovault_tests::node::NodeCluster;
use ferrovault_tests::openbao::DevServer;
use helpers::*;
use serde_json::Value;

/// What the seed's template renders from `secret/my-secret`.
pub const CONNECTION: &str = "postgresql://alice:s3cr3t@postgres:5432/wizard";
/// The injector's release and namespace.
const INJECTOR: &str = "ferrovault";
const INJECTOR_NS: &str = "ferrovault-system";
/// The namespace whose `internal-app` ServiceAccount the OpenBao role accepts.
const APP_NS: &str = "moscow";
const POLL: Duration = Duration::from_secs(240);

/// One scenario: panics on failure.
pub type Scenario = fn(&Env);

/// Every scenario, in the order they run (later ones rely on the injector of the first).
pub const SCENARIOS: &[(&str, Scenario)] = &[
    (
        "a_plain_pod_runs_and_answers_exec_through_the_api_server",
        plain_pod,
    ),
    (
        "injector_chart_two_replicas_auto_tls_admits_through_its_service",
        injector_chart,
    ),
    (
        "moscow_time_chart_pods_ready_with_native_sidecar_and_secret",
        moscow_time_chart,
    ),
    (
        "secret_change_reaches_the_running_pod_without_partial_reads",
        more::rotation,
    ),
    ("classic_init_and_sidecar_mode", more::classic_init_and_sidecar),
    ("job_with_the_agent_succeeds", more::job_completes),
    (
        "deleting_a_webhook_replica_fails_no_admission",
        more::webhook_replica_goes_away,
    ),
    ("moscow_time_without_vault_runs_no_agent", more::without_vault),
    (
        "agent_configmap_pod_renders_from_vault_agent_hcl",
        config_map::config_map,
    ),
    (
        "env_vars_from_an_env_file_and_a_missing_key_refused_by_the_kubelet",
        env_reload::env_vars,
    ),
    (
        "reload_actions_signal_http_exec_after_a_change",
        env_reload::reload_actions,
    ),
    (
        "missed_injection_detected_by_the_leader_and_listed_by_audit",
        missed::missed_injection,
    ),
    (
        "two_nodes_chart_defaults_one_webhook_pod_per_node",
        two_nodes::one_webhook_pod_per_node,
    ),
    (
        "two_nodes_drain_while_pods_are_created_every_pod_gets_its_agent",
        two_nodes::drain_a_node_while_pods_are_created,
    ),
    // last: the node does not come back
    (
        "two_nodes_a_lost_node_leaves_the_other_replica_serving",
        two_nodes::a_lost_node_leaves_the_other_replica_serving,
    ),
];

/// The scenarios `make demo-cluster` runs.
pub const DEMO: &[&str] = &[SCENARIOS[1].0, SCENARIOS[2].0];

/// A progress line on stderr.
pub fn progress(line: &str) {
    eprintln!("node: {line}");
}

/// The nodes of the shared cluster: two, so that the chart runs with its default (required)
/// anti-affinity and a drain or the loss of a node can be exercised; the single-node scenarios run
/// on it unchanged (their pods land on either node).
pub const NODES: usize = 2;

/// The shared environment. Fields drop in order: OpenBao, then the cluster.
pub struct Env {
    pub vault: DevServer,
    pub cluster: NodeCluster,
}

impl Env {
    /// Starts the node cluster and OpenBao (kubernetes auth against this API server, the seed's
    /// secret and role). Panics with the component's log on failure.
    pub fn start() -> Env {
        progress(&format!(
            "starting Kubernetes {}: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and {NODES} nodes \
             (containerd + kubelet each)",
            ferrovault_tests::kube::kubernetes_version()
        ));
        let cluster = NodeCluster::start_nodes(NODES).unwrap_or_else(|e| panic!("node cluster: {e}"));
        let cp = cluster.cp();
        progress(&format!("{NODES} nodes Ready; API server {}", cp.server_url()));
        let vault =
            ferrovault_tests::node::seed_openbao(&cluster, APP_NS).unwrap_or_else(|e| panic!("OpenBao: {e}"));
        progress(&format!(
            "OpenBao dev server at {} (kubernetes auth -> this API server)",
            vault.addr()
        ));
        Env { vault, cluster }
    }

    /// The end of the demo: the connection string read from inside a running pod.
    pub fn print_demo_result(&self) {
        let text = exec(
            self,
            APP_NS,
            "moscow-time-0",
            "moscow-time",
            &["cat", SECRET_FILE],
        );
        progress("kubectl exec moscow-time-0 -c moscow-time -- cat /vault/secrets/database-config.txt:");
        println!("{}", text.trim_end());
    }
}

const SECRET_FILE: &str = "/vault/secrets/database-config.txt";

/// The node itself: a pod of the stand-in image (non-root, read-only root filesystem, httpGet
/// readiness probe on the pod IP) becomes Ready and `kubectl exec` reaches it.
fn plain_pod(env: &Env) {
    namespace(env, "plain");
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "plain", "labels": {"app": "plain"}},
        "spec": {"containers": [{
            "name": "app",
            "image": env.cluster.images().standin,
            "readinessProbe": {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1},
            "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
        }]},
    });
    env.cluster
        .cp()
        .kubectl_with_stdin(&["apply", "-n", "plain", "-f", "-"], Some(&pod.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    wait_pods_ready(env, "plain", "app=plain", 1);
    let text = exec(env, "plain", "plain", "app", &["cat", "/www/index.html"]);
    assert_eq!(text.trim_end(), "moscow-time stand-in");
    let _ = env
        .cluster
        .cp()
        .kubectl(&["delete", "namespace", "plain", "--wait=false"]);
}

/// `helm install charts/ferrovault` once (the first scenario that needs the injector does it).
fn ensure_injector(env: &Env) {
    let installed = env
        .cluster
        .cp()
        .kubectl(&["get", "deployment", INJECTOR, "-n", INJECTOR_NS, "-o", "name"])
        .is_ok();
    if installed {
        return;
    }
    progress("helm install charts/ferrovault (its default values: auto TLS, 2 replicas, one per node)");
    let (vault, chart) = (
        format!("externalVaultAddr={}", env.vault.addr()),
        chart("ferrovault"),
    );
    let mut args = vec![
        "install",
        INJECTOR,
        &chart,
        "--namespace",
        INJECTOR_NS,
        "--create-namespace",
        "--set",
        &vault,
    ];
    // `envFiles.enabled: auto` turns env files on from 1.35; a 1.34 node runs with the alpha gate on
    if ferrovault_tests::kube::kubernetes_minor() < (1, 35) {
        args.extend(["--set", "envFiles.enabled=true"]);
    }
    helm(env, &args);
}

/// The injector, and [`APP_NS`] with the `internal-app` ServiceAccount the OpenBao role binds
/// (made by `charts/moscow-time` when its scenario ran first, else here).
fn ensure_app_namespace(env: &Env) {
    ensure_injector(env);
    wait_pods_ready(env, INJECTOR_NS, "app.kubernetes.io/name=ferrovault", 2);
    namespace(env, APP_NS);
    let cp = env.cluster.cp();
    if cp
        .kubectl(&[
            "get",
            "serviceaccount",
            "internal-app",
            "-n",
            APP_NS,
            "-o",
            "name",
        ])
        .is_err()
    {
        cp.kubectl(&["create", "serviceaccount", "internal-app", "-n", APP_NS])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// (a) `charts/ferrovault` with its defaults (auto TLS, 2 replicas) from the local image: both
/// webhook pods Ready, the caBundle patched, an annotated pod admitted through the Service.
fn injector_chart(env: &Env) {
    let cp = env.cluster.cp();
    ensure_injector(env);
    let pods = wait_pods_ready(env, INJECTOR_NS, "app.kubernetes.io/name=ferrovault", 2);
    for pod in &pods {
        let image = pod["spec"]["containers"][0]["image"].as_str().unwrap_or_default();
        assert_eq!(image, env.cluster.images().webhook, "{}", pod_name(pod));
    }
    progress("both webhook pods Ready");
    let config = wait_until(env, "the caBundle patched", || {
        let c = cp
            .kubectl_json(&[
                "get",
                "mutatingwebhookconfiguration",
                "-l",
                &format!("app.kubernetes.io/instance={INJECTOR}"),
            ])
            .ok()?;
        let hooks = c["items"][0]["webhooks"].as_array()?.clone();
        hooks
            .iter()
            .all(|h| {
                h["clientConfig"]["caBundle"]
                    .as_str()
                    .is_some_and(|b| !b.is_empty())
            })
            .then_some(hooks)
    });
    for hook in &config {
        let client = &hook["clientConfig"];
        assert!(client["url"].is_null(), "registered by URL: {client}");
        assert_eq!(client["service"]["namespace"], INJECTOR_NS, "{client}");
    }
    progress("caBundle patched into every webhook entry; clientConfig is the Service");
    namespace(env, "admission-check");
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "annotated", "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "internal-app",
            "vault.hashicorp.com/agent-inject-secret-x.txt": "secret/my-secret",
        }},
        "spec": {"containers": [{"name": "app", "image": env.cluster.images().standin}]},
    });
    // the webhook Service resolves only once the endpoints are published: retry the create
    wait_until(env, "an annotated pod admitted", || {
        cp.kubectl_with_stdin(
            &["create", "-n", "admission-check", "-f", "-"],
            Some(&pod.to_string()),
        )
        .map_err(|e| progress(&format!("create: {e}")))
        .ok()
    });
    let admitted = cp
        .kubectl_json(&["get", "pod", "annotated", "-n", "admission-check"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(is_native_sidecar(&admitted), "not injected: {}", admitted["spec"]);
    assert_eq!(
        admitted["spec"]["initContainers"][0]["image"].as_str(),
        Some(env.cluster.images().agent.as_str())
    );
    progress("an annotated pod was admitted through the Service and got the agent");
    let _ = cp.kubectl(&["delete", "namespace", "admission-check", "--wait=false"]);
}

/// (b) `charts/moscow-time` with `vault.enabled=true`: every StatefulSet pod Running and Ready with
/// the native sidecar, and the app container sees the rendered secret.
fn moscow_time_chart(env: &Env) {
    ensure_injector(env);
    progress("helm install charts/moscow-time (vault.enabled=true, 3 replicas)");
    namespace(env, APP_NS);
    install_moscow_time(env, APP_NS, "moscow-time", &[]);
    let pods = wait_pods_ready(env, APP_NS, "app.kubernetes.io/instance=moscow-time", 3);
    for pod in &pods {
        let name = pod_name(pod);
        assert!(
            is_native_sidecar(pod),
            "{name}: no native sidecar: {}",
            pod["spec"]
        );
        assert_eq!(pod["status"]["phase"], "Running", "{name}");
        let text = exec(env, APP_NS, name, "moscow-time", &["cat", SECRET_FILE]);
        assert_eq!(text.trim_end(), CONNECTION, "{name}");
        progress(&format!(
            "{name}: Running, Ready, native sidecar; {SECRET_FILE} has the connection string"
        ));
    }
}

fn install_moscow_time(env: &Env, namespace: &str, release: &str, sets: &[&str]) {
    let values = moscow_time_values(env);
    let path = env.cluster.state().join(format!("{release}-values.yaml"));
    std::fs::write(&path, values).expect("write values");
    let chart = chart("moscow-time");
    let path = path.display().to_string();
    let mut args = vec!["install", release, &chart, "--namespace", namespace, "-f", &path];
    for set in sets {
        args.extend(["--set", set]);
    }
    helm(env, &args);
}

/// The stand-in app image (busybox httpd on the chart's port, for its probes) and no persistent
/// volumes (no storage provisioner on this node).
fn moscow_time_values(env: &Env) -> String {
    let standin = &env.cluster.images().standin;
    let (repo, tag) = standin.rsplit_once(':').expect("image has a tag");
    format!(
        "image: {{repository: {repo}, tag: \"{tag}\", pullPolicy: IfNotPresent}}\n\
         args: [httpd, -f, -p, \"8000\", -h, /www]\n\
         persistence: {{enabled: false}}\n\
         vault: {{enabled: true}}\n"
    )
}

fn is_native_sidecar(pod: &Value) -> bool {
    pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["name"] == "vault-agent" && c["restartPolicy"] == "Always")
}
