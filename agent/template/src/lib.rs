//! consul-template's dialect of Go `text/template` (and native handlebars templates), parsed and
//! rendered purely, within [`Limits`].
//!
//! API (stable; the agent and the webhook build on it):
//! - [`check`]: parse + validate only (the webhook calls it at admission).
//! - [`Compiled::compile`]: parse once; [`Compiled::static_dependencies`] lists the secrets whose paths
//!   are literals (to prefetch); [`Compiled::render`] renders with whatever data a [`DataSource`] has,
//!   returning [`Rendered::Incomplete`] with the dependencies still missing (the caller fetches them
//!   and renders again) or [`Rendered::Complete`] with the exact bytes Vault Agent would write.
//!
//! # Dialects
//!
//! Templates are consul-template's Go `text/template` dialect: the crate lexes and parses them
//! itself and executes the AST with Go's semantics (printing, missing keys, whitespace), because
//! translating to handlebars cannot reproduce those bytes exactly (standalone lines, HTML escaping,
//! operand-returning `and`/`or`, `map[…]` printing, nil-versus-missing errors).
//!
//! Native handlebars templates are rendered by the `handlebars` crate with the same functions and
//! data model (`{{#with (secret "kv/app")}}{{Data.password}}{{/with}}`, `go_print` prints like Go).
//! A template is native when its first line is exactly [`HANDLEBARS_MARKER`] (the line is dropped),
//! or when it is not valid Go template syntax but uses handlebars-only syntax (`{{#…}}`, `{{!…}}`,
//! `{{>…}}`, `{{^…}}`, `{{~…}}`, `{{{…}}}`) with the default delimiters and compiles as handlebars.
//! Native templates never HTML-escape and iterate maps in sorted key order; partials and decorators
//! are refused (the registry holds the one template, and a partial including itself never ends).
//!
//! # Limits
//!
//! Compiling and rendering stay within [`Limits`] (template size, nesting depth, steps, output size),
//! so that no template can overflow a 2 MiB thread stack, spin or exhaust memory.
//!
//! # Supported
//!
//! Every action of Go's `text/template` (`if`, `with`, `range` with `break`/`continue`, `else if`,
//! `else with`, `$x := …`, `$x = …`, `define`, `template`, `block`) and every function of OpenBao
//! 2.7.2's agent (consul-template) that needs neither Consul nor a process, file write or network,
//! plus a deterministic `sprig_*` set: the list is in `func.rs` and `sprig.rs` (and the README).
//!
//! # Not supported (compile-time error naming the construct)
//!
//! `plugin`, `writeToFile`, `executeTemplate`, `scratch`, `sockaddr`, `spew_*`, `toTOML`, `call`,
//! and the `sprig_*` functions not in `sprig.rs`.
//!
//! # Known differences from Go
//!
//! Numbers are JSON numbers, not Go's `json.Number` strings: they compare and compute as numbers
//! (`eq .Data.n 42` is true where Go reports incompatible types) and a zero is false in `if`.
//! `mergeMap` returns a copy (Go changes its first argument). `parseYAML` reads YAML 1.2 into
//! string-keyed maps (Go: YAML 1.1, typed keys).
//! Errors that happen while a dependency is still missing are not reported: the pass is
//! [`Rendered::Incomplete`] and the error, if real, surfaces once the data is there.

#![deny(missing_docs)]

mod collections;
mod exec;
mod func;
mod funcs;
mod lex;
mod native;
mod num;
mod ops;
mod parse;
mod printf;
mod sprig;
mod text;
mod util;
mod value;
mod yaml;

use std::collections::BTreeSet;

/// Bounds on the work one template may cause, so that no template (an annotation at admission, a
/// file in the agent) can overflow the stack, spin or exhaust memory. Every bound is far above what
/// real templates need; going past one is a [`TemplateError`] naming the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest template text, in bytes.
    pub max_template_bytes: usize,
    /// Deepest nesting of blocks (`if`/`with`/`range`, each `else if` counting as one more level,
    /// handlebars `{{#…}}`) and parentheses.
    pub max_depth: usize,
    /// Most execution steps of one render: nodes visited, functions called, range iterations and
    /// `loop` items.
    pub max_steps: u64,
    /// Largest rendered output, and largest string any function may return, in bytes.
    pub max_output_bytes: usize,
}

