//! The injector's defaults (§4.4) and the per-secret annotations (§4.5).

use super::*;

// === 4.4 defaults ===

#[test]
fn injector_defaults_fill_the_config() {
    // case 31
    let d = InjectorDefaults {
        vault_address: "http://foobar:8200".into(),
        agent_image: "foobar-image".into(),
        proxy_address: "http://proxy:3128".into(),
        revoke_on_shutdown: true,
        auth_path: "test".into(),
        ..Default::default()
    };
    let spec = spec::parse("test", &test_pod(&basic(&[])), &d).unwrap().spec;
    assert_eq!(spec.image, "foobar-image");
    assert_eq!(spec.vault.address, "http://foobar:8200");
    assert_eq!(spec.vault.proxy_address.as_deref(), Some("http://proxy:3128"));
    assert!(spec.revoke_on_shutdown);
    assert_eq!(spec.auth_method.mount_path, "test");
    assert_eq!(spec.namespace, "test");
}

#[test]
fn default_uid_gid_and_no_share_process_namespace() {
    // case 32
    let p = patched(&test_pod(&basic(&[])));
    let sc = container(&p.pod, "vault-agent").security_context.clone().unwrap();
    assert_eq!(sc.run_as_user, Some(100));
    assert_eq!(sc.run_as_group, Some(1000));
    assert!(p.pod.spec.unwrap().share_process_namespace.is_none());
}

// === 4.5 secrets ===

/// Annotations → expected secret names.
type NamesCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

fn secret_names(annotations: &[(&str, &str)]) -> Vec<String> {
    spec_of(&test_pod(&basic(annotations)))
        .secrets
        .into_iter()
        .map(|s| s.name)
        .collect()
}

#[test]
fn secret_names_follow_vault_k8s() {
    // cases 34–39, 41
    let cases: &[NamesCase] = &[
        (&[("agent-inject-secret-foobar", "test1")], &["foobar"]),
        (&[("agent-inject-secret-FOOBAR", "test2")], &["foobar"]),
        (&[("agent-inject-secret-foobar-2_3", "test3")], &["foobar-2_3"]),
        (
            &[("agent-inject-secret-server.crt", "creds/tls/somecert")],
            &["server.crt"],
        ),
        (&[("agent-inject-secret", "test4")], &[]),
        (&[("agent-inject-secret-", "test5")], &[]),
        (&[("agent-inject-secret-blank", "  ")], &[]),
        (
            &[
                ("agent-inject-secret-FOOBAR", "x"),
                ("preserve-secret-case", "true"),
            ],
            &["FOOBAR"],
        ),
    ];
    for (annotations, expected) in cases {
        assert_eq!(secret_names(annotations), *expected, "{annotations:?}");
    }
}

#[test]
fn preserve_case_per_secret_wins_over_global() {
    // case 40
    let names = secret_names(&[
        ("agent-inject-secret-FOOBAR_EXPLICIT", "x"),
        ("preserve-secret-case-FOOBAR_EXPLICIT", "true"),
        ("agent-inject-secret-LOWER", "y"),
    ]);
    assert_eq!(names, ["FOOBAR_EXPLICIT", "lower"]);
}

#[test]
fn preserve_case_rejects_bad_bool() {
    // §8: vault-k8s silently ignores this
    let message = parse_err(&test_pod(&basic(&[
        ("agent-inject-secret-a", "x"),
        ("preserve-secret-case-a", "yes"),
    ])));
    assert!(message.contains("preserve-secret-case-a"), "{message}");
}

#[test]
fn secrets_are_sorted_by_name() {
    let names = secret_names(&[
        ("agent-inject-secret-zeta", "z"),
        ("agent-inject-template-alpha", "{{ .X }}"),
        ("agent-inject-secret-Mid", "m"),
    ]);
    assert_eq!(names, ["alpha", "mid", "zeta"]);
}

#[test]
fn templates_define_secrets() {
    // case 43
    let cases: &[NamesCase] = &[
        (
            &[
                ("agent-inject-secret-foobar", "p"),
                ("agent-inject-template-foobar", "t"),
            ],
            &["foobar"],
        ),
        (
            &[
                ("agent-inject-secret-foobar2", "p"),
                ("agent-inject-template-foobar", ""),
            ],
            &["foobar2"],
        ),
        (&[("agent-inject-templat-foobar", "t")], &[]),
        (
            &[
                ("agent-inject-secret-foobar", "p"),
                ("agent-inject-template-foobar2", "t"),
            ],
            &["foobar", "foobar2"],
        ),
        (&[("vault.hashicorp.com/agent-inject-TEMPLATE-foobar", "t")], &[]),
    ];
    for (annotations, expected) in cases {
        assert_eq!(secret_names(annotations), *expected, "{annotations:?}");
    }
}

