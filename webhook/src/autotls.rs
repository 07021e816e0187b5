//! Auto-TLS: the webhook makes and rotates its own CA and serving certificate, shares them with every
//! replica through one Secret, and keeps the `caBundle` of its MutatingWebhookConfiguration in step.
//!
//! Why it is built this way (vault-k8s pain points §5.14: replicas fighting over `caBundle`, an error
//! every 24 h):
//! - one CA for all replicas, stored in the Secret (keys [`CA_CERT`], [`CA_KEY`], [`TLS_CERT`],
//!   [`TLS_KEY`] and, during a CA rollover, [`PREVIOUS_CA`]); only the holder of a
//!   `coordination.k8s.io/v1` Lease writes it and patches `caBundle`, on every webhook entry;
//! - leaves live 90 days by default and are renewed when a third of their life remains, so a leader
//!   outage has weeks, not hours, to heal before anything expires;
//! - a new CA is published as the bundle `[previous CA, new CA]` *before* any replica serves a leaf
//!   signed by it, so the API server accepts old and new leaves alike while replicas reload.
//!
//! The decisions are pure ([`read_secret`], [`decide`], [`execute`], [`bundle`],
//! [`ca_bundle_patch`]); the Kubernetes calls are at the edge ([`spawn`]). Key material never reaches
//! a log line or an error message: only certificate expiry dates, reasons and API status codes do.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrovault_certs::{Ca, Leaf};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::json;
use tokio::sync::{oneshot, watch};

use crate::args::ServeArgs;
use crate::error::Error;
use crate::tls::{CertStore, certified_key};

/// Secret key of the current CA certificate (PEM).
pub const CA_CERT: &str = "ca.crt";
/// Secret key of the current CA's private key (PEM). Kept so a new leader signs with the same CA.
pub const CA_KEY: &str = "ca.key";
/// Secret key of the serving certificate (PEM).
pub const TLS_CERT: &str = "tls.crt";
/// Secret key of the serving key (PEM).
pub const TLS_KEY: &str = "tls.key";
/// Secret key of the CA being rolled over (PEM), present from a CA rotation until the next leaf
/// renewal or its expiry.
pub const PREVIOUS_CA: &str = "ca-previous.crt";

const CA_COMMON_NAME: &str = "ferrovault webhook CA";
const FIELD_MANAGER: &str = "ferrovault-webhook";
/// Time given to API servers to see a new caBundle before a leaf from a new CA is served.
const BUNDLE_PROPAGATION: Duration = Duration::from_secs(2);
/// How far `ferrovault_certs` backdates `notBefore` (its clock-skew allowance).
const ISSUE_BACKDATE: Duration = Duration::from_secs(60);

/// Settings of auto-TLS.
#[derive(Debug, Clone)]
pub struct AutoTlsConfig {
    /// The MutatingWebhookConfiguration whose `caBundle` is kept up to date (all its entries).
    pub webhook_config: String,
    /// subjectAltNames of the serving certificate: DNS names and IP addresses.
    pub hosts: Hosts,
    /// Namespace of the Secret and the Lease.
    pub namespace: String,
    /// Secret holding the CA and serving pair.
    pub secret: String,
    /// Lease electing the replica that writes the Secret and patches the webhook configuration.
    pub lease: String,
    /// This replica's identity in the Lease (the pod name).
    pub identity: String,
    /// Lifetime of a new CA.
    pub ca_validity: Duration,
    /// Lifetime of a new serving certificate.
    pub leaf_validity: Duration,
    /// How often the leader re-checks the Secret and the webhook configuration, and followers re-read
    /// the Secret.
    pub check_interval: Duration,
    /// How long a Lease stays valid without renewal before another replica may take it.
    pub lease_duration: Duration,
    /// How often the Lease is renewed (and followers look at it).
    pub renew_interval: Duration,
}

/// The serving certificate's subjectAltNames.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hosts {
    /// DNS names, in the order given.
    pub dns: Vec<String>,
    /// IP addresses, in the order given.
    pub ips: Vec<IpAddr>,
}

/// What the Secret holds, as far as the leader is concerned. `Debug` never prints keys.
#[derive(Clone, PartialEq, Eq)]
pub enum Stored {
    /// There is no Secret yet.
    Missing,
    /// The Secret holds no usable CA; the reason never quotes its contents.
    Unusable(String),
    /// The Secret holds a CA (with its key), maybe a serving pair and maybe a previous CA.
    Usable(Material),
}

/// Everything auto-TLS keeps in the Secret. `Debug` never prints keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    /// The current CA.
    pub ca: Ca,
    /// The serving pair, if the Secret has one (it may still be expired or not match the CA).
    pub leaf: Option<Leaf>,
    /// The CA being rolled over, if any.
    pub previous_ca: Option<String>,
}

/// What the leader does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Everything is valid.
    Keep,
    /// No usable CA: make a new CA and serving certificate.
    Create {
        /// Why (no key material).
        reason: String,
    },
    /// The CA is fine, the serving certificate is not: issue a new one from the same CA.
    RenewLeaf {
        /// Why (no key material).
        reason: String,
    },
    /// The CA nears its end: make a new CA and serving certificate, keep the old CA in the bundle.
    RotateCa {
        /// Why (no key material).
        reason: String,
    },
    /// The previous CA expired: stop publishing it.
    DropPreviousCa,
}

/// A handle on the running auto-TLS task: stops it when dropped (without releasing the Lease, as a
/// crashed replica would); [`AutoTlsHandle::shutdown`] releases the Lease first.
#[derive(Debug)]
pub struct AutoTlsHandle {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    leader: watch::Receiver<bool>,
}

// === impl Hosts ===

