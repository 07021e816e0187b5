//! Golden vectors from agent.md (§1.2, §1.6, §2.7, §3.4) and the behaviour the agent relies on.
//! Pure: the data a fetcher would return is given directly.

use std::collections::{BTreeMap, BTreeSet};

use ferrovault_contract::DefaultTemplate;
use ferrovault_template::{
    Compiled, DataSource, Dependency, HANDLEBARS_MARKER, Rendered, TemplateError, TemplateSource, check,
};
use serde_json::{Value, json};

fn read(path: &str) -> Dependency {
    Dependency::Read { path: path.into() }
}

/// Vault's secret struct around raw API `data`.
fn secret(data: Value, lease: u64) -> Value {
    json!({
        "RequestID": "7c2e4d1a-0000-0000-0000-000000000000",
        "LeaseID": "",
        "LeaseDuration": lease,
        "Renewable": false,
        "Data": data,
        "Warnings": null,
        "Auth": null,
        "WrapInfo": null,
    })
}

fn kv2(data: Value) -> Value {
    secret(
        json!({
            "data": data,
            "metadata": {
                "created_time": "2024-05-01T10:00:00.123456Z",
                "custom_metadata": null,
                "deletion_time": "",
                "destroyed": false,
                "version": 1
            }
        }),
        0,
    )
}

fn kv1(data: Value) -> Value {
    secret(data, 2_764_800)
}

/// The dev-server setup of agent.md: KV v2 `secret/`, KV v1 `kv1/`.
fn peer_data() -> BTreeMap<Dependency, Value> {
    BTreeMap::from([
        (
            read("secret/my-secret"),
            kv2(json!({"username": "wizard", "password": "s3cr3t"})),
        ),
        (
            read("kv1/my-secret"),
            kv1(json!({"username": "wizard", "password": "s3cr3t"})),
        ),
        (
            read("secret/typed"),
            kv2(json!({
                "num": 42, "flag": true, "arr": ["x", "y"], "obj": {"b": 1, "a": "z"},
                "nul": null, "key-with-dash": "d"
            })),
        ),
    ])
}

fn render_with(src: &TemplateSource<'_>, data: &dyn DataSource) -> Result<Rendered, TemplateError> {
    Compiled::compile(src)?.render(data)
}

#[track_caller]
fn render_ok(text: &str, data: &dyn DataSource) -> String {
    match render_with(&TemplateSource::new(text), data) {
        Ok(Rendered::Complete(bytes)) => String::from_utf8(bytes).unwrap(),
        other => panic!("template {text:?}: expected complete output, got {other:?}"),
    }
}

#[track_caller]
fn render_err(src: &TemplateSource<'_>, data: &dyn DataSource) -> TemplateError {
    match render_with(src, data) {
        Err(e) => e,
        other => panic!("template {:?}: expected an error, got {other:?}", src.text),
    }
}

#[track_caller]
fn compile_err(text: &str) -> String {
    match Compiled::compile(&TemplateSource::new(text)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("template {text:?} compiled"),
    }
}

const SEED: &str = "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}";

fn seed_data() -> BTreeMap<Dependency, Value> {
    BTreeMap::from([(
        read("secret/my-secret"),
        kv1(json!({"username": "alice", "password": "s3cr3t"})),
    )])
}

// --- the seed template ---

#[test]
fn seed_without_final_newline_renders_without_one() {
    assert_eq!(
        render_ok(SEED, &seed_data()),
        "postgresql://alice:s3cr3t@postgres:5432/wizard"
    );
}

#[test]
fn seed_from_yaml_block_scalar_keeps_exactly_one_newline() {
    let text = format!("{SEED}\n");
    assert_eq!(
        render_ok(&text, &seed_data()),
        "postgresql://alice:s3cr3t@postgres:5432/wizard\n"
    );
}

