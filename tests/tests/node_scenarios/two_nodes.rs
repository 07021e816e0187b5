//! Scenarios that need two nodes (issue #20 §3): the chart's default `required` anti-affinity puts
//! one webhook pod on each node, a `kubectl drain` of one node under steady pod creation admits
//! every pod with its agent while the PodDisruptionBudget keeps a replica serving, and the loss of
//! a node (its kubelet, containerd and containers killed) leaves the other replica serving, the
//! Lease moving to it and no pod without its agent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrovault_tests::node::Node;
use serde_json::{Value, json};

use super::helpers::*;
use super::{
    APP_NS, Env, INJECTOR, INJECTOR_NS, ensure_app_namespace, ensure_injector, is_native_sidecar, progress,
};

const WEBHOOKS: &str = "app.kubernetes.io/name=ferrovault";
/// How often the scenarios create a pod while something happens to the cluster.
const CREATE_EVERY: Duration = Duration::from_secs(1);
/// A bound on the pods one scenario creates, whatever happens.
const MAX_PODS: usize = 240;

fn node_of(pod: &Value) -> String {
    pod["spec"]["nodeName"].as_str().unwrap_or_default().to_owned()
}

fn ready_webhooks(env: &Env) -> Vec<Value> {
    let list = env
        .cluster
        .cp()
        .kubectl_json(&["get", "pods", "-n", INJECTOR_NS, "-l", WEBHOOKS])
        .unwrap_or(Value::Null);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["metadata"]["deletionTimestamp"].is_null()
                && p["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
        .cloned()
        .collect()
}

/// The pod the scenarios create: the seed's annotations (so the agent logs in and renders),
/// labelled `group=<group>`.
fn seed_pod(env: &Env, group: &str, name: &str) -> Value {
    let mut pod = sleeping_pod(
        env,
        name,
        json!({
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "internal-app",
            "vault.hashicorp.com/agent-inject-secret-database-config.txt": "secret/my-secret",
        }),
    );
    pod["metadata"]["labels"]["group"] = Value::from(group);
    pod
}

/// What creating pods at a steady rate saw.
#[derive(Default)]
struct Stream {
    created: Vec<String>,
    /// Admitted without the agent: never allowed.
    without_agent: Vec<String>,
    /// Refused by the API server (`failurePolicy: Fail` while a replica cannot be reached): the
    /// creator retries, as a controller would; counted and reported.
    refused: Vec<String>,
    /// The fewest Ready webhook pods seen between two creations.
    fewest_ready: usize,
}

/// Creates a seed pod every [`CREATE_EVERY`] in [`APP_NS`] until `done` (and at least `at_least`
/// pods); a refused create is retried under the same name, as a controller would.
fn create_steadily(env: &Env, group: &str, done: &AtomicBool, at_least: usize) -> Stream {
    let cp = env.cluster.cp();
    let mut stream = Stream {
        fewest_ready: usize::MAX,
        ..Stream::default()
    };
    let mut i = 0;
    while (!done.load(Ordering::SeqCst) || stream.created.len() < at_least) && i < MAX_PODS {
        let name = format!("{group}-{}", stream.created.len());
        let pod = seed_pod(env, group, &name);
        i += 1;
        match cp.kubectl_with_stdin(&["create", "-n", APP_NS, "-f", "-"], Some(&pod.to_string())) {
            Ok(_) => {
                let admitted = cp
                    .kubectl_json(&["get", "pod", &name, "-n", APP_NS])
                    .unwrap_or_else(|e| panic!("{e}"));
                if !is_native_sidecar(&admitted) {
                    stream.without_agent.push(name.clone());
                }
                stream.created.push(name);
            }
            Err(e) => stream.refused.push(format!(
                "{name}: {}",
                e.to_string().lines().last().unwrap_or_default()
            )),
        }
        stream.fewest_ready = stream.fewest_ready.min(ready_webhooks(env).len());
        std::thread::sleep(CREATE_EVERY);
    }
    stream
}

/// Every pod of `group` Running and Ready (the agent rendered: the native sidecar's startup probe
/// passed) with the connection string in its file; returns the pods.
fn all_running_with_the_secret(env: &Env, group: &str, count: usize) -> Vec<Value> {
    assert!(count > 0, "no pod of {group} left to check");
    let pods = wait_pods_ready(env, APP_NS, &format!("group={group}"), count);
    assert_some_read_the_secret(env, &pods);
    pods
}

/// Every seventh of `pods` (the first included) reads the seed's secret from its file.
fn assert_some_read_the_secret(env: &Env, pods: &[Value]) {
    for pod in pods.iter().step_by(7) {
        let text = exec(
            env,
            APP_NS,
            pod_name(pod),
            "app",
            &["cat", "/vault/secrets/database-config.txt"],
        );
        assert!(text.contains("s3cr3t"), "{}: {text}", pod_name(pod));
    }
}

fn delete_group(env: &Env, group: &str) {
    let _ = env.cluster.cp().kubectl(&[
        "delete",
        "pods",
        "-n",
        APP_NS,
        "-l",
        &format!("group={group}"),
        "--wait=false",
    ]);
}

/// `charts/ferrovault` with its default values on two nodes: the `required` anti-affinity puts one
/// webhook pod on each node, both Ready, and the PodDisruptionBudget allows one disruption.
pub fn one_webhook_pod_per_node(env: &Env) {
    assert_eq!(
        env.cluster.nodes().len(),
        2,
        "this scenario needs the two-node cluster"
    );
    ensure_injector(env);
    let pods = wait_pods_ready(env, INJECTOR_NS, WEBHOOKS, 2);
    let mut nodes: Vec<String> = pods.iter().map(node_of).collect();
    nodes.sort();
    let mut expected: Vec<String> = env.cluster.nodes().into_iter().map(Node::name).collect();
    expected.sort();
    assert_eq!(nodes, expected, "one webhook pod per node");
    let affinity = &pods[0]["spec"]["affinity"]["podAntiAffinity"];
    assert!(
        affinity["requiredDuringSchedulingIgnoredDuringExecution"].is_array(),
        "the chart's default anti-affinity is required: {affinity}"
    );
    let pdb = env
        .cluster
        .cp()
        .kubectl_json(&["get", "pdb", INJECTOR, "-n", INJECTOR_NS])
        .unwrap_or_else(|e| panic!("the chart's PodDisruptionBudget: {e}"));
    assert_eq!(pdb["spec"]["maxUnavailable"], 1, "{pdb}");
    let allowed = wait_until(env, "the PDB's status", || {
        let pdb = env
            .cluster
            .cp()
            .kubectl_json(&["get", "pdb", INJECTOR, "-n", INJECTOR_NS])
            .ok()?;
        (pdb["status"]["currentHealthy"] == 2).then(|| pdb["status"]["disruptionsAllowed"].clone())
    });
    assert_eq!(allowed, 1);
    progress(&format!(
        "one webhook pod Ready on each of {nodes:?}; the PDB allows 1 disruption"
    ));
}

/// `kubectl drain` of the node of one webhook replica while a pod is created every 0.5 s: the drain
/// goes through the eviction API (the PDB holds the second eviction until a replica is Ready
/// again), every pod is admitted with its agent and Runs with its secret, and a webhook pod stays
/// Ready throughout.
pub fn drain_a_node_while_pods_are_created(env: &Env) {
    ensure_app_namespace(env);
    let cp = env.cluster.cp();
    let webhooks = wait_pods_ready(env, INJECTOR_NS, WEBHOOKS, 2);
    let target = node_of(&webhooks[1]);
    progress(&format!(
        "drain: kubectl drain {target} while creating a pod every {CREATE_EVERY:?}"
    ));
    let done = AtomicBool::new(false);
    let (drained, stream) = std::thread::scope(|s| {
        let drain = s.spawn(|| {
            // let a few pods go in before the drain starts
            std::thread::sleep(Duration::from_secs(3));
            let out = cp.kubectl(&[
                "drain",
                &target,
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--force",
                "--timeout=240s",
            ]);
            // and a few after it ended
            std::thread::sleep(Duration::from_secs(3));
            done.store(true, Ordering::SeqCst);
            out
        });
        let stream = create_steadily(env, "drain", &done, 10);
        (drain.join().expect("the drain thread"), stream)
    });
    // the evicted replica cannot schedule beside the other (required anti-affinity) until the node
    // is back: seen before the uncordon, asserted after it (a failed assertion must not leave the
    // node cordoned for the scenarios after this one)
    let phases: Vec<String> = cp
        .kubectl_json(&["get", "pods", "-n", INJECTOR_NS, "-l", WEBHOOKS])
        .ok()
        .and_then(|list| list["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p["status"]["phase"].as_str().map(str::to_owned))
        .collect();
    cp.kubectl(&["uncordon", &target])
        .unwrap_or_else(|e| panic!("{e}"));
    let drained = drained.unwrap_or_else(|e| panic!("kubectl drain {target}: {e}\n{}", diagnostics(env)));
    assert!(drained.contains("drained"), "{drained}");
    assert!(
        phases.iter().any(|p| p == "Pending"),
        "the evicted replica waits for a node of its own: {phases:?}"
    );
    // pods created before the cordon may have landed on the node: the drain evicted (deleted) them
    let evicted: Vec<&String> = stream
        .created
        .iter()
        .filter(|name| drained.contains(&format!("pod/{name} evicted")))
        .collect();
    assert!(
        stream.without_agent.is_empty(),
        "admitted without the agent: {:?}",
        stream.without_agent
    );
    assert!(
        stream.refused.is_empty(),
        "refused during the drain: {:?}",
        stream.refused
    );
    assert!(
        stream.fewest_ready >= 1,
        "no webhook pod was Ready at one point of the drain"
    );
    let pods = all_running_with_the_secret(env, "drain", stream.created.len() - evicted.len());
    assert!(
        pods.iter().all(|p| node_of(p) != target),
        "a pod was scheduled on the cordoned node"
    );
    progress(&format!(
        "drain: {} pods admitted with the agent while {target} drained, {} of them evicted by the drain, the rest \
         Running with their secret (at least {} webhook pod Ready throughout)",
        stream.created.len(),
        evicted.len(),
        stream.fewest_ready
    ));
    let webhooks = wait_pods_ready(env, INJECTOR_NS, WEBHOOKS, 2);
    assert_ne!(node_of(&webhooks[0]), node_of(&webhooks[1]));
    progress(&format!(
        "drain: {target} uncordoned; the second replica runs on it again"
    ));
    delete_group(env, "drain");
}

/// Which pod holds the injector's Lease (auto TLS and the detector's leader).
fn lease_holder(env: &Env) -> Option<String> {
    let lease = env
        .cluster
        .cp()
        .kubectl_json(&["get", "lease", &format!("{INJECTOR}-leader"), "-n", INJECTOR_NS])
        .ok()?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

/// The node running the leader is lost (kubelet, containerd and every container killed): the
/// other replica keeps admitting (refusals only while the API server still routes to the lost
/// replica, before the node-lifecycle controller marks it NotReady — `failurePolicy: Fail`, so the
/// creator retries), the Lease moves to the surviving pod, no pod is admitted without its agent and
/// the missed-injection detector, on the new leader, reports none.
pub fn a_lost_node_leaves_the_other_replica_serving(env: &Env) {
    ensure_app_namespace(env);
    let cp = env.cluster.cp();
    upgrade_injector(env, &["missedInjections.enabled=true"]);
    let (leader, webhooks) = wait_until(env, "a Lease holder among two Ready webhook pods", || {
        let webhooks = ready_webhooks(env);
        let holder = lease_holder(env)?;
        (webhooks.len() == 2 && webhooks.iter().any(|p| pod_name(p) == holder)).then_some((holder, webhooks))
    });
    let leader_pod = webhooks
        .iter()
        .find(|p| pod_name(p) == leader)
        .expect("the leader");
    let lost = node_of(leader_pod);
    let survivor = webhooks
        .iter()
        .find(|p| pod_name(p) != leader)
        .map(|p| pod_name(p).to_owned())
        .expect("two replicas");
    let node = env
        .cluster
        .nodes()
        .into_iter()
        .find(|n| n.name() == lost)
        .expect("the leader's node is ours");
    progress(&format!(
        "node lost: killing {lost} (the leader {leader} runs there)"
    ));
    env.cluster
        .kill_node(node)
        .unwrap_or_else(|e| panic!("kill {lost}: {e}"));
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let stream = std::thread::scope(|s| {
        s.spawn(|| {
            // until the node is NotReady and the lost replica is out of the Service's endpoints,
            // then a while longer
            wait_until(env, "the lost node NotReady", || {
                let n = cp.kubectl_json(&["get", "node", &lost]).ok()?;
                n["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] != "True")
                    .then_some(())
            });
            std::thread::sleep(Duration::from_secs(20));
            done.store(true, Ordering::SeqCst);
        });
        create_steadily(env, "lost", &done, 10)
    });
    progress(&format!(
        "node lost: {} pods created in {:.0?}, {} refused while the lost replica was still routed to",
        stream.created.len(),
        started.elapsed(),
        stream.refused.len()
    ));
    assert!(
        stream.without_agent.is_empty(),
        "admitted without the agent: {:?}",
        stream.without_agent
    );
    assert!(!stream.created.is_empty());
    let moved = wait_until(env, "the Lease moved to the surviving replica", || {
        lease_holder(env).filter(|h| *h == survivor)
    });
    progress(&format!("node lost: the Lease is held by {moved} now"));
    // the pods on the surviving node run with their secret; a pod the scheduler bound to the lost
    // node before it was marked NotReady is a bare pod on a dead kubelet (a controller would make
    // another): admitted with its agent all the same, counted, not waited for
    let (survivors, stranded) = wait_until(env, "the pods off the lost node Ready", || {
        let list = cp
            .kubectl_json(&["get", "pods", "-n", APP_NS, "-l", "group=lost"])
            .ok()?;
        let items = list["items"].as_array()?.clone();
        let (stranded, survivors): (Vec<Value>, Vec<Value>) =
            items.into_iter().partition(|p| node_of(p) == lost);
        (survivors.len() + stranded.len() == stream.created.len() && survivors.iter().all(is_ready))
            .then_some((survivors, stranded))
    });
    assert!(!survivors.is_empty(), "no pod ran on the surviving node");
    assert_some_read_the_secret(env, &survivors);
    progress(&format!(
        "node lost: {} pods Running with their secret on the surviving node, {} bound to the lost node before it \
         was marked NotReady",
        survivors.len(),
        stranded.len()
    ));
    // the new leader's detector scans every pod and finds none without its agent
    let detector = wait_until(env, "the surviving replica's detector scanned", || {
        let logs = cp.kubectl(&["logs", &survivor, "-n", INJECTOR_NS]).ok()?;
        logs.contains("missed-injection").then_some(logs)
    });
    assert!(!detector.contains("VaultInjectionMissed"), "{detector}");
    // (the missed-injection scenario's own pod may have left its Event in this namespace)
    let events = cp
        .kubectl_json(&[
            "get",
            "events",
            "-n",
            APP_NS,
            "--field-selector",
            "reason=VaultInjectionMissed",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let ours: Vec<&str> = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["involvedObject"]["name"].as_str())
        .filter(|name| name.starts_with("lost-"))
        .collect();
    assert!(ours.is_empty(), "missed injections reported for {ours:?}");
    progress("node lost: no pod without its agent; the detector on the new leader reports none");
    delete_group(env, "lost");
}
