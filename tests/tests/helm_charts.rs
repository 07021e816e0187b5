//! The two Helm charts, rendered by the real `helm` (env `HELM_BIN`, else
//! `$HOME/.cache/ferrovault/bin/helm`, else `helm` on PATH) and checked object by object.
//!
//! Every rendered object must deserialise into its `k8s_openapi` type *and* serialise back to the
//! same JSON, so a misspelt or misplaced field fails here instead of being dropped by the API server.

use std::collections::BTreeSet;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

/// The seed's template, byte for byte.
const SEED_TEMPLATE: &str = "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}\n";

mod chart_support;

use chart_support::*;

// === lint ===

#[test]
fn both_charts_pass_strict_lint() {
    for (name, sets) in [
        ("moscow-time", vec![]),
        (
            "moscow-time",
            vec!["vault.enabled=false", "persistence.enabled=false"],
        ),
        ("ferrovault", vec![]),
        ("ferrovault", vec!["tls.mode=certManager"]),
        (
            "ferrovault",
            vec![
                "tls.mode=existingSecret",
                "certs.secretName=s",
                "certs.caBundle=Zm9v",
            ],
        ),
        (
            "ferrovault",
            vec!["webhook.url=https://injector.example.test:8443/mutate"],
        ),
        (
            "ferrovault",
            vec!["metrics.enabled=true", "serviceMonitor.enabled=true"],
        ),
        ("ferrovault", vec!["missedInjections.enabled=true"]),
        (
            "ferrovault",
            vec!["missedInjections.enabled=true", "tls.mode=certManager"],
        ),
    ] {
        let dir = chart(name);
        let mut args = vec!["lint", "--strict", dir.to_str().unwrap()];
        for set in &sets {
            args.extend(["--set", set]);
        }
        helm(&args).unwrap_or_else(|e| panic!("helm lint --strict {name} {sets:?}:\n{e}"));
    }
}

// === moscow-time ===

#[test]
fn moscow_time_defaults_render_the_seed_app_as_a_proper_statefulset() {
    let r = render("moscow-time", &[]);
    r.check_types();
    assert_eq!(
        r.kinds(),
        ["ConfigMap", "Pod", "Service", "ServiceAccount", "StatefulSet"]
            .map(String::from)
            .into()
    );
    assert!(r.all("Deployment").is_empty(), "no leftover Deployment");

    let sts: StatefulSet = r.one("StatefulSet");
    assert_eq!(sts.metadata.name.as_deref(), Some("moscow-python"));
    let spec = &sts.spec;
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("OrderedReady"));
    let strategy = spec.update_strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(strategy.rolling_update.as_ref().unwrap().partition, Some(0));

    // serviceName names a headless Service the chart creates, selecting the same pods.
    let headless: Service = r.named("Service", &spec.service_name.clone().expect("serviceName"));
    let headless_spec = headless.spec.as_ref().unwrap();
    assert_eq!(headless_spec.cluster_ip.as_deref(), Some("None"));
    assert_eq!(headless_spec.publish_not_ready_addresses, Some(true));
    let selector = spec.selector.match_labels.clone().unwrap();
    assert_eq!(headless_spec.selector.as_ref(), Some(&selector));
    let pod_labels = spec.template.metadata.as_ref().unwrap().labels.clone().unwrap();
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));

    // The ClusterIP Service on 8000.
    let service: Service = r.named("Service", "moscow-python");
    let service_spec = service.spec.as_ref().unwrap();
    assert_eq!(service_spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(service_spec.ports.as_ref().unwrap()[0].port, 8000);
    assert_eq!(service_spec.selector.as_ref(), Some(&selector));

    // Exactly one container: the app. Injection is the webhook's job.
    let pod = pod_spec_of_statefulset(&sts);
    assert_eq!(pod.containers.len(), 1);
    assert!(pod.init_containers.is_none());
    let app = &pod.containers[0];
    assert_eq!(app.image.as_deref(), Some("raleksan/app_python:v0.1"));
    let port = &app.ports.as_ref().unwrap()[0];
    assert_eq!((port.name.as_deref(), port.container_port), (Some("http"), 8000));
    for probe in [&app.liveness_probe, &app.readiness_probe] {
        let get = probe.as_ref().expect("probe").http_get.as_ref().expect("httpGet");
        assert_eq!(get.path.as_deref(), Some("/"));
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into())
        );
    }
    assert_eq!(pod.service_account_name.as_deref(), Some("internal-app"));
    let sa: ServiceAccount = r.one("ServiceAccount");
    assert_eq!(sa.metadata.name.as_deref(), Some("internal-app"));
    assert_restricted(pod);

    // The visits volume: one claim per pod, mounted where the app (its working dir) writes visits.txt.
    let claims = spec
        .volume_claim_templates
        .as_ref()
        .expect("volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    let claim_name = claims[0].metadata.name.clone().unwrap();
    let mount = app
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == claim_name)
        .expect("claim mounted");
    assert_eq!(Some(&mount.mount_path), app.working_dir.as_ref());
    assert!(
        pod.volumes.iter().flatten().all(|v| v.name != claim_name),
        "no volume shadows the claim"
    );

    // The seed's ConfigMap and its mount.
    let config: ConfigMap = r.one("ConfigMap");
    let json: Value = serde_json::from_str(&config.data.as_ref().unwrap()["config.json"]).unwrap();
    assert_eq!(json["nickname"], "Raleksan");
    assert!(
        app.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == "/config/config.json")
    );

    // The seed's four Vault annotations, the template byte-exact.
    let annotations = spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .clone()
        .unwrap();
    let vault: Vec<(&String, &String)> = annotations
        .iter()
        .filter(|(k, _)| k.starts_with("vault.hashicorp.com/"))
        .collect();
    let expected = [
        ("vault.hashicorp.com/agent-inject", "true"),
        (
            "vault.hashicorp.com/agent-inject-secret-database-config.txt",
            "secret/my-secret",
        ),
        (
            "vault.hashicorp.com/agent-inject-template-database-config.txt",
            SEED_TEMPLATE,
        ),
        ("vault.hashicorp.com/role", "internal-app"),
    ];
    assert_eq!(vault.len(), expected.len(), "{vault:?}");
    for (key, value) in expected {
        assert_eq!(annotations.get(key).map(String::as_str), Some(value), "{key}");
    }

    // helm test pod fetches the Service.
    let test_pod: Pod = r.one("Pod");
    let hook = test_pod
        .metadata
        .annotations
        .as_ref()
        .unwrap()
        .get("helm.sh/hook");
    assert_eq!(hook.map(String::as_str), Some("test"));
    let test_spec = test_pod.spec.as_ref().unwrap();
    let args = test_spec.containers[0].args.clone().unwrap().join(" ");
    assert!(args.contains("http://moscow-python:8000/"), "{args}");
    assert_restricted(test_spec);
}

