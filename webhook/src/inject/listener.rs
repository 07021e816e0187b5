//! The agent's listener (vault-k8s §2.5): `agent-cache-*`, `agent-enable-quit` and
//! `agent-telemetry-*` → Vault Agent's `listener`, `cache` and `telemetry` stanzas in the
//! [`AgentConfig`](ferrovault_contract::AgentConfig).
//!
//! vault-k8s' rules: a listener `127.0.0.1:<agent-cache-listener-port>` when `agent-cache-enable`
//! (unless `agent-pre-populate-only`) or `agent-enable-quit`; the cache persisted in the
//! `vault-agent-cache` volume when the init container and the sidecar both run; quit without the
//! cache adds an empty `cache {}`.

use ferrovault_contract::{Cache, CachePersist, Listener, Telemetry, UseAutoAuthToken, VaultDuration};

use super::annotations::Annotations;
use super::catalogue as cat;
use super::decision::InjectionType;
use super::error::InjectError;

use super::names::CACHE_PATH;

/// Vault's telemetry keys that configure another sink than Prometheus (vault-k8s passes them on).
const OTHER_SINKS: &[&str] = &[
    "statsite_address",
    "statsd_address",
    "circonus_api_token",
    "circonus_api_app",
    "circonus_api_url",
    "circonus_submission_interval",
    "circonus_submission_url",
    "circonus_check_id",
    "circonus_check_force_metric_activation",
    "circonus_check_instance_id",
    "circonus_check_search_tag",
    "circonus_check_display_name",
    "circonus_check_tags",
    "circonus_broker_id",
    "circonus_broker_select_tag",
    "dogstatsd_addr",
    "dogstatsd_tags",
    "stackdriver_project_id",
    "stackdriver_location",
    "stackdriver_namespace",
    "stackdriver_debug_logs",
];

/// Vault's telemetry keys that shape go-metrics' output, which the agent's metrics do not have.
const NO_EFFECT: &[&str] = &[
    "usage_gauge_period",
    "maximum_gauge_cardinality",
    "enable_hostname_label",
    "lease_metrics_epsilon",
    "num_lease_metrics_buckets",
    "add_lease_metrics_namespace_labels",
    "filter_default",
    "prefix_filter",
];

/// The listener annotations, validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentApi {
    /// `agent-cache-enable`.
    pub cache: bool,
    /// `agent-cache-use-auto-auth-token`.
    pub use_auto_auth_token: UseAutoAuthToken,
    /// `agent-cache-listener-port`.
    pub port: u16,
    /// `agent-cache-exit-on-err`.
    pub exit_on_err: bool,
    /// `agent-enable-quit`.
    pub enable_quit: bool,
    /// `agent-telemetry-prometheus_retention_time`.
    pub prometheus_retention_time: Option<VaultDuration>,
}

/// Reads the listener annotations; warns about telemetry keys the agent does not act on.
pub(super) fn parse(a: &Annotations<'_>, warnings: &mut Vec<String>) -> Result<AgentApi, InjectError> {
    let cache = a.bool_or(&cat::CACHE_ENABLE, false)?;
    let use_auto_auth_token = match a.get(&cat::CACHE_USE_AUTO_AUTH_TOKEN) {
        None => UseAutoAuthToken::True,
        Some(e) => UseAutoAuthToken::parse(e.value).ok_or_else(|| {
            InjectError::invalid(
                e.key,
                e.value,
                "true, false (or another Go bool spelling) or force",
            )
        })?,
    };
    let port = match a.get(&cat::CACHE_LISTENER_PORT) {
        None => 8200,
        Some(e) => e
            .value
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| InjectError::invalid(e.key, e.value, "a TCP port from 1 to 65535 such as 8200"))?,
    };
    let exit_on_err = a.bool_or(&cat::CACHE_EXIT_ON_ERR, false)?;
    let enable_quit = a.bool_or(&cat::ENABLE_QUIT, false)?;
    let mut prometheus_retention_time = None;
    let mut telemetry = Vec::new();
    for (_, rest, e) in a.with_prefixes(&[&cat::TELEMETRY]) {
        let param = rest.replace('-', "_");
        telemetry.push(e.key);
        match param.as_str() {
            "prometheus_retention_time" => {
                // vault-k8s JSON-decodes the value (`30` is a number of seconds), Vault reads a duration
                let value = e.value.trim().trim_matches('"');
                prometheus_retention_time = Some(value.parse::<VaultDuration>().map_err(|_| {
                    InjectError::invalid(e.key, e.value, "seconds, days or a Go duration such as 30, 1d or 24h")
                })?);
            }
            // the agent never puts the host name into metric names
            "disable_hostname" => {}
            p if NO_EFFECT.contains(&p) => warnings.push(format!(
                "{} has no effect: ferrovault-agent's metrics are not go-metrics (the value is ignored)",
                e.key
            )),
            p if OTHER_SINKS.contains(&p) => warnings.push(format!(
                "{} was ignored: ferrovault-agent serves Prometheus metrics only, at /agent/v1/metrics on its listener",
                e.key
            )),
            _ => warnings.push(format!(
                "{} is not a Vault telemetry setting and was ignored (typo?)",
                e.key
            )),
        }
    }
    let api = AgentApi {
        cache,
        use_auto_auth_token,
        port,
        exit_on_err,
        enable_quit,
        prometheus_retention_time,
    };
    if !telemetry.is_empty() && !cache && !enable_quit {
        warnings.push(format!(
            "{}: the agent serves metrics on its listener, which only agent-cache-enable or agent-enable-quit adds",
            telemetry.join(", ")
        ));
    }
    Ok(api)
}

