//! Missed injections: pods whose annotations ask for a Vault agent but that carry none — admitted
//! while the webhook was down or unreachable with `failurePolicy: Ignore`, or created before the
//! injector was installed. Nobody notices until they fail; this finds them.
//!
//! - here: the pure decision ([`missed`]): a pod *asks for injection* exactly when admission would
//!   inject it ([`crate::inject::spec::asks_for_injection`], without the pod-phase check, so that
//!   running pods are judged too), it is inside the webhook configuration's selectors ([`Scope`]),
//!   and it *carries no agent* when no container or init container has an agent container's name;
//! - [`tracker`]: the set of missed pods kept in step with a watch (pure), the counts per namespace
//!   and which pods still need reporting (one report per pod);
//! - [`detector`]: the leader-only watch that reports them (Event, metric, log line);
//! - [`audit`]: the one-shot `ferrovault-webhook audit` command.
//!
//! Nothing here reads or reports annotation values, environment or other pod data: only names.

pub mod audit;
pub mod detector;
mod scope;
pub mod tracker;

#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use scope::Scope;

use ferrovault_contract::logging::printable;

use crate::inject::names::{INIT_NAME, SIDECAR_NAME};
use crate::inject::spec::asks_for_injection;

/// `reason` of the Kubernetes Event put on each missed pod.
pub const EVENT_REASON: &str = "VaultInjectionMissed";

/// One pod that asks for injection but carries no agent. Names only, never values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Missed {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid (tells a re-created pod of the same name apart).
    #[serde(skip)]
    pub uid: String,
    /// Its controller as `Kind/name`, or `-`.
    pub owner: String,
    /// The likely cause, for the table, the Event and the log line.
    pub reason: Cause,
}

/// Why the pod probably has no agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// Created before the webhook configuration existed.
    CreatedBeforeInstall,
    /// Created while the webhook configuration existed: the call failed and `failurePolicy: Ignore`
    /// let the pod in (webhook down, unreachable, timed out, or its certificate not trusted).
    NotMutated,
}

impl Cause {
    /// A short phrase for the table.
    pub fn short(&self) -> &'static str {
        match self {
            Cause::CreatedBeforeInstall => "created before the injector was installed",
            Cause::NotMutated => "not mutated (webhook down or failing, failurePolicy Ignore)",
        }
    }
}

impl Missed {
    /// The note of the Event, naming the annotation and the likely cause (under 1 KiB).
    pub fn event_note(&self) -> String {
        let cause = match self.reason {
            Cause::CreatedBeforeInstall => {
                "it was created before the injector's MutatingWebhookConfiguration existed"
            }
            Cause::NotMutated => {
                "the injector did not mutate it: the webhook was down, unreachable, timed out or its \
                 certificate was not trusted, and failurePolicy: Ignore let the pod in without the agent"
            }
        };
        format!(
            "annotation vault.hashicorp.com/agent-inject (or openbao.org/agent-inject) asks for a Vault agent \
             but the pod has no {SIDECAR_NAME} or {INIT_NAME} container: {cause}. Re-create the pod (e.g. \
             kubectl rollout restart) once the injector is up"
        )
    }
}

/// Whether any container or init container has an agent container's name.
pub fn carries_agent(pod: &Pod) -> bool {
    pod.spec.as_ref().is_some_and(|spec| {
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .any(|c| c.name == SIDECAR_NAME || c.name == INIT_NAME)
    })
}

/// The pod's controller (`Kind/name`), else its first owner, else `-`. The API server does not
/// check an owner reference's kind or name, so control characters in them are escaped
/// ([`printable`]): this string reaches the `audit` table and log lines.
pub fn owner(pod: &Pod) -> String {
    let owners = pod.metadata.owner_references.as_deref().unwrap_or_default();
    owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or(owners.first())
        .map(|o| format!("{}/{}", printable(&o.kind), printable(&o.name)))
        .unwrap_or_else(|| "-".to_owned())
}

/// The pure decision: `Some` when `pod` asks for injection (as admission decides it, whatever its
/// phase), is within `scope`, and carries no agent.
pub fn missed(pod: &Pod, scope: &Scope) -> Option<Missed> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    asks_for_injection(namespace, pod.metadata.annotations.as_ref()).ok()?;
    if carries_agent(pod) || !scope.covers(namespace, pod.metadata.labels.as_ref()) {
        return None;
    }
    let created: Option<&Time> = pod.metadata.creation_timestamp.as_ref();
    let reason = match (created, scope.installed_at()) {
        (Some(created), Some(installed)) if created.0 < installed.0 => Cause::CreatedBeforeInstall,
        _ => Cause::NotMutated,
    };
    Some(Missed {
        namespace: namespace.to_owned(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        owner: owner(pod),
        reason,
    })
}
