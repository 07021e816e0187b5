//! rustls client configurations for Vault: CA from file, directory or inline PEM (else the
//! system store), an optional client certificate, a server-name override and skip-verify.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::settings::VaultSettings;
use crate::{Error, Result};

/// For a plain-http Vault: trusts nothing, so no TLS connection can ever be made with it.
pub(super) fn no_tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Client(e.to_string()))?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

pub(super) fn tls_config(settings: &VaultSettings) -> Result<rustls::ClientConfig> {
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