#[test]
fn moscow_time_without_vault_has_no_vault_annotation_anywhere() {
    let r = render("moscow-time", &["vault.enabled=false"]);
    r.check_types();
    assert!(!r.text.contains("vault.hashicorp.com"), "{}", r.text);
    let sts: StatefulSet = r.one("StatefulSet");
    assert_eq!(pod_spec_of_statefulset(&sts).containers.len(), 1);
}

#[test]
fn moscow_time_pod_management_and_update_strategy_are_values() {
    let r = render("moscow-time", &["podManagementPolicy=Parallel"]);
    r.check_types();
    let sts: StatefulSet = r.one("StatefulSet");
    assert_eq!(sts.spec.pod_management_policy.as_deref(), Some("Parallel"));

    let r = render("moscow-time", &["updateStrategy.type=OnDelete"]);
    r.check_types();
    let strategy = r.one::<StatefulSet>("StatefulSet").spec.update_strategy.unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("OnDelete"));
    assert!(strategy.rolling_update.is_none());

    let r = render("moscow-time", &["updateStrategy.partition=2"]);
    let strategy = r.one::<StatefulSet>("StatefulSet").spec.update_strategy.unwrap();
    assert_eq!(strategy.rolling_update.unwrap().partition, Some(2));

    let err = try_render("moscow-time", "m", "default", &["podManagementPolicy=Sometimes"]).unwrap_err();
    assert!(err.contains("podManagementPolicy"), "{err}");
}

#[test]
fn moscow_time_without_persistence_uses_an_empty_dir() {
    let r = render("moscow-time", &["persistence.enabled=false"]);
    r.check_types();
    let sts: StatefulSet = r.one("StatefulSet");
    assert!(sts.spec.volume_claim_templates.is_none());
    let data = pod_spec_of_statefulset(&sts)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "data");
    assert!(data.expect("data volume").empty_dir.is_some());
}

