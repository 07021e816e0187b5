//! consul-template's dialect of Go `text/template`, compiled to handlebars and rendered purely.
//!
//! API (stable; the agent and the webhook build on it):
//! - [`check`]: parse + validate only (the webhook calls it at admission).
//! - [`Compiled::compile`]: parse once; [`Compiled::static_dependencies`] lists the secrets whose paths
//!   are literals (to prefetch); [`Compiled::render`] renders with whatever data a [`DataSource`] has,
//!   returning [`Rendered::Incomplete`] with the dependencies still missing (the caller fetches them
//!   and renders again) or [`Rendered::Complete`] with the exact bytes Vault Agent would write.

use std::collections::BTreeSet;

/// Where a template's text comes from, with its settings.
#[derive(Debug, Clone, Copy)]
pub struct TemplateSource<'a> {
    /// The template text.
    pub text: &'a str,
    /// Left delimiter (`{{` by default).
    pub left_delim: &'a str,
    /// Right delimiter (`}}` by default).
    pub right_delim: &'a str,
    /// A missing map key is an error instead of `<no value>`.
    pub error_on_missing_key: bool,
}

impl<'a> TemplateSource<'a> {
    /// A template with default delimiters and `<no value>` for missing keys.
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            left_delim: "{{",
            right_delim: "}}",
            error_on_missing_key: false,
        }
    }
}

/// A piece of data a template needs from Vault (or the filesystem).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    /// `secret "path"`: a GET (KV v2 `data/` insertion is the fetcher's job).
    Read {
        /// Path as written, trimmed of spaces and surrounding `/`.
        path: String,
    },
    /// `secret "path" "k=v" …`: a PUT with string values (e.g. `pki/issue/role`).
    Write {
        /// Path as written.
        path: String,
        /// Arguments split on the first `=`, both sides trimmed, sorted by key.
        args: Vec<(String, String)>,
    },
    /// `secrets "path"`: a LIST.
    List {
        /// Path as written.
        path: String,
    },
    /// `pkiCert "path" "k=v" …`: a certificate bound to the template's destination.
    PkiCert {
        /// Path as written.
        path: String,
        /// Arguments as for [`Dependency::Write`].
        args: Vec<(String, String)>,
    },
    /// `file "path"`: a local file's contents.
    File {
        /// The file path.
        path: String,
    },
}

/// Supplies fetched data to a render.
///
/// Values: `Read`/`Write` → a JSON object with Vault's secret struct fields (`RequestID`, `LeaseID`,
/// `LeaseDuration`, `Renewable`, `Data` = the raw API `data`, `Warnings`, `Auth`, `WrapInfo`);
/// `List` → a JSON array of key names; `PkiCert` → `{Cert, Key, CA, CAChain, Data: {same}}`;
/// `File` → a JSON string.
pub trait DataSource {
    /// The data for `dep`, or `None` when it has not been fetched yet.
    fn get(&self, dep: &Dependency) -> Option<serde_json::Value>;
}

/// Result of one render pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    /// Every dependency was available: the exact bytes to write.
    Complete(Vec<u8>),
    /// Some dependencies had no data; nothing must be written. Fetch these and render again.
    Incomplete {
        /// The dependencies that were missing in this pass.
        missing: BTreeSet<Dependency>,
    },
}

/// A template problem. Messages name the line, column and construct; never a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    /// 1-based line in the template text.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed template, ready to render many times.
#[derive(Debug)]
pub struct Compiled {
    _private: (),
}

impl Compiled {
    /// Parses and validates `src`.
    pub fn compile(src: &TemplateSource<'_>) -> Result<Self, TemplateError> {
        let _ = src;
        Err(TemplateError {
            line: 1,
            column: 1,
            message: "template engine not implemented yet".into(),
        })
    }

    /// Dependencies whose arguments are all literals, in a stable order (prefetch them).
    pub fn static_dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }

    /// Renders once with the data `data` has.
    pub fn render(&self, data: &dyn DataSource) -> Result<Rendered, TemplateError> {
        let _ = data;
        Ok(Rendered::Incomplete {
            missing: BTreeSet::new(),
        })
    }
}

/// Parse-time check only (no data): what the webhook runs at admission.
pub fn check(src: &TemplateSource<'_>) -> Result<(), TemplateError> {
    Compiled::compile(src).map(|_| ())
}
