//! The subcommands `serve` and `inject` (`audit` lives in [`crate::missed::audit`]).

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use serde::Deserialize as _;
use serde_json::json;

use crate::args::{InjectArgs, LogFormat, Output, ServeArgs, parse_server_version};
use crate::autotls::{self, AutoTlsConfig};
use crate::error::Error;
use crate::leader;
use crate::metrics::Metrics;
use crate::missed::detector::{self, DetectorConfig};
use crate::review::{Outcome, answer, describe_json_error, patch_of};
use crate::server::{AppState, ConnectionLimits, app, serve, shutdown_signal};
use crate::tls::{CertFiles, CertStore, TlsPolicy, install_crypto_provider, server_config_with};

/// Sets up `tracing` for the server.
pub fn init_logging(level: tracing::Level, format: LogFormat) {
    ferrovault_contract::logging::init(
        "ferrovault-webhook",
        &["ferrovault_webhook", "ferrovault_certs"],
        level.as_str(),
        matches!(format, LogFormat::Json),
    );
}

/// Never let a panic message (which could hold request data) reach the logs: report the location only.
pub fn install_panic_hook() {
    ferrovault_contract::logging::install_panic_hook("ferrovault-webhook", "request data");
}

/// Asks the API server for its version (major, minor) once; `None` when no cluster can be reached.
async fn cluster_version() -> Option<(u32, u32)> {
    let client = kube::Client::try_default().await.ok()?;
    let info = tokio::time::timeout(std::time::Duration::from_secs(10), client.apiserver_version())
        .await
        .ok()?
        .ok()?;
    parse_server_version(&format!("{}.{}", info.major, info.minor))
}

