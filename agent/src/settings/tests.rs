use std::collections::BTreeMap;

use ferrovault_contract::{AgentConfig, AuthMethod, AutoAuth, Sink, Template, VaultConnection};

use super::*;

fn config() -> AgentConfig {
    AgentConfig {
        version: 1,
        vault: VaultConnection {
            address: "http://127.0.0.1:8200/".into(),
            ..Default::default()
        },
        auto_auth: AutoAuth {
            method: AuthMethod {
                kind: "kubernetes".into(),
                mount_path: "auth/kubernetes".into(),
                config: BTreeMap::from([("role".into(), "internal-app".into())]),
                ..Default::default()
            },
            sinks: vec![Sink {
                path: "/home/vault/.vault-token".into(),
                mode: None,
            }],
        },
        templates: vec![Template {
            name: "db".into(),
            destination: "/vault/secrets/db".into(),
            contents: Some("x".into()),
            left_delimiter: "{{".into(),
            right_delimiter: "}}".into(),
            perms: Some("0600".parse().unwrap()),
            command: Some("  /bin/kill  -HUP 1 ".parse().unwrap()),
            ..Default::default()
        }],
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
        host_network: false,
    }
}

#[test]
fn defaults_follow_vault_agent() {
    let s = Settings::new(&config(), &Overrides::default()).unwrap();
    assert_eq!(s.vault.address, "http://127.0.0.1:8200");
    assert_eq!(s.auth.mount, "kubernetes");
    assert_eq!(
        s.auth.method,
        Method::Kubernetes {
            role: "internal-app".into(),
            token_path: DEFAULT_K8S_TOKEN.into()
        }
    );
    assert_eq!(
        s.auth.backoff,
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300)
        }
    );
    assert_eq!(s.sinks[0].mode, 0o640);
    assert_eq!(s.templates[0].perms, Some(0o600));
    assert_eq!(
        s.templates[0].command.as_deref(),
        Some(&["/bin/kill".to_owned(), "-HUP".into(), "1".into()][..])
    );
    assert_eq!(s.max_retries, 12);
    assert_eq!(s.static_secret_render_interval, Duration::from_secs(300));
    assert_eq!(s.vault.max_connections, 10);
    assert!(s.exit_on_retry_failure);
}

#[test]
fn local_runs_remap_outputs() {
    let overrides = Overrides {
        secrets_root: Some("/tmp/root".into()),
        home: Some("/tmp/home".into()),
        ..Default::default()
    };
    let s = Settings::new(&config(), &overrides).unwrap();
    assert_eq!(
        s.templates[0].destination,
        PathBuf::from("/tmp/root/vault/secrets/db")
    );
    assert_eq!(s.secrets_dirs, vec![PathBuf::from("/tmp/root/vault/secrets")]);
    assert_eq!(s.sinks[0].path, PathBuf::from("/tmp/home/.vault-token"));
    assert_eq!(s.ready_file, PathBuf::from("/tmp/home/.ferrovault-ready"));
}

#[test]
fn token_path_override_replaces_the_kubernetes_token_file() {
    let overrides = Overrides {
        token_path: Some("/tmp/sa-token".into()),
        ..Default::default()
    };
    let s = Settings::new(&config(), &overrides).unwrap();
    match &s.auth.method {
        Method::Kubernetes { token_path, .. } => assert_eq!(token_path, &PathBuf::from("/tmp/sa-token")),
        other => panic!("unexpected method {other:?}"),
    }
}

/// `config()` as JSON with `pointer` set to `value`, read the way the agent reads its config.
fn read_with(pointer: &str, value: &str) -> Result<AgentConfig, String> {
    let mut json = serde_json::to_value(config()).unwrap();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    json.pointer_mut(parent)
        .and_then(serde_json::Value::as_object_mut)
        .unwrap_or_else(|| panic!("{parent}"))
        .insert(key.to_owned(), serde_json::json!(value));
    AgentConfig::from_json(json.to_string().as_bytes()).map_err(|e| e.to_string())
}

#[test]
fn bad_values_name_the_field_and_what_is_accepted() {
    // Typed values (ferrovault_contract::{FileMode, VaultDuration, Command}) are checked as the
    // config is read, the error naming the field path.
    let err = read_with("/templates/0/perms", "rw-r--r--").unwrap_err();
    assert!(
        err.contains("templates[0].perms") && err.contains("octal"),
        "{err}"
    );
    // Issue #8: no setuid, setgid or sticky file, whatever the config says.
    for mode in ["7777", "4755", "1777"] {
        let err = read_with("/templates/0/perms", mode).unwrap_err();
        assert!(err.contains("from 000 to 0777"), "{mode}: {err}");
    }
    let err = read_with("/auto_auth/method/min_backoff", "5 seconds").unwrap_err();
    assert!(
        err.contains("auto_auth.method.min_backoff") && err.contains("Go duration"),
        "{err}"
    );

    let mut cfg = config();
    cfg.auto_auth.method.kind = "gcp".into();
    let err = Settings::new(&cfg, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"gcp\" is not supported"), "{err}");

    let mut cfg = config();
    cfg.auto_auth.method.config.clear();
    let err = Settings::new(&cfg, &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("auto_auth.method.config.role: is required"), "{err}");
}

