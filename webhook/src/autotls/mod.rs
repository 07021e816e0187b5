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
//! Layout: `plan` holds the pure decisions ([`read_secret`], [`decide`], [`execute`], [`bundle`],
//! [`ca_bundle_patch`]), `x509` the certificate checks, `kube_io` the Secret and webhook
//! configuration calls, [`crate::leader`] the election; this module runs them ([`spawn`]). The CLI builds the
//! [`AutoTlsConfig`]; nothing here reads flags. Key material never reaches
//! a log line or an error message: only certificate expiry dates, reasons and API status codes do.

mod kube_io;
mod plan;
mod x509;

#[cfg(test)]
mod tests;

pub use plan::{
    Action, Material, Stored, bundle, ca_bundle_patch, decide, execute, last_certificate, owned, read_secret,
};

use crate::leader::{Election, LeaseSpec};
/// Describes a Kubernetes error without response bodies (a decode error could quote object data).
pub use kube_io::describe as describe_error;
use kube_io::*;
use x509::*;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrovault_certs::{Ca, Leaf};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::json;
use tokio::sync::{oneshot, watch};

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
/// The label auto TLS puts on the Secret it creates, with the value [`FIELD_MANAGER`]; a Secret
/// without it is never written (nor served).
pub const OWNER_LABEL: &str = "app.kubernetes.io/managed-by";
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
/// A handle on the running auto-TLS task: stops it when dropped (without releasing the Lease, as a
/// crashed replica would); [`AutoTlsHandle::shutdown`] releases the Lease first.
#[derive(Debug)]
pub struct AutoTlsHandle {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    leader: watch::Receiver<bool>,
    last_error: watch::Receiver<Option<String>>,
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
    /// The Lease this configuration elects its leader through.
    pub fn lease_spec(&self) -> LeaseSpec {
        LeaseSpec {
            lease: self.lease.clone(),
            namespace: self.namespace.clone(),
            identity: self.identity.clone(),
            lease_duration: self.lease_duration,
            renew_interval: self.renew_interval,
        }
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
        if self.renew_interval < Duration::from_secs(1) || self.lease_duration < self.renew_interval * 2 {
            return Err(Error::Config(format!(
                "--leader-lease-duration ({:?}) must be at least twice --leader-renew-interval ({:?}), which must be at least 1s (the Lease counts whole seconds)",
                self.lease_duration, self.renew_interval
            )));
        }
        Ok(())
    }
}

/// Starts auto-TLS for `store`: elects a leader through the Lease, lets the leader maintain the Secret
/// and the webhook configuration, and loads the Secret's pair into `store` on every replica.
pub fn spawn(client: kube::Client, config: AutoTlsConfig, store: Arc<CertStore>) -> AutoTlsHandle {
    let (leader_tx, leader) = watch::channel(false);
    let (error_tx, last_error) = watch::channel(None);
    let (stop, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(client, config, store, leader_tx, error_tx, stop_rx));
    AutoTlsHandle {
        task: Some(task),
        stop: Some(stop),
        leader,
        last_error,
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

    /// The error of the last check (Secret, webhook configuration), `None` once a check succeeded.
    pub fn last_error(&self) -> watch::Receiver<Option<String>> {
        self.last_error.clone()
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
    error_tx: watch::Sender<Option<String>>,
    mut stop: oneshot::Receiver<()>,
) {
    let ns = config.namespace.as_str();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let mut election: Option<Election> = None;
    let mut loaded: Option<(String, String)> = None;
    let mut backoff = Backoff::new(
        config.renew_interval.min(Duration::from_secs(1)),
        config.check_interval.min(Duration::from_secs(30)),
    );
    let mut next_check = Instant::now();
    loop {
        if election.as_ref().and_then(Election::leading).is_none() {
            election = match Election::start(client.clone(), &config.lease_spec()).await {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(error = %e, "auto TLS: election failed; retrying");
                    error_tx.send_replace(Some(e.to_string()));
                    None
                }
            };
        }
        let leading = election.as_ref().and_then(Election::leading).unwrap_or(false);
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
                    error_tx.send_replace(None);
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
                    error_tx.send_replace(Some(e.to_string()));
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
        let changed = async {
            match election.as_mut() {
                Some(e) => e.changed().await,
                None => std::future::pending().await,
            }
        };
        let stopped = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = changed => false,
            _ = &mut stop => true,
        };
        if stopped {
            if let Some(election) = election.take() {
                election.release().await;
            }
            leader_tx.send_replace(false);
            return;
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
