//! Reading a pod's annotations: the `vault.hashicorp.com/` keys, their `openbao.org/` aliases, our
//! `ferrovault.dev/` extensions, and the value syntaxes vault-k8s accepts.

use std::collections::BTreeMap;

use ferrovault_contract::go;

use super::error::InjectError;
use super::quantity;

/// Prefix of vault-k8s annotations.
pub const VAULT_PREFIX: &str = "vault.hashicorp.com/";
/// Prefix of openbao-k8s annotations, accepted as aliases (the `vault.hashicorp.com/` key wins).
pub const OPENBAO_PREFIX: &str = "openbao.org/";
/// Prefix of ferrovault's own annotations.
pub const FERROVAULT_PREFIX: &str = "ferrovault.dev/";

/// Annotation written by the patch; `injected` means "already done".
pub const STATUS_KEY: &str = "vault.hashicorp.com/agent-inject-status";

/// One annotation as found on the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The full key as written (`vault.hashicorp.com/…` or `openbao.org/…`).
    pub key: &'a str,
    /// The value, untouched.
    pub value: &'a str,
}

/// The pod's vault-k8s annotations by suffix (the part after the prefix), aliases resolved.
#[derive(Debug, Clone, Default)]
pub struct Annotations<'a> {
    entries: BTreeMap<&'a str, Entry<'a>>,
    ferrovault: BTreeMap<&'a str, Entry<'a>>,
}

impl<'a> Annotations<'a> {
    /// Indexes `map` (a pod's `metadata.annotations`).
    pub fn new(map: &'a BTreeMap<String, String>) -> Self {
        let index = |prefix: &str| -> BTreeMap<&'a str, Entry<'a>> {
            map.iter()
                .filter_map(|(key, value)| {
                    key.strip_prefix(prefix).map(|suffix| {
                        (
                            suffix,
                            Entry {
                                key: key.as_str(),
                                value: value.as_str(),
                            },
                        )
                    })
                })
                .collect()
        };
        // openbao.org/ first so that vault.hashicorp.com/ overwrites it.
        let mut entries = index(OPENBAO_PREFIX);
        entries.extend(index(VAULT_PREFIX));
        let ferrovault = index(FERROVAULT_PREFIX);
        Self { entries, ferrovault }
    }

    /// The annotation with this suffix, if present (even when empty).
    pub fn get(&self, suffix: &str) -> Option<Entry<'a>> {
        self.entries.get(suffix).copied()
    }

    /// The value of the annotation with this suffix, if present.
    pub fn value(&self, suffix: &str) -> Option<&'a str> {
        self.get(suffix).map(|e| e.value)
    }

    /// The full key to name in messages: the one present on the pod, else the `vault.hashicorp.com/` one.
    pub fn key(&self, suffix: &str) -> String {
        match self.get(suffix) {
            Some(e) => e.key.to_owned(),
            None => format!("{VAULT_PREFIX}{suffix}"),
        }
    }

    /// All vault-k8s annotations, by suffix.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Entry<'a>)> + '_ {
        self.entries.iter().map(|(k, e)| (*k, *e))
    }

    /// A `ferrovault.dev/<suffix>` annotation.
    pub fn ferrovault(&self, suffix: &str) -> Option<Entry<'a>> {
        self.ferrovault.get(suffix).copied()
    }

    /// All `ferrovault.dev/` annotations, by suffix.
    pub fn iter_ferrovault(&self) -> impl Iterator<Item = (&'a str, Entry<'a>)> + '_ {
        self.ferrovault.iter().map(|(k, e)| (*k, *e))
    }

    /// A string setting: the annotation if present (even `""`), else `default`.
    pub fn string_or(&self, suffix: &str, default: &str) -> String {
        self.value(suffix).unwrap_or(default).to_owned()
    }

    /// A non-empty string annotation.
    pub fn non_empty(&self, suffix: &str) -> Option<&'a str> {
        self.value(suffix).filter(|v| !v.is_empty())
    }

    /// A Go-ParseBool annotation, `default` when absent.
    pub fn bool_or(&self, suffix: &str, default: bool) -> Result<bool, InjectError> {
        Ok(self.bool(suffix)?.unwrap_or(default))
    }

    /// A Go-ParseBool annotation (`""` is false), `None` when absent.
    pub fn bool(&self, suffix: &str) -> Result<Option<bool>, InjectError> {
        self.get(suffix).map(parse_bool).transpose()
    }

    /// A Go-ParseBool `ferrovault.dev/` annotation, `None` when absent.
    pub fn ferrovault_bool(&self, suffix: &str) -> Result<Option<bool>, InjectError> {
        self.ferrovault(suffix).map(parse_bool).transpose()
    }

    /// A Go duration annotation; `""` means "not set". Absent → `default` (also `""` = not set).
    pub fn duration_or(&self, suffix: &str, default: &str) -> Result<Option<String>, InjectError> {
        self.checked_duration_or(suffix, default, go::parse_duration, go::DURATION_ACCEPTED)
    }

    /// A duration the agent reads in Vault's format (`30` seconds, `1d`, or a Go duration); `""`
    /// means unset. Absent → `default`.
    pub fn vault_duration_or(&self, suffix: &str, default: &str) -> Result<Option<String>, InjectError> {
        self.checked_duration_or(
            suffix,
            default,
            go::parse_vault_duration,
            go::VAULT_DURATION_ACCEPTED,
        )
    }

    fn checked_duration_or(
        &self,
        suffix: &str,
        default: &str,
        parse: fn(&str) -> Option<std::time::Duration>,
        accepted: &'static str,
    ) -> Result<Option<String>, InjectError> {
        let value = self.value(suffix).unwrap_or(default);
        if value.is_empty() {
            return Ok(None);
        }
        match parse(value) {
            Some(_) => Ok(Some(value.to_owned())),
            None => Err(InjectError::invalid(
                self.key(suffix),
                value,
                go::duration_expectation(value, accepted),
            )),
        }
    }

    /// A Kubernetes quantity; `""` removes the setting. Absent → `default`.
    pub fn quantity_or(&self, suffix: &str, default: &str) -> Result<Option<String>, InjectError> {
        let value = self.value(suffix).unwrap_or(default);
        if value.is_empty() {
            return Ok(None);
        }
        if quantity::is_valid(value) {
            Ok(Some(value.to_owned()))
        } else {
            Err(InjectError::invalid(self.key(suffix), value, quantity::ACCEPTED))
        }
    }

    /// A non-negative base-10 integer (uid, gid); absent → `default`. `""` is refused (vault-k8s
    /// would read it as 0, i.e. root).
    pub fn id_or(&self, suffix: &str, default: i64) -> Result<i64, InjectError> {
        match self.get(suffix) {
            None => Ok(default),
            // Go's ParseInt takes a sign: "+5" is 5.
            Some(e) => parse_non_negative(e.value.strip_prefix('+').unwrap_or(e.value))
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| InjectError::invalid(e.key, e.value, "a non-negative integer such as 100")),
        }
    }
}

/// Parses a Go bool (`parseutil.ParseBool`), naming the annotation on failure.
pub fn parse_bool(entry: Entry<'_>) -> Result<bool, InjectError> {
    go::parse_bool(entry.value).ok_or_else(|| InjectError::invalid(entry.key, entry.value, go::BOOL_ACCEPTED))
}

/// A base-10 non-negative integer with optional leading zeros (`01` is 1, like Go's ParseUint).
pub fn parse_non_negative(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}