impl Limits {
    /// The defaults: 1 MiB of template text, nesting 100 deep, 10 million steps, 16 MiB of output.
    pub const DEFAULT: Limits = Limits {
        max_template_bytes: 1 << 20,
        max_depth: 100,
        max_steps: 10_000_000,
        max_output_bytes: 16 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The message of a render that hit a bug in the engine (a caught panic).
pub const INTERNAL_ERROR: &str = "internal error in the template engine (please report it)";

/// The error of a function in [`Compiled::deny`]'s list (consul-template's `function_denylist`).
pub const DENIED: &str = "function is disabled";

/// How errors about [`Limits::max_depth`] end.
pub(crate) const NESTING_LIMIT: &str = "(the nesting limit)";

/// First line marking a template as native handlebars (the line itself is not rendered).
pub const HANDLEBARS_MARKER: &str = "{{!-- handlebars --}}";

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

    /// An environment variable for `env`, `mustEnv` and `envOrDefault` (`None` when unset).
    ///
    /// The default reads the process environment; like OpenBao, an unset `BAO_…` name falls back to
    /// the matching `VAULT_…` variable.
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().or_else(|| {
            name.strip_prefix("BAO_")
                .and_then(|rest| std::env::var(format!("VAULT_{rest}")).ok())
        })
    }
}

impl<S: DataSource + ?Sized> DataSource for &S {
    fn get(&self, dep: &Dependency) -> Option<serde_json::Value> {
        (**self).get(dep)
    }

    fn env(&self, name: &str) -> Option<String> {
        (**self).env(name)
    }
}

/// A [`DataSource`] backed by a map (tests, tools, and callers that fetched everything up front).
impl DataSource for std::collections::BTreeMap<Dependency, serde_json::Value> {
    fn get(&self, dep: &Dependency) -> Option<serde_json::Value> {
        std::collections::BTreeMap::get(self, dep).cloned()
    }
}

/// A [`DataSource`] backed by a map (tests, tools, and callers that fetched everything up front).
impl DataSource for std::collections::HashMap<Dependency, serde_json::Value> {
    fn get(&self, dep: &Dependency) -> Option<serde_json::Value> {
        std::collections::HashMap::get(self, dep).cloned()
    }
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
    kind: Kind,
    limits: Limits,
    /// Functions that fail when called ([`Compiled::deny`]).
    denied: Vec<func::Func>,
}

#[derive(Debug)]
enum Kind {
    Go {
        src: String,
        tree: parse::Tree,
        error_on_missing_key: bool,
        static_deps: Vec<Dependency>,
    },
    Handlebars(native::Native),
}

impl Compiled {
    /// Parses and validates `src` under the default [`Limits`].
    pub fn compile(src: &TemplateSource<'_>) -> Result<Self, TemplateError> {
        Self::compile_with_limits(src, Limits::DEFAULT)
    }

    /// Parses and validates `src`; rendering it later stays within `limits`.
    pub fn compile_with_limits(src: &TemplateSource<'_>, limits: Limits) -> Result<Self, TemplateError> {
        if src.text.len() > limits.max_template_bytes {
            return Err(TemplateError {
                line: 1,
                column: 1,
                message: format!(
                    "the template is {} bytes, more than the limit of {} bytes",
                    src.text.len(),
                    limits.max_template_bytes
                ),
            });
        }
        let kind = if let Some(rest) = src.text.strip_prefix(HANDLEBARS_MARKER) {
            let rest = rest.strip_prefix("\r").unwrap_or(rest);
            let rest = rest.strip_prefix('\n').unwrap_or(rest);
            native::Native::compile(rest, &limits)
                .map(Kind::Handlebars)
                .map_err(|e| TemplateError {
                    // Report lines of the text as written, marker line included.
                    line: e.line + 1,
                    ..e
                })?
        } else {
            match Self::compile_go(src, &limits) {
                Ok(kind) => kind,
                Err(go_err) => {
                    let default_delims = src.left_delim == "{{" && src.right_delim == "}}";
                    if !default_delims || !looks_like_handlebars(src.text) {
                        return Err(go_err);
                    }
                    match native::Native::compile(src.text, &limits) {
                        Ok(n) => Kind::Handlebars(n),
                        // Too deep to parse as handlebars: say that, not what Go's parser saw.
                        Err(e) if e.message.ends_with(NESTING_LIMIT) => return Err(e),
                        Err(_) => return Err(go_err),
                    }
                }
            }
        };
        Ok(Self {
            kind,
            limits,
            denied: Vec::new(),
        })
    }

