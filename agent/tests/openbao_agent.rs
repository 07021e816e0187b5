//! End-to-end tests of the real `ferrovault-agent` binary against a real OpenBao dev server per test.
//! No timing assertions: every wait is a poll with a generous limit.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferrovault_contract::AuthMethod;
use ferrovault_tests::tools::openssl;
use support::{Env, assert_no_secrets, template, wait_for_contents};

const SEED_TEMPLATE: &str = "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}\n";

#[test]
fn seed_template_on_kv1_renders_the_exact_file() {
    let mut env = Env::start();
    env.bao.kv1_at_secret().unwrap();
    env.bao
        .kv_put(
            "secret/my-secret",
            &[("username", "alice"), ("password", "s3cr3t")],
        )
        .unwrap();
    let method = env.approle(&[]);
    let cfg = env.config(method, vec![template("database-config.txt", SEED_TEMPLATE)]);

    let (status, log) = env.run_init(&cfg, &[]);

    assert!(status.success(), "init failed:\n{log}");
    let file = env.secret_file("database-config.txt");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "postgresql://alice:s3cr3t@postgres:5432/wizard\n"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o644);
    let token = std::fs::read_to_string(env.home().join(".vault-token")).unwrap();
    assert!(!token.is_empty());
    assert_eq!(
        std::fs::metadata(env.home().join(".vault-token")).unwrap().mode() & 0o777,
        0o640
    );
    let creds = env.creds.clone().unwrap();
    assert_no_secrets(&log, &["s3cr3t", &token, &creds.secret_id, env.bao.root_token()]);
}

#[test]
fn kv_v1_and_v2_expose_data_as_vault_agent_does() {
    let mut env = Env::start();
    env.bao.enable_kv("kv1", 1).unwrap();
    env.bao.kv_put("kv1/app", &[("username", "v1user")]).unwrap();
    env.bao.kv_put("secret/app", &[("username", "v2user")]).unwrap();
    let method = env.approle(&[]);
    let mut perms = template(
        "v2",
        "{{ with secret \"secret/app\" }}{{ .Data.data.username }}|{{ .Data.username }}{{ end }}",
    );
    perms.perms = Some("0600".parse().unwrap());
    let cfg = env.config(
        method,
        vec![
            template("v1", "{{ with secret \"kv1/app\" }}{{ .Data.username }}{{ end }}"),
            perms,
            template(
                "v2-explicit",
                "{{ with secret \"secret/data/app\" }}{{ .Data.data.username }}{{ end }}",
            ),
        ],
    );

    let (status, log) = env.run_init(&cfg, &[]);

    assert!(status.success(), "init failed:\n{log}");
    assert_eq!(std::fs::read_to_string(env.secret_file("v1")).unwrap(), "v1user");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("v2")).unwrap(),
        "v2user|<no value>"
    );
    assert_eq!(
        std::fs::metadata(env.secret_file("v2")).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(env.secret_file("v2-explicit")).unwrap(),
        "v2user"
    );
}

#[test]
fn jwt_login_with_a_key_generated_here() {
    let env = Env::start();
    env.bao.kv_put("secret/app", &[("username", "jwt-user")]).unwrap();
    env.bao
        .policy_for("app", &["secret/*"], &["read", "list"])
        .unwrap();
    let dir = env.root.path().join("jwt");
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key.pem");
    let public = dir.join("pub.pem");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    env.bao.enable_auth("jwt", "jwt").unwrap();
    env.bao
        .setup(
            &[
                "write",
                "auth/jwt/config",
                &format!("jwt_validation_pubkeys=@{}", public.display()),
            ],
            None,
        )
        .unwrap();
    env.bao
        .write(
            "auth/jwt/role/app",
            &[
                ("role_type", "jwt"),
                ("bound_audiences", "ferrovault"),
                ("user_claim", "sub"),
                ("token_policies", "default,app"),
            ],
        )
        .unwrap();
    let jwt = sign_jwt(&key, "ferrovault", "system:serviceaccount:default:app");
    let jwt_file = dir.join("token");
    std::fs::write(&jwt_file, &jwt).unwrap();
    let method = AuthMethod {
        kind: "jwt".into(),
        mount_path: "auth/jwt".into(),
        config: BTreeMap::from([
            ("role".into(), "app".into()),
            ("path".into(), jwt_file.display().to_string()),
        ]),
        ..Default::default()
    };
    let cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.username }}{{ end }}",
        )],
    );

    let (status, log) = env.run_init(&cfg, &[]);

    assert!(status.success(), "init failed:\n{log}");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("app")).unwrap(),
        "jwt-user"
    );
    assert!(
        jwt_file.exists(),
        "the JWT file is kept unless remove_jwt_after_reading is true"
    );
    assert_no_secrets(&log, &[&jwt]);
}

