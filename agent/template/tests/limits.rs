//! Regression tests for issue #8: no template can overflow the stack, spin or exhaust memory. Each
//! input here crashed or ran away before the limits existed. They run on the test harness's threads
//! (2 MiB stacks), like the webhook's and the agent's workers, in debug and release builds alike.

use std::collections::BTreeMap;

use ferrovault_template::{Compiled, Dependency, Limits, Rendered, TemplateError, TemplateSource, check};
use serde_json::json;

fn data() -> BTreeMap<Dependency, serde_json::Value> {
    BTreeMap::from([(
        Dependency::Read {
            path: "secret/db".into(),
        },
        json!({"Data": {"username": "alice", "list": [1, 2, 3]}}),
    )])
}

fn compile_err(text: &str) -> TemplateError {
    Compiled::compile(&TemplateSource::new(text)).expect_err("must be refused")
}

fn render_err(text: &str, limits: Limits) -> TemplateError {
    let compiled = Compiled::compile_with_limits(&TemplateSource::new(text), limits).expect("compiles");
    compiled
        .render(&data())
        .expect_err("the render must stop at a limit")
}

fn nested(open: &str, close: &str, n: usize, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn the_admission_crash_input_is_an_error_naming_the_limit() {
    // The webhook aborted (stack overflow) on exactly this annotation value.
    let text = nested("{{ if true }}", "{{ end }}", 2000, "x");
    let err = compile_err(&text);
    assert!(err.message.contains("nested more than 100 deep"), "{err}");
    assert_eq!((err.line, err.column), (1, 1 + 100 * "{{ if true }}".len()));
    assert!(check(&TemplateSource::new(&text)).is_err());
}

#[test]
fn deep_nesting_of_every_kind_is_refused() {
    for text in [
        nested("{{ if true }}", "{{ end }}", 10_000, "x"),
        nested("{{ with secret \"secret/db\" }}", "{{ end }}", 2000, "x"),
        nested("{{ range loop 1 }}", "{{ end }}", 2000, "x"),
        format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000)),
        format!(
            "{{{{ if true }}}}{}{{{{ end }}}}",
            "{{ else if true }}".repeat(5000)
        ),
        // Native handlebars: blocks, subexpressions, else-if chains.
        nested("{{#if true}}", "{{/if}}", 5000, "x"),
        format!(
            "{{{{#if {}true{}}}}}x{{{{/if}}}}",
            "(not ".repeat(5000),
            ")".repeat(5000)
        ),
        format!("{{{{#if a}}}}{}x{{{{/if}}}}", "{{else if b}}".repeat(5000)),
    ] {
        let err = compile_err(&text);
        assert!(err.message.contains("(the nesting limit)"), "{err}");
    }
}

#[test]
fn nesting_at_the_limit_still_compiles_and_renders() {
    let text = nested("{{ if true }}", "{{ end }}", 100, "x");
    let out = Compiled::compile(&TemplateSource::new(&text))
        .unwrap()
        .render(&data())
        .unwrap();
    assert_eq!(out, Rendered::Complete(b"x".to_vec()));
    let text = format!("{{{{ {}1{} }}}}", "(".repeat(100), ")".repeat(100));
    let out = Compiled::compile(&TemplateSource::new(&text))
        .unwrap()
        .render(&data())
        .unwrap();
    assert_eq!(out, Rendered::Complete(b"1".to_vec()));
    let text = nested("{{#if true}}", "{{/if}}", 100, "x");
    let out = Compiled::compile(&TemplateSource::new(&text))
        .unwrap()
        .render(&data())
        .unwrap();
    assert_eq!(out, Rendered::Complete(b"x".to_vec()));
    let text = nested("{{ if true }}", "{{ end }}", 101, "x");
    assert!(compile_err(&text).message.contains("nesting limit"));
}

#[test]
fn nested_loops_stop_at_the_step_limit() {
    let small = Limits {
        max_steps: 100_000,
        ..Limits::DEFAULT
    };
    // Ran past --init-timeout and grew to 639 MB before the limits.
    for text in [
        "{{ range loop 1000000 }}{{ range loop 1000000 }}{{ end }}{{ end }}",
        "{{ range $i := loop 1000 }}{{ range loop 1000 }}{{ range loop 1000 }}{{ end }}{{ end }}{{ end }}",
        "{{ $l := loop 1000 }}{{ range $l }}{{ range $l }}{{ range $l }}{{ end }}{{ end }}{{ end }}",
        "{{!-- handlebars --}}\n{{#each (loop 1000000)}}{{#each (loop 1000000)}}{{/each}}{{/each}}",
        "{{!-- handlebars --}}\n{{#with (loop 1000) as |l|}}{{#each l}}{{#each l}}{{#each l}}{{/each}}{{/each}}{{/each}}{{/with}}",
    ] {
        let err = render_err(text, small);
        assert!(
            err.message.contains("100000 steps (the step limit)"),
            "{text}: {err}"
        );
    }
}

