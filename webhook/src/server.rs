//! The HTTPS server: `POST /mutate`, `GET /health/ready`, `GET /metrics`, over rustls, with a request
//! body limit, a per-request timeout and a graceful drain on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::inject::InjectorDefaults;
use crate::metrics::Metrics;
use crate::review::{Outcome, review};
use crate::tls::CertStore;

/// Shared state of the handlers.
#[derive(Debug)]
pub struct AppState {
    /// Pod defaults.
    pub defaults: InjectorDefaults,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Serving certificate (readiness = a certificate is loaded).
    pub certs: Arc<CertStore>,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// Time to read and answer one request.
    pub request_timeout: Duration,
}

/// The router. `telemetry_path` empty disables metrics.
pub fn app(state: Arc<AppState>, telemetry_path: &str) -> Router {
    let mut router = Router::new()
        .route("/mutate", post(mutate))
        .route("/health/ready", get(ready));
    if !telemetry_path.is_empty() {
        router = router.route(telemetry_path, get(metrics));
    }
    router.with_state(state)
}

async fn ready(State(state): State<Arc<AppState>>) -> StatusCode {
    if state.certs.is_ready() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

fn bad_request(state: &AppState, status: StatusCode, message: String) -> Response {
    state.metrics.request("bad_request");
    tracing::warn!(%status, reason = %message, "admission request rejected");
    (status, message).into_response()
}

async fn mutate(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let _in_flight = state.metrics.start();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return bad_request(
            &state,
            StatusCode::BAD_REQUEST,
            format!("invalid content-type {content_type:?}: expected application/json"),
        );
    }
    let bytes = match tokio::time::timeout(
        state.request_timeout,
        axum::body::to_bytes(body, state.max_body_bytes),
    )
    .await
    {
        Err(_) => {
            return bad_request(
                &state,
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time".into(),
            );
        }
        Ok(Err(_)) => {
            return bad_request(
                &state,
                StatusCode::BAD_REQUEST,
                format!(
                    "request body unreadable or larger than {} bytes",
                    state.max_body_bytes
                ),
            );
        }
        Ok(Ok(b)) => b,
    };
    if bytes.is_empty() {
        return bad_request(&state, StatusCode::BAD_REQUEST, "empty request body".into());
    }
    let reviewed = match std::panic::catch_unwind(|| review(&bytes, &state.defaults)) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return bad_request(&state, StatusCode::BAD_REQUEST, e.to_string()),
        Err(_) => {
            state.metrics.request("internal_error");
            tracing::error!("internal error while answering an admission request");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let uid = reviewed
        .response
        .response
        .as_ref()
        .map(|r| r.uid.clone())
        .unwrap_or_default();
    match &reviewed.outcome {
        Outcome::Injected(kind) => {
            state.metrics.injected(&reviewed.namespace, kind.label());
            state.metrics.request("injected");
            tracing::info!(%uid, namespace = %reviewed.namespace, injection = kind.label(), "pod injected");
        }
        Outcome::Denied => {
            state.metrics.failed(&reviewed.namespace);
            state.metrics.request("denied");
            tracing::info!(%uid, namespace = %reviewed.namespace, "pod denied");
        }
        Outcome::Ignored { reason } => {
            state.metrics.request("ignored");
            tracing::debug!(%uid, namespace = %reviewed.namespace, reason, "request allowed unchanged");
        }
    }
    state.metrics.observe(started.elapsed());
    axum::Json(reviewed.response_json()).into_response()
}

/// Serves `router` with TLS from `tls` on `listener` until `shutdown` resolves, then drains open
/// connections for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining open connections");
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("drain timed out; closing remaining connections");
    }
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
