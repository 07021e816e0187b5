//! Secrets as environment variables (`ferrovault.dev/env-<secret>`) and reload actions
//! (`ferrovault.dev/reload-{signal,http,exec}-<secret>`): what they need from the pod and the
//! cluster, checked at admission, and the env entries the patch adds.

use k8s_openapi::api::core::v1::{Container, EnvVar, EnvVarSource, FileKeySelector, Pod};

use super::annotations::Annotations;
use super::catalogue as cat;
use super::container::{SECRETS_VOLUME, custom_volume_name};
use super::decision::InjectionType;
use super::defaults::InjectorDefaults;
use super::error::InjectError;
use super::secrets::SecretSpec;
use super::spec::RunAs;
use ferrovault_contract::ReloadAction;

/// What the checks need from the rest of the spec.
pub(super) struct Context<'a, 'p> {
    pub annotations: &'a Annotations<'p>,
    pub pod: &'a Pod,
    pub defaults: &'a InjectorDefaults,
    pub injection: InjectionType,
    pub secrets: &'a [SecretSpec],
    pub app_containers: &'a [String],
    pub run_as: Option<RunAs>,
}

/// Refuses what cannot work (env vars without the `EnvFiles` gate or without an agent that renders
/// before the app starts, a signal without a shared process namespace), warns about what may not,
/// and turns `shareProcessNamespace` on when a signal reload needs it.
pub(super) fn check(
    cx: &Context<'_, '_>,
    share_process_namespace: &mut Option<bool>,
    warnings: &mut Vec<String>,
) -> Result<(), InjectError> {
    let a = cx.annotations;
    if let Some(s) = cx.secrets.iter().find(|s| !s.env_keys.is_empty()) {
        let key = a.key(cat::ENV.of(&s.raw_name));
        if !cx.defaults.env_files {
            return Err(InjectError::Pod(format!(
                "annotation {key} asks for secrets as environment variables (env[].valueFrom.fileKeyRef), \
                 which needs Kubernetes' EnvFiles feature on the API servers and kubelets (on by default from \
                 1.35; a gate to turn on in 1.34); this injector has env files off (--env-files, chart value \
                 envFiles.enabled: auto turns them on for a 1.35+ API server), so the pod is refused: use a \
                 1.35+ cluster or turn the gate and --env-files=true on, or read the file {} instead",
                s.destination
            )));
        }
        if !(cx.injection.has_init() || cx.injection == InjectionType::NativeSidecar) {
            return Err(InjectError::Pod(format!(
                "annotation {key} needs the env file rendered before the app containers start, but this \
                 pod gets only a sidecar ({} is false): use the native sidecar or the init container",
                a.key(&cat::PRE_POPULATE)
            )));
        }
        let mut names: Vec<(&str, &str)> = Vec::new();
        for s in cx.secrets {
            for k in &s.env_keys {
                if let Some((_, first)) = names.iter().find(|(n, _)| n == k) {
                    return Err(InjectError::Pod(format!(
                        "environment variable {k:?} is asked for by secrets {first:?} and {:?} \
                         ({}-<secret>): each name may come from one secret only",
                        s.name,
                        cat::FERROVAULT_PREFIX.to_owned() + cat::ENV.name
                    )));
                }
                names.push((k, &s.name));
            }
        }
        for c in app_containers(cx) {
            for e in c.env.iter().flatten() {
                if names.iter().any(|(n, _)| *n == e.name) {
                    warnings.push(format!(
                        "container {:?} already sets environment variable {:?}: the one from the env file is \
                         added after it and wins",
                        c.name, e.name
                    ));
                }
            }
        }
    }

    let signalled = cx
        .secrets
        .iter()
        .find(|s| s.reload.iter().any(|r| matches!(r, ReloadAction::Signal { .. })));
    if let Some(s) = signalled {
        let key = a.key(cat::RELOAD_SIGNAL.of(&s.raw_name));
        let pod_off = cx.pod.spec.as_ref().and_then(|p| p.share_process_namespace) == Some(false);
        if pod_off || *share_process_namespace == Some(false) {
            return Err(InjectError::Pod(format!(
                "annotation {key} signals a process of the app, which needs shareProcessNamespace, but {} \
                 turns it off",
                if pod_off {
                    "the pod".to_owned()
                } else {
                    a.key(&cat::SHARE_PROCESS_NAMESPACE)
                }
            )));
        }
        let pod_on = cx.pod.spec.as_ref().and_then(|p| p.share_process_namespace) == Some(true);
        if !pod_on && *share_process_namespace != Some(true) {
            warnings.push(format!(
                "annotation {key} turns on shareProcessNamespace: every container of the pod then sees the \
                 agent's process, and one running as the agent's uid (which the signal needs) can signal or \
                 kill it, and read its environment and files through /proc/<pid>/ — the token sink \
                 {} among them; the agent marks itself non-dumpable, which closes /proc to other processes \
                 of its uid unless they have CAP_SYS_PTRACE, but signals stay open: prefer \
                 ferrovault.dev/reload-http-<secret> where the app can reload on a request (README: Reload \
                 actions)",
                ferrovault_contract::HOME_TOKEN_SINK
            ));
        }
        *share_process_namespace = Some(true);
        // the agent's uid: its securityContext, else its image's USER (100)
        let agent_uid = cx
            .run_as
            .map_or(super::defaults::vault_k8s::RUN_AS_USER, |r| r.user);
        for c in app_containers(cx) {
            let uid = c
                .security_context
                .as_ref()
                .and_then(|sc| sc.run_as_user)
                .or_else(|| cx.pod.spec.as_ref()?.security_context.as_ref()?.run_as_user);
            if let Some(uid) = uid.filter(|u| *u != agent_uid) {
                warnings.push(format!(
                    "annotation {key}: container {:?} runs as uid {uid} but the agent as uid {agent_uid}, and \
                     the agent has no capabilities: the kernel will refuse the signal; run them as the same uid \
                     ({} or {})",
                    c.name,
                    a.key(&cat::RUN_AS_USER),
                    a.key(&cat::RUN_AS_SAME_USER)
                ));
            }
        }
    }
    for s in cx.secrets {
        if s.reload.iter().any(|r| matches!(r, ReloadAction::Exec { .. })) {
            warnings.push(format!(
                "{} runs its program inside the agent container, whose ferrovault image holds only \
                 /ferrovault-agent: the program must come from an agent image of your own or a volume, and the \
                 agent runs it only if no one but root can replace it (the program and every directory above \
                 it owned by root, not writable by group or others; never in a secrets volume), with PATH as \
                 its only environment variable",
                a.key(cat::RELOAD_EXEC.of(&s.raw_name))
            ));
        }
    }
    Ok(())
}

