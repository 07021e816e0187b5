//! Prometheus metrics, with vault-k8s' `vault_agent_injector_*` series so existing dashboards keep
//! working. Labels carry namespaces and injection types only — never pod names or values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Buckets of `vault_agent_injector_request_processing_duration_ms`, as vault-k8s.
const BUCKETS_MS: [f64; 13] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
];

/// All metrics of the webhook.
#[derive(Debug, Default)]
pub struct Metrics {
    in_flight: AtomicI64,
    duration_buckets: [AtomicU64; BUCKETS_MS.len()],
    duration_count: AtomicU64,
    duration_sum_us: AtomicU64,
    injections: Mutex<BTreeMap<(String, &'static str), u64>>,
    failures: Mutex<BTreeMap<String, u64>>,
    requests: Mutex<BTreeMap<&'static str, u64>>,
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts a request as in flight until the guard drops.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records how long one admission took.
    pub fn observe(&self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        for (i, bound) in BUCKETS_MS.iter().enumerate() {
            if ms <= *bound {
                self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts a successful injection.
    pub fn injected(&self, namespace: &str, injection_type: &'static str) {
        *lock(&self.injections)
            .entry((namespace.to_owned(), injection_type))
            .or_default() += 1;
    }

    /// Counts a failed (denied) injection.
    pub fn failed(&self, namespace: &str) {
        *lock(&self.failures).entry(namespace.to_owned()).or_default() += 1;
    }

    /// Counts a request by outcome (`injected`, `ignored`, `denied`, `bad_request`).
    pub fn request(&self, outcome: &'static str) {
        *lock(&self.requests).entry(outcome).or_default() += 1;
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP vault_agent_injector_request_queue_length Count of in-flight requests."
        );
        let _ = writeln!(out, "# TYPE vault_agent_injector_request_queue_length gauge");
        let _ = writeln!(
            out,
            "vault_agent_injector_request_queue_length {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let name = "vault_agent_injector_request_processing_duration_ms";
        let _ = writeln!(
            out,
            "# HELP {name} Histogram of the request processing duration in milliseconds."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (i, bound) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                self.duration_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(out, "{name}_count {count}");
        let name = "vault_agent_injector_injections_by_namespace_total";
        let _ = writeln!(out, "# HELP {name} Total count of injections by namespace.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for ((ns, kind), n) in lock(&self.injections).iter() {
            let _ = writeln!(
                out,
                "{name}{{injection_type=\"{kind}\",namespace=\"{}\"}} {n}",
                escape(ns)
            );
        }
        let name = "vault_agent_injector_failed_injections_by_namespace_total";
        let _ = writeln!(
            out,
            "# HELP {name} Total count of failed injections by namespace."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for (ns, n) in lock(&self.failures).iter() {
            let _ = writeln!(out, "{name}{{namespace=\"{}\"}} {n}", escape(ns));
        }
        let name = "ferrovault_webhook_requests_total";
        let _ = writeln!(out, "# HELP {name} Admission requests by outcome.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (outcome, n) in lock(&self.requests).iter() {
            let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {n}");
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
        let text = m.render();
        for line in [
            "vault_agent_injector_request_queue_length 0",
            "vault_agent_injector_request_processing_duration_ms_bucket{le=\"5\"} 0",
            "vault_agent_injector_request_processing_duration_ms_bucket{le=\"10\"} 1",
            "vault_agent_injector_request_processing_duration_ms_count 1",
            "vault_agent_injector_injections_by_namespace_total{injection_type=\"init_and_sidecar\",namespace=\"apps\"} 1",
            "vault_agent_injector_failed_injections_by_namespace_total{namespace=\"apps\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
