//! Issue #8 regression tests against the real server over TLS: each input here crashed, stalled or
//! exhausted the webhook before. The bounds under test are functional (a connection is closed, a
//! request answered, a label replaced); no test asserts how fast anything is.

use std::time::Duration;

use ferrovault_webhook::server::ConnectionLimits;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

mod support;

use support::*;

/// Generous bound for "eventually": far above every timeout configured here.
const EVENTUALLY: Duration = Duration::from_secs(60);

fn review_with(mut edit: impl FnMut(&mut Value)) -> Vec<u8> {
    let mut review: Value = serde_json::from_slice(&seed_review("uid-h")).unwrap();
    edit(&mut review);
    serde_json::to_vec(&review).unwrap()
}

fn annotate(review: &mut Value, key: &str, value: &str) {
    review["request"]["object"]["metadata"]["annotations"][format!("vault.hashicorp.com/{key}")] =
        json!(value);
}

async fn setup(limits: ConnectionLimits) -> (tempfile::TempDir, Server, tokio_rustls::TlsConnector) {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki("hardening CA");
    write_pair(dir.path(), &pki);
    let server = start_with(dir.path(), 3 * 1024 * 1024, limits).await;
    let tls = connector(&pki.ca_pem, &[&rustls::version::TLS12, &rustls::version::TLS13]);
    (dir, server, tls)
}

#[tokio::test]
async fn the_crash_template_is_answered_and_the_server_keeps_serving() {
    let (_dir, server, tls) = setup(ConnectionLimits::default()).await;
    let mut c = connect(server.addr, &tls).await.unwrap();
    // Finding 1: this 47 KB body aborted the process (stack overflow in the template parser).
    let deep = format!("{}x{}", "{{ if true }}".repeat(2000), "{{ end }}".repeat(2000));
    let body = review_with(|r| annotate(r, "agent-inject-template-database-config.txt", &deep));
    let (status, answer) = send(&mut c, "POST", "/mutate", Some("application/json"), body.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let warnings = answer["response"]["warnings"].to_string();
    assert!(warnings.contains("nesting limit"), "{answer}");
    // With ferrovault.dev/strict the same template is refused, naming the limit.
    let strict = review_with(|r| {
        annotate(r, "agent-inject-template-database-config.txt", &deep);
        r["request"]["object"]["metadata"]["annotations"]["ferrovault.dev/strict"] = json!("true");
    });
    let (_, answer) = send(&mut c, "POST", "/mutate", Some("application/json"), strict).await;
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["response"]["allowed"], json!(false), "{answer}");
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("nesting limit")
    );
    let (status, _) = send(&mut c, "GET", "/health/ready", None, Vec::new()).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn the_envelope_and_content_type_are_checked_without_echoing_them() {
    let (_dir, server, tls) = setup(ConnectionLimits::default()).await;
    let mut c = connect(server.addr, &tls).await.unwrap();
    // Finding 7: a wrong apiVersion or a 2 MB kind was answered 200 and echoed.
    let huge_kind = "K".repeat(2 * 1024 * 1024);
    for body in [
        review_with(|r| r["apiVersion"] = json!("kdmission.k8s.io/v1")),
        review_with(|r| r["kind"] = json!(huge_kind.clone())),
    ] {
        let (status, answer) = send(&mut c, "POST", "/mutate", Some("application/json"), body).await;
        assert_eq!(status, 400);
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.contains("expected apiVersion admission.k8s.io/v1 (or v1beta1) and kind AdmissionReview"),
            "{text}"
        );
        assert!(
            !text.contains("kdmission") && !text.contains("KKKK"),
            "the value was echoed: {text}"
        );
    }
    for content_type in ["application/json; charset=utf-16", "text/plain"] {
        let (status, answer) = send(&mut c, "POST", "/mutate", Some(content_type), seed_review("u")).await;
        assert_eq!(status, 415, "{content_type}");
        assert!(String::from_utf8_lossy(&answer).contains("expected application/json (charset utf-8)"));
    }
    let long_type = format!("application/{}", "x".repeat(10_000));
    let (status, answer) = send(&mut c, "POST", "/mutate", Some(&long_type), seed_review("u")).await;
    assert_eq!(status, 415);
    assert!(answer.len() < 300, "the content type was echoed whole");
    let (status, _) = send(
        &mut c,
        "POST",
        "/mutate",
        Some("application/json; charset=UTF-8"),
        seed_review("u"),
    )
    .await;
    assert_eq!(status, 200);
    // v1beta1, as vault-k8s: answered in the request's version.
    let beta = review_with(|r| r["apiVersion"] = json!("admission.k8s.io/v1beta1"));
    let (status, answer) = send(&mut c, "POST", "/mutate", Some("application/json"), beta).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["apiVersion"], json!("admission.k8s.io/v1beta1"));
}

