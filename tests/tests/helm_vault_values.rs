//! A vault-helm values file, unchanged (issue #10 §3): `tests/testdata/vault-helm-values.yaml` has
//! every key of vault-helm's `injector:` block and the injector's `global:` keys; rendered by the
//! real helm through charts/ferrovault, each key must have vault-helm's effect, be accepted and
//! reported as meaningless here, or fail the render naming it.

mod chart_support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chart_support::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::Role;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

const NS: &str = "platform-secrets";

fn values_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/vault-helm-values.yaml")
}

fn try_render_file(extra: &[&str]) -> Result<Rendered, String> {
    let file = values_file();
    let mut args = vec!["-f", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    try_render_args("ferrovault", "fv", RELEASE_NS, &args)
}

fn render_file(extra: &[&str]) -> Rendered {
    try_render_file(extra)
        .unwrap_or_else(|e| panic!("helm template -f vault-helm-values.yaml {extra:?}:\n{e}"))
}

fn deployment(r: &Rendered) -> Deployment {
    r.one("Deployment")
}

fn labels(map: &BTreeMap<String, String>, key: &str) -> Option<String> {
    map.get(key).cloned()
}

#[test]
fn a_vault_helm_values_file_renders_with_every_injector_key_honoured() {
    let r = render_file(&[]);
    r.check_types();
    let d = deployment(&r);
    let spec = pod_spec_of_deployment(&d);
    let c = webhook_container(&r);
    let e = |name: &str| env(&c, name).unwrap_or_else(|| panic!("{name} not set"));

    // global.namespace: everything namespaced goes there, and the webhook is called there
    for object in &r.objects {
        if ![
            "ClusterRole",
            "ClusterRoleBinding",
            "MutatingWebhookConfiguration",
        ]
        .contains(&object["kind"].as_str().unwrap())
        {
            assert_eq!(object["metadata"]["namespace"], NS, "{}", object["kind"]);
        }
    }
    let hook = mwc(&r);
    assert_eq!(hook.client_config.service.as_ref().unwrap().namespace, NS);
    // global.imagePullSecrets, in both of vault-helm's spellings
    let pull: Vec<_> = spec
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(pull, ["corp-registry", "mirror-registry"]);
    // global.externalVaultAddr wins over the deprecated injector.externalVaultAddr, as in vault-helm
    assert_eq!(e("AGENT_INJECT_VAULT_ADDR"), "https://vault.corp.example:8200");

    // replicas, port, leaderElector, metrics
    assert_eq!(d.spec.replicas, Some(3));
    assert_eq!(e("AGENT_INJECT_LISTEN"), ":8080");
    assert_eq!(c.ports.as_ref().unwrap()[0].container_port, 8080);
    assert_eq!(e("AGENT_INJECT_USE_LEADER_ELECTOR"), "true");
    assert_eq!(e("AGENT_INJECT_TELEMETRY_PATH"), "/metrics");
    // image, agentImage
    assert_eq!(
        c.image.as_deref(),
        Some("ghcr.io/ferrovault/ferrovault-webhook:0.1.0")
    );
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(
        e("AGENT_INJECT_VAULT_IMAGE"),
        "ghcr.io/ferrovault/ferrovault-agent:0.1.0"
    );
    // agentDefaults
    for (name, value) in [
        ("AGENT_INJECT_CPU_LIMIT", "750m"),
        ("AGENT_INJECT_CPU_REQUEST", "250m"),
        ("AGENT_INJECT_MEM_LIMIT", "256Mi"),
        ("AGENT_INJECT_MEM_REQUEST", "64Mi"),
        ("AGENT_INJECT_EPHEMERAL_LIMIT", "128Mi"),
        ("AGENT_INJECT_EPHEMERAL_REQUEST", "64Mi"),
        ("AGENT_INJECT_DEFAULT_TEMPLATE", "json"),
        // false overrides the chart's true (sprig's mergeOverwrite would have kept true)
        ("AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE", "false"),
        ("AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL", "10m"),
        // authPath, logLevel, logFormat, revokeOnShutdown
        ("AGENT_INJECT_VAULT_AUTH_PATH", "auth/k8s-prod"),
        ("AGENT_INJECT_LOG_LEVEL", "debug"),
        ("AGENT_INJECT_LOG_FORMAT", "json"),
        ("AGENT_INJECT_REVOKE_ON_SHUTDOWN", "true"),
        // extraEnvironmentVars, numbers and booleans included
        ("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc"),
        ("GOMEMLIMIT_PERCENT", "90"),
        ("FEATURE_X", "true"),
    ] {
        assert_eq!(e(name), value, "{name}");
    }
    // probes
    let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        let p = p.as_ref().unwrap();
        (
            p.failure_threshold,
            p.initial_delay_seconds,
            p.period_seconds,
            p.success_threshold,
            p.timeout_seconds,
        )
    };
    assert_eq!(
        probe(&c.liveness_probe),
        (Some(3), Some(6), Some(4), Some(1), Some(7))
    );
    assert_eq!(
        probe(&c.readiness_probe),
        (Some(4), Some(8), Some(3), Some(1), Some(6))
    );
    assert_eq!(
        probe(&c.startup_probe),
        (Some(20), Some(1), Some(9), Some(1), Some(2))
    );

    // webhook.*: the non-deprecated spelling wins (failurePolicy Ignore over the deprecated Fail)
    assert_eq!(hook.failure_policy.as_deref(), Some("Ignore"));
    assert_eq!(hook.match_policy.as_deref(), Some("Equivalent"));
    assert_eq!(hook.timeout_seconds, Some(30));
    assert_eq!(
        serde_json::to_value(&hook.namespace_selector).unwrap(),
        json!({"matchLabels": {"sidecar-injector": "enabled"}})
    );
    // vault-helm's default objectSelector names vault-helm's pod labels: it means "not the
    // injector itself", which here is the chart's own default
    assert_eq!(
        serde_json::to_value(&hook.object_selector).unwrap(),
        json!({"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["ferrovault"]}]})
    );
    let config: Value = r
        .all("MutatingWebhookConfiguration")
        .first()
        .map(|v| (*v).clone())
        .unwrap();
    assert_eq!(config["metadata"]["annotations"], json!({"team": "platform"}));

    // certs.secretName: null → auto TLS, with the Secret auto TLS creates (never a user's)
    assert!(env(&c, "AGENT_INJECT_TLS_AUTO").is_some());
    assert_eq!(e("FERROVAULT_TLS_AUTO_SECRET"), "fv-ferrovault-tls");

    // securityContext {} keeps the restricted defaults; uid/gid feed them as in vault-helm
    assert_restricted(spec);
    let pod_sc = spec.security_context.as_ref().unwrap();
    assert_eq!(
        (pod_sc.run_as_user, pod_sc.run_as_group, pod_sc.fs_group),
        (Some(1001), Some(1002), Some(1002))
    );
    // resources replace the chart's, as in vault-helm
    assert_eq!(
        serde_json::to_value(&c.resources).unwrap(),
        json!({"requests": {"memory": "48Mi", "cpu": "100m"}, "limits": {"memory": "96Mi"}})
    );
    // affinity: vault-helm's default string = one injector per node = the chart's default
    assert_eq!(
        serde_json::to_value(&spec.affinity).unwrap(),
        json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "topologyKey": "kubernetes.io/hostname",
            "labelSelector": {"matchLabels": {
                "app.kubernetes.io/name": "ferrovault",
                "app.kubernetes.io/instance": "fv",
                "app.kubernetes.io/component": "webhook"}}}]}})
    );
    // templated strings go through tpl
    assert_eq!(
        serde_json::to_value(&spec.topology_spread_constraints).unwrap(),
        json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "fv"}}}])
    );
    assert_eq!(
        serde_json::to_value(&spec.tolerations).unwrap(),
        json!([{"key": "dedicated", "operator": "Equal", "value": "fv", "effect": "NoSchedule"}])
    );
    assert_eq!(
        spec.node_selector
            .as_ref()
            .unwrap()
            .get("node-role.kubernetes.io/infra")
            .map(String::as_str),
        Some("true")
    );
    let template_meta = &d.spec.template.metadata.as_ref().unwrap();
    assert_eq!(
        labels(template_meta.annotations.as_ref().unwrap(), "release-of").as_deref(),
        Some("fv")
    );
    assert_eq!(
        spec.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    // extraLabels on the objects and the pods
    assert_eq!(
        labels(template_meta.labels.as_ref().unwrap(), "cost-center").as_deref(),
        Some("platform")
    );
    assert_eq!(
        labels(d.metadata.labels.as_ref().unwrap(), "cost-center").as_deref(),
        Some("platform")
    );
    assert_eq!(spec.host_network, Some(true));
    // service / serviceAccount annotations (the latter templated)
    let svc: Service = r.one("Service");
    assert_eq!(
        labels(
            svc.metadata.annotations.as_ref().unwrap(),
            "service.example/owner"
        )
        .as_deref(),
        Some("platform")
    );
    let sa: ServiceAccount = r.one("ServiceAccount");
    assert_eq!(
        labels(sa.metadata.annotations.as_ref().unwrap(), "iam.example/role").as_deref(),
        Some("fv-injector")
    );
    // podDisruptionBudget in vault-helm's form (the PDB spec)
    let pdb: PodDisruptionBudget = r.one("PodDisruptionBudget");
    let pdb = pdb.spec.unwrap();
    assert_eq!(pdb.min_available, Some(IntOrString::Int(2)));
    assert_eq!(pdb.max_unavailable, None);
    // strategy, templated
    assert_eq!(
        serde_json::to_value(&d.spec.strategy).unwrap(),
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    );
}

