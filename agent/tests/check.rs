//! `ferrovault-agent check FILE`, the binary, on the files of issue #19: an exposed listener with a
//! `force` proxy (it passed), a bad listener address, a 900 KB one-line list (118 s before) and a
//! file over the 1 MiB cap. Needs nothing but cargo.

use std::process::Command;

fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.hcl");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrovault-agent"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const AUTO_AUTH: &str = "auto_auth {\n  method \"kubernetes\" {\n    config = { role = \"app\" }\n  }\n}\n";

fn exposed(extra: &str) -> String {
    format!(
        "{AUTO_AUTH}listener \"tcp\" {{\n  address = \"0.0.0.0:8200\"\n  tls_disable = true\n{extra}  agent_api {{\n    \
         enable_quit = true\n  }}\n}}\ncache {{}}\napi_proxy {{\n  use_auto_auth_token = \"force\"\n}}\n"
    )
}

#[test]
fn an_open_force_proxy_is_refused_and_the_opt_in_warns() {
    let (code, _, stderr) = check(&exposed(""));
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("config.hcl: line 6, listener: listener 0.0.0.0:8200")
            && stderr.contains("ferrovault_allow_non_loopback = true"),
        "{stderr}"
    );
    let (code, stdout, stderr) = check(&exposed("  ferrovault_allow_non_loopback = true\n"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("accepted"), "{stdout}");
    assert!(
        stderr.contains("warning")
            && stderr.contains("0.0.0.0:8200")
            && stderr.contains("without the agent's auto-auth token")
            && stderr.contains("without /agent/v1/quit"),
        "{stderr}"
    );
    let (code, _, stderr) = check(&exposed("").replace("0.0.0.0:8200", "127.0.0.1:8200x"));
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("\"127.0.0.1:8200x\" is not an IP address and port"),
        "{stderr}"
    );
    let (code, _, stderr) = check(&exposed("").replace("0.0.0.0:8200", "127.0.0.1:8200"));
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

#[test]
fn a_900_kb_one_line_list_completes_and_an_over_cap_file_is_refused() {
    // no timing assertion: the test harness's timeout bounds it (it took 118 s before)
    let words = vec!["\"a\""; 900_000 / 4].join(",");
    let text = format!(
        "{AUTO_AUTH}template {{\n  destination = \"/vault/secrets/x\"\n  contents = \"x\"\n  command = [\"/bin/notify\",{words}]\n}}\n"
    );
    assert!(text.len() > 900_000);
    let (code, _, stderr) = check(&text);
    assert_eq!(code, Some(0), "{stderr}");

    let big = format!("{AUTO_AUTH}# {}\n", "x".repeat(1 << 20));
    let (code, _, stderr) = check(&big);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("config.hcl")
            && stderr.contains(&big.len().to_string())
            && stderr.contains("1048576"),
        "{stderr}"
    );
}
