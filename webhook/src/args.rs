//! Command line. Every flag has an environment twin; the vault-k8s flags keep their `AGENT_INJECT_*`
//! names so a vault-helm `injector:` deployment's environment carries over unchanged.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ferrovault_contract::go;

use crate::inject::InjectorDefaults;
use crate::inject::defaults::vault_k8s;

/// ferrovault's mutating admission webhook (vault-k8s compatible).
#[derive(Debug, Parser)]
#[command(name = "ferrovault-webhook", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve `POST /mutate` over TLS.
    Serve(Box<ServeArgs>),
    /// Mutate one Pod or AdmissionReview read from a file, offline (a dry run of the webhook).
    Inject(Box<InjectArgs>),
    /// List pods that ask for agent injection but have no agent (missed injections); exit 1 when
    /// any exist, 0 when none, 2 on errors. Uses KUBECONFIG or the in-cluster configuration.
    Audit(Box<AuditArgs>),
}

/// Output of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditOutput {
    /// Aligned columns: namespace, pod, owner, reason.
    Table,
    /// A JSON array of {namespace, name, owner, reason}.
    Json,
}

/// Flags of `audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Only this namespace (default: all namespaces).
    #[arg(long, short)]
    pub namespace: Option<String>,
    /// The injector's MutatingWebhookConfiguration: pods outside its namespace/object selectors are
    /// not meant to be injected and are not reported (default: every pod is judged).
    #[arg(long, env = "FERROVAULT_WEBHOOK_CONFIG")]
    pub webhook_config: Option<String>,
    /// What to print.
    #[arg(long, short, value_enum, default_value = "table")]
    pub output: AuditOutput,
}

/// `--native-sidecar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NativeSidecar {
    /// Native sidecars when the cluster supports them (Kubernetes ≥ 1.29).
    Auto,
    /// Always native sidecars.
    Always,
    /// Classic init container + sidecar.
    Never,
}

/// `--env-files`: whether pods may take secrets as environment variables through the kubelet's
/// `fileKeyRef` (Kubernetes' `EnvFiles` feature: alpha in 1.34, beta and on by default from 1.35).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFiles {
    /// On when the API server is 1.35 or later (the gate's default there), off below or when the
    /// version cannot be learnt.
    Auto,
    /// On: the operator turned the gate on (1.34) or knows it is on.
    On,
    /// Off: pods asking for env vars are refused.
    Off,
}

impl EnvFiles {
    /// The decision, given the server's version when known.
    pub fn enabled(self, server: Option<(u32, u32)>) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Auto => server_at_least(server, ENV_FILES_FROM),
        }
    }
}

fn env_files(value: &str) -> Result<EnvFiles, String> {
    if value == "auto" {
        return Ok(EnvFiles::Auto);
    }
    match go::parse_bool(value) {
        Some(true) => Ok(EnvFiles::On),
        Some(false) => Ok(EnvFiles::Off),
        None => Err(format!(
            "invalid value {value:?}: expected auto, or {}",
            go::BOOL_ACCEPTED
        )),
    }
}

/// Output of `inject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The mutated Pod (JSON).
    Pod,
    /// The RFC 6902 patch (JSON).
    Patch,
    /// The AdmissionReview response (JSON).
    Review,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    Standard,
    /// One JSON object per line.
    Json,
}

