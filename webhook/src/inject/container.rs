//! The agent containers (vault-k8s §2.3–2.4), built as `k8s_openapi` objects.
//!
//! Our image has no shell: the containers run `/ferrovault-agent <mode>` directly and read their
//! config from the environment. Token revocation on shutdown is done by the agent on SIGTERM, so no
//! `lifecycle.preStop` is emitted.

use std::collections::BTreeMap;

use ferrovault_contract::{AGENT_CONFIG_ENV, AGENT_HOME};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, EnvVarSource, ExecAction, ObjectFieldSelector, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Deserialize as _;

use super::catalogue;
use super::error::InjectError;
use super::spec::{AgentResources, InjectionSpec, RunAs};

pub use super::names::{
    AGENT_BINARY, CACHE_PATH, CACHE_VOLUME, EXTRA_SECRETS_PATH, EXTRA_SECRETS_VOLUME, HOME_INIT_VOLUME,
    HOME_SIDECAR_VOLUME, INIT_NAME, NATIVE_STARTUP_FAILURE_THRESHOLD, SECRETS_VOLUME, SIDECAR_NAME, TLS_PATH,
    TLS_VOLUME, custom_volume_name,
};

/// `value` (a Kubernetes object) as JSON text, for a patch operation's value.
pub fn raw<T: serde::Serialize + ?Sized>(value: &T) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(value).expect("k8s objects always serialise")
}

/// Which agent container to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentRole {
    /// `vault-agent-init`: render once, then exit.
    Init,
    /// `vault-agent`: the classic sidecar.
    Sidecar,
    /// `vault-agent` as an init container with `restartPolicy: Always`.
    Native,
}

impl AgentRole {
    /// The container's argument.
    pub fn arg(self) -> &'static str {
        match self {
            AgentRole::Init => "init",
            AgentRole::Sidecar => "sidecar",
            AgentRole::Native => "native",
        }
    }
}

/// Builds an agent container. `config_env` is `AgentConfig::encode_env()`.
pub fn agent(spec: &InjectionSpec, role: AgentRole, config_env: &str) -> Container {
    let (name, home) = match role {
        AgentRole::Init => (INIT_NAME, HOME_INIT_VOLUME),
        AgentRole::Sidecar | AgentRole::Native => (SIDECAR_NAME, HOME_SIDECAR_VOLUME),
    };
    let native = role == AgentRole::Native;
    Container {
        name: name.to_owned(),
        image: Some(spec.image.clone()),
        command: Some(vec![AGENT_BINARY.to_owned()]),
        args: Some(vec![role.arg().to_owned()]),
        env: Some(env(config_env)),
        resources: resources(&spec.resources),
        volume_mounts: Some(agent_mounts(spec, role, home)),
        security_context: spec.run_as.map(security_context),
        restart_policy: native.then(|| "Always".to_owned()),
        startup_probe: native.then(|| Probe {
            exec: Some(ExecAction {
                command: Some(vec![AGENT_BINARY.to_owned(), "ready".to_owned()]),
            }),
            period_seconds: Some(1),
            failure_threshold: Some(NATIVE_STARTUP_FAILURE_THRESHOLD),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The agent container as JSON text, with `agent-json-patch`/`agent-init-json-patch` applied.
pub fn agent_json(
    spec: &InjectionSpec,
    role: AgentRole,
    config_env: &str,
) -> Result<Box<serde_json::value::RawValue>, InjectError> {
    let container = agent(spec, role, config_env);
    let (patch, entry) = match role {
        AgentRole::Init => (&spec.init_json_patch, &catalogue::INIT_JSON_PATCH),
        AgentRole::Sidecar | AgentRole::Native => (&spec.json_patch, &catalogue::JSON_PATCH),
    };
    let Some(patch) = patch else {
        // The common case: straight from the typed container to JSON text.
        return Ok(raw(&container));
    };
    let mut value = serde_json::to_value(&container).expect("a Container always serialises");
    let key = catalogue::Name::from(entry).key();
    json_patch::patch(&mut value, &patch.0).map_err(|err| InjectError::JsonPatch {
        key: key.clone(),
        detail: format!(
            "operation {} (path {:?}) does not apply to the {} container: {}",
            err.operation,
            err.path.as_str(),
            role.arg(),
            err.kind
        ),
    })?;
    if let Err(err) = Container::deserialize(&value) {
        return Err(InjectError::JsonPatch {
            key,
            detail: format!(
                "the patched {} container is not a valid Kubernetes container ({})",
                role.arg(),
                classify(&err)
            ),
        });
    }
    Ok(raw(&value))
}

fn classify(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Data => "a field has the wrong type or a required field is missing",
        _ => "not a JSON object",
    }
}

fn env(config_env: &str) -> Vec<EnvVar> {
    let field = |name: &str, path: &str| EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let value = |name: &str, value: &str| EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..Default::default()
    };
    let mut env = vec![
        field("NAMESPACE", "metadata.namespace"),
        field("HOST_IP", "status.hostIP"),
        field("POD_IP", "status.podIP"),
    ];
    env.push(value(AGENT_CONFIG_ENV, config_env));
    env
}

fn resources(r: &AgentResources) -> Option<ResourceRequirements> {
    let map = |entries: [(&str, &Option<String>); 3]| {
        let map: BTreeMap<String, Quantity> = entries
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), Quantity(v.clone()))))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    let limits = map([
        ("cpu", &r.cpu_limit),
        ("memory", &r.memory_limit),
        ("ephemeral-storage", &r.ephemeral_limit),
    ]);
    let requests = map([
        ("cpu", &r.cpu_request),
        ("memory", &r.memory_request),
        ("ephemeral-storage", &r.ephemeral_request),
    ]);
    (limits.is_some() || requests.is_some()).then(|| ResourceRequirements {
        limits,
        requests,
        ..Default::default()
    })
}

