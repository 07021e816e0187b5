//! Runtime values and Go's printing rules (`fmt.Print`, `encoding/json`).

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Field names of Vault's `api.Secret`, the struct `secret` returns (in declaration order).
pub(crate) const SECRET_FIELDS: [&str; 8] = [
    "RequestID",
    "LeaseID",
    "LeaseDuration",
    "Renewable",
    "Data",
    "Warnings",
    "Auth",
    "WrapInfo",
];

/// Field names of the struct `pkiCert` returns.
pub(crate) const CERT_FIELDS: [&str; 5] = ["Cert", "Key", "CA", "CAChain", "Data"];

/// A value during execution. JSON `null` is Go's nil interface.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    /// Go's invalid `reflect.Value` (nil data, a nil pipeline result): prints `<no value>`.
    Invalid,
    /// A dependency without data in this pass: false, empty, and contagious.
    Pending,
    /// Plain data.
    Json(Value),
    /// `secret`'s struct: only [`SECRET_FIELDS`] exist.
    Secret(Value),
    /// `pkiCert`'s struct: only [`CERT_FIELDS`] exist.
    Cert(Value),
}

impl Val {
    /// Go's `isTrue`.
    /// The JSON inside (`null` for nil and pending values).
    pub(crate) fn json(&self) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Val::Json(v) | Val::Secret(v) | Val::Cert(v) => v,
            Val::Invalid | Val::Pending => &NULL,
        }
    }

    pub(crate) fn truth(&self) -> bool {
        match self {
            Val::Invalid | Val::Pending => false,
            Val::Secret(_) | Val::Cert(_) => true,
            Val::Json(v) => json_truth(v),
        }
    }

    /// The value handed to a function parameter of type `interface{}` (invalid becomes nil).
    pub(crate) fn into_json(self) -> Value {
        match self {
            Val::Invalid | Val::Pending => Value::Null,
            Val::Json(v) | Val::Secret(v) | Val::Cert(v) => v,
        }
    }

    /// Go's "dig down one level" after each pipeline command: a nil interface becomes invalid.
    pub(crate) fn settle(self) -> Val {
        match self {
            Val::Json(Value::Null) => Val::Invalid,
            other => other,
        }
    }

    /// The Go type name used in messages (never the value).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Invalid | Val::Pending => "<nil>",
            Val::Secret(_) => "*dependency.Secret",
            Val::Cert(_) => "dependency.PemEncoded",
            Val::Json(v) => json_type_name(v),
        }
    }
}

/// Go truthiness of a JSON value: false, 0, nil and empty strings, lists and maps are false.
pub(crate) fn json_truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// The Go type a JSON value decodes to (numbers from Vault are `json.Number`).
pub(crate) fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The default of a struct field that the fetcher left out.
pub(crate) fn struct_field_default(name: &str) -> Value {
    match name {
        "RequestID" | "LeaseID" | "Cert" | "Key" | "CA" => Value::String(String::new()),
        "LeaseDuration" => Value::from(0),
        "Renewable" => Value::Bool(false),
        "Data" => Value::Object(Map::new()),
        _ => Value::Null,
    }
}

/// Prints a value the way Go's template engine prints an action's result.
pub(crate) fn print_val(out: &mut String, v: &Val) {
    match v {
        Val::Invalid => out.push_str("<no value>"),
        Val::Pending => {}
        Val::Json(Value::Null) => out.push_str("<no value>"),
        Val::Json(v) => print_json(out, v),
        Val::Secret(v) => print_struct(out, v, &SECRET_FIELDS),
        Val::Cert(v) => print_struct(out, v, &CERT_FIELDS),
    }
}

/// `fmt.Print` of a value inside an operand (nil is `<nil>`).
pub(crate) fn print_operand(out: &mut String, v: &Val) {
    match v {
        Val::Invalid | Val::Json(Value::Null) => out.push_str("<nil>"),
        other => print_val(out, other),
    }
}

fn print_struct(out: &mut String, v: &Value, fields: &[&str]) {
    out.push_str("&{");
    for (i, name) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match (v.get(*name), *name) {
            // Go prints a nil slice as `[]` and a nil map as `map[]`.
            (None | Some(Value::Null), "Warnings" | "CAChain") => out.push_str("[]"),
            (None | Some(Value::Null), "Data") => out.push_str("map[]"),
            (Some(field), _) => print_json(out, field),
            (None, _) => print_json(out, &struct_field_default(name)),
        }
    }
    out.push('}');
}

