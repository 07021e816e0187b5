//! The pure decision, the scope and the tracker.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{MutatingWebhook, MutatingWebhookConfiguration};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, OwnerReference, Time,
};
use k8s_openapi::jiff::Timestamp;

use super::tracker::Tracker;
use super::*;

fn pod(namespace: &str, name: &str, annotations: &[(&str, &str)], containers: &[&str]) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.namespace = Some(namespace.into());
    pod.metadata.name = Some(name.into());
    pod.metadata.uid = Some(format!("uid-{namespace}-{name}"));
    pod.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    pod.spec = Some(PodSpec {
        containers: containers
            .iter()
            .map(|c| Container {
                name: c.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    pod
}

const ASK: (&str, &str) = ("vault.hashicorp.com/agent-inject", "true");

fn is_missed(pod: &Pod) -> bool {
    missed(pod, &Scope::everything()).is_some()
}

#[test]
fn a_pod_that_asks_and_has_no_agent_is_missed() {
    let p = pod(
        "apps",
        "web",
        &[ASK, ("vault.hashicorp.com/role", "web")],
        &["app"],
    );
    let m = missed(&p, &Scope::everything()).unwrap();
    assert_eq!(
        (m.namespace.as_str(), m.name.as_str(), m.owner.as_str()),
        ("apps", "web", "-")
    );
    assert_eq!(m.reason, Cause::NotMutated);
    // the openbao.org alias asks too
    assert!(is_missed(&pod(
        "apps",
        "bao",
        &[("openbao.org/agent-inject", "true")],
        &["app"]
    )));
    // admission's Go booleans
    assert!(is_missed(&pod(
        "apps",
        "one",
        &[("vault.hashicorp.com/agent-inject", "1")],
        &["app"]
    )));
}

#[test]
fn running_pods_are_judged_too() {
    // admission skips non-pending pods; the detector judges the pod whatever its phase
    let mut p = pod("apps", "web", &[ASK], &["app"]);
    p.status = Some(PodStatus {
        phase: Some("Running".into()),
        ..Default::default()
    });
    assert!(is_missed(&p));
}

#[test]
fn pods_that_do_not_ask_or_have_their_agent_are_not_missed() {
    for p in [
        pod("apps", "none", &[], &["app"]),
        pod(
            "apps",
            "off",
            &[("vault.hashicorp.com/agent-inject", "false")],
            &["app"],
        ),
        // what admission would deny is not a missed injection
        pod(
            "apps",
            "bad",
            &[("vault.hashicorp.com/agent-inject", "tRuE")],
            &["app"],
        ),
        pod("kube-system", "sys", &[ASK], &["app"]),
        // admission skips pods marked injected
        pod(
            "apps",
            "marked",
            &[ASK, ("vault.hashicorp.com/agent-inject-status", "injected")],
            &["app"],
        ),
        // an agent container, classic or native
        pod("apps", "sidecar", &[ASK], &["app", "vault-agent"]),
    ] {
        assert!(!is_missed(&p), "{:?}", p.metadata.name);
    }
    let mut native = pod("apps", "native", &[ASK], &["app"]);
    native.spec.as_mut().unwrap().init_containers = Some(vec![Container {
        name: "vault-agent-init".into(),
        ..Default::default()
    }]);
    assert!(!is_missed(&native));
}

#[test]
fn owner_is_the_controller() {
    let mut p = pod("apps", "web-1", &[ASK], &["app"]);
    let owner = |kind: &str, name: &str, controller| OwnerReference {
        kind: kind.into(),
        name: name.into(),
        controller,
        ..Default::default()
    };
    p.metadata.owner_references = Some(vec![
        owner("ConfigMap", "x", None),
        owner("ReplicaSet", "web-7f", Some(true)),
    ]);
    assert_eq!(
        missed(&p, &Scope::everything()).unwrap().owner,
        "ReplicaSet/web-7f"
    );
}

fn selector(key: &str, operator: &str, values: &[&str]) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        ..Default::default()
    }
}

fn config(
    namespace: Option<LabelSelector>,
    object: Option<LabelSelector>,
    created: &str,
) -> MutatingWebhookConfiguration {
    let mut mwc = MutatingWebhookConfiguration::default();
    mwc.metadata.creation_timestamp = Some(Time(created.parse::<Timestamp>().unwrap()));
    mwc.webhooks = Some(vec![MutatingWebhook {
        name: "agent-injector.ferrovault.io".into(),
        namespace_selector: namespace,
        object_selector: object,
        ..Default::default()
    }]);
    mwc
}

#[test]
fn the_webhook_configuration_selectors_scope_the_detector() {
    // the chart's defaults: every namespace but the excluded ones, every pod but the injector's own
    let scope = Scope::from_config(&config(
        Some(selector(
            "kubernetes.io/metadata.name",
            "NotIn",
            &["ferrovault", "skipped"],
        )),
        Some(selector("app.kubernetes.io/name", "NotIn", &["ferrovault"])),
        "2026-01-01T00:00:00Z",
    ));
    assert!(missed(&pod("apps", "web", &[ASK], &["app"]), &scope).is_some());
    assert!(missed(&pod("skipped", "web", &[ASK], &["app"]), &scope).is_none());
    let mut own = pod("apps", "injector", &[ASK], &["app"]);
    own.metadata.labels = Some(BTreeMap::from([(
        "app.kubernetes.io/name".into(),
        "ferrovault".into(),
    )]));
    assert!(missed(&own, &scope).is_none());
    // a namespace label the detector cannot see counts as matching
    let scope = Scope::from_config(&config(
        Some(selector("team", "In", &["a"])),
        None,
        "2026-01-01T00:00:00Z",
    ));
    assert!(missed(&pod("apps", "web", &[ASK], &["app"]), &scope).is_some());
    // matchLabels on the object
    let only_labelled = LabelSelector {
        match_labels: Some(BTreeMap::from([("vault".into(), "yes".into())])),
        ..Default::default()
    };
    let scope = Scope::from_config(&config(None, Some(only_labelled), "2026-01-01T00:00:00Z"));
    assert!(missed(&pod("apps", "web", &[ASK], &["app"]), &scope).is_none());
}

#[test]
fn pods_older_than_the_webhook_configuration_were_created_before_install() {
    let scope = Scope::from_config(&config(None, None, "2026-06-01T00:00:00Z"));
    let mut old = pod("apps", "old", &[ASK], &["app"]);
    old.metadata.creation_timestamp = Some(Time("2026-05-01T00:00:00Z".parse().unwrap()));
    assert_eq!(missed(&old, &scope).unwrap().reason, Cause::CreatedBeforeInstall);
    let mut new = pod("apps", "new", &[ASK], &["app"]);
    new.metadata.creation_timestamp = Some(Time("2026-07-01T00:00:00Z".parse().unwrap()));
    let m = missed(&new, &scope).unwrap();
    assert_eq!(m.reason, Cause::NotMutated);
    let note = m.event_note();
    assert!(
        note.contains("vault.hashicorp.com/agent-inject") && note.contains("failurePolicy: Ignore"),
        "{note}"
    );
    assert!(note.len() < 1024);
}

fn m(ns: &str, name: &str) -> Option<Missed> {
    missed(&pod(ns, name, &[ASK], &["app"]), &Scope::everything())
}

#[test]
fn the_tracker_reports_each_pod_once_and_counts_per_namespace() {
    let mut t = Tracker::default();
    t.init();
    t.init_apply("a1", m("a", "a1"));
    t.init_apply("a2", m("a", "a2"));
    t.init_apply("ok", None);
    t.init_apply("b1", m("b", "b1"));
    let fresh: Vec<String> = t.init_done().into_iter().map(|m| m.name).collect();
    assert_eq!(fresh, ["a1", "a2", "b1"]);
    assert_eq!(t.counts(), BTreeMap::from([("a".into(), 2), ("b".into(), 1)]));
    // a resync relists the same pods: nothing new to report
    t.init();
    for (uid, name) in [("a1", "a1"), ("a2", "a2"), ("b1", "b1")] {
        t.init_apply(uid, m(if name.starts_with('a') { "a" } else { "b" }, name));
    }
    assert!(t.init_done().is_empty());
    // an update of a missed pod is not a new report; a new pod is
    assert!(t.apply("a1", m("a", "a1")).is_none());
    assert_eq!(t.apply("a3", m("a", "a3")).unwrap().name, "a3");
    // deletions (and a pod that got its agent) bring the count down, to 0 and not away
    t.delete("a1");
    t.apply("a2", None);
    t.delete("a3");
    t.delete("b1");
    assert_eq!(t.counts(), BTreeMap::from([("a".into(), 0), ("b".into(), 0)]));
    // a pod deleted while the watch was down disappears at the relist
    t.apply("c1", m("c", "c1"));
    t.init();
    assert!(t.init_done().is_empty());
    assert_eq!(t.counts()["c"], 0);
    // a failed report is retried at the next relist
    assert!(t.apply("d1", m("d", "d1")).is_some());
    t.unreport("d1");
    t.init();
    t.init_apply("d1", m("d", "d1"));
    assert_eq!(t.init_done().len(), 1);
    // leadership lost: the series go, the reports stay
    t.clear();
    assert!(t.counts().is_empty());
    t.init();
    t.init_apply("d1", m("d", "d1"));
    assert!(t.init_done().is_empty());
}

#[test]
fn the_audit_table_and_json() {
    use crate::args::AuditOutput;
    let found = vec![m("apps", "web").unwrap(), m("payments", "api-7c9f").unwrap()];
    let table = audit::render(&found, AuditOutput::Table);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAMESPACE   POD        OWNER   REASON"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("payments    api-7c9f   -       not mutated"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&audit::render(&found, AuditOutput::Json)).unwrap();
    assert_eq!(json[1]["name"], "api-7c9f");
    assert_eq!(json[1]["reason"], "not-mutated");
    assert!(json[1].get("uid").is_none());
    assert_eq!(audit::render(&[], AuditOutput::Table), "");
}

/// Issue #19 §10: an owner reference's name is not checked by the API server; a name with a
/// newline, an ANSI colour and a carriage return reaches the table (and the log line) escaped, one
/// row per pod.
#[test]
fn owner_names_with_control_characters_are_escaped_in_the_table() {
    use crate::args::AuditOutput;
    let mut p = pod("apps", "web-1", &[ASK], &["app"]);
    p.metadata.owner_references = Some(vec![OwnerReference {
        kind: "ReplicaSet".into(),
        name: "web\nFAKE   forged-pod   -   ok\x1b[31m\rred".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    let found = missed(&p, &Scope::everything()).unwrap();
    assert_eq!(
        found.owner,
        r"ReplicaSet/web\nFAKE   forged-pod   -   ok\u{1b}[31m\rred"
    );
    let table = audit::render(&[found], AuditOutput::Table);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(!table.contains('\x1b') && !table.contains('\r'), "{table:?}");
}
