//! The agent's environment (§4.9) and containers (§4.10).

use super::*;

// === 4.9 env ===

#[test]
fn agent_env_has_field_refs_then_config() {
    // cases 72, 76
    let p = patched(&handler_pod(&basic(&[("go-max-procs", "1")])));
    let names: Vec<String> = container(&p.pod, "vault-agent")
        .env
        .iter()
        .flatten()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(
        names,
        ["NAMESPACE", "HOST_IP", "POD_IP", "FERROVAULT_AGENT_CONFIG"]
    );
}

#[test]
fn run_as_ids_take_a_sign_as_go_parse_int_does() {
    // Issue #10: "+5" is 5 for Go's ParseInt; negative ids stay refused.
    let spec = spec_of(&handler_pod(&basic(&[
        ("agent-run-as-user", "+5"),
        ("agent-run-as-group", "+7"),
    ])));
    let run_as = spec.run_as.unwrap();
    assert_eq!((run_as.user, run_as.group), (5, 7));
    let message = parse_err(&handler_pod(&basic(&[("agent-run-as-user", "-5")])));
    assert!(message.contains("agent-run-as-user"), "{message}");
}

#[test]
fn go_max_procs_is_admitted_whatever_its_value_with_a_warning() {
    // Issue #10: vault-k8s admits "0", "-1", "abc" (it passes them on as GOMAXPROCS unchecked);
    // our agent is not a Go program, so the value has no effect either way.
    for value in ["1", "0", "-1", "abc", ""] {
        let parsed = parsed(&handler_pod(&basic(&[("go-max-procs", value)])));
        assert!(
            parsed
                .warnings
                .iter()
                .any(|w| w.contains("go-max-procs has no effect")),
            "{value}: {:?}",
            parsed.warnings
        );
    }
}

#[test]
fn log_format_is_trimmed_and_lower_cased_and_unknown_formats_are_refused() {
    // Issue #10: Vault's ParseLogFormat; "xml" made Vault Agent refuse to start.
    for (value, format) in [
        ("JSON", "json"),
        (" json", "json"),
        ("Standard", "standard"),
        ("", "standard"),
    ] {
        let cfg = config_of(&handler_pod(&basic(&[("log-format", value)])));
        assert_eq!(cfg.log.format, format, "{value:?}");
    }
    let message = parse_err(&handler_pod(&basic(&[("log-format", "xml")])));
    assert!(
        message.contains("log-format") && message.contains("standard or json"),
        "{message}"
    );
}

#[test]
fn durations_follow_the_format_their_reader_uses() {
    // Issue #10: the agent reads the render interval with Vault's ParseDurationSecond.
    for (value, expected) in [("10", "10"), ("1d", "1d"), ("+5", "+5"), ("90s", "90s")] {
        let cfg = config_of(&handler_pod(&basic(&[(
            "template-static-secret-render-interval",
            value,
        )])));
        assert_eq!(
            cfg.template_config.static_secret_render_interval.as_deref(),
            Some(expected)
        );
    }
    let message = parse_err(&handler_pod(&basic(&[(
        "template-static-secret-render-interval",
        "soon",
    )])));
    assert!(
        message.contains("whole seconds (30), whole days (1d)"),
        "{message}"
    );
    // -1s is a Go duration: the message says what is wrong with it (negative backoffs are admitted:
    // see values.rs)
    for (key, value) in [
        ("template-static-secret-render-interval", "-1s"),
        ("template-static-secret-render-interval", "-10"),
    ] {
        let message = parse_err(&handler_pod(&basic(&[(key, value)])));
        assert!(message.contains("not negative"), "{key}={value}: {message}");
    }
}

#[test]
fn client_settings_go_into_the_config() {
    // case 72: VAULT_MAX_RETRIES / VAULT_CLIENT_TIMEOUT are config fields here
    let cfg = config_of(&handler_pod(&basic(&[
        ("client-max-retries", "0"),
        ("client-timeout", "5"),
        ("proxy-address", "http://proxy:3128"),
        ("log-level", "debug"),
        ("log-format", "json"),
    ])));
    assert_eq!(cfg.vault.max_retries, Some(0));
    assert_eq!(cfg.vault.client_timeout.as_deref(), Some("5s"));
    assert_eq!(cfg.vault.proxy_address.as_deref(), Some("http://proxy:3128"));
    assert_eq!(
        (cfg.log.level.as_str(), cfg.log.format.as_str()),
        ("debug", "json")
    );
    let message = parse_err(&handler_pod(&basic(&[("client-max-retries", "many")])));
    assert!(message.contains("client-max-retries"), "{message}");
}