/// `fmt.Print` rules: strings raw, numbers as text, `[a b]`, `map[k:v]` with sorted keys, `<nil>`.
pub(crate) fn print_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            // Go prints float64 with %v (`5`, `1.5`, `1e+06`); integers as they are.
            Some(f) if n.is_f64() => out.push_str(&crate::num::go_float_g(f, None)),
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            for (i, (k, item)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                print_json(out, item);
            }
            out.push(']');
        }
    }
}

/// Map entries in Go's order (sorted keys), whatever `serde_json`'s map order is.
pub(crate) fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

/// A copy of `v` whose maps iterate in sorted key order (for handlebars' `{{#each}}`).
pub(crate) fn sorted_deep(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(sorted_deep).collect()),
        Value::Object(map) => Value::Object(
            sorted_entries(map)
                .into_iter()
                .map(|(k, item)| (k.clone(), sorted_deep(item)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// How [`write_json`] lays out its output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonStyle {
    /// `MarshalIndent(v, "", "  ")` instead of compact.
    pub pretty: bool,
    /// Escape `<`, `>` and `&` as Go's encoder does by default.
    pub escape_html: bool,
}

/// Go's `encoding/json` output: sorted keys, Go's string escaping.
pub(crate) fn write_json(out: &mut String, v: &Value, style: JsonStyle, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{}", json_number(n));
        }
        Value::String(s) => write_json_string(out, s, style.escape_html),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, style, depth + 1);
                write_json(out, item, style, depth + 1);
            }
            newline_indent(out, style, depth);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, item)) in sorted_entries(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline_indent(out, style, depth + 1);
                write_json_string(out, k, style.escape_html);
                out.push(':');
                if style.pretty {
                    out.push(' ');
                }
                write_json(out, item, style, depth + 1);
            }
            newline_indent(out, style, depth);
            out.push('}');
        }
    }
}

/// Go's `encoding/json` of a struct value: fields in declaration order, not sorted.
pub(crate) fn write_struct_json(out: &mut String, v: &Value, fields: &[&str], style: JsonStyle) {
    out.push('{');
    for (i, name) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline_indent(out, style, 1);
        write_json_string(out, name, style.escape_html);
        out.push(':');
        if style.pretty {
            out.push(' ');
        }
        match v.get(*name) {
            Some(field) => write_json(out, field, style, 1),
            None => write_json(out, &struct_field_default(name), style, 1),
        }
    }
    newline_indent(out, style, 0);
    out.push('}');
}

fn json_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        // Go writes integral floats without a fraction ("3", not "3.0").
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f}"),
        _ => n.to_string(),
    }
}

fn newline_indent(out: &mut String, style: JsonStyle, depth: usize) {
    if style.pretty {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
}

fn write_json_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Steps a value weighs against [`crate::Limits::max_steps`] when a function takes or returns it:
/// its length (lists, maps) or one per 64 bytes (strings).
pub(crate) fn cost(v: &Value) -> u64 {
    match v {
        Value::String(s) => (s.len() / 64) as u64,
        Value::Array(a) => a.len() as u64,
        Value::Object(m) => m.len() as u64,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn printed(v: Value) -> String {
        let mut out = String::new();
        print_val(&mut out, &Val::Json(v));
        out
    }

    #[test]
    fn go_print_rules() {
        assert_eq!(printed(json!("s")), "s");
        assert_eq!(printed(json!(42)), "42");
        assert_eq!(printed(json!(["x", "y"])), "[x y]");
        assert_eq!(
            printed(json!({"b": 1, "a": "z", "n": null})),
            "map[a:z b:1 n:<nil>]"
        );
        assert_eq!(printed(Value::Null), "<no value>");
    }

    #[test]
    fn json_is_go_like() {
        let mut out = String::new();
        let style = JsonStyle {
            pretty: false,
            escape_html: true,
        };
        write_json(&mut out, &json!({"b": "<&>", "a": [1.0, 2.5]}), style, 0);
        assert_eq!(out, r#"{"a":[1,2.5],"b":"\u003c\u0026\u003e"}"#);
    }
}
