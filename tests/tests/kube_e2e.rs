//! End to end against real components: a Kubernetes control plane (v1.37.2, or `K8S_VERSION`: etcd, kube-apiserver,
//! kube-controller-manager; no kubelet, so pods stay Pending), an OpenBao dev server with the
//! `kubernetes` auth method pointed at that API server, `ferrovault-webhook serve` as a local process
//! registered with `charts/ferrovault` (`webhook.url`), `charts/moscow-time` installed with helm, and
//! `ferrovault-agent` run locally with what the webhook injected.
//!
//! Needs the control plane (`scripts/control-plane.sh build`), `bao` and `helm`
//! (`scripts/install-tools.sh`) and `cargo build -p ferrovault-webhook -p ferrovault-agent`; the
//! Makefile does all of that before the tests. The scenarios share one environment (each in its own
//! namespace); it stops when the last scenario using it ends, also when one fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ferrovault_contract::{AGENT_CONFIG_ENV, AgentConfig};
use ferrovault_tests::kube::ControlPlane;
use ferrovault_tests::openbao::DevServer;
use ferrovault_tests::{free_port, wait_for};
use serde_json::Value;

const SECRET_PASSWORD: &str = "s3cr3t";
const RENDERED: &str = "postgresql://alice:s3cr3t@postgres:5432/wizard\n";
const WEBHOOK_NAME: &str = "agent-injector.ferrovault.io";
/// Namespace label the live webhook selects on; each stopped-webhook scenario uses its own value.
const SELECTOR_LABEL: &str = "ferrovault-e2e";
const LIVE: &str = "live";
/// Namespaces whose `internal-app` ServiceAccount the OpenBao role accepts.
const AGENT_NAMESPACE: &str = "agent";
const POLL: Duration = Duration::from_secs(120);

// === binaries ===

use ferrovault_tests::tools::{helm_bin, our_bin};

fn chart(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../charts")
        .join(name)
        .display()
        .to_string()
}

// === the webhook process ===

/// How the webhook gets its serving certificate.
enum Tls<'a> {
    /// Files from a fresh CA made here (`--tls-cert-file`, `--tls-key-file`).
    Files,
    /// `--tls-auto <configuration>`: it makes its own CA and Secret in `namespace` and patches the
    /// `caBundle` of the MutatingWebhookConfiguration `configuration`.
    Auto {
        configuration: &'a str,
        namespace: &'a str,
    },
}

/// `ferrovault-webhook serve` on a free loopback port; killed when dropped.
struct Webhook {
    child: Option<Child>,
    port: u16,
    ca_bundle: String,
    dir: tempfile::TempDir,
}

impl Webhook {
    fn start(cp: &ControlPlane, vault_addr: &str, tls: Tls) -> Webhook {
        Self::start_on(free_port(), cp, vault_addr, tls)
    }