impl Hosts {
    /// Parses `--tls-auto-hosts`: comma-separated DNS names and IP addresses (IPs are detected).
    pub fn parse(value: &str) -> Result<Self, Error> {
        let mut hosts = Hosts::default();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Ok(ip) = item.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
                hosts.ips.push(ip);
            } else {
                ferrovault_certs::validate_dns_name("--tls-auto-hosts", item)
                    .map_err(|e| Error::Config(e.to_string()))?;
                hosts.dns.push(item.to_owned());
            }
        }
        if hosts.dns.is_empty() && hosts.ips.is_empty() {
            return Err(Error::Config(
                "--tls-auto-hosts (AGENT_INJECT_TLS_AUTO_HOSTS) is empty: auto TLS needs the webhook \
                 Service's DNS names, comma-separated (e.g. svc,svc.ns,svc.ns.svc)"
                    .into(),
            ));
        }
        Ok(hosts)
    }

    /// The first name, used to verify the chain.
    fn first(&self) -> Option<ServerName<'static>> {
        match self.dns.first() {
            Some(name) => ServerName::try_from(name.clone()).ok(),
            None => self.ips.first().map(|ip| ServerName::IpAddress((*ip).into())),
        }
    }
}

// === impl AutoTlsConfig ===

impl AutoTlsConfig {
    /// The auto-TLS settings of `serve`, if `--tls-auto` names a webhook configuration.
    pub fn from_args(args: &ServeArgs) -> Result<Option<Self>, Error> {
        let Some(webhook_config) = args.tls_auto.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let identity = match args.pod_name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => name.to_owned(),
            None => hostname().ok_or_else(|| {
                Error::Config("--pod-name (POD_NAME) is unset and the hostname is unknown: auto TLS needs an identity for its Lease".into())
            })?,
        };
        let config = AutoTlsConfig {
            webhook_config: webhook_config.to_owned(),
            hosts: Hosts::parse(&args.tls_auto_hosts)?,
            namespace: args.namespace.trim().to_owned(),
            secret: args.tls_auto_secret.trim().to_owned(),
            lease: args.leader_lease.trim().to_owned(),
            identity,
            ca_validity: args.tls_auto_ca_validity,
            leaf_validity: args.tls_auto_leaf_validity,
            check_interval: args.tls_auto_check_interval,
            lease_duration: args.leader_lease_duration,
            renew_interval: args.leader_renew_interval,
        };
        config.validate()?;
        Ok(Some(config))
    }

    /// Checks the settings that would make auto-TLS misbehave rather than fail.
    pub fn validate(&self) -> Result<(), Error> {
        for (flag, value) in [
            ("--tls-auto", &self.webhook_config),
            ("--tls-auto-secret", &self.secret),
            ("--leader-lease", &self.lease),
            ("--namespace", &self.namespace),
            ("--pod-name", &self.identity),
        ] {
            if value.trim().is_empty() {
                return Err(Error::Config(format!("{flag} is empty: auto TLS needs a name")));
            }
        }
        if self.leaf_validity < self.check_interval * 3 {
            return Err(Error::Config(format!(
                "--tls-auto-leaf-validity ({:?}) must be at least 3 × --tls-auto-check-interval ({:?}): \
                 the leaf is renewed when a third of its life remains and replicas re-read it every interval",
                self.leaf_validity, self.check_interval
            )));
        }
        if self.ca_validity < self.leaf_validity {
            return Err(Error::Config(format!(
                "--tls-auto-ca-validity ({:?}) must be at least --tls-auto-leaf-validity ({:?})",
                self.ca_validity, self.leaf_validity
            )));
        }
        if self.renew_interval.is_zero() || self.lease_duration < self.renew_interval * 2 {
            return Err(Error::Config(format!(
                "--leader-lease-duration ({:?}) must be at least twice --leader-renew-interval ({:?}), which must not be 0",
                self.lease_duration, self.renew_interval
            )));
        }
        Ok(())
    }
}

// === impl Stored / Material ===

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stored::Missing => f.write_str("Missing"),
            Stored::Unusable(reason) => f.debug_tuple("Unusable").field(reason).finish(),
            Stored::Usable(m) => f.debug_tuple("Usable").field(m).finish(),
        }
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ca and Leaf redact their keys themselves.
        f.debug_struct("Material")
            .field("ca", &self.ca)
            .field("leaf", &self.leaf)
            .field("previous_ca", &self.previous_ca)
            .finish()
    }
}

impl Material {
    /// The Secret's `data` for this material.
    pub fn secret_data(&self) -> BTreeMap<String, ByteString> {
        let mut data = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
        };
        put(CA_CERT, &self.ca.cert_pem);
        put(CA_KEY, &self.ca.key_pem);
        if let Some(leaf) = &self.leaf {
            put(TLS_CERT, &leaf.cert_pem);
            put(TLS_KEY, &leaf.key_pem);
        }
        if let Some(previous) = &self.previous_ca {
            put(PREVIOUS_CA, previous);
        }
        data
    }

    /// The PEM bundle the webhook configuration must trust: [previous CA, current CA].
    pub fn bundle(&self) -> String {
        bundle(self.previous_ca.as_deref(), &self.ca.cert_pem)
    }
}

/// Reads the Secret's `data` (`None`: no Secret). Never fails: unusable contents are reported as
/// [`Stored::Unusable`] so the leader regenerates them.
pub fn read_secret(data: Option<&BTreeMap<String, ByteString>>) -> Stored {
    let Some(data) = data else {
        return Stored::Missing;
    };
    let text = |key: &str| {
        data.get(key)
            .and_then(|v| std::str::from_utf8(&v.0).ok())
            .filter(|s| !s.trim().is_empty())
    };
    let (Some(ca_cert), Some(ca_key)) = (text(CA_CERT), text(CA_KEY)) else {
        return Stored::Unusable(format!("the Secret has no {CA_CERT} and {CA_KEY}"));
    };
    let ca = match ferrovault_certs::ca_from_pem(ca_cert, ca_key) {
        Ok(ca) => ca,
        Err(e) => return Stored::Unusable(e.to_string()),
    };
    let leaf = match (text(TLS_CERT), text(TLS_KEY)) {
        (Some(cert), Some(key)) => Some(Leaf {
            cert_pem: cert.to_owned(),
            key_pem: key.to_owned(),
        }),
        _ => None,
    };
    Stored::Usable(Material {
        ca,
        leaf,
        previous_ca: text(PREVIOUS_CA).map(str::to_owned),
    })
}