/// The agents' securityContext: vault-k8s' plus `seccompProfile: RuntimeDefault`, and
/// `runAsNonRoot` only depending on the uid.
pub fn security_context(run_as: RunAs) -> SecurityContext {
    SecurityContext {
        run_as_user: Some(run_as.user),
        run_as_group: Some(run_as.group),
        run_as_non_root: Some(run_as.user != 0),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// The secrets mounts of an app (or the pod's own init) container.
pub fn app_mounts(spec: &InjectionSpec) -> Vec<VolumeMount> {
    let ro = spec.secrets_read_only;
    let mut mounts = vec![VolumeMount {
        read_only: Some(ro),
        ..mount(SECRETS_VOLUME, &spec.secret_volume_path, ro)
    }];
    for (i, path) in spec.custom_volume_paths.iter().enumerate() {
        mounts.push(VolumeMount {
            read_only: Some(ro),
            ..mount(&custom_volume_name(i), path, ro)
        });
    }
    mounts
}

fn agent_mounts(spec: &InjectionSpec, role: AgentRole, home: &str) -> Vec<VolumeMount> {
    let sa = &spec.service_account;
    let sa_mount = mount(&sa.volume_name, &sa.mount_path, true);
    let home_mount = mount(home, AGENT_HOME, false);
    let mut mounts = match role {
        AgentRole::Init => vec![home_mount, sa_mount],
        AgentRole::Sidecar | AgentRole::Native => vec![sa_mount, home_mount],
    };
    mounts.push(mount(SECRETS_VOLUME, &spec.secret_volume_path, false));
    for (i, path) in spec.custom_volume_paths.iter().enumerate() {
        mounts.push(mount(&custom_volume_name(i), path, false));
    }
    if spec.extra_secret.is_some() {
        mounts.push(mount(EXTRA_SECRETS_VOLUME, EXTRA_SECRETS_PATH, true));
    }
    for copied in &spec.copied_mounts {
        if !mounts.iter().any(|m| m.mount_path == copied.mount_path) {
            mounts.push(copied.clone());
        }
    }
    if spec.config_map.is_some() {
        mounts.push(mount(
            super::names::CONFIG_VOLUME,
            super::names::CONFIG_PATH,
            true,
        ));
    }
    if spec.tls_secret.is_some() {
        mounts.push(mount(TLS_VOLUME, TLS_PATH, true));
    }
    if spec.agent_api.persistent(spec.injection) {
        mounts.push(mount(CACHE_VOLUME, CACHE_PATH, false));
    }
    mounts
}
