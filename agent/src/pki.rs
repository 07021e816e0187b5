//! `pkiCert`: certificates bound to a template's destination. A certificate already in the
//! destination is reused while now is before `NotBefore + lifetime × 0.9` (as consul-template).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use x509_parser::pem::Pem;

use crate::fetch::Fetched;
use crate::lease::Lifetime;

const THRESHOLD: f64 = 0.9;

/// The certificate in `destination`, if there is one still within 90 % of its lifetime.
pub fn reusable(destination: &Path) -> Option<Fetched> {
    let bytes = std::fs::read(destination).ok()?;
    let mut cert = String::new();
    let mut key = String::new();
    let mut ca = Vec::new();
    let mut leaf_window = None;
    for pem in Pem::iter_from_buffer(&bytes).flatten() {
        let text = encode(&pem);
        if pem.label.contains("PRIVATE KEY") {
            key = text;
        } else if pem.label == "CERTIFICATE" {
            let Ok(parsed) = pem.parse_x509() else { continue };
            if parsed.is_ca() {
                ca.push(text);
            } else {
                let validity = parsed.validity();
                leaf_window = Some((validity.not_before.timestamp(), validity.not_after.timestamp()));
                cert = text;
            }
        }
    }
    let (not_before, not_after) = leaf_window?;
    if key.is_empty() {
        return None;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    let renew_at = not_before + ((not_after - not_before) as f64 * THRESHOLD) as i64;
    if now >= renew_at {
        return None;
    }
    let value = pki_value(
        &cert,
        &key,
        ca.first().map(String::as_str).unwrap_or_default(),
        &ca,
    );
    Some(Fetched {
        value,
        lifetime: Lifetime::After(Duration::from_secs((renew_at - now) as u64)),
    })
}

/// The `pkiCert` value from a `pki/issue` response's `data`.
pub fn from_response(data: &Value) -> Fetched {
    let text = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
    let chain: Vec<String> = data["ca_chain"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let value = pki_value(
        &text("certificate"),
        &text("private_key"),
        &text("issuing_ca"),
        &chain,
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let lifetime = match data["expiration"].as_u64() {
        Some(exp) => Lifetime::Expires(Duration::from_secs(exp.saturating_sub(now))),
        None => Lifetime::Static { exact: false },
    };
    Fetched { value, lifetime }
}

/// consul-template hands out PEM-encoded blocks, each ending in a newline (`pem.EncodeToMemory`);
/// Vault's response strings have none. Without it `{{ .Cert }}{{ .Key }}` glues two blocks on one
/// line, which no PEM reader (ours included, when reusing the file) accepts.
fn pem_block(pem: &str) -> String {
    if pem.is_empty() || pem.ends_with('\n') {
        pem.to_owned()
    } else {
        format!("{pem}\n")
    }
}

fn pki_value(cert: &str, key: &str, ca: &str, chain: &[String]) -> Value {
    let chain: Vec<String> = chain.iter().map(|c| pem_block(c)).collect();
    let fields = json!({
        "Cert": pem_block(cert),
        "Key": pem_block(key),
        "CA": pem_block(ca),
        "CAChain": chain,
    });
    let mut value = fields.clone();
    value["Data"] = fields;
    value
}

fn encode(pem: &Pem) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pem.contents);
    let mut out = format!("-----BEGIN {}-----\n", pem.label);
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {}-----\n", pem.label));
    out
}