/// Flags shared by `serve` and `inject`: the defaults applied to every injected pod.
#[derive(Debug, Clone, Args)]
pub struct InjectorArgs {
    /// Vault address given to the agents (annotation `vault.hashicorp.com/service` overrides).
    #[arg(long, env = "AGENT_INJECT_VAULT_ADDR", default_value = "")]
    pub vault_address: String,
    /// Image of the agent containers.
    #[arg(
        long,
        visible_alias = "vault-image",
        env = "AGENT_INJECT_VAULT_IMAGE",
        default_value = crate::inject::DEFAULT_AGENT_IMAGE
    )]
    pub agent_image: String,
    /// Auto-auth method type.
    #[arg(long, env = "AGENT_INJECT_VAULT_AUTH_TYPE", default_value = vault_k8s::AUTH_TYPE)]
    pub vault_auth_type: String,
    /// Mount path of the auth method.
    #[arg(long, env = "AGENT_INJECT_VAULT_AUTH_PATH", default_value = vault_k8s::AUTH_PATH)]
    pub vault_auth_path: String,
    /// Vault Enterprise namespace.
    #[arg(long, env = "AGENT_INJECT_VAULT_NAMESPACE", default_value = "")]
    pub vault_namespace: String,
    /// PEM CA bundle (or its base64) the agents trust.
    #[arg(
        long,
        env = "AGENT_INJECT_VAULT_CACERT_BYTES",
        default_value = "",
        hide_env_values = true
    )]
    pub vault_cacert_bytes: String,
    /// HTTPS proxy the agents use to reach Vault.
    #[arg(long, env = "AGENT_INJECT_PROXY_ADDR", default_value = "")]
    pub proxy_address: String,
    /// Revoke the agent's token when the sidecar stops.
    #[arg(long, env = "AGENT_INJECT_REVOKE_ON_SHUTDOWN", default_value = "false", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub revoke_on_shutdown: bool,
    /// UID of the agent containers.
    #[arg(long, env = "AGENT_INJECT_RUN_AS_USER", default_value_t = vault_k8s::RUN_AS_USER)]
    pub run_as_user: i64,
    /// GID of the agent containers.
    #[arg(long, env = "AGENT_INJECT_RUN_AS_GROUP", default_value_t = vault_k8s::RUN_AS_GROUP)]
    pub run_as_group: i64,
    /// Run the agents with the UID of the pod's first container.
    #[arg(long, env = "AGENT_INJECT_RUN_AS_SAME_USER", default_value = "false", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub run_as_same_user: bool,
    /// Give the agent containers a restrictive securityContext.
    #[arg(long, env = "AGENT_INJECT_SET_SECURITY_CONTEXT", default_value = "true", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub set_security_context: bool,
    /// Template of secrets without one of their own: `map` or `json`.
    #[arg(long, env = "AGENT_INJECT_DEFAULT_TEMPLATE", default_value = vault_k8s::DEFAULT_TEMPLATE, value_parser = default_template)]
    pub default_template: String,
    /// CPU request of each agent container ("" = none).
    #[arg(long, env = "AGENT_INJECT_CPU_REQUEST", default_value = vault_k8s::CPU_REQUEST)]
    pub cpu_request: String,
    /// Memory request of each agent container.
    #[arg(long, env = "AGENT_INJECT_MEM_REQUEST", default_value = vault_k8s::MEM_REQUEST)]
    pub memory_request: String,
    /// Ephemeral-storage request of each agent container.
    #[arg(long, env = "AGENT_INJECT_EPHEMERAL_REQUEST", default_value = "")]
    pub ephemeral_storage_request: String,
    /// CPU limit of each agent container.
    #[arg(long, env = "AGENT_INJECT_CPU_LIMIT", default_value = vault_k8s::CPU_LIMIT)]
    pub cpu_limit: String,
    /// Memory limit of each agent container.
    #[arg(long, env = "AGENT_INJECT_MEM_LIMIT", default_value = vault_k8s::MEM_LIMIT)]
    pub memory_limit: String,
    /// Ephemeral-storage limit of each agent container.
    #[arg(long, env = "AGENT_INJECT_EPHEMERAL_LIMIT", default_value = "")]
    pub ephemeral_storage_limit: String,
    /// `template_config.exit_on_retry_failure` of the agents.
    #[arg(long, env = "AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE", default_value = "true", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub template_config_exit_on_retry_failure: bool,
    /// `template_config.static_secret_render_interval` (read by the agent as Vault does: `30`, `1d`,
    /// `5m`).
    #[arg(long, env = "AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL", default_value = "", value_parser = optional_vault_duration)]
    pub template_static_secret_render_interval: String,
    /// `template_config.max_connections_per_host` (0 = agent default).
    #[arg(
        long,
        env = "AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST",
        default_value_t = 0
    )]
    pub template_max_connections_per_host: u64,
    /// `template_config.lease_renewal_threshold` (0 = agent default).
    #[arg(
        long,
        env = "AGENT_INJECT_TEMPLATE_LEASE_RENEWAL_THRESHOLD",
        default_value_t = 0.0
    )]
    pub template_lease_renewal_threshold: f64,
    /// Vault Agent's `disable_idle_connections` for every pod without the annotation
    /// (comma-separated: auto-auth, caching, templating, proxying).
    #[arg(long, env = "AGENT_INJECT_DISABLE_IDLE_CONNECTIONS", default_value = "", value_parser = components)]
    pub disable_idle_connections: String,
    /// Vault Agent's `disable_keep_alives` for every pod without the annotation (same values).
    #[arg(long, env = "AGENT_INJECT_DISABLE_KEEP_ALIVES", default_value = "", value_parser = components)]
    pub disable_keep_alives: String,
    /// First auto-auth retry delay (Go duration).
    #[arg(long, env = "AGENT_INJECT_AUTH_MIN_BACKOFF", default_value = "", value_parser = optional_duration)]
    pub auth_min_backoff: String,
    /// Longest auto-auth retry delay (Go duration).
    #[arg(long, env = "AGENT_INJECT_AUTH_MAX_BACKOFF", default_value = "", value_parser = optional_duration)]
    pub auth_max_backoff: String,
    /// Native sidecar mode (one init container with `restartPolicy: Always`).
    #[arg(long, env = "FERROVAULT_NATIVE_SIDECAR", value_enum, default_value = "auto")]
    pub native_sidecar: NativeSidecar,
    /// Pods may ask for secrets as environment variables (`ferrovault.dev/env-<secret>`), which
    /// needs Kubernetes' `EnvFiles` feature on every API server and kubelet: `auto` (on when the API
    /// server is 1.35 or later, where the gate is beta and on by default), `true` (1.34 with the
    /// alpha gate turned on) or `false`. Off, such pods are refused.
    #[arg(long, env = "FERROVAULT_ENV_FILES", default_value = "auto", value_parser = env_files, action = clap::ArgAction::Set)]
    pub env_files: EnvFiles,
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Injection defaults.
    #[command(flatten)]
    pub injector: InjectorArgs,
    /// Address to listen on (`:8080` means every interface, as in vault-k8s).
    #[arg(long, env = "AGENT_INJECT_LISTEN", default_value = ":8080", value_parser = listen_addr)]
    pub listen: SocketAddr,
    /// PEM certificate chain served (reloaded when the file changes).
    #[arg(long, env = "AGENT_INJECT_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (reloaded when the file changes).
    #[arg(long, env = "AGENT_INJECT_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// Lowest TLS version accepted: `tls12` or `tls13`.
    #[arg(long, env = "AGENT_INJECT_TLS_MIN_VERSION", default_value = "tls12", value_parser = ["tls12", "tls13"])]
    pub tls_min_version: String,
    /// TLS 1.2 cipher suites offered, comma-separated Go names ("" = rustls' defaults, all AEAD
    /// with forward secrecy). Names rustls does not implement (CBC, RC4, 3DES, RSA key exchange)
    /// and TLS 1.3 names are accepted and logged as without effect.
    #[arg(long, env = "AGENT_INJECT_TLS_CIPHER_SUITES", default_value = "")]
    pub tls_cipher_suites: String,
    /// CA of the served certificate (vault-k8s reads it alongside --tls-cert-file). Checked to be PEM
    /// certificates; the webhook configuration's caBundle comes from the chart (certs.caBundle).
    #[arg(long, env = "AGENT_INJECT_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// vault-k8s's switch for leader election between replicas (Go bool). Auto TLS always elects
    /// one leader through a Lease, so `false` changes nothing (logged).
    #[arg(long, env = "AGENT_INJECT_USE_LEADER_ELECTOR", value_parser = go_bool)]
    pub use_leader_elector: Option<bool>,
    /// Path of the Prometheus metrics endpoint ("" disables it).
    #[arg(long, env = "AGENT_INJECT_TELEMETRY_PATH", default_value = "/metrics")]
    pub telemetry_path: String,
    /// Distinct namespace label values of the per-namespace metrics; namespaces beyond it are counted
    /// under `namespace="other"`, so forged reviews cannot grow the series without bound.
    #[arg(long, env = "FERROVAULT_METRICS_MAX_NAMESPACES", default_value_t = crate::metrics::DEFAULT_MAX_NAMESPACES)]
    pub metrics_max_namespaces: usize,
    /// Log level: trace, debug, info, warn, error (vault-k8s spellings accepted).
    #[arg(long, env = "AGENT_INJECT_LOG_LEVEL", default_value = "info", value_parser = log_level)]
    pub log_level: tracing::Level,
    /// Log format.
    #[arg(long, env = "AGENT_INJECT_LOG_FORMAT", value_enum, default_value = "standard")]
    pub log_format: LogFormat,
    /// Largest AdmissionReview body accepted, in bytes.
    #[arg(long, env = "FERROVAULT_MAX_BODY_BYTES", default_value_t = 3 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Time allowed to receive and answer one request (Go duration).
    #[arg(long, env = "FERROVAULT_REQUEST_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub request_timeout: Duration,
    /// Connections served at once; further clients wait in the listen backlog.
    #[arg(long, env = "FERROVAULT_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Time for a client's TLS handshake and for each request's headers; an idle HTTP/1 keep-alive
    /// connection is closed after it too (Go duration).
    #[arg(long, env = "FERROVAULT_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub header_read_timeout: Duration,
    /// A connection (HTTP/1 or HTTP/2) with no traffic for this long is closed; must be longer than
    /// --request-timeout (Go duration).
    #[arg(long, env = "FERROVAULT_IDLE_TIMEOUT", default_value = "90s", value_parser = duration)]
    pub idle_timeout: Duration,
    /// Time given to open connections to finish after SIGTERM/SIGINT (Go duration).
    #[arg(long, env = "FERROVAULT_DRAIN_TIMEOUT", default_value = "20s", value_parser = duration)]
    pub drain_timeout: Duration,
    /// How often the certificate files are checked for changes (Go duration).
    #[arg(long, env = "FERROVAULT_TLS_RELOAD_INTERVAL", default_value = "1s", value_parser = duration)]
    pub tls_reload_interval: Duration,
    /// Auto TLS: make, share and rotate the serving certificate, and keep the `caBundle` of this
    /// MutatingWebhookConfiguration up to date (replaces --tls-cert-file/--tls-key-file).
    #[arg(long, env = "AGENT_INJECT_TLS_AUTO")]
    pub tls_auto: Option<String>,
    /// Auto TLS: subjectAltNames of the serving certificate, comma-separated (IP addresses detected).
    #[arg(long, env = "AGENT_INJECT_TLS_AUTO_HOSTS", default_value = "")]
    pub tls_auto_hosts: String,
    /// Auto TLS: the Secret shared by all replicas (CA, serving pair).
    #[arg(
        long,
        env = "FERROVAULT_TLS_AUTO_SECRET",
        default_value = "ferrovault-webhook-tls"
    )]
    pub tls_auto_secret: String,
    /// Auto TLS and missed injections: the Lease electing the replica that writes the Secret,
    /// patches `caBundle` and reports missed injections.
    #[arg(
        long,
        env = "FERROVAULT_LEADER_LEASE",
        default_value = "ferrovault-webhook-leader"
    )]
    pub leader_lease: String,
    /// Auto TLS and missed injections: namespace of the Secret and the Lease (this pod's).
    #[arg(long, env = "NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// Auto TLS and missed injections: this replica's identity in the Lease (default: the
    /// hostname).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Watch for missed injections (pods that ask for injection but have no agent) while this
    /// replica leads, and report each with an Event, a log line and the
    /// `ferrovault_webhook_missed_injections` metric. Needs list/watch on pods and create/patch on
    /// events.k8s.io Events cluster-wide; elects through --leader-lease even without auto TLS.
    #[arg(long, env = "FERROVAULT_MISSED_INJECTIONS", default_value = "false", value_parser = go_bool, action = clap::ArgAction::Set)]
    pub missed_injections: bool,
    /// Missed injections: how often every pod is listed again (Go duration).
    #[arg(long, env = "FERROVAULT_MISSED_INJECTIONS_RESYNC", default_value = "10m", value_parser = duration)]
    pub missed_injections_resync: Duration,
    /// Missed injections: the MutatingWebhookConfiguration whose selectors say which pods are
    /// meant to be injected (default: --tls-auto's; none: every pod).
    #[arg(long, env = "FERROVAULT_WEBHOOK_CONFIG")]
    pub webhook_config: Option<String>,
    /// Auto TLS: lifetime of a new CA (Go duration).
    #[arg(long, env = "FERROVAULT_TLS_AUTO_CA_VALIDITY", default_value = "87600h", value_parser = duration)]
    pub tls_auto_ca_validity: Duration,
    /// Auto TLS: lifetime of a serving certificate (Go duration), renewed when a third is left.
    /// 90 days, not vault-k8s' 24 h: a leader outage then has 30 days to heal, not 2.4 hours.
    #[arg(long, env = "FERROVAULT_TLS_AUTO_LEAF_VALIDITY", default_value = "2160h", value_parser = duration)]
    pub tls_auto_leaf_validity: Duration,
    /// Auto TLS: how often the leader re-checks the Secret and caBundle and followers re-read the
    /// Secret (Go duration).
    #[arg(long, env = "FERROVAULT_TLS_AUTO_CHECK_INTERVAL", default_value = "1m", value_parser = duration)]
    pub tls_auto_check_interval: Duration,
    /// Auto TLS and missed injections: how long the leader Lease lasts without renewal (Go
    /// duration).
    #[arg(long, env = "FERROVAULT_LEADER_LEASE_DURATION", default_value = "15s", value_parser = duration)]
    pub leader_lease_duration: Duration,
    /// Auto TLS and missed injections: how often the leader renews the Lease (Go duration).
    #[arg(long, env = "FERROVAULT_LEADER_RENEW_INTERVAL", default_value = "5s", value_parser = duration)]
    pub leader_renew_interval: Duration,
}

