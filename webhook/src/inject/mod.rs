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
pub mod catalogue;
pub mod config;
pub mod container;
pub mod decision;
pub mod defaults;
pub mod env_reload;
pub mod error;
pub mod listener;
pub mod names;
pub mod patch;
pub mod quantity;
pub mod sa_token;
pub mod secrets;
pub mod sections;
pub mod spec;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

pub use decision::{Decision, InjectionType};
pub use defaults::{DEFAULT_AGENT_IMAGE, InjectorDefaults};
pub use error::InjectError;
pub use patch::PodPatch;

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