#[test]
fn seed_renders_in_one_pass_after_prefetching_static_dependencies() {
    let compiled = Compiled::compile(&TemplateSource::new(SEED)).unwrap();
    assert_eq!(compiled.static_dependencies(), vec![read("secret/my-secret")]);
    let empty = BTreeMap::<Dependency, Value>::new();
    assert_eq!(
        compiled.render(&empty).unwrap(),
        Rendered::Incomplete {
            missing: BTreeSet::from([read("secret/my-secret")])
        }
    );
    assert!(matches!(
        compiled.render(&seed_data()).unwrap(),
        Rendered::Complete(_)
    ));
}

#[test]
fn annotation_example_on_peer_kv1_is_47_bytes() {
    let out = render_ok(
        SEED.replace("secret/my-secret", "kv1/my-secret").as_str(),
        &peer_data(),
    );
    assert_eq!(out, "postgresql://wizard:s3cr3t@postgres:5432/wizard");
    assert_eq!(out.len(), 47);
}

// --- §1.2 whitespace ---

#[test]
fn no_standalone_line_rule() {
    let t = "{{ with secret \"secret/my-secret\" }}\nuser={{ .Data.data.username }}\n{{ end }}\n";
    assert_eq!(render_ok(t, &peer_data()), "\nuser=wizard\n\n");
}

#[test]
fn trim_markers_remove_all_adjacent_ascii_white_space() {
    let t =
        "  {{- with secret \"secret/my-secret\" -}}  \n  user={{ .Data.data.username }}  \n  {{- end }}\n";
    assert_eq!(render_ok(t, &peer_data()), "user=wizard\n");
}

#[test]
fn trim_needs_a_space_and_only_trims_go_white_space() {
    let none = BTreeMap::<Dependency, Value>::new();
    assert_eq!(render_ok("a {{-3}} b", &none), "a -3 b");
    assert_eq!(render_ok("a\u{a0} {{- 1 -}} \u{a0}b", &none), "a\u{a0}1\u{a0}b");
    assert_eq!(
        render_ok("a {{/* c */}} b|x \n{{- /* c */ -}}\n y", &none),
        "a  b|xy"
    );
}

// --- §2.7 default templates ---

#[test]
fn default_map_template_kv2() {
    let t = DefaultTemplate::Map.contents("secret/my-secret");
    assert_eq!(
        render_ok(&t, &peer_data()),
        "data: map[password:s3cr3t username:wizard]\nmetadata: map[created_time:2024-05-01T10:00:00.123456Z custom_metadata:<nil> deletion_time: destroyed:false version:1]\n"
    );
}

#[test]
fn default_map_template_kv1() {
    let t = DefaultTemplate::Map.contents("kv1/my-secret");
    assert_eq!(
        render_ok(&t, &peer_data()),
        "password: s3cr3t\nusername: wizard\n"
    );
}

#[test]
fn default_json_template_kv2_and_kv1() {
    let t = DefaultTemplate::Json.contents("secret/my-secret");
    assert_eq!(
        render_ok(&t, &peer_data()),
        "{\"data\":{\"password\":\"s3cr3t\",\"username\":\"wizard\"},\"metadata\":{\"created_time\":\"2024-05-01T10:00:00.123456Z\",\"custom_metadata\":null,\"deletion_time\":\"\",\"destroyed\":false,\"version\":1}}\n"
    );
    let t = DefaultTemplate::Json.contents("kv1/my-secret");
    assert_eq!(
        render_ok(&t, &peer_data()),
        "{\"password\":\"s3cr3t\",\"username\":\"wizard\"}\n"
    );
}

// --- §3.4 peer vectors ---