/// Flags of `inject`.
#[derive(Debug, Clone, Args)]
pub struct InjectArgs {
    /// Injection defaults.
    #[command(flatten)]
    pub injector: InjectorArgs,
    /// A Pod or an AdmissionReview, JSON or YAML (`-` = stdin).
    #[arg(long, short)]
    pub file: PathBuf,
    /// In a multi-document input, the document to mutate as KIND/NAME (default: the first Pod,
    /// AdmissionReview or workload). A workload (Deployment, StatefulSet, …) becomes the pod its
    /// controller would create, with the service-account token volume the API server adds.
    #[arg(long)]
    pub select: Option<String>,
    /// Namespace of the request (default: the pod's, else `default`).
    #[arg(long, short)]
    pub namespace: Option<String>,
    /// What to print.
    #[arg(long, short, value_enum, default_value = "pod")]
    pub output: Output,
    /// Kubernetes version assumed by `--native-sidecar=auto` (e.g. 1.31); none means classic.
    #[arg(long, env = "FERROVAULT_KUBERNETES_VERSION")]
    pub kubernetes_version: Option<String>,
}

impl InjectorArgs {
    /// Whether a decision needs the API server's version: an `auto` flag, or env files on (their
    /// format changed in 1.35).
    pub fn needs_server_version(&self) -> bool {
        self.native_sidecar == NativeSidecar::Auto || self.env_files != EnvFiles::Off
    }

