//! consul-template's functions and actions (issue #12 §5), each in a template of `tests/functions/`
//! whose `.out` file is what `bao agent` (OpenBao 2.7.2) wrote for it against a dev server holding
//! the same secret. `tests/tests/openbao_differential.rs` renders the same templates with both
//! agents live.

use std::collections::BTreeMap;

use ferrovault_template::{Compiled, Dependency, Rendered, TemplateSource};
use serde_json::{Value, json};

/// `kv2/fn` on the dev server (KV v2; `tests/tests/openbao_differential.rs` writes the same), as
/// the fetcher hands it over.
fn data() -> BTreeMap<Dependency, Value> {
    let typed = json!({
        "num": 42, "pi": 3.25, "big": 1e21, "neg": -7, "flag": true, "arr": ["x", "y"],
        "nested": {"b": [1, "two", {"c": null}], "a": "z"}, "nul": null, "empty": "",
        "multi": "line1\nline2", "quoted": "yes", "colon": "a: b", "html": "<a&b>", "spaces": " lead",
        "num_str": "123", "emptymap": {}, "emptylist": [], "path/to/key": "v1", "path/other": "v2"
    });
    let secret = json!({
        "RequestID": "", "LeaseID": "", "LeaseDuration": 0, "Renewable": false,
        "Data": {"data": typed, "metadata": {"version": 1}},
        "Warnings": null, "Auth": null, "WrapInfo": null
    });
    BTreeMap::from([(
        Dependency::Read {
            path: "kv2/fn".into(),
        },
        secret,
    )])
}

/// The directory of cases: `NAME.tpl` (the template) and `NAME.out` (what `bao agent` wrote).
fn cases_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/functions")
}

#[test]
fn functions_render_what_bao_agent_rendered() {
    let data = data();
    let mut differences = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tpl"))
        .collect();
    names.sort();
    assert!(names.len() >= 11, "the cases are missing");
    for path in names {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let template = std::fs::read_to_string(&path).unwrap();
        let want = std::fs::read(path.with_extension("out")).unwrap();
        let compiled =
            Compiled::compile(&TemplateSource::new(&template)).unwrap_or_else(|e| panic!("{name}: {e}"));
        match compiled.render(&data) {
            Ok(Rendered::Complete(got)) if got == want => {}
            Ok(Rendered::Complete(got)) => differences.push(format!(
                "{name}:\n  want {:?}\n  got  {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            )),
            other => differences.push(format!("{name}: {other:?}")),
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
