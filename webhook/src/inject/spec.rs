//! Annotations → [`InjectionSpec`]: every setting that shapes the injected pod, validated.

use std::collections::BTreeMap;

use base64::Engine as _;
use ferrovault_contract::{AuthMethod, DefaultTemplate, LogConfig, TemplateConfig, VaultConnection};
use ferrovault_template::TemplateSource;
use k8s_openapi::api::core::v1::{Pod, VolumeMount};

use super::annotations::{Annotations, STATUS_KEY, parse_non_negative};
use super::sa_token::{self, ServiceAccountToken};
use super::secrets::{self, SecretSpec, TemplateBody};
use super::{Decision, InjectError, InjectionType, InjectorDefaults};

/// Default mount path of the shared secrets volume.
pub const DEFAULT_SECRET_VOLUME_PATH: &str = "/vault/secrets";

/// Annotations vault-k8s knows that ferrovault accepts but does not implement yet.
pub const UNSUPPORTED: &[&str] = &[
    "agent-configmap",
    "agent-cache-enable",
    "agent-cache-use-auto-auth-token",
    "agent-cache-listener-port",
    "agent-cache-exit-on-err",
    "agent-enable-quit",
    "agent-disable-idle-connections",
    "agent-disable-keep-alives",
];

/// Resource requests and limits of each agent container; `None` = not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentResources {
    /// `requests.cpu`.
    pub cpu_request: Option<String>,
    /// `requests.memory`.
    pub memory_request: Option<String>,
    /// `requests.ephemeral-storage`.
    pub ephemeral_request: Option<String>,
    /// `limits.cpu`.
    pub cpu_limit: Option<String>,
    /// `limits.memory`.
    pub memory_limit: Option<String>,
    /// `limits.ephemeral-storage`.
    pub ephemeral_limit: Option<String>,
}

/// The identity the agent containers run as, when a securityContext is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// `runAsUser`.
    pub user: i64,
    /// `runAsGroup`.
    pub group: i64,
}

/// Everything needed to build the agent config and the patch.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectionSpec {
    /// Request namespace.
    pub namespace: String,
    /// Which agent containers are added.
    pub injection: InjectionType,
    /// Put the agent's init container before the pod's own.
    pub init_first: bool,
    /// Agent image.
    pub image: String,
    /// Names of the app containers that get the secrets mounts.
    pub app_containers: Vec<String>,
    /// Mounts copied from `agent-copy-volume-mounts` into the agent containers.
    pub copied_mounts: Vec<VolumeMount>,
    /// The token the agent logs in with.
    pub service_account: ServiceAccountToken,
    /// `agent-json-patch`, parsed.
    pub json_patch: Option<json_patch::Patch>,
    /// `agent-init-json-patch`, parsed.
    pub init_json_patch: Option<json_patch::Patch>,
    /// `agent-share-process-namespace`.
    pub share_process_namespace: Option<bool>,
    /// The files to render, sorted by name.
    pub secrets: Vec<SecretSpec>,
    /// Mount path of the shared `vault-secrets` volume.
    pub secret_volume_path: String,
    /// Distinct per-secret mount paths ≠ the shared one, sorted: index i is `vault-secrets-custom-<i>`.
    pub custom_volume_paths: Vec<String>,
    /// Mount the secrets volumes read-only into app containers (`ferrovault.dev/secrets-read-only`).
    pub secrets_read_only: bool,
    /// `agent-extra-secret`: Secret mounted at `/vault/custom`.
    pub extra_secret: Option<String>,
    /// `tls-secret`: Secret mounted at `/vault/tls`.
    pub tls_secret: Option<String>,
    /// Agent container resources.
    pub resources: AgentResources,
    /// `None` = no securityContext on the agent containers.
    pub run_as: Option<RunAs>,
    /// `vault {}` of the agent config.
    pub vault: VaultConnection,
    /// The auto-auth method (config already holds role, token_path and `auth-config-*`).
    pub auth_method: AuthMethod,
    /// `agent-inject-token`: also write the token to `<secret-volume-path>/token`.
    pub inject_token: bool,
    /// `template_config {}`.
    pub template_config: TemplateConfig,
    /// Agent logging.
    pub log: LogConfig,
    /// Revoke the token when the agent stops.
    pub revoke_on_shutdown: bool,
}

