//! Leader election through a `coordination.k8s.io/v1` Lease, by `kube-lease-manager` (the maintained
//! election crate that supports kube 5; kubert's `lease` module still pins kube 1.x/2.x). It
//! acquires an orphaned or expired Lease with server-side apply (so two contenders cannot both win),
//! renews it `grace` before expiry, and tolerates `grace` of clock skew between nodes.

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::task::JoinHandle;

use super::*;

/// A running election: [`Election::leading`] says whether this replica holds the Lease.
pub(super) struct Election {
    leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

/// Lease duration and renewal lead in whole seconds, as the crate takes them: renewed
/// `renew_interval` after the last renewal, i.e. `duration - renew_interval` before expiry.
pub(super) fn lease_seconds(config: &AutoTlsConfig) -> (u64, u64) {
    let duration = config.lease_duration.as_secs().max(2);
    let grace = duration
        .saturating_sub(config.renew_interval.as_secs().max(1))
        .clamp(1, duration - 1);
    (duration, grace)
}

impl Election {
    /// Joins the election (creating the Lease if it does not exist yet).
    pub(super) async fn start(client: kube::Client, config: &AutoTlsConfig) -> Result<Self, Error> {
        let (duration, grace) = lease_seconds(config);
        let manager = LeaseManagerBuilder::new(client, &config.lease)
            .with_namespace(&config.namespace)
            .with_identity(&config.identity)
            .with_duration(duration)
            .with_grace(grace)
            .build()
            .await
            .map_err(|e| Error::Kube(format!("join the election on Lease {}: {e}", config.lease)))?;
        let (leading, task) = manager.watch().await;
        Ok(Election { leading, task })
    }

    /// Whether this replica leads now; `None` once the election task has ended (join again).
    pub(super) fn leading(&self) -> Option<bool> {
        if self.task.is_finished() {
            return None;
        }
        Some(*self.leading.borrow())
    }

    /// Resolves when leadership changes (or the election ends).
    pub(super) async fn changed(&mut self) {
        if self.leading.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Leaves the election, giving the Lease up if held, so another replica takes over at once.
    pub(super) async fn release(self) {
        let Election { leading, task } = self;
        drop(leading); // the watcher releases the Lease when its last receiver is gone
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("auto TLS: leader Lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "auto TLS: cannot release the leader Lease"),
            Ok(Err(_)) | Err(_) => tracing::warn!("auto TLS: the election did not stop in time"),
        }
    }
}
