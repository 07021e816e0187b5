use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use base64::Engine as _;

use super::*;

const DAY: Duration = Duration::from_secs(86_400);

fn names() -> Vec<String> {
    service_dns_names("ferrovault", "vault-system")
}

fn parse(pem: &str) -> Vec<u8> {
    first_certificate_der(pem, "test").expect("PEM parses")
}

#[test]
fn service_dns_names_cover_every_cluster_form() {
    assert_eq!(
        names(),
        [
            "ferrovault",
            "ferrovault.vault-system",
            "ferrovault.vault-system.svc",
            "ferrovault.vault-system.svc.cluster.local",
        ]
    );
}

#[test]
fn ca_is_a_p256_ca_with_cert_sign() {
    let ca = generate_ca("test CA", 30 * DAY).unwrap();
    let der = parse(&ca.cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert!(cert.is_ca());
    let usage = cert.key_usage().unwrap().expect("keyUsage present").value;
    assert!(usage.key_cert_sign());
    assert_eq!(
        cert.public_key()
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok()),
        Some(x509_parser::oid_registry::OID_EC_P256)
    );
    assert!(ca.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn leaf_has_sans_server_auth_and_is_signed_by_the_ca() {
    let ca = generate_ca("test CA", 30 * DAY).unwrap();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let leaf = issue_leaf(&ca, &names(), &[ip], 10 * DAY).unwrap();
    let der = parse(&leaf.cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert!(!cert.is_ca());

    let san = cert
        .subject_alternative_name()
        .unwrap()
        .expect("SAN present")
        .value;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &san.general_names {
        match name {
            x509_parser::extensions::GeneralName::DNSName(d) => dns.push(d.to_string()),
            x509_parser::extensions::GeneralName::IPAddress(b) => ips.push(b.to_vec()),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    assert_eq!(dns, names());
    assert_eq!(ips, [vec![127, 0, 0, 1]]);

    let eku = cert.extended_key_usage().unwrap().expect("EKU present").value;
    assert!(eku.server_auth);
    let usage = cert.key_usage().unwrap().expect("keyUsage present").value;
    assert!(usage.digital_signature());

    let ca_der = parse(&ca.cert_pem);
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    assert_eq!(cert.issuer(), ca_cert.subject());
    cert.verify_signature(Some(ca_cert.public_key()))
        .expect("leaf signature verifies with the CA key");
}

#[test]
fn leaf_validity_is_capped_by_the_ca() {
    let ca = generate_ca("short CA", 2 * DAY).unwrap();
    let leaf = issue_leaf(&ca, &names(), &[], 365 * DAY).unwrap();
    assert!(not_after(&leaf.cert_pem).unwrap() <= not_after(&ca.cert_pem).unwrap());
}

#[test]
fn not_after_reports_the_requested_validity() {
    let ca = generate_ca("test CA", 10 * DAY).unwrap();
    let expires = not_after(&ca.cert_pem).unwrap();
    let now = SystemTime::now();
    assert!(expires > now + 9 * DAY);
    assert!(expires <= now + 10 * DAY + Duration::from_secs(1));
}

#[test]
fn ca_round_trips_through_pem() {
    let ca = generate_ca("test CA", DAY).unwrap();
    let again = ca_from_pem(&ca.cert_pem, &ca.key_pem).unwrap();
    assert_eq!(again, ca);
    issue_leaf(&again, &names(), &[], DAY).unwrap();
}

#[test]
fn ca_from_pem_rejects_a_foreign_key() {
    let ca = generate_ca("one", DAY).unwrap();
    let other = generate_ca("two", DAY).unwrap();
    let err = ca_from_pem(&ca.cert_pem, &other.key_pem).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
}

#[test]
fn ca_from_pem_rejects_a_leaf() {
    let ca = generate_ca("one", DAY).unwrap();
    let leaf = issue_leaf(&ca, &names(), &[], DAY).unwrap();
    let err = ca_from_pem(&leaf.cert_pem, &leaf.key_pem).unwrap_err();
    assert!(err.to_string().contains("CA:TRUE"), "{err}");
}

#[test]
fn key_material_never_appears_in_errors_or_debug() {
    let ca = generate_ca("one", DAY).unwrap();
    let key_body = ca.key_pem.lines().nth(1).unwrap().to_owned();
    let broken_key = ca.key_pem.replace(&key_body[..10], "!!!!!!!!!!");
    let err = ca_from_pem(&ca.cert_pem, &broken_key).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&key_body[10..]), "{shown}");
    assert!(shown.contains("CA key"), "{shown}");

    let debug = format!("{ca:?}");
    assert!(!debug.contains(&key_body));
    assert!(debug.contains("<redacted>"));
    let leaf = issue_leaf(&ca, &names(), &[], DAY).unwrap();
    assert!(!format!("{leaf:?}").contains(leaf.key_pem.lines().nth(1).unwrap()));
}

#[test]
fn garbage_certificate_is_a_clear_error() {
    let err = not_after("hello").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("certificate is not a PEM-encoded X.509 certificate"),
        "{err}"
    );
}

#[test]
fn leaf_needs_a_name() {
    let ca = generate_ca("one", DAY).unwrap();
    assert!(matches!(
        issue_leaf(&ca, &[], &[], DAY),
        Err(Error::NoSubjectAltNames)
    ));
}

#[test]
fn validity_must_be_positive_and_bounded() {
    assert!(matches!(
        generate_ca("x", Duration::ZERO),
        Err(Error::InvalidValidity { days: 0 })
    ));
    assert!(matches!(
        generate_ca("x", 40_000 * DAY),
        Err(Error::InvalidValidity { days: 40_000 })
    ));
}

#[test]
fn dns_names_are_validated() {
    for ok in ["a", "svc.ns.svc", "*.example.com", "x-1.y2"] {
        validate_dns_name("dns", ok).unwrap();
    }
    for bad in [
        "",
        "UPPER",
        "-a",
        "a-",
        "a..b",
        "a_b",
        "*",
        "a b",
        &"a".repeat(64),
    ] {
        let err = validate_dns_name("--dns", bad).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("--dns: "), "{msg}");
        assert!(msg.contains("accepted:"), "{msg}");
    }
    let err = validate_dns_label("--service", "a.b").unwrap_err();
    assert!(err.to_string().contains("\"a.b\""), "{err}");
}

#[test]
fn ca_bundle_is_base64_of_the_pem() {
    let ca = generate_ca("one", DAY).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(ca.ca_bundle())
        .unwrap();
    assert_eq!(decoded, ca.cert_pem.as_bytes());
}
