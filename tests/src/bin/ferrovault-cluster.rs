//! `make cluster`'s process: a two-node Kubernetes cluster on this machine (the node harness of
//! `ferrovault_tests::node`) with OpenBao set up for the seed's pods, kept running until
//! `make cluster-down`. Test infrastructure, not part of the product.
//!
//! ```text
//! ferrovault-cluster up DIR   starts everything, writes DIR/env (the exports), DIR/kubeconfig and
//!                             DIR/moscow-time-values.yaml, then DIR/ready; runs until DIR/stop
//!                             exists, then stops everything and cleans the host (DIR/stopped)
//! ```
//!
//! `scripts/cluster.sh` starts it in the background and waits for `ready`; `cluster-down` creates
//! `stop` and waits for the process to end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ferrovault_tests::node::{NodeCluster, seed_openbao};

/// The namespace whose `internal-app` ServiceAccount OpenBao's role accepts (the README installs
/// `charts/moscow-time` there).
const APP_NAMESPACE: &str = "moscow";
const NODES: usize = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["up", dir] => match up(Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferrovault-cluster: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: ferrovault-cluster up DIR");
            ExitCode::from(2)
        }
    }
}

fn up(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    for stale in ["ready", "stop", "stopped"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    say(&format!(
        "starting Kubernetes {} with {NODES} nodes",
        ferrovault_tests::kube::kubernetes_version()
    ));
    let cluster = NodeCluster::start_nodes(NODES).map_err(|e| format!("the cluster: {e}"))?;
    say("nodes Ready; starting OpenBao (Kubernetes auth against this cluster, the seed's secret)");
    let vault = seed_openbao(&cluster, APP_NAMESPACE).map_err(|e| format!("OpenBao: {e}"))?;
    let kubeconfig = dir.join("kubeconfig");
    std::fs::copy(cluster.cp().kubeconfig_path(), &kubeconfig)
        .map_err(|e| format!("copy the kubeconfig: {e}"))?;
    let (kube_bin, _) = ferrovault_tests::kube::kube_bin_dir();
    let tools = ferrovault_tests::tools::helm_bin()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    write(
        &dir.join("env"),
        &format!(
            "export FERROVAULT_CLUSTER='{dir}'\nexport KUBECONFIG='{kubeconfig}'\nexport VAULT_ADDR='{vault_addr}'\n\
             export VAULT_TOKEN='{token}'\nexport PATH='{kube_bin}:{tools}':\"$PATH\"\n",
            dir = dir.display(),
            kubeconfig = kubeconfig.display(),
            vault_addr = vault.addr(),
            token = vault.root_token(),
            kube_bin = kube_bin.display(),
            tools = tools.display(),
        ),
    )?;
    let standin = &cluster.images().standin;
    let (repo, tag) = standin.rsplit_once(':').unwrap_or((standin, "latest"));
    write(
        &dir.join("moscow-time-values.yaml"),
        &format!(
            "# The seed chart on the local cluster: the stand-in for its app image (busybox httpd on the\n\
             # chart's port; the real image cannot be pulled here) and no persistent volumes (no\n\
             # storage provisioner).\n\
             image: {{repository: {repo}, tag: \"{tag}\", pullPolicy: IfNotPresent}}\n\
             args: [httpd, -f, -p, \"8000\", -h, /www]\n\
             persistence: {{enabled: false}}\n"
        ),
    )?;
    write(&dir.join("ready"), "")?;
    say(&format!(
        "ready: API server {}, OpenBao {}",
        cluster.cp().server_url(),
        vault.addr()
    ));
    let stop = dir.join("stop");
    while !stop.exists() {
        std::thread::sleep(Duration::from_secs(1));
    }
    say("stopping: OpenBao, the nodes, the control plane; cleaning the host");
    drop(vault);
    drop(cluster);
    write(&dir.join("stopped"), "")?;
    Ok(())
}

fn write(path: &PathBuf, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn say(line: &str) {
    eprintln!("ferrovault-cluster: {line}");
}
