//! The real `ferrovault-agent` binary against a real OpenBao dev server: env files
//! (`ferrovault.dev/env-<secret>`) and reload actions (`ferrovault.dev/reload-*-<secret>`).
//! No timing assertions: every wait is a poll with a generous limit.

mod support;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt};
use std::time::Duration;

use ferrovault_contract::actions::{exec_action, http_action};
use support::{Env, assert_no_secrets, template, wait_for_contents};

#[test]
fn an_env_file_the_kubelet_would_misread_is_not_written() {
    let mut env = Env::start();
    // a value with a newline would end A's value and set B
    env.bao
        .kv_put("secret/app", &[("a", "first\nB=injected"), ("b", "bee")])
        .unwrap();
    let method = env.approle(&[]);
    let mut tmpl = template(
        "app.env",
        "{{ with secret \"secret/app\" }}A={{ .Data.data.a }}\nB={{ .Data.data.b }}\n{{ end }}",
    );
    tmpl.env_keys = vec!["A".into(), "B".into()];
    let cfg = env.config(method, vec![tmpl.clone()]);

    let (status, log) = env.run_init(&cfg, &[]);

    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("template \"app.env\" is an env file")
            && log.contains("line 3 sets \"B\" a second time"),
        "{log}"
    );
    assert_no_secrets(&log, &["first", "injected", "bee"]);
    assert!(
        !env.secret_file("app.env").exists(),
        "a misread env file was written"
    );

    // a value the format carries is written; a listed key the file lacks is only warned about
    env.bao
        .kv_put("secret/app", &[("a", "x y=z#"), ("b", "bee")])
        .unwrap();
    tmpl.env_keys.push("C".into());
    let cfg = env.config(cfg.auto_auth.method.clone(), vec![tmpl]);
    // an env file from an older agent, world-readable: its mode is not kept
    std::fs::create_dir_all(env.secret_file("")).unwrap();
    std::fs::write(env.secret_file("app.env"), "old\n").unwrap();
    std::fs::set_permissions(env.secret_file("app.env"), PermissionsExt::from_mode(0o644)).unwrap();
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert!(log.contains("does not set C"), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("app.env")).unwrap(),
        "A=x y=z#\nB=bee\n"
    );
    // only the kubelet (root) reads it: issue #19 item 13
    let mode = std::fs::metadata(env.secret_file("app.env")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o600, "env file mode {mode:o}");
}

#[test]
fn reload_actions_run_after_a_change_not_after_the_first_render_and_failures_are_not_fatal() {
    let mut env = Env::start();
    env.bao.kv_put("secret/app", &[("u", "one")]).unwrap();
    let method = env.approle(&[]);
    let marker = env.root.path().join("reloaded");
    let env_dump = env.root.path().join("exec-env");
    let mut tmpl = template(
        "app",
        "{{ with secret \"secret/app\" }}{{ .Data.data.u }}{{ end }}",
    );
    tmpl.reload = vec![
        // nothing listens on port 1: logged, counted, and the next action still runs
        http_action("POST http://127.0.0.1:1/-/reload").unwrap(),
        exec_action(&format!("[\"/bin/touch\", \"{}\"]", marker.display())).unwrap(),
        // what an exec'd program sees of the agent's environment (issue #19 item 8)
        exec_action(
            &serde_json::json!(["/bin/sh", "-c", format!("env > {}", env_dump.display())]).to_string(),
        )
        .unwrap(),
    ];
    let mut cfg = env.config(method, vec![tmpl]);
    cfg.template_config.static_secret_render_interval = Some("1s".parse().unwrap());

    // init mode never reloads: the app has not started
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert!(!marker.exists());
    std::fs::remove_file(env.secret_file("app")).unwrap();

    let agent = env.spawn(&cfg, "sidecar");
    wait_for_contents(&env.secret_file("app"), "one", &agent);
    assert!(
        !marker.exists(),
        "a reload ran after the first render:\n{}",
        agent.log()
    );
    env.bao.kv_put("secret/app", &[("u", "two")]).unwrap();
    wait_for_contents(&env.secret_file("app"), "two", &agent);
    let ran = ferrovault_tests::wait_for(Duration::from_secs(60), || marker.exists().then_some(()));
    assert!(ran.is_some(), "the exec reload did not run:\n{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains("reload action failed") && log.contains("127.0.0.1:1"),
        "{log}"
    );
    assert!(log.contains("reload action done"), "{log}");
    let dumped = ferrovault_tests::wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&env_dump)
            .ok()
            .filter(|d| d.contains("PATH="))
    })
    .expect("the exec reload dumping its environment did not run");
    for line in dumped.lines() {
        assert!(
            !line.starts_with("FERROVAULT_") && !line.starts_with("VAULT_") && !line.starts_with("BAO_"),
            "the agent's environment reached the program: {}",
            line.split('=').next().unwrap_or_default()
        );
    }
    assert!(
        dumped.lines().any(|l| l.starts_with("PATH=/usr/local/sbin")),
        "{dumped}"
    );
    let mut agent = agent;
    assert!(
        agent.exited().is_none(),
        "a failed reload stopped the agent:\n{log}"
    );
}
