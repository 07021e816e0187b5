//! Auto-TLS against a real Kubernetes API server (etcd + kube-apiserver + kube-controller-manager
//! v1.37.2 by default, from `scripts/control-plane.sh build`): two replicas in-process, each with its own HTTPS
//! server, both registered in one MutatingWebhookConfiguration (entry 0 → replica A, entry 1 →
//! replica B, `failurePolicy: Fail`). The replicas talk to the API server as a ServiceAccount with
//! exactly the chart's auto-TLS RBAC, so the test also proves that RBAC is enough.
//!
//! Pod creations in a labelled namespace go through both entries: a pod is only admitted when the
//! API server verifies each replica's serving certificate against the caBundle auto-TLS patched in.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrovault_tests::kube::ControlPlane;
use ferrovault_webhook::autotls::{self, AutoTlsConfig, AutoTlsHandle, Hosts};
use ferrovault_webhook::inject::InjectorDefaults;
use ferrovault_webhook::metrics::Metrics;
use ferrovault_webhook::server::{AppState, ConnectionLimits, app, serve};
use ferrovault_webhook::tls::{CertStore, install_crypto_provider, server_config};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{ListParams, PostParams};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio_rustls::TlsConnector;

const WEBHOOK_NS: &str = "ferrovault";
const SA: &str = "ferrovault-webhook";
const WAIT: Duration = Duration::from_secs(60);

fn control_plane() -> ControlPlane {
    ControlPlane::start().unwrap_or_else(|e| {
        panic!(
            "the auto-TLS integration test needs a real API server; build it with \
             `eval \"$(scripts/control-plane.sh build)\"` (10-25 min once): {e}"
        )
    })
}

/// The chart's auto-TLS RBAC (charts/ferrovault/templates/rbac.yaml) for `names`.
fn rbac(secret: &str, lease: &str, mwc: &str) -> String {
    format!(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: "{mwc}", namespace: {WEBHOOK_NS}}}
rules:
  - {{apiGroups: [""], resources: [secrets], resourceNames: ["{secret}"], verbs: [get, update]}}
  - {{apiGroups: [""], resources: [secrets], verbs: [create]}}
  - {{apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: ["{lease}"], verbs: [get, patch]}}
  - {{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [create]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: "{mwc}", namespace: {WEBHOOK_NS}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: "{mwc}"}}
subjects: [{{kind: ServiceAccount, name: {SA}, namespace: {WEBHOOK_NS}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "{mwc}"}}
rules:
  - {{apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], resourceNames: ["{mwc}"], verbs: [get, patch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "{mwc}"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "{mwc}"}}
subjects: [{{kind: ServiceAccount, name: {SA}, namespace: {WEBHOOK_NS}}}]
"#
    )
}

/// A client from a kubeconfig YAML (admin: the harness's; webhook: a ServiceAccount token).
async fn client_from_yaml(yaml: &str) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(yaml).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

async fn admin_client(cp: &ControlPlane) -> kube::Client {
    client_from_yaml(&std::fs::read_to_string(cp.kubeconfig_path()).unwrap()).await
}

async fn webhook_client(cp: &ControlPlane) -> kube::Client {
    use base64::Engine as _;
    let token = cp
        .create_token(WEBHOOK_NS, SA, "https://kubernetes.default.svc")
        .unwrap();
    let ca = base64::engine::general_purpose::STANDARD.encode(cp.ca_pem());
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{}\", certificate-authority-data: \"{ca}\"}}}}]\n\
         users: [{{name: u, user: {{token: \"{}\"}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n",
        cp.server_url(),
        token.trim()
    );
    client_from_yaml(&yaml).await
}

/// One webhook replica: an HTTPS server on loopback plus its auto-TLS task.
struct Replica {
    name: String,
    addr: SocketAddr,
    store: Arc<CertStore>,
    auto: Option<AutoTlsHandle>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

fn start_replica(name: &str, listener: tokio::net::TcpListener) -> Replica {
    let store = Arc::new(CertStore::default());
    let tls = server_config(store.clone(), "tls12").unwrap();
    let state = Arc::new(AppState {
        defaults: InjectorDefaults {
            vault_address: "https://vault.vault.svc:8200".into(),
            ..Default::default()
        },
        metrics: Metrics::default(),
        certs: store.clone(),
        max_body_bytes: 3 * 1024 * 1024,
        request_timeout: Duration::from_secs(10),
        review_slots: AppState::default_review_slots(),
    });
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(
        listener,
        tls,
        app(state, ""),
        std::future::pending(),
        ConnectionLimits {
            drain: Duration::from_secs(1),
            ..Default::default()
        },
    ));
    Replica {
        name: name.to_owned(),
        addr,
        store,
        auto: None,
        server,
    }
}

