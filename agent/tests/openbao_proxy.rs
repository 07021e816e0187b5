//! The sidecar's listener against a real OpenBao dev server and a real Vault client — the `bao` CLI
//! with `VAULT_ADDR` pointing at the agent: the API proxy with the auto-auth token, the cache
//! (hits, eviction on revoke, `cache-clear`), `/agent/v1/metrics` and `/agent/v1/quit`.
//! No timing assertions: every wait is a poll with a generous limit.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use ferrovault_contract::{Cache, Listener, UseAutoAuthToken};
use ferrovault_tests::tools::bao_bin;
use support::{AgentProcess, Env, assert_no_secrets, template, wait_for_contents};

/// `bao <args>` against the agent's listener, with no token of its own unless `token` is given.
fn bao_via(port: u16, token: Option<&str>, args: &[&str]) -> ferrovault_tests::Result<serde_json::Value> {
    let home = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("VAULT_ADDR".to_owned(), format!("http://127.0.0.1:{port}")),
        ("HOME".to_owned(), home.path().display().to_string()),
        ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
    ];
    if let Some(token) = token {
        env.push(("VAULT_TOKEN".to_owned(), token.to_owned()));
    }
    let mut all = args.to_vec();
    if args.get(1) != Some(&"revoke") {
        all.insert(all.len().min(2), "-format=json");
    }
    let out = ferrovault_tests::run(&bao_bin(), &env, &all, None)?;
    Ok(serde_json::from_str(&out).unwrap_or(serde_json::Value::Null))
}

/// One plain HTTP/1.1 request to the listener: status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the listener");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
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

/// The metrics, parsed: `name{labels}` → value. Every sample line must parse.
fn metrics(port: u16) -> std::collections::BTreeMap<String, f64> {
    let (status, text) = http(port, "GET", "/agent/v1/metrics", "");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad sample line {l:?}"));
            let value = value.parse().unwrap_or_else(|_| panic!("bad value in {l:?}"));
            (series.to_owned(), value)
        })
        .collect()
}

fn start(env: &mut Env, cache: Cache, enable_quit: bool) -> (AgentProcess, u16) {
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
        enable_quit,
        ..Default::default()
    }];
    cfg.cache = Some(cache);
    let agent = env.spawn(&cfg, "sidecar");
    wait_for_contents(&env.secret_file("app"), "s3cr3t", &agent);
    (agent, port)
}