#[test]
fn ca_cert_bytes_are_decoded_from_base64_or_kept() {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    use base64::Engine as _;
    for bytes in [
        pem.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(pem),
    ] {
        let d = InjectorDefaults {
            ca_cert_bytes: bytes,
            ..defaults()
        };
        let spec = spec::parse("test", &handler_pod(&basic(&[])), &d).unwrap().spec;
        assert_eq!(spec.vault.ca_cert_pem.as_deref().map(str::trim), Some(pem.trim()));
    }
}

// === 4.10 containers ===

#[test]
fn agent_volume_mounts_in_vault_k8s_order() {
    // case 74
    let p = patched(&test_pod(&basic(&[
        ("secret-volume-path", "/etc/default_path"),
        ("agent-inject-secret-secret1", "p"),
        ("secret-volume-path-secret1", "/etc/container_environment"),
        ("agent-inject-secret-secret2", "p"),
        ("secret-volume-path-secret2", "/etc/default_path"),
        ("agent-inject-secret-secret3", "p"),
        ("agent-extra-secret", "extra"),
        ("agent-copy-volume-mounts", "foobar"),
    ])));
    let s = |n: &str, p: &str, ro: bool| (n.to_owned(), p.to_owned(), ro);
    assert_eq!(
        mounts(container(&p.pod, "vault-agent")),
        [
            s("foobar", "serviceaccount/somewhere", true),
            s("home-sidecar", "/home/vault", false),
            s("vault-secrets", "/etc/default_path", false),
            s("vault-secrets-custom-0", "/etc/container_environment", false),
            s("extra-secrets", "/vault/custom", true),
            s("tobecopied", "/etc/somewhereelse", false),
        ]
    );
    assert_eq!(
        mounts(container(&p.pod, "vault-agent-init"))[..2],
        [
            s("home-init", "/home/vault", false),
            s("foobar", "serviceaccount/somewhere", true)
        ]
    );
}

#[test]
fn containers_run_the_agent_binary_without_a_shell() {
    // case 76
    let p = patched(&handler_pod(&basic(&[])));
    for (name, arg) in [("vault-agent", "sidecar"), ("vault-agent-init", "init")] {
        let c = container(&p.pod, name);
        assert_eq!(c.command.as_deref(), Some(&["/ferrovault-agent".to_owned()][..]));
        assert_eq!(c.args.as_deref(), Some(&[arg.to_owned()][..]));
        assert!(c.lifecycle.is_none(), "no shell preStop");
        assert!(c.image_pull_policy.is_none());
        let r = c.resources.as_ref().unwrap();
        assert_eq!(r.limits.as_ref().unwrap()["cpu"].0, "500m");
        assert_eq!(r.limits.as_ref().unwrap()["memory"].0, "128Mi");
        assert_eq!(r.requests.as_ref().unwrap()["cpu"].0, "250m");
        assert_eq!(r.requests.as_ref().unwrap()["memory"].0, "64Mi");
        assert!(!r.limits.as_ref().unwrap().contains_key("ephemeral-storage"));
    }
}

#[test]
fn revoke_on_shutdown_goes_into_the_config() {
    // case 77 (no preStop: the agent revokes on SIGTERM)
    for (flag, annotation, expected) in [
        (true, None, true),
        (false, None, false),
        (true, Some("true"), true),
        (true, Some("false"), false),
        (false, Some("true"), true),
        (false, Some("false"), false),
    ] {
        let d = InjectorDefaults {
            revoke_on_shutdown: flag,
            ..defaults()
        };
        let mut a = basic(&[]);
        if let Some(v) = annotation {
            a.push(("agent-revoke-on-shutdown", v));
        }
        let spec = spec::parse("test", &handler_pod(&a), &d).unwrap().spec;
        assert_eq!(
            config::build(&spec).revoke_on_shutdown,
            expected,
            "{flag} {annotation:?}"
        );
    }
}

#[test]
fn resources_accept_quantities() {
    // case 79
    for (cpu, mem) in [
        ("500M", "128M"),
        ("500G", "128G"),
        ("500Mi", "128Mi"),
        ("500Gi", "128Gi"),
        ("0", "0"),
        ("1", "128m"),
    ] {
        let r = spec_of(&handler_pod(&basic(&[
            ("agent-limits-cpu", cpu),
            ("agent-limits-mem", mem),
            ("agent-requests-cpu", cpu),
            ("agent-requests-mem", mem),
        ])))
        .resources;
        assert_eq!(r.cpu_limit.as_deref(), Some(cpu));
        assert_eq!(r.memory_request.as_deref(), Some(mem));
    }
}

#[test]
fn resources_reject_500mi_cpu() {
    // case 79
    for (key, bad) in [
        ("agent-limits-cpu", "500mi"),
        ("agent-requests-cpu", "500gi"),
        ("agent-limits-mem", "128mb"),
        ("agent-requests-mem", "128g"),
        ("agent-limits-ephemeral", "128gi"),
    ] {
        let message = parse_err(&handler_pod(&basic(&[(key, bad)])));
        assert!(
            message.contains(&format!("vault.hashicorp.com/{key}")),
            "{message}"
        );
        assert!(message.contains(&format!("{bad:?}")), "{message}");
        assert!(message.contains("Kubernetes quantity"), "{message}");
    }
}

