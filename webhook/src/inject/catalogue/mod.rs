//! The annotation catalogue: one table ([`ALL`], in `entries.rs`) of every annotation ferrovault
//! knows — name, value kind, default, scope, support and a one-line effect.
//!
//! Everything else is derived from it: the readers (`annotations::Annotations`) take an entry
//! rather than a name, so no annotation is read without being listed; [`find`] tells the
//! unknown-annotation and not-supported warnings what a key is; and [`markdown`] renders the
//! README's annotation table, which a test keeps in step.

mod entries;

pub use entries::*;

use std::fmt::Write as _;

use super::defaults::InjectorDefaults;

/// Prefix of vault-k8s annotations.
pub const VAULT_PREFIX: &str = "vault.hashicorp.com/";
/// Prefix of openbao-k8s annotations, accepted as aliases (the `vault.hashicorp.com/` key wins).
pub const OPENBAO_PREFIX: &str = "openbao.org/";
/// Prefix of ferrovault's own annotations.
pub const FERROVAULT_PREFIX: &str = "ferrovault.dev/";

/// The key prefix an annotation lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prefix {
    /// `vault.hashicorp.com/`, with `openbao.org/` as an alias.
    Vault,
    /// `ferrovault.dev/`: our own.
    Ferrovault,
}

/// What an entry's name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The annotation `<name>`.
    Pod,
    /// `<name><secret>`: defines the secret `<secret>`.
    DefinesSecret,
    /// `<name><secret>`: a setting of the secret `<secret>` (warned about when no annotation
    /// defines that secret).
    Secret,
    /// `<name><param>`: a family of free-form settings.
    Family,
}

/// Whether ferrovault implements an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Read and honoured.
    Supported,
    /// Accepted without a warning and without an effect (kept as it was; see the entry's doc).
    Unread,
}

/// The values an annotation accepts (checked by its reader; shown in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Go's `ParseBool`.
    Bool,
    /// A Go duration.
    Duration,
    /// Vault's duration: whole seconds, whole days or a Go duration.
    VaultDuration,
    /// Whole seconds or a Go duration.
    Timeout,
    /// A Kubernetes quantity; empty removes the setting.
    Quantity,
    /// A uid or gid.
    Id,
    /// A non-negative integer.
    Count,
    /// A TCP port.
    Port,
    /// A non-negative number of seconds.
    Seconds,
    /// A non-negative number.
    Ratio,
    /// An octal file mode.
    Mode,
    /// An RFC 6902 JSON patch.
    JsonPatch,
    /// A consul-template template.
    Template,
    /// A path.
    Path,
    /// A file name inside the secrets volume.
    File,
    /// Free text.
    Text,
    /// A URL.
    Url,
    /// A Kubernetes object or container name.
    Name,
    /// Container names, comma-separated.
    Names,
    /// A command line, split like shell words and run without a shell.
    Command,
    /// A container image.
    Image,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// An auth method the agent runs ([`ferrovault_contract::INJECTABLE_AUTH_METHODS`]).
    AuthType,
    /// Agent components, comma-separated ([`ferrovault_contract::CONNECTION_COMPONENTS`]).
    Components,
    /// A log level in vault-k8s' spellings.
    LogLevel,
    /// Env file keys, comma-separated.
    EnvKeys,
    /// A signal and a process name.
    SignalProcess,
    /// An HTTP method and a loopback URL.
    HttpTarget,
    /// A JSON array of strings.
    Argv,
}

/// What an absent annotation means.
#[derive(Debug, Clone, Copy)]
pub enum DefaultValue {
    /// Nothing is set.
    Unset,
    /// This value, as it would be written in the annotation.
    Fixed(&'static str),
    /// The injector's setting ([`InjectorDefaults`]), from a flag when it has one.
    Injector {
        /// The `serve`/`inject` flag, if any.
        flag: Option<&'static str>,
        /// The setting as it would be written in the annotation.
        value: fn(&InjectorDefaults) -> String,
    },
    /// Described in words (another annotation, the pod's own setting).
    Described(&'static str),
}

impl DefaultValue {
    /// The default as an annotation value, when it is one.
    pub fn value(&self, defaults: &InjectorDefaults) -> Option<String> {
        match self {
            DefaultValue::Fixed(v) => Some((*v).to_owned()),
            DefaultValue::Injector { value, .. } => Some(value(defaults)),
            DefaultValue::Unset | DefaultValue::Described(_) => None,
        }
    }
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Annotation {
    /// The key after the prefix; a prefix itself unless the scope is [`Scope::Pod`].
    pub name: &'static str,
    /// Where the key lives.
    pub prefix: Prefix,
    /// What the name stands for.
    pub scope: Scope,
    /// The accepted values.
    pub kind: Kind,
    /// What an absent annotation means.
    pub default: DefaultValue,
    /// Whether ferrovault implements it.
    pub support: Support,
    /// The effect, in one line (markdown).
    pub doc: &'static str,
}

/// A name to look up: an entry, plus the secret's name for a per-secret entry.
#[derive(Debug, Clone, Copy)]
pub struct Name<'n> {
    /// The catalogue entry.
    pub entry: &'static Annotation,
    /// The secret or parameter after a prefix entry's name (`Some` exactly for those).
    pub secret: Option<&'n str>,
}

impl From<&'static Annotation> for Name<'static> {
    fn from(entry: &'static Annotation) -> Self {
        debug_assert_eq!(entry.scope, Scope::Pod, "{} needs a secret name", entry.name);
        Name { entry, secret: None }
    }
}

impl Name<'_> {
    /// The key without its prefix.
    pub fn suffix(&self) -> std::borrow::Cow<'static, str> {
        match self.secret {
            None => self.entry.name.into(),
            // concat, not format!: every per-secret lookup builds one (issue #14)
            Some(secret) => [self.entry.name, secret].concat().into(),
        }
    }

