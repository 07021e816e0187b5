//! Numbers as Go's templates see them: operands ([`Num`], [`num`]) and `%g`/`%e` formatting, shared
//! by the operators, `printf` and value printing.

use serde_json::Value;

/// A number operand.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    I(i64),
    F(f64),
}

impl Num {
    pub(crate) fn into_json(self) -> Value {
        match self {
            Num::I(i) => Value::from(i),
            Num::F(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        }
    }

    pub(crate) fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

/// A JSON value as a number (numeric strings too: Vault hands Go `json.Number`s).
pub(crate) fn num(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => n.as_i64().map(Num::I).or_else(|| n.as_f64().map(Num::F)),
        Value::String(s) => s
            .parse::<i64>()
            .map(Num::I)
            .ok()
            .or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(Num::F)),
        _ => None,
    }
}

/// Go's exponent form: at least two exponent digits and a sign (`1e+06`).
pub(crate) fn fix_exponent(s: &str) -> String {
    match s.split_once('e') {
        Some((mant, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mant}e{sign}{digits:0>2}")
        }
        None => s.to_owned(),
    }
}

/// `%g` (shortest when no precision): exponent form when exp < -4 or exp >= precision.
pub(crate) fn go_float_g(f: f64, prec: Option<usize>) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let sci = match prec {
        Some(p) => format!("{:.*e}", p.max(1) - 1, f),
        None => format!("{f:e}"),
    };
    let Some((mant, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let eprec = prec.map_or(6, |p| p.max(1) as i32);
    if exp < -4 || exp >= eprec {
        let mant = if mant.contains('.') {
            mant.trim_end_matches('0').trim_end_matches('.')
        } else {
            mant
        };
        fix_exponent(&format!("{mant}e{exp}"))
    } else {
        let digits = mant.chars().filter(|c| c.is_ascii_digit()).count() as i32;
        let decimals = (digits - 1 - exp).max(0) as usize;
        let s = format!("{:.*}", decimals, f);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    }
}