/// A parsed spec and the warnings collected on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The spec.
    pub spec: InjectionSpec,
    /// Risky-but-allowed choices and ignored annotations.
    pub warnings: Vec<String>,
}

/// The skip/deny part of the decision flow (vault-k8s §2.1 steps 2–3). `Ok(())` = go on and inject.
pub fn should_inject(namespace: &str, pod: &Pod) -> Result<(), Decision> {
    let empty = BTreeMap::new();
    let map = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    let annotations = Annotations::new(map);
    let inject = match annotations.bool("agent-inject") {
        Ok(None) => {
            return Err(Decision::Skip {
                reason: "no agent-inject annotation",
            });
        }
        Ok(Some(inject)) => inject,
        Err(err) => {
            return Err(Decision::Deny {
                message: err.to_string(),
            });
        }
    };
    if !inject {
        return Err(Decision::Skip {
            reason: "agent-inject is false",
        });
    }
    if let Some(phase) = pod.status.as_ref().and_then(|s| s.phase.as_deref())
        && !phase.is_empty()
        && phase != "Pending"
    {
        return Err(Decision::Skip {
            reason: "pod is not pending",
        });
    }
    if annotations.value("agent-inject-status") == Some("injected")
        || map.get(STATUS_KEY).map(String::as_str) == Some("injected")
    {
        return Err(Decision::Skip {
            reason: "already injected",
        });
    }
    let deny = |err: InjectError| {
        Err(Decision::Deny {
            message: err.to_string(),
        })
    };
    if namespace.is_empty() {
        return deny(InjectError::MissingNamespace);
    }
    if namespace == "kube-system" || namespace == "kube-public" {
        return deny(InjectError::SystemNamespace(namespace.to_owned()));
    }
    Ok(())
}

