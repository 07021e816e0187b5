//! `ferrovault-certs generate` as a user runs it, checked with the real `openssl` CLI.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;

/// The `openssl` CLI's stdout as text.
fn openssl(args: &[&str]) -> String {
    String::from_utf8(ferrovault_tests::tools::openssl(args)).expect("openssl prints text")
}

fn certs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrovault-certs"))
        .args(args)
        .env_clear()
        .output()
        .expect("run ferrovault-certs")
}

fn generate(out: &Path, extra: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    let mut args = vec![
        "generate",
        "--service",
        "ferrovault",
        "--namespace",
        "vault",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    certs(&args)
}

#[test]
fn generate_writes_a_chain_openssl_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let output = generate(
        &out,
        &[
            "--ip",
            "127.0.0.1",
            "--dns",
            "webhook.example.test",
            "--days",
            "30",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let ca = out.join("ca.crt");
    let tls = out.join("tls.crt");
    let verified = openssl(&["verify", "-CAfile", ca.to_str().unwrap(), tls.to_str().unwrap()]);
    assert!(verified.trim_end().ends_with(": OK"), "{verified}");

    let sans = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        tls.to_str().unwrap(),
    ]);
    for name in [
        "DNS:ferrovault,",
        "DNS:ferrovault.vault,",
        "DNS:ferrovault.vault.svc,",
        "DNS:ferrovault.vault.svc.cluster.local,",
        "DNS:webhook.example.test,",
        "IP Address:127.0.0.1",
    ] {
        assert!(sans.contains(name), "{name} missing from {sans}");
    }
    let text = openssl(&["x509", "-noout", "-text", "-in", tls.to_str().unwrap()]);
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("prime256v1"), "{text}");
    let ca_text = openssl(&["x509", "-noout", "-text", "-in", ca.to_str().unwrap()]);
    assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
    assert!(ca_text.contains("Certificate Sign"), "{ca_text}");

    // The key matches the certificate.
    let key = out.join("tls.key");
    let cert_pub = openssl(&["x509", "-noout", "-pubkey", "-in", tls.to_str().unwrap()]);
    let key_pub = openssl(&["pkey", "-pubout", "-in", key.to_str().unwrap()]);
    assert_eq!(cert_pub, key_pub);

    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "tls.key mode is {mode:o}");

    // stdout is exactly the caBundle: base64 of ca.crt.
    let stdout = String::from_utf8(output.stdout).unwrap();
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(stdout.trim_end())
        .unwrap();
    assert_eq!(bundle, std::fs::read(&ca).unwrap());

    // Nothing secret on stderr.
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
}

#[test]
fn generate_refuses_to_overwrite_an_existing_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("tls.key");
    std::fs::write(&key, "precious").unwrap();

    let output = generate(dir.path(), &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(key.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "precious");
    assert!(!dir.path().join("tls.crt").exists());
    assert!(output.stdout.is_empty());

    let output = generate(dir.path(), &["--force"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replaced = std::fs::read_to_string(&key).unwrap();
    assert!(replaced.starts_with("-----BEGIN PRIVATE KEY-----"));
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No temporary files left behind.
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ca.crt", "tls.crt", "tls.key"]);
}

#[test]
fn second_run_without_force_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(dir.path(), &[]).status.success());
    let before = std::fs::read(dir.path().join("tls.key")).unwrap();
    let output = generate(dir.path(), &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("tls.key already exists"));
    assert_eq!(std::fs::read(dir.path().join("tls.key")).unwrap(), before);
}

#[test]
fn bad_input_names_the_flag_and_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();

    let output = certs(&[
        "generate",
        "--service",
        "Bad_Name",
        "--namespace",
        "ns",
        "--out",
        out,
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--service") && stderr.contains("Bad_Name") && stderr.contains("accepted"),
        "{stderr}"
    );

    let output = certs(&[
        "generate",
        "--service",
        "s",
        "--namespace",
        "ns",
        "--out",
        out,
        "--ip",
        "nope",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--ip"));

    let output = certs(&[
        "generate",
        "--service",
        "s",
        "--namespace",
        "ns",
        "--out",
        out,
        "--days",
        "0",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--days"));
}

#[test]
fn env_twins_configure_generate() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ferrovault-certs"))
        .arg("generate")
        .env_clear()
        .env("FERROVAULT_CERTS_SERVICE", "svc")
        .env("FERROVAULT_CERTS_NAMESPACE", "ns")
        .env("FERROVAULT_CERTS_OUT", dir.path())
        .env("FERROVAULT_CERTS_IP", "10.0.0.1,::1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tls = dir.path().join("tls.crt");
    let sans = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        tls.to_str().unwrap(),
    ]);
    assert!(sans.contains("DNS:svc.ns.svc.cluster.local"), "{sans}");
    assert!(sans.contains("IP Address:10.0.0.1"), "{sans}");
    assert!(sans.contains("IP Address:0:0:0:0:0:0:0:1"), "{sans}");
}
