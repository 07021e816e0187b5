//! Scenarios beyond the two charts: rotation, classic init + sidecar, a Job, a webhook replica
//! going away under load, and the seed chart without Vault.

use serde_json::{Value, json};

use super::helpers::*;
use super::{
    APP_NS, CONNECTION, Env, SECRET_FILE, ensure_app_namespace, ensure_injector, install_moscow_time,
    is_native_sidecar, progress,
};

/// KV v2 (mounted at `kv2/` by [`Env::start`]): a static secret, re-read every
/// `template-static-secret-render-interval`.
const ROTATING: &str = "kv2/data/rotating";
const ROTATING_KV: &str = "kv2/rotating";
const TEMPLATE: &str = "{{- with secret \"kv2/data/rotating\" -}}\n\
                        postgresql://{{ .Data.data.username }}:{{ .Data.data.password }}@postgres:5432/wizard\n\
                        {{- end }}";

/// A pod of the stand-in image in [`APP_NS`] as `internal-app`, asking for `secret/rotating`,
/// running `script` with busybox sh.
fn agent_pod(env: &Env, name: &str, annotations: &[(&str, &str)], script: &str, restart: &str) -> Value {
    let mut all = serde_json::Map::new();
    for (k, v) in [
        ("vault.hashicorp.com/agent-inject", "true"),
        ("vault.hashicorp.com/role", "internal-app"),
        (
            "vault.hashicorp.com/agent-inject-secret-database-config.txt",
            ROTATING,
        ),
        (
            "vault.hashicorp.com/agent-inject-template-database-config.txt",
            TEMPLATE,
        ),
    ]
    .iter()
    .chain(annotations)
    {
        all.insert((*k).to_owned(), Value::from(*v));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"scenario": name}, "annotations": all},
        "spec": {
            "serviceAccountName": "internal-app",
            "restartPolicy": restart,
            "containers": [{
                "name": "app",
                "image": env.cluster.images().standin,
                "command": ["/bin/busybox", "sh", "-c", script],
                "securityContext": {"runAsNonRoot": true, "runAsUser": 100, "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
            }],
        },
    })
}

fn create(env: &Env, namespace: &str, object: &Value) {
    env.cluster
        .cp()
        .kubectl_with_stdin(&["create", "-n", namespace, "-f", "-"], Some(&object.to_string()))
        .unwrap_or_else(|e| panic!("create: {e}"));
}

fn connection(password: &str) -> String {
    format!("postgresql://alice:{password}@postgres:5432/wizard")
}

/// A changed secret reaches the running pod's file; a reader polling the file the whole time
/// never sees it empty, partial or anything but the old or the new bytes.
pub fn rotation(env: &Env) {
    ensure_app_namespace(env);
    env.vault
        .bao(&["kv", "put", ROTATING_KV, "username=alice", "password=before"])
        .unwrap_or_else(|e| panic!("{e}"));
    let (old, new) = (connection("before"), connection("after"));
    // the reader prints one line per read that is neither value: there must be none
    let script = format!(
        "while :; do c=\"$(/bin/busybox cat {SECRET_FILE})\"; \
         if [ \"$c\" != '{old}' ] && [ \"$c\" != '{new}' ]; then echo \"BAD READ: [$c]\"; fi; \
         /bin/busybox usleep 5000; done"
    );
    let pod = agent_pod(
        env,
        "rotation",
        &[("vault.hashicorp.com/template-static-secret-render-interval", "1s")],
        &script,
        "Always",
    );
    create(env, APP_NS, &pod);
    wait_pods_ready(env, APP_NS, "scenario=rotation", 1);
    assert_eq!(exec(env, APP_NS, "rotation", "app", &["cat", SECRET_FILE]), old);
    progress("rotation: the pod reads the first password; changing the secret in OpenBao");
    env.vault
        .bao(&["kv", "put", ROTATING_KV, "username=alice", "password=after"])
        .unwrap_or_else(|e| panic!("{e}"));
    wait_until(env, "the new password in the running pod's file", || {
        (exec(env, APP_NS, "rotation", "app", &["cat", SECRET_FILE]) == new).then_some(())
    });
    let logs = env
        .cluster
        .cp()
        .kubectl(&["logs", "rotation", "-n", APP_NS, "-c", "app"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!logs.contains("BAD READ"), "the reader saw other bytes:\n{logs}");
    progress("rotation: the file changed in the running pod; the reader never saw an empty or partial file");
    let _ = env
        .cluster
        .cp()
        .kubectl(&["delete", "pod", "rotation", "-n", APP_NS, "--wait=false"]);
}

/// `ferrovault.dev/native-sidecar: "false"`: `vault-agent-init` then a `vault-agent` container.
pub fn classic_init_and_sidecar(env: &Env) {
    ensure_app_namespace(env);
    env.vault
        .bao(&["kv", "put", ROTATING_KV, "username=alice", "password=classic"])
        .unwrap_or_else(|e| panic!("{e}"));
    let pod = agent_pod(
        env,
        "classic",
        &[("ferrovault.dev/native-sidecar", "false")],
        "exec /bin/busybox sleep 3600",
        "Always",
    );
    create(env, APP_NS, &pod);
    let pods = wait_pods_ready(env, APP_NS, "scenario=classic", 1);
    let spec = &pods[0]["spec"];
    assert!(!is_native_sidecar(&pods[0]), "{spec}");
    assert_eq!(spec["initContainers"][0]["name"], "vault-agent-init", "{spec}");
    assert!(
        spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "vault-agent"),
        "{spec}"
    );
    assert_eq!(
        exec(env, APP_NS, "classic", "app", &["cat", SECRET_FILE]),
        connection("classic")
    );
    progress("classic: vault-agent-init rendered before the app, the vault-agent sidecar runs beside it");
    let _ = env
        .cluster
        .cp()
        .kubectl(&["delete", "pod", "classic", "-n", APP_NS, "--wait=false"]);
}

