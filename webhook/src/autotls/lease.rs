//! Leader election through a `coordination.k8s.io/v1` Lease.

use super::*;

/// Lease-based leader election (the client-go algorithm, simplified): a Lease whose record has not
/// changed for its duration, as observed on *this* replica's monotonic clock (no clock-skew
/// assumptions), may be taken; writes carry the resourceVersion, so only one contender wins.
pub(super) struct Elector {
    pub(super) api: Api<Lease>,
    pub(super) name: String,
    pub(super) identity: String,
    pub(super) duration: Duration,
    pub(super) observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
    pub(super) renewed_at: Option<Instant>,
}

impl Elector {
    pub(super) fn new(api: Api<Lease>, config: &AutoTlsConfig) -> Self {
        Elector {
            api,
            name: config.lease.clone(),
            identity: config.identity.clone(),
            duration: config.lease_duration,
            observed: None,
            renewed_at: None,
        }
    }

    /// Still the leader after a failed renewal? Only until two thirds of the lease have passed.
    pub(super) fn still_leading(&self) -> bool {
        self.renewed_at
            .is_some_and(|t| t.elapsed() < self.duration * 2 / 3)
    }

    pub(super) fn spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let ours = previous.is_some_and(|p| p.holder_identity.as_deref() == Some(&self.identity));
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs().max(1).try_into().unwrap_or(i32::MAX)),
            acquire_time: if ours {
                previous.and_then(|p| p.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    }

    /// One round: acquire, renew or observe. Returns whether this replica leads.
    pub(super) async fn tick(&mut self) -> bool {
        let lease = match self.api.get_opt(&self.name).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(error = %describe(&e), "auto TLS: cannot read the leader Lease");
                return self.still_leading();
            }
        };
        let Some(mut lease) = lease else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => {
                    self.renewed_at = Some(Instant::now());
                    true
                }
                Err(e) if is_conflict(&e) => false,
                Err(e) => {
                    tracing::warn!(error = %describe(&e), "auto TLS: cannot create the leader Lease");
                    false
                }
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let record = (holder.clone(), spec.renew_time.clone());
        match &self.observed {
            Some((h, r, _)) if (h, r) == (&record.0, &record.1) => {}
            _ => self.observed = Some((record.0, record.1, Instant::now())),
        }
        let ours = holder.as_deref() == Some(self.identity.as_str());
        let their_duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.duration, Duration::from_secs);
        let expired = holder.is_none()
            || self
                .observed
                .as_ref()
                .is_some_and(|(_, _, at)| at.elapsed() >= their_duration);
        if !ours && !expired {
            self.renewed_at = None;
            return false;
        }
        if !ours {
            tracing::info!(
                previous = holder.as_deref().unwrap_or(""),
                "auto TLS: the leader Lease expired; taking it"
            );
        }
        lease.spec = Some(self.spec(Some(&spec)));
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => {
                self.renewed_at = Some(Instant::now());
                true
            }
            Err(e) if is_conflict(&e) => {
                self.renewed_at = None;
                false
            }
            Err(e) => {
                tracing::warn!(error = %describe(&e), "auto TLS: cannot renew the leader Lease");
                self.still_leading()
            }
        }
    }

    /// Gives the Lease up (clears the holder) if this replica holds it.
    pub(super) async fn release(&mut self) {
        if self.renewed_at.is_none() {
            return;
        }
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = %self.name, "auto TLS: leader Lease released"),
            Err(e) => tracing::warn!(error = %describe(&e), "auto TLS: cannot release the leader Lease"),
        }
        self.renewed_at = None;
    }
}
