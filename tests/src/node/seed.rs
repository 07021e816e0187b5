//! OpenBao for a node cluster, set up as the seed's pods need it: the Kubernetes auth method
//! pointed at the cluster's API server, the seed's secret (`secret/my-secret`, KV v1), a KV v2 mount
//! for rotation scenarios, and the role `internal-app` bound to that ServiceAccount in one namespace.
//! The node scenarios and `make cluster` (`ferrovault-cluster`) use the same setup.

use super::NodeCluster;
use crate::Result;
use crate::openbao::DevServer;

/// The seed's role and ServiceAccount name.
pub const ROLE: &str = "internal-app";

/// Starts an OpenBao dev server on the node IP (pods reach it through their bridge) and configures
/// it for pods of ServiceAccount [`ROLE`] in `app_namespace`. The server's directory is registered
/// with the cluster, so a killed run's leftovers are cleaned with the node.
pub fn seed_openbao(cluster: &NodeCluster, app_namespace: &str) -> Result<DevServer> {
    let cp = cluster.cp();
    let reviewer = cp.token_reviewer_jwt()?;
    let vault = DevServer::start_on(cluster.vault_listen_address())?;
    cluster.own_dir(vault.dir())?;
    vault.bao(&["secrets", "disable", "secret"])?;
    vault.bao(&["secrets", "enable", "-path=secret", "-version=1", "kv"])?;
    vault.bao(&[
        "kv",
        "put",
        "secret/my-secret",
        "username=alice",
        "password=s3cr3t",
    ])?;
    vault.bao(&["secrets", "enable", "-path=kv2", "-version=2", "kv"])?;
    vault.policy_write(
        ROLE,
        "path \"secret/my-secret\" { capabilities = [\"read\"] }\n\
         path \"kv2/data/rotating\" { capabilities = [\"read\"] }\n",
    )?;
    vault.bao(&["auth", "enable", "kubernetes"])?;
    vault.bao(&[
        "write",
        "auth/kubernetes/config",
        &format!("kubernetes_host={}", cp.server_url()),
        &format!("kubernetes_ca_cert={}", cp.ca_pem()),
        &format!("token_reviewer_jwt={reviewer}"),
        "disable_local_ca_jwt=true",
    ])?;
    vault.bao(&[
        "write",
        &format!("auth/kubernetes/role/{ROLE}"),
        &format!("bound_service_account_names={ROLE}"),
        &format!("bound_service_account_namespaces={app_namespace}"),
        &format!("token_policies={ROLE}"),
        "ttl=1h",
    ])?;
    Ok(vault)
}