    /// The pod defaults, given the API server's version (major, minor) when it is known: `auto`
    /// flags follow it (native sidecars from 1.29, env files from 1.35), and are off without it.
    pub fn defaults(&self, server: Option<(u32, u32)>) -> InjectorDefaults {
        let native_supported = server_at_least(server, NATIVE_SIDECARS_FROM);
        let env_files = self.env_files.enabled(server);
        InjectorDefaults {
            vault_address: self.vault_address.clone(),
            agent_image: self.agent_image.clone(),
            auth_type: self.vault_auth_type.clone(),
            auth_path: self.vault_auth_path.clone(),
            vault_namespace: self.vault_namespace.clone(),
            ca_cert_bytes: self.vault_cacert_bytes.clone(),
            proxy_address: self.proxy_address.clone(),
            revoke_on_shutdown: self.revoke_on_shutdown,
            run_as_user: self.run_as_user,
            run_as_group: self.run_as_group,
            run_as_same_user: self.run_as_same_user,
            set_security_context: self.set_security_context,
            default_template: self.default_template.clone(),
            cpu_request: self.cpu_request.clone(),
            memory_request: self.memory_request.clone(),
            ephemeral_request: self.ephemeral_storage_request.clone(),
            cpu_limit: self.cpu_limit.clone(),
            memory_limit: self.memory_limit.clone(),
            ephemeral_limit: self.ephemeral_storage_limit.clone(),
            exit_on_retry_failure: self.template_config_exit_on_retry_failure,
            static_secret_render_interval: self.template_static_secret_render_interval.clone(),
            max_connections_per_host: self.template_max_connections_per_host,
            lease_renewal_threshold: self.template_lease_renewal_threshold,
            auth_min_backoff: self.auth_min_backoff.clone(),
            auth_max_backoff: self.auth_max_backoff.clone(),
            disable_idle_connections: self.disable_idle_connections.clone(),
            disable_keep_alives: self.disable_keep_alives.clone(),
            log_level: vault_k8s::LOG_LEVEL.to_owned(),
            log_format: vault_k8s::LOG_FORMAT.to_owned(),
            native_sidecar: match self.native_sidecar {
                NativeSidecar::Always => true,
                NativeSidecar::Never => false,
                NativeSidecar::Auto => native_supported,
            },
            native_sidecar_supported: native_supported || self.native_sidecar == NativeSidecar::Always,
            env_files,
            // with env files off nothing is written in it: the wire default then
            env_file_format: if env_files {
                ferrovault_contract::actions::EnvFileFormat::for_server(server)
            } else {
                ferrovault_contract::actions::EnvFileFormat::Plain
            },
        }
    }
}

