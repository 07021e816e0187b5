//! `parseYAML`: YAML text into the values templates hold (the `serde_yaml` crate reads it).

use serde_json::{Map, Number, Value};

/// Deepest nesting `parseYAML` accepts (serde_yaml itself stops at 128).
const MAX_DEPTH: usize = 100;

/// consul-template's `parseYAML`: an empty string is an empty map; otherwise the document's value.
/// Keys that are not strings are printed as text (Go keeps them typed).
pub(crate) fn parse_yaml(s: &str) -> Result<Value, String> {
    if s.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let y: serde_yaml::Value = serde_yaml::from_str(s).map_err(|e| match e.location() {
        Some(l) => format!("not valid YAML (line {}, column {})", l.line(), l.column()),
        None => "not valid YAML".to_owned(),
    })?;
    convert(y, 0)
}

fn convert(y: serde_yaml::Value, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("YAML nested more than {MAX_DEPTH} deep"));
    }
    Ok(match y {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(|i| convert(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        serde_yaml::Value::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match convert(k, depth + 1)? {
                    Value::String(s) => s,
                    other => {
                        let mut text = String::new();
                        crate::value::print_json(&mut text, &other);
                        text
                    }
                };
                out.insert(key, convert(v, depth + 1)?);
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(t) => convert(t.value, depth)?,
    })
}
