//! How yaml.v2 sees one string: libyaml's scalar analysis, yaml.v2's implicit typing (`resolve`),
//! and its map key order.

use serde_json::{Map, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// What libyaml's `yaml_emitter_analyze_scalar` finds out about a string.
pub(super) struct Analysis {
    pub multiline: bool,
    pub flow_plain: bool,
    pub block_plain: bool,
    pub single: bool,
    pub block: bool,
}

pub(super) fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable` (four-byte UTF-8 characters are not).
pub(super) fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

pub(super) fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain: false,
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let (mut block_ind, mut flow_ind) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        (block_ind, flow_ind) = (true, true);
    }
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_ws = next.is_none_or(|n| n == ' ' || n == '\t' || is_break(n));
        let last = i + 1 == chars.len();
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`' => (flow_ind, block_ind) = (true, true),
                '?' | ':' => {
                    flow_ind = true;
                    block_ind |= followed_by_ws;
                }
                '-' if followed_by_ws => (flow_ind, block_ind) = (true, true),
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_ind = true,
                ':' => {
                    flow_ind = true;
                    block_ind |= followed_by_ws;
                }
                '#' if preceded_by_ws => (flow_ind, block_ind) = (true, true),
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= prev_break;
            (prev_space, prev_break) = (true, false);
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= prev_space;
            (prev_space, prev_break) = (false, true);
        } else {
            (prev_space, prev_break) = (false, false);
        }
        preceded_by_ws = c == ' ' || c == '\t' || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain: true,
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        (a.flow_plain, a.block_plain) = (false, false);
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        (a.flow_plain, a.block_plain, a.single) = (false, false, false);
    }
    if space_break || special {
        (a.flow_plain, a.block_plain, a.single, a.block) = (false, false, false, false);
    }
    if line_breaks {
        (a.flow_plain, a.block_plain) = (false, false);
    }
    if flow_ind {
        a.flow_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

/// yaml.v2's `resolve`: would the plain text read back as something other than this string?
pub(super) fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: [&str; 36] = [
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No", "NO",
        "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan", ".NaN",
        ".NAN", ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF",
    ];
    // Only text starting with a character of yaml.v2's `resolveTable` is looked at.
    let hinted = s
        .bytes()
        .next()
        .is_none_or(|b| b"+-0123456789yYnNtTfFoO~.".contains(&b));
    if !hinted {
        return false;
    }
    if SPECIAL.contains(&s) || matches!(s, "+.inf" | "+.Inf" | "+.INF") {
        return true;
    }
    match s.as_bytes().first() {
        Some(b'.') => go_parse_float(s),
        Some(b'+' | b'-' | b'0'..=b'9') => {
            if is_timestamp(s) {
                return true;
            }
            let plain = s.replace('_', "");
            go_parse_int_base0(&plain) || yaml_style_float(&plain) || binary_int(&plain)
        }
        _ => false,
    }
}

/// `strconv.ParseFloat(s, 64)` succeeds (for text starting with `.`: digits, exponent).
fn go_parse_float(s: &str) -> bool {
    yaml_style_float(s)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` succeeds (base prefixes 0x, 0o, 0b, 0).
fn go_parse_int_base0(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (radix, digits) = if let Some(d) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        (16, d)
    } else if let Some(d) = unsigned
        .strip_prefix("0o")
        .or_else(|| unsigned.strip_prefix("0O"))
    {
        (8, d)
    } else if let Some(d) = unsigned
        .strip_prefix("0b")
        .or_else(|| unsigned.strip_prefix("0B"))
    {
        (2, d)
    } else if unsigned.len() > 1 && unsigned.starts_with('0') {
        (8, &unsigned[1..])
    } else {
        (10, unsigned)
    };
    !digits.is_empty()
        && u64::from_str_radix(digits, radix).is_ok_and(|n| !s.starts_with('-') || n <= 1 << 63)
}

fn binary_int(s: &str) -> bool {
    let d = s.strip_prefix("-0b").or_else(|| s.strip_prefix("0b"));
    d.is_some_and(|d| !d.is_empty() && u64::from_str_radix(d, 2).is_ok())
}

/// yaml.v2's `parseTimestamp` (four digits and `-`, then a date or date-time it accepts).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    // 2006-1-2, optionally followed by [Tt ]15:4:5(.fraction)?(Z|±07:00)? (space form: no zone).
    let rest = &s[5..];
    let mut parts = rest.splitn(2, ['T', 't', ' ']);
    let date = parts.next().unwrap_or("");
    let ok_num = |p: &str, max: u32| {
        !p.is_empty() && p.len() <= 2 && p.parse::<u32>().is_ok_and(|n| n >= 1 && n <= max)
    };
    let Some((m, d)) = date.split_once('-') else {
        return false;
    };
    if !ok_num(m, 12) || !ok_num(d, 31) {
        return false;
    }
    let Some(time) = parts.next() else {
        return true;
    };
    let sep = rest.as_bytes()[date.len()];
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(i) if sep != b' ' => (&time[..i], &time[i..]),
        _ => (time, ""),
    };
    let clock = clock.split_once('.').map_or(clock, |(c, frac)| {
        if frac.bytes().all(|b| b.is_ascii_digit()) {
            c
        } else {
            "x"
        }
    });
    let hms: Vec<&str> = clock.split(':').collect();
    let in_range =
        |p: &str, max: u32| !p.is_empty() && p.len() <= 2 && p.parse::<u32>().is_ok_and(|n| n <= max);
    let clock_ok = hms.len() == 3 && in_range(hms[0], 23) && in_range(hms[1], 59) && in_range(hms[2], 59);
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && zone.as_bytes()[3] == b':'
            && zone[1..3].parse::<u8>().is_ok()
            && zone[4..].parse::<u8>().is_ok());
    if sep == b' ' {
        return clock_ok && zone.is_empty();
    }
    clock_ok && zone_ok && !zone.is_empty()
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
pub(super) fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) || !s.contains(':') {
        return false;
    }
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) && i - start < 2 {
            i += 1;
        }
        let n = &s[start..i];
        if n.is_empty() || (n.len() == 2 && n.as_bytes()[0] > b'5') {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// yaml.v2's key order (`keyList.Less` for string keys): letters after other characters, runs of
/// digits compared as numbers.
fn key_less(a: &str, b: &str) -> bool {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    (an, bn) = (1, 1);
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

pub(crate) fn sorted_keys(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| {
        if key_less(a.0, b.0) {
            std::cmp::Ordering::Less
        } else if key_less(b.0, a.0) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    entries
}