/// A Kubernetes version string (`1.31`, `v1.29.3`, `1.30+`) as (major, minor); `None` when it is
/// not one.
pub fn parse_server_version(version: &str) -> Option<(u32, u32)> {
    let v = version.trim().trim_start_matches('v');
    let mut parts = v.split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok())?;
    let minor: u32 = parts
        .next()
        .map(|p| p.trim_end_matches(|c: char| !c.is_ascii_digit()))
        .and_then(|p| p.parse().ok())?;
    Some((major, minor))
}

/// The first release with native sidecars (`restartPolicy: Always` init containers).
pub const NATIVE_SIDECARS_FROM: (u32, u32) = (1, 29);
/// The first release with `EnvFiles` on by default (beta).
pub const ENV_FILES_FROM: (u32, u32) = (1, 35);

/// The API server is `release` (major, minor) or later; `false` when its version is not known.
pub fn server_at_least(server: Option<(u32, u32)>, release: (u32, u32)) -> bool {
    server.is_some_and(|version| version >= release)
}

#[cfg(test)]
mod env_files_tests {
    use super::*;

    #[test]
    fn env_files_auto_follows_the_server_from_1_35() {
        assert!(!EnvFiles::Auto.enabled(None));
        assert!(!EnvFiles::Auto.enabled(Some((1, 34))));
        assert!(EnvFiles::Auto.enabled(Some((1, 35))));
        assert!(EnvFiles::Auto.enabled(Some((1, 37))));
        assert!(EnvFiles::On.enabled(Some((1, 34))));
        assert!(EnvFiles::On.enabled(None));
        assert!(!EnvFiles::Off.enabled(Some((1, 37))));
        assert_eq!(env_files("auto"), Ok(EnvFiles::Auto));
        assert_eq!(env_files("1"), Ok(EnvFiles::On));
        assert_eq!(env_files("FALSE"), Ok(EnvFiles::Off));
        let err = env_files("yes").unwrap_err();
        assert!(err.contains("\"yes\"") && err.contains("auto"), "{err}");
        assert_eq!(parse_server_version("v1.37.2"), Some((1, 37)));
        assert_eq!(parse_server_version("1.30+"), Some((1, 30)));
        assert_eq!(parse_server_version("garbage"), None);
    }

