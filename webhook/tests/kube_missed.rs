//! Missed injections against a real API server (etcd + kube-apiserver + kube-controller-manager from
//! `scripts/control-plane.sh build`; no kubelet, so pods stay Pending, which is all detection needs).
//!
//! The webhook is registered with `failurePolicy: Ignore` while nothing listens on its address:
//! annotated pods are admitted without their agent. Then the real `ferrovault-webhook serve
//! --missed-injections` binary starts (as a ServiceAccount with exactly the chart's detector RBAC,
//! electing through its Lease without auto TLS) and must report each of them once — a Warning
//! Event, a log line, the per-namespace gauge — while `ferrovault-webhook audit` lists them and
//! exits 1. A pod created once the webhook is up is injected and not reported; when the leader
//! dies, the next one counts the same pods without reporting them again; after the missed pods are
//! deleted the gauge is back to 0 and `audit` exits 0.

mod support;

use std::io::Read as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use ferrovault_tests::kube::ControlPlane;
use serde_json::json;

const WEBHOOK_NS: &str = "ferrovault";
const SA: &str = "ferrovault-webhook";
const MWC: &str = "missed-injector";
const LEASE: &str = "missed-leader";
const WAIT: Duration = Duration::from_secs(90);
const BIN: &str = env!("CARGO_BIN_EXE_ferrovault-webhook");

fn control_plane() -> ControlPlane {
    ControlPlane::start().unwrap_or_else(|e| {
        panic!(
            "the missed-injection test needs a real API server; build it with \
             `eval \"$(scripts/control-plane.sh build)\"` (10-25 min once): {e}"
        )
    })
}

/// The chart's detector RBAC (charts/ferrovault/templates/rbac-missed-injections.yaml), without
/// auto TLS: the Lease Role comes with it.
fn rbac() -> String {
    format!(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "{MWC}-missed-injections"}}
rules:
  - {{apiGroups: [""], resources: [pods], verbs: [list, watch]}}
  - {{apiGroups: [events.k8s.io], resources: [events], verbs: [create, list, patch]}}
  - {{apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], resourceNames: ["{MWC}"], verbs: [get]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "{MWC}-missed-injections"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "{MWC}-missed-injections"}}
subjects: [{{kind: ServiceAccount, name: {SA}, namespace: {WEBHOOK_NS}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: "{MWC}-leader", namespace: {WEBHOOK_NS}}}
rules:
  - {{apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: ["{LEASE}"], verbs: [get, patch]}}
  - {{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: "{MWC}-leader", namespace: {WEBHOOK_NS}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: "{MWC}-leader"}}
subjects: [{{kind: ServiceAccount, name: {SA}, namespace: {WEBHOOK_NS}}}]
"#
    )
}

/// The chart's webhook entry, at `addr`, with `failurePolicy: Ignore`.
fn webhook_configuration(addr: SocketAddr, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": MWC},
        "webhooks": [{
            "name": "agent-injector.ferrovault.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Ignore",
            "timeoutSeconds": 5,
            "clientConfig": {"url": format!("https://{addr}/mutate"), "caBundle": ca},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"}],
            "matchConditions": [{"name": "agent-inject-annotation", "expression":
                "has(object.metadata.annotations) && ('vault.hashicorp.com/agent-inject' in object.metadata.annotations || 'openbao.org/agent-inject' in object.metadata.annotations)"}],
            "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [WEBHOOK_NS, "missed-skipped"]}]},
        }],
    })
    .to_string()
}

fn pod(namespace: &str, name: &str, annotations: serde_json::Value, containers: &[&str]) -> String {
    let containers: Vec<_> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "busybox"}))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"containers": containers},
    })
    .to_string()
}

fn kubeconfig_for_token(cp: &ControlPlane, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(cp.ca_pem());
    format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{}\", certificate-authority-data: \"{ca}\"}}}}]\n\
         users: [{{name: u, user: {{token: \"{}\"}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
        cp.server_url(),
        token.trim()
    )
}