#[test]
fn peer_vectors() {
    let cases = [
        (
            r#"{{ with secret "secret/typed" }}num={{ .Data.data.num }} flag={{ .Data.data.flag }} arr={{ .Data.data.arr }} obj={{ .Data.data.obj }} nul={{ .Data.data.nul }} missing={{ .Data.data.missing }} dash={{ index .Data.data "key-with-dash" }} len={{ len .Data.data.arr }}{{ end }}"#,
            "num=42 flag=true arr=[x y] obj=map[a:z b:1] nul=<no value> missing=<no value> dash=d len=2",
        ),
        (
            r#"{{ with secret "secret/my-secret" }}{{ or .Data.data.missing "fallback" }}|{{ and .Data.data.username .Data.data.password }}|{{ if eq .Data.data.username "wizard" "x" }}eq-variadic-yes{{ end }}{{ end }}"#,
            "fallback|s3cr3t|eq-variadic-yes",
        ),
        (
            r#"{{ with secret "secret/my-secret" }}{{ printf "%s:%s@%q" .Data.data.username .Data.data.password "h" }}|{{ .Data.data.username | toUpper | printf "<%s>" }}|{{ .Data.data.password | base64Encode }}|{{ "a,b,c" | split "," | join ";" }}|{{ replaceAll "s3" "XX" .Data.data.password }}{{ end }}"#,
            r#"wizard:s3cr3t@"h"|<WIZARD>|czNjcjN0|a;b;c|XXcr3t"#,
        ),
        (
            r#"{{ range $i, $e := split "," "x,y" }}{{ $i }}={{ $e }};{{ end }}{{ range split "," "" }}never{{ else }}empty-else{{ end }}"#,
            "0=x;1=y;empty-else",
        ),
        (
            r#"{{ $s := secret "secret/my-secret" }}{{ $u := $s.Data.data.username }}{{ $u }}/{{ (secret "kv1/my-secret").Data.password }}"#,
            "wizard/s3cr3t",
        ),
        (
            r#"{{ with secret "secret/typed" }}{{ .Data.data.obj | toJSONPretty }}{{ end }}"#,
            "{\n  \"a\": \"z\",\n  \"b\": 1\n}",
        ),
        (
            r#"{{ with secret "secret/my-secret" }}{{ "<a&b>'\"" }}{{ end }}"#,
            "<a&b>'\"",
        ),
    ];
    for (template, expected) in cases {
        assert_eq!(render_ok(template, &peer_data()), expected, "template {template}");
    }
}

// --- §1.6 / §0 KV semantics and missing keys ---

#[test]
fn kv2_paths() {
    let d = peer_data();
    assert_eq!(
        render_ok(
            r#"{{ with secret "secret/my-secret" }}{{ .Data.data.username }}{{ end }}"#,
            &d
        ),
        "wizard"
    );
    assert_eq!(
        render_ok(
            r#"{{ with secret "secret/my-secret" }}{{ .Data.username }}{{ end }}"#,
            &d
        ),
        "<no value>"
    );
    assert_eq!(
        render_ok(
            r#"{{ with secret "secret/my-secret" }}{{ .Data.metadata.version }} {{ .LeaseDuration }} {{ .Renewable }}{{ end }}"#,
            &d
        ),
        "1 0 false"
    );
    assert_eq!(
        render_ok(
            r#"{{ with secret "kv1/my-secret" }}{{ .LeaseDuration }}{{ end }}"#,
            &d
        ),
        "2764800"
    );
}

#[test]
fn kv1_missing_intermediate_is_an_error_even_without_the_option() {
    let text = "x\n{{ with secret \"kv1/my-secret\" }}{{ .Data.data.username }}{{ end }}";
    let e = render_err(&TemplateSource::new(text), &peer_data());
    assert_eq!((e.line, e.column), (2, 37), "{e}");
    assert!(
        e.message.contains("nil pointer evaluating interface {}.username"),
        "{e}"
    );
}

