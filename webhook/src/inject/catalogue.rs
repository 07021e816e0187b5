//! The annotation catalogue: every vault-k8s annotation ferrovault reads, the per-secret prefixes,
//! our own `ferrovault.dev/` names, and those accepted but not implemented yet; the warnings about
//! anything else (typos, settings of secrets that do not exist) come from here.

use super::annotations::Annotations;
use super::secrets;

/// Annotations vault-k8s knows that ferrovault accepts but does not implement yet.
pub const UNSUPPORTED: &[&str] = &[
    "agent-configmap",
    "agent-cache-enable",
    "agent-cache-use-auto-auth-token",
    "agent-cache-listener-port",
    "agent-cache-exit-on-err",
    "agent-enable-quit",
];

/// Every fixed vault-k8s annotation suffix ferrovault reads (or accepts and ignores).
pub const KNOWN: &[&str] = &[
    "agent-inject",
    "agent-inject-status",
    "agent-pre-populate",
    "agent-pre-populate-only",
    "agent-init-first",
    "agent-inject-containers",
    "agent-image",
    "agent-request-namespace",
    "agent-extra-secret",
    "agent-copy-volume-mounts",
    "agent-service-account-token-volume-name",
    "agent-json-patch",
    "agent-init-json-patch",
    "agent-share-process-namespace",
    "agent-inject-default-template",
    "secret-volume-path",
    "preserve-secret-case",
    "agent-inject-token",
    "service",
    "role",
    "auth-type",
    "auth-path",
    "namespace",
    "auth-min-backoff",
    "auth-max-backoff",
    "agent-auto-auth-exit-on-err",
    "proxy-address",
    "tls-skip-verify",
    "tls-secret",
    "tls-server-name",
    "ca-cert",
    "ca-key",
    "client-cert",
    "client-key",
    "client-max-retries",
    "client-timeout",
    "agent-disable-idle-connections",
    "agent-disable-keep-alives",
    "agent-limits-cpu",
    "agent-limits-mem",
    "agent-limits-ephemeral",
    "agent-requests-cpu",
    "agent-requests-mem",
    "agent-requests-ephemeral",
    "agent-revoke-on-shutdown",
    "agent-revoke-grace",
    "agent-set-security-context",
    "agent-run-as-user",
    "agent-run-as-group",
    "agent-run-as-same-user",
    "go-max-procs",
    "log-level",
    "log-format",
    "template-config-exit-on-retry-failure",
    "template-static-secret-render-interval",
    "template-max-connections-per-host",
    "template-lease-renewal-threshold",
];

/// Per-secret annotation prefixes (`<prefix><secret name>`), besides the ones defining secrets.
pub const PER_SECRET: &[&str] = &[
    "agent-inject-file-",
    "agent-inject-perms-",
    "agent-inject-command-",
    "error-on-missing-key-",
    "agent-template-left-delim-",
    "agent-template-right-delim-",
    "secret-volume-path-",
    "preserve-secret-case-",
];

/// Our own `ferrovault.dev/` annotations.
pub const FERROVAULT_KNOWN: &[&str] = &["native-sidecar", "strict", "secrets-read-only"];

/// Warns about annotations nothing reads: typos, and per-secret settings of secrets that do not exist.
pub(super) fn warn_unknown(a: &Annotations<'_>, warnings: &mut Vec<String>) {
    let names = secrets::discover_names(a);
    for (suffix, entry) in a.iter() {
        if KNOWN.contains(&suffix)
            || UNSUPPORTED.contains(&suffix)
            || [
                "agent-inject-secret-",
                "agent-inject-template-",
                "auth-config-",
                "agent-telemetry-",
            ]
            .iter()
            .any(|p| suffix.starts_with(p))
        {
            continue;
        }
        match PER_SECRET.iter().find_map(|p| suffix.strip_prefix(p)) {
            Some(name) if names.iter().any(|n| n == name) => {}
            Some(name) => warnings.push(format!(
                "annotation {} refers to secret {name:?}, which no agent-inject-secret-/agent-inject-template- \
                 annotation defines; it was ignored",
                entry.key
            )),
            None => warnings.push(format!(
                "annotation {} is not a known vault-k8s annotation and was ignored (typo?)",
                entry.key
            )),
        }
    }
    for (suffix, entry) in a.iter_ferrovault() {
        if !FERROVAULT_KNOWN.contains(&suffix) {
            warnings.push(format!(
                "annotation {} is not a known ferrovault annotation and was ignored (typo?)",
                entry.key
            ));
        }
    }
}

pub(super) fn warn_unsupported(a: &Annotations<'_>, warnings: &mut Vec<String>) {
    for (suffix, entry) in a.iter() {
        if UNSUPPORTED.contains(&suffix) || suffix.starts_with("agent-telemetry-") {
            warnings.push(format!(
                "{} is not supported by ferrovault yet and was ignored",
                entry.key
            ));
        }
    }
}
