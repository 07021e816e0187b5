//! Serving certificate: loaded from PEM files (or handed over in memory by auto-TLS) and swapped
//! atomically when it changes. Each TLS handshake asks the resolver for the current pair, so a
//! rotation never drops an open connection: existing connections keep their session, new ones get
//! the new certificate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// Installs ring as the process-wide rustls provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Parses a PEM chain and key into a rustls [`CertifiedKey`], checking that they belong together.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, Error> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Tls(format!("certificate is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(Error::Tls("no certificate found in the PEM data".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| Error::Tls("private key is not a valid PEM key".into()))?;
    let ck = CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| Error::Tls(format!("certificate and key do not match: {e}")))?;
    Ok(ck)
}

/// The current certificate, swappable at any time.
#[derive(Debug, Default)]
pub struct CertStore {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl CertStore {
    /// Replaces the served certificate.
    pub fn set(&self, ck: CertifiedKey) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(ck));
    }

    /// Whether a certificate is available (readiness).
    pub fn is_ready(&self) -> bool {
        self.current.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A rustls server config for `store` with TLS 1.2+ (or 1.3 only) and ALPN h2/http1.1.
pub fn server_config(store: Arc<CertStore>, min_version: &str) -> Result<Arc<ServerConfig>, Error> {
    server_config_with(store, &TlsPolicy::parse(min_version, "")?)
}

/// A rustls server config for `store` under `policy`, with ALPN h2/http1.1.
pub fn server_config_with(store: Arc<CertStore>, policy: &TlsPolicy) -> Result<Arc<ServerConfig>, Error> {
    let mut provider = (*provider()).clone();
    if let Some(tls12) = &policy.tls12_suites {
        provider.cipher_suites.retain(|s| match s {
            SupportedCipherSuite::Tls13(_) => true,
            SupportedCipherSuite::Tls12(_) => tls12.contains(&s.suite()),
        });
    }
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(policy.versions)
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Protocol versions and TLS 1.2 cipher suites, from vault-k8s's `-tls-min-version` and
/// `-tls-cipher-suites` (Go's suite names).
#[derive(Debug, Clone)]
pub struct TlsPolicy {
    versions: &'static [&'static rustls::SupportedProtocolVersion],
    /// `None`: every suite rustls offers.
    tls12_suites: Option<Vec<CipherSuite>>,
    /// Listed suites that have no effect, with why (logged at start).
    pub ignored: Vec<String>,
}

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// Go's names of the TLS 1.2 suites rustls implements.
const GO_TLS12_SUITES: &[(&str, CipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Go's TLS 1.3 suite names: accepted by Go's parser, ignored by Go's server (TLS 1.3 suites are not
/// configurable there either).
const GO_TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Go's other suite names (`tls.CipherSuites()` and `tls.InsecureCipherSuites()`): CBC, RSA key
/// exchange, 3DES and RC4, none of which rustls implements.
const GO_LEGACY_SUITES: &[&str] = &[
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

impl TlsPolicy {
    /// Parses `min_version` (`tls12`/`tls13`) and a comma-separated list of Go cipher-suite names
    /// ("" = rustls' defaults). A name Go does not know is an error worded as vault-k8s words it;
    /// Go names rustls does not implement (CBC, RC4, 3DES, RSA key exchange) and TLS 1.3 names are
    /// accepted and reported in [`TlsPolicy::ignored`]; a list leaving TLS 1.2 without any suite is
    /// an error.
    pub fn parse(min_version: &str, cipher_suites: &str) -> Result<Self, Error> {
        let versions: &'static [&'static rustls::SupportedProtocolVersion] = match min_version {
            "tls12" => rustls::DEFAULT_VERSIONS,
            "tls13" => TLS13_ONLY,
            other => {
                return Err(Error::Config(format!(
                    "invalid or unsupported TLS version {other:?}: expected tls12 or tls13"
                )));
            }
        };
        let mut policy = TlsPolicy {
            versions,
            tls12_suites: None,
            ignored: Vec::new(),
        };
        if cipher_suites.trim().is_empty() {
            return Ok(policy);
        }
        let mut tls12 = Vec::new();
        for name in cipher_suites.split(',').map(str::trim) {
            if let Some((_, suite)) = GO_TLS12_SUITES.iter().find(|(n, _)| *n == name) {
                tls12.push(*suite);
            } else if GO_TLS13_SUITES.contains(&name) {
                policy.ignored.push(format!(
                    "{name}: TLS 1.3 suites are not configurable (in Go either); all three are offered"
                ));
            } else if GO_LEGACY_SUITES.contains(&name) {
                policy.ignored.push(format!(
                    "{name}: not implemented by rustls (CBC, RC4, 3DES or RSA key exchange)"
                ));
            } else {
                return Err(Error::Config(format!(
                    "failed to parse TLS cipher suites list {cipher_suites:?}: unsupported cipher {name:?} \
                     (--tls-cipher-suites / AGENT_INJECT_TLS_CIPHER_SUITES takes Go's names, e.g. \
                     TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)"
                )));
            }
        }
        if tls12.is_empty() && min_version == "tls12" {
            return Err(Error::Config(format!(
                "--tls-cipher-suites / AGENT_INJECT_TLS_CIPHER_SUITES {cipher_suites:?} leaves TLS 1.2 without a \
                 suite rustls implements; list at least one of: {}",
                GO_TLS12_SUITES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        policy.tls12_suites = Some(tls12);
        Ok(policy)
    }
}

/// Cert and key files, re-read when their contents change.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// PEM chain.
    pub cert: PathBuf,
    /// PEM key.
    pub key: PathBuf,
}

impl CertFiles {
    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| Error::Read {
                path: p.to_owned(),
                source,
            })
        };
        Ok((read(&self.cert)?, read(&self.key)?))
    }

    /// Loads the pair once into `store`.
    pub fn load_into(&self, store: &CertStore) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let (cert, key) = self.read()?;
        store.set(certified_key(&cert, &key)?);
        Ok((cert, key))
    }

    /// Polls the files every `interval` and swaps the certificate when their contents change and form
    /// a valid pair. A half-written pair (cert updated, key not yet) is retried on the next tick.
    pub fn watch(self, store: Arc<CertStore>, interval: Duration) -> WatchGuard {
        let handle = tokio::spawn(async move {
            let mut last = self.read().ok();
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Ok(now) = self.read() else { continue };
                if last.as_ref() == Some(&now) {
                    continue;
                }
                match certified_key(&now.0, &now.1) {
                    Ok(ck) => {
                        store.set(ck);
                        tracing::info!(cert = %self.cert.display(), "serving certificate reloaded");
                        last = Some(now);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "certificate files changed but are not a usable pair yet")
                    }
                }
            }
        });
        WatchGuard(handle)
    }
}

/// Stops the certificate watcher when dropped.
#[derive(Debug)]
pub struct WatchGuard(tokio::task::JoinHandle<()>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
