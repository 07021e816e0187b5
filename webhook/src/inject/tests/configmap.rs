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