#[test]
fn token_is_renewed_and_replaced_past_several_ttls() {
    let mut env = Env::start();
    env.bao
        .kv_put("secret/app", &[("password", "first-pass")])
        .unwrap();
    let method = env.approle(&[("token_ttl", "3s"), ("token_max_ttl", "10s")]);
    let mut cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}",
        )],
    );
    cfg.template_config.static_secret_render_interval = Some("1s".parse().unwrap());
    let agent = env.spawn(&cfg, "sidecar");
    wait_for_contents(&env.secret_file("app"), "first-pass", &agent);

    // Past the max TTL: the first token is dead, so the agent must have logged in again.
    std::thread::sleep(Duration::from_secs(12));
    env.bao
        .kv_put("secret/app", &[("password", "second-pass")])
        .unwrap();

    wait_for_contents(&env.secret_file("app"), "second-pass", &agent);
    let log = agent.log();
    assert!(
        log.matches("authenticated").count() >= 2,
        "expected a re-login:\n{log}"
    );
    let token = std::fs::read_to_string(env.home().join(".vault-token")).unwrap();
    let creds = env.creds.clone().unwrap();
    assert_no_secrets(
        &log,
        &[
            "first-pass",
            "second-pass",
            &token,
            &creds.secret_id,
            &creds.role_id,
        ],
    );
}

#[test]
fn certificates_are_reissued_before_they_expire() {
    let mut env = Env::start();
    env.bao.enable_pki("pki", "r").unwrap();
    let method = env.approle(&[]);
    let cfg = env.config(
        method,
        vec![template(
            "cert.pem",
            "{{ with secret \"pki/issue/r\" \"common_name=app.example.com\" \"ttl=5s\" }}{{ .Data.certificate }}{{ end }}",
        )],
    );
    let agent = env.spawn(&cfg, "sidecar");
    let file = env.secret_file("cert.pem");
    let first = ferrovault_tests::wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|c| c.contains("BEGIN CERTIFICATE"))
    })
    .unwrap_or_else(|| panic!("no certificate rendered:\n{}", agent.log()));

    let second = ferrovault_tests::wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|c| c.contains("BEGIN CERTIFICATE") && *c != first)
    });

    assert!(second.is_some(), "certificate never re-issued:\n{}", agent.log());
}

#[test]
fn pki_cert_reuses_the_certificate_in_its_destination_until_90_percent_of_its_life() {
    let mut env = Env::start();
    env.bao.enable_pki("pki", "r").unwrap();
    let method = env.approle(&[]);
    let cfg = env.config(
        method,
        vec![template(
            "tls.pem",
            "{{ with pkiCert \"pki/issue/r\" \"common_name=app.example.com\" \"ttl=1h\" }}{{ .Cert }}{{ .Key }}{{ .CA }}{{ end }}",
        )],
    );
    let file = env.secret_file("tls.pem");

    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    let first = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        first.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "leaf + CA"
    );
    assert_eq!(first.matches("PRIVATE KEY-----").count(), 2, "one key block");
    assert!(
        first.contains("-----END CERTIFICATE-----\n-----BEGIN"),
        "blocks on their own lines"
    );

    // a restarted agent (a new pod's init container, a re-login) keeps the still-valid certificate
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    // (no assert_eq!: a failure must not print the private key)
    assert!(
        std::fs::read_to_string(&file).unwrap() == first,
        "certificate was re-issued"
    );
    assert!(!log.contains("PRIVATE KEY"), "key material in the log");
}

