//! `agent-configmap` (issue #12 §1) against a real OpenBao: the agent runs from Vault Agent's own
//! HCL files in the mounted ConfigMap directory — `config-init.hcl` in init mode, `config.hcl`
//! otherwise — with several sinks, a `source` template, `template_config`, `exit_after_auth` and
//! `pid_file`; what it does not do stops it with the file, line and block.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{Env, assert_no_secrets, wait_for_contents};

/// The config files of the pod's ConfigMap, as a user writes them (HCL 1 quoted keys included).
fn write_configs(env: &Env, dir: &Path, exit_after_auth: bool) {
    let creds = env.root.path().join("creds");
    let auth = format!(
        r#"
"auto_auth" = {{
  method "approle" {{
    mount_path = "auth/approle"
    min_backoff = "100ms"
    config = {{
      role_id_file_path   = "{role}"
      secret_id_file_path = "{secret}"
      remove_secret_id_file_after_reading = false
    }}
  }}
  sink "file" {{
    config = {{ path = "/home/vault/.vault-token" }}
  }}
  sink "file" {{
    config = {{
      path = "/vault/secrets/token"
      mode = 0600
    }}
  }}
}}
pid_file = "/home/vault/.pid"
template_config {{
  exit_on_retry_failure = true
}}
template {{
  source      = "{dir}/app.tpl"
  destination = "/vault/secrets/app.conf"
  perms       = "0640"
}}
template {{
  destination = "/vault/secrets/db"
  contents    = <<EOT
{{{{- with secret "secret/db" -}}}}
postgresql://{{{{ .Data.data.username }}}}:{{{{ .Data.data.password }}}}@postgres:5432/wizard
{{{{- end }}}}
EOT
}}
"#,
        role = creds.join("role-id").display(),
        secret = creds.join("secret-id").display(),
        dir = dir.display(),
    );
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("app.tpl"),
        "{{ with secret \"secret/app\" }}api_key={{ .Data.data.key }}{{ end }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("config-init.hcl"),
        format!("exit_after_auth = true\n{auth}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.hcl"),
        format!("exit_after_auth = {exit_after_auth}\n{auth}"),
    )
    .unwrap();
}

#[test]
fn the_agent_runs_from_vault_agents_own_config_files() {
    let mut env = Env::start();
    env.approle(&[]);
    env.bao.kv_put("secret/app", &[("key", "k-123")]).unwrap();
    env.bao
        .kv_put("secret/db", &[("username", "wizard"), ("password", "pw-456")])
        .unwrap();
    let dir = env.root.path().join("configs");
    write_configs(&env, &dir, false);
    // what the webhook writes for an agent-configmap pod: no templates, the file's directory
    let mut cfg = env.config(Default::default(), Vec::new());
    cfg.config_dir = Some(dir.display().to_string());

    // init: config-init.hcl, every template once, both sinks, the PID file removed at exit
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.secret_file("app.conf")).unwrap(),
        "api_key=k-123\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.secret_file("db")).unwrap(),
        "postgresql://wizard:pw-456@postgres:5432/wizard\n",
        "a heredoc keeps its last newline"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.secret_file("app.conf")), 0o640);
    let token = std::fs::read_to_string(env.home().join(".vault-token")).unwrap();
    assert_eq!(
        std::fs::read_to_string(env.secret_file("token")).unwrap(),
        token,
        "both sinks"
    );
    assert_eq!(mode(&env.secret_file("token")), 0o600);
    assert!(
        !env.home().join(".pid").exists(),
        "the PID file is removed at exit"
    );
    assert_no_secrets(&log, &[&token, "k-123", "pw-456"]);

    // sidecar: config.hcl; the PID file holds the agent's PID while it runs
    std::fs::remove_file(env.secret_file("db")).unwrap();
    let agent = env.spawn(&cfg, "sidecar");
    wait_for_contents(
        &env.secret_file("db"),
        "postgresql://wizard:pw-456@postgres:5432/wizard\n",
        &agent,
    );
    let pid = std::fs::read_to_string(env.home().join(".pid")).unwrap();
    assert_eq!(pid, agent.pid().to_string());
    agent.terminate();
    let (status, log) = agent.wait(Duration::from_secs(30));
    assert!(status.success(), "{log}");

    // exit_after_auth = true in config.hcl: the sidecar renders once and exits 0, as Vault Agent does
    write_configs(&env, &dir, true);
    let (status, log) = env.spawn(&cfg, "sidecar").wait(Duration::from_secs(60));
    assert!(status.success(), "{log}");
}

