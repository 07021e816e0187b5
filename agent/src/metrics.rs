//! The agent's Prometheus metrics, served at `/agent/v1/metrics` on its listeners: Vault Agent's
//! `vault.agent.*` series under their Prometheus names (`vault_agent_auth_success`, …; counters carry
//! the `_total` suffix the encoder adds), plus what Vault Agent lacks — per template the time of the
//! last successful render and the failures, per lease its expiry, and whether the agent holds a token.
//!
//! Labels are template names and secret paths from the pod's own config; never a secret, a token or
//! a lease id.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

type Seconds = Gauge<f64, AtomicU64>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
struct TemplateLabels {
    template: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
struct LeaseLabels {
    /// `template` (a template's secret) or `proxy` (a response cached by the API proxy).
    source: &'static str,
    /// The secret's path (templates: as the template names it; proxy: the request path).
    path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
struct ReloadLabels {
    /// `signal`, `http` or `exec`.
    kind: &'static str,
    /// `ok` or `failed`.
    result: &'static str,
}

/// All metrics of the agent.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `vault.agent.auth.success`: logins that worked.
    pub auth_success: Counter,
    /// `vault.agent.auth.failure`: logins that failed.
    pub auth_failure: Counter,
    /// `vault.agent.proxy.success`: proxied requests answered.
    pub proxy_success: Counter,
    /// `vault.agent.proxy.client_error`: proxied requests Vault answered with an error status.
    pub proxy_client_error: Counter,
    /// `vault.agent.proxy.error`: proxied requests that could not be answered (Vault unreachable).
    pub proxy_error: Counter,
    /// `vault.agent.cache.hit`: proxied requests answered from the cache.
    pub cache_hit: Counter,
    /// `vault.agent.cache.miss`: proxied requests sent to Vault while a cache is on.
    pub cache_miss: Counter,
    /// Entries in the proxy's cache.
    pub cache_entries: Gauge,
    authenticated: Gauge,
    token_expiry: Seconds,
    rendered: Family<TemplateLabels, Seconds>,
    failures: Family<TemplateLabels, Counter>,
    lease_expiry: Family<LeaseLabels, Seconds>,
    reloads: Family<ReloadLabels, Counter>,
    template_leases: Mutex<BTreeSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let auth_success = counter(&mut registry, "vault_agent_auth_success", "Successful logins");
        let auth_failure = counter(&mut registry, "vault_agent_auth_failure", "Failed logins");
        let proxy_success = counter(
            &mut registry,
            "vault_agent_proxy_success",
            "Requests proxied to Vault and answered",
        );
        let proxy_client_error = counter(
            &mut registry,
            "vault_agent_proxy_client_error",
            "Proxied requests Vault answered with an error status",
        );
        let proxy_error = counter(
            &mut registry,
            "vault_agent_proxy_error",
            "Proxied requests that failed without an answer from Vault",
        );
        let cache_hit = counter(
            &mut registry,
            "vault_agent_cache_hit",
            "Requests answered from the cache",
        );
        let cache_miss = counter(
            &mut registry,
            "vault_agent_cache_miss",
            "Requests the cache sent to Vault",
        );
        let cache_entries = Gauge::default();
        registry.register(
            "ferrovault_agent_cache_entries",
            "Leased responses and tokens held by the proxy's cache",
            cache_entries.clone(),
        );
        let authenticated = Gauge::default();
        registry.register(
            "ferrovault_agent_authenticated",
            "1 while the agent holds a token from its last login, 0 before the first and while logging in again",
            authenticated.clone(),
        );
        let token_expiry = Seconds::default();
        registry.register(
            "ferrovault_agent_token_expiry_timestamp_seconds",
            "When the auto-auth token expires unless renewed (Unix time; 0: never)",
            token_expiry.clone(),
        );
        let rendered = Family::default();
        registry.register(
            "ferrovault_agent_template_last_render_timestamp_seconds",
            "When each template last rendered completely (Unix time)",
            rendered.clone(),
        );
        let failures = Family::default();
        registry.register(
            "ferrovault_agent_template_failures",
            "Renders of each template that failed (after the fetch retries)",
            failures.clone(),
        );
        let lease_expiry = Family::default();
        registry.register(
            "ferrovault_agent_lease_expiry_timestamp_seconds",
            "When each lease the agent holds expires unless renewed (Unix time)",
            lease_expiry.clone(),
        );
        let reloads = Family::default();
        registry.register(
            "ferrovault_agent_reload_actions",
            "Reload actions (ferrovault.dev/reload-*) run after a re-render, by kind and result",
            reloads.clone(),
        );
        Self {
            registry,
            auth_success,
            auth_failure,
            proxy_success,
            proxy_client_error,
            proxy_error,
            cache_hit,
            cache_miss,
            cache_entries,
            authenticated,
            token_expiry,
            rendered,
            failures,
            lease_expiry,
            reloads,
            template_leases: Mutex::default(),
        }
    }
}