struct Scenario {
    mwc: String,
    secret: String,
    lease: String,
    apps_ns: String,
}

impl Scenario {
    fn new(name: &str) -> Self {
        Scenario {
            mwc: format!("{name}-injector"),
            secret: format!("{name}-tls"),
            lease: format!("{name}-leader"),
            apps_ns: format!("{name}-apps"),
        }
    }

    fn config(&self, identity: &str, ca: Duration, leaf: Duration) -> AutoTlsConfig {
        AutoTlsConfig {
            webhook_config: self.mwc.clone(),
            hosts: Hosts::parse("ferrovault-webhook.ferrovault.svc,127.0.0.1").unwrap(),
            namespace: WEBHOOK_NS.into(),
            secret: self.secret.clone(),
            lease: self.lease.clone(),
            identity: identity.into(),
            ca_validity: ca,
            leaf_validity: leaf,
            check_interval: Duration::from_secs(1),
            lease_duration: Duration::from_secs(3),
            renew_interval: Duration::from_secs(1),
        }
    }

    /// Namespaces, RBAC and a webhook configuration with one entry per replica address.
    fn install(&self, cp: &ControlPlane, addrs: &[SocketAddr]) {
        let _ = cp.kubectl(&["create", "namespace", WEBHOOK_NS]);
        let _ = cp.kubectl(&["create", "serviceaccount", SA, "-n", WEBHOOK_NS]);
        cp.kubectl(&["create", "namespace", &self.apps_ns]).unwrap();
        cp.kubectl(&[
            "label",
            "namespace",
            &self.apps_ns,
            &format!("autotls={}", self.apps_ns),
        ])
        .unwrap();
        cp.apply(&rbac(&self.secret, &self.lease, &self.mwc)).unwrap();
        let webhooks: Vec<_> = addrs
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                json!({
                    "name": format!("r{i}.autotls.ferrovault.io"),
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "failurePolicy": "Fail",
                    "timeoutSeconds": 10,
                    "clientConfig": {"url": format!("https://{addr}/mutate")},
                    "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
                    "namespaceSelector": {"matchLabels": {"autotls": self.apps_ns}},
                })
            })
            .collect();
        let mwc = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": self.mwc},
            "webhooks": webhooks,
        });
        cp.apply(&mwc.to_string()).unwrap();
        wait(|| {
            cp.kubectl(&[
                "get",
                "serviceaccount",
                "default",
                "-n",
                &self.apps_ns,
                "-o",
                "name",
            ])
            .ok()
        });
    }
}

fn wait<T>(check: impl FnMut() -> Option<T>) -> T {
    ferrovault_tests::wait_for(WAIT, check).expect("condition not met in time")
}

async fn wait_async<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pems(bundle: &[u8]) -> Vec<Vec<u8>> {
    CertificateDer::pem_slice_iter(bundle)
        .map(|c| c.unwrap().as_ref().to_vec())
        .collect()
}

/// The leaf a replica serves, verified against `bundle_pem` for 127.0.0.1.
async fn served_leaf(addr: SocketAddr, bundle_pem: &[u8]) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for der in pems(bundle_pem) {
        roots.add(CertificateDer::from(der)).map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, session) = tls.get_ref();
    Ok(session.peer_certificates().ok_or("no peer certificate")?[0]
        .as_ref()
        .to_vec())
}

async fn secret_data(api: &Api<Secret>, name: &str) -> Option<std::collections::BTreeMap<String, Vec<u8>>> {
    let secret = api.get_opt(name).await.ok()??;
    Some(secret.data?.into_iter().map(|(k, v)| (k, v.0)).collect())
}

async fn bundles(api: &Api<MutatingWebhookConfiguration>, name: &str) -> Vec<Option<Vec<u8>>> {
    let mwc = api.get(name).await.unwrap();
    mwc.webhooks
        .unwrap_or_default()
        .into_iter()
        .map(|w| w.client_config.ca_bundle.map(|b| b.0))
        .collect()
}

/// Creates an annotated pod; `Err` carries the API server's message (webhook call failures).
async fn create_pod(pods: &Api<Pod>, name: &str) -> Result<Pod, String> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "app",
        }},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod)
        .await
        .map_err(|e| e.to_string())
}

fn injected(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("vault.hashicorp.com/agent-inject-status"))
        .is_some_and(|s| s == "injected")
}

/// One control plane for both scenarios (starting one costs more than the scenarios themselves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_tls_against_a_real_api_server() {
    install_crypto_provider();
    let cp = control_plane();
    two_replicas_share_one_certificate_patch_every_entry_and_fail_over(&cp).await;
    rotation_with_short_lifetimes_never_breaks_admission(&cp).await;
    a_secret_ferrovault_did_not_create_is_never_written(&cp).await;
}