/// Reads every annotation of `pod` into an [`InjectionSpec`]. Pure; never contacts Vault.
pub fn parse(namespace: &str, pod: &Pod, defaults: &InjectorDefaults) -> Result<Parsed, InjectError> {
    let empty = BTreeMap::new();
    let map = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    let a = Annotations::new(map);
    let mut warnings = Vec::new();

    if namespace.is_empty() {
        return Err(InjectError::MissingNamespace);
    }
    if pod.spec.is_none() {
        return Err(InjectError::Pod("the pod has no spec".to_owned()));
    }
    warn_unsupported(&a, &mut warnings);
    warn_unknown(&a, &mut warnings);

    // --- Vault connection
    let address = a.string_or("service", &defaults.vault_address);
    if address.is_empty() {
        return Err(InjectError::Missing(format!(
            "no Vault address found: set the injector's --vault-address or annotation {}",
            a.key("service")
        )));
    }
    let tls_skip_verify = a.bool_or("tls-skip-verify", false)?;
    if tls_skip_verify {
        warnings.push(format!(
            "{} is true: the agent will not verify Vault's TLS certificate",
            a.key("tls-skip-verify")
        ));
    }
    let opt = |suffix: &str| a.non_empty(suffix).map(str::to_owned);
    let proxy = a.string_or("proxy-address", &defaults.proxy_address);
    let max_retries = match a.get("client-max-retries") {
        Some(e) if !e.value.is_empty() => Some(
            parse_non_negative(e.value)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| InjectError::invalid(e.key, e.value, "a non-negative integer such as 12"))?,
        ),
        _ => None,
    };
    let client_timeout = match a.get("client-timeout") {
        Some(e) if !e.value.is_empty() => Some(match parse_non_negative(e.value) {
            Some(seconds) => format!("{seconds}s"),
            None => a.duration_or("client-timeout", "")?.unwrap_or_default(),
        }),
        _ => None,
    };
    let vault = VaultConnection {
        address,
        ca_cert: opt("ca-cert"),
        ca_path: opt("ca-key"),
        ca_cert_pem: ca_pem(&defaults.ca_cert_bytes),
        client_cert: opt("client-cert"),
        client_key: opt("client-key"),
        tls_skip_verify,
        tls_server_name: opt("tls-server-name"),
        proxy_address: (!proxy.is_empty()).then_some(proxy),
        max_retries,
        client_timeout,
    };

    // --- Image, modes
    let image = a.string_or("agent-image", &defaults.agent_image);
    if image.is_empty() {
        return Err(InjectError::Missing(format!(
            "no Vault image found: annotation {} is empty",
            a.key("agent-image")
        )));
    }
    let injection = injection_type(&a, pod, defaults, &mut warnings)?;
    let init_first = a.bool_or("agent-init-first", false)?;
    let share_process_namespace = a.bool("agent-share-process-namespace")?;
    if share_process_namespace == Some(true)
        && pod.spec.as_ref().and_then(|s| s.share_process_namespace) == Some(false)
    {
        return Err(InjectError::Pod(format!(
            "annotation {} is true but shareProcessNamespace is explicitly disabled on the pod, refusing to \
             enable it",
            a.key("agent-share-process-namespace")
        )));
    }

    // --- Containers that get the secrets
    let containers = pod.spec.as_ref().map(|s| &s.containers[..]).unwrap_or(&[]);
    let app_containers = match a.get("agent-inject-containers") {
        None => containers.iter().map(|c| c.name.clone()).collect(),
        Some(e) => {
            let names: Vec<String> = e
                .value
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            for n in &names {
                if !containers.iter().any(|c| &c.name == n) {
                    warnings.push(format!(
                        "{} names {n:?}, which is not a container of this pod; it was ignored",
                        e.key
                    ));
                }
            }
            names
        }
    };
    let copied_mounts = match a.non_empty("agent-copy-volume-mounts") {
        None => Vec::new(),
        Some(from) => copied_mounts(pod, from),
    };

    // --- Service account token and auth
    let service_account = sa_token::discover(pod, a.non_empty("agent-service-account-token-volume-name"))?;
    let auth_method = auth_method(&a, defaults, &service_account, &mut warnings)?;

    // --- Secrets
    let secret_volume_path = match a.get("secret-volume-path") {
        Some(e) if !e.value.is_empty() => secrets::mount_path(e.key, e.value)?,
        _ => DEFAULT_SECRET_VOLUME_PATH.to_owned(),
    };
    let default_template = {
        let value = a.string_or("agent-inject-default-template", &defaults.default_template);
        match value.to_lowercase().as_str() {
            "map" => DefaultTemplate::Map,
            "json" => DefaultTemplate::Json,
            _ => {
                return Err(InjectError::invalid(
                    a.key("agent-inject-default-template"),
                    &value,
                    "map or json (invalid default template type)",
                ));
            }
        }
    };
    let preserve_case = a.bool_or("preserve-secret-case", false)?;
    let secrets = secrets::parse(&a, &secret_volume_path, default_template, preserve_case)?;
    let inject_token = a.bool_or("agent-inject-token", false)?;
    if inject_token {
        let sink = secrets::destination(&secret_volume_path, "token").unwrap_or_default();
        if let Some(s) = secrets.iter().find(|s| s.destination == sink) {
            return Err(InjectError::DuplicateDestination {
                first: "token (agent-inject-token)".to_owned(),
                second: s.name.clone(),
                destination: sink,
            });
        }
    }
    let mut custom_volume_paths: Vec<String> = secrets
        .iter()
        .map(|s| s.mount_path.clone())
        .filter(|p| *p != secret_volume_path)
        .collect();
    custom_volume_paths.sort();
    custom_volume_paths.dedup();
    let strict = a.ferrovault_bool("strict")?.unwrap_or(false);
    check_templates(&a, &secrets, strict, &mut warnings)?;

    // --- Agent container settings
    let resources = AgentResources {
        cpu_request: a.quantity_or("agent-requests-cpu", &defaults.cpu_request)?,
        memory_request: a.quantity_or("agent-requests-mem", &defaults.memory_request)?,
        ephemeral_request: a.quantity_or("agent-requests-ephemeral", &defaults.ephemeral_request)?,
        cpu_limit: a.quantity_or("agent-limits-cpu", &defaults.cpu_limit)?,
        memory_limit: a.quantity_or("agent-limits-mem", &defaults.memory_limit)?,
        ephemeral_limit: a.quantity_or("agent-limits-ephemeral", &defaults.ephemeral_limit)?,
    };
    let run_as = run_as(&a, pod, defaults, &mut warnings)?;
    let revoke_on_shutdown = a.bool_or("agent-revoke-on-shutdown", defaults.revoke_on_shutdown)?;
    if let Some(e) = a.get("agent-revoke-grace")
        && !e.value.is_empty()
        && parse_non_negative(e.value).is_none()
    {
        return Err(InjectError::invalid(
            e.key,
            e.value,
            "a non-negative number of seconds such as 5",
        ));
    }
    if let Some(e) = a.get("go-max-procs") {
        // vault-k8s passes it on as GOMAXPROCS, unchecked; our agent is not a Go program.
        warnings.push(format!(
            "{} has no effect: ferrovault-agent is not a Go program (the value is ignored)",
            e.key
        ));
    }
    let template_config = template_config(&a, defaults)?;
    let log_format = a.string_or("log-format", &defaults.log_format);
    let log = LogConfig {
        level: a.string_or("log-level", &defaults.log_level),
        // Vault trims and lower-cases it, and refuses to start on anything else.
        format: ferrovault_contract::log_format(&log_format)
            .ok_or_else(|| InjectError::invalid(a.key("log-format"), &log_format, "standard or json"))?
            .to_owned(),
    };
    let secrets_read_only = a.ferrovault_bool("secrets-read-only")?.unwrap_or(false);

    let spec = InjectionSpec {
        namespace: namespace.to_owned(),
        injection,
        init_first,
        image,
        app_containers,
        copied_mounts,
        service_account,
        json_patch: json_patch_annotation(&a, "agent-json-patch")?,
        init_json_patch: json_patch_annotation(&a, "agent-init-json-patch")?,
        share_process_namespace,
        secrets,
        secret_volume_path,
        custom_volume_paths,
        secrets_read_only,
        extra_secret: opt("agent-extra-secret"),
        tls_secret: opt("tls-secret"),
        resources,
        run_as,
        vault,
        auth_method,
        inject_token,
        template_config,
        log,
        revoke_on_shutdown,
    };
    check_conflicts(pod, &spec)?;
    Ok(Parsed { spec, warnings })
}

