//! Turns the wire [`AgentConfig`] plus command-line overrides into validated, typed [`Settings`].
//! Pure: no IO except reading template `source` files, which happens in [`Settings::load_sources`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrovault_contract::go::{BOOL_ACCEPTED, parse_bool};

use ferrovault_contract::{AGENT_HOME, AgentConfig, READY_MARKER};

use crate::{Error, Result};

/// Local-run overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Every output path (destinations, sinks, `secrets_dirs`) is re-rooted under this directory.
    pub secrets_root: Option<PathBuf>,
    /// Replaces `/home/vault` in every output path.
    pub home: Option<PathBuf>,
    /// Replaces the ready marker's path.
    pub ready_file: Option<PathBuf>,
    /// Replaces the token file of the `kubernetes` (`token_path`) or `jwt` (`path`) method, for local
    /// runs of an injected config outside its pod.
    pub token_path: Option<PathBuf>,
    /// First delay of the dependency fetch retry (default 250ms).
    pub retry_base: Option<Duration>,
    /// Longest delay of the dependency fetch retry (default 1m).
    pub retry_cap: Option<Duration>,
}

/// Exponential backoff with full jitter between `base` and `cap`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based): `min(cap, base·2^attempt)`, scaled by a random
    /// factor in [0.5, 1.0] so a fleet of agents does not retry in lock step.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.min(20));
        let capped = exp.min(self.cap);
        capped.mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

/// How to log in.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// `kubernetes`: the service-account token file is re-read on every login.
    Kubernetes {
        /// Vault role.
        role: String,
        /// Token file.
        token_path: PathBuf,
    },
    /// `jwt`: a JWT read from a file.
    Jwt {
        /// Vault role.
        role: String,
        /// JWT file.
        path: PathBuf,
        /// Delete the file after reading it (only when set to true).
        remove_after_reading: bool,
    },
    /// `approle`.
    AppRole {
        /// File holding the role id.
        role_id_file: PathBuf,
        /// File holding the secret id, if the role needs one.
        secret_id_file: Option<PathBuf>,
        /// Delete the secret-id file after reading it (only when set to true).
        remove_secret_id_file: bool,
    },
    /// `token_file`: use the token in a file as is.
    TokenFile {
        /// Token file.
        path: PathBuf,
    },
    /// `token`: use the token in env `VAULT_TOKEN`.
    Token,
    /// `cert`: TLS client-certificate login. The certificate is the method's own (`client_cert` /
    /// `client_key`, read at every login) or else the `vault` stanza's.
    Cert {
        /// The certificate role (`name`); empty: Vault tries every role the certificate matches.
        name: String,
        /// CA to verify Vault with for the login, instead of the `vault` stanza's.
        ca_cert: Option<PathBuf>,
        /// The method's own client certificate.
        client_cert: Option<PathBuf>,
        /// The method's own client key.
        client_key: Option<PathBuf>,
    },
}

impl Method {
    /// The method's type name as in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            Method::Kubernetes { .. } => "kubernetes",
            Method::Jwt { .. } => "jwt",
            Method::AppRole { .. } => "approle",
            Method::TokenFile { .. } => "token_file",
            Method::Token => "token",
            Method::Cert { .. } => "cert",
        }
    }
}

/// Auto-auth settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    /// The method.
    pub method: Method,
    /// Mount path without `auth/` and surrounding `/`, e.g. `kubernetes`.
    pub mount: String,
    /// Login retry backoff.
    pub backoff: Backoff,
    /// Exit instead of retrying a failed login.
    pub exit_on_err: bool,
}

