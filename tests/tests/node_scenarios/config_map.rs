//! `agent-configmap` (issue #12 §1) in a running pod: the agent renders from Vault Agent's own HCL
//! in a ConfigMap, with no role or secret annotations on the pod.

use serde_json::json;

use super::helpers::*;
use super::{APP_NS, CONNECTION, Env, SECRET_FILE, ensure_app_namespace, progress};

/// The ConfigMap as a vault-k8s user writes it (HCL 1 quoted keys included). The Vault address
/// comes from the injector, as `VAULT_ADDR` does in vault-k8s.
const CONFIG: &str = r#""auto_auth" = {
  method "kubernetes" {
    config = {
      role = "internal-app"
    }
  }
  sink "file" {
    config = {
      path = "/home/vault/.vault-token"
    }
  }
}

template {
  destination = "/vault/secrets/database-config.txt"
  perms       = "0644"
  contents    = <<EOT
{{- with secret "secret/my-secret" -}}
postgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard
{{- end }}
EOT
}
"#;

pub fn config_map(env: &Env) {
    ensure_app_namespace(env);
    let cp = env.cluster.cp();
    let configmap = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-agent-config"},
        "data": {
            "config.hcl": CONFIG,
            "config-init.hcl": format!("exit_after_auth = true\n{CONFIG}"),
        },
    });
    let pod = sleeping_pod(
        env,
        "configmap",
        json!({
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/agent-configmap": "app-agent-config",
        }),
    );
    for object in [&configmap, &pod] {
        cp.kubectl_with_stdin(&["create", "-n", APP_NS, "-f", "-"], Some(&object.to_string()))
            .unwrap_or_else(|e| panic!("create: {e}"));
    }
    let pods = wait_pods_ready(env, APP_NS, "scenario=configmap", 1);
    let volumes = pods[0]["spec"]["volumes"].as_array().cloned().unwrap_or_default();
    assert!(
        volumes
            .iter()
            .any(|v| v["name"] == "vault-config" && v["configMap"]["name"] == "app-agent-config"),
        "{volumes:?}"
    );
    let text = exec(env, APP_NS, "configmap", "app", &["cat", SECRET_FILE]);
    assert_eq!(text.trim_end(), CONNECTION);
    progress("configmap: the agent rendered from the ConfigMap's config.hcl, no role annotation needed");
    let _ = cp.kubectl(&["delete", "pod", "configmap", "-n", APP_NS, "--wait=false"]);
    let _ = cp.kubectl(&["delete", "configmap", "app-agent-config", "-n", APP_NS]);
}
