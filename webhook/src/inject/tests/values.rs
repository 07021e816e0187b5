//! Values that could error (§4.6) and the other annotations of §4.7.

use super::*;

// === 4.6 values that could error ===

#[test]
fn bool_annotations_accept_go_parse_bool() {
    // case 47, 50
    for key in [
        "agent-pre-populate",
        "agent-pre-populate-only",
        "tls-skip-verify",
        "agent-revoke-on-shutdown",
        "agent-share-process-namespace",
        "agent-set-security-context",
        "agent-init-first",
        "agent-inject-token",
        "agent-auto-auth-exit-on-err",
        "template-config-exit-on-retry-failure",
        "agent-run-as-same-user",
    ] {
        for value in ["true", "false", "TRUE", "FALSE", "0", "1", "t", "f", ""] {
            let pod = handler_pod(&basic(&[(key, value)]));
            let result = spec::parse("test", &pod, &defaults());
            // run-as-same-user true needs a securityContext on container 0: a different error.
            if key == "agent-run-as-same-user" && go_true(value) {
                assert!(result.unwrap_err().to_string().contains("SecurityContext"));
            } else {
                assert!(result.is_ok(), "{key}={value:?}: {result:?}");
            }
        }
        for value in ["tRuE", "fAlSe", "yes", "secure"] {
            let message = parse_err(&handler_pod(&basic(&[(key, value)])));
            assert!(
                message.contains(&format!("vault.hashicorp.com/{key}")),
                "{message}"
            );
            assert!(message.contains(&format!("{value:?}")), "{message}");
        }
    }
}

fn go_true(v: &str) -> bool {
    ferrovault_contract::go::parse_bool(v) == Some(true)
}

#[test]
fn revoke_grace_must_be_unsigned() {
    // case 48
    for ok in ["5", "0", "01"] {
        spec::parse(
            "test",
            &handler_pod(&basic(&[("agent-revoke-grace", ok)])),
            &defaults(),
        )
        .unwrap();
    }
    for bad in ["-1", "foobar"] {
        let message = parse_err(&handler_pod(&basic(&[("agent-revoke-grace", bad)])));
        assert!(message.contains("agent-revoke-grace"), "{message}");
    }
}

#[test]
fn run_as_user_and_group_must_be_integers() {
    // case 49
    for key in ["agent-run-as-user", "agent-run-as-group"] {
        for ok in ["0", "100"] {
            spec::parse("test", &handler_pod(&basic(&[(key, ok)])), &defaults()).unwrap();
        }
        for bad in ["root", "-1", ""] {
            let message = parse_err(&handler_pod(&basic(&[(key, bad)])));
            assert!(message.contains(key), "{message}");
            assert!(message.contains("non-negative integer"), "{message}");
        }
    }
}

#[test]
fn backoffs_must_be_go_durations() {
    // cases 51, 57
    for key in ["auth-min-backoff", "auth-max-backoff"] {
        for ok in ["", "1s", "1m"] {
            spec::parse("test", &handler_pod(&basic(&[(key, ok)])), &defaults()).unwrap();
        }
        let message = parse_err(&handler_pod(&basic(&[(key, "x")])));
        assert!(
            message.contains(key) && message.contains("Go duration"),
            "{message}"
        );
    }
    let spec = spec_of(&handler_pod(&basic(&[
        ("auth-min-backoff", "5s"),
        ("auth-max-backoff", "10s"),
        ("agent-auto-auth-exit-on-err", "true"),
    ])));
    assert_eq!(spec.auth_method.min_backoff.as_deref(), Some("5s"));
    assert_eq!(spec.auth_method.max_backoff.as_deref(), Some("10s"));
    assert!(spec.auth_method.exit_on_err);
}