#[test]
fn the_file_passes_strict_lint() {
    let file = values_file();
    let dir = chart("ferrovault");
    helm(&[
        "lint",
        "--strict",
        dir.to_str().unwrap(),
        "-f",
        file.to_str().unwrap(),
    ])
    .unwrap_or_else(|e| panic!("helm lint --strict -f vault-helm-values.yaml:\n{e}"));
}

#[test]
fn keys_without_meaning_here_are_accepted_and_named_in_the_notes() {
    let file = values_file();
    let chart_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/ferrovault");
    let out = helm(&[
        "install",
        "fv",
        chart_dir.to_str().unwrap(),
        "--dry-run=client",
        "--namespace",
        RELEASE_NS,
        "-f",
        file.to_str().unwrap(),
        "--set",
        "injector.leaderElector.enabled=false",
        "--set",
        "injector.replicaz=2",
    ])
    .expect("helm install --dry-run");
    let notes = &out[out.find("NOTES:").expect("NOTES")..];
    for key in [
        "global.tlsDisable",
        "global.openshift",
        "global.psp",
        "global.serverTelemetry",
        "server",
        "ui",
        "csi",
        "leaderElector.enabled=false",
    ] {
        assert!(notes.contains(key), "{key} not reported in:\n{notes}");
    }
    assert!(
        notes.contains("Unknown keys in the injector block, ignored (typos?): injector.replicaz"),
        "{notes}"
    );
    // leaderElector.enabled=false drops the variable, as vault-helm does
    let r = render_file(&["--set", "injector.leaderElector.enabled=false"]);
    assert_eq!(
        env(&webhook_container(&r), "AGENT_INJECT_USE_LEADER_ELECTOR"),
        None
    );
}