#[test]
fn inline_template_wins_over_template_file() {
    // case 44
    let spec = spec_of(&test_pod(&basic(&[
        ("agent-inject-template-a", "inline"),
        ("agent-inject-template-file-a", "/etc/a.tmpl"),
        ("agent-inject-template-b", ""),
        ("agent-inject-template-file-b", "/etc/config.tmpl"),
        ("agent-inject-template-c", "x"),
        ("agent-template-left-delim-c", "${"),
        ("agent-template-right-delim-c", "}"),
    ])));
    let s = &spec.secrets;
    assert_eq!(s[0].body, secrets::TemplateBody::Inline("inline".into()));
    assert_eq!(s[1].body, secrets::TemplateBody::File("/etc/config.tmpl".into()));
    assert_eq!(s[1].vault_path, None);
    assert_eq!(
        (s[0].left_delimiter.as_str(), s[0].right_delimiter.as_str()),
        ("{{", "}}")
    );
    assert_eq!(
        (s[2].left_delimiter.as_str(), s[2].right_delimiter.as_str()),
        ("${", "}")
    );
    assert!(s.iter().all(|s| s.mount_path == "/vault/secrets"));
}

#[test]
fn perms_and_command_are_per_secret() {
    // case 45
    let cfg = config_of(&test_pod(&basic(&[
        ("agent-inject-secret-foobar", "p"),
        ("agent-inject-perms-foobar", "0600"),
        ("agent-inject-command-foobar", "pkill -HUP nginx"),
        ("agent-inject-secret-other", "p"),
        ("agent-inject-perms-nomatch", "0600"),
    ])));
    assert_eq!(cfg.templates[0].perms.as_deref(), Some("0600"));
    assert_eq!(cfg.templates[0].command.as_deref(), Some("pkill -HUP nginx"));
    assert_eq!(cfg.templates[1].perms, None);
    assert_eq!(cfg.templates[1].command, None);
}

#[test]
fn perms_must_be_octal() {
    let message = parse_err(&test_pod(&basic(&[
        ("agent-inject-secret-a", "p"),
        ("agent-inject-perms-a", "rw-------"),
    ])));
    assert!(message.contains("agent-inject-perms-a"), "{message}");
    assert!(message.contains("octal"), "{message}");
}

#[test]
fn perms_above_0777_are_refused() {
    // Issue #8: 7777 gave a setuid, setgid, sticky, world-writable file; Vault Agent's os.FileMode
    // drops those bits, so no pod can rely on them.
    for value in ["7777", "4755", "2750", "1777", "01777"] {
        let message = parse_err(&test_pod(&basic(&[
            ("agent-inject-secret-a", "p"),
            ("agent-inject-perms-a", value),
        ])));
        assert!(message.contains("agent-inject-perms-a"), "{message}");
        assert!(message.contains(value), "{message}");
        assert!(message.contains("from 000 to 0777"), "{message}");
    }
    let pod = test_pod(&basic(&[
        ("agent-inject-secret-a", "p"),
        ("agent-inject-perms-a", "0777"),
    ]));
    assert_eq!(config_of(&pod).templates[0].perms.as_deref(), Some("0777"));
}

#[test]
fn error_on_missing_key_parses_go_bools() {
    // cases 46, 64
    for (value, expected) in [("True", Some(true)), ("false", Some(false)), ("unknown", None)] {
        let pod = test_pod(&basic(&[
            ("agent-inject-secret-a", "p"),
            ("error-on-missing-key-a", value),
        ]));
        match expected {
            Some(b) => assert_eq!(config_of(&pod).templates[0].error_on_missing_key, b),
            None => assert!(parse_err(&pod).contains("error-on-missing-key-a")),
        }
    }
    let pod = test_pod(&basic(&[("agent-inject-secret-a", "p")]));
    assert!(!config_of(&pod).templates[0].error_on_missing_key);
}
