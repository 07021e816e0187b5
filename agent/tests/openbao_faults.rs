//! Fault injection against a real OpenBao on raft storage (not dev mode, so data and tokens survive
//! restarts), issue #8: the sidecar runs through a kill and restart, a seal and unseal, a stalled
//! network path and a revoked token, with rapid changes in between, while a reader keeps reading
//! the rendered file. Asserted: no read ever sees an empty or partial file, the sidecar never exits,
//! and after each fault it catches up within twice its longest configured wait.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ferrovault_tests::proxy::StallProxy;
use support::{Env, assert_no_secrets, template, wait_for_contents};

/// The agent's waits in this test: `--retry-cap` (support::Env::command), the request timeout and
/// the static render interval. Recovery must come within twice their sum.
const RETRY_CAP: Duration = Duration::from_millis(200);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
const RENDER_INTERVAL: Duration = Duration::from_secs(1);

fn recovery_bound() -> Duration {
    (RETRY_CAP + REQUEST_TIMEOUT + RENDER_INTERVAL) * 2
}

#[test]
fn sidecar_rides_out_kills_seals_stalls_and_revocations() {
    let mut env = Env::raft();
    env.bao.kv_put("secret/app", &[("v", "value-0")]).unwrap();
    let proxy = StallProxy::start(env.bao.port()).unwrap();
    let method = env.approle(&[]);
    let mut cfg = env.config(
        method,
        vec![template(
            "app",
            "{{ with secret \"secret/app\" }}{{ .Data.data.v }}{{ end }}",
        )],
    );
    cfg.vault.address = proxy.url();
    cfg.vault.client_timeout = Some("1s".parse().unwrap());
    cfg.template_config.static_secret_render_interval = Some("1s".parse().unwrap());
    cfg.template_config.exit_on_retry_failure = false;
    let mut agent = env.spawn(&cfg, "sidecar");
    let file = env.secret_file("app");
    wait_for_contents(&file, "value-0", &agent);

    let stop = Arc::new(AtomicBool::new(false));
    let (reads, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reader = std::thread::spawn({
        let (file, stop, reads, bad) = (file.clone(), stop.clone(), reads.clone(), bad.clone());
        move || {
            while !stop.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                let whole = text
                    .strip_prefix("value-")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                reads.fetch_add(1, Ordering::Relaxed);
                if !whole {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let mut version = 0;
    let mut change_and_catch_up = |env: &Env, fault: &str| {
        version += 1;
        let value = format!("value-{version}");
        let since = Instant::now();
        env.bao.kv_put("secret/app", &[("v", &value)]).unwrap();
        wait_for_contents(&file, &value, &agent);
        let took = since.elapsed();
        assert!(
            took <= recovery_bound(),
            "after {fault} the file took {took:?} to catch up (bound {:?}); log:\n{}",
            recovery_bound(),
            agent.log()
        );
    };

    // Rapid changes: the file follows to the last one.
    for _ in 0..20 {
        change_and_catch_up(&env, "a rapid change");
    }
    // Kill and restart: raft keeps the secret and the agent's token.
    env.bao.stop();
    std::thread::sleep(Duration::from_secs(3));
    env.bao.restart().unwrap();
    change_and_catch_up(&env, "a restart");
    // Sealed: every request fails with 503 until unsealed.
    env.bao.seal().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    env.bao.unseal().unwrap();
    change_and_catch_up(&env, "an unseal");
    // A stalled path: requests hang until the request timeout.
    proxy.stall(true);
    std::thread::sleep(Duration::from_secs(3));
    proxy.stall(false);
    change_and_catch_up(&env, "a stall");
    // A revoked token: the next 403 brings a new login at once.
    let token = std::fs::read_to_string(env.home().join(".vault-token")).unwrap();
    env.bao.bao(&["token", "revoke", &token]).unwrap();
    change_and_catch_up(&env, "a token revocation");

    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let log = agent.log();
    assert!(agent.exited().is_none(), "the sidecar exited:\n{log}");
    assert_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "a reader saw an empty or partial file"
    );
    assert!(reads.load(Ordering::Relaxed) > 100, "the reader barely ran");
    assert!(log.contains("permission denied; logging in again"), "{log}");
    assert_no_secrets(&log, &["value-1", &token, &env.creds.clone().unwrap().secret_id]);
}
