//! consul-template's functions over lists and maps: `in`/`contains` and the `containsAll` family,
//! `explodeMap`, `mergeMap` and `mergeMapWithOverride` (imdario/mergo's rules).

use serde_json::{Map, Value};

use crate::value::sorted_entries;

/// consul-template's `in(l, v)`: a substring of a string, or an element of a list (strings with
/// strings, numbers with numbers). Anything else is not found (never an error).
pub(crate) fn go_in(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
        (Value::Array(items), _) => items.iter().any(|i| match (i, needle) {
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Number(_), Value::Number(_)) => crate::ops::compare_eq(i, needle).unwrap_or(false),
            _ => false,
        }),
        _ => false,
    }
}

/// `containsAll`, `containsAny`, `containsNone`, `containsNotAll`: `needles` checked with `in`
/// against `haystack`.
pub(crate) fn contains_some(needles: &[Value], haystack: &Value, ret_true: bool, invert: bool) -> bool {
    for n in needles {
        if go_in(haystack, n) != invert {
            return !ret_true;
        }
    }
    ret_true
}

/// Most `/`-separated levels one `explodeMap` key may have (deeper values could not be printed
/// without overflowing the stack).
const MAX_LEVELS: usize = 100;

/// `explodeMap`: `{"a/b": 1}` becomes `{"a": {"b": 1}}`, keys taken in sorted order.
pub(crate) fn explode_map(m: &Map<String, Value>) -> Result<Value, String> {
    let mut out = Map::new();
    for (key, v) in sorted_entries(m) {
        if key.matches('/').count() >= MAX_LEVELS {
            return Err(format!(
                "a key has more than {MAX_LEVELS} levels (the nesting limit)"
            ));
        }
        let mut cur = &mut out;
        let mut rest = key.as_str();
        while let Some((top, tail)) = rest.split_once('/') {
            let nest = cur
                .entry(top.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(nest) = nest else {
                return Err("a key is both a value and a map".to_owned());
            };
            cur = nest;
            rest = tail;
        }
        if !rest.is_empty() {
            cur.insert(rest.to_owned(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

/// mergo's `isEmptyValue` for the values templates hold.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// `mergeMap dst src` (`mergo.Map`): keys of `src` that `dst` lacks, or has empty, are added; maps
/// under the same key merge recursively. With `overwrite` (`mergeMapWithOverride`) `src` wins.
/// Unlike Go, the arguments are not modified.
pub(crate) fn merge_map(dst: &mut Map<String, Value>, src: &Map<String, Value>, overwrite: bool) {
    for (k, sv) in src {
        if sv.is_null() {
            if overwrite {
                dst.insert(k.clone(), Value::Null);
            }
            continue;
        }
        let dv = dst.get_mut(k);
        if let (Some(Value::Object(d)), Value::Object(s)) = (dv, sv) {
            merge_map(d, s, overwrite);
        }
        let dv = dst.get(k);
        let present = dv.is_some_and(|d| !is_empty(d));
        if present && matches!(sv, Value::Object(_) | Value::Array(_)) {
            if overwrite && matches!(sv, Value::Array(_)) {
                dst.insert(k.clone(), sv.clone());
            }
            continue;
        }
        if overwrite || !present {
            dst.insert(k.clone(), sv.clone());
        }
    }
}
