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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenInfo {
    /// Remaining TTL (zero: never expires).
    pub ttl: Duration,
    /// Whether it can be renewed.
    pub renewable: bool,
}

impl Vault {
    /// Builds the client: TLS 1.2+ via rustls/ring, CA from file/dir/inline or the system store,
    /// optional client certificate, `tls_server_name`, `tls_skip_verify`, proxy and timeout.
    pub fn new(settings: &VaultSettings) -> Result<Self> {
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
        builder = match proxy {
            Some(proxy) => builder
                .proxy(reqwest::Proxy::all(&proxy).map_err(|e| {
                    Error::Client(format!("proxy_address {proxy:?} is not a valid URL: {e}"))
                })?),
            None => builder.no_proxy(),
        };
        let http = builder.build().map_err(|e| Error::Client(chain(&e)))?;
        Ok(Self {
            http,
            settings: settings.clone(),
        })
    }

    /// The HTTP client (the listener's proxy forwards through it).
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