#[test]
fn sidecar_survives_an_openbao_restart_and_readers_never_see_a_partial_file() {
    let mut env = Env::start();
    env.bao
        .kv_put("secret/app", &[("password", "before-outage")])
        .unwrap();
    let method = env.approle(&[]);
    let mut cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}",
        )],
    );
    cfg.template_config.static_secret_render_interval = Some("1s".parse().unwrap());
    cfg.template_config.exit_on_retry_failure = false;
    cfg.vault.max_retries = Some(3);
    let mut agent = env.spawn(&cfg, "sidecar");
    let file = env.secret_file("app");
    wait_for_contents(&file, "before-outage", &agent);

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (file, stop) = (file.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(Ordering::Relaxed) {
                seen.insert(std::fs::read_to_string(&file).expect("file is always there"));
            }
            seen
        })
    };
    env.bao.stop();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent.exited().is_none(),
        "agent died during the outage:\n{}",
        agent.log()
    );
    env.bao.restart().unwrap();
    env.bao
        .kv_put("secret/app", &[("password", "after-outage")])
        .unwrap();

    wait_for_contents(&file, "after-outage", &agent);
    stop.store(true, Ordering::Relaxed);
    let seen = reader.join().unwrap();
    let expected: std::collections::BTreeSet<String> = ["before-outage", "after-outage"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(seen.is_subset(&expected), "reader saw {seen:?}");
}

#[test]
fn init_with_vault_unreachable_fails_within_the_bound_with_one_clear_line() {
    let env = Env::start();
    let mut cfg = env.config(
        AuthMethod {
            kind: "approle".into(),
            mount_path: "auth/approle".into(),
            min_backoff: Some("100ms".parse().unwrap()),
            max_backoff: Some("300ms".parse().unwrap()),
            config: BTreeMap::from([("role_id_file_path".into(), "/dev/null".into())]),
            ..Default::default()
        },
        vec![template("app", SEED_TEMPLATE)],
    );
    cfg.vault.address = format!("http://127.0.0.1:{}", ferrovault_tests::free_port());
    cfg.log.level = "error".into();

    let (status, log) = env.run_init(&cfg, &["--init-timeout", "2s"]);

    assert_eq!(status.code(), Some(1), "{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one error line:\n{log}");
    assert!(lines[0].contains("init did not complete within 2s"), "{log}");
    assert!(
        lines[0].contains("login with approle at auth/approle failed"),
        "{log}"
    );
    assert!(!env.secret_file("app").exists());
}

#[test]
fn template_errors_name_the_template_line_and_column() {
    let mut env = Env::start();
    let method = env.approle(&[]);
    let cfg = env.config(
        method,
        vec![template(
            "broken",
            "ok line\n{{ with secret \"secret/app\" }}{{ .Data.x \n",
        )],
    );

    let (status, log) = env.run_init(&cfg, &[]);

    assert!(!status.success());
    assert!(log.contains("template \"broken\": line 2, column"), "{log}");
}

#[test]
fn a_missing_secret_fails_init_naming_template_and_path() {
    let mut env = Env::start();
    let method = env.approle(&[]);
    let mut cfg = env.config(
        method,
        vec![template(
            "db",
            "{{ with secret \"secret/nope\" }}{{ .Data.data.x }}{{ end }}",
        )],
    );
    cfg.vault.max_retries = Some(2);

    let (status, log) = env.run_init(&cfg, &[]);

    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("template \"db\"") && log.contains("secret/nope"),
        "{log}"
    );
    assert!(!env.secret_file("db").exists());
}

#[test]
fn native_mode_marks_ready_and_ready_probe_follows_it() {
    let mut env = Env::start();
    env.bao.kv_put("secret/app", &[("password", "p")]).unwrap();
    let method = env.approle(&[]);
    let cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}",
        )],
    );
    let probe = || env.command(&cfg, "ready").status().unwrap().success();
    assert!(!probe(), "not ready before the agent ran");

    let agent = env.spawn(&cfg, "native");
    let ready = ferrovault_tests::wait_for(Duration::from_secs(60), || probe().then_some(()));

    assert!(ready.is_some(), "never ready:\n{}", agent.log());
    assert_eq!(std::fs::read_to_string(env.secret_file("app")).unwrap(), "p");
    assert!(env.home().join(".ferrovault-ready").exists());
}

