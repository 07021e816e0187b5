//! The handler's op sequences (§4.11), native sidecars and Job pods.

use super::*;

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