#[test]
fn moscow_time_vault_values_drive_the_annotations() {
    let r = render(
        "moscow-time",
        &[
            "vault.role=other",
            "vault.secretPath=kv/app",
            "vault.fileName=app.env",
            "vault.template=",
        ],
    );
    let sts: StatefulSet = r.one("StatefulSet");
    let annotations = sts.spec.template.metadata.unwrap().annotations.unwrap();
    assert_eq!(annotations["vault.hashicorp.com/role"], "other");
    assert_eq!(
        annotations["vault.hashicorp.com/agent-inject-secret-app.env"],
        "kv/app"
    );
    assert!(!annotations.keys().any(|k| k.contains("agent-inject-template")));

    let long = format!("vault.fileName={}", "x".repeat(42));
    let err = try_render("moscow-time", "m", "default", &[&long]).unwrap_err();
    assert!(err.contains("fileName"), "{err}");
}

#[test]
fn moscow_time_schema_rejects_wrong_types() {
    let err = try_render("moscow-time", "m", "default", &["replicaCount=abc"]).unwrap_err();
    assert!(err.contains("replicaCount"), "{err}");
}

// === ferrovault ===

#[test]
fn ferrovault_defaults_render_an_ha_auto_tls_injector() {
    let r = render("ferrovault", &[]);
    r.check_types();
    assert_eq!(
        r.kinds(),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
        .map(String::from)
        .into()
    );

    let deployment: Deployment = r.one("Deployment");
    let spec = &deployment.spec;
    assert_eq!(spec.replicas, Some(2));
    let pod = pod_spec_of_deployment(&deployment);
    assert_restricted(pod);
    assert_eq!(
        pod.automount_service_account_token,
        Some(true),
        "auto TLS needs the API"
    );
    let anti = pod.affinity.as_ref().unwrap().pod_anti_affinity.as_ref().unwrap();
    let required = anti
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap();
    assert_eq!(required[0].topology_key, "kubernetes.io/hostname");
    assert_eq!(
        required[0].label_selector.as_ref().unwrap().match_labels.as_ref(),
        spec.selector.match_labels.as_ref()
    );
    // one webhook per node: a surge pod would find no node on a cluster with as many nodes as
    // replicas, so pods are replaced one at a time (the PDB allows one)
    let rolling = spec.strategy.as_ref().unwrap().rolling_update.as_ref().unwrap();
    assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(1)));

    let container = &pod.containers[0];
    assert_eq!(
        container.command.as_deref(),
        Some(&["/ferrovault-webhook".to_owned(), "serve".to_owned()][..])
    );
    let port = &container.ports.as_ref().unwrap()[0];
    assert_eq!((port.name.as_deref(), port.container_port), (Some("https"), 8443));
    for (probe, failures) in [
        (&container.liveness_probe, 2),
        (&container.readiness_probe, 2),
        (&container.startup_probe, 12),
    ] {
        let probe = probe.as_ref().expect("probe");
        let get = probe.http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/health/ready"));
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("https".into())
        );
        assert_eq!(probe.failure_threshold, Some(failures));
    }

    for (name, value) in [
        ("AGENT_INJECT_LISTEN", ":8443"),
        ("AGENT_INJECT_VAULT_ADDR", "http://vault.vault.svc:8200"),
        ("AGENT_INJECT_VAULT_AUTH_PATH", "auth/kubernetes"),
        (
            "AGENT_INJECT_VAULT_IMAGE",
            "ghcr.io/ferrovault/ferrovault-agent:0.1.0",
        ),
        ("AGENT_INJECT_LOG_LEVEL", "info"),
        ("AGENT_INJECT_LOG_FORMAT", "standard"),
        ("AGENT_INJECT_CPU_REQUEST", "25m"),
        ("AGENT_INJECT_MEM_LIMIT", "128Mi"),
        ("AGENT_INJECT_DEFAULT_TEMPLATE", "map"),
        ("AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE", "true"),
        ("AGENT_INJECT_REVOKE_ON_SHUTDOWN", "false"),
        ("AGENT_INJECT_TLS_AUTO", "fv-ferrovault-vault-system"),
        (
            "AGENT_INJECT_TLS_AUTO_HOSTS",
            "fv-ferrovault,fv-ferrovault.vault-system,fv-ferrovault.vault-system.svc",
        ),
        ("FERROVAULT_TLS_AUTO_SECRET", "fv-ferrovault-tls"),
        ("FERROVAULT_NATIVE_SIDECAR", "auto"),
        ("FERROVAULT_ENV_FILES", "auto"),
    ] {
        assert_eq!(env(container, name).as_deref(), Some(value), "{name}");
    }
    let names = env_names(container);
    for name in ["POD_NAME", "NAMESPACE"] {
        assert!(names.contains(name), "{name}");
    }
    assert_eq!(
        env(container, "AGENT_INJECT_TELEMETRY_PATH").as_deref(),
        Some(""),
        "metrics off"
    );
    for absent in ["AGENT_INJECT_TLS_CERT_FILE", "AGENT_INJECT_EPHEMERAL_LIMIT"] {
        assert!(!names.contains(absent), "{absent}");
    }

    // Service 443 -> https (8443).
    let service: Service = r.one("Service");
    let service_port = &service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
    assert_eq!(service_port.port, 443);
    assert_eq!(
        service_port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
            "https".into()
        ))
    );

    // The webhook configuration.
    let config: MutatingWebhookConfiguration = r.one("MutatingWebhookConfiguration");
    assert_eq!(config.metadata.name, env(container, "AGENT_INJECT_TLS_AUTO"));
    let webhook = mwc(&r);
    assert_eq!(webhook.side_effects, "None");
    assert_eq!(webhook.admission_review_versions, ["v1"]);
    assert_eq!(webhook.failure_policy.as_deref(), Some("Fail"));
    assert_eq!(webhook.timeout_seconds, Some(10));
    let rule = &webhook.rules.as_ref().unwrap()[0];
    assert_eq!(rule.operations.as_deref(), Some(&["CREATE".to_owned()][..]));
    assert_eq!(rule.resources.as_deref(), Some(&["pods".to_owned()][..]));
    assert_eq!(rule.api_versions.as_deref(), Some(&["v1".to_owned()][..]));
    let client = &webhook.client_config;
    assert!(client.url.is_none());
    assert!(client.ca_bundle.is_none(), "auto TLS patches the caBundle itself");
    let svc_ref = client.service.as_ref().unwrap();
    assert_eq!(Some(&svc_ref.name), service.metadata.name.as_ref());
    assert_eq!(svc_ref.namespace, RELEASE_NS);
    assert_eq!(svc_ref.path.as_deref(), Some("/mutate"));
    assert_eq!(svc_ref.port, Some(443));

    let conditions = webhook.match_conditions.as_ref().expect("matchConditions");
    assert_eq!(conditions.len(), 1);
    for prefix in ["'vault.hashicorp.com/agent-inject'", "'openbao.org/agent-inject'"] {
        assert!(
            conditions[0].expression.contains(prefix),
            "{}",
            conditions[0].expression
        );
    }

    let ns = webhook
        .namespace_selector
        .as_ref()
        .unwrap()
        .match_expressions
        .clone()
        .unwrap();
    assert_eq!(ns[0].key, "kubernetes.io/metadata.name");
    assert_eq!(ns[0].operator, "NotIn");
    let excluded: BTreeSet<_> = ns[0].values.clone().unwrap().into_iter().collect();
    assert_eq!(
        excluded,
        ["kube-public", "kube-system", RELEASE_NS]
            .map(String::from)
            .into()
    );

    // The injector's own pods are excluded.
    let object = webhook
        .object_selector
        .as_ref()
        .unwrap()
        .match_expressions
        .clone()
        .unwrap();
    let pod_labels = spec.template.metadata.as_ref().unwrap().labels.clone().unwrap();
    assert_eq!(object[0].operator, "NotIn");
    assert!(
        object[0]
            .values
            .as_ref()
            .unwrap()
            .contains(&pod_labels[&object[0].key])
    );

    // RBAC: exactly what auto TLS needs, by name where Kubernetes allows it.
    let secret = env(container, "FERROVAULT_TLS_AUTO_SECRET").unwrap();
    let lease = env(container, "FERROVAULT_LEADER_LEASE").unwrap();
    let role: Role = r.one("Role");
    let mut role_rules = rules(role.rules.as_deref().unwrap());
    role_rules.sort();
    assert_eq!(
        role_rules,
        vec![
            ("".into(), "secrets".into(), vec!["create".into()], vec![]),
            (
                "".into(),
                "secrets".into(),
                vec!["get".into(), "update".into()],
                vec![secret]
            ),
            (
                "coordination.k8s.io".into(),
                "leases".into(),
                vec!["create".into()],
                vec![]
            ),
            (
                "coordination.k8s.io".into(),
                "leases".into(),
                vec!["get".into(), "patch".into()],
                vec![lease]
            ),
        ]
    );
    let cluster_role: ClusterRole = r.one("ClusterRole");
    assert_eq!(
        rules(cluster_role.rules.as_deref().unwrap()),
        vec![(
            "admissionregistration.k8s.io".into(),
            "mutatingwebhookconfigurations".into(),
            vec!["get".into(), "patch".into()],
            vec![config.metadata.name.clone().unwrap()],
        )]
    );
    let sa: ServiceAccount = r.one("ServiceAccount");
    let binding: RoleBinding = r.one("RoleBinding");
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    assert_eq!(
        binding.subjects.as_ref().unwrap()[0].name,
        sa.metadata.name.clone().unwrap()
    );
    let cluster_binding: ClusterRoleBinding = r.one("ClusterRoleBinding");
    assert_eq!(
        cluster_binding.role_ref.name,
        cluster_role.metadata.name.clone().unwrap()
    );
    assert_eq!(
        cluster_binding.subjects.as_ref().unwrap()[0].namespace.as_deref(),
        Some(RELEASE_NS)
    );

    let pdb: PodDisruptionBudget = r.one("PodDisruptionBudget");
    assert_eq!(
        pdb.spec.unwrap().selector.unwrap().match_labels,
        spec.selector.match_labels
    );
}