    /// The key under the entry's main prefix (`vault.hashicorp.com/` or `ferrovault.dev/`).
    pub fn key(&self) -> String {
        [self.entry.prefix.as_str(), &self.suffix()].concat()
    }
}

impl Prefix {
    /// The prefix itself.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Vault => VAULT_PREFIX,
            Prefix::Ferrovault => FERROVAULT_PREFIX,
        }
    }
}

impl Annotation {
    /// This prefix entry for the secret (or the family's parameter) `secret`.
    pub fn of<'n>(&'static self, secret: &'n str) -> Name<'n> {
        debug_assert!(self.scope != Scope::Pod, "{} is not a prefix", self.name);
        Name {
            entry: self,
            secret: Some(secret),
        }
    }

    const fn new(
        prefix: Prefix,
        scope: Scope,
        name: &'static str,
        kind: Kind,
        default: DefaultValue,
        doc: &'static str,
    ) -> Self {
        Annotation {
            name,
            prefix,
            scope,
            kind,
            default,
            support: Support::Supported,
            doc,
        }
    }

    const fn unread(self) -> Self {
        Annotation {
            support: Support::Unread,
            ..self
        }
    }
}

const fn vault(name: &'static str, kind: Kind, default: DefaultValue, doc: &'static str) -> Annotation {
    Annotation::new(Prefix::Vault, Scope::Pod, name, kind, default, doc)
}

const fn defines(name: &'static str, kind: Kind, default: DefaultValue, doc: &'static str) -> Annotation {
    Annotation::new(Prefix::Vault, Scope::DefinesSecret, name, kind, default, doc)
}

const fn per_secret(name: &'static str, kind: Kind, default: DefaultValue, doc: &'static str) -> Annotation {
    Annotation::new(Prefix::Vault, Scope::Secret, name, kind, default, doc)
}

const fn family(name: &'static str, kind: Kind, default: DefaultValue, doc: &'static str) -> Annotation {
    Annotation::new(Prefix::Vault, Scope::Family, name, kind, default, doc)
}

const fn ferrovault(name: &'static str, kind: Kind, default: DefaultValue, doc: &'static str) -> Annotation {
    Annotation::new(Prefix::Ferrovault, Scope::Pod, name, kind, default, doc)
}

const fn ferrovault_per_secret(
    name: &'static str,
    kind: Kind,
    default: DefaultValue,
    doc: &'static str,
) -> Annotation {
    Annotation::new(Prefix::Ferrovault, Scope::Secret, name, kind, default, doc)
}

const fn injector(flag: &'static str, value: fn(&InjectorDefaults) -> String) -> DefaultValue {
    DefaultValue::Injector {
        flag: Some(flag),
        value,
    }
}

/// The entry a key suffix (the part after `prefix`) belongs to, and what follows a prefix entry's
/// name (the secret or parameter). An exact [`Scope::Pod`] name wins, then the longest prefix.
pub fn find(prefix: Prefix, suffix: &str) -> Option<(&'static Annotation, Option<&str>)> {
    // Every annotation of every pod goes through here: a binary search over the exact names, then
    // the dozen prefixes, longest first.
    let index = &*INDEX;
    if let Ok(i) = index
        .exact
        .binary_search_by(|e| (e.prefix, e.name).cmp(&(prefix, suffix)))
    {
        return Some((index.exact[i], None));
    }
    index
        .prefixes
        .iter()
        .filter(|e| e.prefix == prefix)
        .find_map(|e| suffix.strip_prefix(e.name).map(|rest| (*e, Some(rest))))
}

