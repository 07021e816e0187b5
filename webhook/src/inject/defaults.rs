//! The injector's defaults: its flags (vault-k8s §3.2), which every pod starts from.

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
    /// `disable_idle_connections` for pods without the annotation (comma-separated components).
    pub disable_idle_connections: String,
    /// `disable_keep_alives` for pods without the annotation (comma-separated components).
    pub disable_keep_alives: String,
    /// Agent log level.
    pub log_level: String,
    /// Agent log format (`standard` or `json`).
    pub log_format: String,
    /// Native sidecars are available and wanted by default (`--native-sidecar` resolved by the server).
    pub native_sidecar: bool,
    /// The cluster supports native sidecars (Kubernetes ≥ 1.29).
    pub native_sidecar_supported: bool,
    /// The cluster has the `EnvFiles` feature gate (`--env-files`): `ferrovault.dev/env-<secret>`
    /// is allowed.
    pub env_files: bool,
    /// The format the cluster's kubelets read env files in (from the API server's version).
    pub env_file_format: ferrovault_contract::actions::EnvFileFormat,
}

/// The agent image injected by default: `charts/ferrovault`'s `agentImage.repository` with the
/// crate version as tag, the name `make images` (scripts/images.sh) builds it under.
pub const DEFAULT_AGENT_IMAGE: &str =
    concat!("ghcr.io/ferrovault/ferrovault-agent:", env!("CARGO_PKG_VERSION"));

/// vault-k8s's injector defaults, the one table both the flags (`args.rs`, `default_value`) and
/// [`InjectorDefaults::default`] take their values from.
pub mod vault_k8s {
    /// `-vault-auth-type`.
    pub const AUTH_TYPE: &str = "kubernetes";
    /// `-vault-auth-path`.
    pub const AUTH_PATH: &str = "auth/kubernetes";
    /// `-run-as-user`.
    pub const RUN_AS_USER: i64 = 100;
    /// `-run-as-group`.
    pub const RUN_AS_GROUP: i64 = 1000;
    /// `-default-template`.
    pub const DEFAULT_TEMPLATE: &str = "map";
    /// `-cpu-request`.
    pub const CPU_REQUEST: &str = "250m";
    /// `-memory-request`.
    pub const MEM_REQUEST: &str = "64Mi";
    /// `-cpu-limit`.
    pub const CPU_LIMIT: &str = "500m";
    /// `-memory-limit`.
    pub const MEM_LIMIT: &str = "128Mi";
    /// `-log-level` of the agents.
    pub const LOG_LEVEL: &str = "info";
    /// `-log-format` of the agents.
    pub const LOG_FORMAT: &str = "standard";
}

impl Default for InjectorDefaults {
    fn default() -> Self {
        Self {
            vault_address: String::new(),
            agent_image: DEFAULT_AGENT_IMAGE.to_owned(),
            auth_type: vault_k8s::AUTH_TYPE.to_owned(),
            auth_path: vault_k8s::AUTH_PATH.to_owned(),
            vault_namespace: String::new(),
            ca_cert_bytes: String::new(),
            proxy_address: String::new(),
            revoke_on_shutdown: false,
            run_as_user: vault_k8s::RUN_AS_USER,
            run_as_group: vault_k8s::RUN_AS_GROUP,
            run_as_same_user: false,
            set_security_context: true,
            default_template: vault_k8s::DEFAULT_TEMPLATE.to_owned(),
            cpu_request: vault_k8s::CPU_REQUEST.to_owned(),
            memory_request: vault_k8s::MEM_REQUEST.to_owned(),
            ephemeral_request: String::new(),
            cpu_limit: vault_k8s::CPU_LIMIT.to_owned(),
            memory_limit: vault_k8s::MEM_LIMIT.to_owned(),
            ephemeral_limit: String::new(),
            exit_on_retry_failure: true,
            static_secret_render_interval: String::new(),
            max_connections_per_host: 0,
            lease_renewal_threshold: 0.0,
            auth_min_backoff: String::new(),
            auth_max_backoff: String::new(),
            disable_idle_connections: String::new(),
            disable_keep_alives: String::new(),
            log_level: vault_k8s::LOG_LEVEL.to_owned(),
            log_format: vault_k8s::LOG_FORMAT.to_owned(),
            native_sidecar: false,
            native_sidecar_supported: false,
            env_files: false,
            env_file_format: ferrovault_contract::actions::EnvFileFormat::Plain,
        }
    }
}
