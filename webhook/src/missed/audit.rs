//! `ferrovault-webhook audit`: lists the missed injections once and exits 1 when there are any (0
//! when none, 2 when the cluster cannot be read), for CI jobs, upgrades and incident checks. Same
//! decision as the detector ([`super::missed`]).

use std::borrow::Cow;
use std::io::Write as _;

use ferrovault_contract::logging::printable;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::{Missed, Scope, missed};
use crate::args::{AuditArgs, AuditOutput};
use crate::autotls::describe_error;
use crate::error::Error;

/// Page size of the pod list.
const PAGE_SIZE: u32 = 250;

/// Runs `audit`: 0 none missed, 1 some, 2 error.
pub fn run(args: &AuditArgs) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match runtime.block_on(find(args)) {
        Ok(found) => {
            let out = render(&found, args.output);
            let _ = write!(std::io::stdout().lock(), "{out}");
            if found.is_empty() {
                eprintln!("no missed injections");
                0
            } else {
                eprintln!("{} pod(s) ask for a Vault agent but have none", found.len());
                1
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// Lists the pods (all namespaces or `--namespace`) and keeps the missed ones.
pub async fn find(args: &AuditArgs) -> Result<Vec<Missed>, Error> {
    crate::tls::install_crypto_provider();
    let client = kube::Client::try_default().await.map_err(|e| {
        Error::Kube(format!(
            "no cluster configuration (KUBECONFIG or in-cluster): {e}"
        ))
    })?;
    let scope = match args.webhook_config.as_deref().filter(|s| !s.is_empty()) {
        None => Scope::everything(),
        Some(name) => {
            let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
            let mwc = api.get(name).await.map_err(|e| {
                Error::Kube(format!(
                    "read MutatingWebhookConfiguration {name}: {}",
                    describe_error(&e)
                ))
            })?;
            Scope::from_config(&mwc)
        }
    };
    let pods: Api<Pod> = match args.namespace.as_deref() {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let mut found = Vec::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = pods
            .list(&params)
            .await
            .map_err(|e| Error::Kube(format!("list pods: {}", describe_error(&e))))?;
        found.extend(page.items.iter().filter_map(|pod| missed(pod, &scope)));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    found.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(found)
}

/// The table (aligned columns, a header, one line per pod) or a JSON array.
pub fn render(found: &[Missed], output: AuditOutput) -> String {
    match output {
        AuditOutput::Json => {
            let mut s = serde_json::to_string_pretty(found).unwrap_or_else(|_| "[]".into());
            s.push('\n');
            s
        }
        AuditOutput::Table => {
            if found.is_empty() {
                return String::new();
            }
            let header = ["NAMESPACE", "POD", "OWNER", "REASON"];
            // every cell escaped: a name with a newline or an escape sequence cannot forge a row
            let rows: Vec<[Cow<'_, str>; 4]> = found
                .iter()
                .map(|m| {
                    [
                        printable(&m.namespace),
                        printable(&m.name),
                        printable(&m.owner),
                        Cow::Borrowed(m.reason.short()),
                    ]
                })
                .collect();
            let width = |i: usize| {
                rows.iter()
                    .map(|r| r[i].len())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            };
            let widths = [width(0), width(1), width(2)];
            let mut out = String::new();
            let header = header.map(Cow::Borrowed);
            for row in std::iter::once(header).chain(rows) {
                out.push_str(&format!(
                    "{:w0$}   {:w1$}   {:w2$}   {}\n",
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    w0 = widths[0],
                    w1 = widths[1],
                    w2 = widths[2]
                ));
            }
            out
        }
    }
}