#[tokio::test]
async fn metric_labels_are_bounded_namespaces() {
    let (_dir, server, tls) = setup(ConnectionLimits::default()).await;
    let mut c = connect(server.addr, &tls).await.unwrap();
    // Finding 6: the namespace became a label as sent (a 100k-emoji series after fuzzing).
    let emoji = "🦀".repeat(10_000);
    for namespace in [emoji.as_str(), "UPPER", "a_b", "-x", &"a".repeat(64)] {
        let body = review_with(|r| {
            r["request"]["namespace"] = json!(namespace);
            annotate(r, "role", "");
        });
        let (status, _) = send(&mut c, "POST", "/mutate", Some("application/json"), body).await;
        assert_eq!(status, 200);
    }
    let (_, metrics) = send(&mut c, "GET", "/metrics", None, Vec::new()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("namespace=\"invalid\""), "{metrics}");
    assert!(!metrics.contains('🦀') && !metrics.contains("UPPER") && !metrics.contains("a_b"));
    assert!(metrics.len() < 16 * 1024, "{} bytes of metrics", metrics.len());
}

/// Issue #19 §4: 300 forged reviews with random (valid) namespaces added 300 series, unbounded.
/// Now at most `--metrics-max-namespaces` (100) names per metric, the rest under `other`.
#[tokio::test]
async fn forged_namespaces_cannot_grow_the_series_past_the_cap() {
    use std::hash::{BuildHasher as _, RandomState};
    let (_dir, server, tls) = setup(ConnectionLimits::default()).await;
    let mut c = connect(server.addr, &tls).await.unwrap();
    let random = RandomState::new();
    for i in 0..300u32 {
        let namespace = format!("ns-{:016x}", random.hash_one(i));
        let body = review_with(|r| {
            r["request"]["namespace"] = json!(namespace);
            if i % 2 == 1 {
                annotate(r, "role", ""); // denied: the failed-injections counter
            }
        });
        let (status, _) = send(&mut c, "POST", "/mutate", Some("application/json"), body).await;
        assert_eq!(status, 200);
    }
    let (_, metrics) = send(&mut c, "GET", "/metrics", None, Vec::new()).await;
    let metrics = String::from_utf8(metrics).unwrap();
    let cap = ferrovault_webhook::metrics::DEFAULT_MAX_NAMESPACES;
    for series in [
        "vault_agent_injector_injections_by_namespace_total{",
        "vault_agent_injector_failed_injections_by_namespace_total{",
    ] {
        let count = metrics.lines().filter(|l| l.starts_with(series)).count();
        assert!(count <= cap + 1, "{count} series of {series}");
        assert!(count > 1, "{metrics}");
    }
    assert!(metrics.contains("namespace=\"other\""), "{metrics}");
    let named = metrics.lines().filter(|l| l.contains("namespace=\"ns-")).count();
    assert!(named <= 2 * cap, "{named} namespaces named");
}

