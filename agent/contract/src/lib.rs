//! The contract between ferrovault's webhook and its agent.
//!
//! The webhook turns a pod's `vault.hashicorp.com/*` annotations into one [`AgentConfig`] and puts it,
//! as base64-encoded JSON, into the environment variable [`AGENT_CONFIG_ENV`] of each agent container.
//! The agent decodes it with [`AgentConfig::decode_env`]. This crate is the only definition of that
//! document; `testdata/agent-config.v1.json` pins its wire form.
//!
//! The crate also holds the small pieces of Go semantics both sides need to agree on
//! ([`go::parse_bool`], [`go::parse_duration`]) and the default templates of vault-k8s.

#![deny(missing_docs)]

pub mod actions;
pub mod go;
pub mod hcl;
mod listener;
pub mod logging;
mod values;

pub use actions::{ReloadAction, Signal};
pub use listener::{
    Cache, CachePersist, Listener, ListenerExposure, Telemetry, UseAutoAuthToken, loopback_listener_address,
    parse_listener_address,
};
pub use values::{Command, FileMode, VaultDuration, command_argv};

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Version of the wire format. The agent refuses any other version.
pub const CONFIG_VERSION: u32 = 1;

/// Environment variable of each agent container holding the base64-encoded JSON [`AgentConfig`].
pub const AGENT_CONFIG_ENV: &str = "FERROVAULT_AGENT_CONFIG";

/// Home directory of the agent inside its container (a memory-backed emptyDir).
pub const AGENT_HOME: &str = "/home/vault";

/// File (in [`AGENT_HOME`]) that the agent creates after its first complete render in `native` mode;
/// `ferrovault-agent ready` exits 0 only when it exists (the native sidecar's startupProbe).
pub const READY_MARKER: &str = "/home/vault/.ferrovault-ready";

/// Path of the token sink every agent writes (vault-k8s: `/home/vault/.vault-token`).
pub const HOME_TOKEN_SINK: &str = "/home/vault/.vault-token";

/// Errors reading the contract.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The environment variable is not base64.
    #[error("{AGENT_CONFIG_ENV} is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The JSON does not match the contract.
    #[error("agent config is not a valid ferrovault agent config: {0}")]
    Json(#[from] serde_json::Error),
    /// A field does not hold what the contract allows (the path names it, e.g. `templates[0].perms`).
    #[error("agent config: {path}: {message}")]
    Field {
        /// Where, e.g. `templates[0].perms`.
        path: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The document has a version this agent does not understand.
    #[error("agent config version {found} is not supported (this agent reads version {CONFIG_VERSION})")]
    Version {
        /// The version found in the document.
        found: u32,
    },
}

/// Everything an agent needs to log in to Vault and render a pod's templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Wire-format version, always [`CONFIG_VERSION`] when written by this crate.
    pub version: u32,
    /// How to reach Vault.
    pub vault: VaultConnection,
    /// How to log in and where to put the token.
    pub auto_auth: AutoAuth,
    /// The files to render, sorted by secret name.
    #[serde(default)]
    pub templates: Vec<Template>,
    /// Behaviour shared by all templates.
    #[serde(default)]
    pub template_config: TemplateConfig,
    /// Directories the agent may write into (the secrets volumes' mount paths). A template or sink whose
    /// destination lies outside all of them is refused.
    pub secrets_dirs: Vec<String>,
    /// Logging of the agent.
    #[serde(default)]
    pub log: LogConfig,
    /// Revoke the token when the sidecar stops (`agent-revoke-on-shutdown`).
    #[serde(default)]
    pub revoke_on_shutdown: bool,
    /// `agent-configmap`: where the pod's ConfigMap of Vault Agent config files is mounted
    /// (`/vault/configs`). The agent then runs from `config-init.hcl` (init mode) or `config.hcl`
    /// (otherwise), read with [`hcl::read`] and laid over this config with [`hcl::apply`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<String>,
    /// Vault Agent's `exit_after_auth` (from a config file): render every template once and exit,
    /// whatever the container's mode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exit_after_auth: bool,
    /// Vault Agent's `pid_file` (from a config file): the agent writes its PID there while it runs.
    /// Inside the agent's home or a secrets directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<String>,
    /// Vault Agent's `listener "tcp"` stanzas: where the sidecar serves the Vault API proxy (with the
    /// [`AgentConfig::cache`]) and `/agent/v1/*`. vault-k8s writes one, `127.0.0.1:<port>`, for
    /// `agent-cache-enable` or `agent-enable-quit`. Empty: no listener.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<Listener>,
    /// Vault Agent's `cache {}` stanza: the listeners proxy Vault's API, caching leased responses and
    /// tokens. vault-k8s writes it with a listener; absent with listeners present means a proxy without
    /// the auto-auth token (Vault Agent's `api_proxy` defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    /// Vault Agent's `telemetry {}` stanza (`agent-telemetry-<param>`): the part the agent acts on.
    /// Metrics are served at `/agent/v1/metrics` on every listener whether or not it is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<Telemetry>,
    /// The pod runs with `hostNetwork: true`, so its loopback is the node's: every listener counts as
    /// reachable from outside the pod ([`Listener::check`]). The webhook sets it with
    /// `agent-configmap` (whose listeners it cannot see); it refuses listener annotations on such pods.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
}

