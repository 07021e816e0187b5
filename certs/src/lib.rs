//! Certificates for ferrovault's admission webhook.
//!
//! The Kubernetes API server calls a mutating webhook over HTTPS and checks the serving certificate
//! against the `caBundle` of the MutatingWebhookConfiguration. This crate makes that pair: a small
//! ECDSA P-256 CA ([`generate_ca`]) and a serving certificate for the webhook's Service DNS names
//! ([`issue_leaf`], [`service_dns_names`]).
//!
//! The functions in this crate root are pure (no file or network IO) so the webhook's auto-TLS can
//! call them directly. [`files`] writes a bundle to disk (atomically, key mode 0600, never replacing
//! a key unless asked) and [`cli`] is the `ferrovault-certs generate` command built on both.

#![deny(missing_docs)]

pub mod cli;
pub mod files;

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData as _, SanType,
};
use time::OffsetDateTime;

/// How far back `notBefore` is set, so that nodes whose clocks lag slightly accept a fresh certificate.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Errors making, reading or writing certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A DNS name is not usable in a certificate.
    #[error("{field}: {value:?} is not a valid DNS name ({accepted})")]
    InvalidName {
        /// Which input held the name (`--service`, `--namespace`, `--dns`, `dns`).
        field: &'static str,
        /// The rejected name.
        value: String,
        /// What would have been accepted.
        accepted: &'static str,
    },
    /// A leaf certificate needs at least one DNS name or IP address.
    #[error("a serving certificate needs at least one DNS name or IP address")]
    NoSubjectAltNames,
    /// The validity period is zero or too large to represent.
    #[error("validity of {days} days is out of range (accepted: 1 to 36500 days)")]
    InvalidValidity {
        /// The requested validity, in whole days.
        days: u64,
    },
    /// rcgen failed to build or sign a certificate.
    #[error("failed to {action}")]
    Generate {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A certificate PEM could not be parsed.
    #[error("{what} is not a PEM-encoded X.509 certificate: {reason}")]
    ParseCertificate {
        /// Which certificate.
        what: &'static str,
        /// The parser's complaint (never contains key material).
        reason: String,
    },
    /// A private key PEM could not be parsed. The key itself is never part of the message.
    #[error("{what} is not a PEM-encoded PKCS#8 ECDSA P-256 private key")]
    ParseKey {
        /// Which key.
        what: &'static str,
    },
    /// The certificate given as CA is not a CA, or its key does not match it.
    #[error("CA certificate and key are unusable: {reason}")]
    InvalidCa {
        /// Why.
        reason: &'static str,
    },
    /// An output file already exists and overwriting was not requested.
    #[error("{} already exists; refusing to overwrite it (pass --force to replace it)", path.display())]
    Exists {
        /// The existing file.
        path: std::path::PathBuf,
    },
    /// A file could not be written.
    #[error("failed to {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A certificate authority: its certificate and private key, both PEM.
///
/// `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ca {
    /// The CA certificate (this is what goes into a webhook's `caBundle`).
    pub cert_pem: String,
    /// The CA's PKCS#8 private key.
    pub key_pem: String,
}

/// A serving certificate and its private key, both PEM. `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The certificate.
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

// === impl Ca ===

impl Ca {
    /// The `caBundle` value for a webhook: the base64 of the CA certificate PEM.
    pub fn ca_bundle(&self) -> String {
        ca_bundle(&self.cert_pem)
    }
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

// === impl Leaf ===

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaf")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The DNS names under which a Service is reachable from inside the cluster:
/// `NAME`, `NAME.NS`, `NAME.NS.svc` and `NAME.NS.svc.cluster.local`.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Base64 of a PEM certificate (or bundle), the encoding of a webhook's `caBundle` field.
pub fn ca_bundle(cert_pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(cert_pem.as_bytes())
}

/// Makes a new self-signed ECDSA P-256 CA valid from now (minus a minute of clock skew) for
/// `validity`. The certificate has `CA:TRUE, pathlen:0` and key usages keyCertSign, cRLSign and
/// digitalSignature.
pub fn generate_ca(common_name: &str, validity: Duration) -> Result<Ca> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate("generate the CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - CLOCK_SKEW;
    params.not_after = now + to_time_duration(validity)?;
    let cert = params
        .self_signed(&key)
        .map_err(generate("self-sign the CA certificate"))?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Checks that `cert_pem` is a CA certificate and `key_pem` its private key, and returns them as a
/// [`Ca`] (e.g. one read back from a Kubernetes Secret).
pub fn ca_from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca> {
    let key = parse_key(key_pem, "CA key")?;
    let der = first_certificate_der(cert_pem, "CA certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| Error::ParseCertificate {
        what: "CA certificate",
        reason: e.to_string(),
    })?;
    if !cert.is_ca() {
        return Err(Error::InvalidCa {
            reason: "the certificate does not have basicConstraints CA:TRUE",
        });
    }
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(Error::InvalidCa {
            reason: "the private key does not belong to the certificate",
        });
    }
    Ok(Ca {
        cert_pem: cert_pem.to_owned(),
        key_pem: key_pem.to_owned(),
    })
}

