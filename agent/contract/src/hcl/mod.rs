//! Vault Agent's HCL config file (`agent-configmap`) → the one [`AgentConfig`].
//!
//! A pod with `vault.hashicorp.com/agent-configmap` mounts that ConfigMap at `/vault/configs`, and
//! its agents run from `config-init.hcl` (init) or `config.hcl` (otherwise), as vault-k8s's do.
//! [`read`] maps the file's stanzas onto the contract's types; [`apply`] lays them over the config
//! the webhook wrote for the pod. Whatever the file holds that ferrovault does not do is an error
//! naming the block and its line, never silently ignored.

mod listener;
mod map;
mod tree;

use crate::{AgentConfig, AutoAuth, Cache, Listener, Telemetry, Template, TemplateConfig, VaultConnection};

/// The file an agent in init mode reads from the config directory.
pub const INIT_FILE: &str = "config-init.hcl";
/// The file every other agent reads.
pub const SIDECAR_FILE: &str = "config.hcl";
/// The largest config file read (1 MiB: a ConfigMap holds at most 1 MiB). A larger one is refused
/// before it is parsed.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// A problem in a config file, with the line (1-based; 0 = the file as a whole) and the block it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {message}", if block.is_empty() { String::new() } else { format!(", {block}") })]
pub struct HclError {
    /// Line of the offending entry.
    pub line: usize,
    /// The block path, e.g. `auto_auth.method.config`.
    pub block: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

/// What a Vault Agent config file sets, on the contract's types.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileConfig {
    /// `vault {}`: unset fields are empty / `None` / false.
    pub vault: VaultConnection,
    /// `auto_auth {}`, when present.
    pub auto_auth: Option<AutoAuth>,
    /// `template {}` blocks, in file order.
    pub templates: Vec<Template>,
    /// `template_config {}`, when present.
    pub template_config: Option<TemplateConfig>,
    /// `exit_after_auth`.
    pub exit_after_auth: bool,
    /// `pid_file`.
    pub pid_file: Option<String>,
    /// `listener "tcp"` blocks.
    pub listeners: Vec<Listener>,
    /// `cache {}` (with `api_proxy {}`'s `use_auto_auth_token`, which supersedes the cache's).
    pub cache: Option<Cache>,
    /// `telemetry {}`.
    pub telemetry: Option<Telemetry>,
}

/// Reads a Vault Agent config file (HCL).
pub fn read(text: &str) -> Result<FileConfig, HclError> {
    map::file(&tree::parse(text)?)
}

/// Lays `file` over `base` (the config the webhook wrote for the pod): the file's `auto_auth`,
/// templates, `template_config`, `exit_after_auth`, `pid_file`, listeners, cache and telemetry are
/// taken as they are. In `vault`,
/// what `base` sets wins — vault-k8s passes the annotations as `VAULT_ADDR`, `VAULT_CACERT`, …, which
/// override the file in Vault Agent — and the file fills the rest. The pod's facts (secrets
/// directories, logging, revocation) stay the base's.
pub fn apply(base: AgentConfig, file: FileConfig) -> Result<AgentConfig, HclError> {
    let auto_auth = file.auto_auth.ok_or_else(|| HclError {
        line: 0,
        block: String::new(),
        message: "no auto_auth block: ferrovault-agent logs in with the file's auto_auth method (a config \
                  with only a cache and no auto-auth is not supported)"
            .to_owned(),
    })?;
    let b = base.vault;
    let f = file.vault;
    let vault = VaultConnection {
        address: if b.address.is_empty() {
            f.address
        } else {
            b.address
        },
        ca_cert: b.ca_cert.or(f.ca_cert),
        ca_path: b.ca_path.or(f.ca_path),
        ca_cert_pem: b.ca_cert_pem.or(f.ca_cert_pem),
        client_cert: b.client_cert.or(f.client_cert),
        client_key: b.client_key.or(f.client_key),
        // vault-k8s always sets VAULT_SKIP_VERIFY in this mode; the file can only add it
        tls_skip_verify: b.tls_skip_verify || f.tls_skip_verify,
        tls_server_name: b.tls_server_name.or(f.tls_server_name),
        proxy_address: b.proxy_address.or(f.proxy_address),
        max_retries: b.max_retries.or(f.max_retries),
        client_timeout: b.client_timeout.or(f.client_timeout),
        disable_idle_connections: if b.disable_idle_connections.is_empty() {
            f.disable_idle_connections
        } else {
            b.disable_idle_connections
        },
        disable_keep_alives: if b.disable_keep_alives.is_empty() {
            f.disable_keep_alives
        } else {
            b.disable_keep_alives
        },
    };
    if vault.address.is_empty() {
        return Err(HclError {
            line: 0,
            block: "vault".to_owned(),
            message: "no Vault address: set vault { address = \"https://…\" } (or the pod's \
                      vault.hashicorp.com/service annotation)"
                .to_owned(),
        });
    }
    Ok(AgentConfig {
        vault,
        auto_auth,
        templates: file.templates,
        // Vault Agent's defaults, not vault-k8s's: the file is a Vault Agent config
        template_config: file.template_config.unwrap_or(TemplateConfig {
            exit_on_retry_failure: false,
            ..TemplateConfig::default()
        }),
        exit_after_auth: file.exit_after_auth,
        pid_file: file.pid_file,
        listeners: file.listeners,
        cache: file.cache,
        telemetry: file.telemetry,
        ..base
    })
}

#[cfg(test)]
mod tests;