/// Decides what the leader does with what the Secret holds, at `now`.
///
/// - no Secret or no usable CA → [`Action::Create`];
/// - CA expired or with less than a third of its validity left → [`Action::RotateCa`];
/// - serving pair missing, broken, not signed by the CA, for other hosts, or with less than a third of
///   its validity left → [`Action::RenewLeaf`];
/// - previous CA expired or unreadable → [`Action::DropPreviousCa`];
/// - else [`Action::Keep`].
pub fn decide(stored: &Stored, hosts: &Hosts, now: SystemTime) -> Action {
    let material = match stored {
        Stored::Missing => {
            return Action::Create {
                reason: "the Secret does not exist".into(),
            };
        }
        Stored::Unusable(reason) => {
            return Action::Create {
                reason: format!("the Secret holds no usable CA: {reason}"),
            };
        }
        Stored::Usable(material) => material,
    };
    match validity(&material.ca.cert_pem) {
        Err(reason) => return Action::Create { reason },
        Ok(v) if v.in_last_third(now) => {
            return Action::RotateCa {
                reason: format!("the CA expires at {}", httpdate(v.not_after)),
            };
        }
        Ok(_) => {}
    }
    if let Err(reason) = leaf_problem(material, hosts, now) {
        return Action::RenewLeaf { reason };
    }
    if let Some(previous) = &material.previous_ca {
        match validity(previous) {
            Ok(v) if now < v.not_after => {}
            _ => return Action::DropPreviousCa,
        }
    }
    Action::Keep
}

/// Carries out `action` on what the Secret holds. `hint_previous_ca` is the CA the webhook
/// configuration trusts today (from its `caBundle`); when a brand-new CA replaces an unreadable Secret,
/// it stays in the bundle so that replicas still serving a leaf it signed keep working until they
/// reload. Returns the new material (the same for [`Action::Keep`]).
pub fn execute(
    stored: &Stored,
    action: &Action,
    hosts: &Hosts,
    ca_validity: Duration,
    leaf_validity: Duration,
    hint_previous_ca: Option<&str>,
    now: SystemTime,
) -> Result<Material, Error> {
    let certs_error = |e: ferrovault_certs::Error| Error::Tls(e.to_string());
    let issue = |ca: &Ca| {
        ferrovault_certs::issue_leaf(ca, &hosts.dns, &hosts.ips, leaf_validity).map_err(certs_error)
    };
    let current = match stored {
        Stored::Usable(m) => Some(m),
        _ => None,
    };
    match (action, current) {
        (Action::Keep, Some(m)) => Ok(m.clone()),
        (Action::DropPreviousCa, Some(m)) => Ok(Material {
            previous_ca: None,
            ..m.clone()
        }),
        (Action::RenewLeaf { .. }, Some(m)) => Ok(Material {
            ca: m.ca.clone(),
            leaf: Some(issue(&m.ca)?),
            // every replica serves a leaf from the current CA by now: the old one can go
            previous_ca: None,
        }),
        (Action::RotateCa { .. }, Some(m)) => {
            let ca = ferrovault_certs::generate_ca(CA_COMMON_NAME, ca_validity).map_err(certs_error)?;
            let leaf = issue(&ca)?;
            let old = m.ca.cert_pem.clone();
            let previous_ca = validity(&old).ok().filter(|v| now < v.not_after).map(|_| old);
            Ok(Material {
                ca,
                leaf: Some(leaf),
                previous_ca,
            })
        }
        _ => {
            let ca = ferrovault_certs::generate_ca(CA_COMMON_NAME, ca_validity).map_err(certs_error)?;
            let leaf = issue(&ca)?;
            let previous_ca = hint_previous_ca
                .filter(|pem| *pem != ca.cert_pem)
                .filter(|pem| validity(pem).is_ok_and(|v| now < v.not_after))
                .map(str::to_owned);
            Ok(Material {
                ca,
                leaf: Some(leaf),
                previous_ca,
            })
        }
    }
}

/// The PEM bundle trusted by the webhook configuration: the previous CA (if any) then the current one.
pub fn bundle(previous_ca: Option<&str>, current_ca: &str) -> String {
    let mut out = String::new();
    for pem in previous_ca.into_iter().chain([current_ca]) {
        let pem = pem.trim();
        if pem.is_empty() || out.contains(pem) {
            continue;
        }
        out.push_str(pem);
        out.push('\n');
    }
    out
}

/// The last certificate of a PEM bundle (what a webhook configuration trusts most recently).
pub fn last_certificate(bundle_pem: &[u8]) -> Option<String> {
    let der = CertificateDer::pem_slice_iter(bundle_pem)
        .filter_map(Result::ok)
        .last()?;
    Some(to_pem(&der))
}

/// The JSON patch setting `caBundle` to `bundle_pem` on every entry of `config` that differs, each
/// guarded by a `test` of the entry's name (so a concurrent reorder fails instead of patching the
/// wrong entry). `None` when every entry already has it.
pub fn ca_bundle_patch(config: &MutatingWebhookConfiguration, bundle_pem: &str) -> Option<json_patch::Patch> {
    let wanted = bundle_pem.as_bytes();
    let mut ops = Vec::new();
    for (i, webhook) in config.webhooks.iter().flatten().enumerate() {
        if webhook.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice()) == Some(wanted) {
            continue;
        }
        ops.push(json!({"op": "test", "path": format!("/webhooks/{i}/name"), "value": webhook.name}));
        ops.push(json!({
            "op": "add",
            "path": format!("/webhooks/{i}/clientConfig/caBundle"),
            "value": ferrovault_certs::ca_bundle(bundle_pem),
        }));
    }
    if ops.is_empty() {
        return None;
    }
    serde_json::from_value(serde_json::Value::Array(ops)).ok()
}