#[test]
fn enabled_follows_vault_helm_switches() {
    let kinds = |extra: &[&str]| render_file(extra).objects.len();
    assert!(kinds(&[]) > 0);
    assert_eq!(
        kinds(&["--set", "global.enabled=false"]),
        0,
        "injector.enabled \"-\" follows global.enabled"
    );
    assert_eq!(kinds(&["--set", "injector.enabled=false"]), 0);
    assert!(kinds(&["--set", "global.enabled=false", "--set", "injector.enabled=true"]) > 0);
}

#[test]
fn deprecated_injector_keys_apply_when_the_webhook_block_does_not_set_them() {
    let r = render_file(&[
        "--set",
        "injector.webhook.failurePolicy=",
        "--set-json",
        "injector.webhook.annotations={}",
        "--set-json",
        "injector.webhookAnnotations={\"old\":\"spelling\"}",
    ]);
    let hook = mwc(&r);
    assert_eq!(
        hook.failure_policy.as_deref(),
        Some("Fail"),
        "injector.failurePolicy"
    );
    let config = r.all("MutatingWebhookConfiguration")[0].clone();
    assert_eq!(config["metadata"]["annotations"], json!({"old": "spelling"}));
}

#[test]
fn a_user_managed_certificate_is_mounted_and_never_handed_to_auto_tls() {
    // vault-helm: certs.secretName set = the user's certificate; no tls.mode in such a file
    let r = render_file(&[
        "--set",
        "injector.certs.secretName=corp-injector-tls",
        "--set",
        "injector.certs.caBundle=Q0E=",
        "--set",
        "injector.certs.certName=cert.pem",
        "--set",
        "injector.certs.keyName=key.pem",
    ]);
    r.check_types();
    let c = webhook_container(&r);
    assert_eq!(env(&c, "AGENT_INJECT_TLS_AUTO"), None);
    assert_eq!(env(&c, "FERROVAULT_TLS_AUTO_SECRET"), None);
    assert_eq!(
        env(&c, "AGENT_INJECT_TLS_CERT_FILE").as_deref(),
        Some("/etc/webhook/certs/cert.pem")
    );
    assert_eq!(
        env(&c, "AGENT_INJECT_TLS_KEY_FILE").as_deref(),
        Some("/etc/webhook/certs/key.pem")
    );
    let d = deployment(&r);
    let spec = pod_spec_of_deployment(&d);
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.secret.is_some())
        .expect("the Secret mounted");
    assert_eq!(
        volume.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("corp-injector-tls")
    );
    // no token, no RBAC: the webhook cannot write any Secret
    assert_eq!(spec.automount_service_account_token, Some(false));
    assert!(r.all("Role").is_empty() && r.all("ClusterRole").is_empty());
    assert_eq!(mwc(&r).client_config.ca_bundle.map(|b| b.0), Some(b"CA".to_vec()));
    // without a caBundle (and no cert-manager CA injection) the webhook could never be called
    let err = try_render_file(&["--set", "injector.certs.secretName=corp-injector-tls"]).unwrap_err();
    assert!(err.contains("needs certs.caBundle"), "{err}");
    let ok = try_render_file(&[
        "--set",
        "injector.certs.secretName=corp-injector-tls",
        "--set-string",
        "injector.webhook.annotations.cert-manager\\.io/inject-ca-from=platform-secrets/injector",
    ]);
    assert!(ok.is_ok(), "{:?}", ok.err());
    // auto TLS under an explicit tls.mode=auto gets only its own Secret name in RBAC
    let r = render_file(&["--set", "tls.mode=auto"]);
    let role: Role = r.one("Role");
    assert!(
        role.rules
            .iter()
            .flatten()
            .filter(|rule| rule.resources.iter().flatten().any(|x| x == "secrets"))
            .all(|rule| rule.verbs == ["create"]
                || rule.resource_names.as_deref() == Some(&["fv-ferrovault-tls".to_owned()][..]))
    );
}

