//! Shared by the HTTPS tests: certificates made in the test, a rustls client, and the server.
#![allow(dead_code)] // each test crate uses a part of it

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferrovault_webhook::inject::InjectorDefaults;
use ferrovault_webhook::metrics::Metrics;
use ferrovault_webhook::server::{AppState, ConnectionLimits, app, serve};
use ferrovault_webhook::tls::{CertFiles, CertStore, install_crypto_provider, server_config};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn pki(cn: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

pub fn write_pair(dir: &Path, pki: &Pki) {
    // key first, then cert: the watcher retries until both form a pair
    std::fs::write(dir.join("tls.key.tmp"), &pki.key_pem).unwrap();
    std::fs::rename(dir.join("tls.key.tmp"), dir.join("tls.key")).unwrap();
    std::fs::write(dir.join("tls.crt.tmp"), &pki.cert_pem).unwrap();
    std::fs::rename(dir.join("tls.crt.tmp"), dir.join("tls.crt")).unwrap();
}

pub fn connector(ca_pem: &str, versions: &[&'static rustls::SupportedProtocolVersion]) -> TlsConnector {
    use rustls::pki_types::pem::PemObject;
    install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_protocol_versions(versions)
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub async fn connect(addr: SocketAddr, tls: &TlsConnector) -> std::io::Result<Sender> {
    let tcp = TcpStream::connect(addr).await?;
    let stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

pub async fn send(
    sender: &mut Sender,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, body)
}

pub fn seed_review(uid: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:statefulset-controller"},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "moscow-python-0",
                    "namespace": "default",
                    "annotations": {
                        "vault.hashicorp.com/agent-inject": "true",
                        "vault.hashicorp.com/agent-inject-secret-database-config.txt": "secret/my-secret",
                        "vault.hashicorp.com/agent-inject-template-database-config.txt": "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}\n",
                        "vault.hashicorp.com/role": "internal-app"
                    }
                },
                "spec": {
                    "serviceAccountName": "internal-app",
                    "containers": [{
                        "name": "moscow-time-python",
                        "image": "raleksan/app_python:v0.1",
                        "volumeMounts": [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]
                    }],
                    "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}]
                }
            },
            "dryRun": false
        }
    }))
    .unwrap()
}

pub struct Server {
    pub addr: SocketAddr,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
    pub _watch: ferrovault_webhook::tls::WatchGuard,
}

pub async fn start(dir: &Path, max_body: usize) -> Server {
    start_with(
        dir,
        max_body,
        ConnectionLimits {
            drain: Duration::from_secs(5),
            ..Default::default()
        },
    )
    .await
}

/// A server with the seed's injector defaults and the given connection limits.
pub async fn start_with(dir: &Path, max_body: usize, limits: ConnectionLimits) -> Server {
    install_crypto_provider();
    let certs = Arc::new(CertStore::default());
    let files = CertFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    files.load_into(&certs).unwrap();
    let watch = files.watch(certs.clone(), Duration::from_millis(50));
    let tls = server_config(certs.clone(), "tls12").unwrap();
    let state = Arc::new(AppState {
        defaults: InjectorDefaults {
            vault_address: "https://vault.vault.svc:8200".into(),
            ..Default::default()
        },
        metrics: Metrics::default(),
        certs,
        max_body_bytes: max_body,
        request_timeout: Duration::from_secs(10),
        review_slots: AppState::default_review_slots(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(
            listener,
            tls,
            app(state, "/metrics"),
            async {
                let _ = rx.await;
            },
            limits,
        )
        .await
        .unwrap();
    });
    Server {
        addr,
        stop: Some(tx),
        task,
        _watch: watch,
    }
}
