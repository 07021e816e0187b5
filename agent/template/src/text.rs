//! String functions with Go's exact rules: RE2 regular expressions (`regexMatch`,
//! `regexReplaceAll`), `toTitle` (golang.org/x/text/cases), digests (`md5sum`, `hmacSHA256Hex`)
//! and `splitToMap`.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Largest compiled program one pattern may make (the `regex` crate's size limit).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a Go (RE2) pattern with the `regex-lite` crate (small: the agent's binary size is a
/// goal). Like Go's, its `\d`, `\w` and `\b` are ASCII; Go's `\s` has no `\v` and `\Q…\E` quotes,
/// so those are rewritten; a `{` that does not start a repetition and `[`, `&`, `~` inside a class
/// are literal in Go. Unlike Go, `\p{…}` classes are refused and `(?i)` folds ASCII letters only.
///
/// The last pattern compiled on this thread is kept, so that a call inside a `range` compiles once.
pub(crate) fn go_regex(pattern: &str) -> Result<regex_lite::Regex, String> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(String, regex_lite::Regex)>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(re) = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(p, _)| p == pattern)
            .map(|(_, re)| re.clone())
    }) {
        return Ok(re);
    }
    let re = compile(pattern)?;
    LAST.with_borrow_mut(|last| *last = Some((pattern.to_owned(), re.clone())));
    Ok(re)
}

fn compile(pattern: &str) -> Result<regex_lite::Regex, String> {
    let translated = translate(pattern);
    regex_lite::RegexBuilder::new(&translated)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            if e.to_string().contains("size limit") {
                format!("the regular expression compiles to more than {REGEX_SIZE_LIMIT} bytes (the regex size limit)")
            } else {
                "the regular expression is not valid".to_owned()
            }
        })
}

fn class_escape(c: char, in_class: bool) -> Option<&'static str> {
    Some(match (c, in_class) {
        ('d', false) => "[0-9]",
        ('D', false) => "[^0-9]",
        ('w', false) => "[0-9A-Za-z_]",
        ('W', false) => "[^0-9A-Za-z_]",
        ('s', false) => "[\\t\\n\\f\\r ]",
        ('S', false) => "[^\\t\\n\\f\\r ]",
        ('d', true) => "0-9",
        ('w', true) => "0-9A-Za-z_",
        ('s', true) => "\\t\\n\\f\\r ",
        _ => return None,
    })
}

fn translate(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 16);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' if i + 1 < chars.len() => {
                let n = chars[i + 1];
                if n == 'Q' {
                    let rest: String = chars[i + 2..].iter().collect();
                    let (quoted, after) = match rest.find("\\E") {
                        Some(end) => (&rest[..end], end + 2),
                        None => (rest.as_str(), rest.len()),
                    };
                    for q in quoted.chars() {
                        if q.is_ascii_punctuation() || q == ' ' {
                            out.push('\\');
                        }
                        out.push(q);
                    }
                    i += 2 + rest[..after].chars().count();
                    continue;
                }
                match class_escape(n, in_class) {
                    Some(r) => out.push_str(r),
                    None => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                i += 2;
                // `\p{Greek}`, `\x{263a}`: the braces belong to the escape.
                if matches!(n, 'p' | 'P' | 'x') && chars.get(i) == Some(&'{') {
                    while i < chars.len() {
                        out.push(chars[i]);
                        i += 1;
                        if chars[i - 1] == '}' {
                            break;
                        }
                    }
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                i += 1;
                continue;
            }
            '[' if chars.get(i + 1) == Some(&':') => {
                // A POSIX class such as [:alpha:]: copied to its closing ":]".
                let rest: String = chars[i..].iter().collect();
                let len = rest.find(":]").map_or(1, |e| rest[..e + 2].chars().count());
                out.extend(&chars[i..i + len]);
                i += len;
                continue;
            }
            '[' | '&' | '~' if in_class => out.push('\\'),
            ']' if in_class && !at_class_start => in_class = false,
            '{' if !in_class && !repetition(&chars[i..]) => out.push('\\'),
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `{n}`, `{n,}` or `{n,m}` starts here.
fn repetition(chars: &[char]) -> bool {
    let Some(end) = chars.iter().position(|&c| c == '}') else {
        return false;
    };
    let inner: String = chars[1..end].iter().collect();
    let (a, b) = inner.split_once(',').unwrap_or((&inner, "0"));
    !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
}

/// Go's `Regexp.ReplaceAllString`: `$1`, `${1}`, `$name`, `${name}` and `$$` in the replacement,
/// an empty match right after a match skipped; fails once the result passes `max_len` bytes.
pub(crate) fn regex_replace_all(
    re: &regex_lite::Regex,
    s: &str,
    repl: &str,
    max_len: usize,
) -> Result<String, String> {
    let too_large = || format!("the result would be larger than {max_len} bytes (the output limit)");
    // Each `$` of the replacement expands to at most the whole match.
    let refs = repl.matches('$').count();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&s[last..m.start()]);
        let bound = refs.saturating_mul(m.len()).saturating_add(repl.len());
        if out.len().saturating_add(bound) > max_len {
            return Err(too_large());
        }
        caps.expand(repl, &mut out);
        last = m.end();
    }
    out.push_str(&s[last..]);
    if out.len() > max_len {
        return Err(too_large());
    }
    Ok(out)
}

