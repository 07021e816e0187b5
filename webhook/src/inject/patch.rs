//! [`InjectionSpec`] → RFC 6902 patch (vault-k8s §2.7), deterministic and correct on any pod.
//!
//! vault-k8s decides between `add <array> [x]` and `add <array>/- x` by looking at the *original* pod
//! each time, so two appends to an absent array emit two `add <array>`, the second replacing the
//! first. Here the length of every array the patch touches is tracked as operations are emitted, so
//! the first append to an absent or empty array creates it and later ones use `/-`.
//!
//! Every value is serialised once, straight from its typed `k8s_openapi` object into JSON text
//! ([`RawValue`]): no `serde_json::Value` tree is built, copied, serialised again and dropped on the
//! admission path (issue #14). Only an agent container that `agent-json-patch` changes goes through a
//! `Value`, to apply that patch.

use std::collections::HashMap;

use ferrovault_contract::AgentConfig;
use json_patch::jsonptr::PointerBuf;
use k8s_openapi::api::core::v1::{Container, EmptyDirVolumeSource, Pod, SecretVolumeSource, Volume};
use serde::ser::{SerializeMap as _, SerializeSeq as _};
use serde_json::value::RawValue;

use super::annotations::STATUS_KEY;
pub use super::container::raw;
use super::container::{self, AgentRole};
use super::decision::InjectionType;
use super::error::InjectError;
use super::spec::InjectionSpec;

/// One `add` operation, its value already JSON text.
#[derive(Debug, Clone)]
pub struct AddOp {
    /// Where.
    pub path: PointerBuf,
    /// What, serialised.
    pub value: Box<RawValue>,
}

/// The RFC 6902 patch the webhook answers with: `add` operations only, values pre-serialised.
/// Serialises (and so compares, and converts with [`PodPatch::to_json_patch`]) as the standard
/// patch document.
#[derive(Debug, Clone, Default)]
pub struct PodPatch(pub Vec<AddOp>);

impl PodPatch {
    /// The patch document as JSON bytes (what `AdmissionResponse.patch` carries).
    pub fn to_bytes(&self) -> Vec<u8> {
        let size = self
            .0
            .iter()
            .map(|op| op.path.as_str().len() + op.value.get().len() + 32)
            .sum::<usize>();
        let mut out = Vec::with_capacity(size + 2);
        serde_json::to_writer(&mut out, self).expect("a patch always serialises");
        out
    }

    /// The same patch as `json_patch` operations (to apply it: tests, the `inject` CLI, fuzzing).
    pub fn to_json_patch(&self) -> json_patch::Patch {
        serde_json::from_slice(&self.to_bytes()).expect("a patch reads back as RFC 6902")
    }
}

impl PartialEq for PodPatch {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| a.path == b.path && a.value.get() == b.value.get())
    }
}

impl serde::Serialize for PodPatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Op<'a>(&'a AddOp);
        impl serde::Serialize for Op<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("op", "add")?;
                map.serialize_entry("path", self.0.path.as_str())?;
                map.serialize_entry("value", &self.0.value)?;
                map.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for op in &self.0 {
            seq.serialize_element(&Op(op))?;
        }
        seq.end()
    }
}

/// Accumulates operations, tracking the length of each array they touch (no copy of the pod).
#[derive(Debug, Default)]
pub struct PatchBuilder {
    lens: HashMap<PointerBuf, usize>,
    ops: Vec<AddOp>,
}

impl PatchBuilder {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// `add` at `path` (tokens, unescaped).
    pub fn add(&mut self, path: &[&str], value: Box<RawValue>) {
        let path = PointerBuf::from_tokens(path.iter().copied());
        self.ops.push(AddOp { path, value });
    }

    /// Inserts `value` at `index` of the array at `path`, which had `original_len` items in the pod.
    pub fn insert(&mut self, path: &[&str], original_len: usize, index: usize, value: Box<RawValue>) {
        *self.len_mut(path, original_len) += 1;
        let index = index.to_string();
        let mut at = path.to_vec();
        at.push(&index);
        self.add(&at, value);
    }

    /// Appends `value` to the array at `path`, which had `original_len` items in the pod: the first
    /// append to an absent or empty array creates it, later ones use `/-`.
    pub fn append(&mut self, path: &[&str], original_len: usize, value: Box<RawValue>) {
        let len = self.len_mut(path, original_len);
        let was_empty = *len == 0;
        *len += 1;
        if was_empty {
            self.add(path, raw(&[&*value]));
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
    pub fn finish(self) -> PodPatch {
        PodPatch(self.ops)
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

fn env_len(c: &Container) -> usize {
    c.env.as_ref().map_or(0, Vec::len)
}

fn memory_volume(name: &str) -> Box<RawValue> {
    raw(&Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn secret_volume(name: &str, secret: &str) -> Box<RawValue> {
    raw(&Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn config_map_volume(name: &str) -> Box<RawValue> {
    raw(&Volume {
        name: super::names::CONFIG_VOLUME.to_owned(),
        config_map: Some(k8s_openapi::api::core::v1::ConfigMapVolumeSource {
            name: name.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Builds the patch. Fails only when `agent-json-patch`/`agent-init-json-patch` do not apply.
pub fn build(pod: &Pod, spec: &InjectionSpec, config: &AgentConfig) -> Result<PodPatch, InjectError> {
    let config_env = config.encode_env();
    let injection = spec.injection;
    let native = injection == InjectionType::NativeSidecar;
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
    if let Some(name) = &spec.config_map {
        b.append(&volumes, volumes_len, config_map_volume(name));
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
    if spec.agent_api.persistent(spec.injection) {
        b.append(&volumes, volumes_len, memory_volume(container::CACHE_VOLUME));
    }

    // 7. Secrets mounts in the selected app containers.
    let app_mounts: Vec<Box<RawValue>> = container::app_mounts(spec).iter().map(raw).collect();
    // 7b. Env vars read from env files by the kubelet (`ferrovault.dev/env-<secret>`).
    let app_env: Vec<Box<RawValue>> =
        super::env_reload::env_vars(&spec.secrets, &spec.secret_volume_path, &spec.custom_volume_paths)
            .iter()
            .map(raw)
            .collect();
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
            for e in &app_env {
                b.append(&["spec", "containers", &i, "env"], env_len(c), e.clone());
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
        b.add(&["spec", "shareProcessNamespace"], raw(&share));
    }

    // 9. The classic sidecar.
    if injection.has_sidecar() {
        let sidecar = container::agent_json(spec, AgentRole::Sidecar, &config_env)?;
        b.append(&["spec", "containers"], containers.len(), sidecar);
    }

    // 10. The status annotation.
    if pod.metadata.annotations.is_some() {
        b.add(&["metadata", "annotations", STATUS_KEY], raw("injected"));
    } else {
        b.add(
            &["metadata", "annotations"],
            raw(&std::collections::BTreeMap::from([(STATUS_KEY, "injected")])),
        );
    }
    Ok(b.finish())
}
