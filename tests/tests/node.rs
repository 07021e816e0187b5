//! Scenarios on a real node: the control plane, containerd, the kubelet and kube-scheduler
//! ([`NodeCluster`]), OpenBao on the node IP with the kubernetes auth method pointed at this API
//! server, and ferrovault's own images (`make images`) installed with helm. Pods really run: the
//! webhook serves admissions from its pods through its Service, the agent logs in and renders.
//!
//! One cluster is shared by every scenario and torn down when the run ends (also after failures),
//! so this test has its own `main` (`harness = false`). Polling is generous and nothing asserts on
//! timing. `cargo test --features with-node --test node -- NAME` runs the scenarios whose name contains NAME;
//! `-- --demo` tells the story of `make demo-cluster` with progress lines.
//!
//! Needs root, `scripts/node.sh install`, `scripts/images.sh all`, the kubelet and kube-scheduler
//! (`scripts/control-plane.sh build`), and `bao` + `helm` (`scripts/install-tools.sh`); the
//! Makefile does all of that first.

mod node_scenarios;

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::time::Instant;

use node_scenarios::{Env, SCENARIOS, progress};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let demo = args.iter().any(|a| a == "--demo");
    if args.iter().any(|a| a == "--list") {
        for (name, _) in SCENARIOS {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    // libtest flags (--nocapture, --test-threads=…) mean nothing here; other words filter
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<_> = SCENARIOS
        .iter()
        .filter(|(name, _)| {
            if demo {
                node_scenarios::DEMO.contains(name)
            } else {
                filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
            }
        })
        .collect();
    println!("\nrunning {} tests", selected.len());
    if selected.is_empty() {
        println!("\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let env = match std::panic::catch_unwind(Env::start) {
        Ok(env) => env,
        Err(panic) => {
            println!("node cluster failed to start: {}", panic_text(&panic));
            println!("\ntest result: FAILED. 0 passed; {} failed\n", selected.len());
            return ExitCode::FAILURE;
        }
    };
    progress(&format!("cluster up in {:.0?}", started.elapsed()));
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, scenario) in &selected {
        let t = Instant::now();
        match std::panic::catch_unwind(AssertUnwindSafe(|| scenario(&env))) {
            Ok(()) => {
                println!("test {name} ... ok ({:.0?})", t.elapsed());
                passed += 1;
            }
            Err(panic) => {
                println!("test {name} ... FAILED ({:.0?})", t.elapsed());
                failed.push((name, panic_text(&panic)));
            }
        }
    }
    if demo && failed.is_empty() {
        env.print_demo_result();
    }
    let t = Instant::now();
    drop(env);
    progress(&format!(
        "cluster stopped and host cleaned in {:.0?}",
        t.elapsed()
    ));
    for (name, text) in &failed {
        println!("\n---- {name} ----\n{text}");
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; \
         finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}
