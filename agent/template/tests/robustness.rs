//! Arbitrary input never panics: every template either compiles and renders, or is an error.

use std::collections::BTreeMap;

use ferrovault_template::{Compiled, Dependency, TemplateSource};
use serde_json::json;

/// Fragments that exercise the lexer, parser and executor in odd combinations.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "{{", "}}", "{{-", "-}}", " ", "\n", "\t", "é", "$", "$x", ":=", "=", ",", "|", "(", ")", ".", ".Data",
    ".data", ".username", "\"", "\"s\"", "`r`", "'a'", "'", "1", "-3", "0x", "1.5e", "nil", "true", "if", "else",
    "end", "with", "range", "secret", "\"kv/a\"", "index", "printf", "\"%d%s%\"", "len", "and", "or", "eq",
    "toJSON", "split", "\",\"", "loop", "/*", "*/", "{{#with", "{{/with}}", "{{!", "\\", "[[", "]]", "add", "divide",
    "0", "indent", "base64Decode", "sprig_default", "not", "print",
];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
}

#[test]
fn random_templates_never_panic() {
    let data = BTreeMap::from([(
        Dependency::Read { path: "kv/a".into() },
        json!({"Data": {"username": "u", "data": {"x": [1, 2]}, "n": 0}}),
    )]);
    let mut rng = Lcg(42);
    for _ in 0..20_000 {
        let len = 1 + rng.next() % 14;
        let text: String = (0..len).map(|_| PIECES[rng.next() % PIECES.len()]).collect();
        for (left, right) in [("{{", "}}"), ("[[", "]]")] {
            let src = TemplateSource {
                left_delim: left,
                right_delim: right,
                ..TemplateSource::new(&text)
            };
            if let Ok(compiled) = Compiled::compile(&src) {
                let _ = compiled.static_dependencies();
                let _ = compiled.render(&data);
            }
        }
    }
}