// --- certificate inspection (pure) ---

#[derive(Debug, Clone, Copy)]
struct Validity {
    not_before: SystemTime,
    not_after: SystemTime,
}

impl Validity {
    /// Expired, or less than a third of the validity period left.
    fn in_last_third(&self, now: SystemTime) -> bool {
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

fn parse_pem(pem: &str) -> Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|_| "not a PEM certificate".to_owned())
}

fn validity(pem: &str) -> Result<Validity, String> {
    let der = parse_pem(pem)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let v = cert.validity();
    Ok(Validity {
        not_before: v.not_before.to_datetime().into(),
        not_after: v.not_after.to_datetime().into(),
    })
}

fn sans(der: &CertificateDer<'_>) -> Result<Hosts, String> {
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

fn same_names(a: &Hosts, b: &Hosts) -> bool {
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
fn leaf_problem(material: &Material, hosts: &Hosts, now: SystemTime) -> Result<(), String> {
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

fn verify_chain(
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

fn to_pem(der: &CertificateDer<'_>) -> String {
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
fn httpdate(t: SystemTime) -> String {
    k8s_openapi::jiff::Timestamp::try_from(t)
        .map(|ts| {
            ts.round(k8s_openapi::jiff::Unit::Second)
                .unwrap_or(ts)
                .to_string()
        })
        .unwrap_or_else(|_| format!("{t:?}"))
}

fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

// --- Kubernetes edge ---

/// Describes a Kubernetes error without response bodies (a decode error could quote Secret data).
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("HTTP {} {}: {}", status.code, status.reason, status.message),
        kube::Error::SerdeError(e) => format!(
            "the API server's response could not be decoded (line {}, column {})",
            e.line(),
            e.column()
        ),
        other => other.to_string(),
    }
}

fn kube_error(action: &str) -> impl Fn(kube::Error) -> Error + '_ {
    move |e| Error::Kube(format!("{action}: {}", describe(&e)))
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_conflict() || s.is_already_exists())
}

/// Starts auto-TLS for `store`: elects a leader through the Lease, lets the leader maintain the Secret
/// and the webhook configuration, and loads the Secret's pair into `store` on every replica.
pub fn spawn(client: kube::Client, config: AutoTlsConfig, store: Arc<CertStore>) -> AutoTlsHandle {
    let (leader_tx, leader) = watch::channel(false);
    let (stop, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(client, config, store, leader_tx, stop_rx));
    AutoTlsHandle {
        task: Some(task),
        stop: Some(stop),
        leader,
    }
}

// === impl AutoTlsHandle ===

impl AutoTlsHandle {
    /// Whether this replica currently leads.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Leadership changes.
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }

    /// Stops the task and releases the Lease if held, so another replica takes over at once.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for AutoTlsHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Capped exponential backoff.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    base: Duration,
    cap: Duration,
}

impl Backoff {
    fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            next: base,
            base,
            cap,
        }
    }

    fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.cap);
        wait
    }

    fn reset(&mut self) {
        self.next = self.base;
    }
}

async fn run(
    client: kube::Client,
    config: AutoTlsConfig,
    store: Arc<CertStore>,
    leader_tx: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    let ns = config.namespace.as_str();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let mut elector = Elector::new(Api::namespaced(client, ns), &config);
    let mut loaded: Option<(String, String)> = None;
    let mut backoff = Backoff::new(
        config.renew_interval.min(Duration::from_secs(1)),
        config.check_interval.min(Duration::from_secs(30)),
    );
    let mut next_check = Instant::now();
    loop {
        let leading = elector.tick().await;
        if leader_tx.send_replace(leading) != leading {
            if leading {
                tracing::info!(lease = %config.lease, identity = %config.identity, "auto TLS: became leader");
                next_check = Instant::now();
            } else {
                tracing::info!(lease = %config.lease, "auto TLS: no longer leader");
            }
        }
        if Instant::now() >= next_check {
            let result = if leading {
                reconcile(&secrets, &configs, &config).await
            } else {
                read_pair(&secrets, &config.secret).await
            };
            match result {
                Ok(Some(pair)) => {
                    load(&store, &mut loaded, pair);
                    backoff.reset();
                    next_check = Instant::now() + config.check_interval;
                }
                Ok(None) => {
                    // follower before the leader wrote the Secret: look again at the next renewal
                    next_check = Instant::now();
                }
                Err(e) => {
                    let wait = backoff.failed();
                    tracing::warn!(error = %e, retry_in = ?wait, "auto TLS: check failed");
                    next_check = Instant::now() + wait;
                }
            }
        }
        let until_check = next_check.saturating_duration_since(Instant::now());
        let wait = if loaded.is_none() {
            until_check
                .min(config.renew_interval / 4)
                .max(Duration::from_millis(50))
        } else {
            until_check.min(config.renew_interval)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut stop => {
                elector.release().await;
                leader_tx.send_replace(false);
                return;
            }
        }
    }
}

fn load(store: &CertStore, loaded: &mut Option<(String, String)>, pair: (String, String)) {
    if loaded.as_ref() == Some(&pair) {
        return;
    }
    match certified_key(pair.0.as_bytes(), pair.1.as_bytes()) {
        Ok(ck) => {
            store.set(ck);
            let expires = validity(&pair.0)
                .map(|v| httpdate(v.not_after))
                .unwrap_or_default();
            tracing::info!(expires = %expires, "auto TLS: serving certificate loaded");
            *loaded = Some(pair);
        }
        Err(e) => {
            tracing::warn!(error = %e, "auto TLS: the Secret's serving pair is unusable; waiting for the leader to renew it")
        }
    }
}

/// Follower: the Secret's serving pair, if present.
async fn read_pair(secrets: &Api<Secret>, name: &str) -> Result<Option<(String, String)>, Error> {
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(kube_error("read the auto-TLS Secret"))?;
    let Some(data) = secret.and_then(|s| s.data) else {
        return Ok(None);
    };
    let text = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(&v.0).into_owned());
    Ok(text(TLS_CERT).zip(text(TLS_KEY)))
}