#[test]
fn ferrovault_cert_manager_mode_mounts_the_issued_secret_and_injects_the_ca() {
    let r = render("ferrovault", &["tls.mode=certManager"]);
    r.check_types();
    assert!(
        r.all("Role").is_empty() && r.all("ClusterRole").is_empty(),
        "no API access needed"
    );

    let certificates = r.all("Certificate");
    let serving = certificates
        .iter()
        .find(|c| c["spec"]["isCA"] != true)
        .expect("serving Certificate");
    let secret_name = serving["spec"]["secretName"].as_str().unwrap();
    let dns: Vec<&str> = serving["spec"]["dnsNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in ferrovault_certs::service_dns_names("fv-ferrovault", RELEASE_NS) {
        assert!(dns.contains(&name.as_str()), "{name} not in {dns:?}");
    }
    assert_eq!(r.all("Issuer").len(), 2, "self-signed bootstrap + CA issuer");

    let config: MutatingWebhookConfiguration = r.one("MutatingWebhookConfiguration");
    let inject = &config.metadata.annotations.as_ref().unwrap()["cert-manager.io/inject-ca-from"];
    assert_eq!(
        inject,
        &format!("{RELEASE_NS}/{}", serving["metadata"]["name"].as_str().unwrap())
    );
    assert!(mwc(&r).client_config.ca_bundle.is_none());

    let deployment: Deployment = r.one("Deployment");
    let pod = pod_spec_of_deployment(&deployment);
    assert_eq!(pod.automount_service_account_token, Some(false));
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.secret.is_some())
        .expect("secret volume");
    assert_eq!(
        volume.secret.as_ref().unwrap().secret_name.as_deref(),
        Some(secret_name)
    );
    let container = &pod.containers[0];
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume.name)
        .unwrap();
    assert_eq!(mount.mount_path, "/etc/webhook/certs");
    assert_eq!(mount.read_only, Some(true));
    assert_eq!(
        env(container, "AGENT_INJECT_TLS_CERT_FILE").as_deref(),
        Some("/etc/webhook/certs/tls.crt")
    );
    assert_eq!(
        env(container, "AGENT_INJECT_TLS_KEY_FILE").as_deref(),
        Some("/etc/webhook/certs/tls.key")
    );
    assert!(env(container, "AGENT_INJECT_TLS_AUTO").is_none());

    // An external issuer replaces the chart's bootstrap CA.
    let r = render(
        "ferrovault",
        &[
            "tls.mode=certManager",
            "tls.certManager.issuerRef.name=corp-ca",
            "tls.certManager.issuerRef.kind=ClusterIssuer",
        ],
    );
    r.check_types();
    assert!(r.all("Issuer").is_empty());
    let serving = r.all("Certificate")[0].clone();
    assert_eq!(serving["spec"]["issuerRef"]["name"], "corp-ca");
    assert_eq!(serving["spec"]["issuerRef"]["kind"], "ClusterIssuer");
}

