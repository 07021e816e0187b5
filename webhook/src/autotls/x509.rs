//! Certificate checks: validity, names, chains (no key material ever leaves here in a message).

use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) struct Validity {
    pub(super) not_before: SystemTime,
    pub(super) not_after: SystemTime,
}

impl Validity {
    /// Expired, or less than a third of the validity period left.
    pub(super) fn in_last_third(&self, now: SystemTime) -> bool {
        let span = self.not_after.duration_since(self.not_before).unwrap_or_default();
        // Certificates are backdated for clock skew; the fraction is of the lifetime asked for.
        let total = match span.saturating_sub(ISSUE_BACKDATE) {
            d if d.is_zero() => span,
            d => d,
        };
        match self.not_after.duration_since(now) {
            Ok(left) => left < total / 3,
            Err(_) => true,
        }
    }
}

pub(super) fn parse_pem(pem: &str) -> Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| "not a PEM certificate".to_owned())
}

pub(super) fn validity(pem: &str) -> Result<Validity, String> {
    let der = parse_pem(pem)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let v = cert.validity();
    Ok(Validity {
        not_before: v.not_before.to_datetime().into(),
        not_after: v.not_after.to_datetime().into(),
    })
}

pub(super) fn sans(der: &CertificateDer<'_>) -> Result<Hosts, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut hosts = Hosts::default();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => hosts.dns.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => hosts
                        .ips
                        .push(IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default())),
                    16 => hosts
                        .ips
                        .push(IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default())),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(hosts)
}

pub(super) fn same_names(a: &Hosts, b: &Hosts) -> bool {
    let norm = |h: &Hosts| {
        let mut dns = h.dns.clone();
        dns.sort();
        dns.dedup();
        let mut ips = h.ips.clone();
        ips.sort();
        ips.dedup();
        (dns, ips)
    };
    norm(a) == norm(b)
}

/// Why the serving pair must be renewed, if it must.
pub(super) fn leaf_problem(material: &Material, hosts: &Hosts, now: SystemTime) -> Result<(), String> {
    let leaf = material
        .leaf
        .as_ref()
        .ok_or_else(|| format!("the Secret has no {TLS_CERT} and {TLS_KEY}"))?;
    let der = parse_pem(&leaf.cert_pem).map_err(|e| format!("{TLS_CERT}: {e}"))?;
    certified_key(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let v = validity(&leaf.cert_pem).map_err(|e| format!("{TLS_CERT}: {e}"))?;
    if v.in_last_third(now) {
        return Err(format!(
            "the serving certificate expires at {}",
            httpdate(v.not_after)
        ));
    }
    let names = sans(&der).map_err(|e| format!("{TLS_CERT}: {e}"))?;
    if !same_names(&names, hosts) {
        return Err(format!(
            "the serving certificate is for {:?} {:?}, not the configured hosts",
            names.dns, names.ips
        ));
    }
    verify_chain(&material.ca.cert_pem, &der, hosts, now)
}

pub(super) fn verify_chain(
    ca_pem: &str,
    leaf: &CertificateDer<'_>,
    hosts: &Hosts,
    now: SystemTime,
) -> Result<(), String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(parse_pem(ca_pem)?)
        .map_err(|e| format!("{CA_CERT} is not a usable trust anchor: {e}"))?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| e.to_string())?;
    let name = hosts.first().ok_or_else(|| "no hosts configured".to_owned())?;
    let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    verifier
        .verify_server_cert(leaf, &[], &name, &[], UnixTime::since_unix_epoch(since_epoch))
        .map(|_| ())
        .map_err(|e| format!("the serving certificate does not verify against the CA: {e}"))
}

pub(super) fn to_pem(der: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// RFC 3339 UTC, to the second: enough for log lines about expiry.
pub(super) fn httpdate(t: SystemTime) -> String {
    k8s_openapi::jiff::Timestamp::try_from(t)
        .map(|ts| {
            ts.round(k8s_openapi::jiff::Unit::Second)
                .unwrap_or(ts)
                .to_string()
        })
        .unwrap_or_else(|_| format!("{t:?}"))
}
