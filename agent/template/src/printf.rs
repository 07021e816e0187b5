//! Go's `fmt.Sprint`, `fmt.Sprintln` and the common `fmt.Sprintf` verbs.

use std::fmt::Write as _;

use serde_json::Value;

use crate::num::{Num, fix_exponent, go_float_g, num};
use crate::value::{Val, go_quote, print_operand};

fn is_string(v: &Val) -> bool {
    matches!(v, Val::Json(Value::String(_)))
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub(crate) fn go_sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !is_string(a) && !is_string(&args[i - 1]) {
            out.push(' ');
        }
        print_operand(&mut out, a);
    }
    out
}

/// `fmt.Sprintln`: always spaces, then a newline.
pub(crate) fn go_sprintln(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_operand(&mut out, a);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt` stops reading a width or precision past this magnitude (`tooLarge`).
const TOO_LARGE: usize = 1_000_000;

/// `fmt.Sprintf` for `%v %s %d %q %t %x %X %o %b %c %e %E %f %F %g %G %U %%`, flags and width.
/// Fails (with the limit in the message) once the result would be longer than `max_len` bytes.
pub(crate) fn go_printf(format: &str, args: &[Val], max_len: usize) -> Result<String, String> {
    let too_long = || format!("printf: the result is larger than {max_len} bytes (the output limit)");
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        // Go's parsenum: a number growing past TOO_LARGE swallows the rest of the format.
        let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                if n.unwrap_or(0) > TOO_LARGE {
                    chars.by_ref().for_each(drop);
                    return None;
                }
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        if out.len().saturating_add(spec.width.unwrap_or(0)) > max_len {
            return Err(too_long());
        }
        let body = format_one(verb, spec, arg);
        pad(
            &mut out,
            &body,
            spec,
            matches!(
                verb,
                'd' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'x' | 'X' | 'o' | 'b'
            ),
        );
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[next..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            bad_arg(&mut out, a);
        }
        out.push(')');
    }
    if out.len() > max_len {
        return Err(too_long());
    }
    Ok(out)
}

fn bad_arg(out: &mut String, a: &Val) {
    match a {
        Val::Invalid | Val::Json(Value::Null) | Val::Pending => out.push_str("<nil>"),
        other => {
            out.push_str(other.type_name());
            out.push('=');
            print_operand(out, other);
        }
    }
}

fn bad_verb(verb: char, a: &Val) -> String {
    let mut out = format!("%!{verb}(");
    bad_arg(&mut out, a);
    out.push(')');
    out
}

fn pad(out: &mut String, body: &str, spec: Spec, numeric: bool) {
    let len = body.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(body);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        let (sign, digits) = match body.as_bytes().first() {
            Some(b'-' | b'+' | b' ') => body.split_at(1),
            _ => ("", body),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn signed(s: String, negative: bool, spec: Spec) -> String {
    if negative {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn format_one(verb: char, spec: Spec, arg: &Val) -> String {
    let json = match arg {
        Val::Json(v) => Some(v),
        _ => None,
    };
    match verb {
        'v' => {
            let mut s = String::new();
            print_operand(&mut s, arg);
            s
        }
        's' => match json {
            Some(Value::Bool(_)) => bad_verb(verb, arg),
            _ => {
                let mut s = String::new();
                print_operand(&mut s, arg);
                match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                }
            }
        },
        'q' => match json {
            Some(Value::String(s)) => {
                let mut out = String::new();
                go_quote(&mut out, s);
                out
            }
            Some(Value::Number(n)) if n.is_i64() => {
                let c = n
                    .as_i64()
                    .and_then(|i| u32::try_from(i).ok())
                    .and_then(char::from_u32);
                format!("'{}'", c.unwrap_or('\u{fffd}'))
            }
            _ => bad_verb(verb, arg),
        },
        't' => match json {
            Some(Value::Bool(b)) => b.to_string(),
            _ => bad_verb(verb, arg),
        },
        'd' | 'o' | 'b' | 'c' | 'U' => match json.and_then(num) {
            Some(Num::I(i)) => {
                let neg = i < 0;
                let m = i.unsigned_abs();
                let body = match verb {
                    'd' => m.to_string(),
                    'o' if spec.sharp => format!("0{m:o}"),
                    'o' => format!("{m:o}"),
                    'b' => format!("{m:b}"),
                    'c' => return char::from_u32(i as u32).unwrap_or('\u{fffd}').to_string(),
                    _ => return format!("U+{:04X}", i),
                };
                signed(if neg { format!("-{body}") } else { body }, neg, spec)
            }
            _ => bad_verb(verb, arg),
        },
        'x' | 'X' => {
            let body = match json {
                Some(Value::String(s)) => s.bytes().map(|b| format!("{b:02x}")).collect::<String>(),
                Some(v) => match num(v) {
                    Some(Num::I(i)) => {
                        let m = format!("{:x}", i.unsigned_abs());
                        let m = if spec.sharp { format!("0x{m}") } else { m };
                        if i < 0 { format!("-{m}") } else { m }
                    }
                    _ => return bad_verb(verb, arg),
                },
                None => return bad_verb(verb, arg),
            };
            if verb == 'X' { body.to_uppercase() } else { body }
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let Some(f) = json.and_then(num).map(|n| match n {
                Num::I(i) => i as f64,
                Num::F(f) => f,
            }) else {
                return bad_verb(verb, arg);
            };
            let body = match verb {
                'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f),
                'e' | 'E' => {
                    let s = go_exp(f, spec.prec.unwrap_or(6));
                    if verb == 'E' { s.to_uppercase() } else { s }
                }
                _ => {
                    let s = go_float_g(f, spec.prec);
                    if verb == 'G' { s.to_uppercase() } else { s }
                }
            };
            signed(body, f.is_sign_negative(), spec)
        }
        _ => bad_verb(verb, arg),
    }
}

/// `%e`: Rust's `1.5e0` becomes Go's `1.500000e+00`.
fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, f);
    fix_exponent(&s)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v(j: Value) -> Val {
        Val::Json(j)
    }

    fn go_printf(format: &str, args: &[Val]) -> String {
        super::go_printf(format, args, usize::MAX).unwrap()
    }

    #[test]
    fn widths_are_bounded_like_go_and_by_the_output_limit() {
        // Go's parsenum gives up past 1e6 and the rest of the format is lost: %!(NOVERB).
        assert_eq!(
            go_printf("a%99999999999999999999dz", &[v(json!(1))]),
            "a%!(NOVERB)%!(EXTRA int=1)"
        );
        let err = super::go_printf("%1000000d", &[v(json!(1))], 1000).unwrap_err();
        assert!(err.contains("1000 bytes (the output limit)"), "{err}");
        let err = super::go_printf(&"%9s".repeat(200), &vec![v(json!(1)); 200], 1000).unwrap_err();
        assert!(err.contains("output limit"), "{err}");
    }

    #[test]
    fn verbs() {
        let args = [v(json!("wizard")), v(json!(42)), v(json!(true)), v(json!(1.5))];
        assert_eq!(
            go_printf("%s|%d|%t|%.2f|%q|%%", &args[..4]),
            "wizard|42|true|1.50|%!q(MISSING)|%"
        );
        assert_eq!(
            go_printf(
                "[%5s][%-5s][%05d][%x][%X]",
                &[
                    v(json!("a")),
                    v(json!("b")),
                    v(json!(-42)),
                    v(json!("hi")),
                    v(json!(255))
                ]
            ),
            "[    a][b    ][-0042][6869][FF]"
        );
        assert_eq!(go_printf("%s %s", &[v(json!("a"))]), "a %!s(MISSING)");
        assert_eq!(go_printf("%s", &[v(json!("a")), v(json!(1))]), "a%!(EXTRA int=1)");
        assert_eq!(
            go_printf("%v", &[v(json!({"b": 1, "a": [1, 2]}))]),
            "map[a:[1 2] b:1]"
        );
        assert_eq!(go_printf("%e", &[v(json!(1234.5))]), "1.234500e+03");
        assert_eq!(go_printf("%g", &[v(json!(0.00001))]), "1e-05");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(
            go_sprint(&[v(json!("a")), v(json!(1)), v(json!(2)), v(json!("b"))]),
            "a1 2b"
        );
        assert_eq!(go_sprintln(&[v(json!("a")), v(json!(1))]), "a 1\n");
    }
}