/// Unix time `after` from now, in seconds.
pub fn unix_after(after: Duration) -> f64 {
    (SystemTime::now() + after)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl Metrics {
    /// A login worked: the token lives `ttl` (zero: it never expires).
    pub fn logged_in(&self, ttl: Duration) {
        self.auth_success.inc();
        self.authenticated.set(1);
        self.token_expiry
            .set(if ttl.is_zero() { 0.0 } else { unix_after(ttl) });
    }

    /// A login failed; the agent holds no usable token until the next one works.
    pub fn login_failed(&self) {
        self.auth_failure.inc();
        self.authenticated.set(0);
    }

    /// The token was renewed for `ttl`.
    pub fn token_renewed(&self, ttl: Duration) {
        self.token_expiry.set(unix_after(ttl));
    }

    /// The token must be replaced: the agent logs in again.
    pub fn token_lost(&self) {
        self.authenticated.set(0);
    }

    /// `template` rendered completely (written, or unchanged).
    pub fn rendered(&self, template: &str) {
        let labels = TemplateLabels {
            template: template.to_owned(),
        };
        self.rendered
            .get_or_create(&labels)
            .set(unix_after(Duration::ZERO));
        // so the failure series exists (at 0) for every template that ever rendered
        let _ = self.failures.get_or_create(&labels);
    }

    /// A render of `template` failed.
    pub fn render_failed(&self, template: &str) {
        self.failures
            .get_or_create(&TemplateLabels {
                template: template.to_owned(),
            })
            .inc();
    }

    /// A lease of `source` (`template` or `proxy`) at `path` expires in `ttl`.
    pub fn lease(&self, source: &'static str, path: &str, ttl: Duration) {
        if source == "template" {
            self.template_leases
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(path.to_owned());
        }
        self.lease_expiry
            .get_or_create(&LeaseLabels {
                source,
                path: path.to_owned(),
            })
            .set(unix_after(ttl));
    }

    /// The lease of `source` at `path` is gone.
    pub fn forget_lease(&self, source: &'static str, path: &str) {
        self.lease_expiry.remove(&LeaseLabels {
            source,
            path: path.to_owned(),
        });
    }

    /// Forgets the template leases not in `keep` (after a re-render dropped a dependency, or a new
    /// login started over).
    pub fn keep_template_leases(&self, keep: &BTreeSet<String>) {
        let mut known = self.template_leases.lock().unwrap_or_else(|e| e.into_inner());
        for gone in known.difference(keep) {
            self.lease_expiry.remove(&LeaseLabels {
                source: "template",
                path: gone.clone(),
            });
        }
        known.retain(|p| keep.contains(p));
    }

    /// Counts a reload action's outcome.
    pub fn reload(&self, kind: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&ReloadLabels { kind, result }).inc();
    }

    /// Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_vault_agent_names_and_ours() {
        let m = Metrics::default();
        m.logged_in(Duration::from_secs(60));
        m.login_failed();
        m.proxy_success.inc();
        m.cache_hit.inc();
        m.rendered("db");
        m.render_failed("db");
        m.lease("template", "database/creds/app", Duration::from_secs(30));
        m.lease("template", "database/creds/old", Duration::from_secs(30));
        m.keep_template_leases(&BTreeSet::from(["database/creds/app".to_owned()]));
        m.reload("http", false);
        m.reload("signal", true);
        let text = m.render();
        for line in [
            "vault_agent_auth_success_total 1",
            "vault_agent_auth_failure_total 1",
            "vault_agent_proxy_success_total 1",
            "vault_agent_proxy_client_error_total 0",
            "vault_agent_proxy_error_total 0",
            "vault_agent_cache_hit_total 1",
            "vault_agent_cache_miss_total 0",
            "ferrovault_agent_authenticated 0",
            "ferrovault_agent_template_failures_total{template=\"db\"} 1",
            "# TYPE ferrovault_agent_template_last_render_timestamp_seconds gauge",
            "ferrovault_agent_lease_expiry_timestamp_seconds{source=\"template\",path=\"database/creds/app\"}",
            "ferrovault_agent_reload_actions_total{kind=\"http\",result=\"failed\"} 1",
            "ferrovault_agent_reload_actions_total{kind=\"signal\",result=\"ok\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("database/creds/old"), "{text}");
    }
}
