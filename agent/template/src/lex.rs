//! Lexer for Go `text/template` with configurable delimiters and `{{-`/`-}}` trimming.

use crate::TemplateError;

/// A lexed piece of the template.
#[derive(Debug)]
pub(crate) enum Item {
    /// Raw text, already trimmed by neighbouring trim markers.
    Text(String),
    /// An action (not a comment): its tokens and the offset of its left delimiter.
    Action { off: usize, toks: Vec<Tok> },
}

/// A token inside an action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok {
    pub kind: TokKind,
    /// Byte offset in the source.
    pub off: usize,
    /// White space separates it from the previous token.
    pub space_before: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokKind {
    /// `.Name`
    Field(String),
    /// `$name` or `$`
    Var(String),
    /// A function name.
    Ident(String),
    Keyword(Keyword),
    /// A decoded string literal.
    Str(String),
    /// A number literal (raw text, or the code of a character constant).
    Number(serde_json::Value),
    Bool(bool),
    Nil,
    Dot,
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    If,
    Else,
    End,
    Range,
    With,
    Define,
    Template,
    Block,
    Break,
    Continue,
}

impl Keyword {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Keyword::If => "if",
            Keyword::Else => "else",
            Keyword::End => "end",
            Keyword::Range => "range",
            Keyword::With => "with",
            Keyword::Define => "define",
            Keyword::Template => "template",
            Keyword::Block => "block",
            Keyword::Break => "break",
            Keyword::Continue => "continue",
        }
    }
}

