//! Cluster helpers of the node scenarios: helm, namespaces, waiting for Ready pods, exec.

use std::path::PathBuf;
use std::process::Command;

use ferrovault_tests::tools::helm_bin;
use ferrovault_tests::wait_for;
use serde_json::Value;

use super::{Env, INJECTOR, INJECTOR_NS, POLL, progress};

pub fn chart(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../charts")
        .join(name)
        .display()
        .to_string()
}

/// `helm <args>` against the cluster; panics with helm's stderr.
pub fn helm(env: &Env, args: &[&str]) -> String {
    let out = Command::new(helm_bin())
        .args(args)
        .env_clear()
        .envs(env.cluster.cp().kubectl_env())
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm ({}): {e}", helm_bin().display()));
    assert!(
        out.status.success(),
        "helm {}: {}",
        args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm upgrade` of the injector, keeping its values but `sets`.
pub fn upgrade_injector(env: &Env, sets: &[&str]) {
    let chart = chart("ferrovault");
    let mut args = vec![
        "upgrade",
        INJECTOR,
        &chart,
        "--namespace",
        INJECTOR_NS,
        "--reuse-values",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    helm(env, &args);
    // helm does not wait: a scenario must not take a pod of the old ReplicaSet for the new one
    env.cluster
        .cp()
        .kubectl(&[
            "rollout",
            "status",
            &format!("deployment/{INJECTOR}"),
            "-n",
            INJECTOR_NS,
            "--timeout=240s",
        ])
        .unwrap_or_else(|e| {
            panic!(
                "the injector's rollout after helm upgrade: {e}\n{}",
                diagnostics(env)
            )
        });
}

/// Creates namespace `name` (if needed) and waits for its `default` ServiceAccount.
pub fn namespace(env: &Env, name: &str) {
    let cp = env.cluster.cp();
    cp.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    wait_until(env, &format!("namespace {name}'s default ServiceAccount"), || {
        cp.kubectl(&["get", "serviceaccount", "default", "-n", name, "-o", "name"])
            .ok()
    });
}

/// Polls `check` for [`POLL`]; on timeout panics naming `what`, with the node's recent events.
pub fn wait_until<T>(env: &Env, what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait_for(POLL, check).unwrap_or_else(|| panic!("{what}: not reached in {POLL:?}\n{}", diagnostics(env)))
}

/// Waits until `count` pods match `selector` in `namespace`, all Running and Ready; returns them.
pub fn wait_pods_ready(env: &Env, namespace: &str, selector: &str, count: usize) -> Vec<Value> {
    let cp = env.cluster.cp();
    let mut last = String::new();
    let found = wait_for(POLL, || {
        let list = cp
            .kubectl_json(&["get", "pods", "-n", namespace, "-l", selector])
            .ok()?;
        let items = list["items"].as_array()?.clone();
        let summary: Vec<String> = items.iter().map(pod_summary).collect();
        let line = summary.join(", ");
        if line != last {
            progress(&format!("{namespace}: {line}"));
            last = line;
        }
        (items.len() == count && items.iter().all(is_ready)).then_some(items)
    });
    found.unwrap_or_else(|| {
        panic!(
            "{count} Ready pods {selector} in {namespace}: not reached in {POLL:?} (last: {last})\n{}",
            diagnostics(env)
        )
    })
}

pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn pod_summary(pod: &Value) -> String {
    let ready = if is_ready(pod) { "Ready" } else { "not ready" };
    format!(
        "{} {} {ready}",
        pod_name(pod),
        pod["status"]["phase"].as_str().unwrap_or("?")
    )
}

pub fn pod_name(pod: &Value) -> &str {
    pod["metadata"]["name"].as_str().unwrap_or("?")
}

/// `kubectl exec <pod> -c <container> -- /bin/busybox <args>` (through the API server and the
/// kubelet); stdout.
pub fn exec(env: &Env, namespace: &str, pod: &str, container: &str, args: &[&str]) -> String {
    let mut full = vec![
        "exec",
        pod,
        "-n",
        namespace,
        "-c",
        container,
        "--",
        "/bin/busybox",
    ];
    full.extend_from_slice(args);
    env.cluster
        .cp()
        .kubectl(&full)
        .unwrap_or_else(|e| panic!("kubectl exec {pod}: {e}"))
}

/// Recent events of every namespace, pods not Ready with their container states, and the end of
/// the kubelet's log: what a failed wait prints.
pub fn diagnostics(env: &Env) -> String {
    let cp = env.cluster.cp();
    let events = cp
        .kubectl(&["get", "events", "-A", "--sort-by=.lastTimestamp"])
        .unwrap_or_default();
    let events: Vec<&str> = events.lines().collect();
    let pods = cp
        .kubectl(&["get", "pods", "-A", "-o", "wide"])
        .unwrap_or_default();
    format!(
        "pods:\n{pods}\nevents (last 30):\n{}\nkubelet (last 30 lines):\n{}",
        events[events.len().saturating_sub(30)..].join("\n"),
        env.cluster.log_tail("kubelet", 30)
    )
}

/// A pod of the stand-in image running `sleep` as `internal-app` (uid 100, read-only root, no
/// capabilities), labelled `scenario=<name>`, with `annotations`.
pub fn sleeping_pod(env: &Env, name: &str, annotations: Value) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"scenario": name}, "annotations": annotations},
        "spec": {
            "serviceAccountName": "internal-app",
            "containers": [{
                "name": "app",
                "image": env.cluster.images().standin,
                "command": ["/bin/busybox", "sleep", "3600"],
                "securityContext": {"runAsNonRoot": true, "runAsUser": 100, "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
            }],
        },
    })
}