#[test]
fn bao_cli_through_the_proxy_uses_the_auto_auth_token_and_the_cache() {
    let mut env = Env::start();
    let (agent, port) = start(
        &mut env,
        Cache {
            use_auto_auth_token: UseAutoAuthToken::True,
            persist: None,
        },
        true,
    );
    let agent_token = std::fs::read_to_string(env.home().join(".vault-token")).unwrap();

    // an unchanged Vault client, no token of its own: the agent's is added
    let secret = bao_via(port, None, &["kv", "get", "secret/app"]).unwrap();
    assert_eq!(secret["data"]["data"]["password"], "s3cr3t", "{secret}");

    // the auto-auth token itself never comes back to the client
    let lookup = bao_via(port, None, &["token", "lookup"]).unwrap();
    assert!(lookup["data"]["policies"].is_array(), "{lookup}");
    assert!(
        lookup["data"].get("id").is_none() && lookup["data"].get("accessor").is_none(),
        "{lookup}"
    );
    // the client's own token is used as given
    let root = env.bao.root_token().to_owned();
    let lookup = bao_via(port, Some(&root), &["token", "lookup"]).unwrap();
    assert_eq!(lookup["data"]["id"], root.as_str(), "{lookup}");

    // a token creation is cached: the same request gets the same token, from the cache
    let create = ["token", "create", "-policy=default", "-ttl=1h"];
    let first = bao_via(port, None, &create).unwrap();
    let second = bao_via(port, None, &create).unwrap();
    let child = first["auth"]["client_token"].as_str().unwrap().to_owned();
    assert!(!child.is_empty());
    assert_eq!(second["auth"]["client_token"], child.as_str());
    let m = metrics(port);
    assert!(m["vault_agent_cache_hit_total"] >= 1.0, "{m:?}");
    assert!(m["vault_agent_cache_miss_total"] >= 3.0, "{m:?}");
    assert!(m["vault_agent_proxy_success_total"] >= 5.0, "{m:?}");
    assert_eq!(m["ferrovault_agent_cache_entries"], 1.0, "{m:?}");
    assert!(
        m.contains_key(
            "ferrovault_agent_lease_expiry_timestamp_seconds{source=\"proxy\",path=\"auth/token/create\"}"
        ),
        "{m:?}"
    );

    // revoking it through the proxy evicts it: the next creation is a new token
    bao_via(port, None, &["token", "revoke", &child]).unwrap();
    let third = bao_via(port, None, &create).unwrap();
    let newer = third["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_ne!(newer, child);
    // and cache-clear empties it
    let (status, body) = http(port, "POST", "/agent/v1/cache-clear", r#"{"type":"all"}"#);
    assert_eq!(status, 200, "{body}");
    let fourth = bao_via(port, None, &create).unwrap();
    assert_ne!(fourth["auth"]["client_token"], newer.as_str());
    let (status, body) = http(port, "POST", "/agent/v1/cache-clear", r#"{"type":"bogus"}"#);
    assert_eq!(status, 400, "{body}");

    // what Vault Agent lacks: per template, per lease, auth status
    let m = metrics(port);
    assert_eq!(m["ferrovault_agent_authenticated"], 1.0, "{m:?}");
    assert!(m["vault_agent_auth_success_total"] >= 1.0, "{m:?}");
    assert!(
        m["ferrovault_agent_template_last_render_timestamp_seconds{template=\"app\"}"] > 1.7e9,
        "{m:?}"
    );
    assert_eq!(
        m["ferrovault_agent_template_failures_total{template=\"app\"}"], 0.0,
        "{m:?}"
    );
    assert!(
        m["ferrovault_agent_token_expiry_timestamp_seconds"] > 1.7e9,
        "{m:?}"
    );
    let (_, text) = http(port, "GET", "/agent/v1/metrics", "");
    assert_no_secrets(&text, &[&agent_token, &child, "s3cr3t"]);

    // quit: the sidecar exits 0
    let (status, _) = http(port, "GET", "/agent/v1/quit", "");
    assert_eq!(status, 405);
    let (status, body) = http(port, "POST", "/agent/v1/quit", "");
    assert_eq!(status, 200, "{body}");
    let (status, log) = agent.wait(Duration::from_secs(30));
    assert!(status.success(), "exit {status:?}; log:\n{log}");
    assert_no_secrets(&log, &[&agent_token, &child, "s3cr3t"]);
}

#[test]
fn force_replaces_the_clients_token_and_quit_needs_enabling() {
    let mut env = Env::start();
    let (mut agent, port) = start(
        &mut env,
        Cache {
            use_auto_auth_token: UseAutoAuthToken::Force,
            persist: None,
        },
        false,
    );
    // a bogus token of the client's is dropped: the agent's is used
    let secret = bao_via(port, Some("s.bogus"), &["kv", "get", "secret/app"]).unwrap();
    assert_eq!(secret["data"]["data"]["password"], "s3cr3t", "{secret}");
    // a static secret is not cached
    let _ = bao_via(port, Some("s.bogus"), &["kv", "get", "secret/app"]).unwrap();
    let m = metrics(port);
    assert_eq!(m["vault_agent_cache_hit_total"], 0.0, "{m:?}");
    assert_eq!(m["ferrovault_agent_cache_entries"], 0.0, "{m:?}");

    let (status, _) = http(port, "POST", "/agent/v1/quit", "");
    assert_eq!(status, 404);
    assert!(agent.exited().is_none(), "{}", agent.log());
    agent.terminate();
    let (status, log) = agent.wait(Duration::from_secs(30));
    assert!(status.success(), "{log}");
}

#[test]
fn without_use_auto_auth_token_requests_go_as_the_client_sent_them() {
    let mut env = Env::start();
    let (_agent, port) = start(&mut env, Cache::default(), false);
    let err = bao_via(port, None, &["kv", "get", "secret/app"]).unwrap_err();
    assert!(
        err.to_string().contains("403") || err.to_string().contains("permission denied"),
        "{err}"
    );
    let root = env.bao.root_token().to_owned();
    let secret = bao_via(port, Some(&root), &["kv", "get", "secret/app"]).unwrap();
    assert_eq!(secret["data"]["data"]["password"], "s3cr3t", "{secret}");
    let m = metrics(port);
    assert!(m["vault_agent_proxy_client_error_total"] >= 1.0, "{m:?}");
}

#[test]
fn cached_tokens_are_renewed_and_evicted_when_they_expire() {
    let mut env = Env::start();
    let (_agent, port) = start(
        &mut env,
        Cache {
            use_auto_auth_token: UseAutoAuthToken::True,
            persist: None,
        },
        false,
    );
    let expiry = |m: &std::collections::BTreeMap<String, f64>| {
        m.get("ferrovault_agent_lease_expiry_timestamp_seconds{source=\"proxy\",path=\"auth/token/create\"}")
            .copied()
    };

    // a renewable token: renewed in the background, so its expiry moves on
    let renewable = [
        "token",
        "create",
        "-policy=default",
        "-ttl=4s",
        "-explicit-max-ttl=120s",
    ];
    let token = bao_via(port, None, &renewable).unwrap()["auth"]["client_token"].clone();
    let first = expiry(&metrics(port)).expect("a proxy lease gauge");
    let later = ferrovault_tests::wait_for(Duration::from_secs(60), || {
        expiry(&metrics(port)).filter(|e| *e > first + 1.0)
    });
    assert!(
        later.is_some(),
        "the cached token was never renewed: {:?}",
        metrics(port)
    );
    // still cached, and still valid at Vault
    assert_eq!(
        bao_via(port, None, &renewable).unwrap()["auth"]["client_token"],
        token
    );
    let (status, _) = http(port, "POST", "/agent/v1/cache-clear", r#"{"type":"all"}"#);
    assert_eq!(status, 200);

    // a token that cannot be renewed: evicted when it expires
    let short = [
        "token",
        "create",
        "-policy=default",
        "-ttl=3s",
        "-renewable=false",
    ];
    let token = bao_via(port, None, &short).unwrap()["auth"]["client_token"].clone();
    assert_eq!(metrics(port)["ferrovault_agent_cache_entries"], 1.0);
    let evicted = ferrovault_tests::wait_for(Duration::from_secs(60), || {
        (metrics(port)["ferrovault_agent_cache_entries"] == 0.0).then_some(())
    });
    assert!(evicted.is_some(), "never evicted: {:?}", metrics(port));
    assert!(expiry(&metrics(port)).is_none());
    assert_ne!(
        bao_via(port, None, &short).unwrap()["auth"]["client_token"],
        token
    );
}

#[test]
fn a_failing_template_is_counted_per_template() {
    let mut env = Env::start();
    env.bao.kv_put("secret/app", &[("password", "s3cr3t")]).unwrap();
    let method = env.approle(&[]);
    let port = ferrovault_tests::free_port();
    let mut cfg = env.config(
        method,
        vec![template(
            "broken",
            "{{ with secret \"secret/missing\" }}{{ .Data.data.password }}{{ end }}",
        )],
    );
    cfg.template_config.exit_on_retry_failure = false;
    cfg.vault.max_retries = Some(1);
    cfg.listeners = vec![Listener {
        address: format!("127.0.0.1:{port}"),
        ..Default::default()
    }];
    let agent = env.spawn(&cfg, "sidecar");
    let counted = ferrovault_tests::wait_for(Duration::from_secs(60), || {
        let (status, _) = std::net::TcpStream::connect(("127.0.0.1", port))
            .map(|_| http(port, "GET", "/agent/v1/metrics", ""))
            .unwrap_or((0, String::new()));
        (status == 200)
            .then(|| metrics(port))
            .and_then(|m| {
                m.get("ferrovault_agent_template_failures_total{template=\"broken\"}")
                    .copied()
            })
            .filter(|n| *n >= 1.0)
    });
    assert!(counted.is_some(), "no failure counted; log:\n{}", agent.log());
    let m = metrics(port);
    assert!(
        !m.contains_key("ferrovault_agent_template_last_render_timestamp_seconds{template=\"broken\"}"),
        "{m:?}"
    );
}
