//! consul-template's function map: names, arity and the pure functions.
//!
//! Argument order is consul-template's, so a piped value (always the last argument) lands where
//! it does in Go. Messages name the function and the argument, never the value.

use base64::Engine as _;
use serde_json::{Map, Value};

pub(crate) use crate::func::{Func, all};
use crate::printf::{go_printf, go_sprint, go_sprintln};
use crate::value::{
    CERT_FIELDS, JsonStyle, SECRET_FIELDS, Val, json_type_name, write_json, write_struct_json,
};

/// A function failed; the message names no value.
pub(crate) type FuncResult = Result<Val, String>;

impl Func {
    /// Calls a pure function. Dependencies, environment and `and`/`or` are the executor's.
    /// Functions whose result can be much larger than their arguments (`printf` widths, `indent`,
    /// `replaceAll`, `join`) fail before building a string longer than `max_len` bytes.
    pub(crate) fn call(self, args: Vec<Val>, max_len: usize) -> FuncResult {
        let name = self.name();
        let a = Args { name, args, max_len };
        a.run(self)
    }
}

struct Args {
    name: &'static str,
    args: Vec<Val>,
    max_len: usize,
}

impl Args {
    fn err(&self, msg: impl std::fmt::Display) -> String {
        format!("{}: {msg}", self.name)
    }

    fn json(&self, i: usize) -> &Value {
        self.args[i].json()
    }

    /// A string parameter (Vault's `json.Number` is a string in Go, so numbers are accepted too).
    fn str(&self, i: usize) -> Result<String, String> {
        match self.json(i) {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Null => Err(self.err(format!("argument {} is nil, expected a string", i + 1))),
            other => Err(self.err(format!(
                "argument {} has type {}, expected a string",
                i + 1,
                json_type_name(other)
            ))),
        }
    }

