//! Differential test of `agent-configmap` (issue #12 §1): one Vault Agent config file, written as
//! users write them (HCL 1 quoted keys and `key = {` bodies, a heredoc, a `source` template, octal
//! perms, two sinks with modes), run by `bao agent -config=…` (OpenBao 2.7.2, the oracle) and by
//! `ferrovault-agent` reading it from its config directory: the same bytes, the same file modes.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use ferrovault_tests::openbao::DevServer;
use ferrovault_tests::tools::{run_bao_agent, run_our_agent_init};
use serde_json::json;

fn config_file(addr: &str, dir: &Path, dest: &Path) -> String {
    format!(
        r#"# written as vault-k8s's docs write agent-configmap files
"exit_after_auth" = true
"pid_file" = "{home}/.pid"

"vault" = {{
  "address" = "{addr}"
}}

"auto_auth" = {{
  method "approle" {{
    config = {{
      role_id_file_path   = "{dir}/role_id"
      secret_id_file_path = "{dir}/secret_id"
      remove_secret_id_file_after_reading = false
    }}
  }}
  sink "file" {{
    config = {{
      path = "{dest}/token"
      mode = 0600
    }}
  }}
  sink {{
    type = "file"
    config = {{
      path = "{dest}/token-2"
    }}
  }}
}}

template_config {{
  exit_on_retry_failure = true
}}

template {{
  destination = "{dest}/db.txt"
  perms       = 0640
  contents    = <<EOT
{{{{- with secret "secret/db" -}}}}
postgresql://{{{{ .Data.data.username }}}}:{{{{ .Data.data.password }}}}@postgres:5432/wizard
{{{{- end }}}}
EOT
}}

template {{
  source      = "{dir}/app.tpl"
  destination = "{dest}/app.env"
  perms       = "0600"
}}

template {{
  destination     = "{dest}/delims.txt"
  left_delimiter  = "[["
  right_delimiter = "]]"
  contents        = "user=[[ with secret \"secret/db\" ]][[ .Data.data.username ]][[ end ]] {{{{ kept }}}}\n"
}}
"#,
        home = dir.join("home").display(),
        dir = dir.display(),
        dest = dest.display(),
    )
}

#[test]
fn a_vault_agent_config_file_renders_the_same_bytes_as_bao_agent() {
    let bao = DevServer::start().unwrap();
    bao.kv_put("secret/db", &[("username", "wizard"), ("password", "s3cr3t-db")])
        .unwrap();
    bao.kv_put("secret/app", &[("key", "s3cr3t-app")]).unwrap();
    bao.policy_for("cfg", &["secret/*"], &["read", "list"]).unwrap();
    let creds = bao.enable_approle("cfg", &["cfg"], &[]).unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("role_id"), &creds.role_id).unwrap();
    std::fs::write(dir.join("secret_id"), &creds.secret_id).unwrap();
    std::fs::write(
        dir.join("app.tpl"),
        "{{ with secret \"secret/app\" }}API_KEY={{ .Data.data.key }}\n{{ end }}",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let (peer_out, ours_out) = (dir.join("peer"), dir.join("ours"));
    let configs = dir.join("configs");
    for d in [&peer_out, &ours_out, &configs] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(dir.join("peer.hcl"), config_file(&bao.addr(), dir, &peer_out)).unwrap();
    // ours reads config-init.hcl from the mounted ConfigMap directory, as an init container does
    std::fs::write(
        configs.join("config-init.hcl"),
        config_file(&bao.addr(), dir, &ours_out),
    )
    .unwrap();
    // what the webhook writes for the pod: no address (the file has it), the directory, the volumes
    let base = json!({
        "version": 1,
        "vault": {"address": ""},
        "auto_auth": {"method": {"type": "", "mount_path": ""}},
        "secrets_dirs": [ours_out, dir.join("home")],
        "config_dir": configs,
    });
    std::fs::write(dir.join("base.json"), base.to_string()).unwrap();

    run_bao_agent(&dir.join("peer.hcl"), &[]);
    let ours = run_our_agent_init(&dir.join("home"), &dir.join("base.json"), &[]);

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for name in ["db.txt", "app.env", "delims.txt"] {
        let want = std::fs::read(peer_out.join(name)).unwrap();
        let got = std::fs::read(ours_out.join(name)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{name}: bytes differ from bao agent's"
        );
        assert_eq!(
            mode(&ours_out.join(name)),
            mode(&peer_out.join(name)),
            "{name}: mode"
        );
    }
    for sink in ["token", "token-2"] {
        assert!(ours_out.join(sink).exists(), "{sink} not written");
        assert_eq!(
            mode(&ours_out.join(sink)),
            mode(&peer_out.join(sink)),
            "{sink}: mode"
        );
    }
    let stderr = String::from_utf8_lossy(&ours.stderr);
    for secret in ["s3cr3t-db", "s3cr3t-app", &creds.secret_id] {
        assert!(!stderr.contains(secret), "a secret reached our log");
    }
}
