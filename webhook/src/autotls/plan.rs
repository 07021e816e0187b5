//! The pure decisions of auto-TLS: what the Secret holds, what the leader does next, the caBundle.

use super::*;

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

/// Whether auto TLS created this object: it carries [`OWNER_LABEL`] with the value
/// `ferrovault-webhook`. The only test of ownership before a Secret is written.
pub fn owned(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(OWNER_LABEL))
        .is_some_and(|v| v == FIELD_MANAGER)
}