#[test]
fn ferrovault_existing_secret_mode_uses_the_given_certificate_and_ca_bundle() {
    let ca = ferrovault_certs::generate_ca("test CA", std::time::Duration::from_secs(86_400)).unwrap();
    let bundle = ca.ca_bundle();
    let set_bundle = format!("certs.caBundle={bundle}");
    let r = render(
        "ferrovault",
        &[
            "tls.mode=existingSecret",
            "certs.secretName=my-webhook-tls",
            &set_bundle,
            "certs.certName=cert.pem",
        ],
    );
    r.check_types();
    assert!(r.all("Role").is_empty() && r.all("ClusterRole").is_empty());
    let webhook = mwc(&r);
    let ca_bundle = webhook.client_config.ca_bundle.expect("caBundle");
    assert_eq!(ca_bundle.0, ca.cert_pem.as_bytes(), "caBundle is the CA PEM");

    let deployment: Deployment = r.one("Deployment");
    let pod = pod_spec_of_deployment(&deployment);
    let volume = pod.volumes.iter().flatten().find(|v| v.secret.is_some()).unwrap();
    assert_eq!(
        volume.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("my-webhook-tls")
    );
    let container = &pod.containers[0];
    assert_eq!(
        env(container, "AGENT_INJECT_TLS_CERT_FILE").as_deref(),
        Some("/etc/webhook/certs/cert.pem")
    );
    assert_eq!(
        env(container, "AGENT_INJECT_TLS_KEY_FILE").as_deref(),
        Some("/etc/webhook/certs/tls.key")
    );

    let err = try_render(
        "ferrovault",
        "fv",
        RELEASE_NS,
        &["tls.mode=existingSecret", &set_bundle],
    )
    .unwrap_err();
    assert!(err.contains("certs.secretName"), "{err}");
    let err = try_render(
        "ferrovault",
        "fv",
        RELEASE_NS,
        &["tls.mode=existingSecret", "certs.secretName=s"],
    )
    .unwrap_err();
    assert!(err.contains("certs.caBundle"), "{err}");
}

