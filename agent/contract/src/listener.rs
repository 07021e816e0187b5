//! The sidecar's listener stanzas (issue #12 §2–§4): Vault Agent's `listener "tcp"`, `cache {}`
//! and `telemetry {}` as the agent acts on them.

use serde::{Deserialize, Serialize};

use crate::{VaultDuration, go};

/// A `listener "tcp"` stanza. Always plain HTTP (`tls_disable = true`, as vault-k8s writes it): the
/// listener is meant for the pod's loopback interface.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `address`: `host:port` to listen on (vault-k8s: `127.0.0.1:<agent-cache-listener-port>`).
    pub address: String,
    /// `role = "metrics_only"`: serve only `/agent/v1/metrics`, no proxy and no other agent API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metrics_only: bool,
    /// `agent_api { enable_quit = true }` (`agent-enable-quit`): `POST /agent/v1/quit` makes the
    /// agent exit 0, as it does on SIGTERM.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_quit: bool,
}

/// The `cache {}` stanza.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// `use_auto_auth_token` (`agent-cache-use-auto-auth-token`; vault-k8s' default `true`, Vault
    /// Agent's `false` when the stanza omits it).
    #[serde(default)]
    pub use_auto_auth_token: UseAutoAuthToken,
    /// `persist { type = "kubernetes" … }`: vault-k8s writes it when the init container and the sidecar
    /// share the cache (`agent-cache-enable` with pre-population). The agent keeps its cache in memory
    /// only; the sidecar starts with an empty cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist: Option<CachePersist>,
}

/// How the proxy treats the client's own token (`cache.use_auto_auth_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UseAutoAuthToken {
    /// Requests are forwarded with the client's token only.
    #[default]
    False,
    /// A request without `X-Vault-Token` gets the agent's auto-auth token.
    True,
    /// Every request gets the auto-auth token; the client's token is dropped.
    Force,
}

impl UseAutoAuthToken {
    /// Vault Agent's reading of `use_auto_auth_token`: `force` (any case), or a Go bool (`true`,
    /// `1`, `t`, `false`, …). `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("force") {
            return Some(Self::Force);
        }
        go::parse_bool(value).map(|b| if b { Self::True } else { Self::False })
    }
}

/// `cache { persist {} }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePersist {
    /// Directory of the persisted cache (vault-k8s: `/vault/agent-cache`, a memory emptyDir).
    pub path: String,
    /// `exit_on_err` (`agent-cache-exit-on-err`): exit when the persisted cache cannot be restored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exit_on_err: bool,
}

/// The `telemetry {}` keys the agent acts on (it serves Prometheus metrics only; the other sinks'
/// keys are refused or warned about by the webhook).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// `prometheus_retention_time`: `0` turns `/agent/v1/metrics` off (404), as Vault Agent turns its
    /// Prometheus sink off; any other value leaves it on (the agent's metrics are current values,
    /// nothing is retained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_retention_time: Option<VaultDuration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_auto_auth_token_reads_like_vault_agent() {
        for (input, want) in [
            ("true", UseAutoAuthToken::True),
            ("1", UseAutoAuthToken::True),
            ("T", UseAutoAuthToken::True),
            ("false", UseAutoAuthToken::False),
            ("0", UseAutoAuthToken::False),
            ("force", UseAutoAuthToken::Force),
            ("FORCE", UseAutoAuthToken::Force),
        ] {
            assert_eq!(UseAutoAuthToken::parse(input), Some(want), "{input:?}");
        }
        for bad in ["yes", "forced", "tRuE"] {
            assert_eq!(UseAutoAuthToken::parse(bad), None, "{bad:?}");
        }
    }
}
