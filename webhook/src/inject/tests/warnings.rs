//! `openbao.org/` aliases, ferrovault's own annotations, warnings and refusals.

use super::*;

// === aliases, extensions, warnings ===

#[test]
fn openbao_annotations_are_aliases() {
    let pod = handler_pod(&[
        ("openbao.org/agent-inject", "true"),
        ("openbao.org/role", "bao-role"),
        ("openbao.org/agent-inject-secret-db", "secret/db"),
    ]);
    let p = patched(&pod);
    assert_eq!(p.audit["ferrovault.dev/role"], "bao-role");
    assert_eq!(p.audit["ferrovault.dev/secret-paths"], "secret/db");
    let message = deny_message(decide_on(&handler_pod(&[("openbao.org/agent-inject", "yes")])));
    assert!(message.contains("openbao.org/agent-inject"), "{message}");
}

#[test]
fn vault_key_wins_over_openbao_alias() {
    let spec = spec_of(&handler_pod(&[
        ("agent-inject", "true"),
        ("openbao.org/role", "bao-role"),
        ("role", "vault-role"),
    ]));
    assert_eq!(spec.auth_method.config["role"], "vault-role");
}

#[test]
fn commands_are_split_like_a_shell_and_those_needing_one_are_refused() {
    // Issue #10 §2: `sh -c 'kill -HUP $(pidof app)'` was split on whitespace and broke confusingly.
    let cfg = config_of(&handler_pod(&basic(&[
        ("agent-inject-secret-a", "p"),
        ("agent-inject-command-a", "/bin/notify 'a b'"),
    ])));
    assert_eq!(cfg.templates[0].command.as_deref(), Some("/bin/notify 'a b'"));
    let p = parsed(&handler_pod(&basic(&[
        ("agent-inject-secret-a", "p"),
        ("agent-inject-command-a", "/bin/notify 'a b'"),
    ])));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("holds only /ferrovault-agent")),
        "{:?}",
        p.warnings
    );
    for command in ["kill -HUP $(pidof app)", "a | b", "echo 'open"] {
        let message = parse_err(&handler_pod(&basic(&[
            ("agent-inject-secret-a", "p"),
            ("agent-inject-command-a", command),
        ])));
        assert!(message.contains("agent-inject-command-a"), "{message}");
        assert!(message.contains("without a shell"), "{message}");
        assert!(!message.contains(command), "the command was echoed: {message}");
    }
}

#[test]
fn pods_that_could_not_get_their_secrets_are_refused() {
    // Issue #10 §2: admitted, these pods started without their secrets (or the agent exited 64).
    for kind in ["aws", "gcp", "azure", "token", "nope"] {
        let message = parse_err(&handler_pod(&basic(&[("auth-type", kind)])));
        assert!(message.contains("vault.hashicorp.com/auth-type"), "{message}");
        assert!(
            message.contains("kubernetes, jwt, approle, token_file"),
            "{message}"
        );
    }
    for kind in ["jwt", "approle", "token_file"] {
        let spec = spec_of(&handler_pod(&basic(&[("auth-type", kind)])));
        assert_eq!(spec.auth_method.kind, kind);
    }
}

#[test]
fn a_vault_or_openbao_agent_image_is_warned_about_or_refused_when_strict() {
    // Issue #10 §2: the containers run /ferrovault-agent, which those images lack.
    for image in [
        "hashicorp/vault:1.19.0",
        "openbao/openbao",
        "quay.io/openbao/openbao@sha256:ab",
        "vault",
    ] {
        let p = patched(&handler_pod(&basic(&[("agent-image", image)])));
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("not a ferrovault agent") && w.contains(image)),
            "{image}: {:?}",
            p.warnings
        );
        let message = parse_err(&handler_pod(&basic(&[
            ("agent-image", image),
            ("ferrovault.dev/strict", "true"),
        ])));
        assert!(
            message.contains("ghcr.io/ferrovault/ferrovault-agent"),
            "{message}"
        );
    }
    let p = patched(&handler_pod(&basic(&[(
        "agent-image",
        "registry.local/ferrovault-agent:0.1.0",
    )])));
    assert!(!p.warnings.iter().any(|w| w.contains("not a ferrovault agent")));
}

