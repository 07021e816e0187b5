//! Forwarding a Vault API request, as Vault Agent's proxy handler does: the client's token, or the
//! auto-auth token when `use_auto_auth_token` is `true` and the client sent none, or always with
//! `force`; answers from the cache when it holds one; the auto-auth token's own id and accessor
//! stripped from `lookup-self`/`renew-self` answers, so an app never learns the agent's token.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use super::cache::Key;
use super::{Shared, error, read_body};
use crate::credential::Credential;
use crate::error::chain;
use ferrovault_contract::UseAutoAuthToken;

const TOKEN_HEADER: &str = "x-vault-token";
const NAMESPACE_HEADER: &str = "x-vault-namespace";

/// Headers that belong to one connection, not to the request or answer.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
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

/// Forwards `req` to Vault (or answers it from the cache).
pub async fn forward(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    let path = parts.uri.path().to_owned();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let auto = shared.token.borrow().clone();
    let (token, is_auto) = pick_token(shared.use_auto_auth_token, header(TOKEN_HEADER), auto.as_ref());
    let namespace = header(NAMESPACE_HEADER).unwrap_or_default().to_owned();
    tracing::debug!(method = %parts.method, path, "proxying");

    let key = shared.cache.as_ref().map(|_| {
        Key::new(
            parts.method.as_str(),
            &path_and_query,
            &namespace,
            token.expose(),
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

    let url = format!("{}{path_and_query}", shared.vault.address());
    let mut upstream = shared.vault.http().request(parts.method.clone(), url);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) && name != TOKEN_HEADER && name != hyper::header::AUTHORIZATION {
            upstream = upstream.header(name, value);
        }
    }
    if shared.use_auto_auth_token != UseAutoAuthToken::Force
        && let Some(auth) = parts.headers.get(hyper::header::AUTHORIZATION)
    {
        upstream = upstream.header(hyper::header::AUTHORIZATION, auth);
    }
    if !token.is_empty() {
        upstream = upstream.header(TOKEN_HEADER, token.expose());
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
    let (status, headers, mut bytes) = match sent {
        Ok(ok) => ok,
        Err(err) => {
            shared.metrics.proxy_error.inc();
            tracing::warn!(path, error = %chain(&err), "proxying to Vault failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("failed to get the response: {}", chain(&err)),
            );
        }
    };
    if is_auto && status == StatusCode::OK {
        bytes = sanitize(&path, &body, &token, bytes);
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
            cache.after_success(&path, &token, &body);
            cache.store(key, &path, &token, status, headers, bytes);
        }
    }
    resp
}

/// Strips the auto-auth token's id and accessor from a `lookup-self`/`renew-self` answer (and from
/// `lookup`/`renew` of that token), as Vault Agent does.
fn sanitize(path: &str, request: &[u8], token: &Credential, answer: Bytes) -> Bytes {
    let p = path.trim_start_matches("/v1/");
    let about_auto = match p {
        "auth/token/lookup-self" | "auth/token/renew-self" => true,
        "auth/token/lookup" | "auth/token/renew" => serde_json::from_slice::<Value>(request)
            .ok()
            .and_then(|v| v["token"].as_str().map(|t| t.is_empty() || t == token.expose()))
            .unwrap_or(false),
        _ => false,
    };
    if !about_auto {
        return answer;
    }
    let Ok(mut secret) = serde_json::from_slice::<Value>(&answer) else {
        return answer;
    };
    if let Some(data) = secret.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("id");
        data.remove("accessor");
    }
    if let Some(auth) = secret.get_mut("auth").and_then(Value::as_object_mut) {
        auth.insert("client_token".into(), Value::String(String::new()));
        auth.insert("accessor".into(), Value::String(String::new()));
    }
    Bytes::from(secret.to_string())
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
    fn the_auto_auth_token_never_leaves_through_lookup_self() {
        let answer = Bytes::from(r#"{"data":{"id":"auto","accessor":"acc","ttl":30}}"#);
        let out = sanitize(
            "/v1/auth/token/lookup-self",
            b"",
            &Credential::new("auto"),
            answer.clone(),
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"data": {"ttl": 30}}));
        let other = sanitize(
            "/v1/auth/token/lookup",
            br#"{"token":"other"}"#,
            &Credential::new("auto"),
            answer.clone(),
        );
        assert_eq!(other, answer);
    }
}