    #[test]
    fn the_env_file_format_follows_the_server_when_env_files_are_on() {
        use ferrovault_contract::actions::EnvFileFormat::{Plain, SingleQuoted};
        let cli = crate::args::Cli::try_parse_from(["x", "inject", "--file", "p"]).unwrap();
        let crate::args::Command::Inject(args) = cli.command else {
            panic!("inject")
        };
        let mut injector = args.injector;
        assert!(injector.needs_server_version());
        assert_eq!(injector.defaults(Some((1, 37))).env_file_format, SingleQuoted);
        assert_eq!(injector.defaults(Some((1, 35))).env_file_format, SingleQuoted);
        injector.env_files = EnvFiles::On;
        assert_eq!(injector.defaults(Some((1, 34))).env_file_format, Plain);
        // on, version unknown: a current release's format
        assert_eq!(injector.defaults(None).env_file_format, SingleQuoted);
    }
}

fn components(value: &str) -> Result<String, String> {
    ferrovault_contract::connection_components(value)
        .map(|_| value.to_owned())
        .map_err(|bad| {
            format!(
                "unknown component {bad:?}: expected a comma-separated list of {}",
                ferrovault_contract::CONNECTION_COMPONENTS.join(", ")
            )
        })
}

fn go_bool(value: &str) -> Result<bool, String> {
    go::parse_bool(value).ok_or_else(|| format!("invalid boolean {value:?}: expected {}", go::BOOL_ACCEPTED))
}