/// Connection settings for Vault (`vault {}` stanza of Vault Agent).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConnection {
    /// Vault address, e.g. `https://vault.vault.svc:8200`.
    pub address: String,
    /// Path of a PEM CA certificate file to trust (`ca-cert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
    /// Directory of PEM CA certificates (`ca-key`, which vault-k8s maps to `ca_path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_path: Option<String>,
    /// PEM CA bundle given inline by the injector (`-vault-cacert-bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_pem: Option<String>,
    /// Client certificate file for TLS client authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    /// Client key file for TLS client authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// Do not verify Vault's certificate. Dangerous; the webhook warns about it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_skip_verify: bool,
    /// Server name to verify Vault's certificate against (SNI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// HTTPS proxy for requests to Vault (`proxy-address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_address: Option<String>,
    /// Attempts of a failing secret fetch before the template reports an error (`client-max-retries`;
    /// Vault Agent's default is 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Timeout of one request to Vault, a Go duration (`client-timeout`; default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_timeout: Option<VaultDuration>,
    /// Vault Agent's top-level `disable_idle_connections` (`agent-disable-idle-connections`): the
    /// components ([`CONNECTION_COMPONENTS`]) whose connections to Vault are not kept idle for reuse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disable_idle_connections: Vec<String>,
    /// Vault Agent's top-level `disable_keep_alives` (`agent-disable-keep-alives`): the components
    /// whose requests to Vault close their connection afterwards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disable_keep_alives: Vec<String>,
}

/// The components Vault Agent's `disable_idle_connections` / `disable_keep_alives` name.
pub const CONNECTION_COMPONENTS: &[&str] = &["auto-auth", "caching", "templating", "proxying"];

/// Parses a comma-separated list of [`CONNECTION_COMPONENTS`] (vault-k8s's annotation form; items
/// trimmed, empty items skipped). On error, the offending item.
pub fn connection_components(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !CONNECTION_COMPONENTS.contains(&item) {
            return Err(item.to_owned());
        }
        if !out.iter().any(|c| c == item) {
            out.push(item.to_owned());
        }
    }
    Ok(out)
}

/// `auto_auth {}`: the login method and the token sinks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoAuth {
    /// The login method.
    pub method: AuthMethod,
    /// Files the token is written to, in order.
    #[serde(default)]
    pub sinks: Vec<Sink>,
}