#[test]
fn negative_backoffs_are_admitted_and_left_to_the_agent_default_as_vault_agent_does() {
    // vault-k8s checks them with time.ParseDuration (a sign is fine); Vault Agent's auth handler
    // and its template retries treat a backoff <= 0 as unset: 1s / 5m.
    let p = parsed(&handler_pod(&basic(&[
        ("auth-min-backoff", "-1s"),
        ("auth-max-backoff", "-5m"),
    ])));
    assert_eq!(p.spec.auth_method.min_backoff, None);
    assert_eq!(p.spec.auth_method.max_backoff, None);
    for (key, default) in [("auth-min-backoff", "(1s)"), ("auth-max-backoff", "(5m)")] {
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains(key) && w.contains("negative backoff") && w.contains(default)),
            "{key}: {:?}",
            p.warnings
        );
    }
    // -0s is zero: unset, nothing to say
    let p = parsed(&handler_pod(&basic(&[("auth-min-backoff", "-0s")])));
    assert_eq!(p.spec.auth_method.min_backoff, None);
    assert!(
        p.warnings.iter().all(|w| !w.contains("backoff")),
        "{:?}",
        p.warnings
    );
    // the injector's default is read the same way
    let d = InjectorDefaults {
        auth_max_backoff: "-30s".into(),
        ..defaults()
    };
    let p = spec::parse("test", &handler_pod(&basic(&[])), &d).unwrap();
    assert_eq!(p.spec.auth_method.max_backoff, None);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("the injector's default for")),
        "{:?}",
        p.warnings
    );
    // what Go cannot parse is still refused, sign or not
    for bad in ["-x", "--1s", "-30"] {
        let message = parse_err(&handler_pod(&basic(&[("auth-min-backoff", bad)])));
        assert!(message.contains("auth-min-backoff"), "{bad}: {message}");
    }
}

// === 4.7 misc ===

#[test]
fn vault_namespace_explicit_empty_beats_default() {
    // case 52
    let with_default = |annotations: &[(&str, &str)]| {
        let d = InjectorDefaults {
            vault_namespace: "test-namespace".into(),
            ..defaults()
        };
        spec::parse("test", &handler_pod(&basic(annotations)), &d)
            .unwrap()
            .spec
            .auth_method
            .namespace
    };
    assert_eq!(spec_of(&handler_pod(&basic(&[]))).auth_method.namespace, None);
    assert_eq!(with_default(&[]).as_deref(), Some("test-namespace"));
    assert_eq!(with_default(&[("namespace", "")]), None);
    assert_eq!(
        with_default(&[("namespace", "fooBar")]).as_deref(),
        Some("fooBar")
    );
}

fn same_user_pod(run_as_user: Option<i64>, annotation: Option<&str>) -> Pod {
    let mut pod = serde_json::to_value(handler_pod(&basic(&[]))).unwrap();
    if let Some(uid) = run_as_user {
        pod["spec"]["containers"][0]["securityContext"] = json!({"runAsUser": uid});
    }
    if let Some(v) = annotation {
        set_annotations(&mut pod, &[("agent-run-as-same-user", v)]);
    }
    serde_json::from_value(pod).unwrap()
}

#[test]
fn run_as_same_user_copies_container_zero_uid() {
    // cases 53, 80
    let uid = |pod: &Pod| spec_of(pod).run_as.map(|r| r.user);
    assert_eq!(uid(&same_user_pod(None, Some("false"))), Some(100));
    assert_eq!(uid(&same_user_pod(Some(123456), Some("true"))), Some(123456));
    assert_eq!(uid(&same_user_pod(Some(123456), Some("false"))), Some(100));
    assert_eq!(uid(&same_user_pod(Some(123456), None)), Some(100));
    let d = InjectorDefaults {
        run_as_same_user: true,
        ..defaults()
    };
    let spec = spec::parse("test", &same_user_pod(Some(123456), None), &d)
        .unwrap()
        .spec;
    assert_eq!(spec.run_as.unwrap().user, 123456);
}

#[test]
fn run_as_same_user_errors() {
    // case 53
    let message = parse_err(&same_user_pod(None, Some("true")));
    assert!(
        message.contains("No SecurityContext found for Container 0"),
        "{message}"
    );
    let message = parse_err(&same_user_pod(Some(0), Some("true")));
    assert!(
        message.contains("container not allowed to run as root"),
        "{message}"
    );
    let message = parse_err(&same_user_pod(Some(1), Some("rooooooot")));
    assert!(message.contains("agent-run-as-same-user"), "{message}");
    let mut pod = serde_json::to_value(same_user_pod(None, Some("true"))).unwrap();
    pod["spec"]["containers"][0]["securityContext"] = json!({"runAsGroup": 5});
    let message = parse_err(&serde_json::from_value(pod).unwrap());
    assert!(message.contains("RunAsUser is nil"), "{message}");
}

#[test]
fn auth_config_annotations_map_to_method_config() {
    // case 54
    let cfg = |a: &[(&str, &str)]| {
        let mut all = vec![("agent-inject", "true")];
        all.extend_from_slice(a);
        spec_of(&test_pod(&all)).auth_method.config
    };
    let c = cfg(&[("role", "backwardscompat")]);
    assert_eq!(c["role"], "backwardscompat");
    assert_eq!(c["token_path"], "serviceaccount/somewhere/token");
    let c = cfg(&[("role", "backwardscompat"), ("auth-config-role", "lowerprio")]);
    assert_eq!(c["role"], "backwardscompat");
    let c = cfg(&[("role", "r"), ("auth-config-token-path", "/custom/token")]);
    assert_eq!(c["token_path"], "/custom/token");
    let c = cfg(&[
        ("role", "r"),
        ("auth-config-name", "foo"),
        ("auth-config-ca-cert", "bar"),
        ("auth-config-client_cert", "baz"),
        ("auth-config-credential-poll-interval", "1"),
        ("auth-config-remove_secret_id_file_after_reading", "false"),
    ]);
    let keys: Vec<&str> = c.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "ca_cert",
            "client_cert",
            "credential_poll_interval",
            "name",
            "remove_secret_id_file_after_reading",
            "role",
            "token_path"
        ]
    );
}