fn app_containers<'a>(cx: &'a Context<'_, '_>) -> impl Iterator<Item = &'a Container> {
    cx.pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter(|c| cx.app_containers.contains(&c.name))
}

/// The env entries of the app containers: one `fileKeyRef` per key, reading the secret's file in
/// its secrets volume. `custom_volume_paths` and `secret_volume_path` as in the spec.
pub fn env_vars(
    secrets: &[SecretSpec],
    secret_volume_path: &str,
    custom_volume_paths: &[String],
) -> Vec<EnvVar> {
    let mut out = Vec::new();
    for s in secrets.iter().filter(|s| !s.env_keys.is_empty()) {
        let volume = if s.mount_path == secret_volume_path {
            SECRETS_VOLUME.to_owned()
        } else {
            let i = custom_volume_paths
                .iter()
                .position(|p| *p == s.mount_path)
                .expect("every per-secret mount path is a custom volume");
            custom_volume_name(i)
        };
        let path = s
            .destination
            .strip_prefix(s.mount_path.trim_end_matches('/'))
            .unwrap_or(&s.destination)
            .trim_start_matches('/');
        for key in &s.env_keys {
            out.push(EnvVar {
                name: key.clone(),
                value_from: Some(EnvVarSource {
                    file_key_ref: Some(FileKeySelector {
                        volume_name: volume.clone(),
                        path: path.to_owned(),
                        key: key.clone(),
                        optional: None,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }
    out
}