async fn two_replicas_share_one_certificate_patch_every_entry_and_fail_over(cp: &ControlPlane) {
    let admin = admin_client(cp).await;
    let s = Scenario::new("ha");
    let (la, lb) = (bind().await, bind().await);
    s.install(cp, &[la.local_addr().unwrap(), lb.local_addr().unwrap()]);
    let client = webhook_client(cp).await;

    let day = Duration::from_secs(86_400);
    let mut a = start_replica("replica-a", la);
    let mut b = start_replica("replica-b", lb);
    assert!(
        !a.store.is_ready() && !b.store.is_ready(),
        "no certificate before auto-TLS ran"
    );
    for r in [&mut a, &mut b] {
        let config = s.config(&r.name, 3650 * day, 90 * day);
        config.validate().unwrap();
        r.auto = Some(autotls::spawn(client.clone(), config, r.store.clone()));
    }
    wait_async("both replicas to load a certificate", || async {
        (a.store.is_ready() && b.store.is_ready()).then_some(())
    })
    .await;

    // exactly one leader, named in the Lease
    let leases: Api<Lease> = Api::namespaced(admin.clone(), WEBHOOK_NS);
    let leader = wait_async("one leader", || async {
        let (la, lb) = (a.auto.as_ref()?.is_leader(), b.auto.as_ref()?.is_leader());
        (la != lb).then(|| if la { a.name.clone() } else { b.name.clone() })
    })
    .await;
    let lease = leases.get(&s.lease).await.unwrap();
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some(leader.as_str())
    );

    // one Secret, with the CA and the serving pair
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), WEBHOOK_NS);
    let managed = secrets
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=ferrovault-webhook"))
        .await
        .unwrap();
    let names: Vec<_> = managed
        .items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    assert_eq!(names, vec![s.secret.clone()]);
    let data = secret_data(&secrets, &s.secret).await.unwrap();
    let keys: BTreeSet<_> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["ca.crt", "ca.key", "tls.crt", "tls.key"]));

    // every entry's caBundle is the Secret's CA
    let configs: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
    let ca = data["ca.crt"].clone();
    wait_async("caBundle on both entries", || async {
        let all = bundles(&configs, &s.mwc).await;
        (all.len() == 2 && all.iter().all(|b| b.as_ref().map(|b| pems(b)) == Some(pems(&ca)))).then_some(())
    })
    .await;

    // both replicas serve the Secret's leaf, which verifies against that bundle
    let leaf_a = served_leaf(a.addr, &ca).await.unwrap();
    let leaf_b = served_leaf(b.addr, &ca).await.unwrap();
    assert_eq!(leaf_a, leaf_b, "replicas serve different certificates");
    assert_eq!(vec![leaf_a], pems(&data["tls.crt"]));

    // the API server itself accepts both (failurePolicy Fail on both entries)
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &s.apps_ns);
    let pod = create_pod(&pods, "before-failover").await.unwrap();
    assert!(injected(&pod), "the pod was not mutated");

    // leader dies without releasing the Lease: the other replica takes over once it expires
    let (dead, survivor) = if leader == a.name {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    drop(dead.auto.take());
    let survivor_name = survivor.name.clone();
    let survivor_auto = survivor.auto.as_ref().unwrap();
    wait_async("the follower to take the Lease", || async {
        survivor_auto.is_leader().then_some(())
    })
    .await;
    let lease = leases.get(&s.lease).await.unwrap().spec.unwrap();
    assert_eq!(lease.holder_identity.as_deref(), Some(survivor_name.as_str()));
    assert!(lease.lease_transitions.unwrap_or(0) >= 1);
    // the new leader adopts the CA and pair instead of minting its own (no caBundle fight)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = secret_data(&secrets, &s.secret).await.unwrap();
    assert_eq!(after["ca.crt"], data["ca.crt"]);
    assert_eq!(after["tls.crt"], data["tls.crt"]);
    let pod = create_pod(&pods, "after-failover").await.unwrap();
    assert!(injected(&pod));

    // a graceful shutdown releases the Lease at once
    let auto = survivor.auto.take().unwrap();
    auto.shutdown().await;
    let lease = leases.get(&s.lease).await.unwrap().spec.unwrap();
    assert_eq!(lease.holder_identity, None);
}

