//! The harness itself against a real `bao`: `cargo test -p ferrovault-tests --features with-openbao`.

use super::*;

#[test]
fn dev_server_starts_serves_and_restarts_with_its_configuration() {
    let mut bao = DevServer::start().unwrap();
    bao.kv1_at_secret().unwrap();
    bao.kv_put("secret/my-secret", &[("username", "alice")]).unwrap();
    let creds = bao
        .enable_approle("app", &["default"], &[("token_ttl", "3s")])
        .unwrap();
    let read = bao.read("secret/my-secret").unwrap();
    assert_eq!(read["data"]["username"], "alice");

    bao.restart().unwrap();
    let read = bao.read("secret/my-secret").unwrap();
    assert_eq!(read["data"]["username"], "alice");
    let login = bao
        .write(
            "auth/approle/login",
            &[("role_id", &creds.role_id), ("secret_id", &creds.secret_id)],
        )
        .unwrap();
    assert_eq!(login["auth"]["lease_duration"], 3);
    let port = bao.port();
    bao.stop();
    assert!(!health_ok(Ipv4Addr::LOCALHOST, port));
}

#[test]
fn start_on_listens_there_and_names_its_directory_on_the_command_line() {
    // The node tests start it on the node IP; any local address shows the same.
    let bao = DevServer::start_on(Ipv4Addr::LOCALHOST).unwrap();
    assert_eq!(bao.addr(), format!("http://127.0.0.1:{}", bao.port()));
    bao.bao(&["status"]).unwrap();
    let pid = bao.child.as_ref().unwrap().id();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let dir = bao.dir().display().to_string();
    assert!(
        String::from_utf8_lossy(&cmdline).contains(&dir),
        "a killed run's server must be findable by its directory"
    );
}

#[test]
fn raft_server_keeps_data_across_restarts_and_seals() {
    let mut bao = DevServer::start_raft().unwrap();
    bao.kv_put("secret/app", &[("password", "one")]).unwrap();
    bao.restart().unwrap();
    assert_eq!(
        bao.read("secret/data/app").unwrap()["data"]["data"]["password"],
        "one"
    );
    bao.seal().unwrap();
    assert_eq!(health_code(Ipv4Addr::LOCALHOST, bao.port()), Some(503));
    bao.unseal().unwrap();
    assert_eq!(
        bao.read("secret/data/app").unwrap()["data"]["data"]["password"],
        "one"
    );
}

#[test]
fn tls_dev_server_serves_https_with_its_ca() {
    let bao = DevServer::start_tls().unwrap();
    assert!(bao.addr().starts_with("https://127.0.0.1:"));
    assert!(bao.ca_cert().unwrap().exists());
    bao.kv_put("secret/x", &[("a", "b")]).unwrap();
    assert_eq!(bao.read("secret/data/x").unwrap()["data"]["data"]["a"], "b");
}

#[test]
fn failed_commands_do_not_echo_values() {
    let bao = DevServer::start().unwrap();
    let err = bao
        .bao(&["write", "nope/x", "password=hunter2"])
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("bao write nope/x"), "{err}");
}
