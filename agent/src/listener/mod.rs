//! The sidecar's listeners (Vault Agent's `listener "tcp"` with `cache {}`): plain HTTP on the pod's
//! loopback, serving
//!
//! - `/agent/v1/metrics` — Prometheus metrics ([`crate::metrics`]), on every listener;
//! - `POST /agent/v1/quit` — exit 0, when the listener has `enable_quit`;
//! - `POST /agent/v1/cache-clear` — evict cached entries ([`cache`]);
//! - everything else — the Vault API, forwarded to Vault ([`proxy`]) with the auto-auth token when
//!   `use_auto_auth_token` says so, leased responses and tokens answered from the cache.
//!
//! Only the long-running modes serve them; an init container exits after its render.

pub mod cache;
pub mod proxy;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrovault_contract::{AgentConfig, UseAutoAuthToken};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::credential::Credential;
use crate::metrics::{self, Metrics};
use crate::vault::Vault;
use crate::{Error, Result};

/// The largest request body the listener reads (Vault's default `max_request_size`, 32 MiB).
pub const MAX_BODY: usize = 32 << 20;

/// How long a client may take to send a request's headers (also ends idle keep-alive connections).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// Vault (the agent's HTTP client).
    pub vault: Vault,
    /// The current auto-auth token (`None` before the first login).
    pub token: watch::Receiver<Option<Credential>>,
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
    loop {
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

/// Reads a whole request body, at most [`MAX_BODY`].
pub async fn read_body(body: Incoming) -> std::result::Result<Bytes, Response<Full<Bytes>>> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than {MAX_BODY} bytes"),
        )),
        Err(err) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("reading the request body: {err}"),
        )),
    }
}

async fn handle(
    req: Request<Incoming>,
    listener: &ListenerSettings,
    shared: &Shared,
) -> Response<Full<Bytes>> {
    match req.uri().path() {
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
        _ => proxy::forward(req, shared).await,
    }
}
