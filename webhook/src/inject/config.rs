//! [`InjectionSpec`] → the agent's [`AgentConfig`] (vault-k8s §2.5). One config serves every agent
//! container of the pod; the container's argument (`init`, `sidecar`, `native`) picks the mode.

use ferrovault_contract::{AgentConfig, AutoAuth, CONFIG_VERSION, HOME_TOKEN_SINK, Sink, Template};

use super::spec::InjectionSpec;

/// Builds the agent config.
pub fn build(spec: &InjectionSpec) -> AgentConfig {
    let mut sinks = vec![Sink {
        path: HOME_TOKEN_SINK.to_owned(),
        mode: None,
    }];
    if spec.inject_token {
        sinks.push(Sink {
            path: format!("{}/token", spec.secret_volume_path.trim_end_matches('/')),
            mode: None,
        });
    }
    // agent-configmap: the templates come from the file (vault-k8s ignores the secret annotations)
    let annotated = if spec.config_map.is_some() {
        &[][..]
    } else {
        &spec.secrets[..]
    };
    let templates = annotated
        .iter()
        .map(|s| Template {
            name: s.name.clone(),
            destination: s.destination.clone(),
            contents: s.contents(),
            source: match &s.body {
                super::secrets::TemplateBody::File(path) => Some(path.clone()),
                _ => None,
            },
            left_delimiter: s.left_delimiter.clone(),
            right_delimiter: s.right_delimiter.clone(),
            perms: s.perms.clone(),
            command: s.command.clone(),
            error_on_missing_key: s.error_on_missing_key,
            env_keys: s.env_keys.clone(),
            env_format: if s.env_keys.is_empty() {
                Default::default()
            } else {
                spec.env_file_format
            },
            reload: s.reload.clone(),
            ..Default::default()
        })
        .collect();
    let (listeners, cache, telemetry) = spec.agent_api.stanzas(spec.injection);
    let mut secrets_dirs = vec![spec.secret_volume_path.clone()];
    secrets_dirs.extend(spec.custom_volume_paths.iter().cloned());
    AgentConfig {
        version: CONFIG_VERSION,
        vault: spec.vault.clone(),
        auto_auth: AutoAuth {
            method: spec.auth_method.clone(),
            sinks,
        },
        templates,
        template_config: spec.template_config.clone(),
        secrets_dirs,
        log: spec.log.clone(),
        revoke_on_shutdown: spec.revoke_on_shutdown,
        config_dir: spec
            .config_map
            .as_ref()
            .map(|_| super::names::CONFIG_PATH.to_owned()),
        exit_after_auth: false,
        pid_file: None,
        listeners,
        cache,
        telemetry,
        // only a ConfigMap's file can add a listener on such a pod (the annotations' are refused)
        host_network: spec.host_network && spec.config_map.is_some(),
    }
}