#[test]
fn ferrovault_webhook_url_registers_an_external_webhook_only() {
    let url = "https://10.0.0.5:8443/mutate";
    let r = render(
        "ferrovault",
        &[&format!("webhook.url={url}"), "certs.caBundle=Zm9v"],
    );
    r.check_types();
    assert_eq!(
        r.kinds(),
        ["MutatingWebhookConfiguration"].map(String::from).into()
    );
    let client = mwc(&r).client_config;
    assert_eq!(client.url.as_deref(), Some(url));
    assert!(client.service.is_none());
    assert_eq!(client.ca_bundle.unwrap().0, b"foo");

    let err = try_render(
        "ferrovault",
        "fv",
        RELEASE_NS,
        &["webhook.url=http://insecure:80/mutate"],
    )
    .unwrap_err();
    assert!(
        err.contains("webhook/url") || err.contains("webhook.url"),
        "{err}"
    );
}

/// Issue #19 §4: the chart offers a NetworkPolicy: the webhook port from the API server's peers
/// only, and from monitoring's peers when metrics are on. Off by default; on without the API
/// server's peers it refuses to render (it would block every review).
#[test]
fn ferrovault_network_policy_admits_the_api_server_and_monitoring_only() {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let r = render("ferrovault", &[]);
    assert!(!r.kinds().contains("NetworkPolicy"), "off by default");

    let api_server = "networkPolicy.apiServerPeers[0].ipBlock.cidr=10.0.0.0/24";
    let r = render("ferrovault", &["networkPolicy.enabled=true", api_server]);
    r.check_types();
    let policy: NetworkPolicy = r.one("NetworkPolicy");
    let spec = policy.spec.unwrap();
    let deployment: Deployment = r.one("Deployment");
    assert_eq!(
        spec.pod_selector.unwrap().match_labels,
        deployment.spec.selector.match_labels,
        "selects the webhook pods"
    );
    assert_eq!(spec.policy_types.as_deref(), Some(&["Ingress".to_owned()][..]));
    let ingress = spec.ingress.unwrap();
    assert_eq!(ingress.len(), 1, "metrics off: the API server only");
    let from = ingress[0].from.as_ref().unwrap();
    assert_eq!(from[0].ip_block.as_ref().unwrap().cidr, "10.0.0.0/24");
    let ports = ingress[0].ports.as_ref().unwrap();
    assert_eq!(
        ports[0].port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
            8443
        ))
    );

    // metrics on: monitoring's namespace (the default peer), or the given peers, to the same port
    let r = render(
        "ferrovault",
        &["networkPolicy.enabled=true", api_server, "metrics.enabled=true"],
    );
    let ingress = r
        .one::<NetworkPolicy>("NetworkPolicy")
        .spec
        .unwrap()
        .ingress
        .unwrap();
    assert_eq!(ingress.len(), 2);
    let monitoring = &ingress[1].from.as_ref().unwrap()[0];
    assert_eq!(
        monitoring
            .namespace_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["kubernetes.io/metadata.name"],
        "monitoring"
    );
    let r = render(
        "ferrovault",
        &[
            "networkPolicy.enabled=true",
            api_server,
            "metrics.enabled=true",
            "networkPolicy.metricsPeers[0].podSelector.matchLabels.app=prometheus",
            "port=9443",
        ],
    );
    let ingress = r
        .one::<NetworkPolicy>("NetworkPolicy")
        .spec
        .unwrap()
        .ingress
        .unwrap();
    let prometheus = &ingress[1].from.as_ref().unwrap()[0];
    assert_eq!(
        prometheus
            .pod_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["app"],
        "prometheus"
    );
    assert_eq!(
        ingress[1].ports.as_ref().unwrap()[0].port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
            9443
        ))
    );

    let err = try_render("ferrovault", "fv", RELEASE_NS, &["networkPolicy.enabled=true"]).unwrap_err();
    assert!(err.contains("networkPolicy.apiServerPeers"), "{err}");
    let err = try_render(
        "ferrovault",
        "fv",
        RELEASE_NS,
        &["networkPolicy.apiServerPeers=x"],
    )
    .unwrap_err();
    assert!(err.contains("apiServerPeers"), "{err}");
}