/// Refuses pods whose own containers, volumes or mounts clash with what the patch adds (the API
/// server would reject the patched pod with a less helpful message).
pub fn check_conflicts(pod: &Pod, spec: &InjectionSpec) -> Result<(), InjectError> {
    use super::container as c;
    let Some(pod_spec) = pod.spec.as_ref() else {
        return Ok(());
    };
    let all = || {
        pod_spec
            .containers
            .iter()
            .chain(pod_spec.init_containers.iter().flatten())
    };
    for name in [c::INIT_NAME, c::SIDECAR_NAME] {
        if all().any(|x| x.name == name) {
            return Err(InjectError::Pod(format!(
                "the pod already has a container named {name:?}; remove it: the injector adds its own agent \
                 containers"
            )));
        }
    }
    let mut ours = vec![
        c::HOME_INIT_VOLUME.to_owned(),
        c::HOME_SIDECAR_VOLUME.to_owned(),
        c::SECRETS_VOLUME.to_owned(),
        c::EXTRA_SECRETS_VOLUME.to_owned(),
        c::TLS_VOLUME.to_owned(),
    ];
    ours.extend((0..spec.custom_volume_paths.len()).map(c::custom_volume_name));
    if let Some(v) = pod_spec.volumes.iter().flatten().find(|v| ours.contains(&v.name)) {
        return Err(InjectError::Pod(format!(
            "the pod already has a volume named {:?}, which the injector adds itself; rename or remove it",
            v.name
        )));
    }
    let mut paths = vec![spec.secret_volume_path.as_str()];
    paths.extend(spec.custom_volume_paths.iter().map(String::as_str));
    let targets = pod_spec
        .containers
        .iter()
        .filter(|x| spec.app_containers.contains(&x.name))
        .chain(
            pod_spec
                .init_containers
                .iter()
                .flatten()
                .filter(|_| spec.injection.has_init() || spec.injection == InjectionType::NativeSidecar),
        );
    for x in targets {
        for m in x.volume_mounts.iter().flatten() {
            if paths.contains(&m.mount_path.trim_end_matches('/')) {
                return Err(InjectError::Pod(format!(
                    "container {:?} already mounts volume {:?} at {:?}, where the injector mounts the secrets; \
                     choose another path with vault.hashicorp.com/secret-volume-path or leave the container out \
                     with vault.hashicorp.com/agent-inject-containers",
                    x.name, m.name, m.mount_path
                )));
            }
        }
    }
    Ok(())
}

