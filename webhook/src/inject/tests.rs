//! Table-driven tests of the mutation logic, after vault-k8s' own suite (reference §4, case numbers
//! in comments). Where vault-k8s' expected op lists encode its array bug (§2.7: a second
//! `add /spec/volumes` replacing the first), ours expect `add /spec/volumes` then `/-`.

use std::collections::BTreeMap;

use ferrovault_contract::AgentConfig;
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use super::spec::{self, InjectionSpec};
use super::*;

// === fixtures ===

fn defaults() -> InjectorDefaults {
    InjectorDefaults {
        vault_address: "https://vault:8200".into(),
        ..Default::default()
    }
}

/// vault-k8s' handler fixture: init container `web-init`, container `web`, both mounting the SA
/// volume `foobar` at `serviceaccount/somewhere`; the pod has the SA volume.
fn handler_pod(annotations: &[(&str, &str)]) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "foo", "annotations": {}},
        "spec": {
            "volumes": [{"name": "foobar", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
            "initContainers": [{"name": "web-init", "image": "busybox",
                "volumeMounts": [{"name": "foobar", "mountPath": "serviceaccount/somewhere"}]}],
            "containers": [{"name": "web", "image": "nginx",
                "volumeMounts": [{"name": "foobar", "mountPath": "serviceaccount/somewhere"}]}]
        }
    });
    set_annotations(&mut pod, annotations);
    serde_json::from_value(pod).unwrap()
}

/// vault-k8s' agent fixture: containers `foobar` (SA + `tobecopied`), `foo1`, `foo2`; no volumes, no
/// init containers.
fn test_pod(annotations: &[(&str, &str)]) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "foo", "annotations": {}},
        "spec": {
            "containers": [
                {"name": "foobar", "volumeMounts": [
                    {"name": "foobar", "mountPath": "serviceaccount/somewhere"},
                    {"name": "tobecopied", "mountPath": "/etc/somewhereelse"}]},
                {"name": "foo1", "volumeMounts": [{"name": "foo1", "mountPath": "/data/foo1"}]},
                {"name": "foo2", "volumeMounts": [{"name": "foo2", "mountPath": "/data/foo2"}]}
            ]
        }
    });
    set_annotations(&mut pod, annotations);
    serde_json::from_value(pod).unwrap()
}

fn set_annotations(pod: &mut Value, annotations: &[(&str, &str)]) {
    let map = pod["metadata"]["annotations"].as_object_mut().unwrap();
    for (k, v) in annotations {
        let key = if k.contains('/') {
            (*k).to_owned()
        } else {
            format!("vault.hashicorp.com/{k}")
        };
        map.insert(key, json!(v));
    }
}

/// `agent-inject: true` + `role: demo` + the given annotations.
fn basic<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut a = vec![("agent-inject", "true"), ("role", "demo")];
    a.extend_from_slice(extra);
    a
}

fn decide_on(pod: &Pod) -> Decision {
    decide("test", pod, &defaults())
}

fn parsed(pod: &Pod) -> spec::Parsed {
    spec::parse("test", pod, &defaults()).unwrap()
}

fn spec_of(pod: &Pod) -> InjectionSpec {
    parsed(pod).spec
}

fn config_of(pod: &Pod) -> AgentConfig {
    config::build(&spec_of(pod))
}

fn parse_err(pod: &Pod) -> String {
    spec::parse("test", pod, &defaults()).unwrap_err().to_string()
}

fn deny_message(d: Decision) -> String {
    match d {
        Decision::Deny { message } => message,
        other => panic!("expected Deny, got {other:?}"),
    }
}

fn skip_reason(d: Decision) -> &'static str {
    match d {
        Decision::Skip { reason } => reason,
        other => panic!("expected Skip, got {other:?}"),
    }
}

struct Patched {
    patch: PodPatch,
    warnings: Vec<String>,
    audit: BTreeMap<String, String>,
    injection: InjectionType,
    pod: Pod,
}

