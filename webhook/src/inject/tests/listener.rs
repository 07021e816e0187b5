//! The agent's listener: `agent-cache-*`, `agent-enable-quit`, `agent-telemetry-*` (vault-k8s cases
//! 65–71 and 81, with the listener, cache and telemetry stanzas in the agent config).

use ferrovault_contract::{Cache, CachePersist, Listener, UseAutoAuthToken};

use super::*;

fn listener(port: u16, enable_quit: bool) -> Vec<Listener> {
    vec![Listener {
        address: format!("127.0.0.1:{port}"),
        enable_quit,
        ..Listener::default()
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

fn host_network(annotations: &[(&str, &str)]) -> Pod {
    let mut pod = handler_pod(&basic(annotations));
    pod.spec.as_mut().unwrap().host_network = Some(true);
    pod
}

/// Issue #19 §3: on a hostNetwork pod the injected `127.0.0.1:8200` is the node's loopback: every
/// hostNetwork pod and node process could use the tenant's Vault identity and quit its agent. Denied
/// at admission, naming the annotation, its value and what is accepted.
#[test]
fn host_network_pods_with_a_listener_are_denied() {
    for (annotations, key) in [
        (&[("agent-cache-enable", "true")][..], "agent-cache-enable"),
        (&[("agent-enable-quit", "true")][..], "agent-enable-quit"),
        (
            &[
                ("agent-enable-quit", "true"),
                ("agent-cache-listener-port", "8300"),
            ][..],
            "agent-enable-quit",
        ),
    ] {
        let message = deny_message(decide_on(&host_network(annotations)));
        assert!(
            message.contains(&format!("vault.hashicorp.com/{key}"))
                && message.contains("\"true\"")
                && message.contains("hostNetwork")
                && message.contains("expected false"),
            "{message}"
        );
    }
    assert!(
        deny_message(decide_on(&host_network(&[
            ("agent-enable-quit", "true"),
            ("agent-cache-listener-port", "8300")
        ])))
        .contains("127.0.0.1:8300")
    );
    // no listener: admitted as before
    for annotations in [
        &[][..],
        &[("agent-cache-listener-port", "8300")][..],
        &[
            ("agent-cache-enable", "true"),
            ("agent-pre-populate-only", "true"),
        ][..],
    ] {
        let cfg = config_of(&host_network(annotations));
        assert!(cfg.listeners.is_empty() && !cfg.host_network, "{annotations:?}");
    }
    // an ordinary pod with the same annotations keeps its listener
    assert_eq!(
        config_of(&handler_pod(&basic(&[("agent-cache-enable", "true")]))).listeners,
        listener(8200, false)
    );
}

/// With `agent-configmap` the webhook cannot see the file's listeners: it tells the agent the pod
/// uses hostNetwork (the agent refuses a listener there without the opt-in) and warns.
#[test]
fn host_network_pods_with_a_configmap_tell_the_agent() {
    let pod = host_network(&[("agent-configmap", "agent-config")]);
    let p = parsed(&pod);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("hostNetwork") && w.contains("ferrovault_allow_non_loopback")),
        "{:?}",
        p.warnings
    );
    assert!(config::build(&p.spec).host_network);
    assert!(!config_of(&handler_pod(&basic(&[("agent-configmap", "agent-config")]))).host_network);
}

/// The webhook's listener address is what the contract accepts on the pod's loopback.
#[test]
fn the_injected_listener_passes_the_contract_check() {
    let cfg = config_of(&handler_pod(&basic(&[
        ("agent-cache-enable", "true"),
        ("agent-cache-listener-port", "65535"),
    ])));
    let exposure = cfg.listeners[0].check(false).unwrap();
    assert!(!exposure.exposed && exposure.auto_auth_token);
}