/// Every fixed vault-k8s annotation suffix ferrovault reads (or accepts and ignores).
pub const KNOWN: &[&str] = &[
    "agent-inject",
    "agent-inject-status",
    "agent-pre-populate",
    "agent-pre-populate-only",
    "agent-init-first",
    "agent-inject-containers",
    "agent-image",
    "agent-request-namespace",
    "agent-extra-secret",
    "agent-copy-volume-mounts",
    "agent-service-account-token-volume-name",
    "agent-json-patch",
    "agent-init-json-patch",
    "agent-share-process-namespace",
    "agent-inject-default-template",
    "secret-volume-path",
    "preserve-secret-case",
    "agent-inject-token",
    "service",
    "role",
    "auth-type",
    "auth-path",
    "namespace",
    "auth-min-backoff",
    "auth-max-backoff",
    "agent-auto-auth-exit-on-err",
    "proxy-address",
    "tls-skip-verify",
    "tls-secret",
    "tls-server-name",
    "ca-cert",
    "ca-key",
    "client-cert",
    "client-key",
    "client-max-retries",
    "client-timeout",
    "agent-limits-cpu",
    "agent-limits-mem",
    "agent-limits-ephemeral",
    "agent-requests-cpu",
    "agent-requests-mem",
    "agent-requests-ephemeral",
    "agent-revoke-on-shutdown",
    "agent-revoke-grace",
    "agent-set-security-context",
    "agent-run-as-user",
    "agent-run-as-group",
    "agent-run-as-same-user",
    "go-max-procs",
    "log-level",
    "log-format",
    "template-config-exit-on-retry-failure",
    "template-static-secret-render-interval",
    "template-max-connections-per-host",
    "template-lease-renewal-threshold",
];

/// Per-secret annotation prefixes (`<prefix><secret name>`), besides the ones defining secrets.
pub const PER_SECRET: &[&str] = &[
    "agent-inject-file-",
    "agent-inject-perms-",
    "agent-inject-command-",
    "error-on-missing-key-",
    "agent-template-left-delim-",
    "agent-template-right-delim-",
    "secret-volume-path-",
    "preserve-secret-case-",
];

/// Our own `ferrovault.dev/` annotations.
pub const FERROVAULT_KNOWN: &[&str] = &["native-sidecar", "strict", "secrets-read-only"];

