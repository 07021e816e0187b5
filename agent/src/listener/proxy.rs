//! Forwarding a Vault API request, as Vault Agent's proxy handler does: the client's token
//! (`X-Vault-Token`, else an `Authorization: Bearer` token, as Vault reads them), or the auto-auth
//! token when `use_auto_auth_token` is `true` and the client sent none, or always with `force`;
//! answers from the cache when it holds one.
//!
//! An app never learns the agent's token, behind two walls: every decision is made on the
//! normalised path ([`super::path`]), which is also what is sent, so no spelling of `lookup-self`
//! escapes Vault Agent's stripping of the token's `id` and `accessor`; and no answer leaves holding
//! the token or its accessor, whatever the path ([`super::scrub`]). Redirects are never followed:
//! Vault's 3xx goes back to the client as it came (a header holding the token is dropped).

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};

use super::cache::Key;
use super::path::{Target, is_token_lookup_or_renew};
use super::scrub::{Scrubbed, Secrets, names_another_token, scrub, strip_self};
use super::{Shared, error};
use crate::credential::Credential;
use crate::error::chain;
use ferrovault_contract::UseAutoAuthToken;

const TOKEN_HEADER: &str = "x-vault-token";
const WRAP_TTL_HEADER: &str = "x-vault-wrap-ttl";

/// Headers that belong to one connection, not to the request or answer.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

/// Vault's consistency headers: they change how Vault reads, not what it answers, so the cache key
/// leaves them out (as Vault Agent's does).
fn consistency(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "x-vault-index" | "x-vault-inconsistent" | "x-vault-forward"
    )
}

/// The client's own token as Vault reads it: `X-Vault-Token`, else the first `Authorization`
/// value that starts with `Bearer `.
fn client_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .or_else(|| {
            headers
                .get_all(hyper::header::AUTHORIZATION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
        })
}

/// The token to send: the client's, or the auto-auth token as `mode` says. Second: whether it is the
/// auto-auth token.
fn pick_token(mode: UseAutoAuthToken, client: Option<&str>, auto: Option<&Credential>) -> (Credential, bool) {
    let client = client.filter(|t| !t.is_empty());
    match (mode, client, auto) {
        (UseAutoAuthToken::Force, _, Some(auto)) => (auto.clone(), true),
        (UseAutoAuthToken::Force, _, None) => (Credential::default(), false),
        (UseAutoAuthToken::True, None, Some(auto)) => (auto.clone(), true),
        (_, Some(t), _) => (Credential::new(t), auto.is_some_and(|a| a.expose() == t)),
        (_, None, _) => (Credential::default(), false),
    }
}