#[test]
fn output_and_function_results_are_bounded() {
    let small = Limits {
        max_output_bytes: 4096,
        ..Limits::DEFAULT
    };
    for text in [
        "{{ range loop 100000 }}{{ printf \"%100d\" 1 }}{{ end }}",
        "{{ printf \"%1000000d\" 1 }}",
        "{{ range loop 100000 }}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{ end }}",
        "{{ replaceAll \"\" \"0123456789\" \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\" }}",
        "{{ indent 100000000 \"a\" }}",
        "{{ join \"-------------------------------------------\" (loop 1000) }}",
        "{{!-- handlebars --}}\n{{#each (loop 100000)}}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{/each}}",
        "{{!-- handlebars --}}\n{{printf \"%1000000d\" 1}}",
    ] {
        let err = render_err(text, small);
        assert!(
            err.message.contains("4096 bytes (the output limit)"),
            "{text}: {err}"
        );
    }
}

#[test]
fn template_size_and_partials_are_refused() {
    let big = "x".repeat(Limits::DEFAULT.max_template_bytes + 1);
    let err = compile_err(&big);
    assert!(
        err.message.contains("more than the limit of 1048576 bytes"),
        "{err}"
    );
    // A partial that includes itself would recurse without end.
    for text in [
        "{{!-- handlebars --}}\n{{> template}}",
        "{{!-- handlebars --}}\n{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}",
        "{{!-- handlebars --}}\n{{#if true}}{{> template}}{{/if}}",
    ] {
        let err = compile_err(text);
        assert!(
            err.message.contains("not supported in native templates"),
            "{text}: {err}"
        );
    }
}

#[test]
fn real_templates_are_far_from_the_limits() {
    let seed = "{{- with secret \"secret/db\" -}}\npostgresql://{{ .Data.username }}@postgres:5432/wizard\n{{- end }}\n";
    let out = Compiled::compile(&TemplateSource::new(seed))
        .unwrap()
        .render(&data())
        .unwrap();
    assert_eq!(
        out,
        Rendered::Complete(b"postgresql://alice@postgres:5432/wizard\n".to_vec())
    );
    let tight = Limits {
        max_steps: 50,
        ..Limits::DEFAULT
    };
    let compiled = Compiled::compile_with_limits(&TemplateSource::new(seed), tight).unwrap();
    assert!(
        compiled.render(&data()).is_ok(),
        "the seed template needs only a few steps"
    );
}

#[test]
fn fuzz_findings_stay_fixed() {
    // ferrovault-fuzz template, seed 20261130, case 24628: `toJSON.Data` called toJSON with no
    // argument and indexed past the end (a panic in the agent's render).
    for text in ["{{toJSON.Data.data }}", "{{ printf.X }}", "{{ (toJSON).Data }}"] {
        let err = compile_err(text);
        assert!(err.message.contains("wrong number of args"), "{text}: {err}");
    }
}

#[test]
fn new_functions_stay_within_the_output_and_nesting_limits() {
    let limits = Limits {
        max_output_bytes: 1000,
        ..Limits::DEFAULT
    };
    let render = |t: &str| {
        Compiled::compile_with_limits(&TemplateSource::new(t), limits)
            .unwrap()
            .render(&std::collections::BTreeMap::new())
    };
    for t in [
        r#"{{ regexReplaceAll "" "ab$0" (sprig_repeat 900 "0") }}"#,
        r#"{{ regexReplaceAll "0+" "$0$0$0" (sprig_repeat 900 "0") }}"#,
        r#"{{ regexReplaceAll "(x)" "0123456789" (sprig_repeat 500 "x") }}"#,
        r#"{{ sprig_repeat 1001 "a" }}"#,
        r#"{{ sprig_indent 900 "a\nb" }}"#,
        r#"{{ sprig_replace "a" "0123456789" (sprig_repeat 200 "a") }}"#,
        r#"{{ toYAML (printf "%s\t" (sprig_repeat 998 "0")) }}"#,
    ] {
        let e = render(t).unwrap_err();
        assert!(e.message.contains("(the output limit)"), "{t}: {e}");
    }
    let deep = format!(
        r#"{{{{ explodeMap (parseJSON `{{"{}x": 1}}`) }}}}"#,
        "a/".repeat(200)
    );
    assert!(render(&deep).unwrap_err().message.contains("(the nesting limit)"));
    let recursive = r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" 1 }}"#;
    assert!(
        render(recursive)
            .unwrap_err()
            .message
            .contains("(the nesting limit)")
    );
    let big_regex = r#"{{ regexMatch "((\\w{100}){100}){10}" "x" }}"#;
    assert!(
        render(big_regex)
            .unwrap_err()
            .message
            .contains("regex size limit")
    );
}
