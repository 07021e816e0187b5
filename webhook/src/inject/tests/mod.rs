//! Table-driven tests of the mutation logic, after vault-k8s' own suite (reference §4, case numbers
//! in comments). Where vault-k8s' expected op lists encode its array bug (§2.7: a second
//! `add /spec/volumes` replacing the first), ours expect `add /spec/volumes` then `/-`.

use std::collections::BTreeMap;

use ferrovault_contract::AgentConfig;
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

use super::spec::{self, InjectionSpec};
use super::*;

mod agent_config;
mod catalogue;
mod configmap;
mod containers;
mod env_reload;
mod golden;
mod handler;
mod listener;
mod per_secret;
mod should_inject;
mod templates;
mod values;
mod warnings;

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
