//! Prometheus metrics, with vault-k8s' `vault_agent_injector_*` series so existing dashboards keep
//! working, and the standard `process_*` series. Labels carry namespaces and injection types only —
//! never pod names or values. Namespace label values are capped ([`Namespaces`]): anyone who reaches
//! the webhook's port can send reviews with made-up namespaces, and each new value would be a new
//! series kept for the life of the process.
//!
//! Built on `prometheus-client`; exposed in the Prometheus text format (0.0.4) that vault-k8s' Go
//! client serves, so bucket bounds read `le="5"` as there. On the request path: atomic counters and
//! gauges, one short lock per histogram observation, and a namespace `String` per labelled count.

#[cfg(target_os = "linux")]
mod process;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Buckets of `vault_agent_injector_request_processing_duration_ms`, as vault-k8s.
const BUCKETS_MS: [f64; 13] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
];

/// Default of `--metrics-max-namespaces`.
pub const DEFAULT_MAX_NAMESPACES: usize = 100;

/// The label value of namespaces beyond the cap.
pub const OTHER_NAMESPACE: &str = "other";

/// The namespace label values in use, shared by every per-namespace metric: the first `max`
/// distinct namespaces keep their name, the rest are counted under [`OTHER_NAMESPACE`]. So the
/// per-namespace series are at most `max + 1` per other label value, whatever the requests say.
#[derive(Debug, Clone)]
pub struct Namespaces {
    seen: Arc<Mutex<HashSet<String>>>,
    max: usize,
}

impl Namespaces {
    /// At most `max` distinct namespace values.
    pub fn new(max: usize) -> Self {
        Self {
            seen: Arc::default(),
            max,
        }
    }