impl TokKind {
    /// How the token is named in messages (literals are not quoted: they may be sensitive).
    pub(crate) fn describe(&self) -> String {
        match self {
            TokKind::Field(n) => format!("field .{n}"),
            TokKind::Var(n) => format!("variable {n}"),
            TokKind::Ident(n) => format!("function {n:?}"),
            TokKind::Keyword(k) => format!("keyword {:?}", k.name()),
            TokKind::Str(_) => "string literal".into(),
            TokKind::Number(_) => "number".into(),
            TokKind::Bool(_) => "boolean".into(),
            TokKind::Nil => "nil".into(),
            TokKind::Dot => "\".\"".into(),
            TokKind::LParen => "\"(\"".into(),
            TokKind::RParen => "\")\"".into(),
            TokKind::Pipe => "\"|\"".into(),
            TokKind::Declare => "\":=\"".into(),
            TokKind::Assign => "\"=\"".into(),
            TokKind::Comma => "\",\"".into(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(src: &str, off: usize) -> (usize, usize) {
    let before = &src[..off.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// An error at a byte offset.
pub(crate) fn error_at(src: &str, off: usize, message: impl Into<String>) -> TemplateError {
    let (line, column) = line_col(src, off);
    TemplateError {
        line,
        column,
        message: message.into(),
    }
}

/// Go's white space for trim markers.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1])
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0]) && b[1] == b'-'
}

/// Lexes `src` into text and actions.
pub(crate) fn lex(src: &str, left: &str, right: &str) -> Result<Vec<Item>, TemplateError> {
    if left.is_empty() || right.is_empty() {
        return Err(error_at(src, 0, "delimiters must not be empty"));
    }
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    loop {
        let rest = &src[pos..];
        let Some(x) = rest.find(left) else {
            let mut text = rest;
            if trim_next {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                items.push(Item::Text(text.to_owned()));
            }
            return Ok(items);
        };
        let mut text = &rest[..x];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        let action_off = pos + x;
        let mut p = action_off + left.len();
        if has_left_trim(&src[p..]) {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            p += 2;
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_owned()));
        }
        if src[p..].starts_with("/*") {
            let Some(end) = src[p + 2..].find("*/") else {
                return Err(error_at(src, action_off, "unclosed comment"));
            };
            p += 2 + end + 2;
            if has_right_trim(&src[p..]) && src[p + 2..].starts_with(right) {
                trim_next = true;
                pos = p + 2 + right.len();
            } else if src[p..].starts_with(right) {
                trim_next = false;
                pos = p + right.len();
            } else {
                return Err(error_at(src, action_off, "comment ends before closing delimiter"));
            }
            continue;
        }
        let (toks, end, trim) = lex_action(src, p, action_off, right)?;
        items.push(Item::Action {
            off: action_off,
            toks,
        });
        trim_next = trim;
        pos = end;
    }
}

/// Lexes the inside of one action starting at `p`; returns its tokens, the offset after the right
/// delimiter and whether that delimiter carried a trim marker.
fn lex_action(
    src: &str,
    mut p: usize,
    action_off: usize,
    right: &str,
) -> Result<(Vec<Tok>, usize, bool), TemplateError> {
    let mut toks = Vec::new();
    let mut space = false;
    loop {
        let rest = &src[p..];
        if has_right_trim(rest) && rest[2..].starts_with(right) {
            return Ok((toks, p + 2 + right.len(), true));
        }
        if rest.starts_with(right) {
            return Ok((toks, p + right.len(), false));
        }
        let Some(c) = rest.chars().next() else {
            return Err(error_at(src, action_off, "unclosed action"));
        };
        let start = p;
        let kind = match c {
            ' ' | '\t' | '\r' | '\n' => {
                p += 1;
                space = true;
                continue;
            }
            '|' => {
                p += 1;
                TokKind::Pipe
            }
            '(' => {
                p += 1;
                TokKind::LParen
            }
            ')' => {
                p += 1;
                TokKind::RParen
            }
            ',' => {
                p += 1;
                TokKind::Comma
            }
            ':' => {
                if !rest.starts_with(":=") {
                    return Err(error_at(src, start, "expected :="));
                }
                p += 2;
                TokKind::Declare
            }
            '=' => {
                p += 1;
                TokKind::Assign
            }
            '"' => {
                let (s, len) = lex_quoted(src, start)?;
                p += len;
                TokKind::Str(s)
            }
            '`' => {
                let Some(end) = rest[1..].find('`') else {
                    return Err(error_at(src, start, "unterminated raw quoted string"));
                };
                p += end + 2;
                TokKind::Str(rest[1..=end].replace('\r', ""))
            }
            '\'' => {
                let (code, len) = lex_char(src, start)?;
                p += len;
                TokKind::Number(serde_json::Value::from(code))
            }
            '$' => {
                let len = 1 + rest[1..].find(|c: char| !is_alnum(c)).unwrap_or(rest.len() - 1);
                p += len;
                check_terminator(src, p, right)?;
                TokKind::Var(rest[..len].to_owned())
            }
            '.' => {
                let next = rest[1..].chars().next();
                match next {
                    Some(d) if d.is_ascii_digit() => {
                        let (n, len) = lex_number(src, start)?;
                        p += len;
                        n
                    }
                    Some(a) if is_alnum(a) => {
                        let len = 1 + rest[1..].find(|c: char| !is_alnum(c)).unwrap_or(rest.len() - 1);
                        p += len;
                        check_terminator(src, p, right)?;
                        TokKind::Field(rest[1..len].to_owned())
                    }
                    _ => {
                        p += 1;
                        TokKind::Dot
                    }
                }
            }
            '+' | '-' | '0'..='9' => {
                let (n, len) = lex_number(src, start)?;
                p += len;
                n
            }
            c if is_alnum(c) => {
                let len = rest.find(|c: char| !is_alnum(c)).unwrap_or(rest.len());
                p += len;
                check_terminator(src, p, right)?;
                let word = &rest[..len];
                match word {
                    "if" => TokKind::Keyword(Keyword::If),
                    "else" => TokKind::Keyword(Keyword::Else),
                    "end" => TokKind::Keyword(Keyword::End),
                    "range" => TokKind::Keyword(Keyword::Range),
                    "with" => TokKind::Keyword(Keyword::With),
                    "define" => TokKind::Keyword(Keyword::Define),
                    "template" => TokKind::Keyword(Keyword::Template),
                    "block" => TokKind::Keyword(Keyword::Block),
                    "break" => TokKind::Keyword(Keyword::Break),
                    "continue" => TokKind::Keyword(Keyword::Continue),
                    "true" => TokKind::Bool(true),
                    "false" => TokKind::Bool(false),
                    "nil" => TokKind::Nil,
                    _ => TokKind::Ident(word.to_owned()),
                }
            }
            other => {
                return Err(error_at(src, start, format!("unexpected {other:?} in command")));
            }
        };
        toks.push(Tok {
            kind,
            off: start,
            space_before: space,
        });
        space = false;
    }
}

/// Go requires a word to end at a space, punctuation of the grammar or the right delimiter.
fn check_terminator(src: &str, p: usize, right: &str) -> Result<(), TemplateError> {
    let rest = &src[p..];
    match rest.chars().next() {
        None | Some(' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(') => Ok(()),
        Some(_) if rest.starts_with(right) => Ok(()),
        Some(c) => Err(error_at(src, p, format!("bad character {c:?}"))),
    }
}

/// Scans a Go number; returns its value and length.
fn lex_number(src: &str, start: usize) -> Result<(TokKind, usize), TemplateError> {
    let rest = &src[start..];
    let bytes = rest.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let mut digits: &[u8] = b"0123456789_";
    let mut exp: &[u8] = b"eE";
    if rest[i..].len() >= 2 && bytes[i] == b'0' {
        match bytes[i + 1] {
            b'x' | b'X' => {
                i += 2;
                digits = b"0123456789abcdefABCDEF_";
                exp = b"pP";
            }
            b'o' | b'O' => {
                i += 2;
                digits = b"01234567_";
                exp = b"";
            }
            b'b' | b'B' => {
                i += 2;
                digits = b"01_";
                exp = b"";
            }
            _ => {}
        }
    }
    while i < bytes.len() && digits.contains(&bytes[i]) {
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && digits.contains(&bytes[i]) {
            i += 1;
        }
    }
    if !exp.is_empty() && i < bytes.len() && exp.contains(&bytes[i]) {
        i += 1;
        if i < bytes.len() && matches!(bytes[i], b'+' | b'-') {
            i += 1;
        }
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    let text = &rest[..i];
    let bad = || error_at(src, start, "bad number syntax");
    if rest[i..].chars().next().is_some_and(is_alnum) {
        return Err(bad());
    }
    let value = parse_go_number(text).ok_or_else(bad)?;
    Ok((TokKind::Number(value), i))
}

fn parse_go_number(text: &str) -> Option<serde_json::Value> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let radix_int = |digits: &str, radix| i64::from_str_radix(digits, radix).ok();
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains(['.', 'p']) {
            None
        } else {
            radix_int(h, 16)
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        radix_int(o, 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        radix_int(b, 2)
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        if body.len() > 1 && body.starts_with('0') {
            radix_int(&body[1..], 8)
        } else {
            radix_int(body, 10)
        }
    } else {
        None
    };
    if let Some(n) = int {
        return Some(serde_json::Value::from(if neg { -n } else { n }));
    }
    let f: f64 = body.parse().ok()?;
    serde_json::Number::from_f64(if neg { -f } else { f }).map(serde_json::Value::Number)
}

/// Scans a double-quoted Go string starting at `start`; returns the decoded text and its length.
fn lex_quoted(src: &str, start: usize) -> Result<(String, usize), TemplateError> {
    let rest = &src[start..];
    let mut out = String::new();
    let mut chars = rest.char_indices().skip(1);
    let unterminated = || error_at(src, start, "unterminated quoted string");
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => return Err(unterminated()),
            '\\' => {
                let (_, e) = chars.next().ok_or_else(unterminated)?;
                let mut hex = |n: usize| -> Result<u32, TemplateError> {
                    let mut v = 0;
                    for _ in 0..n {
                        let (_, h) = chars.next().ok_or_else(unterminated)?;
                        v = v * 16
                            + h.to_digit(16)
                                .ok_or_else(|| error_at(src, start, "invalid escape in string"))?;
                    }
                    Ok(v)
                };
                let decoded = match e {
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    '\\' => '\\',
                    '"' => '"',
                    'x' => char::from_u32(hex(2)?).unwrap_or('\u{fffd}'),
                    'u' => char::from_u32(hex(4)?).unwrap_or('\u{fffd}'),
                    'U' => char::from_u32(hex(8)?).unwrap_or('\u{fffd}'),
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let (_, o) = chars.next().ok_or_else(unterminated)?;
                            v = v * 8
                                + o.to_digit(8)
                                    .ok_or_else(|| error_at(src, start, "invalid escape in string"))?;
                        }
                        char::from_u32(v).unwrap_or('\u{fffd}')
                    }
                    _ => return Err(error_at(src, start, "invalid escape in string")),
                };
                out.push(decoded);
            }
            c => out.push(c),
        }
    }
    Err(unterminated())
}

