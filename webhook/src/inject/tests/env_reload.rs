//! `ferrovault.dev/env-<secret>` (secrets as environment variables through the kubelet's
//! `fileKeyRef`) and `ferrovault.dev/reload-{signal,http,exec}-<secret>`.

use ferrovault_contract::ReloadAction;
use ferrovault_contract::actions::EnvFileFormat;

use super::*;

const TEMPLATE: &str =
    "{{ with secret \"secret/app\" }}DB_USER={{ .Data.user }}\nDB_PASSWORD={{ .Data.password }}\n{{ end }}";

fn env_files(native: bool) -> InjectorDefaults {
    InjectorDefaults {
        env_files: true,
        native_sidecar: native,
        native_sidecar_supported: true,
        ..defaults()
    }
}

fn env_pod(extra: &[(&str, &str)]) -> Pod {
    let mut a = basic(&[
        ("agent-inject-secret-app.env", "secret/app"),
        ("agent-inject-template-app.env", TEMPLATE),
        ("ferrovault.dev/env-app.env", "DB_USER, DB_PASSWORD"),
    ]);
    a.extend_from_slice(extra);
    handler_pod(&a)
}

fn patch_with(pod: &Pod, d: &InjectorDefaults) -> (Pod, Vec<String>) {
    match decide("test", pod, d) {
        Decision::Patch { patch, warnings, .. } => (apply(pod, &patch), warnings),
        other => panic!("expected Patch, got {other:?}"),
    }
}

fn env_json(pod: &Pod, name: &str) -> Value {
    serde_json::to_value(&container(pod, name).env).unwrap()
}