/// `ferrovault-webhook serve`.
pub async fn run_serve(args: ServeArgs) -> Result<(), Error> {
    install_crypto_provider();
    if args.idle_timeout <= args.request_timeout {
        return Err(Error::Config(format!(
            "--idle-timeout ({:?}) must be longer than --request-timeout ({:?}): an answer being prepared would be cut off",
            args.idle_timeout, args.request_timeout
        )));
    }
    let policy = TlsPolicy::parse(&args.tls_min_version, &args.tls_cipher_suites)?;
    for ignored in &policy.ignored {
        tracing::warn!(suite = %ignored, "AGENT_INJECT_TLS_CIPHER_SUITES: suite without effect");
    }
    if let Some(path) = &args.tls_ca_cert_file {
        check_ca_file(path)?;
    }
    if args.injector.vault_address.is_empty() {
        return Err(Error::Config(
            "no Vault address configured: set --vault-address or AGENT_INJECT_VAULT_ADDR".into(),
        ));
    }
    let server = if args.injector.needs_server_version() {
        let server = cluster_version().await;
        if server.is_none() {
            tracing::warn!(
                "--native-sidecar=auto / --env-files=auto: the Kubernetes API could not be asked for its version; \
                 using classic init + sidecar and refusing env vars from files"
            );
        }
        server
    } else {
        None
    };
    let defaults = args.injector.defaults(server);
    let (native_sidecar, env_files) = (defaults.native_sidecar, defaults.env_files);
    if args.use_leader_elector == Some(false) && args.tls_auto.is_some() {
        tracing::info!(
            "AGENT_INJECT_USE_LEADER_ELECTOR=false has no effect: auto TLS always elects one leader through a Lease \
             (replicas that each make their own CA fight over caBundle)"
        );
    }
    let certs = Arc::new(CertStore::default());
    let auto_tls = match auto_tls_config(&args)? {
        // Listen at once: readiness stays 503 until the first certificate is loaded.
        Some(config) => {
            let client = kube::Client::try_default()
                .await
                .map_err(|e| Error::Kube(format!("auto TLS needs the Kubernetes API: {e}")))?;
            tracing::info!(webhook_config = %config.webhook_config, secret = %config.secret, lease = %config.lease, identity = %config.identity, "auto TLS enabled");
            Some(autotls::spawn(client, config, certs.clone()))
        }
        None => None,
    };
    let _watch = match (&args.tls_cert_file, &args.tls_key_file) {
        _ if auto_tls.is_some() => None,
        (Some(cert), Some(key)) => {
            let files = CertFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            files.load_into(&certs)?;
            Some(files.watch(certs.clone(), args.tls_reload_interval))
        }
        _ => {
            return Err(Error::Config(
                "no serving certificate: set --tls-cert-file and --tls-key-file, or --tls-auto".into(),
            ));
        }
    };
    let tls = server_config_with(certs.clone(), &policy)?;
    let limits = ConnectionLimits {
        max_connections: args.max_connections,
        header_read_timeout: args.header_read_timeout,
        idle_timeout: args.idle_timeout,
        drain: args.drain_timeout,
    };
    let state = Arc::new(AppState {
        defaults,
        metrics: Metrics::new(args.metrics_max_namespaces),
        certs,
        max_body_bytes: args.max_body_bytes,
        request_timeout: args.request_timeout,
        review_slots: AppState::default_review_slots(),
    });
    let detector = missed_injection_detector(&args, auto_tls.as_ref(), &state.metrics).await?;
    let router = app(state, &args.telemetry_path);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, native_sidecar, env_files, "ferrovault-webhook serving");
    let served = serve(listener, tls, router, shutdown_signal(), limits).await;
    if let Some((task, election)) = detector {
        task.abort();
        if let Some(election) = election {
            election.shutdown().await;
        }
    }
    if let Some(auto_tls) = auto_tls {
        auto_tls.shutdown().await;
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// The missed-injection detector, when `--missed-injections` is on: it follows auto TLS's
/// leadership, or runs the same election on `--leader-lease` when auto TLS is off.
async fn missed_injection_detector(
    args: &ServeArgs,
    auto_tls: Option<&autotls::AutoTlsHandle>,
    metrics: &Metrics,
) -> Result<Option<(tokio::task::JoinHandle<()>, Option<leader::Leadership>)>, Error> {
    if !args.missed_injections {
        return Ok(None);
    }
    if args.missed_injections_resync < std::time::Duration::from_secs(1) {
        return Err(Error::Config(format!(
            "--missed-injections-resync ({:?}) must be at least 1s",
            args.missed_injections_resync
        )));
    }
    let identity = identity(args, "the missed-injection detector")?;
    let client = kube::Client::try_default()
        .await
        .map_err(|e| Error::Kube(format!("--missed-injections needs the Kubernetes API: {e}")))?;
    let (leadership, election) = match auto_tls {
        Some(handle) => (handle.leadership(), None),
        None => {
            let spec = leader::LeaseSpec {
                lease: args.leader_lease.trim().to_owned(),
                namespace: args.namespace.trim().to_owned(),
                identity: identity.clone(),
                lease_duration: args.leader_lease_duration,
                renew_interval: args.leader_renew_interval,
            };
            if spec.lease.is_empty() || spec.namespace.is_empty() {
                return Err(Error::Config(
                    "--leader-lease and --namespace must not be empty: the missed-injection detector elects one replica through that Lease".into(),
                ));
            }
            let election = leader::spawn(client.clone(), spec);
            (election.leadership(), Some(election))
        }
    };
    let webhook_config = args
        .webhook_config
        .as_deref()
        .or(args.tls_auto.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    tracing::info!(webhook_config = webhook_config.as_deref().unwrap_or("-"), lease = %args.leader_lease, identity = %identity, "missed-injection detector enabled");
    let config = DetectorConfig {
        webhook_config,
        resync: args.missed_injections_resync,
        identity,
    };
    let task = detector::spawn(client, config, leadership, metrics.missed_injections());
    Ok(Some((task, election)))
}

/// This replica's name in the Lease and on Events: `--pod-name`, else the hostname.
fn identity(args: &ServeArgs, what: &str) -> Result<String, Error> {
    match args.pod_name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => Ok(name.to_owned()),
        None => hostname().ok_or_else(|| {
            Error::Config(format!(
                "--pod-name (POD_NAME) is unset and the hostname is unknown: {what} needs an identity for its Lease"
            ))
        }),
    }
}

/// `--tls-ca-cert-file`: must hold PEM certificates (vault-k8s reads it at start too).
fn check_ca_file(path: &std::path::Path) -> Result<(), Error> {
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::Tls(format!(
                "--tls-ca-cert-file {}: not PEM certificates: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "--tls-ca-cert-file {}: no certificate in it",
            path.display()
        )));
    }
    Ok(())
}

