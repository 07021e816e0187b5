//! The client of one login session: it owns its token from login to replacement, so concurrent
//! fetches never share (or swap) a token on a common client.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use vaultrs::client::{Client as _, VaultClient};

use super::{Response, TokenInfo, Vault, api_errors, vault_err};
use crate::credential::Credential;
use crate::error::chain;
use crate::{Error, Result};

/// Vault with one token: token lifecycle through vaultrs, secrets and leases through raw requests.
pub struct TokenClient {
    vault: Vault,
    token: Credential,
    vaultrs: VaultClient,
}

impl TokenClient {
    pub(super) fn new(vault: Vault, token: Credential, vaultrs: VaultClient) -> Self {
        Self {
            vault,
            token,
            vaultrs,
        }
    }

    /// The client token (for the sinks).
    pub fn token(&self) -> &Credential {
        &self.token
    }

    /// `lookup-self`.
    pub async fn lookup_self(&self) -> Result<TokenInfo> {
        let info = self
            .vaultrs
            .lookup()
            .await
            .map_err(|e| vault_err("lookup", "auth/token/lookup-self", &e))?;
        Ok(TokenInfo {
            ttl: Duration::from_secs(info.ttl),
            renewable: info.renewable.unwrap_or(false),
            accessor: Credential::new(info.accessor),
        })
    }

    /// `renew-self`; returns the new TTL.
    pub async fn renew_self(&self) -> Result<Duration> {
        let auth = self
            .vaultrs
            .renew(None)
            .await
            .map_err(|e| vault_err("renew", "auth/token/renew-self", &e))?;
        Ok(Duration::from_secs(auth.lease_duration))
    }

    /// `revoke-self`.
    pub async fn revoke_self(&self) -> Result<()> {
        self.vaultrs
            .revoke()
            .await
            .map_err(|e| vault_err("revoke", "auth/token/revoke-self", &e))
    }

    /// Renews a secret's lease (`sys/leases/renew`); returns the new duration.
    pub async fn renew_lease(&self, lease_id: &str) -> Result<Duration> {
        const PATH: &str = "sys/leases/renew";
        let body = json!({ "lease_id": lease_id });
        let resp = self
            .request(Method::PUT, PATH, Some(&body))
            .await
            .map_err(|message| Error::Vault {
                operation: "renew",
                path: PATH.into(),
                message,
                status: None,
            })?;
        if !resp.status.is_success() {
            return Err(Error::Vault {
                operation: "renew",
                path: PATH.into(),
                message: api_errors(&resp),
                status: Some(resp.status.as_u16()),
            });
        }
        Ok(Duration::from_secs(
            resp.body["lease_duration"].as_u64().unwrap_or(0),
        ))
    }

    /// One raw request to `/v1/<path>` (path may carry a query string).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<Response, String> {
        let settings = &self.vault.settings;
        let url = format!("{}/v1/{}", settings.address, path.trim_start_matches('/'));
        let mut req = self
            .vault
            .http
            .request(method, url)
            .header("X-Vault-Request", "true");
        if !self.token.is_empty() {
            req = req.header("X-Vault-Token", self.token.expose());
        }
        if let Some(ns) = &settings.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).unwrap_or_default());
        }
        let resp = req.send().await.map_err(|e| chain(&e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| chain(&e))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Response { status, body })
    }
}