#[test]
fn ferrovault_missed_injections_add_their_rbac_only_when_enabled() {
    let detector_role = format!("fv-ferrovault-{RELEASE_NS}-missed-injections");
    let detector_role = detector_role.as_str();
    // off by default: no pod access, no detector flags
    for sets in [&[][..], &["tls.mode=certManager"]] {
        let r = render("ferrovault", sets);
        assert!(
            !r.names().iter().any(|n| n.contains("missed-injections")),
            "{sets:?}"
        );
        assert!(!env_names(&webhook_container(&r)).contains("FERROVAULT_MISSED_INJECTIONS"));
    }
    let detector_rules = |r: &Rendered, config: &str| {
        let role: ClusterRole = r.named("ClusterRole", detector_role);
        let mut got = rules(role.rules.as_deref().unwrap());
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "".into(),
                    "pods".into(),
                    vec!["list".into(), "watch".into()],
                    vec![]
                ),
                (
                    "admissionregistration.k8s.io".into(),
                    "mutatingwebhookconfigurations".into(),
                    vec!["get".into()],
                    vec![config.to_owned()]
                ),
                (
                    "events.k8s.io".into(),
                    "events".into(),
                    vec!["create".into(), "list".into(), "patch".into()],
                    vec![]
                ),
            ]
        );
        let binding: ClusterRoleBinding = r.named("ClusterRoleBinding", detector_role);
        assert_eq!(binding.role_ref.name, detector_role);
        let subject = &binding.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (subject.name.as_str(), subject.namespace.as_deref()),
            ("fv-ferrovault", Some(RELEASE_NS))
        );
    };

    // with auto TLS: its Role already covers the Lease
    let r = render(
        "ferrovault",
        &["missedInjections.enabled=true", "missedInjections.resync=5m"],
    );
    r.check_types();
    let config: MutatingWebhookConfiguration = r.one("MutatingWebhookConfiguration");
    let config_name = config.metadata.name.unwrap();
    detector_rules(&r, &config_name);
    assert_eq!(r.all("Role").len(), 1, "auto TLS's Role only");
    let container = webhook_container(&r);
    assert_eq!(
        env(&container, "FERROVAULT_MISSED_INJECTIONS").as_deref(),
        Some("true")
    );
    assert_eq!(
        env(&container, "FERROVAULT_MISSED_INJECTIONS_RESYNC").as_deref(),
        Some("5m")
    );
    assert_eq!(
        env(&container, "FERROVAULT_WEBHOOK_CONFIG").as_deref(),
        Some(config_name.as_str())
    );
    let lease = env(&container, "FERROVAULT_LEADER_LEASE").unwrap();

    // without auto TLS: the detector elects through the same Lease, with a Role of its own, and
    // the pod gets its API token
    let r = render(
        "ferrovault",
        &["missedInjections.enabled=true", "tls.mode=certManager"],
    );
    r.check_types();
    detector_rules(&r, &config_name);
    let role: Role = r.one("Role");
    let mut got = rules(role.rules.as_deref().unwrap());
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "coordination.k8s.io".into(),
                "leases".into(),
                vec!["create".into()],
                vec![]
            ),
            (
                "coordination.k8s.io".into(),
                "leases".into(),
                vec!["get".into(), "patch".into()],
                vec![lease.clone()]
            ),
        ]
    );
    let binding: RoleBinding = r.one("RoleBinding");
    assert_eq!(binding.role_ref.name, role.metadata.name.unwrap());
    let deployment: Deployment = r.one("Deployment");
    assert_eq!(
        pod_spec_of_deployment(&deployment).automount_service_account_token,
        Some(true)
    );
    let container = webhook_container(&r);
    assert_eq!(env(&container, "FERROVAULT_LEADER_LEASE"), Some(lease));
    assert!(env(&container, "AGENT_INJECT_TLS_AUTO").is_none());

    // an external webhook (webhook.url) installs nothing that runs, so no RBAC either
    let r = render(
        "ferrovault",
        &[
            "missedInjections.enabled=true",
            "webhook.url=https://10.0.0.5:8443/mutate",
            "certs.caBundle=Zm9v",
        ],
    );
    assert_eq!(
        r.kinds(),
        ["MutatingWebhookConfiguration"].map(String::from).into()
    );
    // a bad resync is refused by the schema
    let err = try_render("ferrovault", "fv", RELEASE_NS, &["missedInjections.resync=soon"]).unwrap_err();
    assert!(err.contains("resync"), "{err}");
}