/// Refuses a listener on a `hostNetwork: true` pod: its `127.0.0.1` is the node's loopback, so every
/// hostNetwork pod and node process could use this pod's Vault identity through the proxy and stop
/// its agent with `/agent/v1/quit` (and two such pods would clash on the port). Denied at admission,
/// naming the annotation that asks for the listener, rather than admitted to fail in the agent.
pub(super) fn check_host_network(
    a: &Annotations<'_>,
    api: &AgentApi,
    injection: InjectionType,
) -> Result<(), InjectError> {
    let (listeners, _, _) = api.stanzas(injection);
    let Some(listener) = listeners.first() else {
        return Ok(());
    };
    let entry = if api.caches(injection) {
        a.get(&cat::CACHE_ENABLE)
    } else {
        a.get(&cat::ENABLE_QUIT)
    };
    let (key, value) = entry.map_or_else(
        || (a.key(&cat::CACHE_ENABLE), "true".to_owned()),
        |e| (e.key.to_owned(), e.value.to_owned()),
    );
    Err(InjectError::invalid(
        key,
        &value,
        format!(
            "false on a hostNetwork: true pod (its agent listener {} would be on the node's loopback, open \
             to every hostNetwork pod and node process: they could use this pod's Vault identity and stop its \
             agent); run the pod without hostNetwork to use agent-cache-enable or agent-enable-quit",
            listener.address
        ),
    ))
}

impl AgentApi {
    /// Whether the agent caches: `agent-cache-enable` with a long-running agent.
    fn caches(&self, injection: InjectionType) -> bool {
        self.cache && injection != InjectionType::InitOnly
    }

    /// Whether the init container and the sidecar share a persisted cache (vault-k8s:
    /// `agent-cache-enable` with pre-population and a sidecar) — the `vault-agent-cache` volume.
    pub fn persistent(&self, injection: InjectionType) -> bool {
        self.cache && injection == InjectionType::InitAndSidecar
    }

    /// The `listeners`, `cache` and `telemetry` of the agent config.
    pub fn stanzas(&self, injection: InjectionType) -> (Vec<Listener>, Option<Cache>, Option<Telemetry>) {
        let telemetry = self.prometheus_retention_time.clone().map(|d| Telemetry {
            prometheus_retention_time: Some(d),
        });
        if !self.caches(injection) && !self.enable_quit {
            return (Vec::new(), None, telemetry);
        }
        let listener = Listener {
            address: ferrovault_contract::loopback_listener_address(self.port),
            enable_quit: self.enable_quit,
            ..Listener::default()
        };
        let cache = if self.caches(injection) {
            Cache {
                use_auto_auth_token: self.use_auto_auth_token,
                persist: self.persistent(injection).then(|| CachePersist {
                    path: CACHE_PATH.to_owned(),
                    exit_on_err: self.exit_on_err,
                }),
            }
        } else {
            // vault-k8s adds an empty `cache {}` for quit: Vault Agent's default, no auto-auth token
            Cache::default()
        };
        (vec![listener], Some(cache), telemetry)
    }
}
