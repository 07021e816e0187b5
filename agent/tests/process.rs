//! The agent's process as seen from the app's side of a shared process namespace (issue #19 item 6):
//! a process of the same uid must not read the agent's environment or its files through `/proc`.
//! Needs root (to run both as another uid with `setpriv`); skipped otherwise.

use std::process::{Command, Stdio};
use std::time::Duration;

use ferrovault_contract::{AgentConfig, AuthMethod, AutoAuth, Sink, VaultConnection};

/// A uid the test runs both the agent and the "app" as.
const UID: &str = "65534";

fn as_uid(program: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", UID, "--regid", UID, "--clear-groups", "--", program]);
    cmd
}

#[test]
fn a_process_of_the_agents_uid_cannot_read_its_environment_or_token_through_proc() {
    if !rustix::process::geteuid().is_root() || Command::new("setpriv").arg("--help").output().is_err() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let cfg = AgentConfig {
        version: ferrovault_contract::CONFIG_VERSION,
        // nothing listens there: the sidecar keeps retrying its login
        vault: VaultConnection {
            address: "http://127.0.0.1:1".into(),
            ..Default::default()
        },
        auto_auth: AutoAuth {
            method: AuthMethod {
                kind: "kubernetes".into(),
                mount_path: "auth/kubernetes".into(),
                config: [
                    ("role".to_owned(), "r".to_owned()),
                    ("token_path".to_owned(), "/dev/null".to_owned()),
                ]
                .into(),
                ..Default::default()
            },
            sinks: vec![Sink {
                path: ferrovault_contract::HOME_TOKEN_SINK.into(),
                mode: None,
            }],
        },
        templates: Vec::new(),
        host_network: false,
        template_config: Default::default(),
        secrets_dirs: vec!["/vault/secrets".into()],
        log: Default::default(),
        revoke_on_shutdown: false,
        config_dir: None,
        exit_after_auth: false,
        pid_file: None,
        listeners: Vec::new(),
        cache: None,
        telemetry: None,
    };
    let mut agent = as_uid(env!("CARGO_BIN_EXE_ferrovault-agent"))
        .arg("sidecar")
        .arg("--secrets-root")
        .arg(root.path())
        .arg("--home")
        .arg(root.path().join("home"))
        .env(ferrovault_contract::AGENT_CONFIG_ENV, cfg.encode_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // a control: a process of the same uid that is dumpable, as any process is by default
    let mut control = as_uid("/bin/sleep").arg("60").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let read = |pid: u32, file: &str| {
        as_uid("/bin/cat")
            .arg(format!("/proc/{pid}/{file}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(
        read(control.id(), "environ"),
        "the control could not be read: the test proves nothing"
    );
    // setpriv execs the agent in place: the pid is the agent's
    let agent_pid = agent.id();
    assert!(agent.try_wait().unwrap().is_none(), "the agent exited");
    assert!(
        !read(agent_pid, "environ"),
        "the agent's environment was readable"
    );
    assert!(
        !read(agent_pid, "root/etc/passwd"),
        "the agent's files were readable through /proc/<pid>/root"
    );
    let _ = agent.kill();
    let _ = control.kill();
    let _ = agent.wait();
    let _ = control.wait();
}