/// An auto-auth method.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthMethod {
    /// Method type: `kubernetes`, `jwt`, `approle`, `token_file`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Mount path of the auth method, e.g. `auth/kubernetes`.
    pub mount_path: String,
    /// Vault Enterprise namespace to log in to and read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Go duration: first retry delay of a failed login (default 1s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_backoff: Option<VaultDuration>,
    /// Go duration: longest retry delay of a failed login (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<VaultDuration>,
    /// Exit instead of retrying when login fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exit_on_err: bool,
    /// Method parameters (`role`, `token_path`, `role_id_file_path`, …), all strings as in vault-k8s.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// A file sink for the auth token.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sink {
    /// Destination file.
    pub path: String,
    /// File mode (default 0o640, as Vault Agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// One rendered file (`template {}` stanza).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The secret name from the annotation (`agent-inject-secret-<name>`), for messages.
    pub name: String,
    /// Absolute destination path; always inside one of [`AgentConfig::secrets_dirs`].
    pub destination: String,
    /// Inline template text (consul-template syntax or handlebars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    /// Path of a template file inside the agent container (used when `contents` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Left delimiter of actions.
    #[serde(default = "default_left_delimiter")]
    pub left_delimiter: String,
    /// Right delimiter of actions.
    #[serde(default = "default_right_delimiter")]
    pub right_delimiter: String,
    /// Octal file mode such as `0600`; absent means Vault Agent's default (keep, else 0644).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perms: Option<FileMode>,
    /// Command run (as an argv split on white space, without a shell) after the file changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// A missing map key is an error instead of `<no value>`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub error_on_missing_key: bool,
    /// `ferrovault.dev/env-<secret>`: the file is an env file the kubelet reads these keys from
    /// (`fileKeyRef`); the agent refuses to write a render it would misread or miss a key in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_keys: Vec<String>,
    /// The env file format of the cluster's kubelet (with `env_keys`): the agent writes the rendered
    /// `KEY=VALUE` lines in it.
    #[serde(default, skip_serializing_if = "actions::EnvFileFormat::is_plain")]
    pub env_format: actions::EnvFileFormat,
    /// `ferrovault.dev/reload-*-<secret>`: run after a re-render changed the file, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reload: Vec<ReloadAction>,
    /// Vault Agent's `function_denylist` (alias `function_blacklist`; from a config file): template
    /// functions that fail when called ("function is disabled"), e.g. `file`, `env`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_denylist: Vec<String>,
    /// Vault Agent's `sandbox_path` (from a config file): `file` reads only files whose resolved
    /// path (every symlink followed) lies inside this directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_path: Option<String>,
}

fn default_left_delimiter() -> String {
    "{{".to_owned()
}

fn default_right_delimiter() -> String {
    "}}".to_owned()
}

/// `template_config {}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// Exit when a template fails after retries (vault-k8s default: true).
    pub exit_on_retry_failure: bool,
    /// Go duration: re-read period of secrets without a lease (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_secret_render_interval: Option<VaultDuration>,
    /// Maximum concurrent connections to Vault while fetching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections_per_host: Option<u64>,
    /// Fraction of a non-renewable lease after which the secret is fetched again (default 0.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_renewal_threshold: Option<f64>,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        Self {
            exit_on_retry_failure: true,
            static_secret_render_interval: None,
            max_connections_per_host: None,
            lease_renewal_threshold: None,
        }
    }
}

/// Logging settings (`log-level`, `log-format` annotations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// `standard` (text) or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: "standard".to_owned(),
        }
    }
}

/// vault-k8s' (and Vault's) log level names, case- and space-insensitive: `trace`, `debug`, `info`
/// (= `notice` = empty), `warn` (= `warning`), `err` (= `error`). Returns the canonical name
/// (`trace`, `debug`, `info`, `warn`, `error`), or `None` for anything else.
pub fn log_level(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "trace" => Some("trace"),
        "debug" => Some("debug"),
        "" | "info" | "notice" => Some("info"),
        "warn" | "warning" => Some("warn"),
        "err" | "error" => Some("error"),
        _ => None,
    }
}

/// Auto-auth methods an injected agent can run (`token` needs `VAULT_TOKEN`, which no injected pod
/// has). Any other `auth-type` is refused at admission instead of failing in the pod.
pub const INJECTABLE_AUTH_METHODS: &[&str] = &["kubernetes", "jwt", "approle", "token_file", "cert"];

