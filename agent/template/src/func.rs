//! The template functions by name: the [`Func`] enum, its name/arity table, lookups. Their
//! implementations live in `funcs.rs` (pure ones) and the executor (dependencies).

/// A supported function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Secret,
    Secrets,
    PkiCert,
    File,
    Env,
    MustEnv,
    EnvOrDefault,
    And,
    Or,
    Not,
    Index,
    Len,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Print,
    Printf,
    Println,
    Html,
    Urlquery,
    ToJson,
    ToJsonPretty,
    ToUnescapedJson,
    ToUnescapedJsonPretty,
    Base64Encode,
    Base64Decode,
    Base64UrlEncode,
    Base64UrlDecode,
    TrimSpace,
    Trim,
    TrimPrefix,
    TrimSuffix,
    ToUpper,
    ToLower,
    ToTitle,
    ReplaceAll,
    Split,
    Join,
    Contains,
    In,
    Timestamp,
    ParseJson,
    ParseBool,
    ParseInt,
    ParseUint,
    ParseFloat,
    Indent,
    Sha256Hex,
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Minimum,
    Maximum,
    Loop,
    RegexMatch,
    RegexReplaceAll,
    Md5sum,
    HmacSha256Hex,
    ContainsAll,
    ContainsAny,
    ContainsNone,
    ContainsNotAll,
    SplitToMap,
    ExplodeMap,
    MergeMap,
    MergeMapWithOverride,
    ToYaml,
    ParseYaml,
    /// A `sprig_*` function.
    Sprig(Sprig),
}

use crate::sprig::Sprig;

/// Name, function, minimum and maximum argument count (`None` = variadic).
const TABLE: &[(&str, Func, usize, Option<usize>)] = &[
    ("secret", Func::Secret, 1, None),
    ("secrets", Func::Secrets, 1, Some(1)),
    ("pkiCert", Func::PkiCert, 1, None),
    ("file", Func::File, 1, Some(1)),
    ("env", Func::Env, 1, Some(1)),
    ("mustEnv", Func::MustEnv, 1, Some(1)),
    ("envOrDefault", Func::EnvOrDefault, 2, Some(2)),
    ("and", Func::And, 1, None),
    ("or", Func::Or, 1, None),
    ("not", Func::Not, 1, Some(1)),
    ("index", Func::Index, 1, None),
    ("len", Func::Len, 1, Some(1)),
    ("eq", Func::Eq, 2, None),
    ("ne", Func::Ne, 2, Some(2)),
    ("lt", Func::Lt, 2, Some(2)),
    ("le", Func::Le, 2, Some(2)),
    ("gt", Func::Gt, 2, Some(2)),
    ("ge", Func::Ge, 2, Some(2)),
    ("print", Func::Print, 0, None),
    ("printf", Func::Printf, 1, None),
    ("println", Func::Println, 0, None),
    ("html", Func::Html, 0, None),
    ("urlquery", Func::Urlquery, 0, None),
    ("toJSON", Func::ToJson, 1, Some(1)),
    ("toJSONPretty", Func::ToJsonPretty, 1, Some(1)),
    ("toUnescapedJSON", Func::ToUnescapedJson, 1, Some(1)),
    ("toUnescapedJSONPretty", Func::ToUnescapedJsonPretty, 1, Some(1)),
    ("base64Encode", Func::Base64Encode, 1, Some(1)),
    ("base64Decode", Func::Base64Decode, 1, Some(1)),
    ("base64URLEncode", Func::Base64UrlEncode, 1, Some(1)),
    ("base64URLDecode", Func::Base64UrlDecode, 1, Some(1)),
    ("trimSpace", Func::TrimSpace, 1, Some(1)),
    ("trim", Func::Trim, 2, Some(2)),
    ("trimPrefix", Func::TrimPrefix, 2, Some(2)),
    ("trimSuffix", Func::TrimSuffix, 2, Some(2)),
    ("toUpper", Func::ToUpper, 1, Some(1)),
    ("toLower", Func::ToLower, 1, Some(1)),
    ("toTitle", Func::ToTitle, 1, Some(1)),
    ("replaceAll", Func::ReplaceAll, 3, Some(3)),
    ("split", Func::Split, 2, Some(2)),
    ("join", Func::Join, 2, Some(2)),
    ("contains", Func::Contains, 2, Some(2)),
    ("in", Func::In, 2, Some(2)),
    ("timestamp", Func::Timestamp, 0, Some(1)),
    ("parseJSON", Func::ParseJson, 1, Some(1)),
    ("parseBool", Func::ParseBool, 1, Some(1)),
    ("parseInt", Func::ParseInt, 1, Some(1)),
    ("parseUint", Func::ParseUint, 1, Some(1)),
    ("parseFloat", Func::ParseFloat, 1, Some(1)),
    ("indent", Func::Indent, 2, Some(2)),
    ("sha256Hex", Func::Sha256Hex, 1, Some(1)),
    ("add", Func::Add, 2, Some(2)),
    ("subtract", Func::Subtract, 2, Some(2)),
    ("multiply", Func::Multiply, 2, Some(2)),
    ("divide", Func::Divide, 2, Some(2)),
    ("modulo", Func::Modulo, 2, Some(2)),
    ("minimum", Func::Minimum, 2, Some(2)),
    ("maximum", Func::Maximum, 2, Some(2)),
    ("loop", Func::Loop, 1, Some(2)),
    ("regexMatch", Func::RegexMatch, 2, Some(2)),
    ("regexReplaceAll", Func::RegexReplaceAll, 3, Some(3)),
    ("md5sum", Func::Md5sum, 1, Some(1)),
    ("hmacSHA256Hex", Func::HmacSha256Hex, 2, Some(2)),
    ("containsAll", Func::ContainsAll, 2, Some(2)),
    ("containsAny", Func::ContainsAny, 2, Some(2)),
    ("containsNone", Func::ContainsNone, 2, Some(2)),
    ("containsNotAll", Func::ContainsNotAll, 2, Some(2)),
    ("splitToMap", Func::SplitToMap, 3, Some(3)),
    ("explodeMap", Func::ExplodeMap, 1, Some(1)),
    ("mergeMap", Func::MergeMap, 2, Some(2)),
    ("mergeMapWithOverride", Func::MergeMapWithOverride, 2, Some(2)),
    ("toYAML", Func::ToYaml, 1, Some(1)),
    ("parseYAML", Func::ParseYaml, 1, Some(1)),
];