/// Scans a character constant such as `'a'` or `'\n'`; returns its code point and length.
fn lex_char(src: &str, start: usize) -> Result<(u32, usize), TemplateError> {
    let rest = &src[start..];
    let Some(end) = rest[1..].find('\'').map(|i| i + 1) else {
        return Err(error_at(src, start, "unterminated character constant"));
    };
    let body = &rest[1..end];
    let (decoded, _) = lex_quoted(&format!("\"{body}\""), 0)
        .map_err(|_| error_at(src, start, "invalid character constant"))?;
    let mut cs = decoded.chars();
    match (cs.next(), cs.next()) {
        (Some(c), None) => Ok((c as u32, end + 1)),
        _ => Err(error_at(src, start, "invalid character constant")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        lex(src, "{{", "}}")
            .unwrap()
            .into_iter()
            .map(|i| match i {
                Item::Text(t) => t,
                Item::Action { .. } => "<A>".into(),
            })
            .collect()
    }

    #[test]
    fn trim_markers_need_a_space() {
        assert_eq!(texts("a \n{{- 1 -}}\n b"), ["a", "<A>", "b"]);
        assert_eq!(texts("a {{-3}} b"), ["a ", "<A>", " b"]);
        assert_eq!(texts("a {{- /* c */ -}} b"), ["a", "b"]);
    }

    #[test]
    fn numbers_and_strings() {
        let items = lex(r#"{{ 0x1F 1_000 -3 1.5 'a' "a\tb\u00e9" `r\n` }}"#, "{{", "}}").unwrap();
        let Item::Action { toks, .. } = &items[0] else {
            panic!()
        };
        let kinds: Vec<_> = toks.iter().map(|t| t.kind.clone()).collect();
        assert_eq!(kinds[0], TokKind::Number(31.into()));
        assert_eq!(kinds[1], TokKind::Number(1000.into()));
        assert_eq!(kinds[2], TokKind::Number((-3).into()));
        assert_eq!(kinds[3], TokKind::Number(serde_json::json!(1.5)));
        assert_eq!(kinds[4], TokKind::Number(97.into()));
        assert_eq!(kinds[5], TokKind::Str("a\tb\u{e9}".into()));
        assert_eq!(kinds[6], TokKind::Str("r\\n".into()));
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_col("ab\ncéx", 6), (2, 3));
    }
}