/// Vault's `logging.ParseLogFormat`: trimmed and lower-cased, `""` or `standard` → `standard`,
/// `json` → `json`; anything else is not a log format.
pub fn log_format(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "standard" => Some("standard"),
        "json" => Some("json"),
        _ => None,
    }
}

impl AgentConfig {
    /// Serialises to compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("AgentConfig always serialises")
    }

    /// Parses JSON, checking the version.
    pub fn from_json(json: &[u8]) -> Result<Self, ContractError> {
        #[derive(Deserialize)]
        struct Probe {
            version: u32,
        }
        let Probe { version } = serde_json::from_slice(json)?;
        if version != CONFIG_VERSION {
            return Err(ContractError::Version { found: version });
        }
        let mut de = serde_json::Deserializer::from_slice(json);
        serde_path_to_error::deserialize(&mut de).map_err(|e| ContractError::Field {
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        })
    }

    /// The value of [`AGENT_CONFIG_ENV`]: standard base64 of the compact JSON.
    pub fn encode_env(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_json())
    }

    /// Reads the value of [`AGENT_CONFIG_ENV`].
    pub fn decode_env(value: &str) -> Result<Self, ContractError> {
        let json = base64::engine::general_purpose::STANDARD.decode(value.trim())?;
        Self::from_json(&json)
    }
}

/// The body vault-k8s generates when a secret has no template of its own
/// (`agent-inject-default-template`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultTemplate {
    /// One `key: value` line per key of `.Data`.
    Map,
    /// `.Data` as JSON, plus a newline.
    Json,
}