/// Warns about annotations nothing reads: typos, and per-secret settings of secrets that do not exist.
fn warn_unknown(a: &Annotations<'_>, warnings: &mut Vec<String>) {
    let names = secrets::discover_names(a);
    for (suffix, entry) in a.iter() {
        if KNOWN.contains(&suffix)
            || UNSUPPORTED.contains(&suffix)
            || [
                "agent-inject-secret-",
                "agent-inject-template-",
                "auth-config-",
                "agent-telemetry-",
            ]
            .iter()
            .any(|p| suffix.starts_with(p))
        {
            continue;
        }
        match PER_SECRET.iter().find_map(|p| suffix.strip_prefix(p)) {
            Some(name) if names.iter().any(|n| n == name) => {}
            Some(name) => warnings.push(format!(
                "annotation {} refers to secret {name:?}, which no agent-inject-secret-/agent-inject-template- \
                 annotation defines; it was ignored",
                entry.key
            )),
            None => warnings.push(format!(
                "annotation {} is not a known vault-k8s annotation and was ignored (typo?)",
                entry.key
            )),
        }
    }
    for (suffix, entry) in a.iter_ferrovault() {
        if !FERROVAULT_KNOWN.contains(&suffix) {
            warnings.push(format!(
                "annotation {} is not a known ferrovault annotation and was ignored (typo?)",
                entry.key
            ));
        }
    }
}

fn warn_unsupported(a: &Annotations<'_>, warnings: &mut Vec<String>) {
    for (suffix, entry) in a.iter() {
        if UNSUPPORTED.contains(&suffix) || suffix.starts_with("agent-telemetry-") {
            warnings.push(format!(
                "{} is not supported by ferrovault yet and was ignored",
                entry.key
            ));
        }
    }
}

/// Which containers to add: pre-populate flags, native sidecars and Jobs.
fn injection_type(
    a: &Annotations<'_>,
    pod: &Pod,
    defaults: &InjectorDefaults,
    warnings: &mut Vec<String>,
) -> Result<InjectionType, InjectError> {
    let pre_populate = a.bool_or("agent-pre-populate", true)?;
    let pre_populate_only = a.bool_or("agent-pre-populate-only", false)?;
    let native_annotation = a.ferrovault_bool("native-sidecar")?;
    if native_annotation == Some(true) && !defaults.native_sidecar_supported {
        return Err(InjectError::Pod(format!(
            "annotation {} is true but this cluster does not support native sidecars (init containers with \
             restartPolicy: Always need Kubernetes 1.29 or later); remove the annotation or set it to \"false\"",
            a.ferrovault("native-sidecar").map(|e| e.key).unwrap_or_default()
        )));
    }
    if pre_populate_only {
        if !pre_populate {
            warnings.push(format!(
                "{} is false but {} is true: only the init container is added (vault-k8s would add no agent at all)",
                a.key("agent-pre-populate"),
                a.key("agent-pre-populate-only")
            ));
        }
        return Ok(InjectionType::InitOnly);
    }
    let owned_by_job = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job");
    if owned_by_job {
        let native = native_annotation != Some(false) && defaults.native_sidecar_supported;
        let chosen = if native {
            "a native sidecar (init container with restartPolicy: Always), which stops with the Job's containers"
        } else {
            "only the init container, as with agent-pre-populate-only (secrets are not renewed)"
        };
        warnings.push(format!(
            "the pod belongs to a Job, so a sidecar would keep it running: ferrovault injected {chosen}"
        ));
        return Ok(if native {
            InjectionType::NativeSidecar
        } else {
            InjectionType::InitOnly
        });
    }
    let native = native_annotation.unwrap_or(defaults.native_sidecar);
    Ok(match (native, pre_populate) {
        (true, _) => InjectionType::NativeSidecar,
        (false, true) => InjectionType::InitAndSidecar,
        (false, false) => InjectionType::SidecarOnly,
    })
}

fn copied_mounts(pod: &Pod, from: &str) -> Vec<VolumeMount> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == from)
        .and_then(|c| c.volume_mounts.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|m| !m.mount_path.to_lowercase().contains("serviceaccount"))
        .collect()
}

