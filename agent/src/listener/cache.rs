//! The proxy's cache, after Vault Agent's lease cache: a response is kept when it carries a lease
//! (`lease_id`) or a new token (`auth.client_token`, logins and token creation), under a SHA-256 of
//! the request's method, normalised path and query, token, headers and body; the same request is
//! then answered from memory. The cache holds at most [`MAX_BYTES`] of answers and [`MAX_ENTRIES`]
//! entries, the oldest evicted first.
//! Every entry is renewed in the background (the lease with the token that obtained it, a token with
//! itself) and evicted when renewal fails or stops extending it, when it expires, when a request
//! through the proxy revokes it, or on `POST /agent/v1/cache-clear`. Evicting a token evicts what it
//! obtained. Static secrets (no lease) are never cached, as in Vault Agent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::error;
use super::path::api_path;
use crate::credential::Credential;
use crate::metrics::Metrics;
use crate::vault::Vault;

/// The most entries the cache holds; beyond it the oldest is evicted.
pub const MAX_ENTRIES: usize = 10_000;

/// The most bytes of answers (bodies and headers) the cache holds; beyond it the oldest entries are
/// evicted, and an answer larger than this is not cached.
pub const MAX_BYTES: usize = 32 << 20;

/// What identifies a request: a SHA-256 of its method, normalised path and query, token (the one
/// sent: the client's `X-Vault-Token` or `Bearer` token, or the auto-auth token), the headers sent
/// (namespace, wrapping, `Authorization`, …) and body, each length-prefixed so no two requests
/// share an input. Only the digest is kept: a key costs 32 bytes whatever the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    /// The key of one request; `headers` in a stable order.
    pub fn new<'a>(
        method: &str,
        path_and_query: &str,
        token: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        body: &[u8],
    ) -> Self {
        let mut hash = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        part(method.as_bytes());
        part(path_and_query.as_bytes());
        part(token.as_bytes());
        for (name, value) in headers {
            part(name.as_bytes());
            part(value);
        }
        // the body last, after a marker no header name can be (names are non-empty)
        part(b"");
        part(body);
        Self(hash.finalize().into())
    }
}

/// A stored answer.
pub struct Cached {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    stored: Instant,
    /// The request path (for `request_path` clearing and the lease metric).
    path: String,
    /// The token of the request that obtained it.
    token: Credential,
    /// The lease, for a leased secret.
    lease_id: Option<String>,
    /// The token created, for a login or token creation, and its accessor.
    client_token: Option<Credential>,
    accessor: Option<String>,
}

impl Cached {
    /// The stored answer, with `X-Cache: HIT` and its `Age` in seconds.
    pub fn response(&self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(self.body.clone()));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        headers.insert("x-cache", HeaderValue::from_static("HIT"));
        headers.insert("age", HeaderValue::from(self.stored.elapsed().as_secs()));
        resp
    }
}

struct Slot {
    cached: Arc<Cached>,
    renewer: AbortHandle,
    /// Its place in the insertion order.
    seq: u64,
    /// What it counts against [`MAX_BYTES`].
    size: usize,
}

/// The entries, their insertion order (oldest first) and their bytes.
#[derive(Default)]
struct Entries {
    map: HashMap<Key, Slot>,
    order: BTreeMap<u64, Key>,
    bytes: usize,
    next: u64,
}

impl Entries {
    fn remove(&mut self, key: &Key) -> Option<Slot> {
        let slot = self.map.remove(key)?;
        self.order.remove(&slot.seq);
        self.bytes -= slot.size;
        Some(slot)
    }

    fn oldest(&self) -> Option<Key> {
        self.order.first_key_value().map(|(_, k)| *k)
    }

    fn len(&self) -> usize {
        self.map.len()
    }
}

struct Inner {
    entries: Mutex<Entries>,
    vault: Vault,
    metrics: Arc<Metrics>,
}

/// The cache; cheap to clone.
#[derive(Clone)]
pub struct Cache(Arc<Inner>);

