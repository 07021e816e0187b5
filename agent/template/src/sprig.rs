//! The `sprig_*` functions (Masterminds/sprig v3.2.3, as consul-template exposes them) that are
//! pure and deterministic. Time, randomness, crypto, network, path and reflection helpers are not
//! offered; see the crate documentation for the list.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::value::{Val, go_quote, print_json};

/// A supported sprig function (its template name is `sprig_` + the name in [`TABLE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sprig {
    Default,
    Empty,
    Coalesce,
    Ternary,
    Upper,
    Lower,
    Title,
    Trim,
    TrimAll,
    TrimPrefix,
    TrimSuffix,
    Contains,
    HasPrefix,
    HasSuffix,
    Quote,
    Squote,
    Replace,
    Repeat,
    Trunc,
    Nospace,
    Indent,
    Nindent,
    B64enc,
    B64dec,
    Sha256sum,
    ToString,
    SplitList,
    Join,
    List,
    First,
    Last,
    Has,
    Dict,
    Get,
    HasKey,
    Atoi,
    Add,
    Sub,
    Mul,
    RegexMatch,
    RegexReplaceAll,
    Append,
    Prepend,
    Rest,
    Initial,
    Reverse,
    Compact,
    Uniq,
    Without,
    SortAlpha,
    Keys,
    Pick,
    Omit,
    ToJson,
    ToPrettyJson,
    ToRawJson,
    FromJson,
    Max,
    Min,
    Div,
    Mod,
    Int,
    Until,
    Plural,
    Substr,
    Cat,
}

/// Name (without `sprig_`), function, minimum and maximum argument count.
pub(crate) const TABLE: &[(&str, Sprig, usize, Option<usize>)] = &[
    ("sprig_default", Sprig::Default, 1, None),
    ("sprig_empty", Sprig::Empty, 1, Some(1)),
    ("sprig_coalesce", Sprig::Coalesce, 0, None),
    ("sprig_ternary", Sprig::Ternary, 3, Some(3)),
    ("sprig_upper", Sprig::Upper, 1, Some(1)),
    ("sprig_lower", Sprig::Lower, 1, Some(1)),
    ("sprig_title", Sprig::Title, 1, Some(1)),
    ("sprig_trim", Sprig::Trim, 1, Some(1)),
    ("sprig_trimAll", Sprig::TrimAll, 2, Some(2)),
    ("sprig_trimPrefix", Sprig::TrimPrefix, 2, Some(2)),
    ("sprig_trimSuffix", Sprig::TrimSuffix, 2, Some(2)),
    ("sprig_contains", Sprig::Contains, 2, Some(2)),
    ("sprig_hasPrefix", Sprig::HasPrefix, 2, Some(2)),
    ("sprig_hasSuffix", Sprig::HasSuffix, 2, Some(2)),
    ("sprig_quote", Sprig::Quote, 0, None),
    ("sprig_squote", Sprig::Squote, 0, None),
    ("sprig_replace", Sprig::Replace, 3, Some(3)),
    ("sprig_repeat", Sprig::Repeat, 2, Some(2)),
    ("sprig_trunc", Sprig::Trunc, 2, Some(2)),
    ("sprig_nospace", Sprig::Nospace, 1, Some(1)),
    ("sprig_indent", Sprig::Indent, 2, Some(2)),
    ("sprig_nindent", Sprig::Nindent, 2, Some(2)),
    ("sprig_b64enc", Sprig::B64enc, 1, Some(1)),
    ("sprig_b64dec", Sprig::B64dec, 1, Some(1)),
    ("sprig_sha256sum", Sprig::Sha256sum, 1, Some(1)),
    ("sprig_toString", Sprig::ToString, 1, Some(1)),
    ("sprig_splitList", Sprig::SplitList, 2, Some(2)),
    ("sprig_join", Sprig::Join, 2, Some(2)),
    ("sprig_list", Sprig::List, 0, None),
    ("sprig_first", Sprig::First, 1, Some(1)),
    ("sprig_last", Sprig::Last, 1, Some(1)),
    ("sprig_has", Sprig::Has, 2, Some(2)),
    ("sprig_dict", Sprig::Dict, 0, None),
    ("sprig_get", Sprig::Get, 2, Some(2)),
    ("sprig_hasKey", Sprig::HasKey, 2, Some(2)),
    ("sprig_atoi", Sprig::Atoi, 1, Some(1)),
    ("sprig_add", Sprig::Add, 0, None),
    ("sprig_sub", Sprig::Sub, 2, Some(2)),
    ("sprig_mul", Sprig::Mul, 1, None),
    ("sprig_regexMatch", Sprig::RegexMatch, 2, Some(2)),
    ("sprig_regexReplaceAll", Sprig::RegexReplaceAll, 3, Some(3)),
    ("sprig_append", Sprig::Append, 2, Some(2)),
    ("sprig_push", Sprig::Append, 2, Some(2)),
    ("sprig_prepend", Sprig::Prepend, 2, Some(2)),
    ("sprig_rest", Sprig::Rest, 1, Some(1)),
    ("sprig_initial", Sprig::Initial, 1, Some(1)),
    ("sprig_reverse", Sprig::Reverse, 1, Some(1)),
    ("sprig_compact", Sprig::Compact, 1, Some(1)),
    ("sprig_uniq", Sprig::Uniq, 1, Some(1)),
    ("sprig_without", Sprig::Without, 1, None),
    ("sprig_sortAlpha", Sprig::SortAlpha, 1, Some(1)),
    ("sprig_keys", Sprig::Keys, 0, None),
    ("sprig_pick", Sprig::Pick, 1, None),
    ("sprig_omit", Sprig::Omit, 1, None),
    ("sprig_toJson", Sprig::ToJson, 1, Some(1)),
    ("sprig_toPrettyJson", Sprig::ToPrettyJson, 1, Some(1)),
    ("sprig_toRawJson", Sprig::ToRawJson, 1, Some(1)),
    ("sprig_fromJson", Sprig::FromJson, 1, Some(1)),
    ("sprig_max", Sprig::Max, 1, None),
    ("sprig_min", Sprig::Min, 1, None),
    ("sprig_div", Sprig::Div, 2, Some(2)),
    ("sprig_mod", Sprig::Mod, 2, Some(2)),
    ("sprig_int", Sprig::Int, 1, Some(1)),
    ("sprig_until", Sprig::Until, 1, Some(1)),
    ("sprig_plural", Sprig::Plural, 3, Some(3)),
    ("sprig_substr", Sprig::Substr, 3, Some(3)),
    ("sprig_cat", Sprig::Cat, 0, None),
];