fn auth_method(
    a: &Annotations<'_>,
    defaults: &InjectorDefaults,
    sa: &ServiceAccountToken,
    warnings: &mut Vec<String>,
) -> Result<AuthMethod, InjectError> {
    let kind = a.string_or("auth-type", &defaults.auth_type);
    if kind.is_empty() {
        return Err(InjectError::Missing(format!(
            "no Vault Auth Type found: set the injector's --vault-auth-type or annotation {}",
            a.key("auth-type")
        )));
    }
    if kind == "aws" {
        warnings.push(format!(
            "{}: aws (IRSA token discovery) is not supported by ferrovault yet and was ignored; the aws \
             method is configured without the IRSA token",
            a.key("auth-type")
        ));
    }
    let mount_path = a.string_or("auth-path", &defaults.auth_path);
    if mount_path.is_empty() {
        return Err(InjectError::Missing(format!(
            "no Vault Auth Path found: set the injector's --vault-auth-path or annotation {}",
            a.key("auth-path")
        )));
    }
    let mut config = BTreeMap::new();
    config.insert("token_path".to_owned(), sa.token_file());
    for (suffix, entry) in a.iter() {
        if let Some(param) = suffix.strip_prefix("auth-config-")
            && !param.is_empty()
        {
            config.insert(param.replace('-', "_"), entry.value.to_owned());
        }
    }
    if let Some(role) = a.non_empty("role") {
        config.insert("role".to_owned(), role.to_owned());
    }
    if kind == "kubernetes" && config.get("role").is_none_or(|r| r.is_empty()) {
        return Err(InjectError::Missing(format!(
            "no Vault role found: annotation {} is required with the kubernetes auth method",
            a.key("role")
        )));
    }
    let namespace = a.string_or("namespace", &defaults.vault_namespace);
    Ok(AuthMethod {
        kind,
        mount_path,
        namespace: (!namespace.is_empty()).then_some(namespace),
        min_backoff: a.duration_or("auth-min-backoff", &defaults.auth_min_backoff)?,
        max_backoff: a.duration_or("auth-max-backoff", &defaults.auth_max_backoff)?,
        exit_on_err: a.bool_or("agent-auto-auth-exit-on-err", false)?,
        config,
    })
}

/// The agents' uid/gid, or `None` for no securityContext (vault-k8s §2.4, case 53 and 80).
fn run_as(
    a: &Annotations<'_>,
    pod: &Pod,
    defaults: &InjectorDefaults,
    warnings: &mut Vec<String>,
) -> Result<Option<RunAs>, InjectError> {
    let set = match a.bool("agent-set-security-context")? {
        Some(set) => {
            if !set {
                warnings.push(format!(
                    "{} is false: the agent containers run without a restrictive securityContext",
                    a.key("agent-set-security-context")
                ));
            }
            set
        }
        None => {
            defaults.set_security_context
                || [
                    "agent-run-as-user",
                    "agent-run-as-group",
                    "agent-run-as-same-user",
                ]
                .iter()
                .any(|s| a.get(s).is_some())
        }
    };
    let mut user = a.id_or("agent-run-as-user", defaults.run_as_user)?;
    let group = a.id_or("agent-run-as-group", defaults.run_as_group)?;
    if a.bool_or("agent-run-as-same-user", defaults.run_as_same_user)? {
        let key = a.key("agent-run-as-same-user");
        let first = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .ok_or_else(|| InjectError::Pod(format!("{key}: No containers found in Pod Spec")))?;
        let sc = first
            .security_context
            .as_ref()
            .ok_or_else(|| InjectError::Pod(format!("{key}: No SecurityContext found for Container 0")))?;
        let uid = sc.run_as_user.ok_or_else(|| {
            InjectError::Pod(format!(
                "{key}: RunAsUser is nil for Container 0's SecurityContext"
            ))
        })?;
        if uid == 0 {
            return Err(InjectError::Pod(format!(
                "{key}: container not allowed to run as root (container 0 runs as uid 0)"
            )));
        }
        user = uid;
    }
    if !set {
        return Ok(None);
    }
    if user == 0 {
        warnings.push(format!(
            "the agent containers run as root (uid 0, from {})",
            a.key("agent-run-as-user")
        ));
    }
    Ok(Some(RunAs { user, group }))
}