    fn int(&self, i: usize) -> Result<i64, String> {
        match num(self.json(i)) {
            Some(Num::I(n)) => Ok(n),
            Some(Num::F(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
            _ => Err(self.err(format!("argument {} must be an integer", i + 1))),
        }
    }

    fn num(&self, i: usize) -> Result<Num, String> {
        num(self.json(i)).ok_or_else(|| self.err(format!("argument {} must be a number", i + 1)))
    }

    fn ok_str(s: String) -> FuncResult {
        Ok(Val::Json(Value::String(s)))
    }

    /// Refuses to build a result of `len` bytes past the output limit.
    fn fits(&self, len: usize) -> Result<(), String> {
        if len > self.max_len {
            return Err(self.err(format!(
                "the result would be larger than {} bytes (the output limit)",
                self.max_len
            )));
        }
        Ok(())
    }

    fn run(self, f: Func) -> FuncResult {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        match f {
            Func::Not => Ok(Val::Json(Value::Bool(!self.args[0].truth()))),
            Func::Len => match self.json(0) {
                Value::String(s) => Ok(Val::Json(s.len().into())),
                Value::Array(a) => Ok(Val::Json(a.len().into())),
                Value::Object(m) if !matches!(self.args[0], Val::Secret(_) | Val::Cert(_)) => {
                    Ok(Val::Json(m.len().into()))
                }
                Value::Null => Err(self.err("len of nil pointer")),
                _ => Err(self.err(format!("len of type {}", self.args[0].type_name()))),
            },
            Func::Index => self.index(),
            Func::Eq => {
                let first = self.json(0);
                for i in 1..self.args.len() {
                    if compare_eq(first, self.json(i)).map_err(|e| self.err(e))? {
                        return Ok(Val::Json(Value::Bool(true)));
                    }
                }
                Ok(Val::Json(Value::Bool(false)))
            }
            Func::Ne => {
                let eq = compare_eq(self.json(0), self.json(1)).map_err(|e| self.err(e))?;
                Ok(Val::Json(Value::Bool(!eq)))
            }
            Func::Lt | Func::Le | Func::Gt | Func::Ge => {
                let ord = compare_ord(self.json(0), self.json(1)).map_err(|e| self.err(e))?;
                let r = match f {
                    Func::Lt => ord.is_lt(),
                    Func::Le => ord.is_le(),
                    Func::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                };
                Ok(Val::Json(Value::Bool(r)))
            }
            Func::Print => Self::ok_str(go_sprint(&self.args)),
            Func::Println => Self::ok_str(go_sprintln(&self.args)),
            Func::Printf => {
                let format = self.str(0)?;
                Self::ok_str(go_printf(&format, &self.args[1..], self.max_len)?)
            }
            Func::Html => Self::ok_str(html_escape(&go_sprint_args(&self.args))),
            Func::Urlquery => Self::ok_str(query_escape(&go_sprint_args(&self.args))),
            Func::ToJson | Func::ToJsonPretty | Func::ToUnescapedJson | Func::ToUnescapedJsonPretty => {
                let style = JsonStyle {
                    pretty: matches!(f, Func::ToJsonPretty | Func::ToUnescapedJsonPretty),
                    escape_html: matches!(f, Func::ToJson | Func::ToJsonPretty),
                };
                let mut out = String::new();
                match &self.args[0] {
                    Val::Secret(v) => write_struct_json(&mut out, v, &SECRET_FIELDS, style),
                    Val::Cert(v) => write_struct_json(&mut out, v, &CERT_FIELDS, style),
                    _ => write_json(&mut out, self.json(0), style, 0),
                }
                Self::ok_str(out)
            }
            Func::Base64Encode => Self::ok_str(STANDARD.encode(self.str(0)?)),
            Func::Base64UrlEncode => Self::ok_str(URL_SAFE.encode(self.str(0)?)),
            Func::Base64Decode | Func::Base64UrlDecode => {
                let engine = if f == Func::Base64Decode {
                    &STANDARD
                } else {
                    &URL_SAFE
                };
                let bytes = engine
                    .decode(self.str(0)?)
                    .map_err(|_| self.err("argument is not valid base64"))?;
                Self::ok_str(String::from_utf8_lossy(&bytes).into_owned())
            }
            Func::TrimSpace => Self::ok_str(self.str(0)?.trim().to_owned()),
            Func::Trim => {
                let cutset: Vec<char> = self.str(0)?.chars().collect();
                Self::ok_str(self.str(1)?.trim_matches(cutset.as_slice()).to_owned())
            }
            Func::TrimPrefix => {
                let (p, s) = (self.str(0)?, self.str(1)?);
                Self::ok_str(s.strip_prefix(p.as_str()).unwrap_or(&s).to_owned())
            }
            Func::TrimSuffix => {
                let (p, s) = (self.str(0)?, self.str(1)?);
                Self::ok_str(s.strip_suffix(p.as_str()).unwrap_or(&s).to_owned())
            }
            Func::ToUpper => Self::ok_str(self.str(0)?.to_uppercase()),
            Func::ToLower => Self::ok_str(self.str(0)?.to_lowercase()),
            Func::ToTitle => Self::ok_str(crate::text::to_title(&self.str(0)?)),
            Func::ReplaceAll => {
                let (from, to, s) = (self.str(0)?, self.str(1)?, self.str(2)?);
                let count = if from.is_empty() {
                    s.chars().count() + 1
                } else {
                    s.matches(from.as_str()).count()
                };
                self.fits((s.len() - count * from.len()).saturating_add(count.saturating_mul(to.len())))?;
                Self::ok_str(go_replace_all(&s, &from, &to))
            }
            Func::Split => {
                let (sep, s) = (self.str(0)?, self.str(1)?);
                let s = s.trim();
                let parts: Vec<Value> = if s.is_empty() {
                    Vec::new()
                } else if sep.is_empty() {
                    s.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    s.split(sep.as_str())
                        .map(|p| Value::String(p.to_owned()))
                        .collect()
                };
                Ok(Val::Json(Value::Array(parts)))
            }
            Func::Join => {
                let sep = self.str(0)?;
                let Value::Array(items) = self.json(1) else {
                    return Err(self.err("argument 2 must be a list"));
                };
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => parts.push(s.clone()),
                        Value::Number(n) => parts.push(n.to_string()),
                        _ => return Err(self.err("argument 2 must be a list of strings")),
                    }
                }
                let seps = parts.len().saturating_sub(1).saturating_mul(sep.len());
                self.fits(parts.iter().map(String::len).sum::<usize>().saturating_add(seps))?;
                Self::ok_str(parts.join(&sep))
            }
            Func::Contains => Ok(Val::Json(Value::Bool(crate::collections::go_in(
                self.json(1),
                self.json(0),
            )))),
            Func::In => Ok(Val::Json(Value::Bool(crate::collections::go_in(
                self.json(0),
                self.json(1),
            )))),
            Func::Timestamp => {
                let (now, nanos) = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()));
                let format = if self.args.is_empty() {
                    None
                } else {
                    Some(self.str(0)?)
                };
                crate::util::timestamp(now, nanos, format.as_deref())
                    .map(|s| Val::Json(Value::String(s)))
                    .map_err(|e| self.err(e))
            }
            Func::ParseJson => {
                let s = self.str(0)?;
                if s.is_empty() {
                    return Ok(Val::Json(Value::Object(Map::new())));
                }
                serde_json::from_str(&s).map(Val::Json).map_err(|e| {
                    self.err(format!(
                        "not valid JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ))
                })
            }
            Func::ParseBool => {
                let s = self.str(0)?;
                match s.as_str() {
                    "" => Ok(Val::Json(Value::Bool(false))),
                    "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Val::Json(Value::Bool(true))),
                    "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Val::Json(Value::Bool(false))),
                    _ => Err(self.err("argument is not a boolean (accepted: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)")),
                }
            }
            Func::ParseInt => {
                let s = self.str(0)?;
                s.parse::<i64>()
                    .map(|n| Val::Json(n.into()))
                    .map_err(|_| self.err("argument is not a base-10 64-bit integer"))
            }
            Func::ParseUint => {
                let s = self.str(0)?;
                s.parse::<u64>()
                    .map(|n| Val::Json(n.into()))
                    .map_err(|_| self.err("argument is not a base-10 unsigned 64-bit integer"))
            }
            Func::ParseFloat => {
                let s = self.str(0)?;
                let f: f64 = s
                    .parse()
                    .map_err(|_| self.err("argument is not a floating-point number"))?;
                Ok(Val::Json(
                    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
                ))
            }
            Func::Indent => {
                let n = self.int(0)?;
                let n =
                    usize::try_from(n).map_err(|_| self.err("indent value must be a positive integer"))?;
                let s = self.str(1)?;
                let mut lines = 0usize;
                let mut at_line_start = true;
                for c in s.chars() {
                    lines += usize::from(at_line_start && c != '\n');
                    at_line_start = c == '\n';
                }
                self.fits(n.max(s.len().saturating_add(lines.saturating_mul(n))))?;
                let prefix = " ".repeat(n);
                let mut out = String::with_capacity(s.len() + n);
                let mut at_line_start = true;
                for c in s.chars() {
                    if at_line_start && c != '\n' {
                        out.push_str(&prefix);
                    }
                    out.push(c);
                    at_line_start = c == '\n';
                }
                Self::ok_str(out)
            }
            Func::Sha256Hex => Self::ok_str(crate::util::sha256_hex(self.str(0)?.as_bytes())),
            Func::Add
            | Func::Subtract
            | Func::Multiply
            | Func::Divide
            | Func::Modulo
            | Func::Minimum
            | Func::Maximum => {
                // consul-template: `f b a` computes `a op b` (the piped value is the left operand).
                let (b, a) = (self.num(0)?, self.num(1)?);
                arith(f, a, b)
                    .map(|n| Val::Json(n.into_json()))
                    .map_err(|e| self.err(e))
            }
            Func::Loop => {
                let (start, stop) = if self.args.len() == 1 {
                    (0, self.int(0)?)
                } else {
                    (self.int(0)?, self.int(1)?)
                };
                if stop.saturating_sub(start) > 1_000_000 {
                    return Err(self.err("loop of more than 1000000 items"));
                }
                Ok(Val::Json(Value::Array((start..stop).map(Value::from).collect())))
            }
            Func::Sprig(s) => crate::sprig::call(s, self.args, self.max_len)
                .map_err(|e| format!("{name}: {e}", name = self.name)),
            Func::RegexMatch => {
                let re = crate::text::go_regex(&self.str(0)?).map_err(|e| self.err(e))?;
                Ok(Val::Json(Value::Bool(re.is_match(&self.str(1)?))))
            }
            Func::RegexReplaceAll => {
                let re = crate::text::go_regex(&self.str(0)?).map_err(|e| self.err(e))?;
                let (repl, s) = (self.str(1)?, self.str(2)?);
                crate::text::regex_replace_all(&re, &s, &repl, self.max_len)
                    .map(|r| Val::Json(Value::String(r)))
                    .map_err(|e| self.err(e))
            }
            Func::Md5sum => Self::ok_str(crate::text::md5_hex(self.str(0)?.as_bytes())),
            Func::HmacSha256Hex => {
                let (message, key) = (self.str(0)?, self.str(1)?);
                Self::ok_str(crate::text::hmac_sha256_hex(message.as_bytes(), key.as_bytes()))
            }
            Func::ContainsAll | Func::ContainsAny | Func::ContainsNone | Func::ContainsNotAll => {
                let Value::Array(needles) = self.json(0) else {
                    return Err(self.err("argument 1 must be a list"));
                };
                let (ret_true, invert) = match f {
                    Func::ContainsAll => (true, true),
                    Func::ContainsAny => (false, false),
                    Func::ContainsNone => (true, false),
                    _ => (false, true),
                };
                let found = crate::collections::contains_some(needles, self.json(1), ret_true, invert);
                Ok(Val::Json(Value::Bool(found)))
            }
            Func::SplitToMap => Ok(Val::Json(crate::text::split_to_map(
                &self.str(0)?,
                &self.str(1)?,
                &self.str(2)?,
            ))),
            Func::ExplodeMap => {
                let Value::Object(m) = self.json(0) else {
                    return Err(self.err("argument 1 must be a map"));
                };
                crate::collections::explode_map(m)
                    .map(Val::Json)
                    .map_err(|e| self.err(e))
            }
            Func::MergeMap | Func::MergeMapWithOverride => {
                let (Value::Object(dst), Value::Object(src)) = (self.json(0), self.json(1)) else {
                    return Err(self.err("both arguments must be maps"));
                };
                let mut merged = dst.clone();
                crate::collections::merge_map(&mut merged, src, f == Func::MergeMapWithOverride);
                Ok(Val::Json(Value::Object(merged)))
            }
            Func::ToYaml => crate::yaml::to_yaml(self.json(0), self.max_len)
                .map(|s| Val::Json(Value::String(s)))
                .map_err(|e| self.err(e)),
            Func::ParseYaml => crate::yaml::parse_yaml(&self.str(0)?)
                .map(Val::Json)
                .map_err(|e| self.err(e)),
            Func::Secret
            | Func::Secrets
            | Func::PkiCert
            | Func::File
            | Func::Env
            | Func::MustEnv
            | Func::EnvOrDefault
            | Func::And
            | Func::Or => Err(self.err("not a pure function")),
        }
    }

    fn index(&self) -> FuncResult {
        let mut cur = self.json(0);
        if cur.is_null() {
            return Err(self.err("index of untyped nil"));
        }
        static NULL: Value = Value::Null;
        for i in 1..self.args.len() {
            let key = self.json(i);
            cur = match (cur, key) {
                (Value::Object(m), Value::String(k)) => m.get(k).unwrap_or(&NULL),
                (Value::Array(a), Value::Number(n)) => {
                    let idx = n
                        .as_i64()
                        .ok_or_else(|| self.err("cannot index slice with a non-integer"))?;
                    usize::try_from(idx)
                        .ok()
                        .and_then(|i| a.get(i))
                        .ok_or_else(|| self.err(format!("index out of range: {idx}")))?
                }
                (Value::Null, _) => return Err(self.err("index of nil pointer")),
                (Value::Object(_), _) => return Err(self.err("map keys are strings")),
                (other, _) => {
                    return Err(self.err(format!("can't index item of type {}", json_type_name(other))));
                }
            };
        }
        Ok(Val::Json(cur.clone()))
    }
}

pub(crate) use crate::ops::{
    Num, arith, compare_eq, compare_ord, go_replace_all, go_sprint_args, html_escape, num, query_escape,
    range_items,
};
