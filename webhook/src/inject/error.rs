//! Why a pod is denied.

/// A reason to deny a pod. The message is what the user sees in `kubectl`'s error.
///
/// Messages name the annotation or field, echo the bad value only when it cannot be secret
/// (`value: None` otherwise), and say what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    /// An annotation has a value we do not accept.
    #[error("invalid value {} for annotation {key}: expected {expected}", quoted(value.as_deref()))]
    Annotation {
        /// Full annotation key, e.g. `vault.hashicorp.com/agent-inject`.
        key: String,
        /// The bad value, when it is safe to echo.
        value: Option<String>,
        /// What is accepted.
        expected: String,
    },
    /// The request's namespace is empty.
    #[error("error adding default annotations: kubernetes namespace required")]
    MissingNamespace,
    /// The pod is in a namespace the injector never touches.
    #[error("error with request namespace: cannot inject into system namespaces: {0}")]
    SystemNamespace(String),
    /// A required setting is missing (address, role, auth path, …).
    #[error("{0}")]
    Missing(String),
    /// The service-account token the agent logs in with cannot be found.
    #[error("{0}")]
    ServiceAccount(String),
    /// A secret's file would land outside its secrets volume.
    #[error(
        "the file of secret {name:?} (annotation {key}) must stay inside its secrets volume {mount_path:?}: {reason}"
    )]
    Destination {
        /// Secret name.
        name: String,
        /// The annotation that chose the file.
        key: String,
        /// The secrets volume's mount path.
        mount_path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two secrets (or a secret and the token sink) would write the same file.
    #[error("secrets {first:?} and {second:?} would both be written to {destination:?}")]
    DuplicateDestination {
        /// First secret name.
        first: String,
        /// Second secret name.
        second: String,
        /// Their shared file.
        destination: String,
    },
    /// `agent-json-patch` / `agent-init-json-patch` is not a patch or does not apply.
    #[error("invalid JSON patch in annotation {key}: {detail}")]
    JsonPatch {
        /// Full annotation key.
        key: String,
        /// What is wrong (positions and operation indexes, no values).
        detail: String,
    },
    /// A template failed its admission check and `ferrovault.dev/strict` is on.
    #[error("{0}")]
    Template(String),
    /// Anything else about the pod that makes injection impossible.
    #[error("{0}")]
    Pod(String),
}

fn quoted(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{v:?}"),
        None => "(value withheld: it may be secret)".to_owned(),
    }
}

impl InjectError {
    /// An invalid annotation value that is safe to echo.
    pub fn invalid(key: impl Into<String>, value: &str, expected: impl Into<String>) -> Self {
        InjectError::Annotation {
            key: key.into(),
            value: Some(value.to_owned()),
            expected: expected.into(),
        }
    }

    /// An invalid annotation value that must not be echoed.
    pub fn invalid_secret(key: impl Into<String>, expected: impl Into<String>) -> Self {
        InjectError::Annotation {
            key: key.into(),
            value: None,
            expected: expected.into(),
        }
    }
}