/// sprig's `strval`: strings as they are, anything else as `fmt.Sprint` prints it.
fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => {
            let mut s = String::new();
            print_json(&mut s, other);
            s
        }
    }
}

/// sprig's `empty` (numbers by value).
fn empty(v: &Value) -> bool {
    !crate::value::json_truth(v)
}

/// spf13/cast's `ToInt64` as sprig uses it (unparsable is 0).
fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or_else(|| n.as_f64().map_or(0, |f| f as i64)),
        Value::String(s) => {
            let t = match s.split_once('.') {
                Some((i, frac)) if frac.bytes().all(|b| b == b'0') => i,
                _ => s.as_str(),
            };
            t.parse().unwrap_or(0)
        }
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// Runs a sprig function on its arguments (the piped value last), refusing results larger than
/// `max_len` bytes.
pub(crate) fn call(f: Sprig, args: Vec<Val>, max_len: usize) -> Result<Val, String> {
    let fits = |len: usize| {
        if len > max_len {
            return Err(format!(
                "the result would be larger than {max_len} bytes (the output limit)"
            ));
        }
        Ok(())
    };
    let owned: Vec<Value> = args.iter().map(|a| a.json().clone()).collect();
    let j: Vec<&Value> = owned.iter().collect();
    let s = |i: usize| -> Result<String, String> {
        match j[i] {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(format!("argument {} must be a string", i + 1)),
        }
    };
    let int = |i: usize| -> Result<i64, String> {
        match j[i] {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| format!("argument {} must be an integer", i + 1)),
            _ => Err(format!("argument {} must be an integer", i + 1)),
        }
    };
    let str_val = |v: String| Ok(Val::Json(Value::String(v)));
    let bool_val = |b: bool| Ok(Val::Json(Value::Bool(b)));
    match f {
        Sprig::Default => {
            let given = args.get(1).is_some_and(Val::truth);
            let mut args = args;
            Ok(if given {
                args.swap_remove(1)
            } else {
                args.swap_remove(0)
            })
        }
        Sprig::Empty => bool_val(empty(j[0])),
        Sprig::Coalesce => Ok(args
            .into_iter()
            .find(|a| !empty(a.json()))
            .unwrap_or(Val::Json(Value::Null))),
        Sprig::Ternary => match j[2] {
            Value::Bool(b) => {
                let mut args = args;
                Ok(if *b {
                    args.swap_remove(0)
                } else {
                    args.swap_remove(1)
                })
            }
            _ => Err("argument 3 must be a boolean".into()),
        },
        Sprig::Upper => str_val(s(0)?.to_uppercase()),
        Sprig::Lower => str_val(s(0)?.to_lowercase()),
        Sprig::Title => str_val(crate::ops::title(&s(0)?)),
        Sprig::Trim => str_val(s(0)?.trim().to_owned()),
        Sprig::TrimAll => {
            let cut: Vec<char> = s(0)?.chars().collect();
            str_val(s(1)?.trim_matches(cut.as_slice()).to_owned())
        }
        Sprig::TrimPrefix => str_val(
            s(1)?
                .strip_prefix(s(0)?.as_str())
                .map_or_else(|| s(1), |r| Ok(r.to_owned()))?,
        ),
        Sprig::TrimSuffix => str_val(
            s(1)?
                .strip_suffix(s(0)?.as_str())
                .map_or_else(|| s(1), |r| Ok(r.to_owned()))?,
        ),
        Sprig::Contains => bool_val(s(1)?.contains(s(0)?.as_str())),
        Sprig::HasPrefix => bool_val(s(1)?.starts_with(s(0)?.as_str())),
        Sprig::HasSuffix => bool_val(s(1)?.ends_with(s(0)?.as_str())),
        Sprig::Quote | Sprig::Squote => {
            let mut out = Vec::new();
            for v in j.iter().filter(|v| !v.is_null()) {
                let mut q = String::new();
                if f == Sprig::Quote {
                    go_quote(&mut q, &strval(v));
                } else {
                    q.push('\'');
                    print_json(&mut q, v);
                    q.push('\'');
                }
                out.push(q);
            }
            str_val(out.join(" "))
        }
        Sprig::Replace => {
            let (old, new, src) = (s(0)?, s(1)?, s(2)?);
            let n = if old.is_empty() {
                src.chars().count() + 1
            } else {
                src.matches(old.as_str()).count()
            };
            fits(src.len().saturating_add(n.saturating_mul(new.len())))?;
            str_val(crate::ops::go_replace_all(&src, &old, &new))
        }
        Sprig::Repeat => {
            let (n, text) = (int(0)?, s(1)?);
            let n = usize::try_from(n).map_err(|_| "negative repeat count".to_owned())?;
            fits(text.len().saturating_mul(n))?;
            str_val(text.repeat(n))
        }
        Sprig::Trunc => {
            let (c, text) = (int(0)?, s(1)?);
            let b = text.as_bytes();
            let len = b.len() as i64;
            let cut = if c < 0 && len + c > 0 {
                &b[(len + c) as usize..]
            } else if c >= 0 && len > c {
                &b[..c as usize]
            } else {
                b
            };
            str_val(String::from_utf8_lossy(cut).into_owned())
        }
        Sprig::Nospace => str_val(s(0)?.chars().filter(|c| !c.is_whitespace()).collect()),
        Sprig::Indent | Sprig::Nindent => {
            let (n, text) = (int(0)?, s(1)?);
            let pad = " ".repeat(usize::try_from(n).unwrap_or(0));
            let lines = text.matches('\n').count() + 1;
            fits(text.len().saturating_add(lines.saturating_mul(pad.len())) + 1)?;
            let body = format!("{pad}{}", text.replace('\n', &format!("\n{pad}")));
            str_val(if f == Sprig::Nindent {
                format!("\n{body}")
            } else {
                body
            })
        }
        Sprig::B64enc => str_val(base64::engine::general_purpose::STANDARD.encode(s(0)?)),
        Sprig::B64dec => str_val(match base64::engine::general_purpose::STANDARD.decode(s(0)?) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(base64::DecodeError::InvalidByte(at, _)) => format!("illegal base64 data at input byte {at}"),
            Err(_) => "illegal base64 data".to_owned(),
        }),
        Sprig::Sha256sum => str_val(crate::util::sha256_hex(s(0)?.as_bytes())),
        Sprig::ToString => str_val(strval(j[0])),
        Sprig::SplitList => {
            let (sep, text) = (s(0)?, s(1)?);
            let parts = crate::text::go_split(&text, &sep);
            Ok(Val::Json(Value::Array(
                parts.into_iter().map(|p| Value::String(p.to_owned())).collect(),
            )))
        }
        Sprig::Join => {
            let sep = s(0)?;
            let parts: Vec<String> = match j[1] {
                Value::Array(items) => items.iter().filter(|v| !v.is_null()).map(strval).collect(),
                Value::Null => Vec::new(),
                other => vec![strval(other)],
            };
            fits(parts.iter().map(String::len).sum::<usize>() + parts.len() * sep.len())?;
            str_val(parts.join(&sep))
        }
        Sprig::List => Ok(Val::Json(Value::Array(j.into_iter().cloned().collect()))),
        Sprig::First | Sprig::Last => match j[0] {
            Value::Array(items) => {
                let item = if f == Sprig::First {
                    items.first()
                } else {
                    items.last()
                };
                Ok(Val::Json(item.cloned().unwrap_or(Value::Null)))
            }
            _ => Err("argument 1 must be a list".into()),
        },
        Sprig::Has => match j[1] {
            Value::Array(items) => bool_val(items.contains(j[0])),
            Value::Null => bool_val(false),
            _ => Err("argument 2 must be a list".into()),
        },
        Sprig::Dict => {
            let mut m = Map::new();
            for pair in j.chunks(2) {
                let value = pair.get(1).map_or(Value::String(String::new()), |v| (*v).clone());
                m.insert(strval(pair[0]), value);
            }
            Ok(Val::Json(Value::Object(m)))
        }
        Sprig::Get | Sprig::HasKey => {
            let Value::Object(m) = j[0] else {
                return Err("argument 1 must be a map".into());
            };
            let key = s(1)?;
            if f == Sprig::HasKey {
                return bool_val(m.contains_key(&key));
            }
            Ok(Val::Json(
                m.get(&key).cloned().unwrap_or(Value::String(String::new())),
            ))
        }
        Sprig::Atoi => Ok(Val::Json(Value::from(s(0)?.parse::<i64>().unwrap_or(0)))),
        Sprig::Add => Ok(Val::Json(Value::from(
            j.iter().fold(0i64, |a, v| a.wrapping_add(to_i64(v))),
        ))),
        Sprig::Sub => Ok(Val::Json(Value::from(to_i64(j[0]).wrapping_sub(to_i64(j[1]))))),
        Sprig::Mul => Ok(Val::Json(Value::from(
            j[1..].iter().fold(to_i64(j[0]), |a, v| a.wrapping_mul(to_i64(v))),
        ))),
        Sprig::Append
        | Sprig::Prepend
        | Sprig::Rest
        | Sprig::Initial
        | Sprig::Reverse
        | Sprig::Compact
        | Sprig::Uniq
        | Sprig::Without => {
            let Value::Array(items) = j[0] else {
                return Err("argument 1 must be a list".into());
            };
            let mut items = items.clone();
            match f {
                Sprig::Append => items.push(j[1].clone()),
                Sprig::Prepend => items.insert(0, j[1].clone()),
                // Go returns a nil list, which prints as `[]`.
                Sprig::Rest | Sprig::Initial if items.is_empty() => {}
                Sprig::Rest => {
                    items.remove(0);
                }
                Sprig::Initial => {
                    items.pop();
                }
                Sprig::Reverse => items.reverse(),
                Sprig::Compact => items.retain(|v| !empty(v)),
                Sprig::Uniq => {
                    let mut seen: Vec<Value> = Vec::new();
                    for v in items {
                        if !seen.contains(&v) {
                            seen.push(v);
                        }
                    }
                    items = seen;
                }
                _ => items.retain(|v| !j[1..].contains(&v)),
            }
            Ok(Val::Json(Value::Array(items)))
        }
        Sprig::SortAlpha => {
            let mut items: Vec<String> = match j[0] {
                Value::Array(items) => items.iter().filter(|v| !v.is_null()).map(strval).collect(),
                other => vec![strval(other)],
            };
            items.sort();
            Ok(Val::Json(Value::Array(
                items.into_iter().map(Value::String).collect(),
            )))
        }
        Sprig::Keys => {
            // Go returns map order (random): sorted here, as `sprig_sortAlpha` would make it.
            let mut keys = Vec::new();
            for d in &j {
                let Value::Object(m) = d else {
                    return Err("arguments must be maps".into());
                };
                keys.extend(m.keys().cloned().map(Value::String));
            }
            keys.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            Ok(Val::Json(Value::Array(keys)))
        }
        Sprig::Pick | Sprig::Omit => {
            let Value::Object(m) = j[0] else {
                return Err("argument 1 must be a map".into());
            };
            let names = (1..j.len()).map(&s).collect::<Result<Vec<_>, _>>()?;
            let keep = |k: &String| names.contains(k) == (f == Sprig::Pick);
            let out: Map<String, Value> = m
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(Val::Json(Value::Object(out)))
        }
        Sprig::ToJson | Sprig::ToPrettyJson | Sprig::ToRawJson => {
            let style = crate::value::JsonStyle {
                pretty: f == Sprig::ToPrettyJson,
                escape_html: f != Sprig::ToRawJson,
            };
            let mut out = String::new();
            crate::value::write_json(&mut out, j[0], style, 0);
            str_val(out)
        }
        Sprig::FromJson => Ok(Val::Json(serde_json::from_str(&s(0)?).unwrap_or(Value::Null))),
        Sprig::Max | Sprig::Min => {
            let pick = |a: i64, b: i64| if f == Sprig::Max { a.max(b) } else { a.min(b) };
            Ok(Val::Json(Value::from(
                j[1..].iter().fold(to_i64(j[0]), |a, v| pick(a, to_i64(v))),
            )))
        }
        Sprig::Div | Sprig::Mod => {
            let (a, b) = (to_i64(j[0]), to_i64(j[1]));
            let r = if f == Sprig::Div {
                a.checked_div(b)
            } else {
                a.checked_rem(b)
            };
            Ok(Val::Json(Value::from(r.ok_or("integer divide by zero")?)))
        }
        Sprig::Int => Ok(Val::Json(Value::from(to_i64(j[0])))),
        Sprig::Until => {
            let n = int(0)?;
            if n.unsigned_abs() > 1_000_000 {
                return Err("more than 1000000 items".into());
            }
            let items: Vec<Value> = if n >= 0 {
                (0..n).map(Value::from).collect()
            } else {
                (n + 1..=0).rev().map(Value::from).collect()
            };
            Ok(Val::Json(Value::Array(items)))
        }
        Sprig::Plural => str_val(if int(2)? == 1 { s(0)? } else { s(1)? }),
        Sprig::Substr => {
            let (start, end, text) = (int(0)?, int(1)?, s(2)?);
            let b = text.as_bytes();
            let len = b.len() as i64;
            let out = if start < 0 {
                b.get(..usize::try_from(end).unwrap_or(usize::MAX))
            } else if end < 0 || end > len {
                b.get(start as usize..)
            } else {
                b.get(start as usize..end as usize)
            };
            let out = out.ok_or("slice bounds out of range")?;
            str_val(String::from_utf8_lossy(out).into_owned())
        }
        Sprig::Cat => {
            let parts: Vec<String> = j
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| {
                    let mut p = String::new();
                    print_json(&mut p, v);
                    p
                })
                .collect();
            str_val(parts.join(" "))
        }
        Sprig::RegexMatch => {
            bool_val(crate::text::go_regex(&s(0)?).is_ok_and(|re| re.is_match(&s(1).unwrap_or_default())))
        }
        Sprig::RegexReplaceAll => {
            let re = crate::text::go_regex(&s(0)?)?;
            str_val(crate::text::regex_replace_all(&re, &s(1)?, &s(2)?, max_len)?)
        }
    }
}
