//! HCL text → a small tree of [`Node`]s with line numbers: the only place that knows `hcl-edit`.
//!
//! Vault Agent reads its config with HCL 1, where a block `name { … }` and an attribute
//! `name = { … }` mean the same, and a repeated block is a list. The tree keeps that view: a body
//! or an object is an [`Kind::Object`] of entries in source order, each with its labels.

use hcl_edit::Span as _;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Body, Structure};
use hcl_edit::template::{Element, Template};

use super::HclError;

/// A value and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub line: usize,
    pub kind: Kind,
}

/// What a value is. Numbers keep their source text (`0640` is octal in HCL 1).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
    List(Vec<Node>),
    Object(Vec<Entry>),
}

/// `key "label" … { … }` or `key = value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub labels: Vec<String>,
    pub node: Node,
}

/// Line numbers of byte offsets: the start of every line, found once, then a binary search per
/// lookup (a count from the file start per value was quadratic: a 900 KB one-line list took minutes).
struct Lines {
    /// Byte offset of the first byte after each `\n`.
    starts: Vec<usize>,
    len: usize,
}

impl Lines {
    fn new(text: &str) -> Self {
        Self {
            starts: line_starts(text),
            len: text.len(),
        }
    }

    fn of(&self, span: Option<std::ops::Range<usize>>) -> usize {
        let at = span.map_or(0, |r| r.start).min(self.len);
        // lines that start at or before `at`, plus the first line
        self.starts.partition_point(|s| *s <= at) + 1
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    text.bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i + 1)
        .collect()
}

/// Parses `text` (HCL, or JSON as Vault Agent also reads) into the root object.
pub(crate) fn parse(text: &str) -> Result<Node, HclError> {
    if text.len() > super::MAX_FILE_BYTES {
        return Err(HclError {
            line: 0,
            block: String::new(),
            message: format!(
                "the file is {} bytes, more than the {} bytes (1 MiB, a ConfigMap's limit) ferrovault reads",
                text.len(),
                super::MAX_FILE_BYTES
            ),
        });
    }
    if text.trim_start().starts_with('{') {
        return json(text);
    }
    let text = &unquote_keys(text);
    let body = hcl_edit::parser::parse_body(text).map_err(|e| HclError {
        line: e.location().line(),
        block: String::new(),
        message: format!(
            "not valid HCL (column {}): {} (ferrovault reads HCL 2 syntax, plus HCL 1's quoted keys: put each \
             attribute and nested block of a block on a line of its own)",
            e.location().column(),
            e.message()
        ),
    })?;
    let lines = Lines::new(text);
    Ok(Node {
        line: 1,
        kind: Kind::Object(body_entries(&body, &lines, text)?),
    })
}

fn body_entries(body: &Body, lines: &Lines, text: &str) -> Result<Vec<Entry>, HclError> {
    body.iter()
        .map(|structure| match structure {
            Structure::Attribute(attr) => Ok(Entry {
                key: attr.key.as_str().to_owned(),
                labels: Vec::new(),
                node: expression(&attr.value, lines, text, attr.key.as_str())?,
            }),
            Structure::Block(block) => Ok(Entry {
                key: block.ident.as_str().to_owned(),
                labels: block.labels.iter().map(|l| l.as_str().to_owned()).collect(),
                node: Node {
                    line: lines.of(block.span()),
                    kind: Kind::Object(body_entries(&block.body, lines, text)?),
                },
            }),
        })
        .collect()
}

