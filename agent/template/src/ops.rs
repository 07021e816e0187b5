//! Go's operators and string helpers behind the functions: numbers and arithmetic, comparison,
//! `strings.ReplaceAll`/`Title`, HTML and query escaping, range items.

use serde_json::Value;

use crate::func::Func;
pub(crate) use crate::num::{Num, num};
use crate::printf::go_sprint;
use crate::value::{Val, sorted_entries};

pub(crate) fn go_sprint_args(args: &[Val]) -> String {
    go_sprint(args)
}

pub(crate) fn arith(f: Func, a: Num, b: Num) -> Result<Num, String> {
    if let (Num::I(a), Num::I(b)) = (a, b) {
        let r = match f {
            Func::Add => a.checked_add(b),
            Func::Subtract => a.checked_sub(b),
            Func::Multiply => a.checked_mul(b),
            Func::Divide if b == 0 => return Err("division by zero".into()),
            Func::Divide => a.checked_div(b),
            Func::Modulo if b == 0 => return Err("division by zero".into()),
            Func::Modulo => a.checked_rem(b),
            Func::Minimum => Some(a.min(b)),
            _ => Some(a.max(b)),
        };
        return r.map(Num::I).ok_or_else(|| "integer overflow".to_owned());
    }
    let (a, b) = (a.f(), b.f());
    Ok(Num::F(match f {
        Func::Add => a + b,
        Func::Subtract => a - b,
        Func::Multiply => a * b,
        Func::Divide if b == 0.0 => return Err("division by zero".into()),
        Func::Divide => a / b,
        Func::Modulo => return Err("modulo needs integers".into()),
        Func::Minimum => a.min(b),
        _ => a.max(b),
    }))
}

/// Go's `eq` for two basic values.
pub(crate) fn compare_eq(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Null, Value::Null) => Ok(true),
        (Value::Null, _) | (_, Value::Null) => Ok(false),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::String(x), Value::String(y)) => Ok(x == y),
        (Value::Number(_), Value::Number(_)) => Ok(compare_ord(a, b)?.is_eq()),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Err("non-comparable type".into())
        }
        _ => Err("incompatible types for comparison".into()),
    }
}

/// Go's `lt` family: numbers with numbers, strings with strings.
pub(crate) fn compare_ord(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => match (num(a), num(b)) {
            (Some(Num::I(x)), Some(Num::I(y))) => Ok(x.cmp(&y)),
            (Some(x), Some(y)) => x
                .f()
                .partial_cmp(&y.f())
                .ok_or_else(|| "invalid number".to_owned()),
            _ => Err("invalid number".into()),
        },
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            Err("incompatible types for comparison".into())
        }
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's `strings.ReplaceAll` (an empty `from` inserts `to` around every character).
pub(crate) fn go_replace_all(s: &str, from: &str, to: &str) -> String {
    if !from.is_empty() {
        return s.replace(from, to);
    }
    let mut out = String::from(to);
    for c in s.chars() {
        out.push(c);
        out.push_str(to);
    }
    out
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of each word.
pub(crate) fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Items of a value as `range` sees them: (key or index, element), maps in sorted key order.
pub(crate) fn range_items(v: &Value) -> Option<Vec<(Value, Value)>> {
    match v {
        Value::Array(items) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e.clone()))
                .collect(),
        ),
        Value::Object(m) => Some(
            sorted_entries(m)
                .into_iter()
                .map(|(k, e)| (Value::String(k.clone()), e.clone()))
                .collect(),
        ),
        Value::Number(n) => n
            .as_i64()
            .map(|n| (0..n.max(0)).map(|i| (Value::from(i), Value::from(i))).collect()),
        Value::Null => Some(Vec::new()),
        _ => None,
    }
}
