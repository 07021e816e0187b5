//! The agent config built from the annotations (§4.8).

use super::*;

// === 4.8 config ===

#[test]
fn init_config_fields_come_from_annotations() {
    // case 61
    let cfg = config_of(&test_pod(&basic(&[
        ("tls-server-name", "vault.example"),
        ("ca-cert", "/vault/tls/ca.crt"),
        ("ca-key", "/vault/tls/ca"),
        ("client-cert", "/vault/tls/client.crt"),
        ("client-key", "/vault/tls/client.key"),
        ("auth-path", "my-path"),
        ("agent-inject-template-foo", "{{ .X }}"),
        ("agent-inject-secret-different-path", "p"),
        ("secret-volume-path-different-path", "/etc/container_environment"),
        ("agent-inject-template-file-with-file", "/etc/file-template"),
        ("agent-inject-template-just-template", "x"),
        ("secret-volume-path-just-template", "/custom/path"),
        ("agent-inject-file-just-template", ".env"),
        ("agent-inject-secret-baz", "p"),
        ("agent-template-left-delim-baz", "[["),
        ("agent-template-right-delim-baz", "]]"),
    ])));
    assert!(!cfg.vault.tls_skip_verify);
    assert_eq!(cfg.vault.tls_server_name.as_deref(), Some("vault.example"));
    assert_eq!(cfg.vault.ca_cert.as_deref(), Some("/vault/tls/ca.crt"));
    assert_eq!(cfg.vault.ca_path.as_deref(), Some("/vault/tls/ca"));
    assert_eq!(cfg.vault.client_cert.as_deref(), Some("/vault/tls/client.crt"));
    assert_eq!(cfg.vault.client_key.as_deref(), Some("/vault/tls/client.key"));
    assert_eq!(cfg.auto_auth.method.kind, "kubernetes");
    assert_eq!(cfg.auto_auth.method.mount_path, "my-path");
    let dest: BTreeMap<&str, &str> = cfg
        .templates
        .iter()
        .map(|t| (t.name.as_str(), t.destination.as_str()))
        .collect();
    assert_eq!(dest["foo"], "/vault/secrets/foo");
    assert_eq!(
        dest["different-path"],
        "/etc/container_environment/different-path"
    );
    assert_eq!(dest["just-template"], "/custom/path/.env");
    assert_eq!(dest["with-file"], "/vault/secrets/with-file");
    let with_file = cfg.templates.iter().find(|t| t.name == "with-file").unwrap();
    assert_eq!(with_file.source.as_deref(), Some("/etc/file-template"));
    assert_eq!(with_file.contents, None);
    let baz = cfg.templates.iter().find(|t| t.name == "baz").unwrap();
    assert_eq!(
        (baz.left_delimiter.as_str(), baz.right_delimiter.as_str()),
        ("[[", "]]")
    );
    assert_eq!(
        cfg.secrets_dirs,
        ["/vault/secrets", "/custom/path", "/etc/container_environment"]
    );
}

#[test]
fn destinations_join_mount_path_and_file() {
    // case 62
    let dest = |a: &[(&str, &str)]| {
        let mut all = vec![("agent-inject-secret-foo", "p")];
        all.extend_from_slice(a);
        config_of(&test_pod(&basic(&all))).templates[0]
            .destination
            .clone()
    };
    assert_eq!(dest(&[]), "/vault/secrets/foo");
    assert_eq!(
        dest(&[("agent-inject-file-foo", "nested/foofile")]),
        "/vault/secrets/nested/foofile"
    );
    assert_eq!(
        dest(&[("agent-inject-file-foo", "/special/volume/foofile")]),
        "/vault/secrets/special/volume/foofile"
    );
    assert_eq!(
        dest(&[("secret-volume-path", "/new/mount/path")]),
        "/new/mount/path/foo"
    );
    assert_eq!(
        dest(&[
            ("secret-volume-path", "/new/mount/path"),
            ("agent-inject-file-foo", "/special/foofile")
        ]),
        "/new/mount/path/special/foofile"
    );
    assert_eq!(
        dest(&[
            ("secret-volume-path-foo", "/new/mount/path/"),
            ("agent-inject-file-foo", "nested/./foofile")
        ]),
        "/new/mount/path/nested/foofile"
    );
}

