//! Issue #13 §1–2 on the real node: secrets as environment variables (`ferrovault.dev/env-<secret>`,
//! the kubelet's `fileKeyRef` behind the `EnvFiles` gate this node runs with) and the reload actions
//! (`ferrovault.dev/reload-{signal,http,exec}-<secret>`).

use serde_json::{Value, json};

use super::helpers::*;
use super::{APP_NS, Env, ensure_app_namespace, progress};

/// Its own KV v2 secret, policy, role and ServiceAccount, so nothing here depends on (or changes)
/// what the other scenarios use.
const SECRET: &str = "kv2/data/env-reload";
const SECRET_KV: &str = "kv2/env-reload";
const ROLE: &str = "env-reload";
const ENV_TEMPLATE: &str = "{{- with secret \"kv2/data/env-reload\" -}}\n\
                            DB_USER={{ .Data.data.username }}\n\
                            DB_PASSWORD={{ .Data.data.password }}\n\
                            {{- end }}\n";
const CONF_TEMPLATE: &str = "{{- with secret \"kv2/data/env-reload\" -}}\n\
                             password={{ .Data.data.password }}\n\
                             {{- end }}\n";

fn put(env: &Env, password: &str) {
    env.vault
        .bao(&[
            "kv",
            "put",
            SECRET_KV,
            "username=alice",
            &format!("password={password}"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The injector (with `envFiles.enabled`), [`APP_NS`], and the role `env-reload` for the
/// ServiceAccount `env-reload` reading [`SECRET`].
fn setup(env: &Env) {
    ensure_app_namespace(env);
    env.vault
        .policy_write(
            ROLE,
            &format!("path \"{SECRET}\" {{ capabilities = [\"read\"] }}\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    env.vault
        .bao(&[
            "write",
            &format!("auth/kubernetes/role/{ROLE}"),
            &format!("bound_service_account_names={ROLE}"),
            &format!("bound_service_account_namespaces={APP_NS}"),
            &format!("token_policies={ROLE}"),
            "ttl=1h",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let cp = env.cluster.cp();
    if cp
        .kubectl(&["get", "serviceaccount", ROLE, "-n", APP_NS, "-o", "name"])
        .is_err()
    {
        cp.kubectl(&["create", "serviceaccount", ROLE, "-n", APP_NS])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

fn pod(name: &str, annotations: &[(&str, &str)], spec: Value) -> Value {
    let mut all = serde_json::Map::new();
    for (k, v) in [
        ("vault.hashicorp.com/agent-inject", "true"),
        ("vault.hashicorp.com/role", ROLE),
    ]
    .iter()
    .chain(annotations)
    {
        all.insert((*k).to_owned(), Value::from(*v));
    }
    let mut spec = spec;
    spec["serviceAccountName"] = Value::from(ROLE);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"scenario": name}, "annotations": all},
        "spec": spec,
    })
}

fn restricted(uid: i64) -> Value {
    json!({"runAsNonRoot": true, "runAsUser": uid, "readOnlyRootFilesystem": true,
        "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
}

fn create(env: &Env, object: &Value) {
    env.cluster
        .cp()
        .kubectl_with_stdin(&["create", "-n", APP_NS, "-f", "-"], Some(&object.to_string()))
        .unwrap_or_else(|e| panic!("create: {e}"));
}

fn delete(env: &Env, name: &str) {
    let _ = env
        .cluster
        .cp()
        .kubectl(&["delete", "pod", name, "-n", APP_NS, "--wait=false"]);
}

/// The app container's environment holds the secret, read by the kubelet from the env file the
/// native sidecar rendered (no shell, no command rewrite); a listed key the file lacks keeps the
/// container from starting, with the kubelet's message naming it.
pub fn env_vars(env: &Env) {
    setup(env);
    put(env, "env-s3cr3t");
    let image = env.cluster.images().standin.clone();
    let app = |keys: &str, name: &str| {
        pod(
            name,
            &[
                ("vault.hashicorp.com/agent-inject-secret-app.env", SECRET),
                ("vault.hashicorp.com/agent-inject-template-app.env", ENV_TEMPLATE),
                ("ferrovault.dev/env-app.env", keys),
            ],
            json!({"containers": [{
                "name": "app",
                "image": image,
                // no shell: the image's busybox sleeps, the environment comes from the kubelet
                "command": ["/bin/busybox", "sleep", "3600"],
                "securityContext": restricted(100),
            }]}),
        )
    };
    create(env, &app("DB_USER,DB_PASSWORD", "env-vars"));
    let pods = wait_pods_ready(env, APP_NS, "scenario=env-vars", 1);
    let container = &pods[0]["spec"]["containers"][0];
    assert_eq!(
        container["env"][1]["valueFrom"]["fileKeyRef"],
        // the API server defaults `optional` to false: a missing key keeps the container from starting
        json!({"volumeName": "vault-secrets", "path": "app.env", "key": "DB_PASSWORD", "optional": false}),
        "{container}"
    );
    let environment = exec(env, APP_NS, "env-vars", "app", &["env"]);
    for line in ["DB_USER=alice", "DB_PASSWORD=env-s3cr3t"] {
        assert!(
            environment.lines().any(|l| l == line),
            "{line} not in the app's environment:\n{environment}"
        );
    }
    progress("env-vars: the app container's environment holds DB_USER and DB_PASSWORD from the env file");
    delete(env, "env-vars");

    create(env, &app("DB_USER,DB_PASSWORD,DB_TOKEN", "env-missing"));
    let cp = env.cluster.cp();
    let message = wait_until(env, "env-missing's app container refused by the kubelet", || {
        let pod = cp
            .kubectl_json(&["get", "pod", "env-missing", "-n", APP_NS])
            .ok()?;
        let statuses = pod["status"]["containerStatuses"].as_array()?.clone();
        let waiting = &statuses.iter().find(|s| s["name"] == "app")?["state"]["waiting"];
        (waiting["reason"] == "CreateContainerConfigError").then(|| waiting["message"].to_string())
    });
    assert!(
        message.contains("environment variable key")
            && message.contains("DB_TOKEN")
            && message.contains("not found"),
        "{message}"
    );
    let logs = cp
        .kubectl(&["logs", "env-missing", "-n", APP_NS, "-c", "vault-agent"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        logs.contains("does not set DB_TOKEN"),
        "the agent did not warn:\n{logs}"
    );
    assert!(
        !logs.contains("env-s3cr3t") && !message.contains("env-s3cr3t"),
        "a value was logged"
    );
    progress(&format!(
        "env-missing: the kubelet refused the app container: {message}"
    ));
    delete(env, "env-missing");
}

/// After the secret changes, the sidecar re-renders and runs each reload action once — a SIGHUP
/// to the app's process (found by name in the shared process namespace, same uid), a POST to the
/// app's endpoint on the pod's loopback, and a program run without a shell — but none after the
/// first render. A failing action (nothing listens on its port) is logged, and the sidecar keeps
/// running.
pub fn reload_actions(env: &Env) {
    setup(env);
    put(env, "first");
    let image = env.cluster.images().standin.clone();
    // The signalled process gets a name of its own: busybox runs as any name starting with
    // "busybox", so a copy in the scratch volume is `busybox-reloadme`.
    let app_script = "/bin/busybox cp /bin/busybox /scratch/busybox-reloadme && \
        /bin/busybox printf '%s\\n' \"trap '/bin/busybox echo hup >> /scratch/signals' HUP\" \
        'while :; do /bin/busybox sleep 1; done' > /scratch/loop.sh && \
        exec /scratch/busybox-reloadme sh /scratch/loop.sh";
    let web_script = "/bin/busybox mkdir -p /scratch/www/cgi-bin && \
        /bin/busybox printf '%s\\n' '#!/bin/busybox sh' \
        'echo \"$REQUEST_METHOD $REQUEST_URI\" >> /scratch/requests' \
        'printf \"Content-Type: text/plain\\r\\n\\r\\nok\\n\"' > /scratch/www/cgi-bin/reload && \
        /bin/busybox chmod 0755 /scratch/www/cgi-bin/reload && \
        exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /scratch/www";
    let object = pod(
        "reload",
        &[
            ("vault.hashicorp.com/agent-inject-secret-app.conf", SECRET),
            (
                "vault.hashicorp.com/agent-inject-template-app.conf",
                CONF_TEMPLATE,
            ),
            ("vault.hashicorp.com/template-static-secret-render-interval", "1s"),
            ("ferrovault.dev/reload-signal-app.conf", "SIGHUP busybox-reloadme"),
            (
                "ferrovault.dev/reload-http-app.conf",
                "POST http://127.0.0.1:8080/cgi-bin/reload?from=agent",
            ),
            // a program of the agent image (root-owned, not writable): runs with a minimal env
            (
                "ferrovault.dev/reload-exec-app.conf",
                r#"["/ferrovault-agent", "ready"]"#,
            ),
            // a second file whose reload fails: nothing listens on port 9
            ("vault.hashicorp.com/agent-inject-secret-other.conf", SECRET),
            (
                "vault.hashicorp.com/agent-inject-template-other.conf",
                CONF_TEMPLATE,
            ),
            ("ferrovault.dev/reload-http-other.conf", "GET http://127.0.0.1:9/"),
            // a program the app wrote onto a shared volume: refused, never run (issue #19 item 8)
            (
                "ferrovault.dev/reload-exec-other.conf",
                r#"["/scratch/busybox-reloadme", "touch", "/scratch/exec-ran"]"#,
            ),
            // the agent sees the scratch volume (where the app's program lies, refused)
            ("vault.hashicorp.com/agent-copy-volume-mounts", "app"),
        ],
        json!({
            "volumes": [{"name": "scratch", "emptyDir": {}}],
            "containers": [
                {
                    "name": "app", "image": image,
                    "command": ["/bin/busybox", "sh", "-c", app_script],
                    "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                    "securityContext": restricted(100),
                },
                {
                    "name": "web", "image": image,
                    "command": ["/bin/busybox", "sh", "-c", web_script],
                    "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                    "securityContext": restricted(100),
                },
            ],
        }),
    );
    create(env, &object);
    let pods = wait_pods_ready(env, APP_NS, "scenario=reload", 1);
    assert_eq!(
        pods[0]["spec"]["shareProcessNamespace"], true,
        "{}",
        pods[0]["spec"]
    );
    let cat = |file: &str| exec(env, APP_NS, "reload", "app", &["cat", file]);
    let ls = || exec(env, APP_NS, "reload", "app", &["ls", "/scratch"]);
    // the loop script is in place: the app runs under its own name
    wait_until(env, "the app's loop running", || {
        ls().contains("loop.sh").then_some(())
    });
    let before = ls();
    for file in ["signals", "requests"] {
        assert!(
            !before.lines().any(|l| l == file),
            "a reload action ran after the first render ({file}):\n{before}"
        );
    }
    assert_eq!(cat("/vault/secrets/app.conf").trim_end(), "password=first");
    progress("reload: the first render ran no reload action; changing the secret in OpenBao");
    put(env, "second");
    wait_until(env, "every reload action ran", || {
        let listing = ls();
        ["signals", "requests"]
            .iter()
            .all(|f| listing.lines().any(|l| l == *f))
            .then_some(())
    });
    assert_eq!(cat("/vault/secrets/app.conf").trim_end(), "password=second");
    assert_eq!(cat("/scratch/signals").trim_end(), "hup");
    assert_eq!(
        cat("/scratch/requests").trim_end(),
        "POST /cgi-bin/reload?from=agent"
    );
    let cp = env.cluster.cp();
    let logs = cp
        .kubectl(&["logs", "reload", "-n", APP_NS, "-c", "vault-agent"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        logs.contains("reload action failed") && logs.contains("127.0.0.1:9"),
        "the failing reload was not logged:\n{logs}"
    );
    assert!(
        logs.contains("reload action done: ran /ferrovault-agent"),
        "the exec reload did not run:\n{logs}"
    );
    assert!(
        logs.contains("/scratch/busybox-reloadme was not run"),
        "the app's program was not refused:\n{logs}"
    );
    assert!(
        !ls().lines().any(|l| l == "exec-ran"),
        "a program the app wrote ran in the agent container"
    );
    let status = cp
        .kubectl_json(&["get", "pod", "reload", "-n", APP_NS])
        .unwrap_or_else(|e| panic!("{e}"));
    let agent = status["status"]["initContainerStatuses"]
        .as_array()
        .and_then(|s| s.iter().find(|c| c["name"] == "vault-agent"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(agent["restartCount"], 0, "the sidecar restarted: {agent}");
    assert_eq!(agent["started"], true, "{agent}");
    progress(
        "reload: SIGHUP reached the app by name, the POST reached its endpoint, the image's program \
         ran and the app's was refused; a failing reload was logged and the sidecar kept running",
    );
    delete(env, "reload");
}