/// Decides, expects a patch, applies it, checks the result is a Pod and is skipped on resubmission.
fn patched(pod: &Pod) -> Patched {
    match decide_on(pod) {
        Decision::Patch {
            patch,
            warnings,
            audit,
            injection,
        } => {
            let out = apply(pod, &patch);
            assert_eq!(
                skip_reason(decide_on(&out)),
                "already injected",
                "re-submitting an injected pod must be skipped"
            );
            Patched {
                patch,
                warnings,
                audit,
                injection,
                pod: out,
            }
        }
        other => panic!("expected Patch, got {other:?}"),
    }
}

fn apply(pod: &Pod, patch: &PodPatch) -> Pod {
    let mut doc = serde_json::to_value(pod).unwrap();
    json_patch::patch(&mut doc, &patch.to_json_patch().0).expect("patch applies to its pod");
    serde_json::from_value(doc).expect("patched pod is a Pod")
}

fn ops(patch: &PodPatch) -> Vec<String> {
    patch
        .to_json_patch()
        .0
        .iter()
        .map(|op| {
            let v = serde_json::to_value(op).unwrap();
            format!("{} {}", v["op"].as_str().unwrap(), v["path"].as_str().unwrap())
        })
        .collect()
}

fn container<'p>(pod: &'p Pod, name: &str) -> &'p Container {
    let spec = pod.spec.as_ref().unwrap();
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn has_container(pod: &Pod, name: &str) -> bool {
    let spec = pod.spec.as_ref().unwrap();
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| c.name == name)
}

fn mounts(c: &Container) -> Vec<(String, String, bool)> {
    c.volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.clone(), m.mount_path.clone(), m.read_only == Some(true)))
        .collect()
}

fn env_config(c: &Container) -> AgentConfig {
    let v = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == ferrovault_contract::AGENT_CONFIG_ENV)
        .and_then(|e| e.value.as_deref())
        .unwrap();
    AgentConfig::decode_env(v).unwrap()
}

// === 4.1 should inject ===

#[test]
fn should_inject_when_true_and_pending() {
    // case 1
    let mut pod = handler_pod(&basic(&[]));
    pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Pending".into()),
        ..Default::default()
    });
    assert!(matches!(decide_on(&pod), Decision::Patch { .. }));
}

#[test]
fn should_inject_skips_inject_false() {
    // cases 2, 86
    let pod = handler_pod(&[("agent-inject", "false"), ("role", "demo")]);
    assert_eq!(skip_reason(decide_on(&pod)), "agent-inject is false");
}

#[test]
fn should_inject_skips_already_injected() {
    // cases 3, 4, 84
    for inject in ["true", "false"] {
        let pod = handler_pod(&[("agent-inject", inject), ("agent-inject-status", "injected")]);
        assert!(matches!(decide_on(&pod), Decision::Skip { .. }), "{inject}");
    }
}

#[test]
fn should_inject_reinjects_status_update() {
    // case 5
    let pod = handler_pod(&basic(&[("agent-inject-status", "update")]));
    assert!(matches!(decide_on(&pod), Decision::Patch { .. }));
}

#[test]
fn should_inject_skips_running_pod() {
    // cases 6–9
    for (phase, status) in [
        ("Running", ""),
        ("Succeeded", ""),
        ("Failed", ""),
        ("Running", "update"),
    ] {
        let mut pod = handler_pod(&basic(&[("agent-inject-status", status)]));
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        assert_eq!(skip_reason(decide_on(&pod)), "pod is not pending", "{phase}");
    }
}

#[test]
fn should_inject_skips_pod_without_annotations() {
    // case 85
    let pod = handler_pod(&[]);
    assert_eq!(skip_reason(decide_on(&pod)), "no agent-inject annotation");
}

#[test]
fn bool_annotation_rejects_tRuE() {
    #![allow(non_snake_case)]
    let message = deny_message(decide_on(&handler_pod(&[("agent-inject", "tRuE")])));
    assert!(message.contains("vault.hashicorp.com/agent-inject"), "{message}");
    assert!(message.contains("\"tRuE\""), "{message}");
    assert!(message.contains("expected one of true, false"), "{message}");
}

#[test]
fn system_namespaces_are_denied() {
    // case 83
    for ns in ["kube-system", "kube-public"] {
        let message = deny_message(decide(ns, &handler_pod(&basic(&[])), &defaults()));
        assert!(message.contains("error with request namespace"), "{message}");
        assert!(message.contains(ns), "{message}");
    }
}