async fn rotation_with_short_lifetimes_never_breaks_admission(cp: &ControlPlane) {
    let admin = admin_client(cp).await;
    let s = Scenario::new("rotation");
    let (la, lb) = (bind().await, bind().await);
    s.install(cp, &[la.local_addr().unwrap(), lb.local_addr().unwrap()]);
    let client = webhook_client(cp).await;

    // leaf renewed when 4 s are left, CA rolled over when 12 s are left (every 24 s)
    let (ca_life, leaf_life) = (Duration::from_secs(36), Duration::from_secs(12));
    let mut replicas = [start_replica("rot-a", la), start_replica("rot-b", lb)];
    for r in &mut replicas {
        r.auto = Some(autotls::spawn(
            client.clone(),
            s.config(&r.name, ca_life, leaf_life),
            r.store.clone(),
        ));
    }
    wait_async("both replicas to load a certificate", || async {
        replicas.iter().all(|r| r.store.is_ready()).then_some(())
    })
    .await;

    let secrets: Api<Secret> = Api::namespaced(admin.clone(), WEBHOOK_NS);
    let configs: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &s.apps_ns);
    let mut cas = BTreeSet::new();
    let mut leaves = BTreeSet::new();
    let mut rollover_bundle_seen = false;
    let mut admitted = 0;
    // Through two leaf renewals and a CA rollover, every pod creation must pass both webhooks.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut i = 0;
    while tokio::time::Instant::now() < deadline || cas.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline + WAIT,
            "no CA rollover seen (CAs {}, leaves {})",
            cas.len(),
            leaves.len()
        );
        if let Some(data) = secret_data(&secrets, &s.secret).await {
            cas.insert(data.get("ca.crt").cloned().unwrap_or_default());
            leaves.insert(data.get("tls.crt").cloned().unwrap_or_default());
        }
        let all = bundles(&configs, &s.mwc).await;
        if all.iter().any(|b| b.as_ref().is_some_and(|b| pems(b).len() == 2)) {
            rollover_bundle_seen = true;
        }
        i += 1;
        let pod = create_pod(&pods, &format!("pod-{i}"))
            .await
            .unwrap_or_else(|e| panic!("pod {i} rejected during rotation: {e}"));
        assert!(injected(&pod));
        admitted += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(cas.len() >= 2, "the CA never rotated");
    assert!(
        leaves.len() >= 3,
        "the leaf was renewed {} times",
        leaves.len() - 1
    );
    assert!(rollover_bundle_seen, "caBundle never held [previous CA, new CA]");
    assert!(admitted > 10);

    // at the end both replicas still serve a certificate the webhook configuration trusts
    for (r, bundle) in replicas.iter().zip(bundles(&configs, &s.mwc).await) {
        let bundle = bundle.expect("caBundle set");
        wait_async("a verifying certificate", || {
            let bundle = bundle.clone();
            async move { served_leaf(r.addr, &bundle).await.ok() }
        })
        .await;
    }
}

/// vault-helm's user-managed TLS (`certs.secretName`) under auto TLS: the leader finds a Secret it
/// did not create and refuses it, loudly, instead of overwriting the user's certificate.
async fn a_secret_ferrovault_did_not_create_is_never_written(cp: &ControlPlane) {
    let admin = admin_client(cp).await;
    let s = Scenario::new("foreign");
    let listener = bind().await;
    s.install(cp, &[listener.local_addr().unwrap()]);
    let users = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": s.secret, "namespace": WEBHOOK_NS, "labels": {"app.kubernetes.io/managed-by": "Helm"}},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": "the user's certificate", "tls.key": "the user's key"},
    });
    cp.apply(&users.to_string()).unwrap();
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), WEBHOOK_NS);
    let configs: Api<MutatingWebhookConfiguration> = Api::all(admin.clone());
    let before = secret_data(&secrets, &s.secret).await.expect("the user's Secret");

    let client = webhook_client(cp).await;
    let mut replica = start_replica("foreign-a", listener);
    let handle = autotls::spawn(
        client,
        s.config(&replica.name, Duration::from_secs(3600), Duration::from_secs(600)),
        replica.store.clone(),
    );
    let mut errors = handle.last_error();
    let error = wait_async("the leader to refuse the Secret", || {
        let e = errors.borrow_and_update().clone();
        async move { e }
    })
    .await;
    assert!(handle.is_leader());
    assert!(
        error.contains(&format!("{WEBHOOK_NS}/{}", s.secret))
            && error.contains("was not created by ferrovault-webhook")
            && error.contains("tls.mode=existingSecret"),
        "{error}"
    );
    assert!(!error.contains("the user's"), "secret data in the error: {error}");
    assert_eq!(
        secret_data(&secrets, &s.secret).await,
        Some(before),
        "the user's Secret was written"
    );
    assert!(
        !replica.store.is_ready(),
        "serving a Secret auto TLS does not manage"
    );
    assert_eq!(bundles(&configs, &s.mwc).await, vec![None], "caBundle patched");
    replica.auto = Some(handle);
}
