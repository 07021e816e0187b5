//! The sidecar's listeners (Vault Agent's `listener "tcp"` with `cache {}`): plain HTTP on the pod's
//! loopback, serving
//!
//! - `/agent/v1/metrics` — Prometheus metrics ([`crate::metrics`]), on every listener;
//! - `POST /agent/v1/quit` — exit 0, when the listener has `enable_quit`;
//! - `POST /agent/v1/cache-clear` — evict cached entries ([`cache`]);
//! - everything else — the Vault API, forwarded to Vault ([`proxy`]) with the auto-auth token when
//!   `use_auto_auth_token` says so, leased responses and tokens answered from the cache.
//!
//! Routes and every proxy decision are made on the normalised request path ([`path`]); a target
//! that is not a path is refused with 400. Each listener bounds its clients: [`MAX_CONNECTIONS`]
//! open at once (more wait in the listen backlog), [`HEADER_READ_TIMEOUT`] for a request's headers,
//! [`BODY_TIMEOUT`] for its whole body (then 408), [`MAX_BODY`] bytes of body (then 413).
//!
//! Only the long-running modes serve them; an init container exits after its render.

pub mod cache;
pub mod path;
pub mod proxy;
pub mod scrub;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrovault_contract::{AgentConfig, UseAutoAuthToken};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::credential::AutoAuth;
use crate::metrics::{self, Metrics};
use crate::vault::Vault;
use crate::{Error, Result};

/// The largest request body the listener reads: 1 MiB. Vault's own `max_request_size` is 32 MiB,
/// but what an app sends through an agent is small JSON (logins, writes, transit), and Vault's
/// integrated storage refuses an entry over 1 MiB (`max_entry_size`) anyway.
pub const MAX_BODY: usize = 1 << 20;

/// How long a client may take to send a request's headers (also ends idle keep-alive connections).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a client may take to send a request's whole body, once its headers are read: a body
/// still arriving then is cut, answered 408, and the connection closed.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections one listener serves at once; further clients wait in the listen backlog until one
/// closes (as the webhook's server does), so a burst is slowed, not refused.
pub const MAX_CONNECTIONS: usize = 128;

/// One listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    /// Where to listen.
    pub address: SocketAddr,
    /// Serve metrics only.
    pub metrics_only: bool,
    /// Serve `POST /agent/v1/quit`.
    pub enable_quit: bool,
    /// How this listener's proxy uses the auto-auth token: the config's, or `false` on a listener
    /// reachable from outside the pod that did not ask for the token there.
    pub use_auto_auth_token: UseAutoAuthToken,
    /// The warning logged at start for a listener reachable from outside the pod.
    pub warning: Option<String>,
}

/// The listeners and what they serve.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenersSettings {
    /// The listeners (empty: none).
    pub listeners: Vec<ListenerSettings>,
    /// How the proxy uses the auto-auth token.
    pub use_auto_auth_token: UseAutoAuthToken,
    /// Whether a `cache {}` stanza asked for caching.
    pub cache: bool,
    /// Whether `/agent/v1/metrics` answers (`telemetry.prometheus_retention_time` not 0).
    pub metrics: bool,
}

impl ListenersSettings {
    /// Reads the `listeners`, `cache` and `telemetry` of the config.
    pub fn new(cfg: &AgentConfig) -> Result<Self> {
        let use_auto_auth_token = cfg
            .cache
            .as_ref()
            .map(|c| c.use_auto_auth_token)
            .unwrap_or_default();
        let listeners = cfg
            .listeners
            .iter()
            .enumerate()
            .map(|(i, l)| crate::settings::listener(i, l, cfg.host_network, use_auto_auth_token))
            .collect::<Result<Vec<_>>>()?;
        let metrics = cfg
            .telemetry
            .as_ref()
            .and_then(|t| t.prometheus_retention_time.as_ref())
            .is_none_or(|d| !d.get().is_zero());
        Ok(Self {
            listeners,
            use_auto_auth_token,
            cache: cfg.cache.is_some(),
            metrics,
        })
    }
}

/// What every connection of every listener shares.
pub struct Shared {
    /// Vault (the agent's HTTP client, for the cache's renewals, and Vault's address).
    pub vault: Vault,
    /// The proxy's HTTP client: Vault's settings, no redirect followed ([`Vault::proxy_client`]).
    pub http: reqwest::Client,
    /// The current auto-auth token and its accessor (`None` before the first login).
    pub token: watch::Receiver<Option<AutoAuth>>,
    /// The agent's metrics.
    pub metrics: Arc<Metrics>,
    /// The cache, when on.
    pub cache: Option<cache::Cache>,
    /// How the proxy uses the auto-auth token.
    pub use_auto_auth_token: UseAutoAuthToken,
    /// Whether metrics are served.
    pub serve_metrics: bool,
    /// Turns true on `POST /agent/v1/quit`.
    pub quit: watch::Sender<bool>,
}

