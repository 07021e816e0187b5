//! The sidecar's listener stanzas (issue #12 §2–§4): Vault Agent's `listener "tcp"`, `cache {}`
//! and `telemetry {}` as the agent acts on them.

use std::net::{Ipv4Addr, SocketAddr};

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
    /// `ferrovault_allow_non_loopback = true` (ferrovault's own key): listen on an address that is
    /// not the pod's own loopback (any address but 127.0.0.0/8 and ::1, or any address of a
    /// `hostNetwork` pod). Without it such a listener is refused: it would hand the pod's Vault
    /// identity to whoever reaches the address.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_non_loopback: bool,
    /// `ferrovault_non_loopback_auto_auth_token = true`: a non-loopback listener's proxy uses the
    /// auto-auth token as `use_auto_auth_token` says (without it, only the client's own token).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_loopback_auto_auth_token: bool,
    /// `ferrovault_non_loopback_quit = true`: a non-loopback listener serves `/agent/v1/quit` when
    /// `enable_quit` asks for it (without it, never).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_loopback_quit: bool,
}

/// The address of the listener vault-k8s writes: `127.0.0.1:<port>`.
pub fn loopback_listener_address(port: u16) -> String {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port)).to_string()
}

/// A listener address: an IP address and a port (`127.0.0.1:8200`, `[::1]:8200`). Go's `:8200`
/// (every interface) and host names are refused: what is exposed must be visible in the address.
pub fn parse_listener_address(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().map_err(|_| {
        format!(
            "address {text:?} is not an IP address and port such as 127.0.0.1:8200 or [::1]:8200 (host names \
             and Go's \":port\", which listens on every interface, are not accepted)"
        )
    })
}

/// What a checked listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerExposure {
    /// The parsed address.
    pub address: SocketAddr,
    /// Reachable from outside the pod: not a loopback address, or the pod shares the node's network.
    pub exposed: bool,
    /// Whether the proxy may add the auto-auth token (`use_auto_auth_token` still decides how).
    pub auto_auth_token: bool,
    /// Whether `POST /agent/v1/quit` is served.
    pub quit: bool,
}

impl Listener {
    /// Checks the address and the non-loopback rule for a pod with (`host_network`) or without the
    /// node's network, and says what the listener serves. A listener reachable from outside the pod
    /// needs `ferrovault_allow_non_loopback`, and then serves neither the auto-auth token nor quit
    /// unless their own keys ask for them. The webhook, the HCL reader and the agent all use this.
    pub fn check(&self, host_network: bool) -> Result<ListenerExposure, String> {
        let address = parse_listener_address(&self.address)?;
        let exposed = host_network || !address.ip().to_canonical().is_loopback();
        if !self.allow_non_loopback && (self.non_loopback_auto_auth_token || self.non_loopback_quit) {
            return Err(
                "ferrovault_non_loopback_auto_auth_token and ferrovault_non_loopback_quit need \
                 ferrovault_allow_non_loopback = true"
                    .to_owned(),
            );
        }
        if exposed && !self.allow_non_loopback {
            let why = if host_network {
                format!("the pod uses hostNetwork, so {address} is on the node's network")
            } else {
                format!("{address} is not a loopback address")
            };
            return Err(format!(
                "listener {address}: {why}: every pod or process that reaches it could use this pod's Vault \
                 identity. Accepted: a loopback address such as 127.0.0.1:8200, or set \
                 ferrovault_allow_non_loopback = true in the listener stanza to serve it without the auto-auth \
                 token and without /agent/v1/quit (ferrovault_non_loopback_auto_auth_token = true and \
                 ferrovault_non_loopback_quit = true add them back)"
            ));
        }
        Ok(ListenerExposure {
            address,
            exposed,
            auto_auth_token: !exposed || self.non_loopback_auto_auth_token,
            quit: self.enable_quit && (!exposed || self.non_loopback_quit),
        })
    }

    /// The warning for a listener reachable from outside the pod (`None` on the pod's loopback):
    /// the address, and what it serves there.
    pub fn exposure_warning(&self, host_network: bool) -> Option<String> {
        let e = self.check(host_network).ok().filter(|e| e.exposed)?;
        let token = if e.auto_auth_token {
            "WITH the agent's auto-auth token (ferrovault_non_loopback_auto_auth_token)"
        } else {
            "without the agent's auto-auth token"
        };
        let quit = if e.quit {
            "WITH POST /agent/v1/quit (ferrovault_non_loopback_quit)"
        } else {
            "without /agent/v1/quit"
        };
        let api = if self.metrics_only {
            "metrics only".to_owned()
        } else {
            format!("the Vault API {token}, {quit}")
        };
        Some(format!(
            "listener {} is reachable from outside the pod (ferrovault_allow_non_loopback): it serves {api}",
            e.address
        ))
    }
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

    fn listener(address: &str) -> Listener {
        Listener {
            address: address.into(),
            enable_quit: true,
            ..Listener::default()
        }
    }

    /// Issue #19 §3: listener addresses are parsed, not taken as text (`127.0.0.1:8200x` passed).
    #[test]
    fn listener_addresses_are_ip_and_port() {
        for good in ["127.0.0.1:8200", "[::1]:8200", "127.0.0.2:0"] {
            assert!(listener(good).check(false).is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1:8200x",
            ":8200",
            "localhost:8200",
            "127.0.0.1",
            "127.0.0.1:65536",
            "",
        ] {
            let e = listener(bad).check(false).unwrap_err();
            assert!(
                e.contains(&format!("{bad:?}")) && e.contains("such as 127.0.0.1:8200"),
                "{e}"
            );
        }
        assert_eq!(loopback_listener_address(8100), "127.0.0.1:8100");
    }

    /// Issue #19 §3: `0.0.0.0` (or the node's loopback on hostNetwork) needs the opt-in, and then
    /// serves neither the auto-auth token nor quit unless asked for.
    #[test]
    fn non_loopback_listeners_need_the_opt_in_and_lose_token_and_quit() {
        for (address, host_network) in [
            ("0.0.0.0:8200", false),
            ("10.0.0.7:8200", false),
            ("[::]:8200", false),
            ("[::ffff:10.0.0.7]:8200", false),
            ("127.0.0.1:8200", true),
        ] {
            let e = listener(address).check(host_network).unwrap_err();
            assert!(e.contains("ferrovault_allow_non_loopback = true"), "{e}");
            let opted = Listener {
                allow_non_loopback: true,
                ..listener(address)
            };
            let exposure = opted.check(host_network).unwrap();
            assert!(
                exposure.exposed && !exposure.auto_auth_token && !exposure.quit,
                "{address}"
            );
            let warning = opted.exposure_warning(host_network).unwrap();
            assert!(
                warning.contains("without the agent's auto-auth token"),
                "{warning}"
            );
            let all = Listener {
                non_loopback_auto_auth_token: true,
                non_loopback_quit: true,
                ..opted
            };
            let exposure = all.check(host_network).unwrap();
            assert!(exposure.auto_auth_token && exposure.quit, "{address}");
        }
        let local = listener("[::ffff:127.0.0.1]:8200").check(false).unwrap();
        assert!(!local.exposed && local.auto_auth_token && local.quit);
        assert!(listener("127.0.0.1:8200").exposure_warning(false).is_none());
        let e = Listener {
            non_loopback_quit: true,
            ..listener("127.0.0.1:8200")
        }
        .check(false)
        .unwrap_err();
        assert!(e.contains("need ferrovault_allow_non_loopback"), "{e}");
    }

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
