//! Issue #19 §3 at run time, against a real OpenBao dev server: a listener reachable from outside
//! the pod — here the pod's `hostNetwork` makes `127.0.0.1` the node's loopback — is refused without
//! `ferrovault_allow_non_loopback`, and with it serves neither the auto-auth token (even with
//! `force`) nor `/agent/v1/quit` unless those are asked for too. Everything stays on 127.0.0.1.
//! No timing assertions: every wait is a poll with a generous limit.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use ferrovault_contract::{Cache, Listener, UseAutoAuthToken};
use support::{AgentProcess, Env, template, wait_for_contents};

/// One plain HTTP/1.1 request without a token: status and body.
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the listener");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A sidecar on a hostNetwork pod with a `force` proxy and quit on `127.0.0.1:<port>`.
fn spawn(env: &mut Env, listener: Listener) -> (AgentProcess, u16) {
    env.bao.kv_put("secret/app", &[("password", "s3cr3t")]).unwrap();
    let method = env.approle(&[]);
    let port = ferrovault_tests::free_port();
    let mut cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}",
        )],
    );
    cfg.listeners = vec![Listener {
        address: format!("127.0.0.1:{port}"),
        enable_quit: true,
        ..listener
    }];
    cfg.cache = Some(Cache {
        use_auto_auth_token: UseAutoAuthToken::Force,
        persist: None,
    });
    cfg.host_network = true;
    (env.spawn(&cfg, "sidecar"), port)
}

#[test]
fn a_listener_on_the_nodes_loopback_is_refused_without_the_opt_in() {
    let mut env = Env::start();
    let (agent, _) = spawn(&mut env, Listener::default());
    let (status, log) = agent.wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(64), "{log}");
    assert!(
        log.contains("listeners[0]")
            && log.contains("hostNetwork")
            && log.contains("ferrovault_allow_non_loopback = true"),
        "{log}"
    );
}

#[test]
fn with_the_opt_in_it_serves_neither_the_token_nor_quit_unless_asked() {
    let mut env = Env::start();
    let (agent, port) = spawn(
        &mut env,
        Listener {
            allow_non_loopback: true,
            ..Default::default()
        },
    );
    wait_for_contents(&env.secret_file("app"), "s3cr3t", &agent);
    // `force` would hand the agent's token to anyone: not on this listener
    let (status, body) = http(port, "GET", "/v1/secret/data/app");
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("s3cr3t"));
    let (status, _) = http(port, "POST", "/agent/v1/quit");
    assert_eq!(status, 404, "quit is not served");
    let log = agent.log();
    assert!(
        log.contains(&format!("127.0.0.1:{port}")) && log.contains("reachable from outside the pod"),
        "{log}"
    );
    drop(agent);

    // asked for: the token and quit are served there too
    let mut env = Env::start();
    let (agent, port) = spawn(
        &mut env,
        Listener {
            allow_non_loopback: true,
            non_loopback_auto_auth_token: true,
            non_loopback_quit: true,
            ..Default::default()
        },
    );
    wait_for_contents(&env.secret_file("app"), "s3cr3t", &agent);
    let (status, body) = http(port, "GET", "/v1/secret/data/app");
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(port, "POST", "/agent/v1/quit");
    assert_eq!(status, 200);
    let (status, log) = agent.wait(Duration::from_secs(60));
    assert!(status.success(), "{log}");
}
