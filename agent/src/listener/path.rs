//! The request target the listener decides on and forwards (pure). A request's path is read the way
//! Vault (Go's `net/http`) reads it — percent-decoded once (`%2D` is `-`, `%2F` is `/`), `//`
//! collapsed, `.` and `..` resolved, a trailing `/` kept — and every decision (route, token
//! stripping, caching, eviction) is made on that path; the same path is what goes to Vault, so what
//! is decided is what is sent. Targets that are not origin-form (`http://host/…`, `host:port`, `*`)
//! are refused.

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// Why a request target is refused (the listener answers 400; the target itself is never echoed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Absolute-form, authority-form or `*`: the listener is not an HTTP proxy.
    NotOriginForm,
    /// The decoded path is not UTF-8 or holds a control character.
    BadPath,
}

impl Refused {
    /// The message for the client.
    pub fn message(self) -> &'static str {
        match self {
            Self::NotOriginForm => {
                "the request target must be a path (origin-form), not a URL, an authority or *"
            }
            Self::BadPath => "the request path must decode to UTF-8 without control characters",
        }
    }
}

/// A request target, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The decoded, cleaned path (`/v1/auth/token/lookup-self`).
    pub path: String,
    /// The query as the client sent it (without `?`), if any.
    pub query: Option<String>,
}

/// What a path segment may hold unescaped when forwarded; everything else is percent-encoded, so a
/// decoded `%3F` or `%25` stays data and never turns into a query or an escape.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

impl Target {
    /// Reads a request's target: `uri` as hyper parsed it.
    pub fn new(uri: &hyper::Uri) -> Result<Self, Refused> {
        if uri.scheme().is_some() || uri.authority().is_some() || !uri.path().starts_with('/') {
            return Err(Refused::NotOriginForm);
        }
        let decoded = percent_decode_str(uri.path())
            .decode_utf8()
            .map_err(|_| Refused::BadPath)?;
        if decoded.chars().any(char::is_control) {
            return Err(Refused::BadPath);
        }
        Ok(Self {
            path: clean(&decoded),
            query: uri.query().map(str::to_owned),
        })
    }

    /// The path and query to send to Vault: the cleaned path, re-encoded, and the query unchanged.
    pub fn forward(&self) -> String {
        let path = utf8_percent_encode(&self.path, PATH_ESCAPES).to_string();
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
    }

    /// The path and query, decoded path first (the cache key's and the logs' spelling).
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The Vault API path: after `/v1/`, without a namespace prefix ([`api_path`]).
    pub fn api(&self) -> &str {
        api_path(&self.path)
    }
}

/// Go's `net/http` `cleanPath`: `path.Clean` (no `//`, `.` or `..`; `..` stops at the root), with a
/// trailing `/` kept.
pub fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        return "/".to_owned();
    }
    if path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The Vault API path of a cleaned path: what follows `/v1/`, with a namespace prefix
/// (`/v1/ns1/ns2/auth/token/lookup-self`) dropped — the part from the first `sys` or `auth`
/// segment, names no namespace may take. A path with neither is returned whole after `/v1/`; so
/// may a secret path that holds a `sys` or `auth` segment be read as an API path: every decision
/// made on it then errs on the safe side (scrubbed, not cached, evicted).
pub fn api_path(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v1/") else {
        return path.trim_start_matches('/');
    };
    let mut offset = 0;
    for seg in rest.split('/') {
        if seg == "sys" || seg == "auth" {
            return &rest[offset..];
        }
        offset += seg.len() + 1;
    }
    rest
}