#[tokio::test]
async fn oversized_annotations_are_refused_naming_the_limit() {
    let (_dir, server, tls) = setup(ConnectionLimits::default()).await;
    let mut c = connect(server.addr, &tls).await.unwrap();
    // Finding 4's review: thousands of secrets; the API server would refuse it after us anyway.
    let body = review_with(|r| {
        for i in 0..10_000 {
            annotate(r, &format!("agent-inject-secret-s{i}"), &format!("kv/data/s{i}"));
        }
    });
    let (status, answer) = send(&mut c, "POST", "/mutate", Some("application/json"), body).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("metadata.annotations") && message.contains("262144 bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn health_is_answered_while_heavy_reviews_run() {
    let (_dir, server, tls) = setup(ConnectionLimits::default()).await;
    // Finding 4: reviews ran on the async workers; two heavy ones stalled /health/ready for 4.8 s.
    let heavy = review_with(|r| {
        let containers: Vec<Value> = (0..1000)
            .map(|i| json!({"name": format!("c{i}"), "image": "busybox"}))
            .collect();
        r["request"]["object"]["spec"]["containers"] = json!(containers);
        for i in 0..1500 {
            annotate(r, &format!("agent-inject-secret-s{i}"), &format!("kv/s{i}"));
        }
    });
    let mut reviews = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (addr, tls, body) = (server.addr, tls.clone(), heavy.clone());
        reviews.spawn(async move {
            let mut c = connect(addr, &tls).await.unwrap();
            send(&mut c, "POST", "/mutate", Some("application/json"), body)
                .await
                .0
        });
    }
    let mut probe = connect(server.addr, &tls).await.unwrap();
    let (status, _) = send(&mut probe, "GET", "/health/ready", None, Vec::new()).await;
    assert_eq!(status, 204);
    assert!(
        !reviews.is_empty() && reviews.try_join_next().is_none(),
        "health waited for the reviews"
    );
    while let Some(status) = reviews.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
}

async fn tls_stream(
    addr: std::net::SocketAddr,
    tls: &tokio_rustls::TlsConnector,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tls.connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// Reads until the server closes the connection (EOF or reset).
async fn closed_by_server(stream: &mut (impl tokio::io::AsyncRead + Unpin)) {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(EVENTUALLY, stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open"),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_headers_idle_connections_and_silent_handshakes_are_closed() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let (_dir, server, tls) = setup(limits).await;
    // Finding 5: 200 slowloris connections were still open after 40 s.
    let mut slow = tls_stream(server.addr, &tls).await;
    slow.write_all(b"POST /mutate HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    closed_by_server(&mut slow).await;
    // An idle keep-alive connection (no request at all) is closed too.
    let mut idle = tls_stream(server.addr, &tls).await;
    closed_by_server(&mut idle).await;
    // A TCP connection that never starts TLS.
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    closed_by_server(&mut raw).await;
    // HTTP/2 with no request: closed by the idle timeout.
    let mut h2 = tls_stream(server.addr, &tls).await;
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    closed_by_server(&mut h2).await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let limits = ConnectionLimits {
        max_connections: 2,
        ..Default::default()
    };
    let (_dir, server, tls) = setup(limits).await;
    // Finding 5: 2,000 idle TLS connections were held (fds 12 -> 2,012).
    let first = connect(server.addr, &tls).await.unwrap();
    let mut second = connect(server.addr, &tls).await.unwrap();
    let third = tokio::spawn({
        let tls = tls.clone();
        let addr = server.addr;
        async move {
            let mut c = connect(addr, &tls).await.unwrap();
            send(&mut c, "GET", "/health/ready", None, Vec::new()).await.0
        }
    });
    let (status, _) = send(&mut second, "GET", "/health/ready", None, Vec::new()).await;
    assert_eq!(status, 204);
    assert!(
        !third.is_finished(),
        "a third connection was served while two were open"
    );
    drop(first);
    let status = tokio::time::timeout(EVENTUALLY, third).await.unwrap().unwrap();
    assert_eq!(status, 204, "the third client is served once a slot is free");
}