/// Leader: brings the Secret and the webhook configuration in line, returns the pair to serve.
async fn reconcile(
    secrets: &Api<Secret>,
    configs: &Api<MutatingWebhookConfiguration>,
    config: &AutoTlsConfig,
) -> Result<Option<(String, String)>, Error> {
    let existing = secrets
        .get_opt(&config.secret)
        .await
        .map_err(kube_error("read the auto-TLS Secret"))?;
    let stored = read_secret(
        existing
            .as_ref()
            .map(|s| s.data.clone().unwrap_or_default())
            .as_ref(),
    );
    let now = SystemTime::now();
    let action = decide(&stored, &config.hosts, now);
    let webhook = configs
        .get(&config.webhook_config)
        .await
        .map_err(kube_error("read the MutatingWebhookConfiguration"))?;
    let hint = webhook
        .webhooks
        .iter()
        .flatten()
        .find_map(|w| w.client_config.ca_bundle.as_ref())
        .and_then(|b| last_certificate(&b.0));
    let material = execute(
        &stored,
        &action,
        &config.hosts,
        config.ca_validity,
        config.leaf_validity,
        hint.as_deref(),
        now,
    )?;
    if action != Action::Keep {
        tracing::info!(action = ?action, "auto TLS: updating the certificate Secret");
    }
    // The bundle goes out first: when a replica serves a leaf from a new CA, the API server trusts it.
    if let Some(patch) = ca_bundle_patch(&webhook, &material.bundle()) {
        configs
            .patch(
                &config.webhook_config,
                &PatchParams::default(),
                &Patch::Json::<()>(patch),
            )
            .await
            .map_err(kube_error("patch caBundle of the MutatingWebhookConfiguration"))?;
        tracing::info!(webhook_config = %config.webhook_config, "auto TLS: caBundle updated");
        // The API server picks webhook configurations up through an informer: give it a moment
        // before any replica serves a leaf that only the new bundle trusts.
        tokio::time::sleep(BUNDLE_PROPAGATION).await;
    }
    if action != Action::Keep {
        write_secret(secrets, config, existing, &material).await?;
    }
    Ok(material.leaf.map(|l| (l.cert_pem, l.key_pem)))
}

async fn write_secret(
    secrets: &Api<Secret>,
    config: &AutoTlsConfig,
    existing: Option<Secret>,
    material: &Material,
) -> Result<(), Error> {
    match existing {
        Some(mut secret) => {
            // keep labels, annotations, type and any foreign keys; resourceVersion guards the update
            let mut data = secret.data.take().unwrap_or_default();
            data.remove(PREVIOUS_CA);
            data.extend(material.secret_data());
            secret.data = Some(data);
            secret.string_data = None;
            secrets
                .replace(&config.secret, &PostParams::default(), &secret)
                .await
                .map(|_| ())
                .map_err(|e| {
                    if is_conflict(&e) {
                        Error::Kube("the auto-TLS Secret changed meanwhile; will re-read it".into())
                    } else {
                        kube_error("update the auto-TLS Secret")(e)
                    }
                })
        }
        None => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(config.secret.clone()),
                    namespace: Some(config.namespace.clone()),
                    labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/managed-by".to_owned(),
                        FIELD_MANAGER.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                type_: Some("kubernetes.io/tls".into()),
                data: Some(material.secret_data()),
                ..Secret::default()
            };
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .map(|_| ())
                .map_err(kube_error("create the auto-TLS Secret"))
        }
    }
}

/// Lease-based leader election (the client-go algorithm, simplified): a Lease whose record has not
/// changed for its duration, as observed on *this* replica's monotonic clock (no clock-skew
/// assumptions), may be taken; writes carry the resourceVersion, so only one contender wins.
struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
    renewed_at: Option<Instant>,
}

impl Elector {
    fn new(api: Api<Lease>, config: &AutoTlsConfig) -> Self {
        Elector {
            api,
            name: config.lease.clone(),
            identity: config.identity.clone(),
            duration: config.lease_duration,
            observed: None,
            renewed_at: None,
        }
    }

    /// Still the leader after a failed renewal? Only until two thirds of the lease have passed.
    fn still_leading(&self) -> bool {
        self.renewed_at
            .is_some_and(|t| t.elapsed() < self.duration * 2 / 3)
    }

