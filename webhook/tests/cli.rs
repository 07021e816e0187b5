//! `ferrovault-webhook inject`, the dry-run CLI, as a user runs it (and `audit` without a cluster).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ferrovault-webhook");

fn seed_pod() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/seed-pod.yaml")
}

fn inject(file: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args([
            "inject",
            "--vault-address",
            "https://vault.vault.svc:8200",
            "--file",
        ])
        .arg(file)
        .args(extra)
        .env_clear()
        .output()
        .unwrap()
}

fn container<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn mounts(c: &Value) -> Vec<(String, String)> {
    c["volumeMounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap().to_owned(),
                        m["mountPath"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn seed_pod_gets_agents_volume_token_and_status() {
    let out = inject(&seed_pod(), &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod: Value = serde_json::from_slice(&out.stdout).unwrap();
    let spec = &pod["spec"];
    let init = container(&spec["initContainers"], "vault-agent-init");
    let sidecar = container(&spec["containers"], "vault-agent");
    let app = container(&spec["containers"], "moscow-time-python");
    let secrets = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "vault-secrets")
        .unwrap();
    assert_eq!(secrets["emptyDir"]["medium"], "Memory");
    assert!(mounts(app).contains(&("vault-secrets".into(), "/vault/secrets".into())));
    for agent in [init, sidecar] {
        assert_eq!(agent["command"], serde_json::json!(["/ferrovault-agent"]));
        let sa = agent["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount")
            .expect("service-account token mounted into the agent");
        assert_eq!(sa["readOnly"], true);
        assert_eq!(
            agent["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(agent["securityContext"]["runAsNonRoot"], true);
    }
    assert_eq!(
        pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );

    // feeding the output back changes nothing
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("injected.json");
    std::fs::write(&again, &out.stdout).unwrap();
    let out2 = inject(&again, &[]);
    assert!(out2.status.success());
    let pod2: Value = serde_json::from_slice(&out2.stdout).unwrap();
    assert_eq!(pod, pod2);
    let patch = inject(&again, &["--output", "patch"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&patch.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn invalid_annotation_exits_1_naming_it_and_unreadable_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(seed_pod())
        .unwrap()
        .replace("agent-inject: \"true\"", "agent-inject: \"tRuE\"");
    std::fs::write(&bad, text).unwrap();
    let out = inject(&bad, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("vault.hashicorp.com/agent-inject"), "{stderr}");
    assert!(stderr.contains("tRuE"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = inject(&dir.path().join("missing.yaml"), &[]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(dir.path().join("junk"), "{{{ s3cr3t").unwrap();
    let out = inject(&dir.path().join("junk"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cr3t"));
}

#[test]
fn review_output_and_native_sidecar_by_kubernetes_version() {
    let out = inject(&seed_pod(), &["--output", "review"]);
    assert!(out.status.success());
    let review: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(review["response"]["allowed"], true);
    assert!(review["response"]["patch"].is_string());

    let out = inject(&seed_pod(), &["--kubernetes-version", "1.31"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod: Value = serde_json::from_slice(&out.stdout).unwrap();
    let agent = container(&pod["spec"]["initContainers"], "vault-agent");
    assert_eq!(agent["restartPolicy"], "Always");
    assert_eq!(agent["args"], serde_json::json!(["native"]));
    assert!(agent["startupProbe"]["exec"]["command"].is_array());
    assert!(
        pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "vault-agent")
    );
}

#[test]
fn helm_template_output_with_a_workload_becomes_its_injected_pod() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("chart.yaml");
    std::fs::write(
        &stream,
        r#"---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: moscow-python, namespace: apps}
spec:
  serviceName: moscow-python-headless
  selector: {matchLabels: {app: m}}
  template:
    metadata:
      labels: {app: m}
      annotations:
        vault.hashicorp.com/agent-inject: "true"
        vault.hashicorp.com/agent-inject-secret-database-config.txt: secret/my-secret
        vault.hashicorp.com/role: internal-app
    spec:
      serviceAccountName: internal-app
      containers: [{name: app, image: x}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    metadata:
      annotations:
        vault.hashicorp.com/agent-inject: "true"
        vault.hashicorp.com/role: internal-app
    spec:
      restartPolicy: Never
      containers: [{name: job, image: x}]
"#,
    )
    .unwrap();
    let out = inject(&stream, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pod["metadata"]["name"], "moscow-python-0");
    assert_eq!(pod["metadata"]["namespace"], "apps");
    let app = container(&pod["spec"]["containers"], "app");
    assert!(mounts(app).contains(&(
        "kube-api-access-demo0".into(),
        "/var/run/secrets/kubernetes.io/serviceaccount".into()
    )));
    container(&pod["spec"]["initContainers"], "vault-agent-init");
    container(&pod["spec"]["containers"], "vault-agent");

    // a Job's pod never gets a sidecar that would keep it running
    let out = inject(&stream, &["--select", "Job/migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "vault-agent")
    );
    container(&pod["spec"]["initContainers"], "vault-agent-init");

    let out = inject(&stream, &["--select", "Deployment/nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Deployment named"));
}

#[test]
fn a_template_nested_past_the_limit_is_an_answer_not_an_abort() {
    // Issue #8, finding 1: `inject` aborted (SIGABRT, stack overflow) on this pod.
    let seed = std::fs::read_to_string(seed_pod()).unwrap();
    let mut pod: Value = serde_yaml::from_str(&seed).unwrap();
    let deep = format!("{}x{}", "{{ if true }}".repeat(2000), "{{ end }}".repeat(2000));
    let annotations = &mut pod["metadata"]["annotations"];
    annotations["vault.hashicorp.com/agent-inject-template-database-config.txt"] = Value::String(deep);
    annotations["ferrovault.dev/strict"] = Value::String("true".into());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.json");
    std::fs::write(&file, serde_json::to_vec(&pod).unwrap()).unwrap();
    let out = inject(&file, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nesting limit"), "{stderr}");
}

#[test]
fn a_review_without_user_info_is_accepted() {
    // Issue #10: the API server always sends userInfo; a hand-written review may not.
    let seed = std::fs::read_to_string(seed_pod()).unwrap();
    let pod: Value = serde_yaml::from_str(&seed).unwrap();
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "object": pod,
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("review.json");
    std::fs::write(&file, serde_json::to_vec(&review).unwrap()).unwrap();
    let out = inject(&file, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn warnings_reach_stderr_in_every_output_mode() {
    // Issue #10 §2: they were printed only with -o review.
    let seed = std::fs::read_to_string(seed_pod()).unwrap();
    let mut pod: Value = serde_yaml::from_str(&seed).unwrap();
    pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-secrt-typo"] = Value::String("x".into());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.json");
    std::fs::write(&file, serde_json::to_vec(&pod).unwrap()).unwrap();
    for mode in ["pod", "patch", "review"] {
        let out = inject(&file, &["-o", mode]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{mode}: {stderr}");
        assert!(
            stderr.contains("warning: annotation vault.hashicorp.com/agent-inject-secrt-typo"),
            "{mode}: {stderr}"
        );
    }
}

#[test]
fn a_bare_pod_gets_the_token_mount_the_api_server_would_add() {
    // Issue #10 §2: denied offline for lack of a mount the API server adds before calling us.
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "namespace": "default", "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "app",
            "vault.hashicorp.com/agent-inject-secret-db": "secret/db"
        }},
        "spec": {"containers": [{"name": "app", "image": "app"}]}
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.json");
    std::fs::write(&file, serde_json::to_vec(&pod).unwrap()).unwrap();
    let out = inject(&file, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod: Value = serde_json::from_slice(&out.stdout).unwrap();
    let app = container(&pod["spec"]["containers"], "app");
    assert!(
        mounts(app)
            .iter()
            .any(|(_, path)| path == "/var/run/secrets/kubernetes.io/serviceaccount"),
        "{app:#}"
    );
}

/// vault-k8s's environment variables that ferrovault used to skip are read (issue #10 §3): a bad
/// value stops `serve` at start, naming the variable, as vault-k8s does.
#[test]
fn serve_reads_vault_k8s_tls_and_election_variables() {
    let serve = |envs: &[(&str, &str)]| {
        Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("AGENT_INJECT_VAULT_ADDR", "https://vault:8200")
            .env("AGENT_INJECT_LISTEN", "127.0.0.1:0")
            .env("FERROVAULT_NATIVE_SIDECAR", "never")
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    };
    let out = serve(&[("AGENT_INJECT_USE_LEADER_ELECTOR", "maybe")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--use-leader-elector") && err.contains("maybe"),
        "{err}"
    );

    let out = serve(&[(
        "AGENT_INJECT_TLS_CIPHER_SUITES",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,suite1",
    )]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("unsupported cipher \"suite1\""), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, "not a certificate").unwrap();
    let out = serve(&[("AGENT_INJECT_TLS_CA_CERT_FILE", ca.to_str().unwrap())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--tls-ca-cert-file") && err.contains("no certificate"),
        "{err}"
    );
}

#[test]
fn audit_without_a_cluster_exits_2_and_says_why() {
    // `audit` against a real API server is in kube_missed.rs; here: no cluster at all
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["audit", "-o", "json"])
        .env_clear()
        .env("KUBECONFIG", dir.path().join("missing"))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: kubernetes: no cluster configuration"),
        "{stderr}"
    );
    // a kubeconfig pointing at nothing that listens: the list fails, still 2
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("audit")
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("list pods"), "{stderr}");
}