/// `cases.Title(language.Und, cases.NoLower)`: the first cased letter of each word upper-cased
/// (title-cased), the rest left as they are. Words break at characters that are neither letters,
/// digits, `_`, marks nor word-joining punctuation (`'`, `.`, `:`, `·`…), and at two of those in a
/// row.
pub(crate) fn to_title(s: &str) -> String {
    let is_mid = |c: char| {
        matches!(
            c,
            '\'' | '.'
                | ':'
                | '\u{b7}'
                | '\u{387}'
                | '\u{5f4}'
                | '\u{2018}'
                | '\u{2019}'
                | '\u{2024}'
                | '\u{2027}'
                | '\u{fe13}'
                | '\u{fe52}'
                | '\u{fe55}'
                | '\u{ff07}'
                | '\u{ff0e}'
                | '\u{ff1a}'
        )
    };
    let is_break = |c: char| !(c.is_alphanumeric() || c == '_' || is_mid(c) || is_mark(c));
    let mut out = String::with_capacity(s.len());
    let mut mid_word = false;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_lowercase() || c.is_uppercase() {
            if mid_word {
                out.push(c);
            } else {
                push_title(&mut out, c);
                mid_word = true;
            }
        } else {
            out.push(c);
            if is_break(c) {
                mid_word = false;
            }
        }
        if is_mid(c) && chars.get(i + 1).is_some_and(|&n| is_mid(n)) {
            mid_word = false;
        }
    }
    out
}

/// Combining marks (the common blocks), which stay inside a word.
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn push_title(out: &mut String, c: char) {
    match c {
        'ß' => out.push_str("Ss"),
        'ǆ' | 'Ǆ' | 'ǅ' => out.push('ǅ'),
        'ǉ' | 'Ǉ' | 'ǈ' => out.push('ǈ'),
        'ǌ' | 'Ǌ' | 'ǋ' => out.push('ǋ'),
        'ǳ' | 'Ǳ' | 'ǲ' => out.push('ǲ'),
        c => out.extend(c.to_uppercase()),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub(crate) fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    hex(&md5::Md5::digest(data))
}

/// HMAC-SHA256 (RFC 2104) in lower-case hex.
pub(crate) fn hmac_sha256_hex(message: &[u8], key: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| block.iter().map(|b| b ^ x).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    hex(&Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize())
}

/// Go's `strings.Split` (an empty separator splits into characters).
pub(crate) fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return s.char_indices().map(|(i, c)| &s[i..i + c.len_utf8()]).collect();
    }
    s.split(sep).collect()
}

/// consul-template's `splitToMap`: pairs split on `sep1`, each cut at its first `sep2` (pairs
/// without one are dropped, a later key wins).
pub(crate) fn split_to_map(sep1: &str, sep2: &str, s: &str) -> Value {
    let s = s.trim();
    let mut m = Map::new();
    if s.is_empty() {
        return Value::Object(m);
    }
    for part in go_split(s, sep1) {
        if let Some((k, v)) = part.split_once(sep2) {
            m.insert(k.to_owned(), Value::String(v.to_owned()));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(re: &str, repl: &str, s: &str) -> String {
        regex_replace_all(&go_regex(re).unwrap(), s, repl, 1 << 20).unwrap()
    }

    // Expected values are what `bao agent` (OpenBao 2.7.2) rendered.
    #[test]
    fn regex_like_go() {
        assert_eq!(
            replace("(\\w+)@(\\w+)", "${2}:$1", "alice@example bob@host"),
            "example:alice host:bob"
        );
        assert_eq!(replace("a*", "-", "baaac"), "-b-c-");
        assert_eq!(replace("x*", "-", "abc"), "-a-b-c-");
        assert_eq!(
            replace("(a)(b)?", "[$2|$1x|${1}x|$$|$]", "ab a"),
            "[b||ax|$|$] [||ax|$|$]"
        );
        assert!(!go_regex("\\d").unwrap().is_match("٣"));
        assert!(!go_regex("\\w").unwrap().is_match("é"));
        // regex-lite: ASCII case folding and no Unicode classes (Go has both).
        assert!(go_regex("(?i)K").unwrap().is_match("k"));
        assert!(go_regex("\\p{Greek}").is_err());
        assert_eq!(replace("[\\Da]+", "-", "a1b2"), "-1-2");
        assert_eq!(replace("[\\w.]+", "-", "a.b c"), "- -");
        assert_eq!(replace("\\s", "_", "a\u{b}b\tc"), "a\u{b}b_c");
        assert_eq!(replace("\\bfoo\\b", "X", "foo éfoo foo_"), "X éX foo_");
        assert_eq!(replace("[[:alpha:]]+", "A", "ab12cd"), "A12A");
        assert_eq!(replace("a{", "b", "a{"), "b");
        assert_eq!(replace("[a[&]", "-", "a[&b"), "---b");
        assert_eq!(replace("\\Q.*\\E", "-", "a.*b"), "a-b");
    }

    #[test]
    fn title_like_x_text_cases() {
        assert_eq!(
            to_title("hello world o'neil a-b a_b 1st x.y ÉCOLE éa camelCase HTTPServer  two  spaces\ttab"),
            "Hello World O'neil A-B A_b 1St X.y ÉCOLE Éa CamelCase HTTPServer  Two  Spaces\tTab"
        );
    }

    #[test]
    fn digests() {
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            hmac_sha256_hex(b"msg", b"key"),
            "2d93cbc1be167bcb1637a4a23cbff01a7878f0c50ee833954ea5221bb1b8c628"
        );
    }
}
