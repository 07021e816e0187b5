//! Leader election through a `coordination.k8s.io/v1` Lease, by `kube-lease-manager` (the maintained
//! election crate that supports kube 5; kubert's `lease` module still pins kube 1.x/2.x). It
//! acquires an orphaned or expired Lease with server-side apply (so two contenders cannot both win),
//! renews it `grace` before expiry, and tolerates `grace` of clock skew between nodes.
//!
//! Auto TLS runs one [`Election`] in its own loop; the missed-injection detector follows that
//! leadership, or, without auto TLS, [`spawn`]s the same election on the same Lease on its own.

use std::time::Duration;

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::Error;

/// Which Lease, as whom, and how fast.
#[derive(Debug, Clone)]
pub struct LeaseSpec {
    /// Name of the Lease.
    pub lease: String,
    /// Its namespace (the webhook's).
    pub namespace: String,
    /// This replica's identity in the Lease (the pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal before another replica may take it.
    pub lease_duration: Duration,
    /// How often the Lease is renewed (and followers look at it).
    pub renew_interval: Duration,
}

/// A running election: [`Election::leading`] says whether this replica holds the Lease.
pub(crate) struct Election {
    leading: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

/// Lease duration and renewal lead in whole seconds, as the crate takes them: renewed
/// `renew_interval` after the last renewal, i.e. `duration - renew_interval` before expiry.
pub(crate) fn lease_seconds(spec: &LeaseSpec) -> (u64, u64) {
    let duration = spec.lease_duration.as_secs().max(2);
    let grace = duration
        .saturating_sub(spec.renew_interval.as_secs().max(1))
        .clamp(1, duration - 1);
    (duration, grace)
}

impl Election {
    /// Joins the election (creating the Lease if it does not exist yet).
    pub(crate) async fn start(client: kube::Client, spec: &LeaseSpec) -> Result<Self, Error> {
        let (duration, grace) = lease_seconds(spec);
        let manager = LeaseManagerBuilder::new(client, &spec.lease)
            .with_namespace(&spec.namespace)
            .with_identity(&spec.identity)
            .with_duration(duration)
            .with_grace(grace)
            .build()
            .await
            .map_err(|e| Error::Kube(format!("join the election on Lease {}: {e}", spec.lease)))?;
        let (leading, task) = manager.watch().await;
        Ok(Election { leading, task })
    }

    /// Whether this replica leads now; `None` once the election task has ended (join again).
    pub(crate) fn leading(&self) -> Option<bool> {
        if self.task.is_finished() {
            return None;
        }
        Some(*self.leading.borrow())
    }

    /// Resolves when leadership changes (or the election ends).
    pub(crate) async fn changed(&mut self) {
        if self.leading.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Leaves the election, giving the Lease up if held, so another replica takes over at once.
    pub(crate) async fn release(self) {
        let Election { leading, task } = self;
        drop(leading); // the watcher releases the Lease when its last receiver is gone
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("leader Lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "cannot release the leader Lease"),
            Ok(Err(_)) | Err(_) => tracing::warn!("the election did not stop in time"),
        }
    }
}

/// A standalone election (when auto TLS, which runs its own, is off): leadership on a watch
/// channel, rejoined after failures; [`Leadership::shutdown`] releases the Lease.
#[derive(Debug)]
pub struct Leadership {
    leader: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Leadership changes (`true` while this replica holds the Lease).
    pub fn leadership(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }

    /// Leaves the election, releasing the Lease if held.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(6), task).await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Joins the election on `spec`'s Lease and keeps taking part until [`Leadership::shutdown`].
pub fn spawn(client: kube::Client, spec: LeaseSpec) -> Leadership {
    let (tx, leader) = watch::channel(false);
    let (stop, mut stop_rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut election: Option<Election> = None;
        loop {
            if election.as_ref().and_then(Election::leading).is_none() {
                election = match Election::start(client.clone(), &spec).await {
                    Ok(e) => Some(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "election failed; retrying");
                        None
                    }
                };
            }
            let leading = election.as_ref().and_then(Election::leading).unwrap_or(false);
            if tx.send_replace(leading) != leading {
                tracing::info!(lease = %spec.lease, identity = %spec.identity, leading, "leadership changed");
            }
            let changed = async {
                match election.as_mut() {
                    Some(e) => e.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(spec.renew_interval) => {}
                _ = changed => {}
                _ = &mut stop_rx => {
                    if let Some(election) = election.take() {
                        election.release().await;
                    }
                    tx.send_replace(false);
                    return;
                }
            }
        }
    });
    Leadership {
        leader,
        stop: Some(stop),
        task: Some(task),
    }
}
