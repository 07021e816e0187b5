//! The names of what the patch adds to a pod: the agent containers and binary, their volumes and
//! mount paths. A leaf module: the patch builds them (`container.rs`, `patch.rs`) and the spec
//! checks that a pod does not already use them (`spec::check_conflicts`).

/// Path of the agent binary in the image.
pub const AGENT_BINARY: &str = "/ferrovault-agent";
/// Name of the classic init container.
pub const INIT_NAME: &str = "vault-agent-init";
/// Name of the sidecar (classic or native).
pub const SIDECAR_NAME: &str = "vault-agent";
/// Home volume of the init container.
pub const HOME_INIT_VOLUME: &str = "home-init";
/// Home volume of the sidecar.
pub const HOME_SIDECAR_VOLUME: &str = "home-sidecar";
/// The shared secrets volume.
pub const SECRETS_VOLUME: &str = "vault-secrets";
/// `agent-extra-secret` volume.
pub const EXTRA_SECRETS_VOLUME: &str = "extra-secrets";
/// Where the extra secret is mounted.
pub const EXTRA_SECRETS_PATH: &str = "/vault/custom";
/// `agent-configmap` volume.
pub const CONFIG_VOLUME: &str = "vault-config";
/// Where the `agent-configmap` ConfigMap is mounted in the agent containers.
pub const CONFIG_PATH: &str = "/vault/configs";
/// `tls-secret` volume.
pub const TLS_VOLUME: &str = "vault-tls-secrets";
/// Where the TLS secret is mounted.
pub const TLS_PATH: &str = "/vault/tls";
/// The persisted cache's volume (`agent-cache-enable` with init container and sidecar).
pub const CACHE_VOLUME: &str = "vault-agent-cache";
/// Where the persisted cache's volume is mounted.
pub const CACHE_PATH: &str = "/vault/agent-cache";
/// Startup probe failure threshold of the native sidecar (with a 1 s period: 5 minutes).
pub const NATIVE_STARTUP_FAILURE_THRESHOLD: i32 = 300;

/// Name of the i-th per-secret volume.
pub fn custom_volume_name(i: usize) -> String {
    format!("vault-secrets-custom-{i}")
}
