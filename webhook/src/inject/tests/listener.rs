//! The agent's listener: `agent-cache-*`, `agent-enable-quit`, `agent-telemetry-*` (vault-k8s cases
//! 65–71 and 81, with the listener, cache and telemetry stanzas in the agent config).

use ferrovault_contract::{Cache, CachePersist, Listener, UseAutoAuthToken};

use super::*;

fn listener(port: u16, enable_quit: bool) -> Vec<Listener> {
    vec![Listener {
        address: format!("127.0.0.1:{port}"),
        metrics_only: false,
        enable_quit,
    }]
}

fn persisted(exit_on_err: bool) -> Option<CachePersist> {
    Some(CachePersist {
        path: "/vault/agent-cache".into(),
        exit_on_err,
    })
}

#[test]
fn cache_is_off_by_default() {
    // case 65
    let cfg = config_of(&handler_pod(&basic(&[])));
    assert!(cfg.listeners.is_empty() && cfg.cache.is_none() && cfg.telemetry.is_none());
    let p = patched(&handler_pod(&basic(&[])));
    assert!(
        !serde_json::to_string(&p.pod)
            .unwrap()
            .contains("vault-agent-cache")
    );
}

#[test]
fn cache_enable_adds_the_listener_and_a_persisted_cache_shared_by_init_and_sidecar() {
    // cases 66, 67, 81
    let cfg = config_of(&handler_pod(&basic(&[("agent-cache-enable", "true")])));
    assert_eq!(cfg.listeners, listener(8200, false));
    assert_eq!(
        cfg.cache,
        Some(Cache {
            use_auto_auth_token: UseAutoAuthToken::True,
            persist: persisted(false),
        })
    );
    let cfg = config_of(&handler_pod(&basic(&[
        ("agent-cache-enable", "true"),
        ("agent-cache-use-auto-auth-token", "force"),
        ("agent-cache-listener-port", "8100"),
        ("agent-cache-exit-on-err", "true"),
    ])));
    assert_eq!(cfg.listeners, listener(8100, false));
    assert_eq!(
        cfg.cache,
        Some(Cache {
            use_auto_auth_token: UseAutoAuthToken::Force,
            persist: persisted(true),
        })
    );
    let p = patched(&handler_pod(&basic(&[("agent-cache-enable", "true")])));
    for agent in ["vault-agent", "vault-agent-init"] {
        let m = mounts(container(&p.pod, agent));
        assert_eq!(
            m.last().unwrap(),
            &(
                "vault-agent-cache".to_owned(),
                "/vault/agent-cache".to_owned(),
                false
            ),
            "{agent}"
        );
    }
    let volumes = p.pod.spec.as_ref().unwrap().volumes.as_ref().unwrap();
    let cache = volumes
        .iter()
        .find(|v| v.name == "vault-agent-cache")
        .expect("cache volume");
    assert_eq!(
        cache.empty_dir.as_ref().and_then(|e| e.medium.as_deref()),
        Some("Memory")
    );
}

#[test]
fn without_pre_population_the_sidecar_caches_in_memory_and_pre_populate_only_has_no_cache() {
    // case 67
    let p = patched(&handler_pod(&basic(&[
        ("agent-cache-enable", "true"),
        ("agent-pre-populate", "false"),
    ])));
    let cfg = env_config(container(&p.pod, "vault-agent"));
    assert_eq!(cfg.listeners, listener(8200, false));
    assert_eq!(cfg.cache.unwrap().persist, None);
    assert!(
        !serde_json::to_string(&p.pod)
            .unwrap()
            .contains("vault-agent-cache")
    );

    let cfg = config_of(&handler_pod(&basic(&[
        ("agent-cache-enable", "true"),
        ("agent-pre-populate-only", "true"),
    ])));
    assert!(cfg.listeners.is_empty() && cfg.cache.is_none());
}