    fn spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let ours = previous.is_some_and(|p| p.holder_identity.as_deref() == Some(&self.identity));
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs().max(1).try_into().unwrap_or(i32::MAX)),
            acquire_time: if ours {
                previous.and_then(|p| p.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    }

    /// One round: acquire, renew or observe. Returns whether this replica leads.
    async fn tick(&mut self) -> bool {
        let lease = match self.api.get_opt(&self.name).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(error = %describe(&e), "auto TLS: cannot read the leader Lease");
                return self.still_leading();
            }
        };
        let Some(mut lease) = lease else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => {
                    self.renewed_at = Some(Instant::now());
                    true
                }
                Err(e) if is_conflict(&e) => false,
                Err(e) => {
                    tracing::warn!(error = %describe(&e), "auto TLS: cannot create the leader Lease");
                    false
                }
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), spec.renew_time.clone());
        match &self.observed {
            Some((h, r, _)) if (h, r) == (&record.0, &record.1) => {}
            _ => self.observed = Some((record.0, record.1, Instant::now())),
        }
        let ours = holder.as_deref() == Some(self.identity.as_str());
        let their_duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.duration, Duration::from_secs);
        let expired = holder.is_none()
            || self
                .observed
                .as_ref()
                .is_some_and(|(_, _, at)| at.elapsed() >= their_duration);
        if !ours && !expired {
            self.renewed_at = None;
            return false;
        }
        if !ours {
            tracing::info!(
                previous = holder.as_deref().unwrap_or(""),
                "auto TLS: the leader Lease expired; taking it"
            );
        }
        lease.spec = Some(self.spec(Some(&spec)));
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => {
                self.renewed_at = Some(Instant::now());
                true
            }
            Err(e) if is_conflict(&e) => {
                self.renewed_at = None;
                false
            }
            Err(e) => {
                tracing::warn!(error = %describe(&e), "auto TLS: cannot renew the leader Lease");
                self.still_leading()
            }
        }
    }

    /// Gives the Lease up (clears the holder) if this replica holds it.
    async fn release(&mut self) {
        if self.renewed_at.is_none() {
            return;
        }
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = %self.name, "auto TLS: leader Lease released"),
            Err(e) => tracing::warn!(error = %describe(&e), "auto TLS: cannot release the leader Lease"),
        }
        self.renewed_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn hosts() -> Hosts {
        Hosts::parse("ferrovault,ferrovault.vault,ferrovault.vault.svc,127.0.0.1").unwrap()
    }

    fn fresh() -> Material {
        execute(
            &Stored::Missing,
            &Action::Create {
                reason: String::new(),
            },
            &hosts(),
            3650 * DAY,
            90 * DAY,
            None,
            SystemTime::now(),
        )
        .unwrap()
    }

    fn data(m: &Material) -> BTreeMap<String, ByteString> {
        m.secret_data()
    }

    fn later(d: Duration) -> SystemTime {
        SystemTime::now() + d
    }

    #[test]
    fn missing_secret_creates() {
        assert!(matches!(
            decide(&Stored::Missing, &hosts(), SystemTime::now()),
            Action::Create { .. }
        ));
    }

    #[test]
    fn fresh_material_is_kept_and_round_trips_through_the_secret() {
        crate::tls::install_crypto_provider();
        let m = fresh();
        let stored = read_secret(Some(&data(&m)));
        assert_eq!(stored, Stored::Usable(m.clone()));
        assert_eq!(decide(&stored, &hosts(), SystemTime::now()), Action::Keep);
        // still fine after 59 days of 90
        assert_eq!(decide(&stored, &hosts(), later(59 * DAY)), Action::Keep);
        let kept = execute(
            &stored,
            &Action::Keep,
            &hosts(),
            3650 * DAY,
            90 * DAY,
            None,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(kept, m);
    }

    #[test]
    fn leaf_with_less_than_a_third_left_is_renewed_from_the_same_ca() {
        crate::tls::install_crypto_provider();
        let m = fresh();
        let stored = read_secret(Some(&data(&m)));
        let action = decide(&stored, &hosts(), later(61 * DAY));
        assert!(matches!(action, Action::RenewLeaf { .. }), "{action:?}");
        let renewed = execute(
            &stored,
            &action,
            &hosts(),
            3650 * DAY,
            90 * DAY,
            None,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(renewed.ca, m.ca);
        assert_ne!(renewed.leaf, m.leaf);
        assert_eq!(renewed.previous_ca, None);
        assert_eq!(
            decide(&Stored::Usable(renewed), &hosts(), SystemTime::now()),
            Action::Keep
        );
    }

    #[test]
    fn expired_leaf_missing_leaf_or_other_hosts_renew_the_leaf() {
        crate::tls::install_crypto_provider();
        let m = fresh();
        let stored = Stored::Usable(m.clone());
        assert!(matches!(
            decide(&stored, &hosts(), later(91 * DAY)),
            Action::RenewLeaf { .. }
        ));
        let no_leaf = Stored::Usable(Material {
            leaf: None,
            ..m.clone()
        });
        assert!(matches!(
            decide(&no_leaf, &hosts(), SystemTime::now()),
            Action::RenewLeaf { .. }
        ));
        let other = Hosts::parse("other.svc").unwrap();
        let Action::RenewLeaf { reason } = decide(&stored, &other, SystemTime::now()) else {
            panic!()
        };
        assert!(reason.contains("not the configured hosts"), "{reason}");
    }

    #[test]
    fn leaf_from_another_ca_or_with_a_foreign_key_is_renewed() {
        crate::tls::install_crypto_provider();
        let a = fresh();
        let b = fresh();
        let mixed = Stored::Usable(Material {
            leaf: b.leaf.clone(),
            ..a.clone()
        });
        let Action::RenewLeaf { reason } = decide(&mixed, &hosts(), SystemTime::now()) else {
            panic!()
        };
        assert!(reason.contains("does not verify"), "{reason}");
        let wrong_key = Leaf {
            cert_pem: a.leaf.clone().unwrap().cert_pem,
            key_pem: b.leaf.clone().unwrap().key_pem,
        };
        let stored = Stored::Usable(Material {
            leaf: Some(wrong_key),
            ..a.clone()
        });
        let Action::RenewLeaf { reason } = decide(&stored, &hosts(), SystemTime::now()) else {
            panic!()
        };
        assert!(!reason.contains("PRIVATE KEY"), "{reason}");
    }

    #[test]
    fn ca_near_its_end_rolls_over_with_the_old_ca_first_in_the_bundle() {
        crate::tls::install_crypto_provider();
        let m = fresh();
        let stored = Stored::Usable(m.clone());
        // 10 years: a third left after ~6.67 years
        let action = decide(&stored, &hosts(), later(2500 * DAY));
        assert!(matches!(action, Action::RotateCa { .. }), "{action:?}");
        let rolled = execute(
            &stored,
            &action,
            &hosts(),
            3650 * DAY,
            90 * DAY,
            None,
            SystemTime::now(),
        )
        .unwrap();
        assert_ne!(rolled.ca, m.ca);
        assert_eq!(rolled.previous_ca.as_deref(), Some(m.ca.cert_pem.as_str()));
        let pems: Vec<_> = CertificateDer::pem_slice_iter(rolled.bundle().as_bytes())
            .map(|c| to_pem(&c.unwrap()))
            .collect();
        assert_eq!(
            pems,
            [
                to_pem(&parse_pem(&m.ca.cert_pem).unwrap()),
                to_pem(&parse_pem(&rolled.ca.cert_pem).unwrap())
            ]
        );
        // the rolled material is stable, and survives the Secret
        let again = read_secret(Some(&rolled.secret_data()));
        assert_eq!(again, Stored::Usable(rolled.clone()));
        assert_eq!(decide(&again, &hosts(), SystemTime::now()), Action::Keep);
        // the next leaf renewal drops the previous CA
        let renewed = execute(
            &again,
            &Action::RenewLeaf {
                reason: String::new(),
            },
            &hosts(),
            3650 * DAY,
            90 * DAY,
            None,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(renewed.previous_ca, None);
        assert_eq!(renewed.bundle(), bundle(None, &renewed.ca.cert_pem));
    }

    #[test]
    fn short_lifetimes_count_from_issue_not_from_the_backdated_not_before() {
        crate::tls::install_crypto_provider();
        let now = SystemTime::now();
        let m = execute(
            &Stored::Missing,
            &Action::Create {
                reason: String::new(),
            },
            &hosts(),
            Duration::from_secs(120),
            Duration::from_secs(30),
            None,
            now,
        )
        .unwrap();
        let stored = Stored::Usable(m);
        assert_eq!(decide(&stored, &hosts(), now), Action::Keep);
        assert!(matches!(
            decide(&stored, &hosts(), now + Duration::from_secs(21)),
            Action::RenewLeaf { .. }
        ));
        assert!(matches!(
            decide(&stored, &hosts(), now + Duration::from_secs(81)),
            Action::RotateCa { .. }
        ));
    }

    #[test]
    fn expired_previous_ca_is_dropped() {
        crate::tls::install_crypto_provider();
        let old = ferrovault_certs::generate_ca("old", DAY).unwrap();
        let m = Material {
            previous_ca: Some(old.cert_pem),
            ..fresh()
        };
        let stored = Stored::Usable(m);
        assert_eq!(decide(&stored, &hosts(), SystemTime::now()), Action::Keep);
        assert_eq!(decide(&stored, &hosts(), later(2 * DAY)), Action::DropPreviousCa);
        let garbage = Stored::Usable(Material {
            previous_ca: Some("junk".into()),
            ..fresh()
        });
        assert_eq!(
            decide(&garbage, &hosts(), SystemTime::now()),
            Action::DropPreviousCa
        );
    }

    #[test]
    fn garbage_secret_is_regenerated_without_quoting_it() {
        crate::tls::install_crypto_provider();
        let secret_value =
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";
        let cases: Vec<BTreeMap<String, ByteString>> = vec![
            BTreeMap::new(),
            BTreeMap::from([
                (CA_CERT.to_owned(), ByteString(b"junk".to_vec())),
                (CA_KEY.to_owned(), ByteString(secret_value.as_bytes().to_vec())),
            ]),
            BTreeMap::from([
                (CA_CERT.to_owned(), ByteString(vec![0xff, 0xfe])),
                (CA_KEY.to_owned(), ByteString(vec![0])),
            ]),
            {
                // a leaf certificate is not a CA
                let m = fresh();
                let leaf = m.leaf.unwrap();
                BTreeMap::from([
                    (CA_CERT.to_owned(), ByteString(leaf.cert_pem.into_bytes())),
                    (CA_KEY.to_owned(), ByteString(leaf.key_pem.into_bytes())),
                ])
            },
            {
                // a CA with someone else's key
                let (a, b) = (fresh(), fresh());
                BTreeMap::from([
                    (CA_CERT.to_owned(), ByteString(a.ca.cert_pem.into_bytes())),
                    (CA_KEY.to_owned(), ByteString(b.ca.key_pem.into_bytes())),
                ])
            },
        ];
        for data in cases {
            let stored = read_secret(Some(&data));
            let action = decide(&stored, &hosts(), SystemTime::now());
            let Action::Create { reason } = &action else {
                panic!("{action:?}")
            };
            assert!(
                !reason.contains("c2VjcmV0") && !reason.contains("PRIVATE"),
                "{reason}"
            );
            assert!(!format!("{stored:?}").contains("c2VjcmV0"));
            let m = execute(
                &stored,
                &action,
                &hosts(),
                3650 * DAY,
                90 * DAY,
                None,
                SystemTime::now(),
            )
            .unwrap();
            assert_eq!(
                decide(&Stored::Usable(m), &hosts(), SystemTime::now()),
                Action::Keep
            );
        }
    }

    #[test]
    fn a_new_ca_keeps_the_one_the_webhook_trusts_today() {
        crate::tls::install_crypto_provider();
        let today = fresh();
        let hint = last_certificate(today.bundle().as_bytes()).unwrap();
        let m = execute(
            &Stored::Unusable("x".into()),
            &Action::Create {
                reason: String::new(),
            },
            &hosts(),
            3650 * DAY,
            90 * DAY,
            Some(&hint),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(m.previous_ca.as_deref(), Some(hint.as_str()));
        // an expired or unparsable hint is ignored
        let m = execute(
            &Stored::Missing,
            &Action::Create {
                reason: String::new(),
            },
            &hosts(),
            3650 * DAY,
            90 * DAY,
            Some("junk"),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(m.previous_ca, None);
    }

    #[test]
    fn bundle_orders_previous_first_and_deduplicates() {
        let a = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let b = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        assert_eq!(bundle(None, b), b);
        assert_eq!(bundle(Some(a), b), format!("{a}\n{b}"));
        assert_eq!(bundle(Some(b), b), b);
        assert_eq!(bundle(Some(""), b), b);
    }

    #[test]
    fn last_certificate_of_a_bundle() {
        let (a, b) = (fresh(), fresh());
        let both = bundle(Some(&a.ca.cert_pem), &b.ca.cert_pem);
        assert_eq!(
            last_certificate(both.as_bytes()).map(|p| p.trim().to_owned()),
            Some(b.ca.cert_pem.trim().to_owned())
        );
        assert_eq!(last_certificate(b"junk"), None);
    }

    fn webhook_config(bundles: &[Option<&str>]) -> MutatingWebhookConfiguration {
        let webhooks: Vec<serde_json::Value> = bundles
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut client = json!({"service": {"name": "svc", "namespace": "ns"}});
                if let Some(b) = b {
                    client["caBundle"] = json!(ferrovault_certs::ca_bundle(b));
                }
                json!({"name": format!("w{i}.ferrovault.io"), "clientConfig": client, "sideEffects": "None", "admissionReviewVersions": ["v1"]})
            })
            .collect();
        serde_json::from_value(json!({"metadata": {"name": "mwc"}, "webhooks": webhooks})).unwrap()
    }

    #[test]
    fn ca_bundle_patch_sets_every_entry_that_differs() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let mwc = webhook_config(&[None, Some(pem), Some("old")]);
        let patch = ca_bundle_patch(&mwc, pem).unwrap();
        let value = serde_json::to_value(&patch).unwrap();
        let b64 = ferrovault_certs::ca_bundle(pem);
        assert_eq!(
            value,
            json!([
                {"op": "test", "path": "/webhooks/0/name", "value": "w0.ferrovault.io"},
                {"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": b64},
                {"op": "test", "path": "/webhooks/2/name", "value": "w2.ferrovault.io"},
                {"op": "add", "path": "/webhooks/2/clientConfig/caBundle", "value": b64},
            ])
        );
        // applied, the configuration needs no further patch
        let mut doc = serde_json::to_value(&mwc).unwrap();
        json_patch::patch(&mut doc, &patch).unwrap();
        let patched: MutatingWebhookConfiguration = serde_json::from_value(doc).unwrap();
        assert!(ca_bundle_patch(&patched, pem).is_none());
        assert!(ca_bundle_patch(&webhook_config(&[]), pem).is_none());
    }

    #[test]
    fn hosts_parse_dns_and_ips_and_reject_bad_names() {
        let h = Hosts::parse(" svc, svc.ns.svc ,10.0.0.1,[::1],").unwrap();
        assert_eq!(h.dns, ["svc", "svc.ns.svc"]);
        assert_eq!(
            h.ips,
            ["10.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
        let e = Hosts::parse("svc,Bad_Name").unwrap_err().to_string();
        assert!(
            e.contains("--tls-auto-hosts") && e.contains("Bad_Name") && e.contains("accepted"),
            "{e}"
        );
        let e = Hosts::parse(" , ").unwrap_err().to_string();
        assert!(e.contains("--tls-auto-hosts"), "{e}");
    }

    #[test]
    fn debug_output_never_shows_keys() {
        let m = fresh();
        let key_line = m.ca.key_pem.lines().nth(1).unwrap().to_owned();
        let leaf_key_line = m
            .leaf
            .as_ref()
            .unwrap()
            .key_pem
            .lines()
            .nth(1)
            .unwrap()
            .to_owned();
        for text in [format!("{m:?}"), format!("{:?}", Stored::Usable(m.clone()))] {
            assert!(
                !text.contains(&key_line) && !text.contains(&leaf_key_line),
                "key leaked in Debug"
            );
            assert!(!text.contains("PRIVATE KEY"));
        }
    }

    /// Log lines written while `f` runs.
    fn captured(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn loading_pairs_never_logs_key_material() {
        crate::tls::install_crypto_provider();
        let (a, b) = (fresh(), fresh());
        let (la, lb) = (a.leaf.clone().unwrap(), b.leaf.clone().unwrap());
        let store = CertStore::default();
        let mut loaded = None;
        let logs = captured(|| {
            // a mismatched pair is refused, a good one loaded once
            load(&store, &mut loaded, (la.cert_pem.clone(), lb.key_pem.clone()));
            load(&store, &mut loaded, (la.cert_pem.clone(), la.key_pem.clone()));
            load(&store, &mut loaded, (la.cert_pem.clone(), la.key_pem.clone()));
            let stored = read_secret(Some(&a.secret_data()));
            let action = decide(
                &Stored::Usable(Material {
                    leaf: b.leaf.clone(),
                    ..a.clone()
                }),
                &hosts(),
                SystemTime::now(),
            );
            tracing::info!(action = ?action, stored = ?stored, "decision");
        });
        assert!(store.is_ready());
        assert_eq!(logs.matches("serving certificate loaded").count(), 1, "{logs}");
        assert!(logs.contains("unusable"), "{logs}");
        for key in [&la.key_pem, &lb.key_pem, &a.ca.key_pem] {
            for line in key.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!logs.contains(line), "key material in the logs");
            }
        }
        assert!(!logs.contains("PRIVATE KEY"));
    }

    #[test]
    fn decode_errors_are_described_without_the_body() {
        let err = serde_json::from_str::<Secret>(r#"{"data": {"tls.key": 12345678}, "s3cr3t": 1}"#)
            .map(|_| ())
            .unwrap_err();
        let text = describe(&kube::Error::SerdeError(err));
        assert!(!text.contains("12345678") && text.contains("line 1"), "{text}");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let waits: Vec<_> = (0..5).map(|_| b.failed().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.failed(), Duration::from_secs(1));
    }

    #[test]
    fn config_validation_names_the_flags() {
        let mut c = AutoTlsConfig {
            webhook_config: "mwc".into(),
            hosts: hosts(),
            namespace: "ns".into(),
            secret: "s".into(),
            lease: "l".into(),
            identity: "pod-0".into(),
            ca_validity: 3650 * DAY,
            leaf_validity: 90 * DAY,
            check_interval: Duration::from_secs(60),
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(5),
        };
        c.validate().unwrap();
        c.leaf_validity = Duration::from_secs(120);
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("--tls-auto-leaf-validity")
        );
        c.leaf_validity = 90 * DAY;
        c.identity = String::new();
        assert!(c.validate().unwrap_err().to_string().contains("--pod-name"));
    }
}
