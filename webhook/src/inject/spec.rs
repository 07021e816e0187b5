//! Annotations → [`InjectionSpec`]: every setting that shapes the injected pod, validated.

use std::collections::BTreeMap;

use ferrovault_contract::{AuthMethod, DefaultTemplate, LogConfig, TemplateConfig, VaultConnection};
use k8s_openapi::api::core::v1::{Pod, VolumeMount};

use super::annotations::{Annotations, STATUS_KEY, parse_non_negative};
use super::catalogue as cat;
use super::decision::{Decision, InjectionType};
use super::defaults::InjectorDefaults;
use super::error::InjectError;
use super::sa_token::{self, ServiceAccountToken};
use super::secrets::{self, SecretSpec};
use super::sections::{
    auth_method, ca_pem, check_cert_login, check_templates, copied_mounts, injection_type,
    json_patch_annotation, run_as, template_config, warn_about_names,
};

pub use super::sections::{AgentResources, RunAs, scrub_template_error};

/// Default mount path of the shared secrets volume.
pub const DEFAULT_SECRET_VOLUME_PATH: &str = "/vault/secrets";

/// Everything needed to build the agent config and the patch.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectionSpec {
    /// Request namespace.
    pub namespace: String,
    /// The format the cluster's kubelets read env files in (from the injector's defaults).
    pub env_file_format: ferrovault_contract::actions::EnvFileFormat,
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
    /// `agent-configmap`: ConfigMap of Vault Agent config files, mounted at `/vault/configs`.
    pub config_map: Option<String>,
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
    /// The agent's listener: API proxy and cache, quit, telemetry.
    pub agent_api: super::listener::AgentApi,
    /// `hostNetwork: true`: the pod's loopback is the node's (listener annotations are refused).
    pub host_network: bool,
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
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    check(namespace, pod.metadata.annotations.as_ref(), phase)
}

