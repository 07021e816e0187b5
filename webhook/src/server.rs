//! The HTTPS server: `POST /mutate`, `GET /health/ready`, `GET /metrics`, over rustls, with a graceful
//! drain on SIGTERM/SIGINT and bounds on everything a client controls (issue #8): body size, one
//! deadline per request covering body and review, reviews run on the blocking pool at most
//! [`AppState::review_slots`] at a time (so the async workers, and `/health/ready`, never stall),
//! a connection limit, and timeouts for TLS handshakes, request headers and idle connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::TokioTimer;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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
    /// Time to read and answer one request (waiting for a review slot included).
    pub request_timeout: Duration,
    /// Reviews running at once on the blocking pool; others wait (within the request deadline).
    pub review_slots: Semaphore,
}

impl AppState {
    /// Reviews allowed at once by default: one per CPU, at least two.
    pub fn default_review_slots() -> Semaphore {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Semaphore::new(cpus.max(2))
    }
}

/// Bounds on connections (documented flags of `serve`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Time for a TLS handshake, and for the headers of each HTTP/1 request (an idle HTTP/1
    /// keep-alive connection is closed after it too).
    pub header_read_timeout: Duration,
    /// A connection with no bytes read or written for this long is closed (HTTP/2 included).
    pub idle_timeout: Duration,
    /// Time given to open connections to finish after shutdown starts.
    pub drain: Duration,
}

impl Default for ConnectionLimits {
    /// The defaults of the `serve` flags.
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            drain: Duration::from_secs(20),
        }
    }
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
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

fn bad_request(state: &AppState, status: StatusCode, message: String) -> Response {
    state.metrics.request("bad_request");
    tracing::warn!(%status, reason = %message, "admission request rejected");
    (status, message).into_response()
}

/// At most this much of a client's content type is repeated in an error.
const ECHO_LIMIT: usize = 64;

async fn mutate(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let _in_flight = state.metrics.start();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Err(message) = check_content_type(content_type) {
        return bad_request(&state, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let deadline = tokio::time::Instant::from_std(started) + state.request_timeout;
    let bytes =
        match tokio::time::timeout_at(deadline, axum::body::to_bytes(body, state.max_body_bytes)).await {
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
    let reviewed = match reviewed_in_time(&state, bytes, deadline).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return bad_request(&state, StatusCode::BAD_REQUEST, e.to_string()),
        Err(status) => {
            let outcome = if status == StatusCode::SERVICE_UNAVAILABLE {
                "timeout"
            } else {
                "internal_error"
            };
            state.metrics.request(outcome);
            tracing::error!(%status, "admission request not answered: {outcome}");
            let message = match outcome {
                "timeout" => "admission review not finished within the request timeout",
                _ => "internal error",
            };
            return (status, message).into_response();
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
            // Denial messages name annotations and values that are never secret (inject/error.rs).
            let reason = reviewed.denial.as_deref().unwrap_or_default();
            tracing::info!(%uid, namespace = %reviewed.namespace, reason, "pod denied");
        }
        Outcome::Ignored { reason } => {
            state.metrics.request("ignored");
            tracing::debug!(%uid, namespace = %reviewed.namespace, reason, "request allowed unchanged");
        }
    }
    state.metrics.observe(started.elapsed());
    (
        [(header::CONTENT_TYPE, "application/json")],
        reviewed.response_bytes(),
    )
        .into_response()
}

/// `application/json`, with no charset or `charset=utf-8` (the API server sends exactly that).
fn check_content_type(content_type: &str) -> Result<(), String> {
    let mut parts = content_type.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("");
    let charset_ok = parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    if mime.eq_ignore_ascii_case("application/json") && charset_ok {
        return Ok(());
    }
    let shown: String = content_type.chars().take(ECHO_LIMIT).collect();
    let cut = if shown.len() < content_type.len() {
        "…"
    } else {
        ""
    };
    Err(format!(
        "invalid content-type {shown:?}{cut}: expected application/json (charset utf-8)"
    ))
}

/// Runs the review on the blocking pool once a slot is free, all before `deadline`. The error is the
/// HTTP status to answer: 503 when the deadline passed, 500 when the review panicked.
async fn reviewed_in_time(
    state: &Arc<AppState>,
    bytes: axum::body::Bytes,
    deadline: tokio::time::Instant,
) -> Result<Result<crate::review::Reviewed, crate::error::Error>, StatusCode> {
    let work = async {
        let _slot = state
            .review_slots
            .acquire()
            .await
            .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
        let owned = Arc::clone(state);
        tokio::task::spawn_blocking(move || review(&bytes, &owned.defaults))
            .await
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
    };
    tokio::time::timeout_at(deadline, work)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
}

/// Serves `router` with TLS from `tls` on `listener` within `limits` until `shutdown` resolves,
/// then drains open connections for at most `limits.drain`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        // Wait for a free connection slot before accepting: excess clients queue in the backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
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
        // Answers go out at once rather than waiting for more data (Nagle), as Go's server does.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(tcp));
            let tls = match handshake.await {
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
            let (io, activity) = crate::idle::Tracked::new(tls);
            let service = hyper_util::service::TowerToHyperService::new(router);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            let conn = watcher.watch(conn.into_owned());
            tokio::pin!(conn);
            let result = tokio::select! {
                result = &mut conn => result,
                () = activity.idle_for(limits.idle_timeout) => {
                    tracing::debug!(%peer, "closing an idle connection");
                    return;
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining open connections");
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
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