/// The headers sent to Vault: the client's, less the connection's own, its token headers (the token
/// chosen goes as `X-Vault-Token`; `Authorization` stays unless `force` replaces the client's
/// credentials) and `Accept-Encoding` (answers come uncompressed, so the scrubber reads them).
fn upstream_headers(
    headers: &HeaderMap,
    mode: UseAutoAuthToken,
    token: &Credential,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out: Vec<(HeaderName, HeaderValue)> = headers
        .iter()
        .filter(|(name, _)| {
            !hop_by_hop(name)
                && *name != TOKEN_HEADER
                && *name != hyper::header::ACCEPT_ENCODING
                && (*name != hyper::header::AUTHORIZATION || mode != UseAutoAuthToken::Force)
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    out.push((
        hyper::header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    ));
    if !token.is_empty()
        && let Ok(mut value) = HeaderValue::from_str(token.expose())
    {
        value.set_sensitive(true);
        out.push((HeaderName::from_static(TOKEN_HEADER), value));
    }
    out
}

/// Forwards a request (its normalised `target` and whole `body`) to Vault, or answers it from the
/// cache.
pub async fn forward(parts: Parts, target: &Target, body: Bytes, shared: &Shared) -> Response<Full<Bytes>> {
    let auto = shared.token.borrow().clone();
    let mode = shared.use_auto_auth_token;
    let (token, is_auto) = pick_token(
        mode,
        client_token(&parts.headers),
        auto.as_ref().map(|a| &a.token),
    );
    let api = target.api();
    // an answer about the auto-auth token itself: Vault Agent's stripping applies
    let about_auto = is_auto
        && is_token_lookup_or_renew(api)
        && !(matches!(
            api.trim_end_matches('/'),
            "auth/token/lookup" | "auth/token/renew"
        ) && names_another_token(&body, token.expose()));
    if about_auto && parts.headers.contains_key(WRAP_TTL_HEADER) {
        // a wrapped answer would carry the token past both walls, to be unwrapped at Vault
        return error(
            StatusCode::BAD_REQUEST,
            "response wrapping is refused for a lookup or renewal of the agent's token",
        );
    }
    let headers = upstream_headers(&parts.headers, mode, &token);
    let forward = target.forward();
    tracing::debug!(method = %parts.method, "proxying");

    let key = shared.cache.as_ref().map(|_| {
        let mut keyed: Vec<(&HeaderName, &HeaderValue)> = headers
            .iter()
            .filter(|(n, _)| !consistency(n) && *n != TOKEN_HEADER)
            .map(|(n, v)| (n, v))
            .collect();
        // stable: by name, each name's values in the order sent
        keyed.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        Key::new(
            parts.method.as_str(),
            &target.path_and_query(),
            token.expose(),
            keyed.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
            &body,
        )
    });
    if let (Some(cache), Some(key)) = (&shared.cache, &key)
        && let Some(hit) = cache.get(key)
    {
        shared.metrics.proxy_success.inc();
        shared.metrics.cache_hit.inc();
        return hit.response();
    }

    let url = format!("{}{forward}", shared.vault.address());
    let mut upstream = shared.http.request(parts.method.clone(), url);
    for (name, value) in &headers {
        upstream = upstream.header(name, value);
    }
    let sent = async {
        let resp = upstream.body(body.clone()).send().await?;
        let status = resp.status();
        let headers: Vec<(HeaderName, HeaderValue)> = resp
            .headers()
            .iter()
            .filter(|(n, _)| !hop_by_hop(n))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let bytes = resp.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, bytes))
    }
    .await;
    let (status, mut headers, mut bytes) = match sent {
        Ok(ok) => ok,
        Err(err) => {
            shared.metrics.proxy_error.inc();
            // without the URL: its query is the client's
            let err = err.without_url();
            tracing::warn!(error = %chain(&err), "proxying to Vault failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to get the response: {}", chain(&err)),
            );
        }
    };
    if about_auto
        && status == StatusCode::OK
        && let Some(stripped) = strip_self(&bytes)
    {
        bytes = stripped;
    }
    // the second wall: whatever the path, the token and its accessor never leave
    if let Some(auto) = &auto {
        let secrets = Secrets::new(auto.token.expose(), auto.accessor.expose());
        headers.retain(|(_, value)| !secrets.in_bytes(value.as_bytes()));
        match scrub(&bytes, secrets) {
            Scrubbed::Clean => {}
            Scrubbed::Blanked(blanked) => bytes = blanked,
            Scrubbed::Withheld => {
                shared.metrics.proxy_error.inc();
                tracing::warn!("Vault's answer held the agent's token; withheld");
                return error(
                    StatusCode::BAD_GATEWAY,
                    "Vault's answer held the agent's token and was withheld",
                );
            }
        }
    }
    if status.is_client_error() || status.is_server_error() {
        shared.metrics.proxy_client_error.inc();
    } else {
        shared.metrics.proxy_success.inc();
    }
    let mut resp = Response::new(Full::new(bytes.clone()));
    *resp.status_mut() = status;
    for (name, value) in &headers {
        resp.headers_mut().append(name.clone(), value.clone());
    }
    if let (Some(cache), Some(key)) = (&shared.cache, key) {
        shared.metrics.cache_miss.inc();
        resp.headers_mut()
            .insert("x-cache", HeaderValue::from_static("MISS"));
        if status.is_success() {
            cache.after_success(&target.path, &token, &body);
            cache.store(key, &target.path, &token, status, headers, bytes);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_use_auto_auth_token() {
        let auto = Credential::new("auto");
        let pick = |mode, client| {
            let (t, is_auto) = pick_token(mode, client, Some(&auto));
            (t.expose().to_owned(), is_auto)
        };
        assert_eq!(pick(UseAutoAuthToken::True, None), ("auto".into(), true));
        assert_eq!(pick(UseAutoAuthToken::True, Some("mine")), ("mine".into(), false));
        assert_eq!(pick(UseAutoAuthToken::Force, Some("mine")), ("auto".into(), true));
        assert_eq!(pick(UseAutoAuthToken::False, None), (String::new(), false));
        assert_eq!(
            pick(UseAutoAuthToken::False, Some("mine")),
            ("mine".into(), false)
        );
    }

    #[test]
    fn a_bearer_token_is_the_clients_token_as_vault_reads_it() {
        let mut headers = HeaderMap::new();
        assert_eq!(client_token(&headers), None);
        headers.append("authorization", HeaderValue::from_static("Basic eDp5"));
        assert_eq!(client_token(&headers), None);
        headers.append("authorization", HeaderValue::from_static("Bearer s.bearer"));
        assert_eq!(client_token(&headers), Some("s.bearer"));
        headers.insert("x-vault-token", HeaderValue::from_static("s.header"));
        assert_eq!(client_token(&headers), Some("s.header"));
    }

    #[test]
    fn the_chosen_token_is_sent_and_compression_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert("x-vault-token", HeaderValue::from_static("s.client"));
        headers.insert("authorization", HeaderValue::from_static("Bearer s.b"));
        headers.insert("accept-encoding", HeaderValue::from_static("gzip"));
        headers.insert("x-vault-namespace", HeaderValue::from_static("ns1"));
        headers.insert("connection", HeaderValue::from_static("keep-alive"));
        let sent = upstream_headers(&headers, UseAutoAuthToken::Force, &Credential::new("auto"));
        let names: Vec<&str> = sent.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-vault-namespace", "accept-encoding", "x-vault-token"]);
        assert_eq!(sent[1].1, "identity");
        assert_eq!(sent[2].1, "auto");
        let sent = upstream_headers(&headers, UseAutoAuthToken::True, &Credential::new("s.client"));
        assert!(
            sent.iter()
                .any(|(n, v)| n == "authorization" && v == "Bearer s.b")
        );
    }
}