#[test]
fn quit_adds_the_agent_api_and_an_empty_cache() {
    // case 70
    let cfg = config_of(&handler_pod(&basic(&[("agent-enable-quit", "true")])));
    assert_eq!(cfg.listeners, listener(8200, true));
    assert_eq!(cfg.cache, Some(Cache::default()));
    let cfg = config_of(&handler_pod(&basic(&[
        ("agent-enable-quit", "true"),
        ("agent-cache-listener-port", "1234"),
    ])));
    assert_eq!(cfg.listeners, listener(1234, true));
    let cfg = config_of(&handler_pod(&basic(&[
        ("agent-enable-quit", "true"),
        ("agent-cache-enable", "true"),
    ])));
    assert_eq!(cfg.listeners, listener(8200, true));
    assert_eq!(cfg.cache.unwrap().persist, persisted(false));
    let cfg = config_of(&handler_pod(&basic(&[
        ("agent-enable-quit", "false"),
        ("agent-cache-enable", "true"),
    ])));
    assert_eq!(cfg.listeners, listener(8200, false));
}

#[test]
fn bad_values_are_refused_naming_the_annotation() {
    for (key, value, expected) in [
        ("agent-cache-enable", "yes", "one of true, false"),
        ("agent-enable-quit", "tRuE", "one of true, false"),
        ("agent-cache-use-auto-auth-token", "always", "or force"),
        ("agent-cache-listener-port", "http", "a TCP port from 1 to 65535"),
        ("agent-cache-listener-port", "0", "a TCP port from 1 to 65535"),
        ("agent-cache-listener-port", "70000", "a TCP port from 1 to 65535"),
        (
            "agent-telemetry-prometheus_retention_time",
            "soon",
            "a Go duration",
        ),
    ] {
        let err = parse_err(&handler_pod(&basic(&[(key, value)])));
        assert!(
            err.contains(&format!("vault.hashicorp.com/{key}")) && err.contains(expected),
            "{key}={value}: {err}"
        );
    }
}

#[test]
fn telemetry_keeps_prometheus_retention_time_and_warns_about_the_rest() {
    // case 59 / 71: the keys vault-k8s knows
    let p = parsed(&handler_pod(&basic(&[
        ("agent-enable-quit", "true"),
        ("agent-telemetry-prometheus_retention_time", "0"),
        ("agent-telemetry-disable_hostname", "true"),
        ("agent-telemetry-statsd_address", "statsd:8125"),
        ("agent-telemetry-prefix_filter", "[\"+vault.token\"]"),
        ("agent-telemetry-no_such_key", "1"),
    ])));
    let cfg = config::build(&p.spec);
    let retention = cfg.telemetry.unwrap().prometheus_retention_time.unwrap();
    assert!(retention.get().is_zero());
    let all = p.warnings.join("\n");
    assert!(
        all.contains("agent-telemetry-statsd_address was ignored: ferrovault-agent serves Prometheus"),
        "{all}"
    );
    assert!(
        all.contains("agent-telemetry-prefix_filter has no effect"),
        "{all}"
    );
    assert!(
        all.contains("agent-telemetry-no_such_key is not a Vault telemetry setting"),
        "{all}"
    );
    assert!(!all.contains("disable_hostname"), "{all}");
    assert!(!all.contains("not supported by ferrovault yet"), "{all}");

    // dashes read as underscores, seconds as vault-k8s' JSON number
    let cfg = config_of(&handler_pod(&basic(&[
        ("agent-cache-enable", "true"),
        ("agent-telemetry-prometheus-retention-time", "30"),
    ])));
    assert_eq!(
        cfg.telemetry
            .unwrap()
            .prometheus_retention_time
            .unwrap()
            .get()
            .as_secs(),
        30
    );

    // telemetry without a listener: nothing serves it, said so
    let p = parsed(&handler_pod(&basic(&[(
        "agent-telemetry-prometheus_retention_time",
        "24h",
    )])));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("only agent-cache-enable or agent-enable-quit adds")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn the_cache_volume_name_is_the_injectors_own() {
    let mut pod = serde_json::to_value(handler_pod(&basic(&[("agent-cache-enable", "true")]))).unwrap();
    pod["spec"]["volumes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "vault-agent-cache", "emptyDir": {}}));
    let pod: Pod = serde_json::from_value(pod).unwrap();
    assert!(deny_message(decide_on(&pod)).contains("vault-agent-cache"));
}
