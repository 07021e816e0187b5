//! Whether to inject (reference §4.1), the checks every pod must pass (§4.2) and the
//! service-account token discovery (§4.3).

use super::*;

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
