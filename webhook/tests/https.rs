//! The real server over real TLS: certificates generated in the test, a rustls client, rotation while a
//! client keeps sending, and the SIGTERM drain of the real binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrovault_webhook::inject::InjectorDefaults;
use ferrovault_webhook::metrics::Metrics;
use ferrovault_webhook::server::{AppState, ConnectionLimits, app, serve};
use ferrovault_webhook::tls::{
    CertFiles, CertStore, TlsPolicy, install_crypto_provider, server_config, server_config_with,
};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod support;

use support::*;

#[tokio::test]
async fn admission_health_metrics_and_bad_input_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki("test CA 1");
    write_pair(dir.path(), &pki);
    let mut server = start(dir.path(), 64 * 1024).await;
    let tls = connector(&pki.ca_pem, &[&rustls::version::TLS12, &rustls::version::TLS13]);
    let mut c = connect(server.addr, &tls).await.unwrap();

    let (status, body) = send(
        &mut c,
        "POST",
        "/mutate",
        Some("application/json"),
        seed_review("uid-1"),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let review: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["response"]["uid"], "uid-1");
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(review["response"]["patchType"], "JSONPatch");
    use base64::Engine as _;
    let patch = base64::engine::general_purpose::STANDARD
        .decode(
            review["response"]["patch"]
                .as_str()
                .expect("patch is a base64 string"),
        )
        .unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    assert!(patch.as_array().is_some_and(|ops| !ops.is_empty()), "{patch:#}");

    let (status, _) = send(&mut c, "GET", "/health/ready", None, vec![]).await;
    assert_eq!(status, 204);

    let (status, body) = send(&mut c, "POST", "/mutate", Some("text/plain"), seed_review("u")).await;
    assert_eq!(status, 415);
    assert!(String::from_utf8_lossy(&body).contains("content-type"));

    let (status, body) = send(&mut c, "POST", "/mutate", Some("application/json"), vec![]).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("body"));

    let (status, body) = send(
        &mut c,
        "POST",
        "/mutate",
        Some("application/json"),
        b"{not json s3cr3t".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("not an AdmissionReview"), "{text}");
    assert!(!text.contains("s3cr3t"), "the body leaked into the error: {text}");

    let (status, body) = send(
        &mut c,
        "POST",
        "/mutate",
        Some("application/json"),
        vec![b' '; 65 * 1024],
    )
    .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));

    // anything but a Pod CREATE is allowed untouched
    let mut other: Value = serde_json::from_slice(&seed_review("uid-2")).unwrap();
    other["request"]["operation"] = json!("UPDATE");
    let (status, body) = send(
        &mut c,
        "POST",
        "/mutate",
        Some("application/json"),
        serde_json::to_vec(&other).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let review: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(review["response"]["allowed"], true);
    assert!(review["response"].get("patch").is_none_or(Value::is_null));

    let (status, body) = send(&mut c, "GET", "/metrics", None, vec![]).await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("vault_agent_injector_injections_by_namespace_total{injection_type=\"init_and_sidecar\",namespace=\"default\"} 1"), "{text}");
    assert!(
        text.contains("vault_agent_injector_request_processing_duration_ms_count"),
        "{text}"
    );

    server.stop.take().unwrap().send(()).unwrap();
    drop(c);
    server.task.await.unwrap();
}

/// A server with a fresh certificate (from files) under the TLS config `tls` makes of its store.
async fn serve_with(
    tls: impl FnOnce(Arc<CertStore>) -> Arc<rustls::ServerConfig>,
) -> (
    tempfile::TempDir,
    Pki,
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki("test CA");
    write_pair(dir.path(), &pki);
    install_crypto_provider();
    let certs = Arc::new(CertStore::default());
    CertFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
    }
    .load_into(&certs)
    .unwrap();
    let tls = tls(certs.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(AppState {
        defaults: InjectorDefaults::default(),
        metrics: Metrics::default(),
        certs,
        max_body_bytes: 1024,
        request_timeout: Duration::from_secs(5),
        review_slots: AppState::default_review_slots(),
    });
    let task = tokio::spawn(serve(
        listener,
        tls,
        app(state, ""),
        std::future::pending(),
        ConnectionLimits {
            drain: Duration::from_secs(1),
            ..Default::default()
        },
    ));
    (dir, pki, addr, task)
}

#[tokio::test]
async fn tls13_only_refuses_a_tls12_client() {
    let (_dir, pki, addr, task) = serve_with(|certs| server_config(certs, "tls13").unwrap()).await;
    let old = connector(&pki.ca_pem, &[&rustls::version::TLS12]);
    assert!(
        connect(addr, &old).await.is_err(),
        "a TLS 1.2 client was accepted by a tls13 server"
    );
    let new = connector(&pki.ca_pem, &[&rustls::version::TLS13]);
    let mut c = connect(addr, &new).await.unwrap();
    assert_eq!(send(&mut c, "GET", "/health/ready", None, vec![]).await.0, 204);
    task.abort();
}