/// What a response asks of the cache, read from its JSON body.
#[derive(Debug, Clone, PartialEq)]
enum Lifetime {
    Lease {
        id: String,
        ttl: Duration,
        renewable: bool,
    },
    Token {
        token: Credential,
        accessor: Option<String>,
        ttl: Duration,
        renewable: bool,
    },
}

fn lifetime(body: &Value) -> Option<Lifetime> {
    let secs = |v: &Value| Duration::from_secs(v.as_u64().unwrap_or(0));
    if let Some(token) = body["auth"]["client_token"].as_str().filter(|t| !t.is_empty()) {
        let auth = &body["auth"];
        return Some(Lifetime::Token {
            token: Credential::new(token),
            accessor: auth["accessor"].as_str().map(str::to_owned),
            ttl: secs(&auth["lease_duration"]),
            renewable: auth["renewable"].as_bool().unwrap_or(false),
        });
    }
    let id = body["lease_id"].as_str().filter(|id| !id.is_empty())?;
    Some(Lifetime::Lease {
        id: id.to_owned(),
        ttl: secs(&body["lease_duration"]),
        renewable: body["renewable"].as_bool().unwrap_or(false),
    })
}

/// Paths whose answers are never cached although they carry a lease or a token: renewals answer
/// for an existing lease. `path` is normalised; a namespace prefix is looked through.
fn never_cached(path: &str) -> bool {
    let p = api_path(path);
    p.starts_with("sys/leases/renew")
        || p.starts_with("sys/renew")
        || p.starts_with("auth/token/renew")
        || p.starts_with("sys/wrapping/")
}

impl Cache {
    /// An empty cache renewing through `vault`.
    pub fn new(vault: Vault, metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(Inner {
            entries: Mutex::default(),
            vault,
            metrics,
        }))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored answer to `key`.
    pub fn get(&self, key: &Key) -> Option<Arc<Cached>> {
        self.entries().map.get(key).map(|s| s.cached.clone())
    }

