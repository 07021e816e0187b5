//! The webhook's pure mutation logic: a pod's annotations → an [`spec::InjectionSpec`] → an RFC 6902
//! patch that adds the ferrovault agent.
//!
//! Nothing here does IO or logs. [`decide`] is the one entry point the server calls; the steps are
//! public so tests and tools can run them one at a time:
//!
//! 1. [`spec::should_inject`] — the allow/skip part of vault-k8s' decision flow;
//! 2. [`spec::parse`] — every annotation, validated, with the injector's defaults filled in;
//! 3. [`config::build`] — the agent's [`ferrovault_contract::AgentConfig`];
//! 4. [`patch::build`] — the JSON patch, with array state tracked across operations.
//!
//! Error and warning texts never contain template bodies, secret paths' data, auth parameters or
//! other values that may be secret; booleans, numbers, durations, quantities and names are echoed so
//! the user can see what was wrong.

pub mod annotations;
pub mod config;
pub mod container;
pub mod error;
pub mod patch;
pub mod quantity;
pub mod sa_token;
pub mod secrets;
pub mod spec;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

pub use error::InjectError;

/// The injector flags (vault-k8s §3.2) that shape an injected pod, with vault-k8s' defaults.
///
/// String settings use `""` for "not set", like the Go flags they mirror.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectorDefaults {
    /// Vault address (`--vault-address`); required unless every pod sets `vault.hashicorp.com/service`.
    pub vault_address: String,
    /// Image of the agent containers.
    pub agent_image: String,
    /// Auto-auth method type.
    pub auth_type: String,
    /// Mount path of the auth method.
    pub auth_path: String,
    /// Vault Enterprise namespace.
    pub vault_namespace: String,
    /// PEM CA bundle (or its base64) trusted by the agents.
    pub ca_cert_bytes: String,
    /// HTTPS proxy the agents use to reach Vault.
    pub proxy_address: String,
    /// Revoke the agent's token when the sidecar stops.
    pub revoke_on_shutdown: bool,
    /// UID of the agent containers.
    pub run_as_user: i64,
    /// GID of the agent containers.
    pub run_as_group: i64,
    /// Run the agents with the UID of the pod's first container.
    pub run_as_same_user: bool,
    /// Give the agent containers a restrictive securityContext.
    pub set_security_context: bool,
    /// `map` or `json`: the template of secrets without one of their own.
    pub default_template: String,
    /// CPU request of each agent container (`""` = none).
    pub cpu_request: String,
    /// Memory request of each agent container.
    pub memory_request: String,
    /// Ephemeral-storage request of each agent container.
    pub ephemeral_request: String,
    /// CPU limit of each agent container.
    pub cpu_limit: String,
    /// Memory limit of each agent container.
    pub memory_limit: String,
    /// Ephemeral-storage limit of each agent container.
    pub ephemeral_limit: String,
    /// `template_config.exit_on_retry_failure`.
    pub exit_on_retry_failure: bool,
    /// `template_config.static_secret_render_interval` (Go duration, `""` = agent default).
    pub static_secret_render_interval: String,
    /// `template_config.max_connections_per_host` (0 = agent default).
    pub max_connections_per_host: u64,
    /// `template_config.lease_renewal_threshold` (0 = agent default).
    pub lease_renewal_threshold: f64,
    /// Go duration: first auto-auth retry delay (`""` = agent default).
    pub auth_min_backoff: String,
    /// Go duration: longest auto-auth retry delay (`""` = agent default).
    pub auth_max_backoff: String,
    /// Agent log level.
    pub log_level: String,
    /// Agent log format (`standard` or `json`).
    pub log_format: String,
    /// Native sidecars are available and wanted by default (`--native-sidecar` resolved by the server).
    pub native_sidecar: bool,
    /// The cluster supports native sidecars (Kubernetes ≥ 1.29).
    pub native_sidecar_supported: bool,
}

/// The agent image injected by default: `charts/ferrovault`'s `agentImage.repository` with the
/// crate version as tag, the name `make images` (scripts/images.sh) builds it under.
pub const DEFAULT_AGENT_IMAGE: &str =
    concat!("ghcr.io/ferrovault/ferrovault-agent:", env!("CARGO_PKG_VERSION"));

impl Default for InjectorDefaults {
    fn default() -> Self {
        Self {
            vault_address: String::new(),
            agent_image: DEFAULT_AGENT_IMAGE.to_owned(),
            auth_type: "kubernetes".to_owned(),
            auth_path: "auth/kubernetes".to_owned(),
            vault_namespace: String::new(),
            ca_cert_bytes: String::new(),
            proxy_address: String::new(),
            revoke_on_shutdown: false,
            run_as_user: 100,
            run_as_group: 1000,
            run_as_same_user: false,
            set_security_context: true,
            default_template: "map".to_owned(),
            cpu_request: "250m".to_owned(),
            memory_request: "64Mi".to_owned(),
            ephemeral_request: String::new(),
            cpu_limit: "500m".to_owned(),
            memory_limit: "128Mi".to_owned(),
            ephemeral_limit: String::new(),
            exit_on_retry_failure: true,
            static_secret_render_interval: String::new(),
            max_connections_per_host: 0,
            lease_renewal_threshold: 0.0,
            auth_min_backoff: String::new(),
            auth_max_backoff: String::new(),
            log_level: "info".to_owned(),
            log_format: "standard".to_owned(),
            native_sidecar: false,
            native_sidecar_supported: false,
        }
    }
}