#[test]
fn unchanged_secrets_are_not_rewritten_and_sigterm_revokes_and_exits_zero() {
    let mut env = Env::start();
    env.bao.kv_put("secret/app", &[("password", "stable")]).unwrap();
    let method = env.approle(&[]);
    let mut cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}",
        )],
    );
    cfg.template_config.static_secret_render_interval = Some("1s".parse().unwrap());
    cfg.revoke_on_shutdown = true;
    let agent = env.spawn(&cfg, "sidecar");
    let file = env.secret_file("app");
    wait_for_contents(&file, "stable", &agent);
    let before = std::fs::metadata(&file).unwrap();

    // Let several re-reads of the same data happen (interval 1s).
    let rereads = ferrovault_tests::wait_for(Duration::from_secs(60), || {
        (agent.log().matches("re-fetched").count() >= 3).then_some(())
    });
    assert!(rereads.is_some(), "no re-reads:\n{}", agent.log());
    assert!(agent.log().contains("changed=false"), "{}", agent.log());
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (before.ino(), before.mtime(), before.mtime_nsec()),
        (after.ino(), after.mtime(), after.mtime_nsec())
    );
    let token = std::fs::read_to_string(env.home().join(".vault-token")).unwrap();
    assert!(env.bao.bao(&["token", "lookup", &token]).is_ok());

    agent.terminate();
    let (status, log) = agent.wait(Duration::from_secs(30));

    assert!(status.success(), "{log}");
    assert!(log.contains("token revoked"), "{log}");
    assert!(
        env.bao.bao(&["token", "lookup", &token]).is_err(),
        "token still valid"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "stable");
    assert_no_secrets(&log, &["stable", &token]);
}

#[test]
fn destinations_escaping_the_secrets_dirs_are_refused() {
    let mut env = Env::start();
    let method = env.approle(&[]);
    let mut escape = template("evil", "x");
    escape.destination = "/vault/secrets/../../etc/evil".into();
    let cfg = env.config(method, vec![escape]);

    let (status, log) = env.run_init(&cfg, &[]);

    assert!(!status.success());
    assert!(log.contains("outside the allowed directories"), "{log}");
    assert!(!env.root.path().join("etc/evil").exists());
}

#[test]
fn bad_config_is_a_usage_error() {
    let env = Env::start();
    let mut cfg = env.config(AuthMethod::default(), vec![]);
    cfg.auto_auth.method.kind = "gcp".into();

    let (status, log) = env.run_init(&cfg, &[]);

    assert_eq!(status.code(), Some(64), "{log}");
    assert!(
        log.contains("auto_auth.method.type: \"gcp\" is not supported"),
        "{log}"
    );
}

#[test]
fn tls_with_ca_file_inline_ca_and_server_name_override() {
    let env = Env::tls();
    env.bao.kv_put("secret/app", &[("username", "over-tls")]).unwrap();
    let token_file = env.root.path().join("token");
    std::fs::write(&token_file, env.bao.root_token()).unwrap();
    let method = AuthMethod {
        kind: "token_file".into(),
        mount_path: "auth/token".into(),
        config: BTreeMap::from([("token_file_path".into(), token_file.display().to_string())]),
        ..Default::default()
    };
    let ca = env.bao.ca_cert().unwrap();
    let tmpl = || {
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.username }}{{ end }}",
        )]
    };

    let mut by_file = env.config(method.clone(), tmpl());
    by_file.vault.ca_cert = Some(ca.display().to_string());
    by_file.vault.tls_server_name = Some("localhost".into());
    by_file.log.format = "json".into();
    let (status, log) = env.run_init(&by_file, &[]);
    assert!(status.success(), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("app")).unwrap(),
        "over-tls"
    );
    for line in log.lines() {
        let line: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        // Issue #10 §4: Vault's keys, so pipelines built for Vault Agent read ours.
        for key in ["@level", "@message", "@module", "@timestamp"] {
            assert!(line.get(key).is_some(), "no {key} in {line}");
        }
    }
    assert!(log.contains("\"@module\":\"ferrovault-agent."), "{log}");
    assert_no_secrets(&log, &[env.bao.root_token(), "over-tls"]);

    let mut inline = env.config(method.clone(), tmpl());
    inline.vault.ca_cert_pem = Some(std::fs::read_to_string(&ca).unwrap());
    let (status, log) = env.run_init(&inline, &[]);
    assert!(status.success(), "{log}");

    let mut wrong_name = env.config(method.clone(), tmpl());
    wrong_name.vault.ca_cert = Some(ca.display().to_string());
    wrong_name.vault.tls_server_name = Some("vault.example.com".into());
    wrong_name.auto_auth.method.exit_on_err = true;
    let (status, log) = env.run_init(&wrong_name, &[]);
    assert!(!status.success(), "{log}");
    assert!(log.contains("token_file") && log.contains("certificate"), "{log}");

    let mut untrusted = env.config(method, tmpl());
    untrusted.auto_auth.method.exit_on_err = true;
    let (status, log) = env.run_init(&untrusted, &[]);
    assert!(
        !status.success(),
        "no CA given: the system store does not trust the dev CA\n{log}"
    );
}