/// Issues a serving certificate signed by `ca` for the given DNS names and IP addresses (all become
/// subjectAltNames; the first DNS name is also the common name). Extended key usage serverAuth, key
/// usage digitalSignature, ECDSA P-256. The validity ends after `validity` or when the CA expires,
/// whichever comes first.
pub fn issue_leaf(ca: &Ca, dns: &[String], ips: &[IpAddr], validity: Duration) -> Result<Leaf> {
    if dns.is_empty() && ips.is_empty() {
        return Err(Error::NoSubjectAltNames);
    }
    for name in dns {
        validate_dns_name("dns", name)?;
    }
    let ca_key = parse_key(&ca.key_pem, "CA key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|e| Error::ParseCertificate {
        what: "CA certificate",
        reason: e.to_string(),
    })?;
    let ca_not_after = OffsetDateTime::from(not_after(&ca.cert_pem)?);

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate("generate the serving key"))?;
    let mut params = CertificateParams::default();
    let common_name = dns.first().map_or_else(|| ips[0].to_string(), Clone::clone);
    params.distinguished_name = distinguished_name(&common_name);
    params.subject_alt_names = dns
        .iter()
        .map(|name| {
            name.clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(generate("encode a DNS subjectAltName"))
        })
        .chain(ips.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
        .collect::<Result<_>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - CLOCK_SKEW;
    params.not_after = (now + to_time_duration(validity)?).min(ca_not_after);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(generate("sign the serving certificate"))?;
    Ok(Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// When the first certificate in `cert_pem` expires (its `notAfter`).
pub fn not_after(cert_pem: &str) -> Result<SystemTime> {
    let der = first_certificate_der(cert_pem, "certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| Error::ParseCertificate {
        what: "certificate",
        reason: e.to_string(),
    })?;
    Ok(cert.validity().not_after.to_datetime().into())
}

/// Checks that `value` can be a DNS subjectAltName: 1 to 253 characters, dot-separated labels of
/// 1 to 63 lowercase letters, digits and `-` (not at either end), optionally starting with `*.`.
pub fn validate_dns_name(field: &'static str, value: &str) -> Result<()> {
    const ACCEPTED: &str = "accepted: lowercase letters, digits, '-' and '.', labels of 1-63 characters \
                            not starting or ending with '-', at most 253 characters, optional leading '*.'";
    let invalid = || Error::InvalidName {
        field,
        value: value.to_owned(),
        accepted: ACCEPTED,
    };
    let body = value.strip_prefix("*.").unwrap_or(value);
    if body.is_empty() || value.len() > 253 {
        return Err(invalid());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if body.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// Checks that `value` is a DNS-1123 label, as Service and namespace names are: 1 to 63 lowercase
/// letters, digits and `-`, not starting or ending with `-`.
pub fn validate_dns_label(field: &'static str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && !value.starts_with('-')
        && !value.ends_with('-')
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            field,
            value: value.to_owned(),
            accepted: "accepted: a DNS-1123 label of 1-63 lowercase letters, digits and '-', \
                       not starting or ending with '-'",
        })
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "ferrovault");
    name
}

fn parse_key(key_pem: &str, what: &'static str) -> Result<KeyPair> {
    KeyPair::from_pem_and_sign_algo(key_pem, &PKCS_ECDSA_P256_SHA256).map_err(|_| Error::ParseKey { what })
}

fn first_certificate_der(cert_pem: &str, what: &'static str) -> Result<Vec<u8>> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|e| Error::ParseCertificate {
            what,
            reason: e.to_string(),
        })?;
    if pem.label != "CERTIFICATE" {
        return Err(Error::ParseCertificate {
            what,
            reason: format!("PEM block is {:?}, expected \"CERTIFICATE\"", pem.label),
        });
    }
    Ok(pem.contents)
}

fn to_time_duration(validity: Duration) -> Result<time::Duration> {
    const MAX: Duration = Duration::from_secs(36_500 * 86_400);
    if validity.is_zero() || validity > MAX {
        return Err(Error::InvalidValidity {
            days: validity.as_secs() / 86_400,
        });
    }
    time::Duration::try_from(validity).map_err(|_| Error::InvalidValidity {
        days: validity.as_secs() / 86_400,
    })
}

fn generate(action: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |source| Error::Generate { action, source }
}

#[cfg(test)]
mod tests;