impl DefaultTemplate {
    /// The template text reading `path`, byte for byte what vault-k8s generates.
    pub fn contents(self, path: &str) -> String {
        match self {
            DefaultTemplate::Map => format!(
                "{{{{ with secret \"{path}\" }}}}{{{{ range $k, $v := .Data }}}}{{{{ $k }}}}: {{{{ $v }}}}\n{{{{ end }}}}{{{{ end }}}}"
            ),
            DefaultTemplate::Json => {
                format!("{{{{ with secret \"{path}\" }}}}{{{{ .Data | toJSON }}}}\n{{{{ end }}}}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> AgentConfig {
        AgentConfig {
            version: CONFIG_VERSION,
            vault: VaultConnection {
                address: "https://vault.vault.svc:8200".into(),
                ca_cert: Some("/vault/tls/ca.crt".into()),
                tls_server_name: Some("vault.vault.svc".into()),
                ..Default::default()
            },
            auto_auth: AutoAuth {
                method: AuthMethod {
                    kind: "kubernetes".into(),
                    mount_path: "auth/kubernetes".into(),
                    config: BTreeMap::from([
                        ("role".into(), "internal-app".into()),
                        (
                            "token_path".into(),
                            "/var/run/secrets/kubernetes.io/serviceaccount/token".into(),
                        ),
                    ]),
                    ..Default::default()
                },
                sinks: vec![Sink {
                    path: HOME_TOKEN_SINK.into(),
                    mode: None,
                }],
            },
            templates: vec![Template {
                name: "database-config.txt".into(),
                destination: "/vault/secrets/database-config.txt".into(),
                contents: Some(
                    "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}\n".into(),
                ),
                left_delimiter: "{{".into(),
                right_delimiter: "}}".into(),
                ..Default::default()
            }, Template {
                name: "app.env".into(),
                destination: "/vault/secrets/app.env".into(),
                contents: Some(
                    "{{- with secret \"secret/my-secret\" -}}\nDB_USER={{ .Data.username }}\nDB_PASSWORD={{ .Data.password }}\n{{- end }}\n".into(),
                ),
                left_delimiter: "{{".into(),
                right_delimiter: "}}".into(),
                env_keys: vec!["DB_USER".into(), "DB_PASSWORD".into()],
                reload: vec![
                    actions::signal_action("SIGHUP app").unwrap(),
                    actions::http_action("POST http://127.0.0.1:8080/-/reload").unwrap(),
                    actions::exec_action(r#"["/bin/notify", "reload"]"#).unwrap(),
                ],
                ..Default::default()
            }],
            template_config: TemplateConfig::default(),
            secrets_dirs: vec!["/vault/secrets".into()],
            log: LogConfig::default(),
            revoke_on_shutdown: false,
            config_dir: None,
            exit_after_auth: false,
            pid_file: None,
            listeners: vec![Listener {
                address: "127.0.0.1:8200".into(),
                enable_quit: true,
                ..Default::default()
            }],
            cache: Some(Cache {
                use_auto_auth_token: UseAutoAuthToken::True,
                persist: Some(CachePersist {
                    path: "/vault/agent-cache".into(),
                    exit_on_err: false,
                }),
            }),
            telemetry: Some(Telemetry {
                prometheus_retention_time: Some("24h".parse().unwrap()),
            }),
            host_network: false,
        }
    }

    #[test]
    fn golden_wire_format_is_stable() {
        let golden = include_str!("../testdata/agent-config.v1.json");
        let expected: serde_json::Value = serde_json::from_str(golden).unwrap();
        let actual: serde_json::Value = serde_json::from_str(&example().to_json()).unwrap();
        assert_eq!(
            actual, expected,
            "wire format changed: bump CONFIG_VERSION or fix the change"
        );
        assert_eq!(AgentConfig::from_json(golden.as_bytes()).unwrap(), example());
    }

    #[test]
    fn env_round_trip() {
        let cfg = example();
        assert_eq!(AgentConfig::decode_env(&cfg.encode_env()).unwrap(), cfg);
    }

    #[test]
    fn other_versions_are_refused() {
        let json = example().to_json().replace("\"version\":1", "\"version\":2");
        let err = AgentConfig::from_json(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("version 2 is not supported"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = example()
            .to_json()
            .replace("\"version\":1", "\"version\":1,\"bogus\":true");
        assert!(AgentConfig::from_json(json.as_bytes()).is_err());
    }

    #[test]
    fn commands_split_like_a_shell_and_refuse_what_needs_one() {
        assert_eq!(command_argv("kill -HUP 1").unwrap(), ["kill", "-HUP", "1"]);
        assert_eq!(
            command_argv("/bin/notify 'a b' \"c d\" e\\ f").unwrap(),
            ["/bin/notify", "a b", "c d", "e f"]
        );
        assert_eq!(command_argv("echo 'a|b;$c'").unwrap(), ["echo", "a|b;$c"]);
        for needs_shell in [
            "kill -HUP $(pidof app)",
            "a | b",
            "a; b",
            "a && b",
            "a > /tmp/x",
            "echo $HOME",
            "echo `id`",
        ] {
            let err = command_argv(needs_shell).unwrap_err();
            assert!(err.contains("needs a shell"), "{needs_shell}: {err}");
        }
        assert!(command_argv("echo 'open").unwrap_err().contains("unclosed quote"));
    }

    #[test]
    fn log_levels_follow_vault_k8s() {
        for (input, level) in [
            ("trace", "trace"),
            (" DEBUG ", "debug"),
            ("", "info"),
            (" ", "info"),
            ("Notice", "info"),
            ("warning", "warn"),
            ("ERR", "error"),
        ] {
            assert_eq!(log_level(input), Some(level), "{input:?}");
        }
        for bad in ["inf", "tracing", "warnn", "errors", "0", "1", "junk"] {
            assert_eq!(log_level(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn default_templates_match_vault_k8s() {
        assert_eq!(
            DefaultTemplate::Map.contents("db/creds/bar"),
            "{{ with secret \"db/creds/bar\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
        );
        assert_eq!(
            DefaultTemplate::Json.contents("x"),
            "{{ with secret \"x\" }}{{ .Data | toJSON }}\n{{ end }}"
        );
    }
}