/// Whether `api` (an [`api_path`]) is one of the token store's operations on a token named in the
/// request or the request's own token, whose answer holds that token: `lookup-self`, `renew-self`,
/// `lookup`, `renew` (a trailing `/` ignored).
pub fn is_token_lookup_or_renew(api: &str) -> bool {
    matches!(
        api.trim_end_matches('/'),
        "auth/token/lookup-self" | "auth/token/renew-self" | "auth/token/lookup" | "auth/token/renew"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(raw: &str) -> Result<Target, Refused> {
        // hyper reads the request line into a `Uri` the same way
        Target::new(&raw.parse::<hyper::Uri>().expect("a URI"))
    }

    fn path(raw: &str) -> String {
        target(raw).expect("accepted").path
    }

    #[test]
    fn exploits_of_the_review_normalise_to_the_clean_path() {
        for raw in [
            "/v1/auth/token/lookup%2Dself",
            "/v1/auth/token/lookup%2dself",
            "/v1/auth/token//lookup-self",
            "/v1//auth/token/lookup-self",
            "/v1/auth/token/./lookup-self",
            "/v1/sys/../auth/token/lookup-self",
            "/v1/auth%2Ftoken%2Flookup-self",
            "/v1/auth%2ftoken%2flookup-self",
            "/v1/secret/../../v1/auth/token/lookup-self",
            "/v1/%61uth/token/lookup-self",
        ] {
            let t = target(raw).unwrap();
            assert_eq!(t.path, "/v1/auth/token/lookup-self", "{raw}");
            assert_eq!(t.api(), "auth/token/lookup-self", "{raw}");
            assert_eq!(t.forward(), "/v1/auth/token/lookup-self", "{raw}");
            assert!(is_token_lookup_or_renew(t.api()), "{raw}");
        }
        assert_eq!(path("/v1/auth/token/renew%2Dself"), "/v1/auth/token/renew-self");
    }

    #[test]
    fn cleaning_is_gos_clean_path() {
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("//"), "/");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean("/../../x"), "/x");
        assert_eq!(clean("/a/b/.."), "/a");
        assert_eq!(clean("/a/b/../"), "/a/");
        assert_eq!(clean("/v1/secret/metadata/"), "/v1/secret/metadata/");
        assert_eq!(clean("/v1/secret//metadata//"), "/v1/secret/metadata/");
        assert_eq!(clean("/a/./b/."), "/a/b");
    }

    #[test]
    fn ordinary_requests_are_unchanged() {
        for raw in [
            "/v1/secret/data/app",
            "/v1/secret/metadata/?list=true",
            "/v1/sys/leases/lookup",
            "/v1/auth/approle/login",
            "/v1/secret/data/a%20b",
            "/v1/secret/data/caf%C3%A9",
        ] {
            assert_eq!(target(raw).unwrap().forward(), raw);
        }
        let t = target("/v1/secret/data/app?version=2&x=%2F").unwrap();
        assert_eq!(t.query.as_deref(), Some("version=2&x=%2F"));
        assert_eq!(t.forward(), "/v1/secret/data/app?version=2&x=%2F");
    }

    #[test]
    fn decoded_specials_stay_data_when_forwarded() {
        // a decoded `?`, `#` or `%` is re-encoded: it never turns into a query or another escape
        assert_eq!(target("/v1/a%3Fb").unwrap().forward(), "/v1/a%3Fb");
        assert_eq!(target("/v1/a%23b").unwrap().forward(), "/v1/a%23b");
        // decoded once, as Vault does: `%252D` is the three characters `%2D`, not `-`
        let t = target("/v1/auth/token/lookup%252Dself").unwrap();
        assert_eq!(t.path, "/v1/auth/token/lookup%2Dself");
        assert!(!is_token_lookup_or_renew(t.api()));
        assert_eq!(t.forward(), "/v1/auth/token/lookup%252Dself");
    }

    #[test]
    fn targets_that_are_not_paths_are_refused() {
        assert_eq!(
            target("http://127.0.0.1:8200/v1/auth/token/lookup-self"),
            Err(Refused::NotOriginForm)
        );
        assert_eq!(target("127.0.0.1:8200"), Err(Refused::NotOriginForm));
        assert_eq!(target("*"), Err(Refused::NotOriginForm));
        assert_eq!(target("/v1/a%00b"), Err(Refused::BadPath));
        assert_eq!(target("/v1/a%0Ab"), Err(Refused::BadPath));
        assert_eq!(target("/v1/a%FFb"), Err(Refused::BadPath));
    }

    #[test]
    fn namespace_prefixes_are_dropped_from_the_api_path() {
        assert_eq!(
            api_path("/v1/ns1/ns2/auth/token/lookup-self"),
            "auth/token/lookup-self"
        );
        assert_eq!(api_path("/v1/ns1/sys/leases/renew"), "sys/leases/renew");
        assert_eq!(api_path("/v1/secret/data/app"), "secret/data/app");
        assert_eq!(api_path("/v1/auth/token/lookup/"), "auth/token/lookup/");
        assert!(is_token_lookup_or_renew(api_path("/v1/ns1/auth/token/lookup/")));
        assert!(is_token_lookup_or_renew(api_path("/v1/ns1/ns2/auth/token/renew")));
        assert!(!is_token_lookup_or_renew(api_path(
            "/v1/auth/token/lookup-accessor"
        )));
        assert!(!is_token_lookup_or_renew(api_path("/v1/auth/token/create")));
    }
}
