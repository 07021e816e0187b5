//! What the webhook answers: which agent containers a pod gets, and the decision itself.

use std::collections::BTreeMap;

/// Which agent containers a pod gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InjectionType {
    /// `vault-agent-init` plus the `vault-agent` sidecar.
    InitAndSidecar,
    /// Only `vault-agent-init` (`agent-pre-populate-only`, Jobs without native sidecars).
    InitOnly,
    /// Only the `vault-agent` sidecar (`agent-pre-populate: "false"`).
    SidecarOnly,
    /// One `vault-agent` init container with `restartPolicy: Always`.
    NativeSidecar,
}

impl InjectionType {
    /// Value of the `injection_type` metric label.
    pub fn label(&self) -> &'static str {
        match self {
            InjectionType::InitAndSidecar => "init_and_sidecar",
            InjectionType::InitOnly => "init_only",
            InjectionType::SidecarOnly => "sidecar_only",
            InjectionType::NativeSidecar => "native_sidecar",
        }
    }

    /// Whether a classic `vault-agent-init` container is added.
    pub fn has_init(&self) -> bool {
        matches!(self, InjectionType::InitAndSidecar | InjectionType::InitOnly)
    }

    /// Whether a classic `vault-agent` sidecar container is added.
    pub fn has_sidecar(&self) -> bool {
        matches!(self, InjectionType::InitAndSidecar | InjectionType::SidecarOnly)
    }
}

/// What to answer an admission request with.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Allowed, unchanged.
    Skip {
        /// Why nothing is injected (for debug logs and tests).
        reason: &'static str,
    },
    /// Not allowed; `message` goes to `status.message`.
    Deny {
        /// Names the annotation/field, the bad value (unless it may be secret) and what is accepted.
        message: String,
    },
    /// Allowed with a patch.
    Patch {
        /// The RFC 6902 patch.
        patch: super::patch::PodPatch,
        /// Admission warnings for risky but allowed choices.
        warnings: Vec<String>,
        /// Audit annotations (`ferrovault.dev/…`), never secret values.
        audit: BTreeMap<String, String>,
        /// Which agent containers were added.
        injection: InjectionType,
    },
}