/// A Job whose pod gets the agent completes: the app reads the file and exits, the native sidecar
/// stops with it.
pub fn job_completes(env: &Env) {
    ensure_app_namespace(env);
    env.vault
        .bao(&["kv", "put", ROTATING_KV, "username=alice", "password=job"])
        .unwrap_or_else(|e| panic!("{e}"));
    let pod = agent_pod(
        env,
        "job",
        &[],
        &format!("/bin/busybox cat {SECRET_FILE}"),
        "Never",
    );
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "read-secret"},
        "spec": {"backoffLimit": 0, "template": {"metadata": pod["metadata"], "spec": pod["spec"]}},
    });
    create(env, APP_NS, &job);
    let cp = env.cluster.cp();
    let status = wait_until(env, "Job read-secret Complete", || {
        let job = cp
            .kubectl_json(&["get", "job", "read-secret", "-n", APP_NS])
            .ok()?;
        let conditions = job["status"]["conditions"].as_array()?.clone();
        conditions
            .iter()
            .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
            .map(|c| c["type"].as_str().unwrap_or_default().to_owned())
    });
    assert_eq!(status, "Complete", "{}", diagnostics(env));
    let logs = cp
        .kubectl(&["logs", "job/read-secret", "-n", APP_NS, "-c", "app"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(logs.trim_end(), connection("job"));
    let pods = cp
        .kubectl_json(&["get", "pods", "-n", APP_NS, "-l", "job-name=read-secret"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pods["items"][0]["status"]["phase"], "Succeeded");
    assert!(is_native_sidecar(&pods["items"][0]));
    progress("job: the pod Succeeded with a native sidecar; the app printed the secret");
}

/// One webhook replica is deleted (graceful, as in a rollout or a drain) while annotated pods are
/// being created: every create is admitted, by whichever replica serves.
pub fn webhook_replica_goes_away(env: &Env) {
    ensure_injector(env);
    let cp = env.cluster.cp();
    namespace(env, "churn");
    let pods = wait_pods_ready(env, super::INJECTOR_NS, "app.kubernetes.io/name=ferrovault", 2);
    let victim = pod_name(&pods[0]).to_owned();
    let mut failures = Vec::new();
    for i in 0..24 {
        if i == 4 {
            cp.kubectl(&["delete", "pod", &victim, "-n", super::INJECTOR_NS, "--wait=false"])
                .unwrap_or_else(|e| panic!("{e}"));
            progress(&format!(
                "churn: deleted webhook pod {victim} while creating pods"
            ));
        }
        let mut pod = agent_pod(
            env,
            &format!("churn-{i}"),
            &[],
            "exec /bin/busybox sleep 3600",
            "Always",
        );
        pod["spec"]["serviceAccountName"] = Value::from("default");
        let created = cp.kubectl_with_stdin(&["create", "-n", "churn", "-f", "-"], Some(&pod.to_string()));
        match created {
            Ok(_) => {
                let admitted = cp
                    .kubectl_json(&["get", "pod", &format!("churn-{i}"), "-n", "churn"])
                    .unwrap_or_else(|e| panic!("{e}"));
                if !is_native_sidecar(&admitted) {
                    failures.push(format!("churn-{i}: admitted without the agent"));
                }
            }
            Err(e) => failures.push(format!("churn-{i}: {e}")),
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(failures.is_empty(), "admissions failed:\n{}", failures.join("\n"));
    wait_pods_ready(env, super::INJECTOR_NS, "app.kubernetes.io/name=ferrovault", 2);
    progress("churn: 24 pods admitted with the agent while a webhook replica was replaced");
    let _ = cp.kubectl(&["delete", "namespace", "churn", "--wait=false"]);
}

/// The seed chart with `vault.enabled=false`: its pods run without any agent.
pub fn without_vault(env: &Env) {
    namespace(env, "no-vault");
    install_moscow_time(
        env,
        "no-vault",
        "no-vault",
        &["vault.enabled=false", "replicaCount=1"],
    );
    let pods = wait_pods_ready(env, "no-vault", "app.kubernetes.io/instance=no-vault", 1);
    let spec = &pods[0]["spec"];
    assert!(spec["initContainers"].is_null(), "{spec}");
    assert_eq!(spec["containers"].as_array().map(Vec::len), Some(1), "{spec}");
    let listing = exec(env, "no-vault", pod_name(&pods[0]), "moscow-time", &["ls", "/"]);
    assert!(!listing.lines().any(|l| l == "vault"), "{listing}");
    assert_ne!(CONNECTION, "");
    progress("no-vault: the seed chart's pod runs without an agent and without /vault");
}
