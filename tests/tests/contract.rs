//! The contract test: what the webhook writes into the agent containers is what the agent reads.

use ferrovault_contract::{AGENT_CONFIG_ENV, AgentConfig};
use ferrovault_webhook::inject::{Decision, InjectorDefaults, config, decide, spec};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

fn seed_pod() -> Pod {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../webhook/testdata/seed-pod.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn defaults(native: bool) -> InjectorDefaults {
    InjectorDefaults {
        vault_address: "https://vault.vault.svc:8200".into(),
        native_sidecar: native,
        native_sidecar_supported: native,
        ..Default::default()
    }
}

fn env_of<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
}

fn agent_containers(native: bool) -> Vec<Value> {
    let pod = seed_pod();
    let Decision::Patch { patch, .. } = decide("default", &pod, &defaults(native)) else {
        panic!("seed pod not injected");
    };
    let mut json = serde_json::to_value(&pod).unwrap();
    json_patch::patch(&mut json, &patch.to_json_patch()).unwrap();
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in json["spec"][list].as_array().into_iter().flatten() {
            if c["name"].as_str().is_some_and(|n| n.starts_with("vault-agent")) {
                out.push(c.clone());
            }
        }
    }
    out
}

#[test]
fn webhook_env_decodes_with_the_agents_decoder_into_the_same_config() {
    let pod = seed_pod();
    let parsed = spec::parse("default", &pod, &defaults(false)).unwrap();
    let expected: AgentConfig = config::build(&parsed.spec);
    for native in [false, true] {
        let agents = agent_containers(native);
        assert_eq!(agents.len(), if native { 1 } else { 2 });
        for agent in agents {
            let value = env_of(&agent, AGENT_CONFIG_ENV).expect("config env var");
            let decoded = ferrovault_agent::load_config(None, Some(value)).unwrap();
            assert_eq!(decoded, expected, "container {}", agent["name"]);
        }
    }
}

#[test]
fn the_seed_config_carries_what_the_agent_needs() {
    let agents = agent_containers(false);
    let cfg = AgentConfig::decode_env(env_of(&agents[0], AGENT_CONFIG_ENV).unwrap()).unwrap();
    assert_eq!(cfg.vault.address, "https://vault.vault.svc:8200");
    assert_eq!(cfg.auto_auth.method.kind, "kubernetes");
    assert_eq!(cfg.auto_auth.method.mount_path, "auth/kubernetes");
    assert_eq!(cfg.auto_auth.method.config["role"], "internal-app");
    assert_eq!(
        cfg.auto_auth.method.config["token_path"],
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    );
    assert_eq!(cfg.templates.len(), 1);
    let t = &cfg.templates[0];
    assert_eq!(t.destination, "/vault/secrets/database-config.txt");
    assert_eq!(
        t.contents.as_deref(),
        Some(
            "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}\n"
        )
    );
    assert_eq!(cfg.secrets_dirs, vec!["/vault/secrets".to_owned()]);
    assert!(cfg.template_config.exit_on_retry_failure);
}