#[test]
fn ferrovault_webhook_values_override_the_defaults() {
    let r = render(
        "ferrovault",
        &[
            "webhook.failurePolicy=Ignore",
            "webhook.timeoutSeconds=5",
            "webhook.namespaceSelector.matchLabels.inject=enabled",
            "replicas=1",
            "antiAffinity=none",
            "agentDefaults.ephemeralLimit=1Gi",
            "metrics.enabled=true",
            "serviceMonitor.enabled=true",
            "nativeSidecar=never",
            "envFiles.enabled=true",
        ],
    );
    r.check_types();
    let webhook = mwc(&r);
    assert_eq!(webhook.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(webhook.timeout_seconds, Some(5));
    let ns = webhook.namespace_selector.unwrap();
    assert!(ns.match_expressions.is_none());
    assert_eq!(ns.match_labels.unwrap()["inject"], "enabled");
    assert!(
        r.all("PodDisruptionBudget").is_empty(),
        "no PDB for a single replica"
    );
    let deployment: Deployment = r.one("Deployment");
    assert!(pod_spec_of_deployment(&deployment).affinity.is_none());
    assert!(
        deployment.spec.strategy.is_none(),
        "Kubernetes' default strategy without required anti-affinity"
    );
    let container = webhook_container(&r);
    assert_eq!(
        env(&container, "AGENT_INJECT_EPHEMERAL_LIMIT").as_deref(),
        Some("1Gi")
    );
    assert_eq!(
        env(&container, "AGENT_INJECT_TELEMETRY_PATH").as_deref(),
        Some("/metrics")
    );
    assert_eq!(
        env(&container, "FERROVAULT_NATIVE_SIDECAR").as_deref(),
        Some("never")
    );
    assert_eq!(env(&container, "FERROVAULT_ENV_FILES").as_deref(), Some("true"));
    assert!(env(&container, "AGENT_INJECT_USE_LEADER_ELECTOR").is_none());
    let monitor = r.all("ServiceMonitor");
    assert_eq!(monitor[0]["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor[0]["spec"]["endpoints"][0]["scheme"], "https");
}

#[test]
fn ferrovault_installs_on_the_tested_kubernetes_releases_only() {
    for ok in ["1.34.4", "1.35.4", "1.36.3", "1.37.2"] {
        try_render_args("ferrovault", "fv", RELEASE_NS, &["--kube-version", ok])
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let err = try_render_args("ferrovault", "fv", RELEASE_NS, &["--kube-version", "1.33.5"]).unwrap_err();
    assert!(err.contains("kubeVersion") || err.contains(">=1.34.0-0"), "{err}");
}

#[test]
fn ferrovault_schema_rejects_wrong_value_types_readably() {
    let err = try_render("ferrovault", "fv", RELEASE_NS, &["replicas=abc"]).unwrap_err();
    assert!(err.contains("replicas"), "{err}");
    for (set, field) in [
        ("tls.mode=manual", "mode"),
        ("webhook.failurePolicy=Sometimes", "failurePolicy"),
        ("webhook.timeoutSeconds=31", "timeoutSeconds"),
        ("nativeSidecar=yes", "nativeSidecar"),
        ("envFiles.enabled=sometimes", "enabled"),
        ("agentDefaults.template=yaml", "template"),
        ("logLevel=loud", "logLevel"),
    ] {
        let err = try_render("ferrovault", "fv", RELEASE_NS, &[set]).unwrap_err();
        assert!(err.contains(field), "{set}: {err}");
    }
    let err = try_render("ferrovault", "fv", RELEASE_NS, &["serviceMonitor.enabled=true"]).unwrap_err();
    assert!(err.contains("metrics.enabled"), "{err}");
}