fn duration(value: &str) -> Result<Duration, String> {
    go::parse_duration(value).ok_or_else(|| {
        let expected = go::duration_expectation(value, go::DURATION_ACCEPTED);
        format!("invalid duration {value:?}: expected {expected}")
    })
}

fn optional_duration(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    duration(value).map(|_| value.to_owned())
}

/// A duration the agent reads in Vault's format (whole seconds, days, or a Go duration).
fn optional_vault_duration(value: &str) -> Result<String, String> {
    if value.is_empty() || go::parse_vault_duration(value).is_some() {
        return Ok(value.to_owned());
    }
    let expected = go::duration_expectation(value, go::VAULT_DURATION_ACCEPTED);
    Err(format!("invalid duration {value:?}: expected {expected}"))
}

fn default_template(value: &str) -> Result<String, String> {
    match value.to_ascii_lowercase().as_str() {
        t @ ("map" | "json") => Ok(t.to_owned()),
        _ => Err(format!(
            "invalid default template type {value:?}: expected map or json"
        )),
    }
}

/// vault-k8s' level names ([`ferrovault_contract::log_level`]) as a tracing level.
pub fn log_level(value: &str) -> Result<tracing::Level, String> {
    match ferrovault_contract::log_level(value) {
        Some("trace") => Ok(tracing::Level::TRACE),
        Some("debug") => Ok(tracing::Level::DEBUG),
        Some("warn") => Ok(tracing::Level::WARN),
        Some("error") => Ok(tracing::Level::ERROR),
        Some(_) => Ok(tracing::Level::INFO),
        None => Err(format!(
            "unknown log level {value:?}: expected trace, debug, info, notice, warn, warning, err or error"
        )),
    }
}