/// Connection settings for Vault.
#[derive(Debug, Clone, PartialEq)]
pub struct VaultSettings {
    /// Base address, without trailing `/`.
    pub address: String,
    /// CA file.
    pub ca_cert: Option<PathBuf>,
    /// CA directory.
    pub ca_path: Option<PathBuf>,
    /// Inline CA PEM.
    pub ca_cert_pem: Option<String>,
    /// Client certificate file.
    pub client_cert: Option<PathBuf>,
    /// Client key file.
    pub client_key: Option<PathBuf>,
    /// Skip certificate verification.
    pub tls_skip_verify: bool,
    /// Name to verify the server certificate against.
    pub tls_server_name: Option<String>,
    /// HTTPS proxy.
    pub proxy: Option<String>,
    /// Enterprise namespace.
    pub namespace: Option<String>,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Concurrent requests while fetching.
    pub max_connections: usize,
    /// No idle connection kept for reuse (`disable_idle_connections` lists auto-auth or
    /// templating: one client serves both here).
    pub disable_idle_connections: bool,
    /// Every request closes its connection (`disable_keep_alives` lists auto-auth or templating).
    pub disable_keep_alives: bool,
}

/// A token sink.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSettings {
    /// Destination file (remapped).
    pub path: PathBuf,
    /// File mode.
    pub mode: u32,
}

/// A template to render.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSettings {
    /// Secret name, for messages.
    pub name: String,
    /// Destination (remapped).
    pub destination: PathBuf,
    /// Inline contents, or `None` when `source` must be read.
    pub contents: Option<String>,
    /// Template file.
    pub source: Option<PathBuf>,
    /// Left delimiter.
    pub left_delimiter: String,
    /// Right delimiter.
    pub right_delimiter: String,
    /// File mode, if given.
    pub perms: Option<u32>,
    /// Command argv run after a change.
    pub command: Option<Vec<String>>,
    /// Missing keys are errors.
    pub error_on_missing_key: bool,
    /// Keys the kubelet reads from this env file (`ferrovault.dev/env-<secret>`).
    pub env_keys: Vec<String>,
    /// The format the kubelet reads env files in (with `env_keys`).
    pub env_format: ferrovault_contract::actions::EnvFileFormat,
    /// Reload actions after a re-render changed the file.
    pub reload: Vec<ferrovault_contract::ReloadAction>,
    /// `function_denylist`: functions that fail when called.
    pub function_denylist: Vec<String>,
    /// `sandbox_path`: `file` reads only inside this directory (not re-rooted: it is read, not written).
    pub sandbox_path: Option<PathBuf>,
}

/// Everything the agent runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Vault connection.
    pub vault: VaultSettings,
    /// Login.
    pub auth: AuthSettings,
    /// Token sinks.
    pub sinks: Vec<SinkSettings>,
    /// Templates.
    pub templates: Vec<TemplateSettings>,
    /// Directories templates may write into (remapped).
    pub secrets_dirs: Vec<PathBuf>,
    /// The agent's home (remapped); sinks and the ready marker may live here too.
    pub home: PathBuf,
    /// The native-mode ready marker (remapped).
    pub ready_file: PathBuf,
    /// Exit when a fetch fails after all retries.
    pub exit_on_retry_failure: bool,
    /// Re-read period of secrets without a lease.
    pub static_secret_render_interval: Duration,
    /// Fraction of a non-renewable lease after which the secret is fetched again.
    pub lease_renewal_threshold: f64,
    /// Attempts of one dependency fetch.
    pub max_retries: u32,
    /// Backoff between fetch attempts.
    pub fetch_backoff: Backoff,
    /// Revoke the token on shutdown.
    pub revoke_on_shutdown: bool,
    /// Vault Agent's `pid_file` (remapped; confined to [`Settings::sink_dirs`] when written).
    pub pid_file: Option<PathBuf>,
    /// The listeners (API proxy, cache, quit, metrics) of the long-running modes.
    pub listeners: crate::listener::ListenersSettings,
}

const DEFAULT_K8S_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