#[test]
fn inject_containers_selects_app_containers() {
    // case 55 (our ops: volumes created once then appended; SA volume is absent in this fixture)
    let p = patched(&test_pod(&basic(&[])));
    assert_eq!(
        ops(&p.patch),
        [
            "add /spec/volumes",
            "add /spec/volumes/-",
            "add /spec/volumes/-",
            "add /spec/containers/0/volumeMounts/-",
            "add /spec/containers/1/volumeMounts/-",
            "add /spec/containers/2/volumeMounts/-",
            "add /spec/initContainers",
            "add /spec/containers/-",
            "add /metadata/annotations/vault.hashicorp.com~1agent-inject-status",
        ]
    );
    let p = patched(&test_pod(&basic(&[("agent-inject-containers", "foo1")])));
    let mount_ops: Vec<String> = ops(&p.patch)
        .into_iter()
        .filter(|o| o.contains("volumeMounts"))
        .collect();
    assert_eq!(mount_ops, ["add /spec/containers/1/volumeMounts/-"]);
    let p = patched(&test_pod(&basic(&[("agent-inject-containers", "foo1, foo2")])));
    let mount_ops: Vec<String> = ops(&p.patch)
        .into_iter()
        .filter(|o| o.contains("volumeMounts"))
        .collect();
    assert_eq!(
        mount_ops,
        [
            "add /spec/containers/1/volumeMounts/-",
            "add /spec/containers/2/volumeMounts/-"
        ]
    );
}

#[test]
fn inject_containers_warns_about_unknown_names() {
    let p = patched(&test_pod(&basic(&[("agent-inject-containers", "foo1,nope")])));
    assert!(
        p.warnings.iter().any(|w| w.contains("\"nope\"")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn inject_containers_empty_mounts_no_app_container() {
    let p = patched(&test_pod(&basic(&[("agent-inject-containers", "")])));
    assert!(!ops(&p.patch).iter().any(|o| o.contains("/spec/containers/0")));
}

#[test]
fn default_template_type_is_validated() {
    // cases 56, 95
    for (value, expected) in [("json", "Json"), ("JSON", "Json"), ("map", "Map"), ("MAP", "Map")] {
        let spec = spec_of(&test_pod(&basic(&[
            ("agent-inject-secret-a", "p"),
            ("agent-inject-default-template", value),
        ])));
        assert_eq!(
            format!("{:?}", spec.secrets[0].body),
            format!("Default({expected})")
        );
    }
    for bad in ["foobar", "jsn", ""] {
        let message = deny_message(decide_on(&handler_pod(&basic(&[(
            "agent-inject-default-template",
            bad,
        )]))));
        assert!(message.contains("invalid default template type"), "{message}");
        assert!(
            message.contains("vault.hashicorp.com/agent-inject-default-template"),
            "{message}"
        );
    }
}

#[test]
fn default_template_contents_read_the_secret_path() {
    let cfg = config_of(&test_pod(&basic(&[
        ("agent-inject-secret-bar", "db/creds/bar"),
        ("agent-inject-command-bar", "pkill -HUP app"),
    ])));
    let t = &cfg.templates[0];
    assert!(
        t.contents
            .as_deref()
            .unwrap()
            .contains("with secret \"db/creds/bar\"")
    );
    assert_eq!(t.command.as_deref(), Some("pkill -HUP app"));
}

#[test]
fn lease_renewal_threshold_is_a_float() {
    // case 60
    let tc = |a: &[(&str, &str)]| spec_of(&handler_pod(&basic(a))).template_config;
    assert_eq!(
        tc(&[("template-lease-renewal-threshold", "0.75")]).lease_renewal_threshold,
        Some(0.75)
    );
    assert_eq!(tc(&[]).lease_renewal_threshold, None);
    let message = parse_err(&handler_pod(&basic(&[(
        "template-lease-renewal-threshold",
        "one-third",
    )])));
    assert!(message.contains("template-lease-renewal-threshold"), "{message}");
}
