//! `agent-configmap` (issue #12 §1): the agents run from a Vault Agent config file in a ConfigMap.

use super::*;

#[test]
fn a_configmap_pod_needs_no_role_and_gets_the_config_volume_as_vault_k8s_mounts_it() {
    // vault-k8s case 89: configmap without a role is valid; the volume comes after the secrets ones
    let pod = handler_pod(&[
        ("agent-inject", "true"),
        ("agent-configmap", "my-config"),
        ("tls-secret", "vault-tls"),
    ]);
    let p = patched(&pod);
    let volumes: Vec<String> = p
        .pod
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.clone())
        .collect();
    let at = |name: &str| volumes.iter().position(|v| v == name).unwrap();
    assert!(at("vault-secrets") < at("vault-config") && at("vault-config") < at("vault-tls-secrets"));
    let volume = p
        .pod
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "vault-config")
        .unwrap();
    assert_eq!(volume.config_map.as_ref().unwrap().name, "my-config");
    for name in ["vault-agent-init", "vault-agent"] {
        let m = mounts(container(&p.pod, name));
        let config = m.iter().position(|m| m.0 == "vault-config").unwrap();
        assert_eq!(
            m[config],
            ("vault-config".into(), "/vault/configs".into(), true),
            "{name}"
        );
        assert!(
            config < m.iter().position(|m| m.0 == "vault-tls-secrets").unwrap(),
            "{name}"
        );
        let cfg = env_config(container(&p.pod, name));
        assert_eq!(cfg.config_dir.as_deref(), Some("/vault/configs"));
        assert!(cfg.templates.is_empty());
        assert_eq!(
            cfg.vault.address, "https://vault:8200",
            "the annotations still win over the file"
        );
    }
    assert!(
        !mounts(container(&p.pod, "web"))
            .iter()
            .any(|m| m.0 == "vault-config"),
        "the config files are the agents' only"
    );
}

#[test]
fn secret_annotations_beside_a_configmap_only_shape_volumes_and_say_so() {
    let pod = handler_pod(&[
        ("agent-inject", "true"),
        ("agent-configmap", "my-config"),
        ("agent-inject-secret-db", "database/creds/db"),
    ]);
    let p = parsed(&pod);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("agent-configmap is set") && w.contains("1 secret annotation")),
        "{:?}",
        p.warnings
    );
    assert!(config::build(&p.spec).templates.is_empty());
}

#[test]
fn without_a_configmap_the_role_is_still_required() {
    let message = parse_err(&handler_pod(&[("agent-inject", "true")]));
    assert!(message.contains("no Vault role found"), "{message}");
    let message = parse_err(&handler_pod(&[("agent-inject", "true"), ("agent-configmap", "")]));
    assert!(
        message.contains("no Vault role found"),
        "an empty name is no ConfigMap: {message}"
    );
}

#[test]
fn a_pod_volume_named_like_the_config_volume_is_refused() {
    let mut pod = handler_pod(&[("agent-inject", "true"), ("agent-configmap", "c")]);
    let volumes = pod.spec.as_mut().unwrap().volumes.get_or_insert_with(Vec::new);
    volumes.push(k8s_openapi::api::core::v1::Volume {
        name: "vault-config".into(),
        ..Default::default()
    });
    assert!(parse_err(&pod).contains("\"vault-config\""));
}

/// Every annotation vault-k8s 1.7.6 still parses beside `agent-configmap` (`Init`: the backoffs and
/// JSON patches; `New`: the bools, ids, revoke grace, default template, template_config numbers,
/// `error-on-missing-key-*`, the token volume; `Patch`: the resources), with a value vault-k8s
/// refuses. Its configmap branch (`Validate`) only skips the auth type, role, auth path and address
/// checks.
const PARSED_BESIDE_A_CONFIGMAP: &[(&str, &str)] = &[
    ("auth-min-backoff", "x"),
    ("auth-max-backoff", "1 m"),
    ("agent-auto-auth-exit-on-err", "no"),
    ("agent-json-patch", "abc"),
    ("agent-init-json-patch", "abc"),
    ("agent-init-first", "tRuE"),
    ("agent-pre-populate", "tRuE"),
    ("agent-pre-populate-only", "fAlSe"),
    ("agent-revoke-on-shutdown", "tRuE"),
    ("agent-revoke-grace", "-1"),
    ("tls-skip-verify", "yes"),
    ("agent-run-as-user", "root"),
    ("agent-run-as-group", "wheel"),
    ("agent-run-as-same-user", "rooooooot"),
    ("agent-share-process-namespace", "tRuE"),
    ("agent-set-security-context", "secure"),
    ("agent-cache-enable", "on"),
    ("agent-cache-exit-on-err", "on"),
    ("agent-inject-default-template", "jsn"),
    ("agent-inject-token", "yes"),
    ("template-config-exit-on-retry-failure", "yes"),
    ("template-max-connections-per-host", "many"),
    ("template-lease-renewal-threshold", "one-third"),
    ("agent-enable-quit", "yes"),
    ("error-on-missing-key-db", "unknown"),
    ("agent-service-account-token-volume-name", "missing"),
    ("agent-limits-cpu", "500mi"),
    ("agent-limits-mem", "128mb"),
    ("agent-requests-cpu", "250mi"),
    ("agent-requests-mem", "64g"),
];

#[test]
fn a_configmap_skips_only_the_auth_checks_every_value_vault_k8s_parses_is_still_checked() {
    // Issue #21 §6: `agent-auto-auth-exit-on-err: "no"` was admitted beside a ConfigMap (vault-k8s
    // denies it in New, which has no configmap branch).
    for (key, value) in PARSED_BESIDE_A_CONFIGMAP {
        let pod = handler_pod(&[
            ("agent-inject", "true"),
            ("agent-configmap", "my-config"),
            ("agent-inject-secret-db", "database/creds/db"),
            (key, value),
        ]);
        let message = deny_message(decide_on(&pod));
        assert!(
            message.contains(&format!("vault.hashicorp.com/{key}"))
                || message.contains(&format!("{value:?}")),
            "{key}={value:?}: {message}"
        );
    }
    // the agent-inject annotation itself is judged before anything else, as in vault-k8s
    let pod = handler_pod(&[("agent-inject", "tRuE"), ("agent-configmap", "my-config")]);
    deny_message(decide_on(&pod));
}

#[test]
fn beside_a_configmap_the_checked_values_still_reach_the_agent() {
    let pod = handler_pod(&[
        ("agent-inject", "true"),
        ("agent-configmap", "my-config"),
        ("role", "app"),
        ("auth-min-backoff", "2s"),
        ("auth-max-backoff", "1m"),
        ("agent-auto-auth-exit-on-err", "true"),
    ]);
    let method = spec_of(&pod).auth_method;
    assert_eq!(method.min_backoff.as_deref(), Some("2s"));
    assert_eq!(method.max_backoff.as_deref(), Some("1m"));
    assert!(method.exit_on_err);
    // without a role (the file has the method) the pod is still admitted
    let pod = handler_pod(&[
        ("agent-inject", "true"),
        ("agent-configmap", "my-config"),
        ("agent-auto-auth-exit-on-err", "false"),
    ]);
    assert_eq!(spec_of(&pod).auth_method, Default::default());
}
