//! The missed-injection detector of `serve --missed-injections`: while this replica leads, it
//! watches every pod (listed in pages, relisted at each resync) and reports each missed one once —
//! a Warning Event on the pod, a log line — and keeps `ferrovault_webhook_missed_injections` per
//! namespace in step as pods come and go. A follower reports nothing and exports no series, so the
//! metric summed over replicas is the count.

use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use tokio::sync::watch;

use super::tracker::Tracker;
use super::{EVENT_REASON, Missed, Scope, missed};
use crate::metrics::MissedMetrics;

/// Settings of the detector.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// The MutatingWebhookConfiguration whose selectors say which pods the injector is meant to see
    /// (`None`: every pod).
    pub webhook_config: Option<String>,
    /// How often every pod is listed again (and the webhook configuration re-read).
    pub resync: Duration,
    /// `reportingInstance` of the Events (this replica's pod name).
    pub identity: String,
}

/// Page size of the lists: bounds the memory a list takes.
const PAGE_SIZE: u32 = 100;
/// `reportingController` of the Events.
const CONTROLLER: &str = "ferrovault-webhook";

/// Runs the detector until the task is aborted: scans while `leader` is true.
pub fn spawn(
    client: kube::Client,
    config: DetectorConfig,
    mut leader: watch::Receiver<bool>,
    metrics: MissedMetrics,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: CONTROLLER.into(),
                instance: Some(config.identity.clone()),
            },
        );
        let mut tracker = Tracker::default();
        let mut watching = false;
        loop {
            if !*leader.borrow_and_update() {
                if leader.changed().await.is_err() {
                    return;
                }
                continue;
            }
            if !watching {
                tracing::info!(resync = ?config.resync, "missed-injection detector: leading, watching pods");
                watching = true;
            }
            let lost = async {
                while *leader.borrow_and_update() {
                    if leader.changed().await.is_err() {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = lost => {
                    tracing::info!("missed-injection detector: no longer leading");
                    tracker.clear();
                    metrics.clear();
                    watching = false;
                }
                () = watch_pods(&client, &config, &recorder, &mut tracker, &metrics) => {}
            }
        }
    })
}

/// Reads the scope; on failure every pod is in scope (reporting one pod too many beats hiding one).
async fn scope(client: &kube::Client, config: &DetectorConfig) -> Scope {
    let Some(name) = &config.webhook_config else {
        return Scope::everything();
    };
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    match api.get_opt(name).await {
        Ok(Some(mwc)) => Scope::from_config(&mwc),
        Ok(None) => {
            tracing::warn!(webhook_config = %name, "missed-injection detector: no such MutatingWebhookConfiguration; judging every pod");
            Scope::everything()
        }
        Err(e) => {
            tracing::warn!(webhook_config = %name, error = %crate::autotls::describe_error(&e), "missed-injection detector: cannot read the MutatingWebhookConfiguration; judging every pod");
            Scope::everything()
        }
    }
}

/// One resync period: re-reads the scope, lists every pod, then follows the watch.
async fn watch_pods(
    client: &kube::Client,
    config: &DetectorConfig,
    recorder: &Recorder,
    tracker: &mut Tracker,
    metrics: &MissedMetrics,
) {
    let scope = scope(client, config).await;
    let pods: Api<Pod> = Api::all(client.clone());
    let stream = watcher(pods, watcher::Config::default().page_size(PAGE_SIZE)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let deadline = tokio::time::sleep(config.resync);
    let mut deadline = std::pin::pin!(deadline);
    // a list that takes longer than the resync period still completes before the next one starts
    let mut listed = false;
    loop {
        let event = tokio::select! {
            _ = &mut deadline, if listed => return,
            event = stream.next() => event,
        };
        let fresh = match event {
            None => return,
            Some(Err(e)) => {
                tracing::warn!(error = %describe_watch(&e), "missed-injection detector: watching pods failed; retrying");
                continue;
            }
            Some(Ok(watcher::Event::Init)) => {
                tracker.init();
                continue;
            }
            Some(Ok(watcher::Event::InitApply(pod))) => {
                tracker.init_apply(&uid(&pod), missed(&pod, &scope));
                continue;
            }
            Some(Ok(watcher::Event::InitDone)) => {
                listed = true;
                metrics.scanned();
                tracker.init_done()
            }
            Some(Ok(watcher::Event::Apply(pod))) => tracker
                .apply(&uid(&pod), missed(&pod, &scope))
                .into_iter()
                .collect(),
            Some(Ok(watcher::Event::Delete(pod))) => {
                tracker.delete(&uid(&pod));
                Vec::new()
            }
        };
        metrics.set(&tracker.counts());
        for m in fresh {
            if !report(client, recorder, &m).await {
                tracker.unreport(&m.uid);
            }
        }
    }
}

/// A watch error without decoded bodies (a pod that fails to decode could be quoted).
fn describe_watch(e: &watcher::Error) -> String {
    use crate::autotls::describe_error;
    match e {
        watcher::Error::InitialListFailed(e) => format!("list pods: {}", describe_error(e)),
        watcher::Error::WatchStartFailed(e) => format!("start the watch: {}", describe_error(e)),
        watcher::Error::WatchFailed(e) => format!("watch: {}", describe_error(e)),
        watcher::Error::WatchError(status) => format!(
            "watch: HTTP {} {}: {}",
            status.code, status.reason, status.message
        ),
        other => other.to_string(),
    }
}

fn uid(pod: &Pod) -> String {
    pod.uid()
        .unwrap_or_else(|| format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any()))
}

/// Whether an earlier leader (or this process before a restart) already put the Event on the pod:
/// events.k8s.io Events of the pod's uid with our reason. Unknown (no `list` permission, an API
/// error) counts as not reported.
async fn already_reported(client: &kube::Client, m: &Missed) -> bool {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &m.namespace);
    let params = ListParams::default()
        .fields(&format!("regarding.uid={},reason={EVENT_REASON}", m.uid))
        .limit(1);
    match events.list_metadata(&params).await {
        Ok(list) => !list.items.is_empty(),
        Err(e) => {
            tracing::debug!(namespace = %m.namespace, pod = %m.name, error = %crate::autotls::describe_error(&e), "missed-injection detector: cannot look for an earlier Event");
            false
        }
    }
}

/// The log line and the Event of one missed pod; false when the Event could not be written. A pod
/// an earlier leader reported (its Event is still there) is counted but not reported again.
async fn report(client: &kube::Client, recorder: &Recorder, m: &Missed) -> bool {
    if already_reported(client, m).await {
        tracing::debug!(namespace = %m.namespace, pod = %m.name, "missed injection already reported");
        return true;
    }
    tracing::warn!(
        namespace = %m.namespace,
        pod = %m.name,
        owner = %m.owner,
        cause = %m.reason.short(),
        "missed injection: the pod asks for a Vault agent but has none"
    );
    let mut pod = Pod::default();
    pod.metadata.name = Some(m.name.clone());
    pod.metadata.namespace = Some(m.namespace.clone());
    pod.metadata.uid = Some(m.uid.clone());
    let event = Event {
        type_: EventType::Warning,
        reason: EVENT_REASON.into(),
        note: Some(m.event_note()),
        action: "Audit".into(),
        secondary: None,
    };
    match recorder.publish(&event, &pod.object_ref(&())).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(namespace = %m.namespace, pod = %m.name, error = %crate::autotls::describe_error(&e), "missed-injection detector: cannot write the Event; will retry at the next resync");
            false
        }
    }
}
