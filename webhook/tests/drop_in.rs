//! Drop-in decisions for vault-k8s users (issue #10), through the public parsing API:
//! - `agent-disable-idle-connections` / `agent-disable-keep-alives` and their injector defaults
//!   (`AGENT_INJECT_DISABLE_IDLE_CONNECTIONS` / `_KEEP_ALIVES`), as vault-k8s reads them: the
//!   annotation wins over the default, and a component Vault Agent does not know is refused at
//!   admission, naming the annotation, instead of an agent that will not start;
//! - `auth-type: cert`: admitted with a client certificate over https, refused without one.

use ferrovault_webhook::inject::{InjectorDefaults, config, spec};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

fn pod(annotations: &[(&str, &str)]) -> Pod {
    let mut map = serde_json::Map::new();
    map.insert("vault.hashicorp.com/agent-inject".into(), json!("true"));
    map.insert("vault.hashicorp.com/role".into(), json!("app"));
    for (k, v) in annotations {
        map.insert(format!("vault.hashicorp.com/{k}"), json!(v));
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "annotations": map},
        "spec": {
            "serviceAccountName": "app",
            "containers": [{"name": "app", "image": "app",
                "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
            "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]
        }
    }))
    .unwrap()
}

fn defaults(idle: &str, keep_alives: &str) -> InjectorDefaults {
    InjectorDefaults {
        vault_address: "https://vault:8200".into(),
        disable_idle_connections: idle.into(),
        disable_keep_alives: keep_alives.into(),
        ..Default::default()
    }
}

fn lists(p: &Pod, d: &InjectorDefaults) -> (Vec<String>, Vec<String>) {
    let parsed = spec::parse("apps", p, d).unwrap_or_else(|e| panic!("{e}"));
    let vault = config::build(&parsed.spec).vault;
    (vault.disable_idle_connections, vault.disable_keep_alives)
}

#[test]
fn annotations_reach_the_agent_config_and_win_over_the_injector_default() {
    let none = (Vec::<String>::new(), Vec::<String>::new());
    assert_eq!(lists(&pod(&[]), &defaults("", "")), none);
    // the injector's defaults apply to pods without the annotation
    assert_eq!(
        lists(&pod(&[]), &defaults("auto-auth,templating", "caching")),
        (
            vec!["auto-auth".into(), "templating".into()],
            vec!["caching".into()]
        )
    );
    // the annotation replaces the default (an empty one clears it, as in vault-k8s)
    let p = pod(&[
        ("agent-disable-idle-connections", "templating, proxying"),
        ("agent-disable-keep-alives", ""),
    ]);
    assert_eq!(
        lists(&p, &defaults("auto-auth", "auto-auth")),
        (vec!["templating".into(), "proxying".into()], vec![])
    );
    // no warning any more: the annotations are implemented
    let parsed = spec::parse("apps", &p, &defaults("", "")).unwrap();
    assert!(
        parsed.warnings.iter().all(|w| !w.contains("disable")),
        "{:?}",
        parsed.warnings
    );
}

#[test]
fn an_unknown_component_is_refused_naming_the_annotation() {
    let err = spec::parse(
        "apps",
        &pod(&[("agent-disable-keep-alives", "auto-auth,sinks")]),
        &defaults("", ""),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("vault.hashicorp.com/agent-disable-keep-alives")
            && err.contains("\"sinks\"")
            && err.contains("auto-auth, caching, templating, proxying"),
        "{err}"
    );
}

#[test]
fn cert_auth_is_admitted_with_a_client_certificate_and_refused_without() {
    let https = InjectorDefaults {
        vault_address: "https://vault:8200".into(),
        ..Default::default()
    };
    // the vault stanza's certificate (client-cert / client-key, e.g. from tls-secret)
    let p = pod(&[
        ("auth-type", "cert"),
        ("auth-path", "auth/cert"),
        ("auth-config-name", "web"),
        ("client-cert", "/vault/tls/tls.crt"),
        ("client-key", "/vault/tls/tls.key"),
    ]);
    let cfg = config::build(&spec::parse("apps", &p, &https).unwrap().spec);
    assert_eq!(cfg.auto_auth.method.kind, "cert");
    assert_eq!(cfg.auto_auth.method.mount_path, "auth/cert");
    assert_eq!(
        cfg.auto_auth.method.config.get("name").map(String::as_str),
        Some("web")
    );
    assert_eq!(cfg.vault.client_cert.as_deref(), Some("/vault/tls/tls.crt"));
    // or the method's own
    let p = pod(&[
        ("auth-type", "cert"),
        ("auth-config-client-cert", "/certs/c.pem"),
        ("auth-config-client-key", "/certs/k.pem"),
    ]);
    assert!(spec::parse("apps", &p, &https).is_ok());

    // none: the agent could never log in
    let err = spec::parse("apps", &pod(&[("auth-type", "cert")]), &https)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("vault.hashicorp.com/auth-type is cert")
            && err.contains("vault.hashicorp.com/client-cert")
            && err.contains("vault.hashicorp.com/auth-config-client-cert"),
        "{err}"
    );
    // plain HTTP: no TLS, no client certificate
    let p = pod(&[
        ("auth-type", "cert"),
        ("service", "http://vault:8200"),
        ("client-cert", "/c"),
        ("client-key", "/k"),
    ]);
    let err = spec::parse("apps", &p, &https).unwrap_err().to_string();
    assert!(
        err.contains("vault.hashicorp.com/service") && err.contains("https://"),
        "{err}"
    );
    // the clouds' methods stay refused, listing what runs
    let err = spec::parse("apps", &pod(&[("auth-type", "gcp")]), &https)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kubernetes, jwt, approle, token_file, cert"),
        "{err}"
    );
}
