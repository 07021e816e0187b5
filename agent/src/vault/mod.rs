//! The HTTP side. [`Vault`] is the unauthenticated client (one rustls-configured `reqwest` client
//! per agent): it logs in. Each login yields a [`TokenClient`] that owns its token for its whole
//! life — vaultrs for the token lifecycle, raw requests for what vaultrs cannot express (mount
//! lookup, the full secret struct with lease data, LIST, writes, lease renewal). Nothing swaps a
//! token on a shared client.

mod tls;
mod token;

pub use token::TokenClient;

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

use crate::credential::Credential;
use crate::error::chain;
use crate::settings::VaultSettings;
use crate::{Error, Result};

/// Installs rustls's ring provider as the process default (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A TLS config that trusts nothing, for clients that only speak plain HTTP (the reload actions):
/// reqwest then loads no trust store.
pub(crate) fn no_tls_config() -> Result<rustls::ClientConfig> {
    tls::no_tls_config()
}

/// The unauthenticated side of Vault: one HTTP client (pool, TLS, proxy) that every [`TokenClient`]
/// made from it shares.
#[derive(Clone)]
pub struct Vault {
    http: reqwest::Client,
    /// What it was built from (a login with another client certificate derives a client from it).
    settings: VaultSettings,
}

/// A login request for one of vaultrs's auth helpers.
pub enum Login<'a> {
    /// `auth/<mount>/login` with a Kubernetes service-account token.
    Kubernetes {
        /// Mount without `auth/`.
        mount: &'a str,
        /// Vault role.
        role: &'a str,
        /// The service-account token.
        jwt: &'a Credential,
    },
    /// `auth/<mount>/login` with a JWT.
    Jwt {
        /// Mount without `auth/`.
        mount: &'a str,
        /// Vault role.
        role: &'a str,
        /// The JWT.
        jwt: &'a Credential,
    },
    /// `auth/<mount>/login` with AppRole credentials.
    AppRole {
        /// Mount without `auth/`.
        mount: &'a str,
        /// Role id.
        role_id: &'a Credential,
        /// Secret id (may be empty).
        secret_id: &'a Credential,
    },
    /// `auth/<mount>/login` with the client certificate this client presents.
    Cert {
        /// Mount without `auth/`.
        mount: &'a str,
        /// Certificate role; empty: every role the certificate matches.
        name: &'a str,
    },
}

/// A raw Vault response: the status and the JSON body (`Null` for 204).
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Value,
}

/// What `lookup-self`/login says about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Remaining TTL (zero: never expires).
    pub ttl: Duration,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// The token's accessor (empty for batch tokens); the listener keeps it out of answers.
    pub accessor: Credential,
}

impl Vault {
    /// Builds the client: TLS 1.2+ via rustls/ring, CA from file/dir/inline or the system store,
    /// optional client certificate, `tls_server_name`, `tls_skip_verify`, proxy and timeout. It
    /// follows a redirect only within Vault's own origin ([`same_origin_redirects`]): a token is never
    /// sent to another host.
    pub fn new(settings: &VaultSettings) -> Result<Self> {
        let http = builder(settings)?
            .redirect(same_origin_redirects())
            .build()
            .map_err(|e| Error::Client(chain(&e)))?;
        Ok(Self {
            http,
            settings: settings.clone(),
        })
    }

    /// A client with the same settings that follows no redirect at all: the listener's proxy, which
    /// hands a redirect back to its client as Vault sent it.
    pub fn proxy_client(&self) -> Result<reqwest::Client> {
        builder(&self.settings)?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Client(chain(&e)))
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Vault's base address, without a trailing `/`.
    pub fn address(&self) -> &str {
        &self.settings.address
    }

    /// A vaultrs client over this HTTP client, with `token` ("" for logins).
    fn vaultrs(&self, token: &str) -> Result<VaultClient> {
        let mut vaultrs_settings = VaultClientSettingsBuilder::default();
        vaultrs_settings
            .address(&self.settings.address)
            .token(token)
            .ca_certs(Vec::new())
            .identity(None)
            .verify(true)
            .timeout(Some(self.settings.timeout));
        if let Some(ns) = &self.settings.namespace {
            vaultrs_settings.set_namespace(ns.clone());
        }
        let vaultrs_settings = vaultrs_settings
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let mut client = VaultClient::new(vaultrs_settings).map_err(|e| Error::Client(chain(&e)))?;
        // vaultrs builds its own HTTP client; swap in ours (CA, SNI override, proxy, pool).
        client.http.http = self.http.clone();
        Ok(client)
    }

    /// The client of one login session: `token` for every request it makes.
    pub fn client(&self, token: Credential) -> Result<TokenClient> {
        let vaultrs = self.vaultrs(token.expose())?;
        Ok(TokenClient::new(self.clone(), token, vaultrs))
    }

