//! Reading a pod's annotations: the `vault.hashicorp.com/` keys, their `openbao.org/` aliases, our
//! `ferrovault.dev/` extensions, and the value syntaxes vault-k8s accepts.

use std::collections::BTreeMap;

use ferrovault_contract::{VaultDuration, go};

use super::catalogue::{Annotation, Kind, Name, Prefix, Scope};
pub use super::catalogue::{FERROVAULT_PREFIX, OPENBAO_PREFIX, VAULT_PREFIX};
use super::error::InjectError;
use super::quantity;

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

    fn under(&self, prefix: Prefix) -> &BTreeMap<&'a str, Entry<'a>> {
        match prefix {
            Prefix::Vault => &self.entries,
            Prefix::Ferrovault => &self.ferrovault,
        }
    }

    /// The annotation `name`, if present (even when empty).
    pub fn get<'n>(&self, name: impl Into<Name<'n>>) -> Option<Entry<'a>> {
        let name = name.into();
        read::record(name.entry);
        self.under(name.entry.prefix).get(&*name.suffix()).copied()
    }

    /// The value of the annotation `name`, if present.
    pub fn value<'n>(&self, name: impl Into<Name<'n>>) -> Option<&'a str> {
        self.get(name).map(|e| e.value)
    }

    /// The full key to name in messages: the one present on the pod, else the canonical one.
    pub fn key<'n>(&self, name: impl Into<Name<'n>>) -> String {
        let name = name.into();
        match self.get(name) {
            Some(e) => e.key.to_owned(),
            None => name.key(),
        }
    }

    /// All vault-k8s annotations, by suffix.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Entry<'a>)> + '_ {
        self.entries.iter().map(|(k, e)| (*k, *e))
    }

    /// All `ferrovault.dev/` annotations, by suffix.
    pub fn iter_ferrovault(&self) -> impl Iterator<Item = (&'a str, Entry<'a>)> + '_ {
        self.ferrovault.iter().map(|(k, e)| (*k, *e))
    }

    /// The annotations whose key starts with one of these (prefix) entries' names, by suffix: the
    /// first entry that matches, what follows its name, and the annotation.
    pub fn with_prefixes<'s>(
        &'s self,
        prefixes: &'s [&'static Annotation],
    ) -> impl Iterator<Item = (&'static Annotation, &'a str, Entry<'a>)> + 's {
        for p in prefixes {
            debug_assert!(p.scope != Scope::Pod && p.prefix == Prefix::Vault, "{}", p.name);
            read::record(p);
        }
        self.iter().filter_map(|(suffix, entry)| {
            prefixes
                .iter()
                .find_map(|p| suffix.strip_prefix(p.name).map(|rest| (*p, rest, entry)))
        })
    }

    /// A string setting: the annotation if present (even `""`), else `default`.
    pub fn string_or<'n>(&self, name: impl Into<Name<'n>>, default: &str) -> String {
        self.value(name).unwrap_or(default).to_owned()
    }

    /// A non-empty string annotation.
    pub fn non_empty<'n>(&self, name: impl Into<Name<'n>>) -> Option<&'a str> {
        self.value(name).filter(|v| !v.is_empty())
    }

    /// A Go-ParseBool annotation, `default` when absent.
    pub fn bool_or<'n>(&self, name: impl Into<Name<'n>>, default: bool) -> Result<bool, InjectError> {
        Ok(self.bool(name)?.unwrap_or(default))
    }

    /// A Go-ParseBool annotation (`""` is false), `None` when absent.
    pub fn bool<'n>(&self, name: impl Into<Name<'n>>) -> Result<Option<bool>, InjectError> {
        let name = name.into();
        debug_assert_eq!(name.entry.kind, Kind::Bool, "{}", name.entry.name);
        self.get(name).map(parse_bool).transpose()
    }

    /// A Go duration annotation; `""` means "not set". Absent → `default` (also `""` = not set).
    pub fn duration_or<'n>(
        &self,
        name: impl Into<Name<'n>>,
        default: &str,
    ) -> Result<Option<VaultDuration>, InjectError> {
        let name = name.into();
        debug_assert!(
            matches!(name.entry.kind, Kind::Duration | Kind::Timeout),
            "{}",
            name.entry.name
        );
        self.checked_duration_or(name, default, go::parse_duration, go::DURATION_ACCEPTED)
    }

    /// A duration the agent reads in Vault's format (`30` seconds, `1d`, or a Go duration); `""`
    /// means unset. Absent → `default`.
    pub fn vault_duration_or<'n>(
        &self,
        name: impl Into<Name<'n>>,
        default: &str,
    ) -> Result<Option<VaultDuration>, InjectError> {
        let name = name.into();
        debug_assert_eq!(name.entry.kind, Kind::VaultDuration, "{}", name.entry.name);
        self.checked_duration_or(
            name,
            default,
            go::parse_vault_duration,
            go::VAULT_DURATION_ACCEPTED,
        )
    }

    fn checked_duration_or(
        &self,
        name: Name<'_>,
        default: &str,
        parse: fn(&str) -> Option<std::time::Duration>,
        accepted: &'static str,
    ) -> Result<Option<VaultDuration>, InjectError> {
        let value = self.value(name).unwrap_or(default);
        if value.is_empty() {
            return Ok(None);
        }
        let invalid =
            || InjectError::invalid(self.key(name), value, go::duration_expectation(value, accepted));
        // the agent reads every duration in Vault's format, which takes every Go duration too
        match parse(value) {
            Some(_) => value.parse::<VaultDuration>().map(Some).map_err(|_| invalid()),
            None => Err(invalid()),
        }
    }

    /// A Kubernetes quantity; `""` removes the setting. Absent → `default`.
    pub fn quantity_or<'n>(
        &self,
        name: impl Into<Name<'n>>,
        default: &str,
    ) -> Result<Option<String>, InjectError> {
        let name = name.into();
        debug_assert_eq!(name.entry.kind, Kind::Quantity, "{}", name.entry.name);
        let value = self.value(name).unwrap_or(default);
        if value.is_empty() {
            return Ok(None);
        }
        if quantity::is_valid(value) {
            Ok(Some(value.to_owned()))
        } else {
            Err(InjectError::invalid(self.key(name), value, quantity::ACCEPTED))
        }
    }

    /// A non-negative base-10 integer (uid, gid); absent → `default`. `""` is refused (vault-k8s
    /// would read it as 0, i.e. root).
    pub fn id_or<'n>(&self, name: impl Into<Name<'n>>, default: i64) -> Result<i64, InjectError> {
        let name = name.into();
        debug_assert_eq!(name.entry.kind, Kind::Id, "{}", name.entry.name);
        match self.get(name) {
            None => Ok(default),
            // Go's ParseInt takes a sign: "+5" is 5.
            Some(e) => parse_non_negative(e.value.strip_prefix('+').unwrap_or(e.value))
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| InjectError::invalid(e.key, e.value, "a non-negative integer such as 100")),
        }
    }
}

/// In tests, which catalogue entries this thread looked up: the catalogue test proves every entry
/// is read. Nothing in other builds.
pub mod read {
    use super::Annotation;

    #[cfg(test)]
    thread_local! {
        static READ: std::cell::RefCell<std::collections::BTreeSet<&'static str>> =
            const { std::cell::RefCell::new(std::collections::BTreeSet::new()) };
    }

    /// Notes that `entry` was looked up.
    #[inline]
    pub fn record(entry: &'static Annotation) {
        #[cfg(test)]
        READ.with(|r| r.borrow_mut().insert(entry.name));
        #[cfg(not(test))]
        let _ = entry;
    }

    /// The names looked up on this thread since the last call.
    #[cfg(test)]
    pub fn take() -> std::collections::BTreeSet<&'static str> {
        READ.with(|r| std::mem::take(&mut *r.borrow_mut()))
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