#[test]
fn env_keys_become_file_key_refs_in_the_app_containers_only() {
    let (out, _) = patch_with(&env_pod(&[]), &env_files(true));
    assert_eq!(
        env_json(&out, "web"),
        json!([
            {"name": "DB_USER", "valueFrom": {"fileKeyRef": {"volumeName": "vault-secrets", "path": "app.env", "key": "DB_USER"}}},
            {"name": "DB_PASSWORD", "valueFrom": {"fileKeyRef": {"volumeName": "vault-secrets", "path": "app.env", "key": "DB_PASSWORD"}}},
        ])
    );
    // the pod's own init container runs before the agent: no env from a file that is not there yet
    assert_eq!(env_json(&out, "web-init"), Value::Null);
    let agent = config::build(&spec::parse("test", &env_pod(&[]), &env_files(true)).unwrap().spec);
    assert_eq!(agent.templates[0].env_keys, ["DB_USER", "DB_PASSWORD"]);
    assert_eq!(agent.templates[0].env_format, EnvFileFormat::Plain);
    // a 1.35+ cluster: the agent is told to write KEY='value'
    let current = InjectorDefaults {
        env_file_format: EnvFileFormat::SingleQuoted,
        ..env_files(true)
    };
    let agent = config::build(&spec::parse("test", &env_pod(&[]), &current).unwrap().spec);
    assert_eq!(agent.templates[0].env_format, EnvFileFormat::SingleQuoted);
    let json = serde_json::to_string(&agent).unwrap();
    assert!(json.contains(r#""env_format":"single-quoted""#), "{json}");
}

#[test]
fn env_files_in_a_custom_volume_and_a_sub_directory_and_after_existing_env() {
    let mut pod = env_pod(&[
        ("secret-volume-path-app.env", "/etc/app"),
        ("agent-inject-file-app.env", "conf/app.env"),
    ]);
    pod.spec.as_mut().unwrap().containers[0].env = Some(vec![k8s_openapi::api::core::v1::EnvVar {
        name: "DB_USER".into(),
        value: Some("x".into()),
        ..Default::default()
    }]);
    let (out, warnings) = patch_with(&pod, &env_files(true));
    let env = env_json(&out, "web");
    assert_eq!(env[0]["value"], "x");
    assert_eq!(
        env[1]["valueFrom"]["fileKeyRef"],
        json!({"volumeName": "vault-secrets-custom-0", "path": "conf/app.env", "key": "DB_USER"})
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("already sets environment variable \"DB_USER\"")),
        "{warnings:?}"
    );
}

#[test]
fn env_vars_are_refused_without_the_flag_or_an_agent_that_renders_first() {
    let message = deny_message(decide(
        "test",
        &env_pod(&[]),
        &env_files(true).with_env_files(false),
    ));
    for part in [
        "ferrovault.dev/env-app.env",
        "--env-files=true",
        "EnvFiles",
        "envFiles.enabled",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let sidecar_only = env_pod(&[("agent-pre-populate", "false")]);
    let message = deny_message(decide("test", &sidecar_only, &env_files(false)));
    assert!(message.contains("before the app containers start"), "{message}");
    // the classic init container also renders before the app starts
    patch_with(&env_pod(&[]), &env_files(false));

    for (value, why) in [("", "no key"), ("A=B", "'='"), ("A,A", "twice")] {
        let message = deny_message(decide(
            "test",
            &env_pod(&[("ferrovault.dev/env-app.env", value)]),
            &env_files(true),
        ));
        assert!(
            message.contains("ferrovault.dev/env-app.env") && message.contains(why),
            "{value}: {message}"
        );
    }
    let two = handler_pod(&basic(&[
        ("agent-inject-secret-a", "secret/a"),
        ("agent-inject-secret-b", "secret/b"),
        ("ferrovault.dev/env-a", "X"),
        ("ferrovault.dev/env-b", "X"),
    ]));
    let message = deny_message(decide("test", &two, &env_files(true)));
    assert!(
        message.contains("\"X\" is asked for by secrets \"a\" and \"b\""),
        "{message}"
    );
}

#[test]
fn reload_actions_reach_the_agent_config_in_order() {
    let pod = handler_pod(&basic(&[
        ("agent-inject-secret-db", "secret/db"),
        ("ferrovault.dev/reload-exec-db", r#"["/tools/notify", "db"]"#),
        ("ferrovault.dev/reload-http-db", "http://127.0.0.1:8080/-/reload"),
        ("ferrovault.dev/reload-signal-db", "hup nginx"),
    ]));
    let p = patched(&pod);
    let config = config_of(&pod);
    let kinds: Vec<&str> = config.templates[0]
        .reload
        .iter()
        .map(ReloadAction::kind)
        .collect();
    assert_eq!(kinds, ["signal", "http", "exec"]);
    assert_eq!(
        serde_json::to_value(&config.templates[0].reload[0]).unwrap(),
        json!({"type": "signal", "signal": "SIGHUP", "process": "nginx"})
    );
    // a signal needs the shared process namespace
    assert_eq!(p.pod.spec.as_ref().unwrap().share_process_namespace, Some(true));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("reload-exec-db") && w.contains("/ferrovault-agent")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn reload_actions_are_checked_at_admission() {
    for (key, value, why) in [
        ("ferrovault.dev/reload-signal-db", "SIGKILL app", "is not one of"),
        (
            "ferrovault.dev/reload-signal-db",
            "SIGHUP",
            "a signal and a process name",
        ),
        (
            "ferrovault.dev/reload-http-db",
            "POST http://10.0.0.5:80/",
            "loopback",
        ),
        (
            "ferrovault.dev/reload-http-db",
            "POST http://127.0.0.1/",
            "no port",
        ),
        ("ferrovault.dev/reload-exec-db", "/bin/x a", "JSON array"),
        ("ferrovault.dev/reload-exec-db", r#"["x"]"#, "absolute"),
    ] {
        let pod = handler_pod(&basic(&[("agent-inject-secret-db", "secret/db"), (key, value)]));
        let message = deny_message(decide_on(&pod));
        assert!(
            message.contains(key) && message.contains(why),
            "{value}: {message}"
        );
    }
    let mut pod = handler_pod(&basic(&[
        ("agent-inject-secret-db", "secret/db"),
        ("ferrovault.dev/reload-signal-db", "SIGHUP app"),
    ]));
    pod.spec.as_mut().unwrap().share_process_namespace = Some(false);
    let message = deny_message(decide_on(&pod));
    assert!(message.contains("shareProcessNamespace"), "{message}");
    let off = handler_pod(&basic(&[
        ("agent-inject-secret-db", "secret/db"),
        ("ferrovault.dev/reload-signal-db", "SIGHUP app"),
        ("agent-share-process-namespace", "false"),
    ]));
    let message = deny_message(decide_on(&off));
    assert!(message.contains("agent-share-process-namespace"), "{message}");
}

#[test]
fn turning_share_process_namespace_on_for_a_signal_is_warned_about() {
    // issue #19 item 6: the app then sees the agent's process (signals, /proc/<pid>/…)
    let pod = handler_pod(&basic(&[
        ("agent-inject-secret-db", "secret/db"),
        ("ferrovault.dev/reload-signal-db", "SIGHUP nginx"),
    ]));
    let p = patched(&pod);
    let warning = p
        .warnings
        .iter()
        .find(|w| w.contains("turns on shareProcessNamespace"))
        .unwrap_or_else(|| panic!("{:?}", p.warnings));
    for what in [
        "reload-signal-db",
        "/home/vault/.vault-token",
        "kill",
        "non-dumpable",
        "reload-http",
    ] {
        assert!(warning.contains(what), "{what}: {warning}");
    }
    // asked for by the pod (or agent-share-process-namespace): the pod chose it, no warning
    let mut pod = pod;
    pod.spec.as_mut().unwrap().share_process_namespace = Some(true);
    let p = patched(&pod);
    assert!(
        !p.warnings
            .iter()
            .any(|w| w.contains("turns on shareProcessNamespace")),
        "{:?}",
        p.warnings
    );
    // no signal action: nothing turned on, no warning
    let pod = handler_pod(&basic(&[
        ("agent-inject-secret-db", "secret/db"),
        ("ferrovault.dev/reload-http-db", "http://127.0.0.1:8080/-/reload"),
    ]));
    assert!(
        !patched(&pod)
            .warnings
            .iter()
            .any(|w| w.contains("shareProcessNamespace"))
    );
}

#[test]
fn a_signal_to_an_app_of_another_uid_is_warned_about() {
    let mut pod = handler_pod(&basic(&[
        ("agent-inject-secret-db", "secret/db"),
        ("ferrovault.dev/reload-signal-db", "SIGHUP nginx"),
    ]));
    pod.spec.as_mut().unwrap().containers[0].security_context =
        Some(k8s_openapi::api::core::v1::SecurityContext {
            run_as_user: Some(101),
            ..Default::default()
        });
    let p = patched(&pod);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("runs as uid 101 but the agent as uid 100")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn per_secret_ferrovault_annotations_for_unknown_secrets_are_warned_about() {
    let pod = handler_pod(&basic(&[
        ("agent-inject-secret-db", "secret/db"),
        ("ferrovault.dev/reload-http-dbb", "http://127.0.0.1:80/"),
    ]));
    let p = patched(&pod);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("ferrovault.dev/reload-http-dbb refers to secret \"dbb\"")),
        "{:?}",
        p.warnings
    );
}

trait WithEnvFiles {
    fn with_env_files(self, on: bool) -> Self;
}

impl WithEnvFiles for InjectorDefaults {
    fn with_env_files(self, on: bool) -> Self {
        InjectorDefaults {
            env_files: on,
            ..self
        }
    }
}
