//! Finding the service-account token the agent logs in with (vault-k8s §2.6).

use k8s_openapi::api::core::v1::Pod;

use super::error::InjectError;

/// Where the agent mounts a named token volume that no app container mounts.
pub const FALLBACK_MOUNT_PATH: &str = "/var/run/secrets/vault.hashicorp.com/serviceaccount";

/// The token volume, mounted read-only into both agent containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountToken {
    /// Pod volume name.
    pub volume_name: String,
    /// Where the agent containers mount it.
    pub mount_path: String,
    /// File of the token inside the volume (`token` unless a projected source says otherwise).
    pub token_path: String,
}

impl ServiceAccountToken {
    /// `<mount path>/<token path>`: the kubernetes auth method's `token_path`.
    pub fn token_file(&self) -> String {
        format!("{}/{}", self.mount_path.trim_end_matches('/'), self.token_path)
    }
}

/// Finds the token volume. `volume_name` is `agent-service-account-token-volume-name` when set.
pub fn discover(pod: &Pod, volume_name: Option<&str>) -> Result<ServiceAccountToken, InjectError> {
    let spec = pod.spec.as_ref();
    let mounts = || {
        spec.into_iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.volume_mounts.iter().flatten())
    };
    let Some(name) = volume_name else {
        return mounts()
            .find(|m| m.mount_path.contains("serviceaccount"))
            .map(|m| ServiceAccountToken {
                volume_name: m.name.clone(),
                mount_path: m.mount_path.clone(),
                token_path: "token".to_owned(),
            })
            .ok_or_else(|| {
                InjectError::ServiceAccount(
                    "failed to find service account volume mount: no container of the pod mounts a volume at a \
                     path containing \"serviceaccount\" (is automountServiceAccountToken false?); name a \
                     projected service-account token volume with annotation \
                     vault.hashicorp.com/agent-service-account-token-volume-name"
                        .to_owned(),
                )
            });
    };

    let volume = spec
        .and_then(|s| s.volumes.as_ref())
        .and_then(|vs| vs.iter().find(|v| v.name == name));
    let mount = mounts().find(|m| m.name == name);
    let volume = match (volume, mount) {
        (Some(v), _) => v,
        (None, Some(_)) => {
            let pod_name = pod
                .metadata
                .name
                .as_deref()
                .or(pod.metadata.generate_name.as_deref())
                .unwrap_or_default();
            return Err(InjectError::ServiceAccount(format!(
                "failed to find volume {name:?} in Pod {pod_name:?} volumes (named by annotation \
                 vault.hashicorp.com/agent-service-account-token-volume-name)"
            )));
        }
        (None, None) => {
            return Err(InjectError::ServiceAccount(format!(
                "failed to find service account volume {name:?} (named by annotation \
                 vault.hashicorp.com/agent-service-account-token-volume-name): the pod has no such volume"
            )));
        }
    };
    let token_path = volume
        .projected
        .as_ref()
        .and_then(|p| p.sources.as_ref())
        .and_then(|sources| sources.iter().find_map(|s| s.service_account_token.as_ref()))
        .map(|t| t.path.clone())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            InjectError::ServiceAccount(format!(
                "failed to find tokenPath for projected volume {name:?}: the volume named by annotation \
                 vault.hashicorp.com/agent-service-account-token-volume-name must be a projected volume \
                 with a serviceAccountToken source"
            ))
        })?;
    Ok(ServiceAccountToken {
        volume_name: name.to_owned(),
        mount_path: mount
            .map(|m| m.mount_path.clone())
            .unwrap_or_else(|| FALLBACK_MOUNT_PATH.to_owned()),
        token_path,
    })
}
