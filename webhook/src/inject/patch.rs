//! [`InjectionSpec`] → RFC 6902 patch (vault-k8s §2.7), deterministic and correct on any pod.
//!
//! vault-k8s decides between `add <array> [x]` and `add <array>/- x` by looking at the *original* pod
//! each time, so two appends to an absent array emit two `add <array>`, the second replacing the
//! first. Here every operation is applied to a working copy of the pod as it is emitted, so the
//! first append to an absent or empty array creates it and later ones use `/-`.

use ferrovault_contract::AgentConfig;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Pod, SecretVolumeSource, Volume};
use serde_json::{Value, json};

use super::InjectError;
use super::annotations::STATUS_KEY;
use super::container::{self, AgentRole};
use super::spec::InjectionSpec;

/// Accumulates operations and keeps a copy of the pod with them applied.
#[derive(Debug)]
pub struct PatchBuilder {
    doc: Value,
    ops: Vec<PatchOperation>,
}

impl PatchBuilder {
    /// Starts from `pod`.
    pub fn new(pod: &Pod) -> Self {
        Self {
            doc: serde_json::to_value(pod).expect("a Pod always serialises"),
            ops: Vec::new(),
        }
    }

    /// The pod with every operation so far applied.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// `add` at `path` (tokens, unescaped).
    pub fn add(&mut self, path: &[&str], value: Value) {
        let path = PointerBuf::from_tokens(path.iter().copied());
        self.push(PatchOperation::Add(AddOperation { path, value }));
    }

    /// Appends `value` to the array at `path`, creating it when absent or empty.
    pub fn append(&mut self, path: &[&str], value: Value) {
        let pointer = PointerBuf::from_tokens(path.iter().copied());
        let non_empty = self
            .doc
            .pointer(pointer.as_str())
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if non_empty {
            let mut with_end = path.to_vec();
            with_end.push("-");
            self.add(&with_end, value);
        } else {
            self.add(path, Value::Array(vec![value]));
        }
    }

    /// Finishes.
    pub fn finish(self) -> Patch {
        Patch(self.ops)
    }

    fn push(&mut self, op: PatchOperation) {
        json_patch::patch(&mut self.doc, std::slice::from_ref(&op))
            .expect("ops are built against the working document");
        self.ops.push(op);
    }

    fn len(&self, path: &str) -> usize {
        self.doc
            .pointer(path)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }
}

fn memory_volume(name: &str) -> Value {
    to_value(&Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn secret_volume(name: &str, secret: &str) -> Value {
    to_value(&Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("k8s objects always serialise")
}

/// Builds the patch. Fails only when `agent-json-patch`/`agent-init-json-patch` do not apply.
pub fn build(pod: &Pod, spec: &InjectionSpec, config: &AgentConfig) -> Result<Patch, InjectError> {
    let config_env = config.encode_env();
    let injection = spec.injection;
    let native = injection == super::InjectionType::NativeSidecar;
    let mut b = PatchBuilder::new(pod);
    let volumes = ["spec", "volumes"];

    // 1–5. Volumes.
    if injection.has_init() {
        b.append(&volumes, memory_volume(container::HOME_INIT_VOLUME));
    }
    if injection.has_sidecar() || native {
        b.append(&volumes, memory_volume(container::HOME_SIDECAR_VOLUME));
    }
    b.append(&volumes, memory_volume(container::SECRETS_VOLUME));
    for i in 0..spec.custom_volume_paths.len() {
        b.append(&volumes, memory_volume(&container::custom_volume_name(i)));
    }
    if let Some(secret) = &spec.extra_secret {
        b.append(&volumes, secret_volume(container::EXTRA_SECRETS_VOLUME, secret));
    }
    if let Some(secret) = &spec.tls_secret {
        b.append(&volumes, secret_volume(container::TLS_VOLUME, secret));
    }

    // 7. Secrets mounts in the selected app containers.
    let app_mounts: Vec<Value> = container::app_mounts(spec).iter().map(to_value).collect();
    let containers = pod.spec.as_ref().map(|s| &s.containers[..]).unwrap_or(&[]);
    for (i, c) in containers.iter().enumerate() {
        if spec.app_containers.contains(&c.name) {
            let i = i.to_string();
            for m in &app_mounts {
                b.append(&["spec", "containers", &i, "volumeMounts"], m.clone());
            }
        }
    }

    // 8. The init agent (classic or native), then mounts into the pod's own init containers.
    let init_agent = if native {
        Some(container::agent_json(spec, AgentRole::Native, &config_env)?)
    } else if injection.has_init() {
        Some(container::agent_json(spec, AgentRole::Init, &config_env)?)
    } else {
        None
    };
    if let Some(agent) = init_agent {
        let own_init = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .map_or(0, Vec::len);
        if spec.init_first && own_init > 0 {
            b.add(&["spec", "initContainers", "0"], agent);
        } else {
            b.append(&["spec", "initContainers"], agent);
        }
        let agent_index = if spec.init_first { 0 } else { own_init };
        for i in 0..b.len("/spec/initContainers") {
            if i == agent_index {
                continue;
            }
            let i = i.to_string();
            for m in &app_mounts {
                b.append(&["spec", "initContainers", &i, "volumeMounts"], m.clone());
            }
        }
    }
    if let Some(share) = spec.share_process_namespace {
        b.add(&["spec", "shareProcessNamespace"], Value::Bool(share));
    }

    // 9. The classic sidecar.
    if injection.has_sidecar() {
        let sidecar = container::agent_json(spec, AgentRole::Sidecar, &config_env)?;
        b.append(&["spec", "containers"], sidecar);
    }

    // 10. The status annotation.
    if b.doc().pointer("/metadata/annotations").is_some() {
        b.add(&["metadata", "annotations", STATUS_KEY], json!("injected"));
    } else {
        b.add(&["metadata", "annotations"], json!({ STATUS_KEY: "injected" }));
    }
    Ok(b.finish())
}