    /// Vault Agent's `function_denylist` (consul-template's): the functions named in `names` fail
    /// with [`DENIED`] when a render calls them, and what they would read is no longer prefetched
    /// ([`Compiled::static_dependencies`]). Names that are not functions of this engine are ignored,
    /// as consul-template ignores them; matching is exact (OpenBao's fork: no globs).
    pub fn deny(mut self, names: &[String]) -> Self {
        self.denied = names.iter().filter_map(|n| func::Func::lookup(n)).collect();
        self
    }

    /// Whether `dep` is read by a function in the deny list (so it must not be fetched).
    fn denied_dependency(&self, dep: &Dependency) -> bool {
        let func = match dep {
            Dependency::Read { .. } | Dependency::Write { .. } => func::Func::Secret,
            Dependency::List { .. } => func::Func::Secrets,
            Dependency::PkiCert { .. } => func::Func::PkiCert,
            Dependency::File { .. } => func::Func::File,
        };
        self.denied.contains(&func)
    }

    fn compile_go(src: &TemplateSource<'_>, limits: &Limits) -> Result<Kind, TemplateError> {
        let items = lex::lex(src.text, src.left_delim, src.right_delim)?;
        let tree = parse::parse(src.text, items, limits.max_depth)?;
        let static_deps = exec::static_dependencies(&tree);
        Ok(Kind::Go {
            src: src.text.to_owned(),
            tree,
            error_on_missing_key: src.error_on_missing_key,
            static_deps,
        })
    }

    /// Dependencies whose arguments are all literals, in a stable order (prefetch them).
    pub fn static_dependencies(&self) -> Vec<Dependency> {
        let all = match &self.kind {
            Kind::Go { static_deps, .. } => static_deps.clone(),
            Kind::Handlebars(n) => n.static_dependencies().to_vec(),
        };
        all.into_iter().filter(|d| !self.denied_dependency(d)).collect()
    }

    /// True when the template is rendered as native handlebars rather than Go template syntax.
    pub fn is_handlebars(&self) -> bool {
        matches!(self.kind, Kind::Handlebars(_))
    }

    /// Renders once with the data `data` has.
    ///
    /// A bug in the engine (a panic) is caught and reported as an error naming no data, so that one
    /// template cannot take the agent down.
    pub fn render(&self, data: &dyn DataSource) -> Result<Rendered, TemplateError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.render_unguarded(data))).unwrap_or_else(
            |_| {
                Err(TemplateError {
                    line: 1,
                    column: 1,
                    message: INTERNAL_ERROR.to_owned(),
                })
            },
        )
    }

    fn render_unguarded(&self, data: &dyn DataSource) -> Result<Rendered, TemplateError> {
        match &self.kind {
            Kind::Go {
                src,
                tree,
                error_on_missing_key,
                ..
            } => {
                let mut exec = exec::Exec::new(src, &tree.defs, *error_on_missing_key, data, &self.limits);
                exec.denied = self.denied.as_slice();
                let result = exec.walk(&tree.nodes, &value::Val::Invalid);
                if !exec.missing.is_empty() {
                    // An error may come from the missing data itself; report it once data is there.
                    return Ok(Rendered::Incomplete {
                        missing: exec.missing,
                    });
                }
                result?;
                Ok(Rendered::Complete(exec.out.into_bytes()))
            }
            Kind::Handlebars(n) => n.render(data, &self.limits, &self.denied),
        }
    }
}

/// Handlebars-only syntax that Go templates cannot contain.
fn looks_like_handlebars(text: &str) -> bool {
    ["{{#", "{{!", "{{>", "{{^", "{{~", "{{{"]
        .iter()
        .any(|p| text.contains(p))
}

/// Parse-time check only (no data) under the default [`Limits`]: what the webhook runs at admission.
pub fn check(src: &TemplateSource<'_>) -> Result<(), TemplateError> {
    Compiled::compile(src).map(|_| ())
}