/// Exit codes of `inject`: 0 allowed, 1 denied, 2 unreadable input.
pub fn run_inject(args: &InjectArgs) -> i32 {
    match dry_run(args) {
        Ok((out, denial, warnings)) => {
            // Warnings go to stderr in every output mode (kubectl shows them the same way).
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
            if let Some(message) = denial {
                eprintln!("denied: {message}");
                1
            } else {
                // a closed pipe (`| head`) is not an error worth a panic
                let _ = writeln!(std::io::stdout().lock(), "{out}");
                0
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn read_input(args: &InjectArgs) -> Result<serde_json::Value, Error> {
    let mut text = String::new();
    let path = &args.file;
    let result = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    result.map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    // YAML is a superset of JSON; a multi-document stream (`helm template` output) is accepted.
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_json::Value::deserialize(doc)
            .map_err(|e| Error::BadRequest(format!("{} is neither JSON nor YAML: {e}", path.display())))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    select_document(docs, args.select.as_deref())
        .map_err(|e| Error::BadRequest(format!("{}: {e}", path.display())))
}

/// Kinds whose pod template `inject` can mutate, and where the template is.
const WORKLOADS: [(&str, &str); 6] = [
    ("Deployment", "/spec/template"),
    ("StatefulSet", "/spec/template"),
    ("DaemonSet", "/spec/template"),
    ("ReplicaSet", "/spec/template"),
    ("Job", "/spec/template"),
    ("CronJob", "/spec/jobTemplate/spec/template"),
];

fn kind_of(doc: &serde_json::Value) -> &str {
    doc.get("kind").and_then(|k| k.as_str()).unwrap_or("")
}

fn name_of(doc: &serde_json::Value) -> &str {
    doc.pointer("/metadata/name")
        .and_then(|k| k.as_str())
        .unwrap_or("")
}

/// Picks the document to mutate: `--select KIND/NAME`, else the first Pod, AdmissionReview or workload.
/// A workload becomes the pod its controller would create.
pub fn select_document(
    docs: Vec<serde_json::Value>,
    select: Option<&str>,
) -> Result<serde_json::Value, String> {
    let usable = |d: &serde_json::Value| {
        let k = kind_of(d);
        k == "Pod" || k == "AdmissionReview" || WORKLOADS.iter().any(|(w, _)| *w == k)
    };
    let doc = match select {
        Some(sel) => {
            let (kind, name) = sel
                .split_once('/')
                .ok_or_else(|| format!("--select {sel:?}: expected KIND/NAME, e.g. StatefulSet/moscow-python"))?;
            docs.into_iter()
                .find(|d| kind_of(d).eq_ignore_ascii_case(kind) && name_of(d) == name)
                .ok_or_else(|| format!("no {kind} named {name:?} in the input"))?
        }
        None if docs.len() == 1 && kind_of(&docs[0]).is_empty() => docs.into_iter().next().unwrap_or_default(),
        None => docs
            .into_iter()
            .find(usable)
            .ok_or("no Pod, AdmissionReview or workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) in the input")?,
    };
    Ok(match WORKLOADS.iter().find(|(w, _)| *w == kind_of(&doc)) {
        Some((kind, pointer)) => pod_from_template(&doc, kind, pointer)?,
        None => doc,
    })
}

/// The pod a workload's controller would create, after the API server's ServiceAccount admission
/// (which runs before mutating webhooks) added the projected token volume.
fn pod_from_template(
    doc: &serde_json::Value,
    kind: &str,
    pointer: &str,
) -> Result<serde_json::Value, String> {
    let template = doc
        .pointer(pointer)
        .ok_or_else(|| format!("{kind} {:?} has no pod template", name_of(doc)))?;
    let name = name_of(doc);
    let mut pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template.get("metadata").cloned().unwrap_or_else(|| serde_json::json!({})),
        "spec": template.get("spec").cloned().unwrap_or_else(|| serde_json::json!({})),
    });
    let pod_name = match kind {
        "StatefulSet" => format!("{name}-0"),
        _ => format!("{name}-demo0"),
    };
    pod["metadata"]["name"] = serde_json::Value::String(pod_name);
    if let Some(ns) = doc.pointer("/metadata/namespace") {
        pod["metadata"]["namespace"] = ns.clone();
    }
    if matches!(kind, "Job" | "CronJob") {
        pod["metadata"]["ownerReferences"] = serde_json::json!([{
            "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": "00000000-0000-0000-0000-000000000001",
            "controller": true, "blockOwnerDeletion": true
        }]);
    }
    add_service_account_token(&mut pod);
    Ok(pod)
}

/// Whether any container already mounts something at the service-account token path.
fn mounts_service_account_token(pod: &serde_json::Value) -> bool {
    ["initContainers", "containers"].iter().any(|list| {
        pod["spec"][list].as_array().is_some_and(|containers| {
            containers.iter().any(|c| {
                c["volumeMounts"].as_array().is_some_and(|mounts| {
                    mounts
                        .iter()
                        .any(|m| m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount")
                })
            })
        })
    })
}

/// What the ServiceAccount admission plugin does: a `kube-api-access-*` projected volume mounted at
/// `/var/run/secrets/kubernetes.io/serviceaccount` in every container, unless automount is off.
fn add_service_account_token(pod: &mut serde_json::Value) {
    let spec = &mut pod["spec"];
    if spec.get("automountServiceAccountToken") == Some(&serde_json::Value::Bool(false)) {
        return;
    }
    const PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let volume = "kube-api-access-demo0";
    let mount = serde_json::json!({"name": volume, "mountPath": PATH, "readOnly": true});
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec.get_mut(list).and_then(|c| c.as_array_mut()) {
            for c in containers {
                let mounts = c
                    .as_object_mut()
                    .map(|o| o.entry("volumeMounts").or_insert_with(|| serde_json::json!([])));
                if let Some(serde_json::Value::Array(mounts)) = mounts
                    && !mounts.iter().any(|m| m["mountPath"] == PATH)
                {
                    mounts.push(mount.clone());
                }
            }
        }
    }
    let volumes = spec
        .as_object_mut()
        .map(|o| o.entry("volumes").or_insert_with(|| serde_json::json!([])));
    if let Some(serde_json::Value::Array(volumes)) = volumes {
        volumes.push(serde_json::json!({
            "name": volume,
            "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]}
        }));
    }
}

/// The `inject` subcommand's work, offline: the admission of one input — the requested output, the
/// denial if any, and the admission warnings.
pub fn dry_run(args: &InjectArgs) -> Result<(String, Option<String>, Vec<String>), Error> {
    let input = read_input(args)?;
    let server = args.kubernetes_version.as_deref().and_then(parse_server_version);
    let defaults = args.injector.defaults(server);
    let kind = input.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let (request, pod_json): (AdmissionRequest<DynamicObject>, serde_json::Value) = match kind {
        "AdmissionReview" => {
            // A hand-written review may leave out userInfo, which the API server always sends.
            let mut input = input.clone();
            if let Some(request) = input.get_mut("request").and_then(|r| r.as_object_mut()) {
                request.entry("userInfo").or_insert_with(|| serde_json::json!({}));
            }
            let review: AdmissionReview<DynamicObject> =
                serde_json::from_value(input.clone()).map_err(|e| {
                    Error::BadRequest(format!("not an AdmissionReview: {}", describe_json_error(&e)))
                })?;
            let request: AdmissionRequest<DynamicObject> = review
                .try_into()
                .map_err(|_| Error::BadRequest("AdmissionReview has no request".into()))?;
            let object = input
                .pointer("/request/object")
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            (request, object)
        }
        "Pod" | "" => {
            // The API server's ServiceAccount admission adds the token mount before any webhook
            // sees the pod: simulate it for a bare Pod, as for workloads, unless it has one.
            let mut input = input.clone();
            if !mounts_service_account_token(&input) {
                add_service_account_token(&mut input);
            }
            let pod: Pod = serde_json::from_value(input.clone())
                .map_err(|e| Error::BadRequest(format!("not a Pod: {}", describe_json_error(&e))))?;
            let namespace = args
                .namespace
                .clone()
                .or(pod.metadata.namespace.clone())
                .unwrap_or_else(|| "default".to_owned());
            let review = json!({
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": "00000000-0000-0000-0000-000000000000",
                    "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                    "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                    "name": pod.metadata.name.clone().unwrap_or_default(),
                    "namespace": namespace,
                    "operation": "CREATE",
                    "userInfo": {"username": "ferrovault-webhook-inject"},
                    "object": input,
                    "oldObject": null,
                    "dryRun": true,
                    "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
                }
            });
            let review: AdmissionReview<DynamicObject> = serde_json::from_value(review).map_err(|e| {
                Error::BadRequest(format!(
                    "cannot wrap the Pod in an AdmissionReview: {}",
                    describe_json_error(&e)
                ))
            })?;
            let request = review
                .try_into()
                .map_err(|_| Error::BadRequest("AdmissionReview has no request".into()))?;
            (request, input)
        }
        other => {
            return Err(Error::BadRequest(format!(
                "input kind {other:?} is not supported: expected a Pod or an AdmissionReview"
            )));
        }
    };
    let reviewed = answer(&request, &defaults);
    let warnings = reviewed
        .response
        .response
        .as_ref()
        .and_then(|r| r.warnings.clone())
        .unwrap_or_default();
    if reviewed.outcome == Outcome::Denied {
        return Ok((String::new(), reviewed.denial, warnings));
    }
    let patch = patch_of(&reviewed);
    let out = match args.output {
        Output::Review => serde_json::to_string_pretty(&reviewed.response_json()),
        Output::Patch => serde_json::to_string_pretty(&patch.unwrap_or(json_patch::Patch(Vec::new()))),
        Output::Pod => {
            let mut pod = pod_json;
            if let Some(patch) = &patch {
                json_patch::patch(&mut pod, patch)
                    .map_err(|e| Error::BadRequest(format!("the patch does not apply to the input: {e}")))?;
            }
            serde_json::to_string_pretty(&pod)
        }
    }
    .map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok((out, None, warnings))
}

/// The auto-TLS settings of `serve`, if `--tls-auto` names a webhook configuration.
fn auto_tls_config(args: &ServeArgs) -> Result<Option<AutoTlsConfig>, Error> {
    let Some(webhook_config) = args.tls_auto.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let identity = identity(args, "auto TLS")?;
    let config = AutoTlsConfig {
        webhook_config: webhook_config.to_owned(),
        hosts: autotls::Hosts::parse(&args.tls_auto_hosts)?,
        namespace: args.namespace.trim().to_owned(),
        secret: args.tls_auto_secret.trim().to_owned(),
        lease: args.leader_lease.trim().to_owned(),
        identity,
        ca_validity: args.tls_auto_ca_validity,
        leaf_validity: args.tls_auto_leaf_validity,
        check_interval: args.tls_auto_check_interval,
        lease_duration: args.leader_lease_duration,
        renew_interval: args.leader_renew_interval,
    };
    config.validate()?;
    Ok(Some(config))
}

fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
