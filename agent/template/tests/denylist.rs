//! `function_denylist` (Vault Agent's template stanza, consul-template's): a denied function fails
//! when called, with consul-template's "function is disabled", and what it reads is not prefetched.

use std::collections::BTreeMap;

use ferrovault_template::{Compiled, DENIED, Dependency, Rendered, TemplateSource};
use serde_json::json;

fn compile(text: &str, denied: &[&str]) -> Compiled {
    let names: Vec<String> = denied.iter().map(|n| (*n).to_owned()).collect();
    Compiled::compile(&TemplateSource::new(text))
        .unwrap()
        .deny(&names)
}

fn file(path: &str) -> Dependency {
    Dependency::File { path: path.into() }
}

#[test]
fn a_denied_function_fails_at_render_and_reads_nothing() {
    let mut data = BTreeMap::new();
    data.insert(file("/home/vault/.vault-token"), json!("s.token"));
    for text in [
        r#"{{ file "/home/vault/.vault-token" }}"#,
        "{{!-- handlebars --}}\n{{file \"/home/vault/.vault-token\"}}",
    ] {
        let t = compile(text, &["file", "no-such-function"]);
        assert!(
            t.static_dependencies().is_empty(),
            "{text}: a denied file is prefetched"
        );
        let err = t.render(&data).unwrap_err();
        assert!(
            err.message.contains("error calling file") && err.message.contains(DENIED),
            "{text}: {err}"
        );
        assert!(!err.message.contains("s.token"), "{err}");
        // not denied: as before
        let t = compile(text, &[]);
        assert_eq!(t.static_dependencies(), [file("/home/vault/.vault-token")]);
        assert_eq!(t.render(&data).unwrap(), Rendered::Complete(b"s.token".to_vec()));
    }
}

#[test]
fn env_and_pure_functions_can_be_denied_too() {
    let data: BTreeMap<Dependency, serde_json::Value> = BTreeMap::new();
    for (text, name) in [
        (r#"{{ env "HOME" }}"#, "env"),
        (r#"{{ envOrDefault "X" "y" }}"#, "envOrDefault"),
        (r#"{{ "a" | toUpper }}"#, "toUpper"),
        ("{{!-- handlebars --}}\n{{env \"HOME\"}}", "env"),
    ] {
        let err = compile(text, &[name]).render(&data).unwrap_err();
        assert!(
            err.message.contains(&format!("error calling {name}: {DENIED}")),
            "{text}: {err}"
        );
    }
    // a denied function in a branch not taken does not fail the render (as in Go)
    let t = compile(r#"{{ if false }}{{ env "HOME" }}{{ end }}ok"#, &["env"]);
    assert_eq!(t.render(&data).unwrap(), Rendered::Complete(b"ok".to_vec()));
    // a denied secret is neither prefetched nor rendered
    let t = compile(r#"{{ with secret "kv/app" }}{{ .Data.x }}{{ end }}"#, &["secret"]);
    assert!(t.static_dependencies().is_empty());
    assert!(t.render(&data).unwrap_err().message.contains(DENIED));
}