#[test]
fn resources_explicit_empty_removes_entries() {
    // case 79 (GH-174)
    let all_empty: Vec<(&str, &str)> = [
        "agent-limits-cpu",
        "agent-limits-mem",
        "agent-limits-ephemeral",
        "agent-requests-cpu",
        "agent-requests-mem",
        "agent-requests-ephemeral",
    ]
    .iter()
    .map(|k| (*k, ""))
    .collect();
    let p = patched(&handler_pod(&basic(&all_empty)));
    assert!(container(&p.pod, "vault-agent").resources.is_none());
    let p = patched(&handler_pod(&basic(&[
        ("agent-limits-cpu", ""),
        ("agent-requests-ephemeral", "1Gi"),
    ])));
    let r = container(&p.pod, "vault-agent").resources.clone().unwrap();
    assert!(!r.limits.as_ref().unwrap().contains_key("cpu"));
    assert_eq!(r.requests.as_ref().unwrap()["ephemeral-storage"].0, "1Gi");
}

#[test]
fn security_context_defaults_are_restricted() {
    // case 80, plus seccompProfile (vault-k8s#377)
    let p = patched(&handler_pod(&basic(&[])));
    let sc = container(&p.pod, "vault-agent-init")
        .security_context
        .clone()
        .unwrap();
    assert_eq!(sc.run_as_user, Some(100));
    assert_eq!(sc.run_as_group, Some(1000));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
    assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
}

#[test]
fn security_context_run_as_non_root_depends_on_uid_only() {
    // case 80; §8: vault-k8s also sets false when only the gid is 0
    for (uid, gid, non_root) in [
        ("1001", "1001", true),
        ("0", "0", false),
        ("0", "100", false),
        ("100", "0", true),
    ] {
        let p = patched(&handler_pod(&basic(&[
            ("agent-run-as-user", uid),
            ("agent-run-as-group", gid),
        ])));
        let sc = container(&p.pod, "vault-agent").security_context.clone().unwrap();
        assert_eq!(sc.run_as_non_root, Some(non_root), "{uid}/{gid}");
        assert_eq!(
            p.warnings.iter().any(|w| w.contains("run as root")),
            uid == "0",
            "{:?}",
            p.warnings
        );
    }
}

#[test]
fn security_context_can_be_disabled() {
    // case 80
    let off = InjectorDefaults {
        set_security_context: false,
        ..defaults()
    };
    let run_as =
        |d: &InjectorDefaults, a: &[(&str, &str)]| spec::parse("test", &handler_pod(&basic(a)), d).unwrap();
    assert_eq!(run_as(&off, &[]).spec.run_as, None);
    assert!(
        run_as(&off, &[("agent-run-as-user", "100")])
            .spec
            .run_as
            .is_some(),
        "auto-flip"
    );
    let parsed = run_as(
        &defaults(),
        &[
            ("agent-set-security-context", "false"),
            ("agent-run-as-user", "100"),
        ],
    );
    assert_eq!(parsed.spec.run_as, None);
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| w.contains("agent-set-security-context")),
        "{:?}",
        parsed.warnings
    );
}

#[test]
fn json_patch_annotations_modify_agent_containers() {
    // case 82
    for noop in ["null", "", "[]"] {
        let p = patched(&handler_pod(&basic(&[
            ("agent-json-patch", noop),
            ("agent-init-json-patch", noop),
        ])));
        assert!(has_container(&p.pod, "vault-agent") && has_container(&p.pod, "vault-agent-init"));
    }
    let p = patched(&handler_pod(&basic(&[
        (
            "agent-json-patch",
            r#"[{"op":"replace","path":"/name","value":"different-name"}]"#,
        ),
        (
            "agent-init-json-patch",
            r#"[{"op":"replace","path":"/name","value":"different-name-init"}]"#,
        ),
    ])));
    assert!(has_container(&p.pod, "different-name"));
    assert!(has_container(&p.pod, "different-name-init"));
}

#[test]
fn json_patch_annotations_errors_name_the_annotation() {
    // case 82
    for (key, bad) in [
        ("agent-json-patch", "abc"),
        ("agent-json-patch", r#"[{"op":"invalid"}]"#),
        ("agent-init-json-patch", r#"[{"op":"remove","path":"/nope"}]"#),
        (
            "agent-json-patch",
            r#"[{"op":"replace","path":"/name","value":42}]"#,
        ),
    ] {
        let message = deny_message(decide_on(&handler_pod(&basic(&[(key, bad)]))));
        assert!(
            message.contains(&format!("vault.hashicorp.com/{key}")),
            "{bad}: {message}"
        );
    }
}