    /// A client like this one presenting another certificate (the cert auth method's own), built
    /// anew so the files are read at every login.
    pub fn with_identity(
        &self,
        ca_cert: Option<&Path>,
        client_cert: &Path,
        client_key: &Path,
    ) -> Result<Self> {
        let mut settings = self.settings.clone();
        if let Some(ca) = ca_cert {
            settings.ca_cert = Some(ca.to_owned());
            settings.ca_path = None;
            settings.ca_cert_pem = None;
        }
        settings.client_cert = Some(client_cert.to_owned());
        settings.client_key = Some(client_key.to_owned());
        Self::new(&settings)
    }

    /// Logs in through one of vaultrs's auth helpers; returns the client token.
    pub async fn login(&self, login: Login<'_>) -> std::result::Result<Credential, String> {
        let client = self.vaultrs("").map_err(|e| e.to_string())?;
        let client = &client;
        let auth = async {
            match login {
                Login::Kubernetes { mount, role, jwt } => {
                    vaultrs::auth::kubernetes::login(client, mount, role, jwt.expose()).await
                }
                Login::Jwt { mount, role, jwt } => {
                    vaultrs::auth::oidc::login(client, mount, jwt.expose(), Some(role.to_owned())).await
                }
                Login::AppRole {
                    mount,
                    role_id,
                    secret_id,
                } => vaultrs::auth::approle::login(client, mount, role_id.expose(), secret_id.expose()).await,
                Login::Cert { mount, name } => vaultrs::auth::cert::login(client, mount, name).await,
            }
        }
        .await
        .map_err(|e| describe(&e))?;
        Ok(Credential::new(auth.client_token))
    }
}

/// The most redirects one request follows (reqwest's and Go's default).
const MAX_REDIRECTS: usize = 10;

/// Follows a redirect only when it stays on the origin (scheme, host and port) of the request that
/// led to it; a redirect elsewhere is an error, so neither `X-Vault-Token` nor any other header goes
/// to another host (reqwest drops `Authorization` on such a redirect, but not Vault's own header).
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let next = attempt.url();
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| same_origin(first, next));
        if !same {
            attempt.error(CrossOriginRedirect)
        } else if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(TooManyRedirects)
        } else {
            attempt.follow()
        }
    })
}

/// Whether two URLs share scheme, host and port (the default port of the scheme when none is given).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A redirect to another scheme, host or port, not followed.
#[derive(Debug)]
struct CrossOriginRedirect;

impl std::fmt::Display for CrossOriginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault redirected to another scheme, host or port; not followed (the token stays with Vault's address)")
    }
}

impl std::error::Error for CrossOriginRedirect {}

/// More than [`MAX_REDIRECTS`] redirects.
#[derive(Debug)]
struct TooManyRedirects;

impl std::fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {MAX_REDIRECTS} redirects")
    }
}

impl std::error::Error for TooManyRedirects {}

/// The HTTP client's settings, common to the agent's client and the proxy's.
fn builder(settings: &VaultSettings) -> Result<reqwest::ClientBuilder> {
    install_crypto_provider();
    let idle = if settings.disable_idle_connections || settings.disable_keep_alives {
        0
    } else {
        settings.max_connections
    };
    let mut builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(idle);
    if settings.disable_keep_alives {
        // as Go's DisableKeepAlives: ask the server to close too
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::CONNECTION,
            reqwest::header::HeaderValue::from_static("close"),
        );
        builder = builder.default_headers(headers).http1_only();
    }
    // Always hand reqwest a TLS config: left alone it loads the whole system trust store (~150
    // files) at start-up even for an http:// Vault, costing start time and memory per pod.
    builder = builder.tls_backend_preconfigured(if settings.address.starts_with("https://") {
        tls::tls_config(settings)?
    } else {
        tls::no_tls_config()?
    });
    let proxy = settings
        .proxy
        .clone()
        .or_else(|| std::env::var("HTTPS_PROXY").ok().filter(|p| !p.is_empty()));
    Ok(match proxy {
        Some(proxy) => builder.proxy(
            reqwest::Proxy::all(&proxy)
                .map_err(|e| Error::Client(format!("proxy_address {proxy:?} is not a valid URL: {e}")))?,
        ),
        None => builder.no_proxy(),
    })
}

/// Vault's `errors` list of a failed response, for messages (never the request).
pub fn api_errors(resp: &Response) -> String {
    let errors: Vec<&str> = resp.body["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if errors.is_empty() {
        format!("HTTP {}", resp.status.as_u16())
    } else {
        format!("HTTP {}: {}", resp.status.as_u16(), errors.join("; "))
    }
}