/// Every entry: the core table, then the sprig functions.
fn entries() -> impl Iterator<Item = (&'static str, Func, usize, Option<usize>)> {
    TABLE.iter().copied().chain(
        crate::sprig::TABLE
            .iter()
            .map(|&(n, f, min, max)| (n, Func::Sprig(f), min, max)),
    )
}

/// Names of every supported function, for documentation and the handlebars registry.
pub(crate) fn all() -> impl Iterator<Item = (&'static str, Func)> {
    entries().map(|(n, f, _, _)| (n, f))
}

impl Func {
    pub(crate) fn lookup(name: &str) -> Option<Func> {
        entries().find(|(n, ..)| *n == name).map(|(_, f, ..)| f)
    }

    pub(crate) fn name(self) -> &'static str {
        entries().find(|(_, f, ..)| *f == self).map_or("?", |(n, ..)| n)
    }

    /// Checks the number of arguments (the piped value included).
    pub(crate) fn check_arity(self, n: usize) -> Result<(), String> {
        let (_, _, min, max) = entries()
            .find(|(_, f, ..)| *f == self)
            .unwrap_or(("", self, 0, None));
        let ok = n >= min && max.is_none_or(|m| n <= m);
        if ok {
            return Ok(());
        }
        let want = match max {
            Some(m) if m == min => format!("{min}"),
            Some(m) => format!("{min} to {m}"),
            None => format!("at least {min}"),
        };
        Err(format!(
            "wrong number of args for {}: want {want} got {n}",
            self.name()
        ))
    }

    /// The function reads a dependency (evaluated by the executor, not by [`Func::call`]).
    pub(crate) fn is_dependency(self) -> bool {
        matches!(self, Func::Secret | Func::Secrets | Func::PkiCert | Func::File)
    }
}