#[test]
fn destination_escaping_the_volume_is_denied() {
    // §8: vault-k8s allows `..`
    for file in ["../etc/passwd", "a/../../b", "/../x", "..", "/", "."] {
        let message = parse_err(&test_pod(&basic(&[
            ("agent-inject-secret-foo", "p"),
            ("agent-inject-file-foo", file),
        ])));
        assert!(
            message.contains("vault.hashicorp.com/agent-inject-file-foo"),
            "{file}: {message}"
        );
        assert!(
            message.contains("must stay inside its secrets volume"),
            "{file}: {message}"
        );
    }
}

#[test]
fn secret_volume_path_must_be_absolute_without_dotdot() {
    for (key, value) in [
        ("secret-volume-path", "relative/path"),
        ("secret-volume-path", "/vault/../etc"),
        ("secret-volume-path-foo", "/"),
    ] {
        let message = parse_err(&test_pod(&basic(&[
            ("agent-inject-secret-foo", "p"),
            (key, value),
        ])));
        assert!(
            message.contains(&format!("vault.hashicorp.com/{key}")),
            "{message}"
        );
    }
}

#[test]
fn duplicate_destinations_are_denied() {
    let message = parse_err(&test_pod(&basic(&[
        ("agent-inject-secret-a", "p"),
        ("agent-inject-secret-b", "q"),
        ("agent-inject-file-b", "a"),
    ])));
    assert!(message.contains("\"a\" and \"b\""), "{message}");
    let message = parse_err(&test_pod(&basic(&[
        ("agent-inject-secret-token", "p"),
        ("agent-inject-token", "true"),
    ])));
    assert!(message.contains("/vault/secrets/token"), "{message}");
}

#[test]
fn custom_volumes_are_numbered_in_sorted_path_order() {
    let p = patched(&test_pod(&basic(&[
        ("agent-inject-secret-a", "p"),
        ("secret-volume-path-a", "/z/path"),
        ("agent-inject-secret-b", "p"),
        ("secret-volume-path-b", "/a/path"),
        ("agent-inject-secret-c", "p"),
        ("secret-volume-path-c", "/z/path"),
        ("agent-inject-secret-d", "p"),
        ("secret-volume-path-d", "/vault/secrets"),
    ])));
    let m = mounts(container(&p.pod, "foo1"));
    assert_eq!(
        m[1..],
        [
            ("vault-secrets".into(), "/vault/secrets".into(), false),
            ("vault-secrets-custom-0".into(), "/a/path".into(), false),
            ("vault-secrets-custom-1".into(), "/z/path".into(), false),
        ]
    );
}

#[test]
fn template_config_follows_annotations_and_defaults() {
    // case 68
    let tc = |a: &[(&str, &str)]| spec_of(&handler_pod(&basic(a))).template_config;
    assert!(tc(&[]).exit_on_retry_failure);
    assert_eq!(tc(&[]).max_connections_per_host, None);
    assert!(!tc(&[("template-config-exit-on-retry-failure", "false")]).exit_on_retry_failure);
    assert_eq!(
        tc(&[("template-static-secret-render-interval", "10s")])
            .static_secret_render_interval
            .as_deref(),
        Some("10s")
    );
    assert_eq!(
        tc(&[("template-max-connections-per-host", "100")]).max_connections_per_host,
        Some(100)
    );
    // "10" is valid (whole seconds, as Vault reads it): see durations_follow_the_format_their_reader_uses.
    let message = parse_err(&handler_pod(&basic(&[(
        "template-static-secret-render-interval",
        "ten",
    )])));
    assert!(
        message.contains("template-static-secret-render-interval"),
        "{message}"
    );
}

#[test]
fn token_sink_is_added_with_agent_inject_token() {
    // case 69
    let sinks = |a: &[(&str, &str)]| -> Vec<String> {
        config_of(&handler_pod(&basic(a)))
            .auto_auth
            .sinks
            .into_iter()
            .map(|s| s.path)
            .collect()
    };
    assert_eq!(sinks(&[]), ["/home/vault/.vault-token"]);
    assert_eq!(
        sinks(&[("agent-inject-token", "true")]),
        ["/home/vault/.vault-token", "/vault/secrets/token"]
    );
    assert_eq!(
        sinks(&[
            ("agent-inject-token", "true"),
            ("secret-volume-path", "/new/secrets")
        ]),
        ["/home/vault/.vault-token", "/new/secrets/token"]
    );
}
