//! Shared by the chart tests: `helm template` through the real helm, the rendered objects typed
//! and round-tripped, and small accessors. Each test file uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodSpec, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const RELEASE_NS: &str = "vault-system";

// === helm ===

use ferrovault_tests::tools::helm_bin;

pub fn chart(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../charts")
        .join(name)
}

pub fn helm(args: &[&str]) -> Result<String, String> {
    let output = Command::new(helm_bin())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm ({}): {e}", helm_bin().display()));
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("helm prints UTF-8"))
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// `helm template <release> <chart> -n <ns> --set …`.
pub fn try_render(chart_name: &str, release: &str, ns: &str, sets: &[&str]) -> Result<Rendered, String> {
    let sets: Vec<String> = sets
        .iter()
        .flat_map(|s| ["--set".to_owned(), s.to_string()])
        .collect();
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    try_render_args(chart_name, release, ns, &sets)
}

/// `helm template <release> <chart> -n <ns> <args…>` (e.g. `-f values.yaml`).
pub fn try_render_args(
    chart_name: &str,
    release: &str,
    ns: &str,
    extra: &[&str],
) -> Result<Rendered, String> {
    let dir = chart(chart_name);
    let mut args = vec!["template", release, dir.to_str().unwrap(), "--namespace", ns];
    args.extend_from_slice(extra);
    let text = helm(&args)?;
    let objects = serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("helm renders valid YAML"))
        .filter(|v| !v.is_null())
        .collect();
    Ok(Rendered { text, objects })
}

pub fn render(chart_name: &str, sets: &[&str]) -> Rendered {
    let release = if chart_name == "moscow-time" {
        "moscow-python"
    } else {
        "fv"
    };
    try_render(chart_name, release, RELEASE_NS, sets)
        .unwrap_or_else(|e| panic!("helm template {chart_name} {sets:?} failed:\n{e}"))
}

#[derive(Debug)]
pub struct Rendered {
    pub text: String,
    pub objects: Vec<Value>,
}

impl Rendered {
    pub fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    pub fn kinds(&self) -> BTreeSet<String> {
        self.objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn one<T: DeserializeOwned>(&self, kind: &str) -> T {
        let all = self.all(kind);
        assert_eq!(all.len(), 1, "expected exactly one {kind}, got {}", all.len());
        typed(all[0])
    }

    pub fn named<T: DeserializeOwned>(&self, kind: &str, name: &str) -> T {
        let found = self
            .objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} named {name} in {:?}", self.names()));
        typed(found)
    }

    pub fn names(&self) -> Vec<String> {
        self.objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// Every object is a known kind and survives a round trip through its typed representation.
    pub fn check_types(&self) {
        for object in &self.objects {
            let kind = object["kind"].as_str().expect("kind");
            let api_version = object["apiVersion"].as_str().expect("apiVersion");
            match kind {
                "Deployment" => round_trip::<Deployment>(object),
                "StatefulSet" => round_trip::<StatefulSet>(object),
                "Service" => round_trip::<Service>(object),
                "ServiceAccount" => round_trip::<ServiceAccount>(object),
                "ConfigMap" => round_trip::<ConfigMap>(object),
                "Secret" => round_trip::<Secret>(object),
                "Pod" => round_trip::<Pod>(object),
                "Role" => round_trip::<Role>(object),
                "RoleBinding" => round_trip::<RoleBinding>(object),
                "ClusterRole" => round_trip::<ClusterRole>(object),
                "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(object),
                "MutatingWebhookConfiguration" => round_trip::<MutatingWebhookConfiguration>(object),
                "PodDisruptionBudget" => round_trip::<PodDisruptionBudget>(object),
                "NetworkPolicy" => round_trip::<k8s_openapi::api::networking::v1::NetworkPolicy>(object),
                "Issuer" | "Certificate" => {
                    assert_eq!(api_version, "cert-manager.io/v1", "{kind}");
                    assert!(object["spec"].is_object(), "{kind} has a spec");
                }
                "ServiceMonitor" => {
                    assert_eq!(api_version, "monitoring.coreos.com/v1");
                    assert!(object["spec"]["endpoints"].is_array());
                }
                other => panic!("unexpected kind {other} rendered"),
            }
        }
    }
}

pub fn typed<T: DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value:#}"))
}

pub fn round_trip<T: DeserializeOwned + serde::Serialize>(object: &Value) {
    let typed: T = typed(object);
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back, object,
        "fields lost in a round trip through the typed object"
    );
}

// === small accessors ===

pub fn pod_spec_of_statefulset(sts: &StatefulSet) -> &PodSpec {
    sts.spec.template.spec.as_ref().unwrap()
}

pub fn pod_spec_of_deployment(deployment: &Deployment) -> &PodSpec {
    deployment.spec.template.spec.as_ref().unwrap()
}

pub fn env(container: &Container, name: &str) -> Option<String> {
    container
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.value.clone().unwrap_or_default())
}

pub fn env_names(container: &Container) -> BTreeSet<String> {
    container.env.iter().flatten().map(|e| e.name.clone()).collect()
}

pub fn assert_restricted(spec: &PodSpec) {
    let pod = spec.security_context.as_ref().expect("pod securityContext");
    assert_eq!(pod.run_as_non_root, Some(true));
    assert_eq!(pod.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
    assert_ne!(pod.run_as_user, Some(0));
    for container in &spec.containers {
        let sc = container
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{}", container.name);
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{}", container.name);
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_owned()][..]),
            "{}",
            container.name
        );
        assert_ne!(sc.privileged, Some(true));
    }
}

// === ferrovault ===

pub fn webhook_container(r: &Rendered) -> Container {
    let deployment: Deployment = r.one("Deployment");
    pod_spec_of_deployment(&deployment).containers[0].clone()
}

pub fn mwc(r: &Rendered) -> k8s_openapi::api::admissionregistration::v1::MutatingWebhook {
    let config: MutatingWebhookConfiguration = r.one("MutatingWebhookConfiguration");
    let mut webhooks = config.webhooks.expect("webhooks");
    assert_eq!(webhooks.len(), 1);
    webhooks.remove(0)
}

pub fn rules(role: &[PolicyRule]) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    role.iter()
        .map(|rule| {
            let group = rule.api_groups.clone().unwrap_or_default().join(",");
            let resources = rule.resources.clone().unwrap_or_default().join(",");
            (
                group,
                resources,
                rule.verbs.clone(),
                rule.resource_names.clone().unwrap_or_default(),
            )
        })
        .collect()
}