impl Settings {
    /// Validates `cfg` and applies `overrides`.
    pub fn new(cfg: &AgentConfig, overrides: &Overrides) -> Result<Self> {
        let remap = |p: &str| remap(Path::new(p), overrides);
        let vault = &cfg.vault;
        let address = vault.address.trim_end_matches('/').to_owned();
        if !(address.starts_with("http://") || address.starts_with("https://")) {
            return Err(Error::config(
                "vault.address",
                format!("{address:?} is not an http:// or https:// URL"),
            ));
        }
        let timeout = match &vault.client_timeout {
            Some(v) => v.get(),
            None => Duration::from_secs(60),
        };
        let method = &cfg.auto_auth.method;
        let auth = AuthSettings {
            method: with_token_path(parse_method(&method.kind, &method.config)?, overrides),
            mount: mount_name(&method.mount_path, &method.kind),
            backoff: Backoff {
                base: opt_duration(&method.min_backoff, Duration::from_secs(1)),
                cap: opt_duration(&method.max_backoff, Duration::from_secs(300)),
            },
            exit_on_err: method.exit_on_err,
        };
        let tc = &cfg.template_config;
        let threshold = tc.lease_renewal_threshold.unwrap_or(0.9);
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(Error::config(
                "template_config.lease_renewal_threshold",
                format!("{threshold} is not a fraction in (0, 1]"),
            ));
        }
        let max_connections = match tc.max_connections_per_host {
            None | Some(0) => 10,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let templates = cfg
            .templates
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let field = |f: &str| format!("templates[{i}] ({:?}).{f}", t.name);
                if t.contents.is_none() && t.source.is_none() {
                    return Err(Error::config(
                        field("contents"),
                        "one of contents or source is required",
                    ));
                }
                // checked when the config was read (ferrovault_contract::{FileMode, Command})
                let perms = t.perms.as_ref().map(|p| p.mode());
                for key in &t.env_keys {
                    if let Some(why) = ferrovault_contract::actions::env_key_problem(key) {
                        return Err(Error::config(field("env_keys"), format!("{key:?}: {why}")));
                    }
                }
                let command = t
                    .command
                    .as_ref()
                    .map(|c| c.argv().to_vec())
                    .filter(|argv| !argv.is_empty());
                Ok(TemplateSettings {
                    name: t.name.clone(),
                    destination: remap(&t.destination),
                    contents: t.contents.clone(),
                    source: t.source.as_deref().map(PathBuf::from),
                    left_delimiter: t.left_delimiter.clone(),
                    right_delimiter: t.right_delimiter.clone(),
                    perms,
                    command,
                    error_on_missing_key: t.error_on_missing_key,
                    env_keys: t.env_keys.clone(),
                    env_format: t.env_format,
                    reload: t.reload.clone(),
                    function_denylist: t.function_denylist.clone(),
                    sandbox_path: t.sandbox_path.as_deref().map(PathBuf::from),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let listeners = crate::listener::ListenersSettings::new(cfg)?;
        let proxy = !listeners.listeners.is_empty();
        if matches!(auth.method, Method::Cert { .. }) && !address.starts_with("https://") {
            return Err(Error::config(
                "vault.address",
                format!(
                    "{address:?}: the cert method logs in with a TLS client certificate, so Vault must be reached over https://"
                ),
            ));
        }
        if let Method::Cert {
            client_cert: None, ..
        } = &auth.method
            && (vault.client_cert.is_none() || vault.client_key.is_none())
        {
            return Err(Error::config(
                "auto_auth.method.config.client_cert",
                "the cert method needs a client certificate: set the method's client_cert and client_key \
                 (annotations auth-config-client-cert/-key) or vault.client_cert and vault.client_key \
                 (annotations client-cert/client-key)",
            ));
        }
        Ok(Settings {
            vault: VaultSettings {
                address,
                ca_cert: vault.ca_cert.as_deref().map(PathBuf::from),
                ca_path: vault.ca_path.as_deref().map(PathBuf::from),
                ca_cert_pem: vault.ca_cert_pem.clone(),
                client_cert: vault.client_cert.as_deref().map(PathBuf::from),
                client_key: vault.client_key.as_deref().map(PathBuf::from),
                tls_skip_verify: vault.tls_skip_verify,
                tls_server_name: vault.tls_server_name.clone().filter(|s| !s.is_empty()),
                proxy: vault.proxy_address.clone().filter(|s| !s.is_empty()),
                namespace: method.namespace.clone().filter(|s| !s.is_empty()),
                timeout,
                max_connections,
                disable_idle_connections: uses_client(
                    "vault.disable_idle_connections",
                    &vault.disable_idle_connections,
                    proxy,
                )?,
                disable_keep_alives: uses_client(
                    "vault.disable_keep_alives",
                    &vault.disable_keep_alives,
                    proxy,
                )?,
            },
            auth,
            sinks: cfg
                .auto_auth
                .sinks
                .iter()
                .map(|s| SinkSettings {
                    path: remap(&s.path),
                    mode: s.mode.unwrap_or(0o640),
                })
                .collect(),
            templates,
            secrets_dirs: cfg.secrets_dirs.iter().map(|d| remap(d)).collect(),
            home: remap(AGENT_HOME),
            ready_file: overrides
                .ready_file
                .clone()
                .unwrap_or_else(|| remap(READY_MARKER)),
            exit_on_retry_failure: tc.exit_on_retry_failure,
            static_secret_render_interval: opt_duration(
                &tc.static_secret_render_interval,
                Duration::from_secs(300),
            ),
            lease_renewal_threshold: threshold,
            max_retries: match vault.max_retries {
                None | Some(0) => 12,
                Some(n) => n,
            },
            fetch_backoff: Backoff {
                base: overrides.retry_base.unwrap_or(Duration::from_millis(250)),
                cap: overrides.retry_cap.unwrap_or(Duration::from_secs(60)),
            },
            revoke_on_shutdown: cfg.revoke_on_shutdown,
            pid_file: cfg.pid_file.as_deref().map(remap),
            listeners,
        })
    }
}

impl Settings {
    /// Where token sinks and the PID file may be written: the secrets directories and the home.
    pub fn sink_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.secrets_dirs.clone();
        dirs.push(self.home.clone());
        dirs
    }
}

/// Whether a `disable_*` component list touches the one HTTP client auto-auth, templating and the
/// listener's proxy share (`caching` and `proxying` only when there is a listener).
fn uses_client(field: &str, components: &[String], proxy: bool) -> Result<bool> {
    let joined = components.join(",");
    let parsed = ferrovault_contract::connection_components(&joined).map_err(|bad| {
        Error::config(
            field,
            format!(
                "unknown component {bad:?}: expected {}",
                ferrovault_contract::CONNECTION_COMPONENTS.join(", ")
            ),
        )
    })?;
    Ok(parsed
        .iter()
        .any(|c| c == "auto-auth" || c == "templating" || proxy))
}

/// Re-roots an output path for a local run: `/home/vault/...` under `--home`, any other absolute path
/// under `--secrets-root` (prefix join).
pub fn remap(path: &Path, overrides: &Overrides) -> PathBuf {
    if let Some(home) = &overrides.home
        && let Ok(rest) = path.strip_prefix(AGENT_HOME)
    {
        return home.join(rest);
    }
    match &overrides.secrets_root {
        Some(root) => match path.strip_prefix("/") {
            Ok(rest) => root.join(rest),
            Err(_) => root.join(path),
        },
        None => path.to_path_buf(),
    }
}

/// Applies `--token-path` to the methods that read a token file.
fn with_token_path(method: Method, overrides: &Overrides) -> Method {
    match (method, &overrides.token_path) {
        (Method::Kubernetes { role, .. }, Some(p)) => Method::Kubernetes {
            role,
            token_path: p.clone(),
        },
        (
            Method::Jwt {
                role,
                remove_after_reading,
                ..
            },
            Some(p),
        ) => Method::Jwt {
            role,
            path: p.clone(),
            remove_after_reading,
        },
        (m, _) => m,
    }
}

/// `auth/kubernetes/` → `kubernetes`; empty → the method type.
fn mount_name(mount_path: &str, kind: &str) -> String {
    let trimmed = mount_path.trim_matches('/');
    let trimmed = trimmed.strip_prefix("auth/").unwrap_or(trimmed).trim_matches('/');
    if trimmed.is_empty() || trimmed == "auth" {
        kind.to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn parse_method(kind: &str, config: &std::collections::BTreeMap<String, String>) -> Result<Method> {
    let field = |k: &str| format!("auto_auth.method.config.{k}");
    let get = |k: &str| config.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let required = |k: &str| {
        get(k)
            .map(str::to_owned)
            .ok_or_else(|| Error::config(field(k), format!("is required for the {kind} auth method")))
    };
    let flag = |k: &str| match get(k) {
        None => Ok(false),
        Some(v) => {
            parse_bool(v).ok_or_else(|| Error::config(field(k), format!("{v:?} is not {BOOL_ACCEPTED}")))
        }
    };
    Ok(match kind {
        "kubernetes" => Method::Kubernetes {
            role: required("role")?,
            token_path: PathBuf::from(get("token_path").unwrap_or(DEFAULT_K8S_TOKEN)),
        },
        "jwt" => Method::Jwt {
            role: required("role")?,
            path: PathBuf::from(required("path")?),
            remove_after_reading: flag("remove_jwt_after_reading")?,
        },
        "approle" => Method::AppRole {
            role_id_file: PathBuf::from(required("role_id_file_path")?),
            secret_id_file: get("secret_id_file_path").map(PathBuf::from),
            remove_secret_id_file: flag("remove_secret_id_file_after_reading")?,
        },
        "token_file" => Method::TokenFile {
            path: PathBuf::from(required("token_file_path")?),
        },
        "token" => Method::Token,
        "cert" => {
            let path = |k: &str| get(k).map(PathBuf::from);
            let (client_cert, client_key) = (path("client_cert"), path("client_key"));
            if client_cert.is_some() != client_key.is_some() {
                return Err(Error::config(
                    field(if client_cert.is_some() {
                        "client_key"
                    } else {
                        "client_cert"
                    }),
                    "is required with the other half of the cert method's key pair",
                ));
            }
            Method::Cert {
                name: get("name").unwrap_or_default().to_owned(),
                ca_cert: path("ca_cert"),
                client_cert,
                client_key,
            }
        }
        other => {
            return Err(Error::config(
                "auto_auth.method.type",
                format!(
                    "{other:?} is not supported; use one of kubernetes, jwt, approle, token_file, token, cert"
                ),
            ));
        }
    })
}

/// A duration of the config (checked when read: [`ferrovault_contract::VaultDuration`]), or `default`.
fn opt_duration(value: &Option<ferrovault_contract::VaultDuration>, default: Duration) -> Duration {
    value.as_ref().map_or(default, |d| d.get())
}

/// One `listener` of the config, checked as the webhook and `ferrovault-agent check` check it
/// ([`ferrovault_contract::Listener::check`]), again here with the pod's `hostNetwork`: a listener
/// reachable from outside the pod is refused without `ferrovault_allow_non_loopback`, and serves
/// the auto-auth token and quit only when asked for there too. The second wall behind the webhook.
pub fn listener(
    index: usize,
    l: &ferrovault_contract::Listener,
    host_network: bool,
    use_auto_auth_token: ferrovault_contract::UseAutoAuthToken,
) -> Result<crate::listener::ListenerSettings> {
    let exposure = l
        .check(host_network)
        .map_err(|m| Error::config(format!("listeners[{index}]"), m))?;
    Ok(crate::listener::ListenerSettings {
        address: exposure.address,
        metrics_only: l.metrics_only,
        enable_quit: exposure.quit,
        use_auto_auth_token: if exposure.auto_auth_token {
            use_auto_auth_token
        } else {
            ferrovault_contract::UseAutoAuthToken::False
        },
        warning: l.exposure_warning(host_network),
    })
}

#[cfg(test)]
mod tests;