#[test]
fn the_token_method_reads_vault_token() {
    let env = Env::start();
    env.bao
        .kv_put("secret/app", &[("username", "from-env-token")])
        .unwrap();
    let method = AuthMethod {
        kind: "token".into(),
        mount_path: "auth/token".into(),
        ..Default::default()
    };
    let cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.username }}{{ end }}",
        )],
    );
    let mut cmd = env.command(&cfg, "init");
    cmd.env("VAULT_TOKEN", env.bao.root_token());

    let status = cmd.status().unwrap();

    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(env.secret_file("app")).unwrap(),
        "from-env-token"
    );
}

#[test]
fn namespace_is_used_for_login_and_reads() {
    let env = Env::start();
    let b = &env.bao;
    b.setup(&["namespace", "create", "team"], None).unwrap();
    b.setup(
        &[
            "secrets",
            "enable",
            "-namespace=team",
            "-path=kv",
            "-version=2",
            "kv",
        ],
        None,
    )
    .unwrap();
    b.setup(&["kv", "put", "-namespace=team", "kv/app", "u=ns-user"], None)
        .unwrap();
    b.setup(
        &["policy", "write", "-namespace=team", "app", "-"],
        Some("path \"kv/*\" { capabilities = [\"read\"] }"),
    )
    .unwrap();
    b.setup(&["auth", "enable", "-namespace=team", "approle"], None)
        .unwrap();
    b.setup(
        &[
            "write",
            "-namespace=team",
            "auth/approle/role/app",
            "token_policies=default,app",
        ],
        None,
    )
    .unwrap();
    b.setup(
        &[
            "write",
            "-namespace=team",
            "auth/approle/role/app/role-id",
            "role_id=ns-role",
        ],
        None,
    )
    .unwrap();
    b.setup(
        &[
            "write",
            "-namespace=team",
            "auth/approle/role/app/custom-secret-id",
            "secret_id=ns-secret-id",
        ],
        None,
    )
    .unwrap();
    let creds = env.root.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("role-id"), "ns-role").unwrap();
    std::fs::write(creds.join("secret-id"), "ns-secret-id").unwrap();
    let method = AuthMethod {
        kind: "approle".into(),
        mount_path: "auth/approle".into(),
        namespace: Some("team".into()),
        exit_on_err: true,
        config: BTreeMap::from([
            (
                "role_id_file_path".into(),
                creds.join("role-id").display().to_string(),
            ),
            (
                "secret_id_file_path".into(),
                creds.join("secret-id").display().to_string(),
            ),
        ]),
        ..Default::default()
    };
    let cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"kv/app\" }}{{ .Data.data.u }}{{ end }}",
        )],
    );

    let (status, log) = env.run_init(&cfg, &[]);

    assert!(status.success(), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("app")).unwrap(),
        "ns-user"
    );
    assert_no_secrets(&log, &["ns-secret-id"]);
}