/// Whether a pod with these annotations asks for injection: [`should_inject`] without the pod-phase
/// check, so that it also answers for pods that are already running. `Ok(())` = the webhook would
/// inject it at creation; the missed-injection detector uses exactly this decision.
pub fn asks_for_injection(
    namespace: &str,
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<(), Decision> {
    check(namespace, annotations, None)
}

fn check(
    namespace: &str,
    annotations: Option<&BTreeMap<String, String>>,
    phase: Option<&str>,
) -> Result<(), Decision> {
    let empty = BTreeMap::new();
    let map = annotations.unwrap_or(&empty);
    let annotations = Annotations::new(map);
    let inject = match annotations.bool(&cat::INJECT) {
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
    if let Some(phase) = phase
        && !phase.is_empty()
        && phase != "Pending"
    {
        return Err(Decision::Skip {
            reason: "pod is not pending",
        });
    }
    if annotations.value(&cat::INJECT_STATUS) == Some("injected")
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
    // vault-k8s: with a config file, only the role, auth and address checks are skipped (the file has
    // them); every value vault-k8s parses is still checked
    let config_map = a.non_empty(&cat::CONFIGMAP).map(str::to_owned);

    if namespace.is_empty() {
        return Err(InjectError::MissingNamespace);
    }
    if pod.spec.is_none() {
        return Err(InjectError::Pod("the pod has no spec".to_owned()));
    }
    warn_about_names(&a, &mut warnings);

    // --- Vault connection
    let address = a.string_or(&cat::SERVICE, &defaults.vault_address);
    if address.is_empty() && config_map.is_none() {
        return Err(InjectError::Missing(format!(
            "no Vault address found: set the injector's --vault-address or annotation {}",
            a.key(&cat::SERVICE)
        )));
    }
    let tls_skip_verify = a.bool_or(&cat::TLS_SKIP_VERIFY, false)?;
    if tls_skip_verify {
        warnings.push(format!(
            "{} is true: the agent will not verify Vault's TLS certificate",
            a.key(&cat::TLS_SKIP_VERIFY)
        ));
    }
    let opt = |entry: &'static cat::Annotation| a.non_empty(entry).map(str::to_owned);
    let proxy = a.string_or(&cat::PROXY_ADDRESS, &defaults.proxy_address);
    let max_retries = match a.get(&cat::CLIENT_MAX_RETRIES) {
        Some(e) if !e.value.is_empty() => Some(
            parse_non_negative(e.value)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| InjectError::invalid(e.key, e.value, "a non-negative integer such as 12"))?,
        ),
        _ => None,
    };
    let client_timeout = match a.get(&cat::CLIENT_TIMEOUT) {
        Some(e) if !e.value.is_empty() => match parse_non_negative(e.value) {
            // vault-k8s passes whole seconds on as "<n>s"
            Some(seconds) => format!("{seconds}s").parse().ok(),
            None => a.duration_or(&cat::CLIENT_TIMEOUT, "")?,
        },
        _ => None,
    };
    // vault-k8s: the annotation, else the injector's default
    let components = |name: &'static cat::Annotation, default: &str| -> Result<Vec<String>, InjectError> {
        let entry = a.get(name);
        let value = entry.map_or(default, |e| e.value);
        ferrovault_contract::connection_components(value).map_err(|bad| {
            let key = entry.map_or_else(
                || format!("the injector default for {}", a.key(name)),
                |e| e.key.to_owned(),
            );
            InjectError::invalid(
                key,
                value,
                format!(
                    "a comma-separated list of {} ({bad:?} is none of them)",
                    ferrovault_contract::CONNECTION_COMPONENTS.join(", ")
                ),
            )
        })
    };
    let disable_idle_connections =
        components(&cat::DISABLE_IDLE_CONNECTIONS, &defaults.disable_idle_connections)?;
    let disable_keep_alives = components(&cat::DISABLE_KEEP_ALIVES, &defaults.disable_keep_alives)?;
    let vault = VaultConnection {
        address,
        ca_cert: opt(&cat::CA_CERT),
        ca_path: opt(&cat::CA_KEY),
        ca_cert_pem: ca_pem(&defaults.ca_cert_bytes),
        client_cert: opt(&cat::CLIENT_CERT),
        client_key: opt(&cat::CLIENT_KEY),
        tls_skip_verify,
        tls_server_name: opt(&cat::TLS_SERVER_NAME),
        proxy_address: (!proxy.is_empty()).then_some(proxy),
        max_retries,
        client_timeout,
        disable_idle_connections,
        disable_keep_alives,
    };

    // --- Image, modes
    let image = a.string_or(&cat::IMAGE, &defaults.agent_image);
    if image.is_empty() {
        return Err(InjectError::Missing(format!(
            "no Vault image found: annotation {} is empty",
            a.key(&cat::IMAGE)
        )));
    }
    let strict = a.bool(&cat::STRICT)?.unwrap_or(false);
    if let Some(problem) = foreign_agent_image(&image) {
        let message = format!(
            "agent image {image:?} ({} or the injector's --agent-image) {problem}: the agent containers run \
             /ferrovault-agent, which that image lacks; use {}",
            a.key(&cat::IMAGE),
            super::defaults::DEFAULT_AGENT_IMAGE
        );
        if strict {
            return Err(InjectError::Pod(message));
        }
        warnings.push(message);
    }
    let injection = injection_type(&a, pod, defaults, &mut warnings)?;
    let init_first = a.bool_or(&cat::INIT_FIRST, false)?;
    let mut share_process_namespace = a.bool(&cat::SHARE_PROCESS_NAMESPACE)?;
    if share_process_namespace == Some(true)
        && pod.spec.as_ref().and_then(|s| s.share_process_namespace) == Some(false)
    {
        return Err(InjectError::Pod(format!(
            "annotation {} is true but shareProcessNamespace is explicitly disabled on the pod, refusing to \
             enable it",
            a.key(&cat::SHARE_PROCESS_NAMESPACE)
        )));
    }

    // --- Containers that get the secrets
    let containers = pod.spec.as_ref().map(|s| &s.containers[..]).unwrap_or(&[]);
    let app_containers = match a.get(&cat::INJECT_CONTAINERS) {
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
    let copied_mounts = match a.non_empty(&cat::COPY_VOLUME_MOUNTS) {
        None => Vec::new(),
        Some(from) => copied_mounts(pod, from),
    };

    // --- Service account token and auth
    let service_account = sa_token::discover(pod, a.non_empty(&cat::SERVICE_ACCOUNT_TOKEN_VOLUME_NAME))?;
    let auth_method = auth_method(
        &a,
        defaults,
        &service_account,
        config_map.is_some(),
        &mut warnings,
    )?;
    if config_map.is_none() {
        check_cert_login(&a, &auth_method, &vault)?;
    }

    // --- Secrets
    let secret_volume_path = match a.get(&cat::SECRET_VOLUME_PATH) {
        Some(e) if !e.value.is_empty() => secrets::mount_path(e.key, e.value)?,
        _ => DEFAULT_SECRET_VOLUME_PATH.to_owned(),
    };
    let default_template = {
        let value = a.string_or(&cat::INJECT_DEFAULT_TEMPLATE, &defaults.default_template);
        match value.to_lowercase().as_str() {
            "map" => DefaultTemplate::Map,
            "json" => DefaultTemplate::Json,
            _ => {
                return Err(InjectError::invalid(
                    a.key(&cat::INJECT_DEFAULT_TEMPLATE),
                    &value,
                    "map or json (invalid default template type)",
                ));
            }
        }
    };
    let preserve_case = a.bool_or(&cat::PRESERVE_SECRET_CASE, false)?;
    let secrets = secrets::parse(&a, &secret_volume_path, default_template, preserve_case)?;
    for s in secrets.iter().filter(|s| s.command.is_some()) {
        warnings.push(format!(
            "the command of secret {:?} runs inside the agent container, whose ferrovault image holds only \
             /ferrovault-agent: the program it names must come from an agent image of your own",
            s.name
        ));
    }
    if let Some(name) = &config_map
        && !secrets.is_empty()
    {
        warnings.push(format!(
            "{} is set: the agents render the templates of ConfigMap {name:?}'s config files, and the {} \
             secret annotation(s) only shape the secrets volumes (as in vault-k8s)",
            a.key(&cat::CONFIGMAP),
            secrets.len()
        ));
    }
    let inject_token = a.bool_or(&cat::INJECT_TOKEN, false)?;
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
    check_templates(&a, &secrets, strict, &mut warnings)?;

    // --- Agent container settings
    let resources = AgentResources {
        cpu_request: a.quantity_or(&cat::REQUESTS_CPU, &defaults.cpu_request)?,
        memory_request: a.quantity_or(&cat::REQUESTS_MEM, &defaults.memory_request)?,
        ephemeral_request: a.quantity_or(&cat::REQUESTS_EPHEMERAL, &defaults.ephemeral_request)?,
        cpu_limit: a.quantity_or(&cat::LIMITS_CPU, &defaults.cpu_limit)?,
        memory_limit: a.quantity_or(&cat::LIMITS_MEM, &defaults.memory_limit)?,
        ephemeral_limit: a.quantity_or(&cat::LIMITS_EPHEMERAL, &defaults.ephemeral_limit)?,
    };
    let run_as = run_as(&a, pod, defaults, &mut warnings)?;
    let context = super::env_reload::Context {
        annotations: &a,
        pod,
        defaults,
        injection,
        secrets: &secrets,
        app_containers: &app_containers,
        run_as,
    };
    super::env_reload::check(&context, &mut share_process_namespace, &mut warnings)?;
    let revoke_on_shutdown = a.bool_or(&cat::REVOKE_ON_SHUTDOWN, defaults.revoke_on_shutdown)?;
    if let Some(e) = a.get(&cat::REVOKE_GRACE)
        && !e.value.is_empty()
        && parse_non_negative(e.value).is_none()
    {
        return Err(InjectError::invalid(
            e.key,
            e.value,
            "a non-negative number of seconds such as 5",
        ));
    }
    if let Some(e) = a.get(&cat::GO_MAX_PROCS) {
        // vault-k8s passes it on as GOMAXPROCS, unchecked; our agent is not a Go program.
        warnings.push(format!(
            "{} has no effect: ferrovault-agent is not a Go program (the value is ignored)",
            e.key
        ));
    }
    let template_config = template_config(&a, defaults)?;
    let log_format = a.string_or(&cat::LOG_FORMAT, &defaults.log_format);
    let log = LogConfig {
        level: a.string_or(&cat::LOG_LEVEL, &defaults.log_level),
        // Vault trims and lower-cases it, and refuses to start on anything else.
        format: ferrovault_contract::log_format(&log_format)
            .ok_or_else(|| InjectError::invalid(a.key(&cat::LOG_FORMAT), &log_format, "standard or json"))?
            .to_owned(),
    };
    let secrets_read_only = a.bool(&cat::SECRETS_READ_ONLY)?.unwrap_or(false);
    let agent_api = super::listener::parse(&a, &mut warnings)?;
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    if host_network {
        super::listener::check_host_network(&a, &agent_api, injection)?;
        if config_map.is_some() {
            warnings.push(format!(
                "{}: the pod uses hostNetwork, so the agent refuses a listener in the ConfigMap's files \
                 unless its listener stanza sets ferrovault_allow_non_loopback = true (and then serves it \
                 without the auto-auth token and without /agent/v1/quit)",
                a.key(&cat::CONFIGMAP)
            ));
        }
    }

    let spec = InjectionSpec {
        namespace: namespace.to_owned(),
        env_file_format: defaults.env_file_format,
        injection,
        init_first,
        image,
        app_containers,
        copied_mounts,
        service_account,
        json_patch: json_patch_annotation(&a, &cat::JSON_PATCH)?,
        init_json_patch: json_patch_annotation(&a, &cat::INIT_JSON_PATCH)?,
        share_process_namespace,
        secrets,
        secret_volume_path,
        custom_volume_paths,
        secrets_read_only,
        config_map,
        extra_secret: opt(&cat::EXTRA_SECRET),
        tls_secret: opt(&cat::TLS_SECRET),
        resources,
        run_as,
        vault,
        auth_method,
        inject_token,
        template_config,
        log,
        revoke_on_shutdown,
        agent_api,
        host_network,
    };
    check_conflicts(pod, &spec)?;
    Ok(Parsed { spec, warnings })
}

/// Refuses pods whose own containers, volumes or mounts clash with what the patch adds (the API
/// server would reject the patched pod with a less helpful message).
pub fn check_conflicts(pod: &Pod, spec: &InjectionSpec) -> Result<(), InjectError> {
    use super::names as c;
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
        c::CACHE_VOLUME.to_owned(),
    ];
    ours.extend((0..spec.custom_volume_paths.len()).map(c::custom_volume_name));
    if spec.config_map.is_some() {
        ours.push(c::CONFIG_VOLUME.to_owned());
    }
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

/// Why `image` is not a ferrovault agent image, when its repository is one of Vault's or OpenBao's
/// (a vault-helm `agentImage` carried over unchanged).
fn foreign_agent_image(image: &str) -> Option<&'static str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let name = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let repository = name.split(':').next().unwrap_or(name);
    matches!(
        repository,
        "vault" | "vault-enterprise" | "openbao" | "vault-k8s" | "openbao-k8s"
    )
    .then_some("is Vault's or OpenBao's, not a ferrovault agent")
}