fn expression(expr: &Expression, lines: &Lines, text: &str, key: &str) -> Result<Node, HclError> {
    let line = lines.of(expr.span());
    let kind = match expr {
        Expression::Null(_) => Kind::Null,
        Expression::Bool(b) => Kind::Bool(*b.value()),
        Expression::Number(n) => Kind::Num(
            expr.span()
                .and_then(|r| text.get(r))
                .map_or_else(|| n.value().to_string(), |raw| raw.trim().to_owned()),
        ),
        Expression::String(s) => Kind::Str(s.value().clone()),
        Expression::StringTemplate(t) => Kind::Str(literal(t, line, key)?),
        Expression::HeredocTemplate(h) => Kind::Str(literal(&h.template, line, key)?),
        Expression::Array(items) => Kind::List(
            items
                .iter()
                .map(|item| expression(item, lines, text, key))
                .collect::<Result<_, _>>()?,
        ),
        Expression::Object(object) => Kind::Object(
            object
                .iter()
                .map(|(k, v)| {
                    let name = match k {
                        ObjectKey::Ident(ident) => ident.as_str().to_owned(),
                        ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                        ObjectKey::Expression(_) => {
                            return Err(HclError {
                                line,
                                block: key.to_owned(),
                                message: "an object key must be a name or a quoted string".to_owned(),
                            });
                        }
                    };
                    Ok(Entry {
                        node: expression(v.expr(), lines, text, &name)?,
                        key: name,
                        labels: Vec::new(),
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Expression::Parenthesis(inner) => return expression(inner.inner(), lines, text, key),
        _ => {
            return Err(HclError {
                line,
                block: key.to_owned(),
                message:
                    "only literal values (strings, numbers, booleans, lists, objects) are accepted: Vault \
                          Agent's config has no variables, functions or operators"
                        .to_owned(),
            });
        }
    };
    Ok(Node { line, kind })
}

/// The text of a template without interpolations. HCL 1 (Vault Agent's parser) keeps `${…}` as
/// text; HCL 2 would evaluate it, so it is refused rather than read differently.
fn literal(template: &Template, line: usize, key: &str) -> Result<String, HclError> {
    let mut out = String::new();
    for element in template.iter() {
        match element {
            Element::Literal(s) => out.push_str(s.value()),
            _ => {
                return Err(HclError {
                    line,
                    block: key.to_owned(),
                    message:
                        "`${…}` and `%{…}` are HCL 2 interpolations, which Vault Agent's HCL 1 reads as \
                              text: write `$${` or `%%{` for the literal characters"
                            .to_owned(),
                });
            }
        }
    }
    Ok(out)
}

/// HCL 1 (Vault Agent's parser, and vault-k8s's documented examples) differs from HCL 2 in two ways
/// configs use: keys may be quoted at the start of an entry (`"auto_auth" = { … }`), and `key = {`
/// opens a body that may hold nested blocks (`method "kubernetes" { … }`), as `key {` does. This
/// rewrites such entries into HCL 2 blocks — `"auto_auth" = {` (ending its line) becomes
/// `auto_auth    {` — and unquotes other quoted names before `=` or `{`, padding with spaces so lines
/// and columns stay put. Strings, heredocs and comments are never changed.
fn unquote_keys(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // at the start of an entry: only white space since the file start, a newline, `{` or `,`
    let mut entry_start = true;
    while i < b.len() {
        let c = b[i];
        if entry_start && let Some((name, after, quoted)) = entry_key(text, i) {
            let eq = skip_blanks(text, after);
            let brace = skip_blanks(text, eq + 1);
            if text[eq..].starts_with('=') && text[brace..].starts_with('{') && line_ends(text, brace + 1) {
                out.push_str(name);
                out.push_str(&" ".repeat(brace - i - name.len()));
                i = brace;
            } else if quoted && (text[eq..].starts_with('=') || text[eq..].starts_with('{')) {
                out.push_str(name);
                out.push_str(&" ".repeat(after - i - name.len()));
                i = after;
            } else {
                out.push_str(&text[i..after]);
                i = after;
            }
            entry_start = false;
            continue;
        }
        match c {
            b'"' => {
                let end = string_end(b, i);
                out.push_str(&text[i..end]);
                i = end;
                entry_start = false;
                continue;
            }
            b'#' => i = push_until(&mut out, text, i, "\n"),
            b'/' if b.get(i + 1) == Some(&b'/') => i = push_until(&mut out, text, i, "\n"),
            b'/' if b.get(i + 1) == Some(&b'*') => i = push_through(&mut out, text, i, "*/"),
            b'<' if b.get(i + 1) == Some(&b'<') => {
                // heredoc: `<<EOT` or `<<-EOT` up to a line holding only the delimiter
                let start = i + 2 + usize::from(b.get(i + 2) == Some(&b'-'));
                let delim_end = text[start..].find(['\n', '\r']).map_or(text.len(), |n| start + n);
                let delim = text[start..delim_end].trim();
                let mut j = delim_end;
                while j < b.len() {
                    let line_end = text[j + 1..].find('\n').map_or(text.len(), |n| j + 1 + n);
                    if text[(j + 1).min(text.len())..line_end].trim() == delim {
                        j = line_end;
                        break;
                    }
                    j = line_end;
                }
                out.push_str(&text[i..j.min(text.len())]);
                i = j.min(text.len());
                entry_start = false;
                continue;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
                if c == b'\n' || c == b'{' || c == b',' {
                    entry_start = true;
                } else if !c.is_ascii_whitespace() {
                    entry_start = false;
                }
                continue;
            }
        }
        entry_start = true;
    }
    out
}

/// A name at `i` (a quoted plain name or an identifier): the name, the index after it, quoted or not.
fn entry_key(text: &str, i: usize) -> Option<(&str, usize, bool)> {
    let is_name = |s: &str| {
        s.bytes()
            .next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == b'_')
            && s.bytes()
                .all(|x| x.is_ascii_alphanumeric() || x == b'_' || x == b'-')
    };
    if text[i..].starts_with('"') {
        let end = string_end(text.as_bytes(), i);
        let inner = text.get(i + 1..end.checked_sub(1)?)?;
        return (end > i + 1 && text.as_bytes()[end - 1] == b'"' && is_name(inner))
            .then_some((inner, end, true));
    }
    let len = text[i..]
        .bytes()
        .take_while(|x| x.is_ascii_alphanumeric() || *x == b'_' || *x == b'-')
        .count();
    let name = &text[i..i + len];
    is_name(name).then_some((name, i + len, false))
}

fn skip_blanks(text: &str, from: usize) -> usize {
    let from = from.min(text.len());
    from + text[from..]
        .bytes()
        .take_while(|x| *x == b' ' || *x == b'\t')
        .count()
}

/// Whether nothing but blanks or a comment follows `from` on its line.
fn line_ends(text: &str, from: usize) -> bool {
    let rest = &text[skip_blanks(text, from)..];
    rest.is_empty() || rest.starts_with(['\n', '\r', '#']) || rest.starts_with("//")
}

/// Index after the closing quote of the string starting at `start` (or the end of the text).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

fn push_until(out: &mut String, text: &str, from: usize, end: &str) -> usize {
    let to = text[from..].find(end).map_or(text.len(), |n| from + n);
    out.push_str(&text[from..to]);
    to
}

fn push_through(out: &mut String, text: &str, from: usize, end: &str) -> usize {
    let to = text[from + 2..]
        .find(end)
        .map_or(text.len(), |n| from + 2 + n + end.len());
    out.push_str(&text[from..to]);
    to
}

/// A JSON config (Vault Agent reads JSON too; vault-k8s writes its generated configs so). Without
/// line numbers: errors name the block.
fn json(text: &str) -> Result<Node, HclError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| HclError {
        line: e.line(),
        block: String::new(),
        message: format!("not valid JSON: {e}"),
    })?;
    fn node(v: &serde_json::Value) -> Node {
        use serde_json::Value as V;
        let kind = match v {
            V::Null => Kind::Null,
            V::Bool(b) => Kind::Bool(*b),
            V::Number(n) => Kind::Num(n.to_string()),
            V::String(s) => Kind::Str(s.clone()),
            V::Array(items) => Kind::List(items.iter().map(node).collect()),
            V::Object(map) => Kind::Object(
                map.iter()
                    .map(|(k, v)| Entry {
                        key: k.clone(),
                        labels: Vec::new(),
                        node: node(v),
                    })
                    .collect(),
            ),
        };
        Node { line: 0, kind }
    }
    Ok(node(&value))
}