/// `AGENT_INJECT_TLS_CIPHER_SUITES` (Go names): TLS 1.2 clients get only the listed suites; a Go
/// name rustls does not implement is accepted and reported, an unknown one refused as vault-k8s does.
#[tokio::test]
async fn cipher_suites_restrict_tls12_as_vault_k8s_names_them() {
    let policy = TlsPolicy::parse(
        "tls12",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_RSA_WITH_AES_128_CBC_SHA,TLS_AES_128_GCM_SHA256",
    )
    .unwrap();
    assert_eq!(policy.ignored.len(), 2, "{:?}", policy.ignored);
    let (_dir, pki, addr, task) = serve_with(|certs| server_config_with(certs, &policy).unwrap()).await;
    let tls12_with = |suite: rustls::SupportedCipherSuite| {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: vec![suite],
            ..rustls::crypto::ring::default_provider()
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    };
    use rustls::crypto::ring::cipher_suite as suites;
    let unlisted = tls12_with(suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
    assert!(
        connect(addr, &unlisted).await.is_err(),
        "an unlisted TLS 1.2 suite was negotiated"
    );
    let listed = tls12_with(suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
    let mut c = connect(addr, &listed).await.unwrap();
    assert_eq!(send(&mut c, "GET", "/health/ready", None, vec![]).await.0, 204);
    // TLS 1.3 keeps all its suites, as in Go
    let tls13 = connector(&pki.ca_pem, &[&rustls::version::TLS13]);
    assert!(connect(addr, &tls13).await.is_ok());
    task.abort();

    let err = TlsPolicy::parse("tls12", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,suite1").unwrap_err();
    assert!(
        err.to_string().contains(
            "failed to parse TLS cipher suites list \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,suite1\": unsupported cipher \"suite1\""
        ),
        "{err}"
    );
    let err = TlsPolicy::parse("tls12", "TLS_RSA_WITH_AES_128_CBC_SHA").unwrap_err();
    assert!(
        err.to_string().contains("leaves TLS 1.2 without a suite"),
        "{err}"
    );
    // with TLS 1.3 only, a 1.2-only list is harmless
    assert!(TlsPolicy::parse("tls13", "TLS_RSA_WITH_AES_128_CBC_SHA").is_ok());
    let err = TlsPolicy::parse("tls1000", "").unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid or unsupported TLS version \"tls1000\""),
        "{err}"
    );
}

#[tokio::test]
async fn certificate_rotation_keeps_open_connections_and_serves_the_new_pair() {
    let dir = tempfile::tempdir().unwrap();
    let first = pki("first CA");
    write_pair(dir.path(), &first);
    let mut server = start(dir.path(), 1024 * 1024).await;
    let old_tls = connector(&first.ca_pem, &[&rustls::version::TLS13]);
    let mut open = connect(server.addr, &old_tls).await.unwrap();
    assert_eq!(
        send(
            &mut open,
            "POST",
            "/mutate",
            Some("application/json"),
            seed_review("a")
        )
        .await
        .0,
        200
    );

    let second = pki("second CA");
    write_pair(dir.path(), &second);
    let new_tls = connector(&second.ca_pem, &[&rustls::version::TLS13]);
    // keep sending on the open connection while waiting for the new certificate to be served
    let mut served_new = false;
    for i in 0..400 {
        let (status, _) = send(
            &mut open,
            "POST",
            "/mutate",
            Some("application/json"),
            seed_review(&format!("r{i}")),
        )
        .await;
        assert_eq!(status, 200, "the open connection broke during rotation");
        if connect(server.addr, &new_tls).await.is_ok() {
            served_new = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(served_new, "the rotated certificate was never served");
    // clients that only trust the old CA are now refused (a fresh connector: no session to resume)
    let old_only = connector(&first.ca_pem, &[&rustls::version::TLS13]);
    assert!(connect(server.addr, &old_only).await.is_err());
    // and the connection opened before the rotation still works
    assert_eq!(send(&mut open, "GET", "/health/ready", None, vec![]).await.0, 204);
    server.stop.take().unwrap().send(()).unwrap();
    drop(open);
    server.task.await.unwrap();
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_request_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki("drain CA");
    write_pair(dir.path(), &pki);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferrovault-webhook"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert-file")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key-file")
        .arg(dir.path().join("tls.key"))
        .args([
            "--vault-address",
            "https://vault:8200",
            "--native-sidecar",
            "never",
        ])
        .env_clear()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let tls = connector(&pki.ca_pem, &[&rustls::version::TLS13]);
    // wait for the listener
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(mut c) = connect(addr, &tls).await {
            ready = send(&mut c, "GET", "/health/ready", None, vec![]).await.0 == 204;
            if ready {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "server never became ready");

    // start a request and send only half its body
    let body = seed_review("drain");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut stream = tls
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let head = format!(
        "POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    // new connections are no longer accepted …
    assert!(
        connect(addr, &tls).await.is_err(),
        "listener still open after SIGTERM"
    );
    // … but the in-flight request completes
    stream.write_all(&body[half..]).await.unwrap();
    stream.flush().await.unwrap();
    let mut response = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut response)
        .await
        .ok();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"uid\":\"drain\""), "{text}");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "webhook exited with {exit:?}");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(
        !stderr.contains("s3cr3t") && !stderr.contains("postgresql://"),
        "request data in logs: {stderr}"
    );
    // Issue #10 §4: colour only on a terminal (kubectl logs showed escape codes).
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes in piped logs: {stderr:?}"
    );
    assert!(stderr.contains("shutting down"), "{stderr}");
}
