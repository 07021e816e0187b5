//! [`InjectionSpec`] → RFC 6902 patch (vault-k8s §2.7), deterministic and correct on any pod.
//!
//! vault-k8s decides between `add <array> [x]` and `add <array>/- x` by looking at the *original* pod
//! each time, so two appends to an absent array emit two `add <array>`, the second replacing the
//! first. Here the length of every array the patch touches is tracked as operations are emitted, so
//! the first append to an absent or empty array creates it and later ones use `/-`.

use std::collections::HashMap;

use ferrovault_contract::AgentConfig;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{Container, EmptyDirVolumeSource, Pod, SecretVolumeSource, Volume};
use serde_json::{Value, json};

use super::annotations::STATUS_KEY;
use super::container::{self, AgentRole};
use super::error::InjectError;
use super::spec::InjectionSpec;

/// Accumulates operations, tracking the length of each array they touch (no copy of the pod).
#[derive(Debug, Default)]
pub struct PatchBuilder {
    lens: HashMap<PointerBuf, usize>,
    ops: Vec<PatchOperation>,
}

impl PatchBuilder {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// `add` at `path` (tokens, unescaped).
    pub fn add(&mut self, path: &[&str], value: Value) {
        let path = PointerBuf::from_tokens(path.iter().copied());
        self.ops.push(PatchOperation::Add(AddOperation { path, value }));
    }

    /// Inserts `value` at `index` of the array at `path`, which had `original_len` items in the pod.
    pub fn insert(&mut self, path: &[&str], original_len: usize, index: usize, value: Value) {
        *self.len_mut(path, original_len) += 1;
        let index = index.to_string();
        let mut at = path.to_vec();
        at.push(&index);
        self.add(&at, value);
    }

    /// Appends `value` to the array at `path`, which had `original_len` items in the pod: the first
    /// append to an absent or empty array creates it, later ones use `/-`.
    pub fn append(&mut self, path: &[&str], original_len: usize, value: Value) {
        let len = self.len_mut(path, original_len);
        let was_empty = *len == 0;
        *len += 1;
        if was_empty {
            self.add(path, Value::Array(vec![value]));
        } else {
            let mut with_end = path.to_vec();
            with_end.push("-");
            self.add(&with_end, value);
        }
    }

    /// The current length of the array at `path`, which had `original_len` items in the pod.
    pub fn len(&self, path: &[&str], original_len: usize) -> usize {
        let key = PointerBuf::from_tokens(path.iter().copied());
        self.lens.get(&key).copied().unwrap_or(original_len)
    }

    /// Finishes.
    pub fn finish(self) -> Patch {
        Patch(self.ops)
    }

    fn len_mut(&mut self, path: &[&str], original_len: usize) -> &mut usize {
        self.lens
            .entry(PointerBuf::from_tokens(path.iter().copied()))
            .or_insert(original_len)
    }
}

fn mounts_len(c: &Container) -> usize {
    c.volume_mounts.as_ref().map_or(0, Vec::len)
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
    let pod_spec = pod.spec.as_ref();
    let containers = pod_spec.map(|s| &s.containers[..]).unwrap_or(&[]);
    let own_init: &[Container] = pod_spec.and_then(|s| s.init_containers.as_deref()).unwrap_or(&[]);
    let volumes_len = pod_spec.and_then(|s| s.volumes.as_ref()).map_or(0, Vec::len);
    let mut b = PatchBuilder::new();
    let volumes = ["spec", "volumes"];

    // 1–5. Volumes.
    if injection.has_init() {
        b.append(&volumes, volumes_len, memory_volume(container::HOME_INIT_VOLUME));
    }
    if injection.has_sidecar() || native {
        b.append(
            &volumes,
            volumes_len,
            memory_volume(container::HOME_SIDECAR_VOLUME),
        );
    }
    b.append(&volumes, volumes_len, memory_volume(container::SECRETS_VOLUME));
    for i in 0..spec.custom_volume_paths.len() {
        b.append(
            &volumes,
            volumes_len,
            memory_volume(&container::custom_volume_name(i)),
        );
    }
    if let Some(secret) = &spec.extra_secret {
        b.append(
            &volumes,
            volumes_len,
            secret_volume(container::EXTRA_SECRETS_VOLUME, secret),
        );
    }
    if let Some(secret) = &spec.tls_secret {
        b.append(
            &volumes,
            volumes_len,
            secret_volume(container::TLS_VOLUME, secret),
        );
    }

    // 7. Secrets mounts in the selected app containers.
    let app_mounts: Vec<Value> = container::app_mounts(spec).iter().map(to_value).collect();
    for (i, c) in containers.iter().enumerate() {
        if spec.app_containers.contains(&c.name) {
            let i = i.to_string();
            for m in &app_mounts {
                b.append(
                    &["spec", "containers", &i, "volumeMounts"],
                    mounts_len(c),
                    m.clone(),
                );
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
        let init_path = ["spec", "initContainers"];
        let first = spec.init_first && !own_init.is_empty();
        if first {
            b.insert(&init_path, own_init.len(), 0, agent);
        } else {
            b.append(&init_path, own_init.len(), agent);
        }
        // the pod's own init containers, at their index in the patched array
        let shifted = own_init
            .iter()
            .enumerate()
            .map(|(i, c)| (if first { i + 1 } else { i }, c));
        for (i, c) in shifted {
            let i = i.to_string();
            for m in &app_mounts {
                b.append(
                    &["spec", "initContainers", &i, "volumeMounts"],
                    mounts_len(c),
                    m.clone(),
                );
            }
        }
    }
    if let Some(share) = spec.share_process_namespace {
        b.add(&["spec", "shareProcessNamespace"], Value::Bool(share));
    }

    // 9. The classic sidecar.
    if injection.has_sidecar() {
        let sidecar = container::agent_json(spec, AgentRole::Sidecar, &config_env)?;
        b.append(&["spec", "containers"], containers.len(), sidecar);
    }

    // 10. The status annotation.
    if pod.metadata.annotations.is_some() {
        b.add(&["metadata", "annotations", STATUS_KEY], json!("injected"));
    } else {
        b.add(&["metadata", "annotations"], json!({ STATUS_KEY: "injected" }));
    }
    Ok(b.finish())
}