    /// The label value for `namespace`.
    pub fn label(&self, namespace: &str) -> String {
        // a poisoned lock only means a panic elsewhere while holding it: the set is still valid
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(namespace) {
            return namespace.to_owned();
        }
        if seen.len() < self.max && namespace != OTHER_NAMESPACE {
            seen.insert(namespace.to_owned());
            return namespace.to_owned();
        }
        OTHER_NAMESPACE.to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct InjectionLabels {
    injection_type: &'static str,
    namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct NamespaceLabels {
    namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// All metrics of the webhook.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    in_flight: Gauge,
    duration_ms: Histogram,
    injections: Family<InjectionLabels, Counter>,
    failures: Family<NamespaceLabels, Counter>,
    requests: Family<OutcomeLabels, Counter>,
    missed: Family<NamespaceLabels, Gauge>,
    missed_scans: Counter,
    namespaces: Namespaces,
}

/// The missed-injection detector's metrics: a gauge per namespace and a count of complete scans.
#[derive(Debug, Clone)]
pub struct MissedMetrics {
    missed: Family<NamespaceLabels, Gauge>,
    scans: Counter,
    namespaces: Namespaces,
}

impl MissedMetrics {
    /// Sets the count of missed pods of each namespace; a namespace that is not a DNS-1123 label
    /// (impossible for a real one) is counted as `invalid`, namespaces beyond the cap as `other`.
    pub fn set(&self, counts: &std::collections::BTreeMap<String, i64>) {
        let mut by_label: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for (namespace, count) in counts {
            let label = if crate::review::is_dns1123_label(namespace) {
                self.namespaces.label(namespace)
            } else {
                self.namespaces.label("invalid")
            };
            *by_label.entry(label).or_default() += count;
        }
        for (namespace, count) in by_label {
            self.missed
                .get_or_create(&NamespaceLabels { namespace })
                .set(count);
        }
    }

    /// Removes every series (leadership lost: only the leader reports).
    pub fn clear(&self) {
        self.missed.clear();
    }

    /// Counts one complete scan (a list of every pod, at start and at each resync).
    pub fn scanned(&self) {
        self.scans.inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_NAMESPACES)
    }
}

impl Metrics {
    /// The metrics, with at most `max_namespaces` distinct namespace label values (`--metrics-max-namespaces`).
    pub fn new(max_namespaces: usize) -> Self {
        let mut registry = Registry::default();
        let in_flight = Gauge::default();
        // `register` ends each help text with a period.
        registry.register(
            "vault_agent_injector_request_queue_length",
            "Count of in-flight requests",
            in_flight.clone(),
        );
        let duration_ms = Histogram::new(BUCKETS_MS);
        registry.register(
            "vault_agent_injector_request_processing_duration_ms",
            "Histogram of the request processing duration in milliseconds",
            duration_ms.clone(),
        );
        // Counters get their `_total` suffix from the encoder.
        let injections = Family::default();
        registry.register(
            "vault_agent_injector_injections_by_namespace",
            "Total count of injections by namespace",
            injections.clone(),
        );
        let failures = Family::default();
        registry.register(
            "vault_agent_injector_failed_injections_by_namespace",
            "Total count of failed injections by namespace",
            failures.clone(),
        );
        let requests = Family::default();
        registry.register(
            "ferrovault_webhook_requests",
            "Admission requests by outcome",
            requests.clone(),
        );
        let missed = Family::default();
        registry.register(
            "ferrovault_webhook_missed_injections",
            "Pods that ask for agent injection but carry no agent, by namespace (reported by the leader only)",
            missed.clone(),
        );
        let missed_scans = Counter::default();
        registry.register(
            "ferrovault_webhook_missed_injection_scans",
            "Complete scans of every pod by the missed-injection detector",
            missed_scans.clone(),
        );
        #[cfg(target_os = "linux")]
        process::register(&mut registry);
        Self {
            registry,
            in_flight,
            duration_ms,
            injections,
            failures,
            requests,
            missed,
            missed_scans,
            namespaces: Namespaces::new(max_namespaces),
        }
    }
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

impl Metrics {
    /// Counts a request as in flight until the guard drops.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(self)
    }

    /// Records how long one admission took.
    pub fn observe(&self, elapsed: Duration) {
        self.duration_ms.observe(elapsed.as_secs_f64() * 1000.0);
    }

    /// Counts a successful injection.
    pub fn injected(&self, namespace: &str, injection_type: &'static str) {
        self.injections
            .get_or_create(&InjectionLabels {
                injection_type,
                namespace: self.namespaces.label(namespace),
            })
            .inc();
    }

    /// Counts a failed (denied) injection.
    pub fn failed(&self, namespace: &str) {
        self.failures
            .get_or_create(&NamespaceLabels {
                namespace: self.namespaces.label(namespace),
            })
            .inc();
    }

    /// Counts a request by outcome (`injected`, `ignored`, `denied`, `bad_request`).
    pub fn request(&self, outcome: &'static str) {
        self.requests.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The handle the missed-injection detector updates.
    pub fn missed_injections(&self) -> MissedMetrics {
        MissedMetrics {
            missed: self.missed.clone(),
            scans: self.missed_scans.clone(),
            namespaces: self.namespaces.clone(),
        }
    }

    /// Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the process collector skips what it cannot read.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names_match_vault_k8s() {
        let m = Metrics::default();
        {
            let _g = m.start();
            m.observe(Duration::from_millis(7));
        }
        m.injected("apps", "init_and_sidecar");
        m.failed("apps");
        m.request("injected");
        let text = m.render();
        for line in [
            "# TYPE vault_agent_injector_request_queue_length gauge",
            "vault_agent_injector_request_queue_length 0",
            "# TYPE vault_agent_injector_request_processing_duration_ms histogram",
            // Go's formatting of the bounds, as vault-k8s serves them.
            "vault_agent_injector_request_processing_duration_ms_bucket{le=\"5\"} 0",
            "vault_agent_injector_request_processing_duration_ms_bucket{le=\"10\"} 1",
            "vault_agent_injector_request_processing_duration_ms_bucket{le=\"10000\"} 1",
            "vault_agent_injector_request_processing_duration_ms_bucket{le=\"+Inf\"} 1",
            "vault_agent_injector_request_processing_duration_ms_count 1",
            "# TYPE vault_agent_injector_injections_by_namespace_total counter",
            "vault_agent_injector_injections_by_namespace_total{injection_type=\"init_and_sidecar\",namespace=\"apps\"} 1",
            "vault_agent_injector_failed_injections_by_namespace_total{namespace=\"apps\"} 1",
            "ferrovault_webhook_requests_total{outcome=\"injected\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert_eq!(text.matches("_bucket{").count(), BUCKETS_MS.len() + 1);
        assert!(
            text.contains("# HELP vault_agent_injector_request_queue_length Count of in-flight requests.\n")
        );
        let sum = text
            .lines()
            .find_map(|l| l.strip_prefix("vault_agent_injector_request_processing_duration_ms_sum "))
            .unwrap();
        assert_eq!(sum.parse::<f64>().unwrap(), 7.0);
    }

    #[test]
    fn missed_injections_gauge_per_namespace() {
        let m = Metrics::default();
        let missed = m.missed_injections();
        missed.set(
            &[
                ("apps".to_owned(), 2),
                ("web".to_owned(), 0),
                ("Bad_NS".to_owned(), 1),
            ]
            .into(),
        );
        missed.scanned();
        let text = m.render();
        for line in [
            "# TYPE ferrovault_webhook_missed_injections gauge",
            "ferrovault_webhook_missed_injections{namespace=\"apps\"} 2",
            "ferrovault_webhook_missed_injections{namespace=\"web\"} 0",
            "ferrovault_webhook_missed_injections{namespace=\"invalid\"} 1",
            "ferrovault_webhook_missed_injection_scans_total 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        missed.clear();
        assert!(!m.render().contains("ferrovault_webhook_missed_injections{"));
    }

    #[test]
    fn namespaces_beyond_the_cap_are_counted_as_other() {
        let m = Metrics::new(2);
        for ns in ["a", "b", "c", "d", "a"] {
            m.injected(ns, "sidecar");
            m.failed(ns);
        }
        m.missed_injections()
            .set(&[("e".to_owned(), 3), ("b".to_owned(), 1)].into());
        let text = m.render();
        for line in [
            "vault_agent_injector_injections_by_namespace_total{injection_type=\"sidecar\",namespace=\"a\"} 2",
            "vault_agent_injector_injections_by_namespace_total{injection_type=\"sidecar\",namespace=\"other\"} 2",
            "vault_agent_injector_failed_injections_by_namespace_total{namespace=\"other\"} 2",
            "ferrovault_webhook_missed_injections{namespace=\"other\"} 3",
            "ferrovault_webhook_missed_injections{namespace=\"b\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(
            !text.contains("namespace=\"c\"") && !text.contains("namespace=\"e\""),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.failed("a\"b\\c\nd");
        let text = m.render();
        assert!(
            text.contains(
                r#"vault_agent_injector_failed_injections_by_namespace_total{namespace="a\"b\\c\nd"} 1"#
            ),
            "{text}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_series_are_exposed() {
        let text = Metrics::default().render();
        for series in [
            "# TYPE process_cpu_seconds_total counter",
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_virtual_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(series), "missing {series:?} in\n{text}");
        }
        let value = |name: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
            line[name.len() + 1..].parse().unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 0.0);
        assert!(value("process_open_fds") >= 1.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(started > 1.0e9 && started <= now + 1.0, "{started} vs {now}");
    }
}