#[test]
fn error_on_missing_key() {
    let d = peer_data();
    let strict = |text| TemplateSource {
        error_on_missing_key: true,
        ..TemplateSource::new(text)
    };
    let e = render_err(
        &strict(r#"{{ with secret "secret/my-secret" }}{{ .Data.username }}{{ end }}"#),
        &d,
    );
    assert!(
        e.message.contains(r#"map has no entry for key "username""#),
        "{e}"
    );
    let e = render_err(
        &strict(r#"{{ with secret "kv1/my-secret" }}{{ .Data.data.username }}{{ end }}"#),
        &d,
    );
    assert!(e.message.contains(r#"map has no entry for key "data""#), "{e}");
    // `index` ignores the option; a present null is not missing.
    let out = Compiled::compile(&strict(
        r#"{{ with secret "secret/typed" }}{{ index .Data.data "nope" }}|{{ .Data.data.nul }}{{ end }}"#,
    ))
    .unwrap()
    .render(&d)
    .unwrap();
    assert_eq!(out, Rendered::Complete(b"<no value>|<no value>".to_vec()));
}

#[test]
fn unknown_struct_fields_are_errors() {
    for field in ["data", "Dta"] {
        let text =
            format!(r#"{{{{ with secret "secret/my-secret" }}}}{{{{ .{field}.username }}}}{{{{ end }}}}"#);
        let e = render_err(&TemplateSource::new(&text), &peer_data());
        assert!(
            e.message.contains(&format!("can't evaluate field {field}")),
            "{e}"
        );
    }
}

// --- handlebars pitfalls that must not leak into the Go dialect ---

#[test]
fn go_dialect_has_none_of_the_handlebars_pitfalls() {
    let d = BTreeMap::from([(
        read("kv/x"),
        kv1(json!({"p": "s3<cr>&t", "m": {"b": [1, 2], "a": null}})),
    )]);
    assert_eq!(
        render_ok(r#"{{ with secret "kv/x" }}{{ .Data.p }}{{ end }}"#, &d),
        "s3<cr>&t"
    );
    assert_eq!(render_ok(r#"C:\{{ "x" }}"#, &d), r"C:\x");
    assert_eq!(render_ok("{{ if true }}\nline\n{{ end }}\n", &d), "\nline\n\n");
    assert_eq!(
        render_ok(
            r#"{{ or 0 "" "operand" }}|{{ and 1 "last" }}|{{ and 0 "x" }}"#,
            &d
        ),
        "operand|last|0"
    );
    assert_eq!(
        render_ok(r#"{{ with secret "kv/x" }}{{ .Data.m }}{{ end }}"#, &d),
        "map[a:<nil> b:[1 2]]"
    );
}

#[test]
fn maps_iterate_in_sorted_order() {
    // Build the map in reverse order: if serde_json's preserve_order were unified in, insertion order
    // would differ from sorted order.
    let mut m = serde_json::Map::new();
    for k in ["zeta", "mu", "alpha", "beta"] {
        m.insert(k.into(), Value::String(k.to_uppercase()));
    }
    let d = BTreeMap::from([(read("kv/order"), kv1(Value::Object(m)))]);
    assert_eq!(
        render_ok(
            r#"{{ with secret "kv/order" }}{{ range $k, $v := .Data }}{{ $k }}={{ $v }};{{ end }}|{{ .Data }}|{{ toJSON .Data }}{{ end }}"#,
            &d
        ),
        r#"alpha=ALPHA;beta=BETA;mu=MU;zeta=ZETA;|map[alpha:ALPHA beta:BETA mu:MU zeta:ZETA]|{"alpha":"ALPHA","beta":"BETA","mu":"MU","zeta":"ZETA"}"#
    );
    let native = format!(
        "{HANDLEBARS_MARKER}\n{{{{#with (secret \"kv/order\")}}}}{{{{#each Data}}}}{{{{@key}}}};{{{{/each}}}}{{{{/with}}}}"
    );
    assert_eq!(render_ok(&native, &d), "alpha;beta;mu;zeta;");
}

#[test]
fn custom_delimiters() {
    let src = TemplateSource {
        left_delim: "[[",
        right_delim: "]]",
        ..TemplateSource::new(
            "[[- with secret \"secret/my-secret\" -]]\n[[ .Data.data.username ]] {{ not an action }}\n[[- end ]]",
        )
    };
    match render_with(&src, &peer_data()).unwrap() {
        Rendered::Complete(b) => assert_eq!(String::from_utf8(b).unwrap(), "wizard {{ not an action }}"),
        other => panic!("{other:?}"),
    }
}

// --- unsupported constructs ---

#[test]
fn unsupported_constructs_name_line_column_and_construct() {
    assert_eq!(
        compile_err("a\nb\nxx{{ plugin \"x\" }}"),
        r#"line 3, column 6: function "plugin" is not supported"#
    );
    assert_eq!(
        compile_err("{{ if true }}{{ define \"x\" }}{{ end }}{{ end }}"),
        r#"line 1, column 14: {{define}} is only allowed at the top level"#
    );
    assert_eq!(
        compile_err("\n {{ break }}"),
        r#"line 2, column 5: {{break}} outside {{range}}"#
    );
    assert_eq!(
        compile_err("{{ continue }}"),
        r#"line 1, column 4: {{continue}} outside {{range}}"#
    );
    assert_eq!(
        compile_err("{{ $x = 2 }}"),
        r#"line 1, column 4: undefined variable "$x""#
    );
    assert_eq!(
        compile_err("{{ define \"x\" }}a{{ end }}{{ define \"x\" }}b{{ end }}"),
        r#"line 1, column 27: template: multiple definition of template "x""#
    );
    for f in [
        "call",
        "writeToFile",
        "executeTemplate",
        "scratch",
        "plugin",
        "sockaddr",
        "spew_dump",
        "toTOML",
        "sprig_now",
        "sprig_uuidv4",
        "nope",
    ] {
        let e = compile_err(&format!("{{{{ {f} }}}}"));
        assert_eq!(e, format!(r#"line 1, column 4: function "{f}" is not supported"#));
    }
    assert!(
        compile_err("{{ with secret \"x\" }}{{ $u := 1 }}{{ end }}{{ $u }}")
            .contains(r#"undefined variable "$u""#)
    );
    assert!(compile_err("{{ if true }}").contains("has no {{end}}"));
    assert!(compile_err("{{ end }}").contains("unexpected {{end}}"));
    assert!(compile_err("{{ toUpper }}").contains("wrong number of args for toUpper: want 1 got 0"));
    assert!(check(&TemplateSource::new(SEED)).is_ok());
}

// --- dependencies ---

#[test]
fn data_dependent_paths_render_over_several_passes() {
    let t = r#"{{ with secret "kv/a" }}{{ with secret .Data.next }}{{ .Data.v }}{{ end }}{{ end }}"#;
    let compiled = Compiled::compile(&TemplateSource::new(t)).unwrap();
    assert_eq!(compiled.static_dependencies(), vec![read("kv/a")]);
    let mut data = BTreeMap::from([(read("kv/a"), kv1(json!({"next": "kv/b"})))]);
    assert_eq!(
        compiled.render(&data).unwrap(),
        Rendered::Incomplete {
            missing: BTreeSet::from([read("kv/b")])
        }
    );
    data.insert(read("kv/b"), kv1(json!({"v": "found"})));
    assert_eq!(
        compiled.render(&data).unwrap(),
        Rendered::Complete(b"found".to_vec())
    );
}

#[test]
fn missing_data_never_errors_and_writes_nothing() {
    let t = r#"{{ (secret "kv1/my-secret").Data.password | base64Encode }}{{ len (secret "kv/x").Data }}"#;
    let empty = BTreeMap::<Dependency, Value>::new();
    let r = render_with(&TemplateSource::new(t), &empty).unwrap();
    assert_eq!(
        r,
        Rendered::Incomplete {
            missing: BTreeSet::from([read("kv1/my-secret"), read("kv/x")])
        }
    );
}

#[test]
fn dependency_kinds_and_arguments() {
    let t = r#"{{ secret " /pki/issue/web/ " "ttl = 1h" "" "common_name=a.example.com" }}{{ secrets "kv/list" }}{{ pkiCert "pki/issue/web" "common_name=x" }}{{ file "/etc/x" }}{{ secret "kv/" }}"#;
    let compiled = Compiled::compile(&TemplateSource::new(t)).unwrap();
    assert_eq!(
        compiled.static_dependencies(),
        vec![
            Dependency::Write {
                path: "pki/issue/web".into(),
                args: vec![
                    ("common_name".into(), "a.example.com".into()),
                    ("ttl".into(), "1h".into())
                ],
            },
            Dependency::List {
                path: "kv/list".into()
            },
            Dependency::PkiCert {
                path: "pki/issue/web".into(),
                args: vec![("common_name".into(), "x".into())],
            },
            Dependency::File {
                path: "/etc/x".into()
            },
            read("kv"),
        ]
    );
    let list = BTreeMap::from([(
        Dependency::List {
            path: "kv/list".into(),
        },
        json!(["b", "a"]),
    )]);
    assert_eq!(
        render_ok(r#"{{ range secrets "kv/list" }}{{ . }},{{ end }}"#, &list),
        "a,b,"
    );
    let cert = BTreeMap::from([(
        Dependency::PkiCert {
            path: "pki/issue/web".into(),
            args: vec![("common_name".into(), "x".into())],
        },
        json!({"Cert": "C", "Key": "K", "CA": "A", "CAChain": ["A"], "Data": {"Cert": "C"}}),
    )]);
    assert_eq!(
        render_ok(
            r#"{{ with pkiCert "pki/issue/web" "common_name=x" }}{{ .Cert }}{{ .Key }}{{ .CA }}{{ .Data.Cert }}{{ end }}"#,
            &cert
        ),
        "CKAC"
    );
}

// --- secrets never reach errors ---

const MARKER: &str = "SECRETMARKER";

struct MarkedData;

impl DataSource for MarkedData {
    fn get(&self, dep: &Dependency) -> Option<Value> {
        match dep {
            Dependency::Read { path } if path == "kv/m" => Some(kv1(json!({
                "password": MARKER,
                "num": format!("{MARKER}1"),
                "list": [MARKER],
                "map": {"k": MARKER},
                "b64": format!("{MARKER}!!"),
            }))),
            _ => None,
        }
    }

    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

#[test]
fn no_secret_value_in_any_error() {
    let bodies = [
        "{{ .Data.password.x }}",
        "{{ base64Decode .Data.b64 }}",
        "{{ .Data.num | parseInt }}",
        "{{ .Data.password | parseBool }}",
        "{{ .Data.password | parseFloat }}",
        "{{ .Data.password | parseJSON }}",
        "{{ eq .Data.password 1 }}",
        "{{ lt .Data.list 1 }}",
        "{{ index .Data.password 5 }}",
        "{{ range .Data.password }}{{ end }}",
        "{{ secret .Data.password \"nokv\" }}",
        "{{ mustEnv .Data.password }}",
        "{{ add .Data.password 1 }}",
        "{{ indent .Data.password \"x\" }}",
        "{{ join \",\" .Data.map }}",
        "{{ toUpper .Data.list }}",
        "{{ .Data.list.x }}",
        "{{ len .Data.password.x }}",
        "{{ explodeMap .Data.password }}",
        "{{ regexMatch (printf \"(%s\" .Data.password) \"x\" }}",
        "{{ loop .Data.password }}",
        "{{ mergeMap .Data.list .Data.password }}",
        "{{ containsAll .Data.password .Data.list }}",
        "{{ sprig_ternary 1 2 .Data.password }}",
    ];
    for body in bodies {
        let t = format!(r#"{{{{ with secret "kv/m" }}}}{body}{{{{ end }}}}"#);
        let e = render_err(&TemplateSource::new(&t), &MarkedData);
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(MARKER), "{body}: {shown}");
    }
    let strict = TemplateSource {
        error_on_missing_key: true,
        ..TemplateSource::new(r#"{{ with secret "kv/m" }}{{ .Data.nope }}{{ end }}"#)
    };
    assert!(!render_err(&strict, &MarkedData).to_string().contains(MARKER));
}

// --- functions ---

struct Env;

impl DataSource for Env {
    fn get(&self, _: &Dependency) -> Option<Value> {
        None
    }

    fn env(&self, name: &str) -> Option<String> {
        match name {
            "POD_NAME" => Some("web-0".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }
}

#[test]
fn functions() {
    let none = BTreeMap::<Dependency, Value>::new();
    let cases = [
        (
            r#"{{ toJSON (parseJSON "{\"b\":\"<&>\",\"a\":[1,2.5,true,null]}") }}"#,
            r#"{"a":[1,2.5,true,null],"b":"\u003c\u0026\u003e"}"#,
        ),
        (
            r#"{{ toUnescapedJSON (parseJSON "{\"b\":\"<&>\"}") }}"#,
            r#"{"b":"<&>"}"#,
        ),
        (r#"{{ parseJSON "" }}"#, "map[]"),
        (
            r#"{{ "a b" | contains "b" }} {{ in "abc" "z" }} {{ split "," "x,y" | contains "y" }}"#,
            "true false true",
        ),
        (r#"{{ indent 2 "a\n\nb" }}"#, "  a\n\n  b"),
        (
            r#"{{ sha256Hex "abc" }}"#,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            r#"{{ add 1 2 }} {{ subtract 1 10 }} {{ 10 | subtract 1 }} {{ divide 2 10 }} {{ modulo 3 10 }} {{ multiply 2 2.5 }}"#,
            "3 9 9 5 1 5",
        ),
        (
            r#"{{ range loop 3 }}{{ . }}{{ end }} {{ range $i := loop 2 4 }}{{ $i }}{{ end }}"#,
            "012 23",
        ),
        (
            r#"[{{ trimSpace "  x \n" }}] {{ trim "xy" "xyaxy" }} {{ trimPrefix "a" "abc" }} {{ trimSuffix "c" "abc" }}"#,
            "[x] a bc ab",
        ),
        (
            r#"{{ toLower "AbC" }} {{ toTitle "hello wide-world" }} {{ base64URLEncode "??>" }} {{ base64Decode "czNjcjN0" }} {{ base64URLDecode "Pz8-" }}"#,
            "abc Hello Wide-World Pz8- s3cr3t ??>",
        ),
        (
            r#"{{ parseBool "T" }} {{ parseInt "-12" }} {{ parseFloat "1.5" }} {{ parseUint "7" }}"#,
            "true -12 1.5 7",
        ),
        (
            r#"{{ printf "%5.1f|%-4d|%03d|%t|%v|%x" 3.14159 7 5 false "s" "hi" }}"#,
            "  3.1|7   |005|false|s|6869",
        ),
        (r#"{{ print "a" 1 2 "b" }}|{{ println "a" 1 }}"#, "a1 2b|a 1\n"),
        (
            r#"{{ "" | sprig_default "dflt" }} {{ "given" | sprig_default "dflt" }}"#,
            "dflt given",
        ),
        (
            r#"{{ eq 1 1.0 }} {{ ne "a" "b" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }} {{ not 0 }}"#,
            "true true true true true false true",
        ),
        (r#"{{ len "héllo" }} {{ index (split "," "a,b") 1 }}"#, "6 b"),
        (
            r#"{{ $x := "v" }}{{ if $x }}{{ $x }}{{ else }}no{{ end }}{{ if false }}a{{ else if true }}b{{ else }}c{{ end }}"#,
            "vb",
        ),
        (
            r#"{{ with $v := "w" }}{{ $v }}{{ . }}{{ end }}{{ with "" }}x{{ else with "y" }}{{ . }}{{ end }}"#,
            "wwy",
        ),
        (
            r#"{{ range $k, $v := parseJSON "{\"b\":2,\"a\":1}" }}{{ $k }}{{ $v }}{{ end }}{{ range parseJSON "[]" }}x{{ else }}empty{{ end }}"#,
            "a1b2empty",
        ),
        (
            r#"{{ 0x1F }} {{ 1_000 }} {{ 'a' }} {{ print nil }} {{ `raw\n` }} {{ "\u00e9\t|" }}"#,
            "31 1000 97 <nil> raw\\n é\t|",
        ),
        (r#"{{ html "<a>" }} {{ urlquery "a b&c" }}"#, "&lt;a&gt; a+b%26c"),
        (
            r#"{{ .Missing }}|{{ $ }}|{{ . }}"#,
            "<no value>|<no value>|<no value>",
        ),
    ];
    for (t, expected) in cases {
        assert_eq!(render_ok(t, &none), expected, "template {t}");
    }
    assert_eq!(
        render_ok(
            r#"{{ env "POD_NAME" }}|{{ env "NOPE" }}|{{ envOrDefault "NOPE" "d" }}|{{ mustEnv "POD_NAME" }}"#,
            &Env
        ),
        "web-0||d|web-0"
    );
    assert_eq!(
        render_ok(
            r#"[{{ envOrDefault "EMPTY" "d" }}]{{ parseBool "" }}{{ toJSON nil }}"#,
            &Env
        ),
        "[]falsenull"
    );
    for name in ["NOPE", "EMPTY"] {
        let t = format!(r#"{{{{ mustEnv "{name}" }}}}"#);
        assert!(
            render_err(&TemplateSource::new(&t), &Env)
                .message
                .contains("mustEnv")
        );
    }
    let ts = render_ok("{{ timestamp }}", &none);
    assert!(
        ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
    assert!(
        render_ok(r#"{{ timestamp "unix" }}"#, &none)
            .parse::<u64>()
            .is_ok()
    );
}

// --- native handlebars ---

#[test]
fn native_handlebars_with_marker() {
    let t = format!(
        "{HANDLEBARS_MARKER}\n{{{{#with (secret \"secret/my-secret\")}}}}\nuser={{{{Data.data.username}}}} {{{{or Data.data.missing \"fallback\"}}}} {{{{go_print Data.data}}}} {{{{toUpper \"<&>\"}}}}\n{{{{/with}}}}\n"
    );
    let compiled = Compiled::compile(&TemplateSource::new(&t)).unwrap();
    assert!(compiled.is_handlebars());
    assert_eq!(compiled.static_dependencies(), vec![read("secret/my-secret")]);
    let empty = BTreeMap::<Dependency, Value>::new();
    assert_eq!(
        compiled.render(&empty).unwrap(),
        Rendered::Incomplete {
            missing: BTreeSet::from([read("secret/my-secret")])
        }
    );
    assert_eq!(
        compiled.render(&peer_data()).unwrap(),
        Rendered::Complete(b"user=wizard fallback map[password:s3cr3t username:wizard] <&>\n".to_vec())
    );
}

#[test]
fn native_handlebars_is_detected_without_marker() {
    let t = r#"{{#with (secret "kv1/my-secret")}}{{Data.password}}{{/with}}"#;
    assert_eq!(render_ok(t, &peer_data()), "s3cr3t");
    let e = compile_err("{{#with}}{{ plugin }}");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn compiled_templates_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Compiled>();
    assert_send_sync::<TemplateError>();
}

#[test]
fn native_env_helpers_use_the_data_source() {
    let t = format!("{HANDLEBARS_MARKER}\n{{{{env \"POD_NAME\"}}}}|{{{{envOrDefault \"NOPE\" \"d\"}}}}");
    assert_eq!(render_ok(&t, &Env), "web-0|d");
}

#[test]
fn secret_struct_prints_and_marshals_in_field_order() {
    let d = BTreeMap::from([(read("kv/s"), json!({"LeaseDuration": 60, "Data": {"k": "v"}}))]);
    assert_eq!(
        render_ok(r#"{{ secret "kv/s" | toJSON }}"#, &d),
        r#"{"RequestID":"","LeaseID":"","LeaseDuration":60,"Renewable":false,"Data":{"k":"v"},"Warnings":null,"Auth":null,"WrapInfo":null}"#
    );
    assert_eq!(
        render_ok(r#"{{ secret "kv/s" }}"#, &d),
        "&{  60 false map[k:v] [] <nil> <nil>}"
    );
}
