//! Differential test: the same templates rendered by the peer (`bao agent`, OpenBao 2.7.2 — Vault
//! Agent's engine) and by `ferrovault-agent`, against the same OpenBao dev server. Every file must be
//! byte for byte identical. This is the fidelity bar for existing vault-k8s users.

use std::path::Path;

use ferrovault_contract::DefaultTemplate;
use ferrovault_tests::openbao::DevServer;
use ferrovault_tests::tools::{run_bao_agent, run_our_agent_init};
use serde_json::json;

/// The function cases of the template crate (`agent/template/tests/functions/NAME.tpl`, whose
/// `.out` files hold what `bao agent` wrote): every consul-template function and action we support
/// appears in one of them or in [`templates`].
fn function_cases() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/template/tests/functions");
    let mut cases: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tpl"))
        .map(|p| {
            let name = format!("fn-{}.txt", p.file_stem().unwrap().to_string_lossy());
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 11,
        "the function cases are missing from {}",
        dir.display()
    );
    cases
}

/// (file name, template text). Every one renders without error on both agents.
///
/// `timestamp` reads the clock: only layouts coarser than a month are compared here (both agents
/// run within seconds of each other); its other layouts are pinned against a fixed time in the
/// template crate's unit tests.
fn templates() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = builtin_templates()
        .into_iter()
        .map(|(n, t)| (n.to_owned(), t))
        .collect();
    all.extend(function_cases());
    all
}

