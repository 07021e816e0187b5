//! The missed-injection detector (issue #13 §3) on the real node, through the chart: a pod created
//! while the injector is down with `failurePolicy: Ignore` runs without its agent; once the injector
//! is back, its leader puts a `VaultInjectionMissed` Event on the pod, and `ferrovault-webhook audit`
//! lists it and exits 1 — then 0 once the pod is gone.

use std::process::Command;

use serde_json::{Value, json};

use super::helpers::*;
use super::{APP_NS, Env, INJECTOR, INJECTOR_NS, ensure_app_namespace, progress};

fn scale(env: &Env, replicas: &str) {
    env.cluster
        .cp()
        .kubectl(&[
            "scale",
            "deployment",
            INJECTOR,
            "-n",
            INJECTOR_NS,
            "--replicas",
            replicas,
        ])
        .unwrap_or_else(|e| panic!("scale: {e}"));
}

fn audit(env: &Env) -> (Option<i32>, String) {
    let cp = env.cluster.cp();
    let out = Command::new(ferrovault_tests::tools::our_bin("ferrovault-webhook"))
        // the chart names its MutatingWebhookConfiguration <fullname>-<namespace>
        .args(["audit", "--namespace", APP_NS, "--webhook-config"])
        .arg(format!("{INJECTOR}-{INJECTOR_NS}"))
        .envs(cp.kubectl_env())
        .env("KUBECONFIG", cp.kubeconfig_path())
        .output()
        .unwrap_or_else(|e| panic!("audit: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub fn missed_injection(env: &Env) {
    ensure_app_namespace(env);
    let cp = env.cluster.cp();
    progress("missed: helm upgrade with missedInjections.enabled=true, webhook.failurePolicy=Ignore");
    upgrade_injector(
        env,
        &[
            "missedInjections.enabled=true",
            "missedInjections.resync=30s",
            "webhook.failurePolicy=Ignore",
        ],
    );
    cp.kubectl(&[
        "rollout",
        "status",
        "deployment",
        INJECTOR,
        "-n",
        INJECTOR_NS,
        "--timeout=180s",
    ])
    .unwrap_or_else(|e| panic!("rollout: {e}"));
    // the injector down: admission is skipped (Ignore) and the pod starts without its agent
    scale(env, "0");
    wait_until(env, "no injector pod left", || {
        let pods = cp
            .kubectl_json(&[
                "get",
                "pods",
                "-n",
                INJECTOR_NS,
                "-l",
                "app.kubernetes.io/name=ferrovault",
                "-o",
                "json",
            ])
            .ok()?;
        pods["items"].as_array().is_some_and(Vec::is_empty).then_some(())
    });
    let pod = sleeping_pod(
        env,
        "missed",
        json!({
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "internal-app",
            "vault.hashicorp.com/agent-inject-secret-database-config.txt": "secret/my-secret",
        }),
    );
    cp.kubectl_with_stdin(&["create", "-n", APP_NS, "-f", "-"], Some(&pod.to_string()))
        .unwrap_or_else(|e| panic!("create while the injector is down: {e}"));
    let pods = wait_pods_ready(env, APP_NS, "scenario=missed", 1);
    let containers: Vec<&Value> = pods[0]["spec"]["containers"].as_array().unwrap().iter().collect();
    assert_eq!(containers.len(), 1, "admitted without an agent: {containers:?}");
    let (code, table) = audit(env);
    assert_eq!(code, Some(1), "audit with a missed pod: {table}");
    assert!(table.contains("missed"), "{table}");

    // the injector back: its leader reports the pod once, with an Event
    scale(env, "2");
    let event = wait_until(env, "a VaultInjectionMissed Event on the pod", || {
        let events = cp
            .kubectl_json(&[
                "get",
                "events",
                "-n",
                APP_NS,
                "--field-selector",
                "involvedObject.name=missed,reason=VaultInjectionMissed",
                "-o",
                "json",
            ])
            .ok()?;
        events["items"].as_array()?.first().cloned()
    });
    assert_eq!(event["type"], "Warning", "{event}");
    progress("missed: the leader put a VaultInjectionMissed Event on the pod; audit lists it");

    cp.kubectl(&[
        "delete",
        "pod",
        "missed",
        "-n",
        APP_NS,
        "--wait=true",
        "--timeout=120s",
    ])
    .unwrap_or_else(|e| panic!("delete: {e}"));
    let (code, table) = audit(env);
    assert_eq!(code, Some(0), "audit with no missed pod: {table}");
    // back to the defaults for any scenario after this one
    upgrade_injector(
        env,
        &["missedInjections.enabled=false", "webhook.failurePolicy=Fail"],
    );
}
