//! When each fetched value is looked at again, and lease renewal: the kinds of lifetime a Vault
//! answer carries ([`Lifetime`]), the schedule they give ([`Entry::new`]), and the renewal step
//! ([`renew`]) — the rules of consul-template/Vault Agent (`../shared/reference/agent.md` §3).

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::vault::TokenClient;

/// How a fetched value ages.
#[derive(Debug, Clone, PartialEq)]
pub enum Lifetime {
    /// No lease: re-read every `static_secret_render_interval` (jittered unless `exact`).
    Static {
        /// LIST results use the interval without jitter.
        exact: bool,
    },
    /// A renewable lease: renew at ~2/3, fetch anew when renewal stops working.
    Renewable {
        /// The lease to renew.
        lease_id: String,
        /// Its duration.
        duration: Duration,
    },
    /// A lease that cannot be renewed: fetch again at the renewal threshold.
    Lease(Duration),
    /// Valid until this many seconds from now (certificates): fetch again at 85–95 % of it.
    Expires(Duration),
    /// Fetch again after this long exactly (DB static roles: `ttl` + 1 s).
    After(Duration),
}

/// The settings the schedule depends on.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Re-read period of values without a lease.
    pub static_interval: Duration,
    /// Fraction of a non-renewable lease after which the value is fetched again.
    pub renewal_threshold: f64,
}

/// A cached value and when it is due.
#[derive(Debug)]
pub struct Entry {
    /// What the templates see.
    pub value: Value,
    /// How it ages.
    pub lifetime: Lifetime,
    /// When to renew or fetch it again.
    pub due: Instant,
    /// Renew the lease at `due` (rather than fetch anew).
    pub renew: bool,
    /// What the last renewal granted (the lease expires that long after it), for the metrics.
    pub renewed_for: Option<Duration>,
}

impl Entry {
    /// Schedules a value just fetched.
    pub fn new(value: Value, lifetime: Lifetime, policy: &Policy) -> Self {
        let t = policy.renewal_threshold;
        let (wait, renew) = match &lifetime {
            Lifetime::Static { exact: true } => (policy.static_interval, false),
            Lifetime::Static { exact: false } => {
                (crate::jitter::scale(policy.static_interval, 0.85, 0.95), false)
            }
            Lifetime::Renewable { duration, .. } => (crate::jitter::scale(*duration, 0.6, 0.7), true),
            Lifetime::Lease(d) => (
                crate::jitter::scale(*d, (t - 0.05).max(0.01), (t + 0.05).min(1.0)),
                false,
            ),
            Lifetime::Expires(d) => (crate::jitter::scale(*d, 0.85, 0.95), false),
            Lifetime::After(d) => (*d, false),
        };
        Entry {
            value,
            lifetime,
            due: Instant::now() + wait.max(Duration::from_millis(100)),
            renew,
            renewed_for: None,
        }
    }
}

/// What a due entry needs after [`renew`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The lease was renewed (or will be fetched anew near its max TTL): rescheduled, nothing to fetch.
    Rescheduled,
    /// Fetch the value anew now.
    Refetch,
}

/// Renews `entry`'s lease if it has a renewable one; reschedules it on success. A renewal that
/// returns less than half the original duration means the lease nears its max TTL: the value is
/// fetched anew at the renewal threshold of what is left instead.
pub async fn renew(entry: &mut Entry, client: &TokenClient, policy: &Policy, what: &str) -> Renewal {
    let Lifetime::Renewable { lease_id, duration } = &entry.lifetime else {
        return Renewal::Refetch;
    };
    if !entry.renew {
        return Renewal::Refetch;
    }
    let renewed = client.renew_lease(lease_id).await;
    if let Ok(new) = &renewed {
        entry.renewed_for = Some(*new);
    }
    match renewed {
        Ok(new) if new * 2 >= *duration => {
            entry.due = Instant::now() + crate::jitter::scale(new, 0.6, 0.7);
            tracing::debug!(dependency = %what, "lease renewed");
            Renewal::Rescheduled
        }
        Ok(new) => {
            entry.renew = false;
            entry.due = Instant::now() + new.mul_f64(policy.renewal_threshold);
            Renewal::Rescheduled
        }
        Err(err) => {
            tracing::warn!(dependency = %what, error = %err, "lease renewal failed; fetching anew");
            Renewal::Refetch
        }
    }
}