fn builtin_templates() -> Vec<(&'static str, String)> {
    let seed = "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}";
    vec![
        ("seed-annotation.txt", format!("{seed}\n")),
        ("seed-no-newline.txt", seed.to_owned()),
        ("seed-kv2.txt", "{{- with secret \"kv2/my-secret\" -}}\npostgresql://{{ .Data.data.username }}:{{ .Data.data.password }}@postgres:5432/wizard\n{{- end }}\n".to_owned()),
        ("map-kv1.txt", DefaultTemplate::Map.contents("secret/my-secret")),
        ("map-kv2.txt", DefaultTemplate::Map.contents("kv2/my-secret")),
        ("json-kv1.txt", DefaultTemplate::Json.contents("secret/my-secret")),
        ("json-kv2.txt", DefaultTemplate::Json.contents("kv2/my-secret")),
        ("typed.txt", "{{ with secret \"kv2/typed\" }}num={{ .Data.data.num }} flag={{ .Data.data.flag }} arr={{ .Data.data.arr }} obj={{ .Data.data.obj }} nul={{ .Data.data.nul }} missing={{ .Data.data.missing }} dash={{ index .Data.data \"key-with-dash\" }} len={{ len .Data.data.arr }}{{ end }}".to_owned()),
        ("logic.txt", "{{ with secret \"kv2/my-secret\" }}{{ or .Data.data.missing \"fallback\" }}|{{ and .Data.data.username .Data.data.password }}|{{ if eq .Data.data.username \"wizard\" \"x\" }}eq-variadic-yes{{ end }}{{ end }}".to_owned()),
        ("funcs.txt", "{{ with secret \"kv2/my-secret\" }}{{ printf \"%s:%s@%q\" .Data.data.username .Data.data.password \"h\" }}|{{ .Data.data.username | toUpper | printf \"<%s>\" }}|{{ .Data.data.password | base64Encode }}|{{ \"a,b,c\" | split \",\" | join \";\" }}|{{ replaceAll \"s3\" \"XX\" .Data.data.password }}{{ end }}".to_owned()),
        ("range.txt", "{{ range $i, $e := split \",\" \"x,y\" }}{{ $i }}={{ $e }};{{ end }}{{ range split \",\" \"\" }}never{{ else }}empty-else{{ end }}".to_owned()),
        ("variables.txt", "{{ $s := secret \"kv2/my-secret\" }}{{ $u := $s.Data.data.username }}{{ $u }}/{{ (secret \"secret/my-secret\").Data.password }}".to_owned()),
        ("pretty.txt", "{{ with secret \"kv2/typed\" }}{{ .Data.data.obj | toJSONPretty }}{{ end }}".to_owned()),
        ("no-escaping.txt", "{{ with secret \"kv2/my-secret\" }}{{ \"<a&b>'\\\"\" }}{{ end }}".to_owned()),
        ("standalone-lines.txt", "{{ with secret \"kv2/my-secret\" }}\nuser={{ .Data.data.username }}\n{{ end }}\n".to_owned()),
        ("trim-spaces.txt", "  {{- with secret \"kv2/my-secret\" -}}  \n  user={{ .Data.data.username }}  \n  {{- end }}\n".to_owned()),
        ("v2-wrong-level.txt", "{{ with secret \"kv2/my-secret\" }}{{ .Data.username }}{{ end }}".to_owned()),
        ("range-map.txt", "{{ with secret \"kv2/typed\" }}{{ range $k, $v := .Data.data.obj }}{{ $k }}={{ $v }}\n{{ end }}{{ end }}".to_owned()),
        ("comments.txt", "a {{- /* a comment */ -}} b\n{{/* another */}}c\n".to_owned()),
        ("tojson-html.txt", "{{ with secret \"kv2/typed\" }}{{ .Data.data.html | toJSON }}|{{ .Data.data | toJSON }}{{ end }}".to_owned()),
        ("env.txt", "home={{ env \"FV_DIFF\" }} none=[{{ env \"FV_DIFF_UNSET\" }}]".to_owned()),
        ("strings.txt", "{{ \"  padded  \" | trimSpace }}|{{ \"Hello\" | toLower }}|{{ contains \"ell\" \"Hello\" }}|{{ \"a.b\" | replaceAll \".\" \"-\" }}|{{ \"czNjcjN0\" | base64Decode }}".to_owned()),
        ("numbers.txt", "{{ with secret \"kv2/typed\" }}{{ printf \"%d|%5.2f|%v|%x\" 42 3.14159 .Data.data.arr 255 }}{{ end }}".to_owned()),
        ("secrets.txt", "{{ range secrets \"secret/\" }}{{ . }};{{ end }}|{{ range secrets \"kv2/\" }}{{ . }};{{ end }}".to_owned()),
        ("timestamp.txt", "{{ timestamp \"2006-01 January Jan 06 MST Z07:00 -0700\" }}|{{ len timestamp }}|{{ len (timestamp \"unix\") }}".to_owned()),
        ("core-funcs.txt", r#"{{ trim "xy" "xyaxy" }}|{{ trimPrefix "a" "aab" }}|{{ trimSuffix "b" "abb" }}|{{ parseBool "true" }}|{{ parseInt "-42" }}|{{ parseUint "7" }}|{{ parseFloat "2.5" }}|{{ range loop 2 4 }}{{ . }}{{ end }}|{{ minimum 3 2 }}|{{ maximum 3 2 }}|{{ add 1 2 }}|{{ subtract 1 5 }}|{{ multiply 2 3 }}|{{ divide 2 9 }}|{{ modulo 4 9 }}|{{ toUnescapedJSON (parseJSON `{"h":"<&>"}`) }}|{{ toUnescapedJSONPretty (parseJSON `{"a":[1]}`) }}|{{ html "<a&'>" }}|{{ urlquery "a b&c" }}|{{ print "a" 1 2 "b" }}|{{ println "x" }}|{{ "ab?" | base64URLEncode }}|{{ "YWI_" | base64URLDecode }}|{{ envOrDefault "FV_DIFF_UNSET" "dflt" }}|{{ mustEnv "FV_DIFF" }}|{{ in (parseJSON `["a"]`) "a" }}|{{ not false }}|{{ ne 1 2 }}|{{ lt 1 2 }}|{{ le 2 2 }}|{{ gt 1 2 }}|{{ ge 2 2 }}|{{ index (parseJSON `{"k":["v"]}`) "k" 0 }}"#.to_owned()),
    ]
}

fn setup(bao: &DevServer) -> (String, String) {
    bao.kv1_at_secret().unwrap();
    bao.kv_put(
        "secret/my-secret",
        &[("username", "alice"), ("password", "s3cr3t")],
    )
    .unwrap();
    bao.enable_kv("kv2", 2).unwrap();
    bao.kv_put("kv2/my-secret", &[("username", "wizard"), ("password", "s3cr3t")])
        .unwrap();
    let typed = json!({
        "num": 42, "flag": true, "arr": ["x", "y"], "obj": {"b": 1, "a": "z"},
        "nul": null, "key-with-dash": "d", "html": "<a&b>"
    });
    bao.setup(&["kv", "put", "kv2/typed", "-"], Some(&typed.to_string()))
        .unwrap();
    // The secret of the template crate's function cases (agent/template/tests/functions.rs).
    let fn_data = json!({
        "num": 42, "pi": 3.25, "big": 1e21, "neg": -7, "flag": true, "arr": ["x", "y"],
        "nested": {"b": [1, "two", {"c": null}], "a": "z"}, "nul": null, "empty": "",
        "multi": "line1\nline2", "quoted": "yes", "colon": "a: b", "html": "<a&b>", "spaces": " lead",
        "num_str": "123", "emptymap": {}, "emptylist": [], "path/to/key": "v1", "path/other": "v2"
    });
    bao.setup(&["kv", "put", "kv2/fn", "-"], Some(&fn_data.to_string()))
        .unwrap();
    bao.policy_for("diff", &["secret/*", "kv2/*"], &["read", "list"])
        .unwrap();
    let creds = bao.enable_approle("diff", &["diff"], &[]).unwrap();
    (creds.role_id, creds.secret_id)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn peer_config(addr: &str, dir: &Path, dest: &Path) -> serde_json::Value {
    json!({
        "exit_after_auth": true,
        "vault": {"address": addr},
        "auto_auth": {
            "method": {"type": "approle", "config": {
                "role_id_file_path": dir.join("role_id"),
                "secret_id_file_path": dir.join("secret_id"),
                "remove_secret_id_file_after_reading": false
            }},
            "sink": [{"type": "file", "config": {"path": dir.join("peer-token")}}]
        },
        "template": templates().iter().map(|(name, text)| json!({
            "contents": text, "destination": dest.join(name)
        })).collect::<Vec<_>>(),
        "template_config": {"exit_on_retry_failure": true}
    })
}

fn our_config(addr: &str, dir: &Path, dest: &Path) -> serde_json::Value {
    json!({
        "version": 1,
        "vault": {"address": addr},
        "auto_auth": {
            "method": {"type": "approle", "mount_path": "auth/approle", "config": {
                "role_id_file_path": dir.join("role_id"),
                "secret_id_file_path": dir.join("secret_id"),
                "remove_secret_id_file_after_reading": "false"
            }},
            "sinks": [{"path": dest.join(".token")}]
        },
        "templates": templates().iter().map(|(name, text)| json!({
            "name": name, "destination": dest.join(name), "contents": text,
            "left_delimiter": "{{", "right_delimiter": "}}"
        })).collect::<Vec<_>>(),
        "template_config": {"exit_on_retry_failure": true},
        "secrets_dirs": [dest],
        "log": {"level": "info", "format": "standard"},
        "revoke_on_shutdown": false
    })
}

#[test]
fn ferrovault_agent_renders_the_same_bytes_as_bao_agent() {
    let bao = DevServer::start().unwrap();
    let (role_id, secret_id) = setup(&bao);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write(&dir.join("role_id"), &role_id);
    write(&dir.join("secret_id"), &secret_id);
    let (peer_out, ours_out) = (dir.join("peer"), dir.join("ours"));
    std::fs::create_dir_all(&peer_out).unwrap();
    std::fs::create_dir_all(&ours_out).unwrap();
    write(
        &dir.join("peer.json"),
        &peer_config(&bao.addr(), dir, &peer_out).to_string(),
    );
    write(
        &dir.join("ours.json"),
        &our_config(&bao.addr(), dir, &ours_out).to_string(),
    );

    run_bao_agent(&dir.join("peer.json"), &[("FV_DIFF", "from-env")]);
    let ours = run_our_agent_init(
        &dir.join("home"),
        &dir.join("ours.json"),
        &[("FV_DIFF", "from-env")],
    );

    let mut differences = Vec::new();
    for (name, _) in templates() {
        let name = name.as_str();
        let want =
            std::fs::read(peer_out.join(name)).unwrap_or_else(|e| panic!("peer did not write {name}: {e}"));
        let got =
            std::fs::read(ours_out.join(name)).unwrap_or_else(|e| panic!("we did not write {name}: {e}"));
        if want != got {
            differences.push(format!(
                "{name}:\n  bao agent:        {:?}\n  ferrovault-agent: {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "rendered bytes differ:\n{}",
        differences.join("\n")
    );
    let stderr = String::from_utf8_lossy(&ours.stderr);
    for secret in ["s3cr3t", &secret_id] {
        assert!(!stderr.contains(secret), "a secret reached our log");
    }
}
