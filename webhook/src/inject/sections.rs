//! The sections of [`super::spec::parse`]: each turns a group of annotations (with the injector's
//! defaults) into one part of the [`super::spec::InjectionSpec`].

use std::collections::BTreeMap;

use base64::Engine as _;
use ferrovault_contract::{AuthMethod, TemplateConfig};
use ferrovault_template::TemplateSource;
use k8s_openapi::api::core::v1::{Pod, VolumeMount};

use super::annotations::{Annotations, parse_non_negative};
use super::catalogue::{self as cat, Annotation, Prefix, Scope};
use super::decision::InjectionType;
use super::defaults::InjectorDefaults;
use super::error::InjectError;
use super::sa_token::ServiceAccountToken;
use super::secrets::{self, SecretSpec, TemplateBody};

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

/// Which containers to add: pre-populate flags, native sidecars and Jobs.
pub(super) fn injection_type(
    a: &Annotations<'_>,
    pod: &Pod,
    defaults: &InjectorDefaults,
    warnings: &mut Vec<String>,
) -> Result<InjectionType, InjectError> {
    let pre_populate = a.bool_or(&cat::PRE_POPULATE, true)?;
    let pre_populate_only = a.bool_or(&cat::PRE_POPULATE_ONLY, false)?;
    let native_annotation = a.bool(&cat::NATIVE_SIDECAR)?;
    if native_annotation == Some(true) && !defaults.native_sidecar_supported {
        return Err(InjectError::Pod(format!(
            "annotation {} is true but this cluster does not support native sidecars (init containers with \
             restartPolicy: Always need Kubernetes 1.29 or later); remove the annotation or set it to \"false\"",
            a.key(&cat::NATIVE_SIDECAR)
        )));
    }
    if pre_populate_only {
        if !pre_populate {
            warnings.push(format!(
                "{} is false but {} is true: only the init container is added (vault-k8s would add no agent at all)",
                a.key(&cat::PRE_POPULATE),
                a.key(&cat::PRE_POPULATE_ONLY)
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

pub(super) fn copied_mounts(pod: &Pod, from: &str) -> Vec<VolumeMount> {
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

/// The auto-auth method. With `agent-configmap` (`config_file`) the file's `auto_auth` replaces the
/// method, so, as in vault-k8s' `Validate`, its auth type, auth path and role are not required
/// (the method is left empty when they fall short); the values vault-k8s parses whatever the mode
/// (the backoffs in `Init`, `agent-auto-auth-exit-on-err` in `New`) are checked in both modes.
pub(super) fn auth_method(
    a: &Annotations<'_>,
    defaults: &InjectorDefaults,
    sa: &ServiceAccountToken,
    config_file: bool,
    warnings: &mut Vec<String>,
) -> Result<AuthMethod, InjectError> {
    let min_backoff = backoff(
        a,
        &cat::AUTH_MIN_BACKOFF,
        &defaults.auth_min_backoff,
        "1s",
        warnings,
    )?;
    let max_backoff = backoff(
        a,
        &cat::AUTH_MAX_BACKOFF,
        &defaults.auth_max_backoff,
        "5m",
        warnings,
    )?;
    let exit_on_err = a.bool_or(&cat::AUTO_AUTH_EXIT_ON_ERR, false)?;
    match auth_identity(a, defaults, sa) {
        Ok(method) => Ok(AuthMethod {
            min_backoff,
            max_backoff,
            exit_on_err,
            ..method
        }),
        Err(_) if config_file => Ok(AuthMethod::default()),
        Err(err) => Err(err),
    }
}

/// A login backoff. vault-k8s checks it with Go's `time.ParseDuration`, which takes a sign, and
/// Vault Agent treats a backoff that is not positive as unset (its default): so a negative one is
/// admitted, left out of the agent's config (ours has the same defaults, 1s and 5m) and warned
/// about.
fn backoff(
    a: &Annotations<'_>,
    entry: &'static Annotation,
    default: &str,
    agent_default: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<ferrovault_contract::VaultDuration>, InjectError> {
    let value = a.value(entry).unwrap_or(default);
    let negative = value
        .strip_prefix('-')
        .filter(|rest| !rest.starts_with(['+', '-']))
        .and_then(ferrovault_contract::go::parse_duration);
    let Some(magnitude) = negative else {
        return a.duration_or(entry, default);
    };
    if !magnitude.is_zero() {
        let whose = a.get(entry).map_or_else(
            || format!("the injector's default for {}", a.key(entry)),
            |e| e.key.to_owned(),
        );
        warnings.push(format!(
            "{whose} is {value:?}, a negative backoff: like Vault Agent, the agent uses its default \
             ({agent_default}) instead"
        ));
    }
    Ok(None)
}

/// The method's type, mount path, Vault namespace and config (role, token path, `auth-config-*`),
/// with the checks vault-k8s' `Validate` makes only without `agent-configmap`; the backoffs and
/// `exit_on_err` are the caller's.
fn auth_identity(
    a: &Annotations<'_>,
    defaults: &InjectorDefaults,
    sa: &ServiceAccountToken,
) -> Result<AuthMethod, InjectError> {
    let kind = a.string_or(&cat::AUTH_TYPE, &defaults.auth_type);
    if kind.is_empty() {
        return Err(InjectError::Missing(format!(
            "no Vault Auth Type found: set the injector's --vault-auth-type or annotation {}",
            a.key(&cat::AUTH_TYPE)
        )));
    }
    if !ferrovault_contract::INJECTABLE_AUTH_METHODS.contains(&kind.as_str()) {
        // The agent would exit at start (vault-k8s admits the pod and it never gets its secrets).
        return Err(InjectError::invalid(
            a.key(&cat::AUTH_TYPE),
            &kind,
            format!(
                "an auth method ferrovault's agent runs: {} (aws, gcp and azure need their clouds and are not supported)",
                ferrovault_contract::INJECTABLE_AUTH_METHODS.join(", ")
            ),
        ));
    }
    let mount_path = a.string_or(&cat::AUTH_PATH, &defaults.auth_path);
    if mount_path.is_empty() {
        return Err(InjectError::Missing(format!(
            "no Vault Auth Path found: set the injector's --vault-auth-path or annotation {}",
            a.key(&cat::AUTH_PATH)
        )));
    }
    let mut config = BTreeMap::new();
    config.insert("token_path".to_owned(), sa.token_file());
    for (_, param, entry) in a.with_prefixes(&[&cat::AUTH_CONFIG]) {
        if !param.is_empty() {
            config.insert(param.replace('-', "_"), entry.value.to_owned());
        }
    }
    if let Some(role) = a.non_empty(&cat::ROLE) {
        config.insert("role".to_owned(), role.to_owned());
    }
    if kind == "kubernetes" && config.get("role").is_none_or(|r| r.is_empty()) {
        return Err(InjectError::Missing(format!(
            "no Vault role found: annotation {} is required with the kubernetes auth method",
            a.key(&cat::ROLE)
        )));
    }
    let namespace = a.string_or(&cat::NAMESPACE, &defaults.vault_namespace);
    Ok(AuthMethod {
        kind,
        mount_path,
        namespace: (!namespace.is_empty()).then_some(namespace),
        config,
        ..AuthMethod::default()
    })
}

/// `auth-type: cert` logs in with a TLS client certificate: without one, or over plain HTTP, the
/// agent could never log in, so the pod is refused here.
pub(super) fn check_cert_login(
    a: &Annotations<'_>,
    method: &AuthMethod,
    vault: &ferrovault_contract::VaultConnection,
) -> Result<(), InjectError> {
    if method.kind != "cert" {
        return Ok(());
    }
    let own = |k: &str| method.config.get(k).is_some_and(|v| !v.is_empty());
    let has_own = own("client_cert") && own("client_key");
    if !has_own && (vault.client_cert.is_none() || vault.client_key.is_none()) {
        return Err(InjectError::Missing(format!(
            "{} is cert, which logs in with a TLS client certificate: set annotations {} and {} (files in \
             the agent's containers, e.g. from {}), or {} and {}",
            a.key(&cat::AUTH_TYPE),
            a.key(&cat::CLIENT_CERT),
            a.key(&cat::CLIENT_KEY),
            a.key(&cat::TLS_SECRET),
            a.key(cat::AUTH_CONFIG.of("client-cert")),
            a.key(cat::AUTH_CONFIG.of("client-key")),
        )));
    }
    if !vault.address.starts_with("https://") {
        return Err(InjectError::invalid(
            a.key(&cat::SERVICE),
            &vault.address,
            format!(
                "an https:// address: {} is cert, whose client certificate is only sent over TLS",
                a.key(&cat::AUTH_TYPE)
            ),
        ));
    }
    Ok(())
}

/// The agents' uid/gid, or `None` for no securityContext (vault-k8s §2.4, case 53 and 80).
pub(super) fn run_as(
    a: &Annotations<'_>,
    pod: &Pod,
    defaults: &InjectorDefaults,
    warnings: &mut Vec<String>,
) -> Result<Option<RunAs>, InjectError> {
    let set = match a.bool(&cat::SET_SECURITY_CONTEXT)? {
        Some(set) => {
            if !set {
                warnings.push(format!(
                    "{} is false: the agent containers run without a restrictive securityContext",
                    a.key(&cat::SET_SECURITY_CONTEXT)
                ));
            }
            set
        }
        None => {
            defaults.set_security_context
                || [&cat::RUN_AS_USER, &cat::RUN_AS_GROUP, &cat::RUN_AS_SAME_USER]
                    .into_iter()
                    .any(|s| a.get(s).is_some())
        }
    };
    let mut user = a.id_or(&cat::RUN_AS_USER, defaults.run_as_user)?;
    let group = a.id_or(&cat::RUN_AS_GROUP, defaults.run_as_group)?;
    if a.bool_or(&cat::RUN_AS_SAME_USER, defaults.run_as_same_user)? {
        let key = a.key(&cat::RUN_AS_SAME_USER);
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
            a.key(&cat::RUN_AS_USER)
        ));
    }
    Ok(Some(RunAs { user, group }))
}

pub(super) fn template_config(
    a: &Annotations<'_>,
    defaults: &InjectorDefaults,
) -> Result<TemplateConfig, InjectError> {
    let max_connections_per_host = match a.get(&cat::TEMPLATE_MAX_CONNECTIONS_PER_HOST) {
        None => defaults.max_connections_per_host,
        Some(e) if e.value.is_empty() => 0,
        Some(e) => parse_non_negative(e.value)
            .ok_or_else(|| InjectError::invalid(e.key, e.value, "a non-negative integer such as 10"))?,
    };
    let lease_renewal_threshold = match a.get(&cat::TEMPLATE_LEASE_RENEWAL_THRESHOLD) {
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
            &cat::TEMPLATE_EXIT_ON_RETRY_FAILURE,
            defaults.exit_on_retry_failure,
        )?,
        static_secret_render_interval: a.vault_duration_or(
            &cat::TEMPLATE_STATIC_SECRET_RENDER_INTERVAL,
            &defaults.static_secret_render_interval,
        )?,
        max_connections_per_host: (max_connections_per_host > 0).then_some(max_connections_per_host),
        lease_renewal_threshold: (lease_renewal_threshold > 0.0).then_some(lease_renewal_threshold),
    })
}

/// Runs the template crate's admission check on every inline template.
pub(super) fn check_templates(
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

pub(super) fn json_patch_annotation(
    a: &Annotations<'_>,
    entry: &'static Annotation,
) -> Result<Option<json_patch::Patch>, InjectError> {
    let Some(e) = a.get(entry) else {
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
pub(super) fn ca_pem(bytes: &str) -> Option<String> {
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

/// The warnings about annotation names, from the catalogue: those the catalogue does not list
/// (typos) and per-secret settings of secrets that no annotation defines. One lookup per annotation.
pub(super) fn warn_about_names(a: &Annotations<'_>, warnings: &mut Vec<String>) {
    let mut unknown = Vec::new();
    let mut defined: Option<Vec<String>> = None;
    for (suffix, entry) in a.iter() {
        match cat::find(Prefix::Vault, suffix) {
            None => unknown.push(format!(
                "annotation {} is not a known vault-k8s annotation and was ignored (typo?)",
                entry.key
            )),
            Some((e, rest)) => {
                if e.scope == Scope::Secret
                    && let Some(name) = rest
                    && !defined
                        .get_or_insert_with(|| secrets::discover_names(a))
                        .iter()
                        .any(|n| n == name)
                {
                    unknown.push(format!(
                        "annotation {} refers to secret {name:?}, which no agent-inject-secret-/agent-inject-template- \
                         annotation defines; it was ignored",
                        entry.key
                    ));
                }
            }
        }
    }
    warnings.append(&mut unknown);
    for (suffix, entry) in a.iter_ferrovault() {
        match cat::find(Prefix::Ferrovault, suffix) {
            None => warnings.push(format!(
                "annotation {} is not a known ferrovault annotation and was ignored (typo?)",
                entry.key
            )),
            Some((e, Some(name)))
                if e.scope == Scope::Secret
                    && !defined
                        .get_or_insert_with(|| secrets::discover_names(a))
                        .iter()
                        .any(|n| n == name) =>
            {
                warnings.push(format!(
                    "annotation {} refers to secret {name:?}, which no agent-inject-secret-/agent-inject-template- \
                     annotation defines; it was ignored",
                    entry.key
                ));
            }
            Some(_) => {}
        }
    }
}