/// The webhook binary, killed on drop.
struct Webhook(Child);

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ferrovault-webhook audit` as cluster-admin: exit code and stdout.
fn audit(cp: &ControlPlane, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("audit")
        .args(args)
        .env_clear()
        .envs(cp.kubectl_env())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "audit failed ({code}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, stdout)
}

async fn metrics(addr: SocketAddr, ca_pem: &str) -> Option<String> {
    let tls = support::connector(ca_pem, &[&rustls::version::TLS13]);
    let mut sender = support::connect(addr, &tls).await.ok()?;
    let (status, body) = support::send(&mut sender, "GET", "/metrics", None, Vec::new()).await;
    (status == 200).then(|| String::from_utf8(body).unwrap())
}

/// The value of one series, if present.
fn series(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn wait_metrics(addr: SocketAddr, ca_pem: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(text) = metrics(addr, ca_pem).await
            && check(&text)
        {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics: {what} not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn missed_events(cp: &ControlPlane, namespace: &str) -> Vec<serde_json::Value> {
    let events = cp
        .kubectl_json(&["get", "events.events.k8s.io", "-n", namespace])
        .unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "VaultInjectionMissed")
        .cloned()
        .collect()
}

/// `ferrovault-webhook serve` with the detector (1 s resync, its own election), as `identity`.
fn start_webhook(
    dir: &std::path::Path,
    addr: SocketAddr,
    kubeconfig: &std::path::Path,
    identity: &str,
    log: &std::path::Path,
) -> Webhook {
    Webhook(
        Command::new(BIN)
            .args(["serve", "--listen", &addr.to_string(), "--log-format", "json"])
            .arg("--tls-cert-file")
            .arg(dir.join("tls.crt"))
            .arg("--tls-key-file")
            .arg(dir.join("tls.key"))
            .args([
                "--vault-address=https://vault.vault.svc:8200",
                "--native-sidecar=never",
                "--missed-injections=true",
                "--missed-injections-resync=1s",
                &format!("--webhook-config={MWC}"),
                &format!("--leader-lease={LEASE}"),
                &format!("--namespace={WEBHOOK_NS}"),
                &format!("--pod-name={identity}"),
                "--leader-lease-duration=3s",
                "--leader-renew-interval=1s",
            ])
            .env_clear()
            .env("KUBECONFIG", kubeconfig)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// The pods the "missed injection" log lines of `log` name, sorted.
fn reported_in_log(log: &std::path::Path) -> (Vec<String>, String) {
    let mut text = String::new();
    std::fs::File::open(log)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let mut reported: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["@message"]
                .as_str()
                .is_some_and(|m| m.starts_with("missed injection:"))
        })
        .map(|l| {
            format!(
                "{}/{}",
                l["namespace"].as_str().unwrap(),
                l["pod"].as_str().unwrap()
            )
        })
        .collect();
    reported.sort();
    (reported, text)
}

/// `namespace/pod` of every VaultInjectionMissed Event, checked, sorted.
fn events_regarding(cp: &ControlPlane, reporter: &str) -> Vec<String> {
    let mut regarding = Vec::new();
    for ns in ["missed-a", "missed-b", "missed-skipped"] {
        for event in missed_events(cp, ns) {
            assert_eq!(event["type"], "Warning");
            assert_eq!(event["reportingController"], "ferrovault-webhook");
            assert_eq!(event["reportingInstance"], reporter);
            assert!(event["series"].is_null(), "reported more than once: {event}");
            let note = event["note"].as_str().unwrap();
            assert!(
                note.contains("vault.hashicorp.com/agent-inject") && note.contains("failurePolicy: Ignore"),
                "{note}"
            );
            regarding.push(format!("{ns}/{}", event["regarding"]["name"].as_str().unwrap()));
        }
    }
    regarding.sort();
    regarding
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_injections_are_reported_and_audited() {
    let cp = control_plane();
    let pki = support::pki("missed-injection test CA");
    let dir = tempfile::tempdir().unwrap();
    support::write_pair(dir.path(), &pki);
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };

    for ns in [WEBHOOK_NS, "missed-a", "missed-b", "missed-skipped"] {
        cp.kubectl(&["create", "namespace", ns]).unwrap();
    }
    cp.kubectl(&["create", "serviceaccount", SA, "-n", WEBHOOK_NS])
        .unwrap();
    cp.apply(&rbac()).unwrap();
    // registered while nothing listens there: with Ignore, annotated pods go in un-injected
    cp.apply(&webhook_configuration(addr, &pki.ca_pem)).unwrap();
    let ask = json!({"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "app",
                     "vault.hashicorp.com/agent-inject-secret-db": "secret/data/db"});
    for (ns, name, annotations, containers) in [
        ("missed-a", "a1", ask.clone(), &["app"][..]),
        ("missed-a", "a2", ask.clone(), &["app"]),
        (
            "missed-b",
            "b1",
            json!({"openbao.org/agent-inject": "true"}),
            &["app"],
        ),
        // not missed: no annotation, injection off, an agent already there, a namespace the
        // webhook configuration excludes
        ("missed-a", "plain", json!({}), &["app"]),
        (
            "missed-a",
            "off",
            json!({"vault.hashicorp.com/agent-inject": "false"}),
            &["app"],
        ),
        ("missed-b", "has-agent", ask.clone(), &["app", "vault-agent"]),
        ("missed-skipped", "s1", ask.clone(), &["app"]),
    ] {
        cp.apply(&pod(ns, name, annotations, containers)).unwrap();
    }

    // audit before the webhook even runs
    let (code, table) = audit(&cp, &["--webhook-config", MWC]);
    assert_eq!(code, 1, "{table}");
    let listed: Vec<(&str, &str)> = table
        .lines()
        .skip(1)
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap(), w.next().unwrap())
        })
        .collect();
    assert_eq!(
        listed,
        [("missed-a", "a1"), ("missed-a", "a2"), ("missed-b", "b1")],
        "{table}"
    );
    assert!(
        table.contains("not mutated (webhook down or failing, failurePolicy Ignore)"),
        "{table}"
    );
    // without the webhook configuration every pod is judged: the excluded namespace shows up too
    let (_, all) = audit(&cp, &[]);
    assert!(all.contains("missed-skipped"), "{all}");
    let (code, json) = audit(&cp, &["--webhook-config", MWC, "-n", "missed-b", "-o", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        json!([{"namespace": "missed-b", "name": "b1", "owner": "-", "reason": "not-mutated"}])
    );

    // the webhook starts, as the ServiceAccount, with the detector and a 1 s resync
    let token = cp
        .create_token(WEBHOOK_NS, SA, "https://kubernetes.default.svc")
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kubeconfig_for_token(&cp, &token)).unwrap();
    let log = dir.path().join("webhook-a.log");
    let mut replica_a = start_webhook(dir.path(), addr, &kubeconfig, "replica-a", &log);

    // counted per namespace; several resyncs later still one Event per pod
    let text = wait_metrics(addr, &pki.ca_pem, "2 + 1 missed after 3 scans", |t| {
        series(t, r#"ferrovault_webhook_missed_injections{namespace="missed-a"}"#) == Some(2.0)
            && series(t, r#"ferrovault_webhook_missed_injections{namespace="missed-b"}"#) == Some(1.0)
            && series(t, "ferrovault_webhook_missed_injection_scans_total").is_some_and(|n| n >= 3.0)
    })
    .await;
    assert!(!text.contains("missed-skipped"), "{text}");
    let missed_pods = ["missed-a/a1", "missed-a/a2", "missed-b/b1"];
    assert_eq!(events_regarding(&cp, "replica-a"), missed_pods);

    // one log line per missed pod, names only
    let (reported, text) = reported_in_log(&log);
    assert_eq!(reported, missed_pods, "{text}");
    assert!(!text.contains("secret/data/db"), "{text}");

    // the webhook is up now: a new annotated pod is injected, not reported
    cp.apply(&pod("missed-a", "c1", ask.clone(), &["app"])).unwrap();
    let c1 = cp.kubectl_json(&["get", "pod", "c1", "-n", "missed-a"]).unwrap();
    assert_eq!(
        c1["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"], "injected",
        "{c1}"
    );
    let scans = series(
        &metrics(addr, &pki.ca_pem).await.unwrap(),
        "ferrovault_webhook_missed_injection_scans_total",
    )
    .unwrap();
    wait_metrics(addr, &pki.ca_pem, "two more scans", |t| {
        series(t, "ferrovault_webhook_missed_injection_scans_total").is_some_and(|n| n >= scans + 2.0)
            && series(t, r#"ferrovault_webhook_missed_injections{namespace="missed-a"}"#) == Some(2.0)
    })
    .await;

    // the leader dies without releasing its Lease: another replica takes over once it expires,
    // counts the same pods, and does not report them again (their Events are there)
    replica_a.0.kill().unwrap();
    let _ = replica_a.0.wait();
    let log_b = dir.path().join("webhook-b.log");
    let mut replica_b = start_webhook(dir.path(), addr, &kubeconfig, "replica-b", &log_b);
    wait_metrics(addr, &pki.ca_pem, "replica-b leads and counts", |t| {
        series(t, "ferrovault_webhook_missed_injection_scans_total").is_some_and(|n| n >= 2.0)
            && series(t, r#"ferrovault_webhook_missed_injections{namespace="missed-a"}"#) == Some(2.0)
            && series(t, r#"ferrovault_webhook_missed_injections{namespace="missed-b"}"#) == Some(1.0)
    })
    .await;
    assert_eq!(events_regarding(&cp, "replica-a"), missed_pods);
    let (reported, text) = reported_in_log(&log_b);
    assert!(reported.is_empty(), "{text}");

    // deleted: back to 0 (the series stays, at 0), and audit is clean
    cp.kubectl(&["delete", "pod", "a1", "a2", "-n", "missed-a", "--wait=false"])
        .unwrap();
    cp.kubectl(&["delete", "pod", "b1", "-n", "missed-b", "--wait=false"])
        .unwrap();
    wait_metrics(addr, &pki.ca_pem, "0 missed", |t| {
        series(t, r#"ferrovault_webhook_missed_injections{namespace="missed-a"}"#) == Some(0.0)
            && series(t, r#"ferrovault_webhook_missed_injections{namespace="missed-b"}"#) == Some(0.0)
    })
    .await;
    let (code, table) = audit(&cp, &["--webhook-config", MWC]);
    assert_eq!((code, table.as_str()), (0, ""));
    assert!(replica_b.0.try_wait().unwrap().is_none(), "the webhook exited");
}