#[test]
fn empty_namespace_is_denied() {
    // cases 12, 33
    let message = deny_message(decide("", &handler_pod(&basic(&[])), &defaults()));
    assert!(message.contains("kubernetes namespace required"), "{message}");
}

// === 4.2 validation ===

#[test]
fn valid_kubernetes_pod_is_patched() {
    // case 11
    let p = patched(&handler_pod(&basic(&[])));
    assert_eq!(p.injection, InjectionType::InitAndSidecar);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn empty_image_is_denied() {
    // case 16
    let message = parse_err(&handler_pod(&basic(&[("agent-image", "")])));
    assert!(message.contains("no Vault image found"), "{message}");
    assert!(message.contains("vault.hashicorp.com/agent-image"), "{message}");
}

#[test]
fn kubernetes_auth_without_role_is_denied() {
    // case 17
    let message = parse_err(&handler_pod(&[("agent-inject", "true")]));
    assert!(message.contains("no Vault role found"), "{message}");
    assert!(message.contains("vault.hashicorp.com/role"), "{message}");
}

#[test]
fn auth_config_role_satisfies_role_requirement() {
    let spec = spec_of(&handler_pod(&[
        ("agent-inject", "true"),
        ("auth-config-role", "r"),
    ]));
    assert_eq!(spec.auth_method.config["role"], "r");
}

#[test]
fn other_auth_types_need_no_role() {
    let spec = spec_of(&handler_pod(&[
        ("agent-inject", "true"),
        ("auth-type", "approle"),
    ]));
    assert_eq!(spec.auth_method.kind, "approle");
}

#[test]
fn empty_address_is_denied() {
    // cases 18, 33
    let d = InjectorDefaults::default();
    let message = deny_message(decide("test", &handler_pod(&basic(&[])), &d));
    assert!(message.contains("no Vault address found"), "{message}");
    let message = parse_err(&handler_pod(&basic(&[("service", "")])));
    assert!(message.contains("vault.hashicorp.com/service"), "{message}");
}

#[test]
fn empty_auth_path_is_denied() {
    // cases 19, 33
    let message = parse_err(&handler_pod(&basic(&[("auth-path", "")])));
    assert!(message.contains("no Vault Auth Path found"), "{message}");
}

#[test]
fn empty_auth_type_is_denied() {
    // case 20
    let message = parse_err(&handler_pod(&basic(&[("auth-type", "")])));
    assert!(message.contains("no Vault Auth Type found"), "{message}");
}

// === 4.3 service account ===

fn sa_pod(volumes: Value, mounts: Value, annotation: Option<&str>) -> Pod {
    let mut a = basic(&[]);
    if let Some(name) = annotation {
        a.push(("agent-service-account-token-volume-name", name));
    }
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "test-pod", "annotations": {}},
        "spec": {"volumes": volumes, "containers": [{"name": "app", "volumeMounts": mounts}]}
    });
    set_annotations(&mut pod, &a);
    serde_json::from_value(pod).unwrap()
}

fn projected(name: &str, path: Option<&str>) -> Value {
    match path {
        Some(p) => {
            json!({"name": name, "projected": {"sources": [{"serviceAccountToken": {"path": p, "expirationSeconds": 600}}]}})
        }
        None => json!({"name": name, "projected": {"sources": [{"configMap": {"name": "x"}}]}}),
    }
}

#[test]
fn sa_token_missing_mount_is_denied() {
    // case 22
    let message = parse_err(&sa_pod(json!([]), json!([]), None));
    assert!(
        message.contains("failed to find service account volume mount"),
        "{message}"
    );
    assert!(
        message.contains("agent-service-account-token-volume-name"),
        "{message}"
    );
}

#[test]
fn sa_token_missing_volume_named_in_error() {
    // case 23
    let message = parse_err(&sa_pod(json!([]), json!([]), Some("projected-token")));
    assert!(
        message.contains("failed to find service account volume \"projected-token\""),
        "{message}"
    );
}