#[test]
fn vault_and_vault_k8s_images_fail_the_render_naming_the_value() {
    for (set, value, ours) in [
        (
            "injector.image.repository=hashicorp/vault-k8s",
            "\"hashicorp/vault-k8s\"",
            "ghcr.io/ferrovault/ferrovault-webhook",
        ),
        (
            "injector.agentImage.repository=hashicorp/vault",
            "\"hashicorp/vault\"",
            "ghcr.io/ferrovault/ferrovault-agent",
        ),
        (
            "injector.agentImage.repository=registry.example/mirror/openbao/openbao",
            "openbao/openbao",
            "ghcr.io/ferrovault/ferrovault-agent",
        ),
        (
            "injector.agentImage.repository=docker.io/hashicorp/vault-enterprise",
            "hashicorp/vault-enterprise",
            "ghcr.io/ferrovault/ferrovault-agent",
        ),
    ] {
        let err = try_render_file(&["--set", set]).expect_err(set);
        assert!(err.contains(value) && err.contains(ours), "{set}: {err}");
    }
    // the flat keys too
    let err = try_render(
        "ferrovault",
        "fv",
        RELEASE_NS,
        &["image.repository=hashicorp/vault"],
    )
    .unwrap_err();
    assert!(
        err.contains("image.repository (injector.image.repository) is \"hashicorp/vault\""),
        "{err}"
    );
}
