//! README's "Try it on a local cluster", run as a person would type it: the shell block under the
//! `cluster-readme` marker, line by line in one bash, from the repository root — `make cluster`, the
//! chart with its default values on two nodes, the seed chart, the connection string read from a
//! pod, `make cluster-down` — then `scripts/node.sh check` must find nothing left on this machine.
//!
//! Needs root and what `make cluster` needs (it builds what is missing; `make test` has built it
//! all by then). Its own `main` (`harness = false`): the cluster must be taken down whatever
//! happens, and only one node cluster runs on a machine at a time.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

const CONNECTION: &str = "postgresql://alice:s3cr3t@postgres:5432/wizard";
const MARKER: &str = "<!-- cluster-readme:";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shell block after the marker, joined into one script (continuation lines kept).
fn readme_block() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let after = &readme[readme.find(MARKER).expect("README has the cluster-readme marker")..];
    let start = after.find("```sh\n").expect("a sh block after the marker") + "```sh\n".len();
    let body = &after[start..];
    body[..body.find("```").expect("the block ends")].to_owned()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("readme_local_cluster_commands_work_and_leave_nothing_behind: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let name = "readme_local_cluster_commands_work_and_leave_nothing_behind";
    println!("\nrunning 1 test");
    if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
        println!("\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n");
        return ExitCode::SUCCESS;
    }
    let block = readme_block();
    // not `set -x`: that would print the exports' values (OpenBao's root token) into the log
    let script = format!("set -euo pipefail\n{block}");
    eprintln!("cluster_readme: running README's block:\n{block}");
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}");
    // whatever happened: take the cluster down and look for leftovers
    let down = Command::new(root().join("scripts/cluster.sh"))
        .arg("down")
        .stdin(Stdio::null())
        .output()
        .expect("scripts/cluster.sh down");
    let down_text = String::from_utf8_lossy(&down.stderr).into_owned();
    let mut failures = Vec::new();
    if !out.status.success() {
        failures.push(format!("README's block failed ({})", out.status));
    }
    if !stdout.lines().any(|l| l.trim() == CONNECTION) {
        failures.push("the connection string was not read from the pod".to_owned());
    }
    let nodes = stdout
        .lines()
        .filter(|l| l.starts_with("ferrovault-node"))
        .count();
    if nodes < 2 {
        failures.push(format!("`kubectl get nodes` listed {nodes} nodes"));
    }
    if !down.status.success() || !down_text.contains("nothing left behind") {
        failures.push(format!("leftovers after make cluster-down: {down_text}"));
    }
    if failures.is_empty() {
        println!("test {name} ... ok");
        println!("\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n");
        ExitCode::SUCCESS
    } else {
        println!("test {name} ... FAILED\n{}", failures.join("\n"));
        println!("\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n");
        ExitCode::FAILURE
    }
}