/// Which agent containers a pod gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InjectionType {
    /// `vault-agent-init` plus the `vault-agent` sidecar.
    InitAndSidecar,
    /// Only `vault-agent-init` (`agent-pre-populate-only`, Jobs without native sidecars).
    InitOnly,
    /// Only the `vault-agent` sidecar (`agent-pre-populate: "false"`).
    SidecarOnly,
    /// One `vault-agent` init container with `restartPolicy: Always`.
    NativeSidecar,
}

impl InjectionType {
    /// Value of the `injection_type` metric label.
    pub fn label(&self) -> &'static str {
        match self {
            InjectionType::InitAndSidecar => "init_and_sidecar",
            InjectionType::InitOnly => "init_only",
            InjectionType::SidecarOnly => "sidecar_only",
            InjectionType::NativeSidecar => "native_sidecar",
        }
    }

    /// Whether a classic `vault-agent-init` container is added.
    pub fn has_init(&self) -> bool {
        matches!(self, InjectionType::InitAndSidecar | InjectionType::InitOnly)
    }

    /// Whether a classic `vault-agent` sidecar container is added.
    pub fn has_sidecar(&self) -> bool {
        matches!(self, InjectionType::InitAndSidecar | InjectionType::SidecarOnly)
    }
}

/// What to answer an admission request with.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Allowed, unchanged.
    Skip {
        /// Why nothing is injected (for debug logs and tests).
        reason: &'static str,
    },
    /// Not allowed; `message` goes to `status.message`.
    Deny {
        /// Names the annotation/field, the bad value (unless it may be secret) and what is accepted.
        message: String,
    },
    /// Allowed with a patch.
    Patch {
        /// The RFC 6902 patch.
        patch: json_patch::Patch,
        /// Admission warnings for risky but allowed choices.
        warnings: Vec<String>,
        /// Audit annotations (`ferrovault.dev/…`), never secret values.
        audit: BTreeMap<String, String>,
        /// Which agent containers were added.
        injection: InjectionType,
    },
}

/// Kubernetes' limit on the total size of an object's annotations (keys and values).
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// Decides what to do with a pod being created. Pure.
///
/// `namespace` is the AdmissionRequest's namespace; `pod` is `request.object`.
pub fn decide(namespace: &str, pod: &Pod, defaults: &InjectorDefaults) -> Decision {
    if let Err(skip_or_deny) = spec::should_inject(namespace, pod) {
        return skip_or_deny;
    }
    // Work at admission grows with the annotations: bound them as the API server will.
    let annotation_bytes: usize = pod
        .metadata
        .annotations
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if annotation_bytes > MAX_ANNOTATION_BYTES {
        return Decision::Deny {
            message: format!(
                "metadata.annotations: the pod's annotations take {annotation_bytes} bytes, more than the \
                 {MAX_ANNOTATION_BYTES} bytes Kubernetes allows"
            ),
        };
    }
    match mutate(namespace, pod, defaults) {
        Ok(decision) => decision,
        Err(err) => Decision::Deny {
            message: err.to_string(),
        },
    }
}

fn mutate(namespace: &str, pod: &Pod, defaults: &InjectorDefaults) -> Result<Decision, InjectError> {
    let spec::Parsed { spec, warnings } = spec::parse(namespace, pod, defaults)?;
    let agent_config = config::build(&spec);
    let patch = patch::build(pod, &spec, &agent_config)?;
    Ok(Decision::Patch {
        patch,
        warnings,
        audit: audit(&spec),
        injection: spec.injection,
    })
}

/// Audit annotations describing an injection: what was requested, never what was fetched.
pub fn audit(spec: &spec::InjectionSpec) -> BTreeMap<String, String> {
    let mut audit = BTreeMap::new();
    let mut put = |key: &str, value: String| {
        audit.insert(format!("ferrovault.dev/{key}"), value);
    };
    put("injection", spec.injection.label().to_owned());
    put("auth-type", spec.auth_method.kind.clone());
    put("auth-path", spec.auth_method.mount_path.clone());
    if let Some(role) = spec.auth_method.config.get("role") {
        put("role", role.clone());
    }
    let names: Vec<&str> = spec.secrets.iter().map(|s| s.name.as_str()).collect();
    put("secrets", names.join(","));
    let mut paths: Vec<&str> = spec
        .secrets
        .iter()
        .filter_map(|s| s.vault_path.as_deref())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    put("secret-paths", paths.join(","));
    audit
}