/// `:8080` → `0.0.0.0:8080`, else a normal socket address.
pub fn listen_addr(value: &str) -> Result<SocketAddr, String> {
    let full = if value.starts_with(':') {
        format!("0.0.0.0{value}")
    } else {
        value.to_owned()
    };
    full.parse()
        .map_err(|_| format!("invalid listen address {value:?}: expected HOST:PORT or :PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_follow_vault_k8s() {
        for (input, level) in [
            ("trace", tracing::Level::TRACE),
            (" DEBUG ", tracing::Level::DEBUG),
            ("", tracing::Level::INFO),
            (" ", tracing::Level::INFO),
            ("Notice", tracing::Level::INFO),
            ("warning", tracing::Level::WARN),
            ("ERR", tracing::Level::ERROR),
        ] {
            assert_eq!(log_level(input), Ok(level), "{input:?}");
        }
        for bad in ["inf", "tracing", "warnn", "errors", "0", "1", "junk"] {
            assert!(log_level(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listen_accepts_go_style_port() {
        assert_eq!(listen_addr(":8080").unwrap(), "0.0.0.0:8080".parse().unwrap());
        assert_eq!(
            listen_addr("127.0.0.1:1").unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert!(listen_addr("8080").is_err());
    }

    #[test]
    fn native_sidecar_version_gate() {
        let native = |v: &str| server_at_least(parse_server_version(v), NATIVE_SIDECARS_FROM);
        assert!(native("1.29"));
        assert!(native("v1.31.2"));
        assert!(native("1.30+"));
        assert!(native("2.0"));
        assert!(!native("1.28"));
        assert!(!native("garbage"));
    }

    #[test]
    fn every_flag_has_an_env_twin() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        for sub in ["serve", "inject"] {
            let sc = cmd.find_subcommand(sub).unwrap();
            for arg in sc.get_arguments() {
                let id = arg.get_id().as_str();
                if ["file", "select", "namespace", "output", "help", "version"].contains(&id) {
                    continue;
                }
                assert!(arg.get_env().is_some(), "{sub} --{id} has no environment twin");
            }
        }
    }

    #[test]
    fn vault_k8s_env_names_are_honoured() {
        // SAFETY-free: clap reads env at parse time; use try_parse_from with explicit env via temp vars
        // is process-global, so only check the names are wired.
        use clap::CommandFactory;
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        let envs: Vec<String> = serve
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        for name in [
            "AGENT_INJECT_LISTEN",
            "AGENT_INJECT_VAULT_ADDR",
            "AGENT_INJECT_VAULT_IMAGE",
            "AGENT_INJECT_VAULT_AUTH_TYPE",
            "AGENT_INJECT_VAULT_AUTH_PATH",
            "AGENT_INJECT_VAULT_NAMESPACE",
            "AGENT_INJECT_VAULT_CACERT_BYTES",
            "AGENT_INJECT_PROXY_ADDR",
            "AGENT_INJECT_REVOKE_ON_SHUTDOWN",
            "AGENT_INJECT_RUN_AS_USER",
            "AGENT_INJECT_RUN_AS_GROUP",
            "AGENT_INJECT_RUN_AS_SAME_USER",
            "AGENT_INJECT_SET_SECURITY_CONTEXT",
            "AGENT_INJECT_DEFAULT_TEMPLATE",
            "AGENT_INJECT_CPU_REQUEST",
            "AGENT_INJECT_MEM_REQUEST",
            "AGENT_INJECT_CPU_LIMIT",
            "AGENT_INJECT_MEM_LIMIT",
            "AGENT_INJECT_EPHEMERAL_REQUEST",
            "AGENT_INJECT_EPHEMERAL_LIMIT",
            "AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE",
            "AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL",
            "AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST",
            "AGENT_INJECT_TEMPLATE_LEASE_RENEWAL_THRESHOLD",
            "AGENT_INJECT_AUTH_MIN_BACKOFF",
            "AGENT_INJECT_AUTH_MAX_BACKOFF",
            "AGENT_INJECT_DISABLE_IDLE_CONNECTIONS",
            "AGENT_INJECT_DISABLE_KEEP_ALIVES",
            "AGENT_INJECT_TLS_CIPHER_SUITES",
            "AGENT_INJECT_TLS_CA_CERT_FILE",
            "AGENT_INJECT_USE_LEADER_ELECTOR",
            "AGENT_INJECT_TLS_CERT_FILE",
            "AGENT_INJECT_TLS_KEY_FILE",
            "AGENT_INJECT_TLS_MIN_VERSION",
            "AGENT_INJECT_TELEMETRY_PATH",
            "AGENT_INJECT_LOG_LEVEL",
            "AGENT_INJECT_LOG_FORMAT",
        ] {
            assert!(envs.iter().any(|e| e == name), "{name} is not honoured");
        }
    }

    #[test]
    fn the_flags_defaults_are_the_injector_defaults() {
        // one table (inject::defaults::vault_k8s): flags and InjectorDefaults::default() agree
        let cli = Cli::try_parse_from(["x", "inject", "--file", "p"]).unwrap();
        let Command::Inject(args) = cli.command else {
            panic!("inject")
        };
        assert_eq!(args.injector.defaults(None), InjectorDefaults::default());
    }

    #[test]
    fn bad_flag_values_are_named() {
        let err =
            Cli::try_parse_from(["x", "inject", "--file", "p", "--default-template", "yaml"]).unwrap_err();
        assert!(err.to_string().contains("expected map or json"), "{err}");
        let err =
            Cli::try_parse_from(["x", "inject", "--file", "p", "--revoke-on-shutdown", "tRuE"]).unwrap_err();
        assert!(err.to_string().contains("invalid boolean"), "{err}");
    }
}
