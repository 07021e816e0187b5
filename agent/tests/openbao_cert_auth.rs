//! `auth-type: cert` (issue #10 §2) against OpenBao's TLS certificate auth method on an HTTPS dev
//! server: the agent logs in with the `vault` stanza's client certificate or with the method's own,
//! and a certificate the role does not trust fails the login with Vault's answer, not a hang.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferrovault_contract::AuthMethod;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use support::{Env, assert_no_secrets, template};

/// A CA and a client certificate it signed, written as PEM files under `dir`.
struct ClientPki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn client_pki(dir: &Path, cn: &str) -> ClientPki {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{cn} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    let pki = ClientPki {
        ca: dir.join("ca.pem"),
        cert: dir.join("client.pem"),
        key: dir.join("client-key.pem"),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

fn cert_method(config: &[(&str, &str)]) -> AuthMethod {
    AuthMethod {
        kind: "cert".into(),
        mount_path: "auth/cert".into(),
        min_backoff: Some("100ms".parse().unwrap()),
        max_backoff: Some("500ms".parse().unwrap()),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

#[test]
fn cert_login_with_the_vault_stanzas_certificate_or_the_methods_own() {
    let env = Env::tls();
    env.bao.kv_put("secret/app", &[("v", "by-certificate")]).unwrap();
    env.bao
        .policy_for("app", &["secret/*"], &["read", "list"])
        .unwrap();
    env.bao.enable_auth("cert", "cert").unwrap();
    let trusted = client_pki(&env.root.path().join("trusted"), "web-client");
    env.bao
        .write(
            "auth/cert/certs/web",
            &[
                ("certificate", &format!("@{}", trusted.ca.display())),
                ("token_policies", "app"),
                ("token_ttl", "1h"),
            ],
        )
        .unwrap();
    let vault_ca = env.bao.ca_cert().unwrap();
    let tmpl = || {
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.v }}{{ end }}",
        )]
    };

    // 1. the vault stanza's certificate (annotations client-cert / client-key)
    let mut cfg = env.config(cert_method(&[("name", "web")]), tmpl());
    cfg.vault.ca_cert = Some(vault_ca.display().to_string());
    cfg.vault.client_cert = Some(trusted.cert.display().to_string());
    cfg.vault.client_key = Some(trusted.key.display().to_string());
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("app")).unwrap(),
        "by-certificate"
    );
    let key_pem = std::fs::read_to_string(&trusted.key).unwrap();
    let token = std::fs::read_to_string(env.home().join(".vault-token")).unwrap();
    assert_no_secrets(&log, &[&token, key_pem.lines().nth(1).unwrap(), "by-certificate"]);

    // 2. the method's own (auth-config-client-cert / -key), no name: every role the cert matches
    std::fs::remove_file(env.secret_file("app")).unwrap();
    let own = cert_method(&[
        ("client_cert", &trusted.cert.display().to_string()),
        ("client_key", &trusted.key.display().to_string()),
        ("ca_cert", &vault_ca.display().to_string()),
    ]);
    let mut cfg = env.config(own, tmpl());
    cfg.vault.ca_cert = Some(vault_ca.display().to_string());
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("app")).unwrap(),
        "by-certificate"
    );

    // 3. a certificate from a CA the role does not trust: Vault refuses, the agent says so
    let stranger = client_pki(&env.root.path().join("stranger"), "stranger");
    let mut method = cert_method(&[("name", "web")]);
    method.exit_on_err = true;
    let mut cfg = env.config(method, tmpl());
    cfg.vault.ca_cert = Some(vault_ca.display().to_string());
    cfg.vault.client_cert = Some(stranger.cert.display().to_string());
    cfg.vault.client_key = Some(stranger.key.display().to_string());
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(!status.success(), "{log}");
    assert!(log.contains("cert") && log.contains("auth/cert"), "{log}");

    // 4. no certificate at all: a configuration error at start, before any request
    let mut cfg = env.config(cert_method(&[]), tmpl());
    cfg.vault.ca_cert = Some(vault_ca.display().to_string());
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(!status.success(), "{log}");
    assert!(log.contains("needs a client certificate"), "{log}");
}