/// [`ALL`] arranged for [`find`].
struct Index {
    /// The [`Scope::Pod`] entries, sorted by prefix and name.
    exact: Vec<&'static Annotation>,
    /// The other entries, longest name first (so that the longest matching prefix wins).
    prefixes: Vec<&'static Annotation>,
}

static INDEX: std::sync::LazyLock<Index> = std::sync::LazyLock::new(|| {
    let (mut exact, mut prefixes): (Vec<&'static Annotation>, Vec<&'static Annotation>) =
        ALL.iter().copied().partition(|e| e.scope == Scope::Pod);
    exact.sort_by_key(|e| (e.prefix, e.name));
    prefixes.sort_by_key(|e| std::cmp::Reverse(e.name.len()));
    Index { exact, prefixes }
});

/// The README's annotation table, as markdown.
pub fn markdown() -> String {
    let defaults = InjectorDefaults::default();
    let mut out = String::from("| Annotation | Value | Default | Effect |\n|---|---|---|---|\n");
    for e in ALL {
        let key = match (e.prefix, e.scope) {
            (Prefix::Ferrovault, Scope::Pod) => format!("{FERROVAULT_PREFIX}{}", e.name),
            (Prefix::Ferrovault, _) => format!("{FERROVAULT_PREFIX}{}<secret>", e.name),
            (_, Scope::Pod) => e.name.to_owned(),
            (_, Scope::Secret | Scope::DefinesSecret) => format!("{}<secret>", e.name),
            (_, Scope::Family) => format!("{}<param>", e.name),
        };
        let default = match e.default {
            DefaultValue::Unset => "—".to_owned(),
            DefaultValue::Fixed(v) => format!("`{v}`"),
            DefaultValue::Injector { flag, value } => {
                let v = value(&defaults);
                let v = if v.is_empty() {
                    "none".to_owned()
                } else {
                    format!("`{v}`")
                };
                match flag {
                    Some(flag) => format!("{v} (`{flag}`)"),
                    None => v,
                }
            }
            DefaultValue::Described(text) => text.to_owned(),
        };
        let effect = match e.support {
            Support::Supported | Support::Unread => e.doc.to_owned(),
        };
        let _ = writeln!(out, "| `{key}` | {} | {default} | {effect} |", kind_text(e.kind));
    }
    let _ = writeln!(
        out,
        "\nA key shown without a prefix is `{VAULT_PREFIX}<key>`, or `{OPENBAO_PREFIX}<key>` as an alias."
    );
    out
}

fn kind_text(kind: Kind) -> String {
    match kind {
        Kind::Bool => "bool".to_owned(),
        Kind::Duration => "Go duration (`90s`, `1m30s`)".to_owned(),
        Kind::VaultDuration => "seconds, days or Go duration (`30`, `1d`, `5m`)".to_owned(),
        Kind::Timeout => "seconds or Go duration".to_owned(),
        Kind::Quantity => "quantity (`250m`, `64Mi`; `\"\"` removes it)".to_owned(),
        Kind::Id => "integer ≥ 0".to_owned(),
        Kind::Count => "integer ≥ 0".to_owned(),
        Kind::Port => "port (1–65535)".to_owned(),
        Kind::Seconds => "seconds ≥ 0".to_owned(),
        Kind::Ratio => "number ≥ 0 (`0.75`)".to_owned(),
        Kind::Mode => "octal `000`–`0777`".to_owned(),
        Kind::JsonPatch => "JSON patch".to_owned(),
        Kind::Template => "template".to_owned(),
        Kind::Path => "path".to_owned(),
        Kind::File => "file name".to_owned(),
        Kind::Text => "string".to_owned(),
        Kind::Url => "URL".to_owned(),
        Kind::Name => "name".to_owned(),
        Kind::Names => "names, comma-separated".to_owned(),
        Kind::Command => "command (no shell)".to_owned(),
        Kind::Image => "image".to_owned(),
        Kind::OneOf(words) => one_of(words),
        Kind::AuthType => one_of(ferrovault_contract::INJECTABLE_AUTH_METHODS),
        Kind::Components => format!(
            "comma-separated: {}",
            one_of(ferrovault_contract::CONNECTION_COMPONENTS)
        ),
        Kind::LogLevel => "`trace`, `debug`, `info`, `warn`, `error`".to_owned(),
        Kind::EnvKeys => "keys, comma-separated (`DB_USER,DB_PASSWORD`)".to_owned(),
        Kind::SignalProcess => "signal and process name (`SIGHUP nginx`)".to_owned(),
        Kind::HttpTarget => "`[METHOD] http://127.0.0.1:PORT/PATH`".to_owned(),
        Kind::Argv => "JSON array (`[\"/bin/x\", \"arg\"]`)".to_owned(),
    }
}

fn one_of(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    quoted.join(", ")
}