#[test]
fn sa_token_mounted_but_undeclared_volume_is_denied() {
    // case 24
    let pod = sa_pod(
        json!([projected("projected-token", Some("token"))]),
        json!([{"name": "missing", "mountPath": "/var/run/secrets/x"}]),
        Some("missing"),
    );
    let message = parse_err(&pod);
    assert!(
        message.contains("failed to find volume \"missing\" in Pod \"test-pod\" volumes"),
        "{message}"
    );
}

#[test]
fn sa_token_volume_without_token_projection_is_denied() {
    // cases 25, 26
    for mounts in [
        json!([{"name": "projected-token", "mountPath": "/var/run/secrets/special"}]),
        json!([]),
    ] {
        let pod = sa_pod(
            json!([projected("projected-token", None)]),
            mounts,
            Some("projected-token"),
        );
        let message = parse_err(&pod);
        assert!(
            message.contains("failed to find tokenPath for projected volume \"projected-token\""),
            "{message}"
        );
    }
}

#[test]
fn sa_token_discovers_secret_backed_volume() {
    // case 27
    let pod = sa_pod(
        json!([{"name": "default-token-abcde", "secret": {"secretName": "default-token-abcde"}}]),
        json!([{"name": "default-token-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]),
        None,
    );
    let sa = spec_of(&pod).service_account;
    assert_eq!(sa.volume_name, "default-token-abcde");
    assert_eq!(sa.mount_path, "/var/run/secrets/kubernetes.io/serviceaccount");
    assert_eq!(sa.token_path, "token");
}

#[test]
fn sa_token_discovers_projected_kube_api_access() {
    // case 28
    let pod = sa_pod(
        json!([projected("kube-api-access-4bfzq", Some("token"))]),
        json!([{"name": "kube-api-access-4bfzq", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]),
        None,
    );
    let spec = spec_of(&pod);
    assert_eq!(spec.service_account.volume_name, "kube-api-access-4bfzq");
    assert_eq!(
        spec.auth_method.config["token_path"],
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    );
}

#[test]
fn sa_token_named_mounted_volume_uses_its_path() {
    // case 29
    let pod = sa_pod(
        json!([projected("projected-token", Some("vault-token"))]),
        json!([{"name": "projected-token", "mountPath": "/var/run/secrets/special/serviceaccount"}]),
        Some("projected-token"),
    );
    let spec = spec_of(&pod);
    assert_eq!(
        spec.service_account.mount_path,
        "/var/run/secrets/special/serviceaccount"
    );
    assert_eq!(
        spec.auth_method.config["token_path"],
        "/var/run/secrets/special/serviceaccount/vault-token"
    );
}

#[test]
fn sa_token_named_unmounted_volume_uses_fallback_path_read_only() {
    // case 30; automountServiceAccountToken: false pods (vault-k8s#601)
    let pod = sa_pod(
        json!([projected("projected-token", Some("vault-token"))]),
        json!([]),
        Some("projected-token"),
    );
    let p = patched(&pod);
    for name in ["vault-agent", "vault-agent-init"] {
        let m = mounts(container(&p.pod, name));
        assert!(
            m.contains(&(
                "projected-token".into(),
                sa_token::FALLBACK_MOUNT_PATH.into(),
                true
            )),
            "{name}: {m:?}"
        );
    }
    assert_eq!(
        env_config(container(&p.pod, "vault-agent"))
            .auto_auth
            .method
            .config["token_path"],
        "/var/run/secrets/vault.hashicorp.com/serviceaccount/vault-token"
    );
}

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
    // -1s is a Go duration: the message says what is wrong with it.
    for (key, value) in [
        ("auth-min-backoff", "-1s"),
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

// === 4.11 handler op sequences ===

const BASIC_OPS: [&str; 8] = [
    "add /spec/volumes/-",
    "add /spec/volumes/-",
    "add /spec/volumes/-",
    "add /spec/containers/0/volumeMounts/-",
    "add /spec/initContainers/-",
    "add /spec/initContainers/0/volumeMounts/-",
    "add /spec/containers/-",
    "add /metadata/annotations/vault.hashicorp.com~1agent-inject-status",
];

#[test]
fn handler_basic_op_sequence() {
    // case 87 (the fixture has a volume, so every volume op appends)
    assert_eq!(ops(&patched(&handler_pod(&basic(&[]))).patch), BASIC_OPS);
}

#[test]
fn handler_copy_volume_mounts_op_sequence() {
    // case 94
    assert_eq!(
        ops(&patched(&handler_pod(&basic(&[("agent-copy-volume-mounts", "web-init")]))).patch),
        BASIC_OPS
    );
}

#[test]
fn handler_init_first_inserts_agent_at_index_zero() {
    // case 88: vault-k8s removes and re-adds all init containers; we insert at 0
    let p = patched(&handler_pod(&basic(&[("agent-init-first", "true")])));
    assert_eq!(
        ops(&p.patch),
        [
            "add /spec/volumes/-",
            "add /spec/volumes/-",
            "add /spec/volumes/-",
            "add /spec/containers/0/volumeMounts/-",
            "add /spec/initContainers/0",
            "add /spec/initContainers/1/volumeMounts/-",
            "add /spec/containers/-",
            "add /metadata/annotations/vault.hashicorp.com~1agent-inject-status",
        ]
    );
    let names: Vec<String> = p
        .pod
        .spec
        .unwrap()
        .init_containers
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["vault-agent-init", "web-init"]);
}

#[test]
fn handler_tls_secret_adds_volume() {
    // case 91
    let p = patched(&handler_pod(&basic(&[("tls-secret", "vault-tls")])));
    assert_eq!(ops(&p.patch)[..4], ["add /spec/volumes/-"; 4]);
    let spec = p.pod.spec.clone().unwrap();
    let tls = spec
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "vault-tls-secrets")
        .unwrap();
    assert_eq!(tls.secret.unwrap().secret_name.as_deref(), Some("vault-tls"));
    let m = mounts(container(&p.pod, "vault-agent"));
    assert!(m.contains(&("vault-tls-secrets".into(), "/vault/tls".into(), true)));
}

#[test]
fn handler_pre_populate_false_is_sidecar_only() {
    // case 92
    let p = patched(&handler_pod(&basic(&[
        ("tls-secret", "t"),
        ("agent-pre-populate", "false"),
    ])));
    assert_eq!(p.injection, InjectionType::SidecarOnly);
    assert_eq!(
        ops(&p.patch),
        [
            "add /spec/volumes/-",
            "add /spec/volumes/-",
            "add /spec/volumes/-",
            "add /spec/containers/0/volumeMounts/-",
            "add /spec/containers/-",
            "add /metadata/annotations/vault.hashicorp.com~1agent-inject-status",
        ]
    );
}

#[test]
fn handler_pre_populate_only_is_init_only() {
    // case 93
    let p = patched(&handler_pod(&basic(&[
        ("tls-secret", "t"),
        ("agent-pre-populate-only", "true"),
    ])));
    assert_eq!(p.injection, InjectionType::InitOnly);
    assert_eq!(
        ops(&p.patch),
        [
            "add /spec/volumes/-",
            "add /spec/volumes/-",
            "add /spec/volumes/-",
            "add /spec/containers/0/volumeMounts/-",
            "add /spec/initContainers/-",
            "add /spec/initContainers/0/volumeMounts/-",
            "add /metadata/annotations/vault.hashicorp.com~1agent-inject-status",
        ]
    );
}

#[test]
fn pre_populate_false_and_only_true_still_adds_init() {
    let p = patched(&handler_pod(&basic(&[
        ("agent-pre-populate", "false"),
        ("agent-pre-populate-only", "true"),
    ])));
    assert_eq!(p.injection, InjectionType::InitOnly);
    assert!(p.warnings.iter().any(|w| w.contains("agent-pre-populate-only")));
}

#[test]
fn handler_share_process_namespace_op() {
    // case 96
    let p = patched(&handler_pod(&basic(&[("agent-share-process-namespace", "true")])));
    let o = ops(&p.patch);
    assert_eq!(o[6], "add /spec/shareProcessNamespace");
    assert_eq!(o[7], "add /spec/containers/-");
    assert_eq!(p.pod.spec.unwrap().share_process_namespace, Some(true));
}

#[test]
fn share_process_namespace_honoured_without_pre_populate() {
    // §8 quirk fixed
    let p = patched(&handler_pod(&basic(&[
        ("agent-share-process-namespace", "true"),
        ("agent-pre-populate", "false"),
    ])));
    assert_eq!(p.pod.spec.unwrap().share_process_namespace, Some(true));
}

#[test]
fn share_process_namespace_refuses_explicitly_disabled_pod() {
    let mut pod = handler_pod(&basic(&[("agent-share-process-namespace", "true")]));
    pod.spec.as_mut().unwrap().share_process_namespace = Some(false);
    let message = parse_err(&pod);
    assert!(
        message.contains("shareProcessNamespace is explicitly disabled on the pod"),
        "{message}"
    );
}

#[test]
fn share_process_namespace_rejects_bad_bool() {
    let message = parse_err(&handler_pod(&basic(&[(
        "agent-share-process-namespace",
        "fAlSe",
    )])));
    assert!(message.contains("agent-share-process-namespace"), "{message}");
}

#[test]
fn pod_without_annotations_map_gets_one() {
    // status annotation added as a whole map when none exists: impossible via decide (agent-inject
    // is an annotation), so exercise patch::build directly.
    let pod = handler_pod(&basic(&[]));
    let spec = spec_of(&pod);
    let mut bare = pod.clone();
    bare.metadata.annotations = None;
    let patch = patch::build(&bare, &spec, &config::build(&spec)).unwrap();
    assert_eq!(ops(&patch).last().unwrap(), "add /metadata/annotations");
    let out = apply(&bare, &patch);
    assert_eq!(
        out.metadata.annotations.unwrap()[annotations::STATUS_KEY],
        "injected"
    );
}

#[test]
fn pod_without_volumes_gets_the_array_created_once() {
    // §2.7 fixed: vault-k8s emits `add /spec/volumes` three times on such pods
    let p = patched(&test_pod(&basic(&[
        ("agent-inject-secret-a", "p"),
        ("secret-volume-path-a", "/x"),
    ])));
    let o = ops(&p.patch);
    assert_eq!(o.iter().filter(|x| *x == "add /spec/volumes").count(), 1, "{o:?}");
    assert_eq!(p.pod.spec.unwrap().volumes.unwrap().len(), 4);
}

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
fn unsupported_annotations_warn() {
    for key in [
        "agent-cache-enable",
        "agent-enable-quit",
        "agent-telemetry-prometheus_retention_time",
        "agent-disable-keep-alives",
    ] {
        let p = patched(&handler_pod(&basic(&[(key, "x")])));
        let expected =
            format!("vault.hashicorp.com/{key} is not supported by ferrovault yet and was ignored");
        assert!(p.warnings.contains(&expected), "{:?}", p.warnings);
    }
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
    let message = parse_err(&handler_pod(&basic(&[("agent-configmap", "my-config")])));
    assert!(
        message.contains("vault.hashicorp.com/agent-configmap") && message.contains("without its secrets"),
        "{message}"
    );
    for kind in ["aws", "gcp", "azure", "cert", "token", "nope"] {
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

// === native sidecars and Jobs ===

fn native_defaults(wanted: bool, supported: bool) -> InjectorDefaults {
    InjectorDefaults {
        native_sidecar: wanted,
        native_sidecar_supported: supported,
        ..defaults()
    }
}

fn decide_with(pod: &Pod, d: &InjectorDefaults) -> Decision {
    decide("test", pod, d)
}

#[test]
fn native_sidecar_is_one_restartable_init_container() {
    let pod = handler_pod(&basic(&[("ferrovault.dev/native-sidecar", "true")]));
    let Decision::Patch { patch, injection, .. } = decide_with(&pod, &native_defaults(false, true)) else {
        panic!("expected patch");
    };
    assert_eq!(injection, InjectionType::NativeSidecar);
    let out = apply(&pod, &patch);
    assert!(!has_container(&out, "vault-agent-init"));
    let spec = out.spec.as_ref().unwrap();
    assert!(spec.containers.iter().all(|c| c.name != "vault-agent"));
    assert!(spec.volumes.iter().flatten().all(|v| v.name != "home-init"));
    let agent = container(&out, "vault-agent");
    assert_eq!(agent.restart_policy.as_deref(), Some("Always"));
    assert_eq!(agent.args.as_deref(), Some(&["native".to_owned()][..]));
    let probe = agent.startup_probe.as_ref().unwrap();
    assert_eq!(
        probe.exec.as_ref().unwrap().command.as_deref(),
        Some(&["/ferrovault-agent".to_owned(), "ready".to_owned()][..])
    );
    assert_eq!(probe.period_seconds, Some(1));
    assert!(mounts(agent).contains(&("home-sidecar".into(), "/home/vault".into(), false)));
    // the pod's own init container (before the agent) still gets the mounts
    assert!(
        mounts(container(&out, "web-init"))
            .iter()
            .any(|m| m.0 == "vault-secrets")
    );
}

#[test]
fn native_sidecar_default_and_opt_out() {
    let pod = handler_pod(&basic(&[]));
    let injection = |pod: &Pod, d: &InjectorDefaults| match decide_with(pod, d) {
        Decision::Patch { injection, .. } => injection,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        injection(&pod, &native_defaults(true, true)),
        InjectionType::NativeSidecar
    );
    let opt_out = handler_pod(&basic(&[("ferrovault.dev/native-sidecar", "false")]));
    assert_eq!(
        injection(&opt_out, &native_defaults(true, true)),
        InjectionType::InitAndSidecar
    );
    assert_eq!(
        injection(&pod, &native_defaults(false, true)),
        InjectionType::InitAndSidecar
    );
}

#[test]
fn native_sidecar_unsupported_is_denied() {
    let pod = handler_pod(&basic(&[("ferrovault.dev/native-sidecar", "true")]));
    let message = deny_message(decide_with(&pod, &native_defaults(false, false)));
    assert!(message.contains("ferrovault.dev/native-sidecar"), "{message}");
    assert!(message.contains("1.29"), "{message}");
    let bad = handler_pod(&basic(&[("ferrovault.dev/native-sidecar", "maybe")]));
    let message = deny_message(decide_with(&bad, &native_defaults(false, true)));
    assert!(
        message.contains("ferrovault.dev/native-sidecar") && message.contains("\"maybe\""),
        "{message}"
    );
}

fn job_pod(annotations: &[(&str, &str)]) -> Pod {
    let mut pod = handler_pod(&basic(annotations));
    pod.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: "migrate".into(),
            uid: "1234".into(),
            controller: Some(true),
            ..Default::default()
        },
    ]);
    pod
}

#[test]
fn job_pods_never_get_a_classic_sidecar() {
    for (d, expected) in [
        (native_defaults(false, true), InjectionType::NativeSidecar),
        (native_defaults(true, true), InjectionType::NativeSidecar),
        (native_defaults(false, false), InjectionType::InitOnly),
    ] {
        match decide_with(&job_pod(&[]), &d) {
            Decision::Patch {
                injection, warnings, ..
            } => {
                assert_eq!(injection, expected);
                assert!(warnings.iter().any(|w| w.contains("Job")), "{warnings:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    // explicit opt-out of native sidecars: init only, still no sidecar
    match decide_with(
        &job_pod(&[("ferrovault.dev/native-sidecar", "false")]),
        &native_defaults(true, true),
    ) {
        Decision::Patch { injection, .. } => assert_eq!(injection, InjectionType::InitOnly),
        other => panic!("{other:?}"),
    }
}

// === templates at admission ===

const BROKEN_TEMPLATE: &str = "{{ with secret \"secret/x\" }}{{ .Data.password ";

#[test]
fn broken_template_warns() {
    let p = patched(&handler_pod(&basic(&[(
        "agent-inject-template-db",
        BROKEN_TEMPLATE,
    )])));
    assert!(
        p.warnings
            .iter()
            .any(|w| w
                .starts_with("template for secret \"db\" (vault.hashicorp.com/agent-inject-template-db): ")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn broken_template_denies_in_strict_mode() {
    let message = deny_message(decide_on(&handler_pod(&basic(&[
        ("agent-inject-template-db", BROKEN_TEMPLATE),
        ("ferrovault.dev/strict", "true"),
    ]))));
    assert!(message.starts_with("template for secret \"db\""), "{message}");
}

#[test]
fn messages_never_contain_template_bodies_or_secret_values() {
    const MARKER: &str = "S3CR3T-MARKER-4f1c9a";
    let bodies = [
        format!("{{{{ with secret \"secret/x\" }}}}{MARKER}{{{{ .Data.password "),
        format!("{MARKER} {{{{ {MARKER} }}}}"),
        format!("{{{{ {MARKER}"),
        format!("{{{{ with secret \"{MARKER}\" }}}}{{{{ .Data.x }}}}{{{{ end }}}}"),
        format!("{{{{ {MARKER} | {MARKER} }}}}"),
        format!("{{{{ end }}}}{MARKER}{MARKER}{MARKER}"),
    ];
    let breakers: [(&str, &str); 5] = [
        ("ferrovault.dev/strict", "true"),
        (
            "agent-json-patch",
            "[{\"op\":\"add\",\"path\":\"/env/-\",\"value\":{\"name\":\"S3CR3T-MARKER-4f1c9a\"}},{\"op\":\"bogus\"}]",
        ),
        (
            "agent-init-json-patch",
            "[{\"op\":\"test\",\"path\":\"/name\",\"value\":\"S3CR3T-MARKER-4f1c9a\"}]",
        ),
        ("agent-json-patch", "S3CR3T-MARKER-4f1c9a"),
        ("agent-inject-containers", "web"),
    ];
    let mut seen = 0;
    for body in &bodies {
        for breaker in breakers {
            let pod = handler_pod(&basic(&[
                ("agent-inject-template-db", body),
                ("auth-config-secret-id", MARKER),
                ("agent-inject-command-db", MARKER),
                breaker,
            ]));
            let texts: Vec<String> = match decide_on(&pod) {
                Decision::Deny { message } => vec![message],
                Decision::Patch { warnings, audit, .. } => {
                    warnings.into_iter().chain(audit.into_values()).collect()
                }
                Decision::Skip { .. } => panic!("skip"),
            };
            for t in texts {
                seen += 1;
                assert!(!t.contains(MARKER), "leaked in {t:?}");
            }
        }
    }
    assert!(seen > 0);
}

// === golden patches ===

#[test]
fn golden_patches() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".pod.yaml"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 4, "golden inputs missing in {dir:?}");
    for input in inputs {
        let case: GoldenCase = serde_yaml::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        let d = InjectorDefaults {
            native_sidecar: case.native_sidecar,
            native_sidecar_supported: case.native_sidecar_supported,
            ..defaults()
        };
        let Decision::Patch {
            patch,
            audit,
            injection,
            ..
        } = decide(&case.namespace, &case.pod, &d)
        else {
            panic!("{input:?}: expected a patch");
        };
        let out = apply(&case.pod, &patch);
        assert!(matches!(decide(&case.namespace, &out, &d), Decision::Skip { .. }));
        let config = out
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .chain(out.spec.as_ref().unwrap().init_containers.iter().flatten())
            .find(|c| c.name.starts_with("vault-agent"))
            .map(env_config)
            .unwrap();
        let actual = serde_json::to_string_pretty(&json!({
            "injection": injection.label(),
            "audit": audit,
            "patch": patch,
            "agent_config": config,
        }))
        .unwrap()
            + "\n";
        let golden = input.with_file_name(
            input
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".pod.yaml", ".golden.json"),
        );
        if update {
            std::fs::write(&golden, &actual).unwrap();
        } else {
            let expected = std::fs::read_to_string(&golden)
                .unwrap_or_else(|_| panic!("{golden:?} missing: run with UPDATE_GOLDEN=1"));
            assert_eq!(
                actual, expected,
                "{golden:?} differs: run with UPDATE_GOLDEN=1 and review the diff"
            );
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoldenCase {
    namespace: String,
    #[serde(default)]
    native_sidecar: bool,
    #[serde(default)]
    native_sidecar_supported: bool,
    pod: Pod,
}
