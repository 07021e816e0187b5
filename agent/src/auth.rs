//! Auto-auth: one login per [`Method`], and the retrying loop around it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::credential::Credential;
use crate::settings::{AuthSettings, Method};
use crate::vault::{Login, TokenClient, TokenInfo, Vault};
use crate::{Error, Result};

/// One login: the client that owns its token, and what Vault says about the token's lifetime.
#[derive(Clone)]
pub struct Session {
    /// Vault with this session's token.
    pub client: Arc<TokenClient>,
    /// TTL and renewability at login.
    pub info: TokenInfo,
}

/// Logs in once.
pub async fn login(vault: &Vault, auth: &AuthSettings) -> Result<Session> {
    let fail = |message: String| Error::Login {
        method: auth.method.kind().to_owned(),
        mount: format!("auth/{}", auth.mount),
        message,
    };
    let token = match &auth.method {
        Method::Kubernetes { role, token_path } => {
            // Projected service-account tokens rotate: read the file on every login.
            let jwt = read_secret_file(token_path, false)?;
            vault
                .login(Login::Kubernetes {
                    mount: &auth.mount,
                    role,
                    jwt: &jwt,
                })
                .await
                .map_err(fail)?
        }
        Method::Jwt {
            role,
            path,
            remove_after_reading,
        } => {
            let jwt = read_secret_file(path, *remove_after_reading)?;
            vault
                .login(Login::Jwt {
                    mount: &auth.mount,
                    role,
                    jwt: &jwt,
                })
                .await
                .map_err(fail)?
        }
        Method::AppRole {
            role_id_file,
            secret_id_file,
            remove_secret_id_file,
        } => {
            let role_id = read_secret_file(role_id_file, false)?;
            let secret_id = match secret_id_file {
                Some(path) => read_secret_file(path, *remove_secret_id_file)?,
                None => Credential::default(),
            };
            vault
                .login(Login::AppRole {
                    mount: &auth.mount,
                    role_id: &role_id,
                    secret_id: &secret_id,
                })
                .await
                .map_err(fail)?
        }
        Method::Cert {
            name,
            ca_cert,
            client_cert,
            client_key,
        } => {
            let own;
            let client = match (client_cert, client_key) {
                (Some(cert), Some(key)) => {
                    own = vault.with_identity(ca_cert.as_deref(), cert, key)?;
                    &own
                }
                _ => vault,
            };
            client
                .login(Login::Cert {
                    mount: &auth.mount,
                    name,
                })
                .await
                .map_err(fail)?
        }
        Method::TokenFile { path } => read_secret_file(path, false)?,
        Method::Token => Credential::new(
            std::env::var("VAULT_TOKEN")
                .or_else(|_| std::env::var("BAO_TOKEN"))
                .map_err(|_| fail("the token method needs env VAULT_TOKEN".into()))?,
        ),
    };
    if token.is_empty() {
        return Err(fail("Vault returned no client token".into()));
    }
    let client = vault.client(token)?;
    let info = client
        .lookup_self()
        .await
        .map_err(|e| fail(format!("token lookup failed: {e}")))?;
    Ok(Session {
        client: Arc::new(client),
        info,
    })
}

/// Logs in, retrying with exponential backoff and full jitter between `min_backoff` and
/// `max_backoff`; gives up after the first failure when `exit_on_err` is set. `on_error` sees each
/// failure (for logs and the init-timeout message).
pub async fn login_with_retry(
    vault: &Vault,
    auth: &AuthSettings,
    mut on_error: impl FnMut(&Error),
) -> Result<Session> {
    let mut attempt = 0u32;
    loop {
        match login(vault, auth).await {
            Ok(session) => return Ok(session),
            Err(err) => {
                on_error(&err);
                if auth.exit_on_err {
                    return Err(err);
                }
                let delay = auth.backoff.delay(attempt);
                tracing::warn!(error = %err, retry_in = ?delay, "login failed");
                tokio::time::sleep(delay).await;
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// Keeps `session` alive: renews at ~2/3 of the TTL and returns when the token must be replaced
/// (renewal failed, or Vault capped the TTL at the token's max TTL). Never returns for tokens that do
/// not expire or cannot be renewed but are still valid (it then waits for their expiry).
/// `renewed` sees each renewal's new TTL.
pub async fn keep_alive(session: &Session, renewed: impl Fn(Duration)) {
    let TokenInfo {
        mut ttl, renewable, ..
    } = session.info;
    if ttl.is_zero() {
        return std::future::pending().await;
    }
    if !renewable {
        tokio::time::sleep(ttl.mul_f64(0.9)).await;
        return;
    }
    let original = ttl;
    loop {
        tokio::time::sleep(crate::jitter::scale(ttl, 0.6, 0.7)).await;
        match session.client.renew_self().await {
            Ok(new_ttl) if new_ttl.is_zero() => return,
            Ok(new_ttl) if new_ttl + Duration::from_secs(1) < original => {
                renewed(new_ttl);
                // Capped by the max TTL: use what is left, then log in again.
                tracing::info!(ttl = ?new_ttl, "token reached its max TTL; will log in again");
                tokio::time::sleep(new_ttl.mul_f64(0.8)).await;
                return;
            }
            Ok(new_ttl) => {
                renewed(new_ttl);
                tracing::debug!(ttl = ?new_ttl, "token renewed");
                ttl = new_ttl;
            }
            Err(err) => {
                tracing::warn!(error = %err, "token renewal failed; will log in again");
                return;
            }
        }
    }
}

fn read_secret_file(path: &Path, remove: bool) -> Result<Credential> {
    let text = std::fs::read_to_string(path).map_err(Error::io("reading", path))?;
    if remove {
        std::fs::remove_file(path).map_err(Error::io("removing", path))?;
    }
    Ok(Credential::new(text.trim()))
}