    fn start_on(port: u16, cp: &ControlPlane, vault_addr: &str, tls: Tls) -> Webhook {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(our_bin("ferrovault-webhook"));
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        let ca_bundle = match tls {
            Tls::Files => {
                let ca =
                    ferrovault_certs::generate_ca("ferrovault e2e webhook CA", Duration::from_secs(86400))
                        .expect("generate CA");
                let leaf = ferrovault_certs::issue_leaf(
                    &ca,
                    &["localhost".to_owned()],
                    &["127.0.0.1".parse().unwrap()],
                    Duration::from_secs(86400),
                )
                .expect("issue serving cert");
                std::fs::write(dir.path().join("tls.crt"), &leaf.cert_pem).unwrap();
                std::fs::write(dir.path().join("tls.key"), &leaf.key_pem).unwrap();
                command
                    .arg("--tls-cert-file")
                    .arg(dir.path().join("tls.crt"))
                    .arg("--tls-key-file")
                    .arg(dir.path().join("tls.key"));
                ca.ca_bundle()
            }
            Tls::Auto {
                configuration,
                namespace,
            } => {
                command.args([
                    "--tls-auto",
                    configuration,
                    "--tls-auto-hosts",
                    "127.0.0.1,localhost",
                    "--namespace",
                    namespace,
                    "--pod-name",
                    "e2e-webhook-0",
                ]);
                String::new()
            }
        };
        let log = std::fs::File::create(dir.path().join("webhook.log")).unwrap();
        let child = command
            .args(["--vault-address", vault_addr])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            // --native-sidecar=auto and --env-files=auto ask this API server for its version
            .env("KUBECONFIG", cp.kubeconfig_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start ferrovault-webhook");
        let mut webhook = Webhook {
            child: Some(child),
            port,
            ca_bundle,
            dir,
        };
        let up = wait_for(POLL, || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        if up.is_none() {
            webhook.stop();
            panic!(
                "ferrovault-webhook did not listen on {port}; log:\n{}",
                webhook.log()
            );
        }
        webhook
    }

    fn url(&self) -> String {
        url(self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("webhook.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop();
    }
}

fn url(port: u16) -> String {
    format!("https://127.0.0.1:{port}/mutate")
}

// === the shared environment ===

/// Fields drop in order: webhook, OpenBao, then the control plane.
struct Env {
    webhook: Webhook,
    bao: DevServer,
    cp: ControlPlane,
}

static SHARED: Mutex<Weak<Env>> = Mutex::new(Weak::new());

/// The environment, started by the first scenario and stopped when the last one holding it ends.
fn env() -> Arc<Env> {
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(env) = shared.upgrade() {
        return env;
    }
    let env = Arc::new(start_env());
    *shared = Arc::downgrade(&env);
    env
}

fn start_env() -> Env {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("control plane: {e}"));

    // OpenBao trusts this API server for Kubernetes auth: TokenReview with a reviewer token.
    let reviewer_jwt = cp.token_reviewer_jwt().unwrap_or_else(|e| panic!("{e}"));

    let bao = DevServer::start().unwrap_or_else(|e| panic!("OpenBao: {e}"));
    bao.kv1_at_secret().unwrap();
    bao.kv_put(
        "secret/my-secret",
        &[("username", "alice"), ("password", SECRET_PASSWORD)],
    )
    .unwrap();
    bao.policy_for("internal-app", &["secret/my-secret"], &["read"])
        .unwrap();
    bao.enable_auth("kubernetes", "kubernetes").unwrap();
    bao.write(
        "auth/kubernetes/config",
        &[
            ("kubernetes_host", &cp.server_url()),
            ("kubernetes_ca_cert", cp.ca_pem()),
            ("token_reviewer_jwt", &reviewer_jwt),
            ("disable_local_ca_jwt", "true"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    bao.write(
        "auth/kubernetes/role/internal-app",
        &[
            ("bound_service_account_names", "internal-app"),
            ("bound_service_account_namespaces", AGENT_NAMESPACE),
            ("token_policies", "internal-app"),
            ("ttl", "1h"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let webhook = Webhook::start(&cp, &bao.addr(), Tls::Files);
    let env = Env { webhook, bao, cp };
    install_injector(
        &env.cp,
        "ferrovault",
        (&env.webhook.url(), &env.webhook.ca_bundle),
        "Fail",
        LIVE,
    );
    env
}

// === cluster helpers ===

fn helm(cp: &ControlPlane, args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm_bin())
        .args(args)
        .env_clear()
        .envs(cp.kubectl_env())
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm ({}): {e}", helm_bin().display()));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Installs `charts/ferrovault` registered by `url`, selecting namespaces labelled
/// `ferrovault-e2e=<selector>`, into its own release namespace `<release>-system`. An empty
/// `ca_bundle` means auto TLS: the webhook fills the bundle in.
fn install_injector(
    cp: &ControlPlane,
    release: &str,
    (url, ca_bundle): (&str, &str),
    failure_policy: &str,
    selector: &str,
) {
    let namespace_selector = format!(r#"{{"matchLabels":{{"{SELECTOR_LABEL}":"{selector}"}}}}"#);
    helm(
        cp,
        &[
            "install",
            release,
            &chart("ferrovault"),
            "--namespace",
            &format!("{release}-system"),
            "--create-namespace",
            "--set",
            &format!("webhook.url={url}"),
            "--set",
            &format!("certs.caBundle={ca_bundle}"),
            "--set",
            &format!(
                "tls.mode={}",
                if ca_bundle.is_empty() {
                    "auto"
                } else {
                    "existingSecret"
                }
            ),
            "--set",
            &format!("webhook.failurePolicy={failure_policy}"),
            "--set-json",
            &format!("webhook.namespaceSelector={namespace_selector}"),
        ],
    )
    .unwrap_or_else(|e| panic!("helm install {release}: {e}"));
}

/// Creates namespace `name` labelled for `selector`'s webhook and waits for its `default`
/// ServiceAccount (pods cannot be created before it exists).
fn namespace(cp: &ControlPlane, name: &str, selector: &str) {
    cp.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {{{SELECTOR_LABEL}: {selector}}}\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    wait_for(POLL, || {
        cp.kubectl(&["get", "serviceaccount", "default", "-n", name, "-o", "name"])
            .ok()
    })
    .unwrap_or_else(|| panic!("namespace {name} got no default ServiceAccount"));
}

fn install_moscow_time(cp: &ControlPlane, namespace: &str, sets: &[&str]) {
    let chart = chart("moscow-time");
    let mut args = vec!["install", "moscow-time", &chart, "--namespace", namespace];
    for set in sets {
        args.extend(["--set", set]);
    }
    helm(cp, &args).unwrap_or_else(|e| panic!("helm install moscow-time: {e}"));
}

/// Waits until `namespace` has `count` pods and returns them.
fn pods(cp: &ControlPlane, namespace: &str, count: usize) -> Vec<Value> {
    let mut last = Vec::new();
    let found = wait_for(POLL, || {
        let list = cp.kubectl_json(&["get", "pods", "-n", namespace]).ok()?;
        last = list["items"].as_array().cloned().unwrap_or_default();
        (last.len() == count).then(|| last.clone())
    });
    found.unwrap_or_else(|| {
        let events = cp
            .kubectl(&["get", "events", "-n", namespace])
            .unwrap_or_default();
        panic!(
            "expected {count} pods in {namespace}, have {}; events:\n{events}",
            last.len()
        )
    })
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn pod_name(pod: &Value) -> &str {
    pod["metadata"]["name"].as_str().unwrap_or("?")
}

/// A pod with the seed's annotations (plus `extra`), as YAML.
fn seed_pod(name: &str, extra_annotations: &[(&str, &str)]) -> String {
    let mut annotations = vec![
        ("vault.hashicorp.com/agent-inject", "true"),
        ("vault.hashicorp.com/role", "internal-app"),
        (
            "vault.hashicorp.com/agent-inject-secret-database-config.txt",
            "secret/my-secret",
        ),
    ];
    annotations.extend_from_slice(extra_annotations);
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "annotations": annotations
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::from(v)))
                .collect::<serde_json::Map<String, Value>>(),
        },
        "spec": {"containers": [{"name": "app", "image": "busybox:1.37", "command": ["sleep", "3600"]}]},
    });
    pod.to_string()
}

fn assert_injected(pod: &Value) {
    let name = pod_name(pod);
    let init = names(&pod["spec"]["initContainers"]);
    let containers = names(&pod["spec"]["containers"]);
    let native = pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["name"] == "vault-agent" && c["restartPolicy"] == "Always");
    assert!(
        native
            || (init.contains(&"vault-agent-init".to_owned())
                && containers.contains(&"vault-agent".to_owned())),
        "{name}: no agent containers (init {init:?}, containers {containers:?})"
    );
    assert!(
        names(&pod["spec"]["volumes"]).contains(&"vault-secrets".to_owned()),
        "{name}: no vault-secrets volume"
    );
    let medium = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == "vault-secrets")
        .map(|v| v["emptyDir"]["medium"].clone());
    assert_eq!(
        medium,
        Some(Value::from("Memory")),
        "{name}: vault-secrets is not memory-backed"
    );
    assert_eq!(
        pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"], "injected",
        "{name}: no injected status"
    );
}

fn assert_not_injected(pod: &Value) {
    let name = pod_name(pod);
    let all: Vec<String> = names(&pod["spec"]["initContainers"])
        .into_iter()
        .chain(names(&pod["spec"]["containers"]))
        .collect();
    assert!(
        !all.iter().any(|c| c.starts_with("vault-agent")),
        "{name}: unexpected agent containers {all:?}"
    );
    assert!(
        !names(&pod["spec"]["volumes"]).contains(&"vault-secrets".to_owned()),
        "{name}: unexpected vault-secrets volume"
    );
}

// === scenarios ===

#[test]
fn statefulset_pods_get_the_agent() {
    let env = env();
    let cp = &env.cp;
    namespace(cp, "seed", LIVE);
    install_moscow_time(
        cp,
        "seed",
        &["vault.enabled=true", "podManagementPolicy=Parallel"],
    );
    let pods = pods(cp, "seed", 3);
    for pod in &pods {
        assert_injected(pod);
        // --native-sidecar=auto asked the API server its version: 1.29+ has native sidecars
        let inits = names(&pod["spec"]["initContainers"]);
        assert!(
            inits.contains(&"vault-agent".to_owned()) && !inits.contains(&"vault-agent-init".to_owned()),
            "{}: expected the native sidecar, init containers {inits:?}",
            pod_name(pod)
        );
    }
    let mut names: Vec<&str> = pods.iter().map(pod_name).collect();
    names.sort();
    assert_eq!(names, ["moscow-time-0", "moscow-time-1", "moscow-time-2"]);
    let log = env.webhook.log();
    assert!(!log.contains(SECRET_PASSWORD), "the webhook logged a secret");
}

#[test]
fn injected_agent_logs_in_through_kubernetes_auth_and_renders_the_seed_file() {
    let env = env();
    let cp = &env.cp;
    namespace(cp, AGENT_NAMESPACE, LIVE);
    install_moscow_time(
        cp,
        AGENT_NAMESPACE,
        &[
            "vault.enabled=true",
            "podManagementPolicy=Parallel",
            "replicaCount=1",
        ],
    );
    let pod = pods(cp, AGENT_NAMESPACE, 1).remove(0);
    assert_injected(&pod);

    // the agent container as the API server stored it: the classic init container, else the
    // native sidecar
    let inits = pod["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let agent = inits
        .iter()
        .find(|c| c["name"] == "vault-agent-init")
        .or_else(|| inits.iter().find(|c| c["name"] == "vault-agent"))
        .expect("an agent init container");
    let args: Vec<String> = agent["args"]
        .as_array()
        .expect("agent args")
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let encoded = agent["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == AGENT_CONFIG_ENV)
        .and_then(|e| e["value"].as_str())
        .expect("FERROVAULT_AGENT_CONFIG in the agent's env");
    let config = AgentConfig::decode_env(encoded).expect("a valid agent config");
    let mount_token_path = config.auto_auth.method.config.get("token_path").cloned();
    assert_eq!(
        mount_token_path.as_deref(),
        Some("/var/run/secrets/kubernetes.io/serviceaccount/token"),
        "the webhook should point the agent at the pod's service-account token mount"
    );

    // What the kubelet would project into that mount: a token of the pod's ServiceAccount.
    let work = tempfile::tempdir().unwrap();
    let token = cp
        .create_token(AGENT_NAMESPACE, "internal-app", "https://kubernetes.default.svc")
        .unwrap_or_else(|e| panic!("{e}"));
    let token_file = work.path().join("sa-token");
    std::fs::write(&token_file, &token).unwrap();
    let root = work.path().join("root");
    let home = work.path().join("home");
    for dir in &config.secrets_dirs {
        std::fs::create_dir_all(root.join(dir.trim_start_matches('/'))).unwrap();
    }
    std::fs::create_dir_all(&home).unwrap();

    let log_path = work.path().join("agent.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // the injected env and args unchanged; only the container paths are re-rooted for a local run
    let mut child = Command::new(our_bin("ferrovault-agent"))
        .arg("--token-path")
        .arg(&token_file)
        .arg("--secrets-root")
        .arg(&root)
        .arg("--home")
        .arg(&home)
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(AGENT_CONFIG_ENV, encoded)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start ferrovault-agent");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut child);
    let rendered_path = root.join("vault/secrets/database-config.txt");
    let done = wait_for(POLL, || {
        if args.first().map(String::as_str) == Some("init") {
            // init mode exits when everything is rendered
            guard.0.try_wait().ok().flatten().map(|status| status.success())
        } else {
            // native/sidecar keep running: the ready marker says the first render is complete
            home.join(".ferrovault-ready").exists().then_some(true)
        }
    });
    drop(guard);
    let agent_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(
        done,
        Some(true),
        "agent `{args:?}` did not finish rendering; log:\n{agent_log}"
    );
    let rendered = std::fs::read_to_string(&rendered_path)
        .unwrap_or_else(|e| panic!("{}: {e}; agent log:\n{agent_log}", rendered_path.display()));
    assert_eq!(rendered, RENDERED);
    assert!(
        !agent_log.contains(SECRET_PASSWORD),
        "the agent logged the secret"
    );
    assert!(
        !agent_log.contains(&token),
        "the agent logged the service-account token"
    );

    // OpenBao really asked this API server: the login created a token with the role's policy.
    let accessors = env.bao.bao_json(&["list", "auth/token/accessors"]).unwrap();
    assert!(
        accessors.as_array().is_some_and(|a| !a.is_empty()),
        "no tokens issued by OpenBao"
    );
}

#[test]
fn vault_disabled_pods_have_no_agent() {
    let env = env();
    let cp = &env.cp;
    namespace(cp, "plain", LIVE);
    install_moscow_time(
        cp,
        "plain",
        &["vault.enabled=false", "podManagementPolicy=Parallel"],
    );
    for pod in pods(cp, "plain", 3) {
        assert_not_injected(&pod);
    }
}

#[test]
fn invalid_annotation_is_refused_naming_it() {
    let env = env();
    let cp = &env.cp;
    namespace(cp, "invalid", LIVE);
    let pod = seed_pod("bad-bool", &[]).replace(
        r#""vault.hashicorp.com/agent-inject":"true""#,
        r#""vault.hashicorp.com/agent-inject":"tRuE""#,
    );
    assert!(pod.contains("tRuE"));
    let err = cp
        .kubectl_with_stdin(&["create", "-n", "invalid", "-f", "-"], Some(&pod))
        .expect_err("the API server must refuse the pod")
        .to_string();
    assert!(err.contains(WEBHOOK_NAME), "{err}");
    assert!(err.contains("vault.hashicorp.com/agent-inject"), "{err}");
    assert!(err.contains("\"tRuE\""), "{err}");
    assert!(
        cp.kubectl(&["get", "pod", "bad-bool", "-n", "invalid"]).is_err(),
        "the refused pod exists"
    );
}

/// `--env-files` is `auto` by default: on when the API server is 1.35 or later (`EnvFiles` beta and
/// on by default there), so the same pod is admitted with `fileKeyRef` entries on 1.35+ and refused
/// below, naming the flag (`make test-k8s K8S_VERSION=v1.34.4` runs the other side).
#[test]
fn env_files_follow_the_api_server_version() {
    let env = env();
    let cp = &env.cp;
    namespace(cp, "env-files", LIVE);
    let pod = seed_pod(
        "env-pod",
        &[
            (
                "vault.hashicorp.com/agent-inject-template-database-config.txt",
                "{{ with secret \"secret/my-secret\" }}DB_USER={{ .Data.username }}\n{{ end }}",
            ),
            ("ferrovault.dev/env-database-config.txt", "DB_USER"),
        ],
    );
    let created = cp.kubectl_with_stdin(&["create", "-n", "env-files", "-f", "-"], Some(&pod));
    let version = ferrovault_tests::kube::kubernetes_version();
    if ferrovault_tests::kube::kubernetes_minor() >= (1, 35) {
        created.unwrap_or_else(|e| panic!("{version}: the env-file pod was refused: {e}"));
        let admitted = cp
            .kubectl_json(&["get", "pod", "env-pod", "-n", "env-files"])
            .unwrap_or_else(|e| panic!("{e}"));
        let entries = admitted["spec"]["containers"][0]["env"].to_string();
        assert!(
            entries.contains("fileKeyRef") && entries.contains("DB_USER"),
            "{version}: the API server kept no fileKeyRef: {entries}"
        );
    } else {
        let err = created.expect_err("env files are off below 1.35").to_string();
        assert!(err.contains("--env-files"), "{version}: {err}");
    }
}

/// A webhook that served, then stopped: what the API server does with `failure_policy`.
fn stopped_webhook(failure_policy: &str) -> (Arc<Env>, String, Result<String, String>) {
    let env = env();
    let cp = &env.cp;
    let ns = format!("stopped-{}", failure_policy.to_lowercase());
    namespace(cp, &ns, &ns);
    let mut webhook = Webhook::start(cp, &env.bao.addr(), Tls::Files);
    install_injector(cp, &ns, (&webhook.url(), &webhook.ca_bundle), failure_policy, &ns);
    // it works while it runs…
    cp.kubectl_with_stdin(
        &["create", "-n", &ns, "-f", "-"],
        Some(&seed_pod("while-up", &[])),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let up = cp.kubectl_json(&["get", "pod", "while-up", "-n", &ns]).unwrap();
    assert_injected(&up);
    // …then it is gone
    webhook.stop();
    let created = cp
        .kubectl_with_stdin(
            &["create", "-n", &ns, "-f", "-"],
            Some(&seed_pod("while-down", &[])),
        )
        .map_err(|e| e.to_string());
    (env, ns, created)
}

#[test]
fn stopped_webhook_with_ignore_admits_pods_without_agent() {
    let (env, ns, created) = stopped_webhook("Ignore");
    created.unwrap_or_else(|e| panic!("Ignore must admit the pod: {e}"));
    let pod = env
        .cp
        .kubectl_json(&["get", "pod", "while-down", "-n", &ns])
        .unwrap();
    assert_not_injected(&pod);
}

#[test]
fn stopped_webhook_with_fail_refuses_pods_naming_the_webhook() {
    let (env, ns, created) = stopped_webhook("Fail");
    let err = created.expect_err("Fail must refuse the pod");
    assert!(err.contains(WEBHOOK_NAME), "{err}");
    assert!(
        env.cp.kubectl(&["get", "pod", "while-down", "-n", &ns]).is_err(),
        "the refused pod exists"
    );
}

#[test]
fn auto_tls_webhook_creates_its_secret_patches_the_ca_bundle_and_is_called() {
    let env = env();
    let cp = &env.cp;
    let ns = "autotls";
    namespace(cp, ns, ns);
    let release_ns = format!("{ns}-system");
    // registered by URL with no caBundle: the webhook fills it in
    let port = free_port();
    install_injector(cp, ns, (&url(port), ""), "Fail", ns);
    let configuration = cp
        .kubectl(&[
            "get",
            "mutatingwebhookconfiguration",
            "-l",
            &format!("app.kubernetes.io/instance={ns}"),
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut webhook = Webhook::start_on(
        port,
        cp,
        &env.bao.addr(),
        Tls::Auto {
            configuration: &configuration,
            namespace: &release_ns,
        },
    );

    let bundle = wait_for(POLL, || {
        let out = cp
            .kubectl(&[
                "get",
                "mutatingwebhookconfiguration",
                &configuration,
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ])
            .ok()?;
        (!out.trim().is_empty()).then_some(out)
    })
    .unwrap_or_else(|| panic!("caBundle never patched; webhook log:\n{}", webhook.log()));
    // the Secret shared by replicas (CA and serving pair) may be written after the patch
    let secret = wait_for(POLL, || {
        cp.kubectl_json(&["get", "secret", "ferrovault-webhook-tls", "-n", &release_ns])
            .ok()
    })
    .unwrap_or_else(|| {
        panic!(
            "no Secret ferrovault-webhook-tls; webhook log:\n{}",
            webhook.log()
        )
    });
    assert!(
        secret["data"].as_object().is_some_and(|d| !d.is_empty()),
        "empty Secret"
    );
    assert!(!bundle.trim().is_empty());

    // the API server trusts the patched bundle and calls the webhook (bounded: it may take a
    // moment for the API server to see the new caBundle)
    let mut last = String::new();
    let created = wait_for(POLL, || {
        match cp.kubectl_with_stdin(&["create", "-n", ns, "-f", "-"], Some(&seed_pod("auto-tls", &[]))) {
            Ok(_) => Some(()),
            Err(e) => {
                last = e.to_string();
                None
            }
        }
    });
    assert!(
        created.is_some(),
        "pod never admitted: {last}\nwebhook log:\n{}",
        webhook.log()
    );
    let pod = cp.kubectl_json(&["get", "pod", "auto-tls", "-n", ns]).unwrap();
    assert_injected(&pod);
    let log = webhook.log();
    webhook.stop();
    assert!(!log.contains("PRIVATE KEY"), "the webhook logged key material");
}
