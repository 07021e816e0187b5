//! Which pods the webhook configuration sends to the injector: its entries' `namespaceSelector` and
//! `objectSelector`, evaluated without extra API calls. A pod outside them is never mutated by
//! design, so it is not a missed injection.
//!
//! Namespace labels are not read (that would need `namespaces` RBAC): the one label every namespace
//! carries, `kubernetes.io/metadata.name`, is known from the pod's namespace, which is what the
//! chart's default selector uses; a requirement on any other namespace label is taken as met (the
//! detector would rather report one pod too many than miss one).

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

/// The label every namespace has, whose value is its name.
const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The selectors of the webhook configuration's entries; the default covers every pod.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `(namespaceSelector, objectSelector)` of each entry; empty = every pod.
    entries: Vec<(Option<LabelSelector>, Option<LabelSelector>)>,
    installed_at: Option<Time>,
}

impl Scope {
    /// Every pod (no webhook configuration named).
    pub fn everything() -> Self {
        Scope::default()
    }

    /// The selectors of `config`'s entries, and its creation time.
    pub fn from_config(config: &MutatingWebhookConfiguration) -> Self {
        Scope {
            entries: config
                .webhooks
                .iter()
                .flatten()
                .map(|w| (w.namespace_selector.clone(), w.object_selector.clone()))
                .collect(),
            installed_at: config.metadata.creation_timestamp.clone(),
        }
    }

    /// When the webhook configuration was created, if known.
    pub fn installed_at(&self) -> Option<&Time> {
        self.installed_at.as_ref()
    }

    /// Whether some entry's selectors send a pod with these labels in `namespace` to the webhook.
    pub fn covers(&self, namespace: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        if self.entries.is_empty() {
            return true;
        }
        let empty = BTreeMap::new();
        let labels = labels.unwrap_or(&empty);
        let namespace_labels = BTreeMap::from([(NAME_LABEL.to_owned(), namespace.to_owned())]);
        self.entries.iter().any(|(ns, obj)| {
            ns.as_ref()
                .is_none_or(|s| matches(s, &namespace_labels, |key| key == NAME_LABEL))
                && obj.as_ref().is_none_or(|s| matches(s, labels, |_| true))
        })
    }
}

/// Kubernetes label-selector semantics (`matchLabels` and `matchExpressions`, all ANDed; an empty
/// selector matches everything). A requirement on a key for which `known` is false is taken as met.
pub fn matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
    known: impl Fn(&str) -> bool,
) -> bool {
    let label_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| !known(k) || labels.get(k) == Some(v));
    label_ok
        && selector.match_expressions.iter().flatten().all(|r| {
            if !known(&r.key) {
                return true;
            }
            let value = labels.get(&r.key);
            let values = r.values.as_deref().unwrap_or_default();
            match r.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // the API server rejects other operators; never hide a pod because of one
                _ => true,
            }
        })
}