#[test]
fn backoff_grows_and_is_capped() {
    let b = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(1),
    };
    for attempt in 0..30 {
        let d = b.delay(attempt);
        let ceiling = Duration::from_millis(100 * (1u64 << attempt.min(10))).min(Duration::from_secs(1));
        assert!(d <= ceiling && d >= ceiling / 2, "{attempt}: {d:?}");
    }
}

#[test]
fn durations_are_read_as_vault_agent_reads_them() {
    // Issue #10: parseutil.ParseDurationSecond: whole seconds, days, or a Go duration.
    for (value, secs) in [("10", 10), ("1d", 86_400), ("90s", 90), ("+5", 5)] {
        let mut cfg = config();
        cfg.template_config.static_secret_render_interval = Some(value.parse().unwrap());
        let s = Settings::new(&cfg, &Overrides::default()).unwrap();
        assert_eq!(
            s.static_secret_render_interval,
            Duration::from_secs(secs),
            "{value}"
        );
    }
    let err = read_with("/template_config/exit_on_retry_failure", "x").unwrap_err();
    assert!(err.contains("template_config.exit_on_retry_failure"), "{err}");
    let mut json = serde_json::to_value(config()).unwrap();
    json["template_config"]["static_secret_render_interval"] = serde_json::json!("-10");
    let err = AgentConfig::from_json(json.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("template_config.static_secret_render_interval") && err.contains("not negative"),
        "{err}"
    );
}

#[test]
fn commands_become_argv_split_like_a_shell() {
    // Issue #10 §2: quotes are honoured; what needs a shell is refused (the agent has none).
    let mut cfg = config();
    cfg.templates[0].command = Some("/bin/notify 'a b' c".parse().unwrap());
    let s = Settings::new(&cfg, &Overrides::default()).unwrap();
    assert_eq!(
        s.templates[0].command.as_deref(),
        Some(&["/bin/notify".to_owned(), "a b".to_owned(), "c".to_owned()][..])
    );
    let err = read_with("/templates/0/command", "kill -HUP $(pidof app)").unwrap_err();
    assert!(
        err.contains("templates[0].command") && err.contains("needs a shell"),
        "{err}"
    );
}

/// Issue #19 §3, the second wall: an `AgentConfig` that reaches the agent without the webhook's or
/// the HCL reader's check (a JSON `--config`, a hostNetwork pod with `agent-configmap`) is checked
/// again where the listeners are set up.
#[test]
fn listeners_reachable_from_outside_the_pod_are_refused_or_stripped() {
    use ferrovault_contract::{Cache, Listener, UseAutoAuthToken};
    let with = |address: &str, allow: bool, host_network: bool| {
        let mut cfg = config();
        cfg.listeners = vec![Listener {
            address: address.into(),
            enable_quit: true,
            allow_non_loopback: allow,
            ..Default::default()
        }];
        cfg.cache = Some(Cache {
            use_auto_auth_token: UseAutoAuthToken::Force,
            persist: None,
        });
        cfg.host_network = host_network;
        Settings::new(&cfg, &Overrides::default())
    };
    // the pod's loopback: as before
    let s = with("127.0.0.1:8200", false, false).unwrap();
    let l = &s.listeners.listeners[0];
    assert!(l.enable_quit && l.warning.is_none());
    assert_eq!(l.use_auto_auth_token, UseAutoAuthToken::Force);
    // every interface, or the node's loopback on hostNetwork: refused without the opt-in
    for (address, host_network) in [("0.0.0.0:8200", false), ("127.0.0.1:8200", true)] {
        let e = with(address, false, host_network).unwrap_err().to_string();
        assert!(
            e.contains("listeners[0]") && e.contains("ferrovault_allow_non_loopback"),
            "{e}"
        );
        let s = with(address, true, host_network).unwrap();
        let l = &s.listeners.listeners[0];
        assert!(!l.enable_quit, "{address}: no quit unless asked for");
        assert_eq!(l.use_auto_auth_token, UseAutoAuthToken::False, "{address}");
        assert!(l.warning.as_deref().unwrap().contains(address), "{l:?}");
    }
    let e = with("127.0.0.1:8200x", false, false).unwrap_err().to_string();
    assert!(
        e.contains("\"127.0.0.1:8200x\" is not an IP address and port"),
        "{e}"
    );
}