/// A vaultrs error as an [`Error::Vault`].
pub fn vault_err(operation: &'static str, path: &str, err: &vaultrs::error::ClientError) -> Error {
    let status = match err {
        vaultrs::error::ClientError::APIError { code, .. } => Some(*code),
        _ => None,
    };
    Error::Vault {
        operation,
        path: path.to_owned(),
        message: describe(err),
        status,
    }
}

/// A vaultrs error's status and Vault's error list, or its transport cause.
pub fn describe(err: &vaultrs::error::ClientError) -> String {
    match err {
        vaultrs::error::ClientError::APIError { code, errors } if errors.is_empty() => format!("HTTP {code}"),
        vaultrs::error::ClientError::APIError { code, errors } => {
            format!("HTTP {code}: {}", errors.join("; "))
        }
        other => chain(other),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::{Ipv4Addr, TcpListener};
    use std::sync::{Arc, Mutex};

    use super::*;

    fn settings(address: String) -> VaultSettings {
        VaultSettings {
            address,
            ca_cert: None,
            ca_path: None,
            ca_cert_pem: None,
            client_cert: None,
            client_key: None,
            tls_skip_verify: false,
            tls_server_name: None,
            proxy: None,
            namespace: None,
            timeout: Duration::from_secs(30),
            max_connections: 4,
            disable_idle_connections: false,
            disable_keep_alives: false,
        }
    }

    /// A one-thread HTTP server on `ip`: every request's header block is recorded; requests for
    /// `/v1/moved` get a 307 to `location`, the rest `200 {}`.
    fn server(ip: Ipv4Addr, location: Option<String>) -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind((ip, 0)).expect("bind on 127.0.0.0/8");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                let moved = head.starts_with("get /v1/moved ");
                log.lock().unwrap().push(head);
                let answer = match (&location, moved) {
                    (Some(to), true) => format!(
                        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    _ => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_owned(),
                };
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn the_token_never_follows_a_redirect_to_another_host() {
        // another address and port of the loopback network: another origin
        let (other, other_seen) = server(Ipv4Addr::new(127, 0, 0, 2), None);
        let (vault, vault_seen) = server(
            Ipv4Addr::LOCALHOST,
            Some(format!("http://127.0.0.2:{other}/v1/stolen")),
        );
        let client = Vault::new(&settings(format!("http://127.0.0.1:{vault}")))
            .unwrap()
            .client(Credential::new("s.redirect-marker"))
            .unwrap();
        let err = client
            .request(reqwest::Method::GET, "moved", None)
            .await
            .expect_err("a cross-host redirect is not followed");
        assert!(err.contains("another scheme, host or port"), "{err}");
        assert!(!err.contains("s.redirect-marker"), "{err}");
        assert!(vault_seen.lock().unwrap()[0].contains("x-vault-token: s.redirect-marker"));
        assert!(
            other_seen.lock().unwrap().is_empty(),
            "the other host was asked: {:?}",
            other_seen.lock().unwrap()
        );
    }

    #[tokio::test]
    async fn a_redirect_on_vaults_own_origin_is_followed_with_the_token() {
        let (vault, seen) = server(Ipv4Addr::LOCALHOST, Some("/v1/here".to_owned()));
        let client = Vault::new(&settings(format!("http://127.0.0.1:{vault}")))
            .unwrap()
            .client(Credential::new("s.same-origin"))
            .unwrap();
        let resp = client.request(reqwest::Method::GET, "moved", None).await.unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[1].starts_with("get /v1/here"), "{seen:?}");
        assert!(seen[1].contains("x-vault-token: s.same-origin"), "{seen:?}");
    }

    #[tokio::test]
    async fn the_proxys_client_follows_no_redirect() {
        let (vault, seen) = server(Ipv4Addr::LOCALHOST, Some("/v1/here".to_owned()));
        let http = Vault::new(&settings(format!("http://127.0.0.1:{vault}")))
            .unwrap()
            .proxy_client()
            .unwrap();
        let resp = http
            .get(format!("http://127.0.0.1:{vault}/v1/moved"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(resp.headers()["location"], "/v1/here");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(same_origin(
            &url("http://127.0.0.1:8200/a"),
            &url("http://127.0.0.1:8200/b?c")
        ));
        assert!(same_origin(&url("https://vault/a"), &url("https://vault:443/b")));
        assert!(!same_origin(
            &url("http://127.0.0.1:8200/a"),
            &url("http://127.0.0.1:8201/a")
        ));
        assert!(!same_origin(
            &url("http://127.0.0.1:8200/a"),
            &url("http://127.0.0.2:8200/a")
        ));
        assert!(!same_origin(
            &url("http://127.0.0.1:8200/a"),
            &url("https://127.0.0.1:8200/a")
        ));
        assert!(!same_origin(
            &url("http://127.0.0.1:8200/a"),
            &url("http://localhost:8200/a")
        ));
    }
}