    /// Keeps a successful answer to the request `key` (`path`, sent with `token`) if it carries a
    /// lease or a token.
    pub fn store(
        &self,
        key: Key,
        path: &str,
        token: &Credential,
        status: StatusCode,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) {
        if !status.is_success() || never_cached(path) {
            return;
        }
        let Some(life) = serde_json::from_slice::<Value>(&body)
            .ok()
            .as_ref()
            .and_then(lifetime)
        else {
            return;
        };
        let size = body.len()
            + path.len()
            + headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len())
                .sum::<usize>();
        if size > MAX_BYTES {
            tracing::warn!(
                limit = MAX_BYTES,
                "answer larger than the proxy cache; not cached"
            );
            return;
        }
        let (lease_id, client_token, accessor) = match &life {
            Lifetime::Lease { id, .. } => (Some(id.clone()), None, None),
            Lifetime::Token { token, accessor, .. } => (None, Some(token.clone()), accessor.clone()),
        };
        let cached = Arc::new(Cached {
            status,
            headers,
            body,
            stored: Instant::now(),
            path: path.to_owned(),
            token: token.clone(),
            lease_id,
            client_token,
            accessor,
        });
        let mut entries = self.entries();
        if let Some(old) = entries.remove(&key) {
            self.drop_slot(old);
        }
        // the oldest go first, until the new answer fits
        while entries.len() >= MAX_ENTRIES || entries.bytes + size > MAX_BYTES {
            let Some(oldest) = entries.oldest() else { break };
            if let Some(slot) = entries.remove(&oldest) {
                self.drop_slot(slot);
            }
            tracing::debug!("proxy cache full; evicted the oldest answer");
        }
        let renewer = tokio::spawn(self.clone().keep(key, cached.clone(), life)).abort_handle();
        let seq = entries.next;
        entries.next += 1;
        entries.order.insert(seq, key);
        entries.bytes += size;
        entries.map.insert(
            key,
            Slot {
                cached,
                renewer,
                seq,
                size,
            },
        );
        self.0.metrics.cache_entries.set(entries.len() as i64);
        tracing::debug!(path, "cached");
    }

    /// Renews the entry until it cannot be, then evicts it (and what its token obtained).
    async fn keep(self, key: Key, cached: Arc<Cached>, life: Lifetime) {
        let metrics = &self.0.metrics;
        let (mut ttl, renewable) = match &life {
            Lifetime::Lease { ttl, renewable, .. } | Lifetime::Token { ttl, renewable, .. } => {
                (*ttl, *renewable)
            }
        };
        let label = cached.path.trim_start_matches("/v1/").to_owned();
        if ttl.is_zero() {
            // never expires (a root token, say): kept until revoked or cleared
            return std::future::pending().await;
        }
        loop {
            metrics.lease("proxy", &label, ttl);
            if !renewable {
                tokio::time::sleep(ttl).await;
                break;
            }
            tokio::time::sleep(crate::jitter::scale(ttl, 0.6, 0.7)).await;
            let renewed = match &life {
                Lifetime::Lease { id, .. } => match self.0.vault.client(cached.token.clone()) {
                    Ok(client) => client.renew_lease(id).await,
                    Err(err) => Err(err),
                },
                Lifetime::Token { token, .. } => match self.0.vault.client(token.clone()) {
                    Ok(client) => client.renew_self().await,
                    Err(err) => Err(err),
                },
            };
            match renewed {
                Ok(new) if !new.is_zero() && new * 2 >= ttl => ttl = new,
                Ok(new) => {
                    // near its max TTL: keep it for what is left, then evict
                    metrics.lease("proxy", &label, new);
                    tokio::time::sleep(new).await;
                    break;
                }
                Err(err) => {
                    tracing::debug!(path = %label, error = %err, "renewal failed; evicting the cached answer");
                    break;
                }
            }
        }
        metrics.forget_lease("proxy", &label);
        self.evict_token_and(|k, _| *k == key);
    }

    /// Stops an evicted entry's renewal and forgets its lease gauge.
    fn drop_slot(&self, slot: Slot) {
        self.0
            .metrics
            .forget_lease("proxy", slot.cached.path.trim_start_matches("/v1/"));
        slot.renewer.abort();
    }

    /// Removes every entry `matches` selects, and the entries obtained with the tokens they created.
    fn evict_token_and(&self, matches: impl Fn(&Key, &Cached) -> bool) -> usize {
        let mut entries = self.entries();
        let mut gone: Vec<Key> = entries
            .map
            .iter()
            .filter(|(k, s)| matches(k, &s.cached))
            .map(|(k, _)| *k)
            .collect();
        let tokens: Vec<Credential> = gone
            .iter()
            .filter_map(|k| entries.map[k].cached.client_token.clone())
            .collect();
        if !tokens.is_empty() {
            gone.extend(
                entries
                    .map
                    .iter()
                    .filter(|(_, s)| tokens.contains(&s.cached.token))
                    .map(|(k, _)| *k),
            );
        }
        let mut count = 0;
        for key in gone {
            if let Some(slot) = entries.remove(&key) {
                self.drop_slot(slot);
                count += 1;
            }
        }
        self.0.metrics.cache_entries.set(entries.len() as i64);
        count
    }

    /// Evicts what a successful request revoked: a lease (`sys/leases/revoke`), leases under a
    /// prefix (`revoke-prefix`, `revoke-force`), a token and what it obtained (`auth/token/revoke*`).
    /// `path` is normalised; a namespace prefix is looked through.
    pub fn after_success(&self, path: &str, token: &Credential, body: &[u8]) {
        let p = api_path(path);
        let field = |name: &str| {
            serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v[name].as_str().map(str::to_owned))
        };
        let tail = |prefixes: &[&str]| {
            prefixes
                .iter()
                .find_map(|pre| p.strip_prefix(pre))
                .map(str::to_owned)
        };
        let evicted = if let Some(id) = tail(&["sys/leases/revoke/", "sys/revoke/"])
            .filter(|s| !s.is_empty())
            .or_else(|| {
                matches!(p, "sys/leases/revoke" | "sys/revoke")
                    .then(|| field("lease_id"))
                    .flatten()
            }) {
            self.evict_token_and(|_, c| c.lease_id.as_deref() == Some(id.as_str()))
        } else if let Some(prefix) = tail(&[
            "sys/leases/revoke-prefix/",
            "sys/revoke-prefix/",
            "sys/leases/revoke-force/",
            "sys/revoke-force/",
        ]) {
            self.evict_token_and(|_, c| c.lease_id.as_deref().is_some_and(|l| l.starts_with(&prefix)))
        } else if p == "auth/token/revoke-self" {
            self.evict_token(token.expose())
        } else if matches!(p, "auth/token/revoke" | "auth/token/revoke-orphan") {
            match field("token") {
                Some(t) => self.evict_token(&t),
                None => 0,
            }
        } else if p == "auth/token/revoke-accessor" {
            match field("accessor") {
                Some(a) => self.evict_token_and(|_, c| c.accessor.as_deref() == Some(a.as_str())),
                None => 0,
            }
        } else {
            return;
        };
        if evicted > 0 {
            tracing::debug!(
                path = p,
                evicted,
                "revoked through the proxy; evicted from the cache"
            );
        }
    }

    /// Evicts the entry that created `token`, and everything obtained with it.
    fn evict_token(&self, token: &str) -> usize {
        self.evict_token_and(|_, c| {
            c.token.expose() == token || c.client_token.as_ref().is_some_and(|t| t.expose() == token)
        })
    }

    /// `POST /agent/v1/cache-clear` with `{"type": "all"|"request_path"|"lease"|"token"|
    /// "token_accessor", "value": …}`, as Vault Agent.
    pub fn clear_request(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "the body must be JSON: {\"type\": …, \"value\": …}",
            );
        };
        let value = req["value"].as_str().unwrap_or_default().to_owned();
        let kind = req["type"].as_str().unwrap_or_default();
        if kind != "all" && value.is_empty() {
            return error(StatusCode::BAD_REQUEST, "value must be set for this type");
        }
        let evicted = match kind {
            "all" => self.evict_token_and(|_, _| true),
            "request_path" => {
                let prefix = format!("/v1/{}", value.trim_start_matches('/').trim_start_matches("v1/"));
                self.evict_token_and(|_, c| c.path.starts_with(&prefix))
            }
            "lease" => self.evict_token_and(|_, c| c.lease_id.as_deref() == Some(value.as_str())),
            "token" => self.evict_token(&value),
            "token_accessor" => self.evict_token_and(|_, c| c.accessor.as_deref() == Some(value.as_str())),
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("type {other:?} is not one of all, request_path, lease, token, token_accessor"),
                );
            }
        };
        tracing::info!(kind, evicted, "cache cleared");
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::OK;
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(method: &str, path: &str, token: &str, headers: &[(&str, &str)], body: &[u8]) -> Key {
        Key::new(
            method,
            path,
            token,
            headers.iter().map(|(n, v)| (*n, v.as_bytes())),
            body,
        )
    }

    #[test]
    fn keys_separate_every_part() {
        let a = key("GET", "/v1/a", "t", &[], b"");
        assert_eq!(a, key("GET", "/v1/a", "t", &[], b""));
        assert_ne!(a, key("GET", "/v1/a", "u", &[], b""));
        assert_ne!(a, key("PUT", "/v1/a", "t", &[], b""));
        assert_ne!(a, key("GET", "/v1/a", "t", &[], b"{}"));
        assert_ne!(a, key("GET", "/v1/a", "t", &[("x-vault-namespace", "ns1")], b""));
        // no token at all is a credential of its own: never another caller's answer
        assert_ne!(
            key("POST", "/v1/auth/token/create", "", &[], b""),
            key("POST", "/v1/auth/token/create", "s.a", &[], b"")
        );
        // no ambiguity from concatenation
        assert_ne!(
            key("GET", "/v1/ab", "", &[], b""),
            key("GET", "/v1/a", "b", &[], b"")
        );
        assert_ne!(
            key("GET", "/v1/a", "", &[("x", "yz")], b""),
            key("GET", "/v1/a", "", &[("xy", "z")], b"")
        );
        assert_ne!(
            key("GET", "/v1/a", "", &[("x", "y")], b""),
            key("GET", "/v1/a", "", &[], b"\x01\0\0\0\0\0\0\0x")
        );
    }

    fn vault() -> Vault {
        Vault::new(&crate::settings::VaultSettings {
            address: "http://127.0.0.1:1".into(),
            ca_cert: None,
            ca_path: None,
            ca_cert_pem: None,
            client_cert: None,
            client_key: None,
            tls_skip_verify: false,
            tls_server_name: None,
            proxy: None,
            namespace: None,
            timeout: Duration::from_secs(1),
            max_connections: 1,
            disable_idle_connections: false,
            disable_keep_alives: false,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn the_cache_is_bounded_in_bytes_oldest_evicted_first() {
        let cache = Cache::new(vault(), Arc::new(Metrics::default()));
        let answer = |lease: &str, mib: usize| {
            Bytes::from(format!(
                r#"{{"lease_id":"{lease}","lease_duration":0,"data":{{"x":"{}"}}}}"#,
                "x".repeat(mib << 20)
            ))
        };
        let token = Credential::new("t");
        let keys: Vec<Key> = (0..3u8)
            .map(|i| key("GET", &format!("/v1/db/creds/{i}"), "t", &[], b""))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            let path = format!("/v1/db/creds/{i}");
            cache.store(
                *k,
                &path,
                &token,
                StatusCode::OK,
                Vec::new(),
                answer(&format!("l{i}"), 12),
            );
        }
        // 3 × 12 MiB > 32 MiB: the first went, the two newer stay
        assert!(cache.get(&keys[0]).is_none());
        assert!(cache.get(&keys[1]).is_some() && cache.get(&keys[2]).is_some());
        assert!(cache.entries().bytes <= MAX_BYTES);
        // an answer larger than the whole cache is not kept, and evicts nothing
        let big = key("GET", "/v1/db/creds/big", "t", &[], b"");
        cache.store(
            big,
            "/v1/db/creds/big",
            &token,
            StatusCode::OK,
            Vec::new(),
            answer("big", 33),
        );
        assert!(cache.get(&big).is_none());
        assert!(cache.get(&keys[1]).is_some() && cache.get(&keys[2]).is_some());
        // eviction through the other paths keeps the count of bytes right
        assert_eq!(cache.evict_token_and(|_, _| true), 2);
        assert_eq!(cache.entries().bytes, 0);
        assert!(cache.entries().order.is_empty());
    }

    #[test]
    fn leases_and_tokens_are_cacheable_static_secrets_not() {
        let lease = serde_json::json!({"lease_id": "db/creds/x/1", "lease_duration": 60, "renewable": true});
        assert_eq!(
            lifetime(&lease),
            Some(Lifetime::Lease {
                id: "db/creds/x/1".into(),
                ttl: Duration::from_secs(60),
                renewable: true
            })
        );
        let token = serde_json::json!({"lease_id": "", "auth": {"client_token": "s.x", "accessor": "a", "lease_duration": 30, "renewable": false}});
        assert!(matches!(
            lifetime(&token),
            Some(Lifetime::Token { renewable: false, .. })
        ));
        let kv = serde_json::json!({"lease_id": "", "lease_duration": 2764800, "data": {"k": "v"}});
        assert_eq!(lifetime(&kv), None);
        assert!(never_cached("/v1/sys/leases/renew"));
        assert!(never_cached("/v1/auth/token/renew-self"));
        assert!(!never_cached("/v1/auth/token/create"));
    }
}