impl Shared {
    /// What `listener` shares: the same, but with its own `use_auto_auth_token` when it differs
    /// (a listener reachable from outside the pod without the auto-auth token).
    fn for_listener(self: &Arc<Self>, listener: &ListenerSettings) -> Arc<Self> {
        if listener.use_auto_auth_token == self.use_auto_auth_token {
            return self.clone();
        }
        Arc::new(Shared {
            vault: self.vault.clone(),
            http: self.http.clone(),
            token: self.token.clone(),
            metrics: self.metrics.clone(),
            cache: self.cache.clone(),
            use_auto_auth_token: listener.use_auto_auth_token,
            serve_metrics: self.serve_metrics,
            quit: self.quit.clone(),
        })
    }
}

/// Binds every listener (before anything else runs, so a port clash fails the start) and serves
/// them in the background. Returns the bound addresses (port 0 resolved).
pub async fn start(settings: &ListenersSettings, shared: Arc<Shared>) -> Result<Vec<SocketAddr>> {
    let mut bound = Vec::new();
    for l in &settings.listeners {
        if let Some(warning) = &l.warning {
            tracing::warn!(address = %l.address, "{warning}");
        }
        let shared = shared.for_listener(l);
        let listener = TcpListener::bind(l.address)
            .await
            .map_err(|e| Error::config("listener", format!("cannot listen on {}: {e}", l.address)))?;
        let local = listener.local_addr().unwrap_or(l.address);
        tracing::info!(address = %local, quit = l.enable_quit, metrics_only = l.metrics_only, "listening");
        bound.push(local);
        tokio::spawn(serve(listener, l.clone(), shared));
    }
    Ok(bound)
}

async fn serve(listener: TcpListener, settings: ListenerSettings, shared: Arc<Shared>) {
    let settings = Arc::new(settings);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // a free slot first, then accept: excess clients wait in the backlog
        let Ok(permit) = connections.clone().acquire_owned().await else {
            return;
        };
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let settings = settings.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                let settings = settings.clone();
                async move { Ok::<_, Infallible>(handle(req, &settings, &shared).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(error = %err, "listener connection ended");
            }
        });
    }
}

/// A response with `body` as JSON.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Vault's error body: `{"errors": [message]}`.
pub fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "errors": [message] }))
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

/// An answer after which the connection closes (its request body was not read to the end).
fn closing(mut resp: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    resp.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    resp
}

/// Reads a whole request body: at most [`MAX_BODY`] bytes (else 413), all within [`BODY_TIMEOUT`]
/// (else 408); either way the connection then closes.
pub async fn read_body(body: Incoming) -> std::result::Result<Bytes, Response<Full<Bytes>>> {
    let collected = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await;
    match collected {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => Err(closing(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than {MAX_BODY} bytes"),
        ))),
        Ok(Err(err)) => Err(closing(error(
            StatusCode::BAD_REQUEST,
            &format!("reading the request body: {err}"),
        ))),
        Err(_) => Err(closing(error(
            StatusCode::REQUEST_TIMEOUT,
            &format!("request body not received within {} s", BODY_TIMEOUT.as_secs()),
        ))),
    }
}

async fn handle(
    req: Request<Incoming>,
    listener: &ListenerSettings,
    shared: &Shared,
) -> Response<Full<Bytes>> {
    let target = match path::Target::new(req.uri()) {
        Ok(target) => target,
        Err(refused) => return closing(error(StatusCode::BAD_REQUEST, refused.message())),
    };
    match target.path.as_str() {
        "/agent/v1/metrics" if shared.serve_metrics => {
            let mut resp = Response::new(Full::new(Bytes::from(shared.metrics.render())));
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            resp
        }
        _ if listener.metrics_only => empty(StatusCode::NOT_FOUND),
        "/agent/v1/metrics" => empty(StatusCode::NOT_FOUND),
        "/agent/v1/quit" if !listener.enable_quit => empty(StatusCode::NOT_FOUND),
        "/agent/v1/quit" if req.method() != Method::POST => empty(StatusCode::METHOD_NOT_ALLOWED),
        "/agent/v1/quit" => {
            tracing::info!("quit requested on /agent/v1/quit");
            shared.quit.send_replace(true);
            empty(StatusCode::OK)
        }
        "/agent/v1/cache-clear" => match &shared.cache {
            None => error(StatusCode::NOT_FOUND, "the cache is not enabled"),
            Some(_) if req.method() != Method::POST => empty(StatusCode::METHOD_NOT_ALLOWED),
            Some(cache) => match read_body(req.into_body()).await {
                Ok(body) => cache.clear_request(&body),
                Err(resp) => resp,
            },
        },
        _ => {
            let (parts, body) = req.into_parts();
            match read_body(body).await {
                Ok(body) => proxy::forward(parts, &target, body, shared).await,
                Err(resp) => resp,
            }
        }
    }
}
