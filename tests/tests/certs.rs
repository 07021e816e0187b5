//! The webhook certificate chain from `ferrovault-certs`, checked by the real `openssl` CLI.
//! (The `ferrovault-certs generate` binary itself is tested in `certs/tests/cli.rs`.)

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferrovault_certs::files::write_bundle;
use ferrovault_certs::{Error, generate_ca, issue_leaf, service_dns_names};

const DAY: Duration = Duration::from_secs(86_400);

/// The `openssl` CLI's stdout as text.
fn openssl(args: &[&str]) -> String {
    String::from_utf8(ferrovault_tests::tools::openssl(args)).expect("openssl prints text")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn issued_chain_verifies_with_openssl_and_names_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let names = service_dns_names("fv-ferrovault", "vault-system");
    let ca = generate_ca("ferrovault test CA", 30 * DAY).unwrap();
    let leaf = issue_leaf(&ca, &names, &[IpAddr::V4(Ipv4Addr::LOCALHOST)], 7 * DAY).unwrap();
    let files = write_bundle(dir.path(), &ca.cert_pem, &leaf, false).unwrap();

    let verified = openssl(&["verify", "-CAfile", path(&files.ca_cert), path(&files.tls_cert)]);
    assert!(verified.trim_end().ends_with(": OK"), "{verified}");
    // Also as a TLS server certificate for the Service name, the way the API server checks it.
    let verified = openssl(&[
        "verify",
        "-purpose",
        "sslserver",
        "-verify_hostname",
        "fv-ferrovault.vault-system.svc",
        "-CAfile",
        path(&files.ca_cert),
        path(&files.tls_cert),
    ]);
    assert!(verified.trim_end().ends_with(": OK"), "{verified}");

    let sans = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        path(&files.tls_cert),
    ]);
    for name in &names {
        assert!(
            sans.contains(&format!("DNS:{name}")),
            "{name} missing from {sans}"
        );
    }
    assert!(sans.contains("IP Address:127.0.0.1"), "{sans}");

    let mode = std::fs::metadata(&files.tls_key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_certificate_for_another_service_does_not_verify_for_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = generate_ca("ferrovault test CA", DAY).unwrap();
    let leaf = issue_leaf(&ca, &service_dns_names("other", "ns"), &[], DAY).unwrap();
    let files = write_bundle(dir.path(), &ca.cert_pem, &leaf, false).unwrap();
    let output = Command::new("openssl")
        .args([
            "verify",
            "-verify_hostname",
            "fv-ferrovault.vault-system.svc",
            "-CAfile",
        ])
        .args([path(&files.ca_cert), path(&files.tls_cert)])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn writing_never_replaces_an_existing_key_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let ca = generate_ca("ferrovault test CA", DAY).unwrap();
    let leaf = issue_leaf(&ca, &service_dns_names("s", "ns"), &[], DAY).unwrap();
    let key = dir.path().join("tls.key");
    std::fs::write(&key, "existing").unwrap();

    match write_bundle(dir.path(), &ca.cert_pem, &leaf, false) {
        Err(Error::Exists { path }) => assert_eq!(path, key),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "existing");

    let files = write_bundle(dir.path(), &ca.cert_pem, &leaf, true).unwrap();
    assert_eq!(std::fs::read_to_string(&files.tls_key).unwrap(), leaf.key_pem);
    let mode = std::fs::metadata(&files.tls_key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