fn template_config(a: &Annotations<'_>, defaults: &InjectorDefaults) -> Result<TemplateConfig, InjectError> {
    let max_connections_per_host = match a.get("template-max-connections-per-host") {
        None => defaults.max_connections_per_host,
        Some(e) if e.value.is_empty() => 0,
        Some(e) => parse_non_negative(e.value)
            .ok_or_else(|| InjectError::invalid(e.key, e.value, "a non-negative integer such as 10"))?,
    };
    let lease_renewal_threshold = match a.get("template-lease-renewal-threshold") {
        None => defaults.lease_renewal_threshold,
        Some(e) if e.value.is_empty() => 0.0,
        Some(e) => e
            .value
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .ok_or_else(|| InjectError::invalid(e.key, e.value, "a non-negative number such as 0.75"))?,
    };
    Ok(TemplateConfig {
        exit_on_retry_failure: a.bool_or(
            "template-config-exit-on-retry-failure",
            defaults.exit_on_retry_failure,
        )?,
        static_secret_render_interval: a.vault_duration_or(
            "template-static-secret-render-interval",
            &defaults.static_secret_render_interval,
        )?,
        max_connections_per_host: (max_connections_per_host > 0).then_some(max_connections_per_host),
        lease_renewal_threshold: (lease_renewal_threshold > 0.0).then_some(lease_renewal_threshold),
    })
}

/// Runs the template crate's admission check on every inline template.
fn check_templates(
    a: &Annotations<'_>,
    secrets: &[SecretSpec],
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<(), InjectError> {
    for s in secrets {
        let TemplateBody::Inline(text) = &s.body else {
            continue;
        };
        let source = TemplateSource {
            text,
            left_delim: &s.left_delimiter,
            right_delim: &s.right_delimiter,
            error_on_missing_key: s.error_on_missing_key,
        };
        if let Err(err) = ferrovault_template::check(&source) {
            let message = format!(
                "template for secret {:?} ({}): {}",
                s.name,
                s.template_key(a),
                scrub_template_error(&err, text)
            );
            if strict {
                return Err(InjectError::Template(message));
            }
            warnings.push(message);
        }
    }
    Ok(())
}

/// The template error's text, unless it quotes a long piece of the template (which may be secret).
pub fn scrub_template_error(err: &ferrovault_template::TemplateError, text: &str) -> String {
    const WINDOW: usize = 20;
    let chars: Vec<char> = err.message.chars().collect();
    let quotes_template = chars.len() >= WINDOW
        && chars.windows(WINDOW).any(|w| {
            let piece: String = w.iter().collect();
            text.contains(&piece)
        });
    if quotes_template {
        format!(
            "line {}, column {}: invalid template (details withheld because they quote the template)",
            err.line, err.column
        )
    } else {
        err.to_string()
    }
}

fn json_patch_annotation(
    a: &Annotations<'_>,
    suffix: &str,
) -> Result<Option<json_patch::Patch>, InjectError> {
    let Some(e) = a.get(suffix) else {
        return Ok(None);
    };
    if e.value.trim().is_empty() {
        return Ok(None);
    }
    let patch: Option<json_patch::Patch> =
        serde_json::from_str(e.value).map_err(|err| InjectError::JsonPatch {
            key: e.key.to_owned(),
            detail: format!(
                "line {}, column {}: expected a JSON array of RFC 6902 operations \
                 ({{\"op\": \"add\"|\"remove\"|\"replace\"|\"move\"|\"copy\"|\"test\", \"path\": …}})",
                err.line(),
                err.column()
            ),
        })?;
    Ok(patch.filter(|p| !p.0.is_empty()))
}

/// The injector's CA bytes as PEM: base64-decoded if they decode, else taken as PEM.
fn ca_pem(bytes: &str) -> Option<String> {
    let trimmed = bytes.trim();
    if trimmed.is_empty() {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Some(decoded.unwrap_or_else(|| trimmed.to_owned()))
}