#[test]
fn unknown_and_orphan_annotations_warn() {
    let p = patched(&handler_pod(&basic(&[
        ("agent-inject-secrt-db", "secret/db"),
        ("agent-inject-secret-db", "secret/db"),
        ("agent-inject-file-db", "db.env"),
        ("agent-inject-perms-dbb", "0600"),
        ("ferrovault.dev/strikt", "true"),
    ])));
    let expected = [
        "annotation vault.hashicorp.com/agent-inject-perms-dbb refers to secret \"dbb\", which no \
         agent-inject-secret-/agent-inject-template- annotation defines; it was ignored",
        "annotation vault.hashicorp.com/agent-inject-secrt-db is not a known vault-k8s annotation and was \
         ignored (typo?)",
        "annotation ferrovault.dev/strikt is not a known ferrovault annotation and was ignored (typo?)",
    ];
    assert_eq!(p.warnings, expected);
}

#[test]
fn tls_skip_verify_warns() {
    let p = patched(&handler_pod(&basic(&[("tls-skip-verify", "true")])));
    assert!(p.warnings.iter().any(|w| w.contains("tls-skip-verify")));
    assert!(env_config(container(&p.pod, "vault-agent")).vault.tls_skip_verify);
}

#[test]
fn secrets_read_only_extension_mounts_read_only() {
    let p = patched(&handler_pod(&basic(&[(
        "ferrovault.dev/secrets-read-only",
        "true",
    )])));
    assert!(mounts(container(&p.pod, "web")).contains(&(
        "vault-secrets".into(),
        "/vault/secrets".into(),
        true
    )));
    assert!(mounts(container(&p.pod, "vault-agent")).contains(&(
        "vault-secrets".into(),
        "/vault/secrets".into(),
        false
    )));
    let p = patched(&handler_pod(&basic(&[])));
    assert!(mounts(container(&p.pod, "web")).contains(&(
        "vault-secrets".into(),
        "/vault/secrets".into(),
        false
    )));
}

#[test]
fn one_config_serves_both_agents() {
    let p = patched(&handler_pod(&basic(&[("agent-inject-secret-db", "secret/db")])));
    let init = env_config(container(&p.pod, "vault-agent-init"));
    let side = env_config(container(&p.pod, "vault-agent"));
    assert_eq!(init, side);
    assert_eq!(side.secrets_dirs, ["/vault/secrets"]);
    assert_eq!(side.templates[0].destination, "/vault/secrets/db");
}

#[test]
fn audit_lists_requested_paths_not_values() {
    let p = patched(&handler_pod(&basic(&[
        ("agent-inject-secret-b", "secret/b"),
        ("agent-inject-secret-a", "secret/a"),
        (
            "agent-inject-template-c",
            "{{ with secret \"secret/c\" }}{{ end }}",
        ),
    ])));
    assert_eq!(p.audit["ferrovault.dev/secret-paths"], "secret/a,secret/b");
    assert_eq!(p.audit["ferrovault.dev/secrets"], "a,b,c");
    assert_eq!(p.audit["ferrovault.dev/injection"], "init_and_sidecar");
    assert_eq!(p.audit["ferrovault.dev/auth-path"], "auth/kubernetes");
    assert_eq!(p.audit["ferrovault.dev/role"], "demo");
}

#[test]
fn metric_labels() {
    // case 98
    assert_eq!(InjectionType::InitAndSidecar.label(), "init_and_sidecar");
    assert_eq!(InjectionType::InitOnly.label(), "init_only");
    assert_eq!(InjectionType::SidecarOnly.label(), "sidecar_only");
    assert_eq!(InjectionType::NativeSidecar.label(), "native_sidecar");
}

#[test]
fn existing_agent_container_is_denied() {
    // the seed chart adds its own `vault-agent` container next to the annotations
    let mut pod = handler_pod(&basic(&[]));
    pod.spec.as_mut().unwrap().containers.push(Container {
        name: "vault-agent".into(),
        ..Default::default()
    });
    let message = parse_err(&pod);
    assert!(
        message.contains("already has a container named \"vault-agent\""),
        "{message}"
    );
}

#[test]
fn existing_mount_at_secrets_path_is_denied() {
    let mut pod = handler_pod(&basic(&[]));
    pod.spec.as_mut().unwrap().containers[0]
        .volume_mounts
        .as_mut()
        .unwrap()
        .push(k8s_openapi::api::core::v1::VolumeMount {
            name: "vault-secret".into(),
            mount_path: "/vault/secrets".into(),
            ..Default::default()
        });
    let message = parse_err(&pod);
    assert!(
        message.contains("container \"web\" already mounts volume \"vault-secret\""),
        "{message}"
    );
}
