//! The annotation catalogue tells the truth: every entry it says is read is read (and no other),
//! the defaults it documents are the ones the readers use, and lookups follow the old rules.

use super::*;
use crate::inject::annotations::read;
use crate::inject::catalogue::{self as cat, ALL, DefaultValue, Prefix, Scope, Support};

/// `agent-inject` + `role` + one secret `db`, to which per-secret entries are applied.
fn one_secret(extra: &[(&str, &str)]) -> Pod {
    let mut a = basic(&[("agent-inject-secret-db", "secret/db")]);
    a.extend_from_slice(extra);
    handler_pod(&a)
}

#[test]
fn names_are_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for e in ALL {
        assert!(seen.insert((e.prefix.as_str(), e.name)), "{} twice", e.name);
        assert!(
            !e.doc.is_empty() && !e.doc.contains('|'),
            "{}: one markdown line",
            e.name
        );
        if e.scope != Scope::Pod {
            assert!(e.name.ends_with('-'), "{}: a prefix ends with '-'", e.name);
        }
    }
}

#[test]
fn every_entry_said_to_be_read_is_read_and_no_other() {
    read::take();
    assert!(matches!(decide_on(&one_secret(&[])), Decision::Patch { .. }));
    let read = read::take();
    for e in ALL {
        let expected = matches!(e.support, Support::Supported);
        assert_eq!(
            read.contains(e.name),
            expected,
            "{}: the catalogue says {:?}, but the readers {} it",
            e.name,
            e.support,
            if read.contains(e.name) {
                "read"
            } else {
                "never read"
            }
        );
    }
}

#[test]
fn documented_defaults_are_the_readers_defaults() {
    // Writing the documented default explicitly must change nothing.
    let base = decide_on(&one_secret(&[]));
    let mut checked = 0;
    for e in ALL
        .iter()
        .filter(|e| e.support == Support::Supported && e.name != "agent-inject")
    {
        let Some(value) = e.default.value(&defaults()) else {
            continue;
        };
        let key = match (e.prefix, e.scope) {
            (Prefix::Ferrovault, _) => format!("ferrovault.dev/{}", e.name),
            (Prefix::Vault, Scope::Pod) => format!("vault.hashicorp.com/{}", e.name),
            (Prefix::Vault, _) => format!("vault.hashicorp.com/{}db", e.name),
        };
        let with_default = decide_on(&one_secret(&[(key.as_str(), value.as_str())]));
        assert_eq!(
            with_default, base,
            "{key}: {value:?} is documented as its default"
        );
        checked += 1;
    }
    assert!(checked > 30, "only {checked} defaults checked");
}

#[test]
fn lookups_prefer_exact_names_then_the_longest_prefix() {
    let find = |suffix| cat::find(Prefix::Vault, suffix).map(|(e, rest)| (e.name, rest));
    assert_eq!(find("secret-volume-path"), Some(("secret-volume-path", None)));
    assert_eq!(
        find("secret-volume-path-db"),
        Some(("secret-volume-path-", Some("db")))
    );
    assert_eq!(
        find("agent-inject-template-file-db"),
        Some(("agent-inject-template-file-", Some("db")))
    );
    assert_eq!(
        find("agent-inject-template-db"),
        Some(("agent-inject-template-", Some("db")))
    );
    assert_eq!(find("auth-config-role"), Some(("auth-config-", Some("role"))));
    assert_eq!(find("agent-inject-typo"), None);
    assert_eq!(find("strict"), None);
    assert!(cat::find(Prefix::Ferrovault, "strict").is_some());
    assert!(cat::find(Prefix::Ferrovault, "agent-inject").is_none());
}

#[test]
fn injector_defaults_are_rendered_from_injector_defaults() {
    let d = InjectorDefaults::default();
    assert_eq!(cat::IMAGE.default.value(&d).as_deref(), Some(DEFAULT_AGENT_IMAGE));
    assert_eq!(cat::REQUESTS_CPU.default.value(&d).as_deref(), Some("250m"));
    assert!(matches!(cat::INJECT_PERMS.default, DefaultValue::Unset));
    let table = cat::markdown();
    assert!(table.contains("| `agent-requests-cpu` | quantity"), "{table}");
    assert!(
        table.contains("| `ferrovault.dev/strict` | bool | `false` |"),
        "{table}"
    );
}