#[test]
fn what_the_agent_does_not_do_stops_it_with_file_line_and_block() {
    let mut env = Env::start();
    env.approle(&[]);
    let dir = env.root.path().join("configs");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = "auto_auth {\n  method \"approle\" {\n  }\n}\ntemplate {\n  contents = \"x\"\n  destination = \"/vault/secrets/x\"\n  wait {\n    min = \"2s\"\n  }\n}\n";
    std::fs::write(dir.join("config-init.hcl"), bad).unwrap();
    let mut cfg = env.config(Default::default(), Vec::new());
    cfg.config_dir = Some(dir.display().to_string());
    let (status, log) = env.run_init(&cfg, &[]);
    assert_eq!(status.code(), Some(64), "{log}");
    assert!(
        log.contains("config-init.hcl: line 8, template: \"wait\" is not supported"),
        "{log}"
    );

    // the same verdict offline, for CI pipelines that hold the ConfigMap
    let check = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_ferrovault-agent"))
            .arg("check")
            .arg(file)
            .output()
            .unwrap()
    };
    let out = check(&dir.join("config-init.hcl"));
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 8, template"));
    write_configs(&env, &dir, false);
    let out = check(&dir.join("config.hcl"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // a missing file is an error naming it, not a pod that runs without secrets
    std::fs::remove_file(dir.join("config-init.hcl")).unwrap();
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(!status.success(), "{log}");
    assert!(log.contains("config-init.hcl"), "{log}");
}

/// Issue #19 item 12: `file` reads whatever the agent can — its token sink among them — unless the
/// template stanza says otherwise: `function_denylist` makes `file` (or `env`) fail at render,
/// `sandbox_path` confines `file` to a directory, a symlink out of it refused.
#[test]
fn function_denylist_and_sandbox_path_keep_file_from_reading_the_token_sink() {
    let mut env = Env::start();
    env.approle(&[]);
    let dir = env.root.path().join("configs");
    let creds = env.root.path().join("creds");
    let token_sink = env.home().join(".vault-token");
    let sandbox = env.root.path().join("shared");
    std::fs::create_dir_all(&sandbox).unwrap();
    std::fs::write(sandbox.join("greeting"), "hello").unwrap();
    std::os::unix::fs::symlink(&token_sink, sandbox.join("token-link")).unwrap();
    let write = |template_options: &str, read: &Path| {
        let text = format!(
            r#"
exit_after_auth = true
auto_auth {{
  method "approle" {{
    config = {{
      role_id_file_path   = "{role}"
      secret_id_file_path = "{secret}"
      remove_secret_id_file_after_reading = false
    }}
  }}
  sink "file" {{
    config = {{ path = "/home/vault/.vault-token" }}
  }}
}}
template {{
  destination = "/vault/secrets/out"
  contents    = "{{{{ file \"{read}\" }}}}"
  {template_options}
}}
"#,
            role = creds.join("role-id").display(),
            secret = creds.join("secret-id").display(),
            read = read.display(),
        );
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config-init.hcl"), text).unwrap();
    };
    let mut cfg = env.config(Default::default(), Vec::new());
    cfg.config_dir = Some(dir.display().to_string());
    let out = env.secret_file("out");

    // as vault-k8s: the template reads the token sink
    write("", &token_sink);
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    let token = std::fs::read_to_string(&token_sink).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), token);
    std::fs::remove_file(&out).unwrap();

    // function_denylist: the render fails, nothing is written, the token is in no log line
    write(r#"function_denylist = ["file"]"#, &token_sink);
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(!status.success(), "{log}");
    assert!(log.contains("error calling file: function is disabled"), "{log}");
    assert!(!out.exists());

    // sandbox_path: outside refused, a link inside pointing out refused, a file inside read
    for read in [token_sink.clone(), sandbox.join("token-link")] {
        write(&format!("sandbox_path = \"{}\"", sandbox.display()), &read);
        let (status, log) = env.run_init(&cfg, &[]);
        let token = std::fs::read_to_string(&token_sink).unwrap();
        assert!(!status.success(), "{}: {log}", read.display());
        assert!(log.contains("is outside of sandbox"), "{log}");
        assert!(!out.exists());
        assert_no_secrets(&log, &[&token]);
    }
    write(
        &format!("sandbox_path = \"{}\"", sandbox.display()),
        &sandbox.join("greeting"),
    );
    let (status, log) = env.run_init(&cfg, &[]);
    assert!(status.success(), "{log}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello");
}
