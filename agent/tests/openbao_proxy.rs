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

/// One raw HTTP/1.1 request to the listener, written as given: `target` is the request target
/// byte for byte (percent-escapes, `//`, `..`, absolute-form), `body` `None` sends no body and no
/// `Content-Length`. Status, header block (lower-cased) and body.
fn raw(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the listener");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// The agent's token (from its sink) and its accessor (looked up as root, at OpenBao itself).
fn agent_token_and_accessor(env: &Env) -> (String, String) {
    let token = std::fs::read_to_string(env.home().join(".vault-token")).unwrap();
    let lookup: serde_json::Value = serde_json::from_str(
        &env.bao
            .bao(&["token", "lookup", "-format=json", &token])
            .expect("lookup of the agent's token as root"),
    )
    .unwrap();
    let accessor = lookup["data"]["accessor"].as_str().unwrap().to_owned();
    assert!(!token.is_empty() && !accessor.is_empty());
    (token, accessor)
}

/// Issue #19 item 1, replayed exactly: every spelling of `lookup-self`/`renew-self` the review used,
/// and `lookup`/`renew` with `{}` or no body, reach Vault as the clean path with the auto-auth token
/// and answer, but never with the token or its accessor; neither is in the agent's log.
#[test]
fn no_spelling_of_lookup_self_returns_the_auto_auth_token() {
    let mut env = Env::start();
    let (agent, port) = start(
        &mut env,
        Cache {
            use_auto_auth_token: UseAutoAuthToken::True,
            persist: None,
        },
        false,
    );
    let (token, accessor) = agent_token_and_accessor(&env);
    let answered = |what: &str, (status, head, body): (u16, String, String)| {
        assert!(
            !body.contains(&token) && !head.contains(&token),
            "{what}: the auto-auth token came back"
        );
        assert!(
            !body.contains(&accessor) && !head.contains(&accessor),
            "{what}: its accessor came back: {body}"
        );
        (status, body)
    };
    // the token's own answer: Vault answered (its policies, its TTL), the agent stripped it
    let about_the_token = |what: &str, answer: (u16, String, String)| {
        let (status, body) = answered(what, answer);
        assert_eq!(status, 200, "{what}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["data"]["policies"].is_array() || v["auth"]["policies"].is_array(),
            "{what}: not Vault's answer about the token: {body}"
        );
    };
    for target in [
        "/v1/auth/token/lookup-self",
        "/v1/auth/token/lookup%2Dself",
        "/v1/auth/token/lookup%2dself",
        "/v1/auth/token//lookup-self",
        "/v1//auth/token/lookup-self",
        "/v1/sys/../auth/token/lookup-self",
        "/v1/auth/token/./lookup-self",
        "/v1/auth%2Ftoken%2Flookup-self",
        "/v1/auth%2ftoken%2flookup-self",
        "/v1/%61uth/token/lookup%2Dself",
    ] {
        about_the_token(&format!("GET {target}"), raw(port, "GET", target, &[], None));
    }
    // a client that asks for compressed answers still gets them scrubbed
    about_the_token(
        "GET lookup-self, gzip",
        raw(
            port,
            "GET",
            "/v1/auth/token/lookup%2Dself",
            &[("Accept-Encoding", "gzip")],
            None,
        ),
    );
    for target in [
        "/v1/auth/token/renew-self",
        "/v1/auth/token/renew%2Dself",
        "/v1/auth/token/renew%2dself",
        "/v1/auth/token//renew-self",
    ] {
        about_the_token(
            &format!("POST {target}"),
            raw(port, "POST", target, &[], Some("")),
        );
    }
    for (target, body) in [
        ("/v1/auth/token/lookup", Some("{}")),
        ("/v1/auth/token/lookup", None),
        ("/v1/auth/token/lookup", Some(r#"{"token":""}"#)),
        ("/v1/auth/token//lookup", Some("{}")),
        ("/v1/auth/token/renew", Some("{}")),
        ("/v1/auth/token/renew", None),
    ] {
        let what = format!("POST {target} {body:?}");
        let answer = raw(port, "POST", target, &[], body);
        // Vault may refuse a lookup without a token in the body; either way nothing leaks
        let (status, body) = answered(&what, answer);
        assert!(status == 200 || status == 400, "{what}: {status} {body}");
    }
    // with a namespace prefix in the path (the dev server has none: Vault refuses, nothing leaks)
    answered(
        "namespaced",
        raw(port, "GET", "/v1/ns1/auth/token/lookup%2Dself", &[], None),
    );
    // a wrapped answer would be unwrapped at Vault, past the listener: refused
    let (status, body) = answered(
        "wrapped",
        raw(
            port,
            "GET",
            "/v1/auth/token/lookup%2Dself",
            &[("X-Vault-Wrap-TTL", "60s")],
            None,
        ),
    );
    assert_eq!(status, 400, "{body}");
    // a target that is not a path: 400, never fetched
    let listener = format!("http://127.0.0.1:{port}/v1/auth/token/lookup-self");
    for (method, target) in [
        ("GET", listener.as_str()),
        ("GET", "http://127.0.0.1:1/v1/auth/token/lookup-self"),
        ("CONNECT", "127.0.0.1:8200"),
        ("OPTIONS", "*"),
    ] {
        let (status, body) = answered(target, raw(port, method, target, &[], None));
        assert_eq!(status, 400, "{method} {target}: {body}");
    }
    // ordinary requests are untouched
    let (status, _, body) = raw(port, "GET", "/v1/secret/data/app", &[], None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("s3cr3t"), "{body}");

    let log = agent.log();
    assert_no_secrets(&log, &[&token, &accessor]);
}

/// Issue #19 item 2, replayed exactly: with `use_auto_auth_token = false`, caller A creates a token
/// with `Authorization: Bearer`; caller B, with no credentials, must not get A's cached answer.
#[test]
fn a_bearer_callers_cached_answer_is_not_served_to_a_caller_without_credentials() {
    let mut env = Env::start();
    let (agent, port) = start(&mut env, Cache::default(), false);
    let root = env.bao.root_token().to_owned();
    let bearer = format!("Bearer {root}");
    let create = ("/v1/auth/token/create", r#"{"policies":["default"],"ttl":"1h"}"#);

    let (status, head, a) = raw(
        port,
        "POST",
        create.0,
        &[("Authorization", &bearer)],
        Some(create.1),
    );
    assert_eq!(status, 200, "{a}");
    assert!(head.contains("x-cache: miss"), "{head}");
    let child = serde_json::from_str::<serde_json::Value>(&a).unwrap()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A again: the cache still serves A (a Bearer token is a credential like X-Vault-Token)
    let (_, head, again) = raw(
        port,
        "POST",
        create.0,
        &[("Authorization", &bearer)],
        Some(create.1),
    );
    assert!(head.contains("x-cache: hit"), "{head}");
    assert!(again.contains(&child));

    // B: same request, no credentials: Vault's refusal, not A's token
    let (status, head, b) = raw(port, "POST", create.0, &[], Some(create.1));
    assert!(!head.contains("x-cache: hit"), "{head}");
    assert!(!b.contains(&child), "caller B got caller A's token");
    assert!(status == 400 || status == 403, "{status} {b}");
    // nor with another Bearer token, nor with A's token in another header spelling
    let (_, head, c) = raw(
        port,
        "POST",
        create.0,
        &[("Authorization", "Bearer s.other")],
        Some(create.1),
    );
    assert!(!head.contains("x-cache: hit") && !c.contains(&child), "{head}");
    assert_no_secrets(&agent.log(), &[&root, &child]);
}

/// Issue #19 item 5: a body trickled at a byte a second is cut at the body deadline (408, or the
/// connection closed), not kept open. The limit below bounds the test, not the agent's speed.
#[test]
fn a_trickled_body_is_cut_at_the_deadline() {
    let mut env = Env::start();
    let (_agent, port) = start(&mut env, Cache::default(), false);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        stream,
        "POST /v1/auth/token/lookup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        // one byte a second, far longer than any deadline, until the agent closes
        for _ in 0..300 {
            std::thread::sleep(Duration::from_secs(1));
            if writer.write_all(b" ").is_err() {
                return true;
            }
        }
        false
    });
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // closed with the trickle unread: the kernel resets rather than ends the connection
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!("the connection was still open after 120 s: {err}"),
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    drop(stream);
    assert!(trickle.join().unwrap(), "the agent kept reading the trickle");
}

/// Issue #19 item 5: a body over the listener's limit (1 MiB) is refused with 413.
#[test]
fn a_body_over_the_limit_is_refused() {
    let mut env = Env::start();
    let (_agent, port) = start(&mut env, Cache::default(), false);
    let big = format!(r#"{{"data":"{}"}}"#, "x".repeat(2 << 20));
    let (status, _, body) = raw(port, "PUT", "/v1/secret/data/big", &[], Some(&big));
    assert_eq!(status, 413, "{body}");
}
