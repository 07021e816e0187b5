//! The HTTP side: a rustls-configured `reqwest` client shared by vaultrs (logins, token lifecycle) and
//! the raw secret requests vaultrs cannot express (mount lookup, full secret struct with lease data,
//! LIST, arbitrary writes).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde_json::Value;
use vaultrs::client::{Client as _, VaultClient, VaultClientSettingsBuilder};

use crate::error::chain;
use crate::secret::Secret;
use crate::settings::VaultSettings;
use crate::{Error, Result};

/// Installs rustls's ring provider as the process default (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A connection to Vault: one HTTP client, reused for every request.
#[derive(Clone)]
pub struct Vault {
    http: reqwest::Client,
    /// What it was built from (a login with another client certificate derives a client from it).
    settings: VaultSettings,
    address: String,
    namespace: Option<String>,
    vaultrs: Arc<tokio::sync::Mutex<VaultClient>>,
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
        jwt: &'a Secret,
    },
    /// `auth/<mount>/login` with a JWT.
    Jwt {
        /// Mount without `auth/`.
        mount: &'a str,
        /// Vault role.
        role: &'a str,
        /// The JWT.
        jwt: &'a Secret,
    },
    /// `auth/<mount>/login` with AppRole credentials.
    AppRole {
        /// Mount without `auth/`.
        mount: &'a str,
        /// Role id.
        role_id: &'a Secret,
        /// Secret id (may be empty).
        secret_id: &'a Secret,
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
            tls_config(settings)?
        } else {
            no_tls_config()?
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
        let mut vaultrs_settings = VaultClientSettingsBuilder::default();
        vaultrs_settings
            .address(&settings.address)
            .token("")
            .ca_certs(Vec::new())
            .identity(None)
            .verify(true)
            .timeout(Some(settings.timeout));
        if let Some(ns) = &settings.namespace {
            vaultrs_settings.set_namespace(ns.clone());
        }
        let vaultrs_settings = vaultrs_settings
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let mut client = VaultClient::new(vaultrs_settings).map_err(|e| Error::Client(chain(&e)))?;
        // vaultrs builds its own HTTP client; swap in ours (CA, SNI override, proxy, pool).
        client.http.http = http.clone();
        Ok(Self {
            http,
            settings: settings.clone(),
            address: settings.address.clone(),
            namespace: settings.namespace.clone(),
            vaultrs: Arc::new(tokio::sync::Mutex::new(client)),
        })
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

    /// Runs `f` with the shared vaultrs client set to `token` (empty for logins).
    async fn with_vaultrs<T>(&self, token: Option<&Secret>, f: impl AsyncFnOnce(&VaultClient) -> T) -> T {
        let mut client = self.vaultrs.lock().await;
        client.set_token(token.map(Secret::expose).unwrap_or_default());
        let out = f(&client).await;
        client.set_token("");
        out
    }

    /// Logs in through one of vaultrs's auth helpers; returns the client token.
    pub async fn login(&self, login: Login<'_>) -> std::result::Result<Secret, String> {
        let auth = self
            .with_vaultrs(None, async |client| match login {
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
            })
            .await
            .map_err(|e| describe(&e))?;
        Ok(Secret::new(auth.client_token))
    }

    /// `lookup-self` through vaultrs.
    pub async fn lookup_self(&self, token: &Secret) -> Result<TokenInfo> {
        let info = self
            .with_vaultrs(Some(token), async |c| c.lookup().await)
            .await
            .map_err(|e| vault_err("lookup", "auth/token/lookup-self", &e))?;
        Ok(TokenInfo {
            ttl: Duration::from_secs(info.ttl),
            renewable: info.renewable.unwrap_or(false),
        })
    }

    /// `renew-self` through vaultrs; returns the new TTL.
    pub async fn renew_self(&self, token: &Secret) -> Result<Duration> {
        let auth = self
            .with_vaultrs(Some(token), async |c| c.renew(None).await)
            .await
            .map_err(|e| vault_err("renew", "auth/token/renew-self", &e))?;
        Ok(Duration::from_secs(auth.lease_duration))
    }

    /// `revoke-self` through vaultrs.
    pub async fn revoke_self(&self, token: &Secret) -> Result<()> {
        self.with_vaultrs(Some(token), async |c| c.revoke().await)
            .await
            .map_err(|e| vault_err("revoke", "auth/token/revoke-self", &e))
    }

    /// One raw request to `/v1/<path>` (path may carry a query string).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: &Secret,
        body: Option<&Value>,
    ) -> std::result::Result<Response, String> {
        let url = format!("{}/v1/{}", self.address, path.trim_start_matches('/'));
        let mut req = self.http.request(method, url).header("X-Vault-Request", "true");
        if !token.is_empty() {
            req = req.header("X-Vault-Token", token.expose());
        }
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).unwrap_or_default());
        }
        let resp = req.send().await.map_err(|e| chain(&e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| chain(&e))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Response { status, body })
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

/// For a plain-http Vault: trusts nothing, so no TLS connection can ever be made with it.
fn no_tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Client(e.to_string()))?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

fn tls_config(settings: &VaultSettings) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Client(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    let mut pems: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(path) = &settings.ca_cert {
        pems.push((
            path.display().to_string(),
            std::fs::read(path).map_err(Error::io("reading CA file", path))?,
        ));
    }
    if let Some(dir) = &settings.ca_path {
        let entries = std::fs::read_dir(dir).map_err(Error::io("reading CA directory", dir))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                pems.push((
                    path.display().to_string(),
                    std::fs::read(&path).map_err(Error::io("reading CA file", &path))?,
                ));
            }
        }
    }
    if let Some(pem) = &settings.ca_cert_pem {
        pems.push(("vault.ca_cert_pem".into(), pem.clone().into_bytes()));
    }
    for (origin, pem) in &pems {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Client(format!("CA {origin}: not PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::Client(format!("CA {origin}: unusable certificate: {e}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(Error::Client(format!("CA {origin}: no PEM certificate found")));
        }
    }
    if pems.is_empty() {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
    }
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::Client(format!("no usable CA certificate: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = if settings.tls_skip_verify {
        Arc::new(SkipVerify(provider))
    } else if let Some(name) = &settings.tls_server_name {
        let name = ServerName::try_from(name.clone()).map_err(|_| {
            Error::config(
                "vault.tls_server_name",
                format!("{name:?} is not a DNS name or IP address"),
            )
        })?;
        Arc::new(NameOverride {
            inner: verifier,
            name,
        })
    } else {
        verifier
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let mut config = match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| Error::Client(format!("client_cert {}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| Error::Client(format!("client_key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| Error::Client(format!("client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(Error::config(
                "vault.client_cert",
                "client_cert and client_key must be given together",
            ));
        }
    };
    // reqwest is built without HTTP/2 here: offer only HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Verifies the certificate against a configured name instead of the connected host's.
#[derive(Debug)]
struct NameOverride {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `tls_skip_verify`: accepts any certificate but still checks handshake signatures.
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