#[test]
fn command_runs_only_when_the_file_changed() {
    let mut env = Env::start();
    env.bao.kv_put("secret/app", &[("u", "one")]).unwrap();
    let method = env.approle(&[]);
    let marker = env.root.path().join("reloaded");
    let mut tmpl = template(
        "app",
        "{{ with secret \"secret/app\" }}{{ .Data.data.u }}{{ end }}",
    );
    tmpl.command = Some(format!("touch {}", marker.display()).parse().unwrap());
    let cfg = env.config(method, vec![tmpl]);

    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert!(marker.exists(), "command did not run:\n{log}");

    std::fs::remove_file(&marker).unwrap();
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert!(!marker.exists(), "command ran although the file did not change");

    env.bao.kv_put("secret/app", &[("u", "two")]).unwrap();
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert!(marker.exists(), "command did not run after a change");
    assert_eq!(std::fs::read_to_string(env.secret_file("app")).unwrap(), "two");
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An RS256 JWT signed with the openssl CLI.
fn sign_jwt(key: &std::path::Path, audience: &str, subject: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims =
        serde_json::json!({"sub": subject, "aud": audience, "iat": now, "nbf": now - 5, "exp": now + 600});
    let payload = b64url(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let dir = key.parent().unwrap();
    let input = dir.join("signing-input");
    std::fs::write(&input, &signing_input).unwrap();
    let signature = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        key.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    format!("{signing_input}.{}", b64url(&signature))
}

#[test]
fn a_revoked_token_is_replaced_at_once_not_after_minutes_of_retries() {
    // Issue #8, finding 9: on 403 the agent retried the dead token 12 times (150-177 s).
    let mut env = Env::start();
    env.bao
        .kv_put("secret/app", &[("password", "first-pass")])
        .unwrap();
    let method = env.approle(&[]);
    let mut cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}",
        )],
    );
    cfg.template_config.static_secret_render_interval = Some("1s".parse().unwrap());
    let agent = env.spawn(&cfg, "sidecar");
    wait_for_contents(&env.secret_file("app"), "first-pass", &agent);
    let sink = env.home().join(".vault-token");
    let first = std::fs::read_to_string(&sink).unwrap();
    env.bao.bao(&["token", "revoke", &first]).unwrap();
    env.bao
        .kv_put("secret/app", &[("password", "second-pass")])
        .unwrap();

    // Well inside the minutes the retries took: the next refresh's 403 brings a new login.
    wait_for_contents(&env.secret_file("app"), "second-pass", &agent);
    let log = agent.log();
    assert!(log.contains("permission denied; logging in again"), "{log}");
    assert_eq!(
        log.matches("fetch failed").count(),
        0,
        "the dead token was retried:\n{log}"
    );
    let second = std::fs::read_to_string(&sink).unwrap();
    assert_ne!(first, second, "the sink holds the new token");
    let creds = env.creds.clone().unwrap();
    assert_no_secrets(
        &log,
        &["first-pass", "second-pass", &first, &second, &creds.secret_id],
    );
}

#[test]
fn a_runaway_template_stops_at_the_step_limit_instead_of_running_past_init_timeout() {
    // Issue #8, finding 2: nested range/loop ran past --init-timeout and grew to 639 MB.
    let mut env = Env::start();
    env.bao.kv_put("secret/app", &[("password", "p")]).unwrap();
    let method = env.approle(&[]);
    let cfg = env.config(
        method,
        vec![template(
            "runaway",
            "{{ with secret \"secret/app\" }}{{ range loop 1000000 }}{{ range loop 1000000 }}{{ end }}{{ end }}{{ end }}",
        )],
    );
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(!status.success(), "init succeeded:\n{log}");
    assert!(log.contains("(the step limit)"), "{log}");
    assert!(!env.secret_file("runaway").exists(), "a file was written");
}

#[test]
fn an_init_timeout_during_retries_names_the_last_real_error() {
    // Issue #10 §2: the final line said "last error: none recorded" after logging the real cause.
    let mut env = Env::start();
    let method = env.approle(&[]);
    let mut cfg = env.config(
        method,
        vec![template(
            "db",
            "{{ with secret \"secret/nope\" }}{{ .Data.data.x }}{{ end }}",
        )],
    );
    cfg.vault.max_retries = Some(1000);
    let (status, log) = env.run_init(&cfg, &["--init-timeout", "2s"]);
    assert!(!status.success(), "{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(last.contains("did not complete within"), "{log}");
    assert!(
        last.contains("secret/nope") && !last.contains("none recorded"),
        "{last}"
    );
}
