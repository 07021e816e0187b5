//! Input generators: real pods from the webhook's test data, mutated with annotation names the
//! injector knows, values at the edges of what each parser accepts, and raw byte damage.

use ferrovault_webhook::inject::catalogue::{ALL, Prefix, Scope};
use serde_json::{Value, json};

/// The names of the annotation catalogue's `vault.hashicorp.com/` entries of one scope, in table order.
fn catalogue_names(scope: Scope) -> Vec<&'static str> {
    ALL.iter()
        .filter(|e| e.prefix == Prefix::Vault && e.scope == scope)
        .map(|e| e.name)
        .collect()
}

/// Every fixed annotation name (supported or not).
fn known() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| catalogue_names(Scope::Pod))
}

/// The prefixes defining a secret (`<prefix><secret>`).
fn defining() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| catalogue_names(Scope::DefinesSecret))
}

/// The per-secret setting prefixes (`<prefix><secret>`).
fn per_secret() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| catalogue_names(Scope::Secret))
}

/// splitmix64: small, fast, and good enough to spread cases.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of one case: depends on the seed and the case number only.
    pub fn for_case(seed: u64, case: u64) -> Self {
        let mut rng = Rng(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.bits();
        rng
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.bits() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.bits() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The pods in the webhook's test data, as the API server sends them (parsed once).
fn base_pods() -> &'static [Value] {
    static PODS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    PODS.get_or_init(parse_base_pods)
}

fn parse_base_pods() -> Vec<Value> {
    const FILES: [&str; 5] = [
        include_str!("../../webhook/testdata/seed-pod.yaml"),
        include_str!("../../webhook/testdata/seed-statefulset.pod.yaml"),
        include_str!("../../webhook/testdata/job.pod.yaml"),
        include_str!("../../webhook/testdata/init-containers.pod.yaml"),
        include_str!("../../webhook/testdata/native-sidecar.pod.yaml"),
    ];
    FILES
        .iter()
        .filter_map(|f| serde_yaml::from_str::<Value>(f).ok())
        .map(|v| match v.get("pod") {
            Some(pod) => pod.clone(),
            None => v,
        })
        .collect()
}

const SECRET_NAMES: &[&str] = &[
    "database-config.txt",
    "db",
    "a",
    "x.y",
    "UPPER",
    "",
    "../up",
    "😀",
];

/// Values at the edges of what the annotation parsers accept.
fn value(rng: &mut Rng) -> String {
    const VALUES: &[&str] = &[
        "",
        " ",
        "true",
        "false",
        "True",
        "1",
        "0",
        "-1",
        "+5",
        "1.5",
        "NaN",
        "1e400",
        "10s",
        "-1s",
        "1d",
        "1h30m",
        "0.5h",
        "9999999999h",
        "500m",
        "64Mi",
        "1e9",
        "1Ei",
        "-64Mi",
        "0600",
        "0777",
        "7777",
        "secret/my-secret",
        "kv/data/x",
        "pki/issue/r",
        "../x",
        "/abs",
        "a,b,c",
        "json",
        "map",
        "JSON",
        "xml",
        "standard",
        "debug",
        "trace",
        "kubernetes",
        "approle",
        "jwt",
        "cert",
        "gcp",
        "auth/k8s",
        "https://vault:8200",
        "http://[::1]:8200",
        "not a url",
        "{}",
        "[]",
        "null",
        "\u{0}",
        "a\nb",
        "{{ .Data }}",
        "{{- with secret \"secret/db\" -}}{{ .Data.password }}{{- end }}",
        "{{",
        "}}",
        "{{ end }}",
        "{{#with (secret \"kv/a\")}}{{Data.x}}{{/with}}",
        "[[ .Data ]]",
        "sh -c 'kill -HUP 1'",
        "vault-agent",
        "vault-agent-init",
        "[{\"op\":\"add\",\"path\":\"/x\",\"value\":1}]",
        "[{\"op\":\"remove\",\"path\":\"/spec\"}]",
        "app,sidecar",
        "*",
        "100000000000000000000",
    ];
    match rng.below(10) {
        0 => {
            let n = rng.below(150);
            format!("{}x{}", "{{ if true }}".repeat(n), "{{ end }}".repeat(n))
        }
        1 => "🦀".repeat(rng.below(2000)),
        2 => {
            let len = rng.below(64);
            (0..len)
                .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'))
                .collect()
        }
        3 => template(rng),
        _ => (*rng.pick(VALUES)).to_owned(),
    }
}

fn annotation_key(rng: &mut Rng) -> String {
    const PREFIXES: &[&str] = &[
        "vault.hashicorp.com/",
        "openbao.org/",
        "ferrovault.dev/",
        "other.io/",
    ];
    let prefix = if rng.chance(85) {
        PREFIXES[0]
    } else {
        *rng.pick(PREFIXES)
    };
    let rest = match rng.below(4) {
        0 => format!("{}{}", rng.pick(defining()), rng.pick(SECRET_NAMES)),
        1 => format!("{}{}", rng.pick(per_secret()), rng.pick(SECRET_NAMES)),
        2 => [
            "native-sidecar",
            "strict",
            "secrets-read-only",
            "agent-inject-typo",
        ][rng.below(4)]
        .to_owned(),
        _ => (*rng.pick(known())).to_owned(),
    };
    format!("{prefix}{rest}")
}

/// A pod to admit: a real one with random annotation changes and container damage.
pub fn pod(rng: &mut Rng) -> Value {
    let mut pod = rng.pick(base_pods()).clone();
    let annotations = &mut pod["metadata"]["annotations"];
    if !annotations.is_object() {
        *annotations = json!({});
    }
    for _ in 0..rng.below(12) {
        let key = annotation_key(rng);
        if rng.chance(15) {
            annotations.as_object_mut().map(|m| m.remove(&key));
        } else {
            annotations[key] = Value::String(value(rng));
        }
    }
    if rng.chance(20) {
        annotations["vault.hashicorp.com/agent-inject"] = json!("true");
    }
    if rng.chance(10) {
        let n = rng.below(40);
        let containers: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("c{i}"), "image": "app", "securityContext": {"runAsUser": i}}))
            .collect();
        pod["spec"]["containers"] = json!(containers);
    }
    if rng.chance(10) {
        pod["spec"]["restartPolicy"] = json!(["Never", "OnFailure", "Always", "x"][rng.below(4)]);
    }
    if rng.chance(5) {
        pod["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u"}]);
    }
    if rng.chance(5) {
        pod["spec"]["initContainers"] = json!([{"name": "vault-agent-init", "image": "x"}]);
    }
    pod
}

/// An AdmissionReview of a generated pod; some are then damaged byte by byte.
pub fn admission_review(rng: &mut Rng) -> Vec<u8> {
    let pod = pod(rng);
    let namespace = match rng.below(10) {
        0 => "🦀".repeat(50),
        1 => "UPPER_case".to_owned(),
        _ => "default".to_owned(),
    };
    let mut review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "fuzz",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "fuzz"},
            "object": pod,
        }
    });
    for _ in 0..usize::from(rng.chance(30)) + usize::from(rng.chance(10)) {
        let v = Value::String(value(rng));
        match rng.below(7) {
            0 => review["apiVersion"] = v,
            1 => review["kind"] = v,
            2 => {
                review["request"]["operation"] =
                    json!(["CREATE", "UPDATE", "DELETE", "CONNECT"][rng.below(4)])
            }
            3 => review["request"]["resource"]["resource"] = json!(["pods", "deployments", ""][rng.below(3)]),
            4 => review["request"]["subResource"] = json!("status"),
            5 => review["request"]["object"]["spec"] = v,
            _ => review["request"]["object"]["metadata"] = v,
        }
    }
    let mut bytes = serde_json::to_vec(&review).unwrap_or_default();
    if rng.chance(30) {
        damage(rng, &mut bytes);
    }
    bytes
}

/// Byte-level damage: flips, inserts, deletions, splices and truncation.
fn damage(rng: &mut Rng, bytes: &mut Vec<u8>) {
    const TOKENS: &[&[u8]] = &[
        b"{", b"}", b"[", b"]", b"\"", b"\\", b":", b",", b"null", b"1e999", b"\\u0000", b"\xff",
    ];
    for _ in 0..1 + rng.below(8) {
        if bytes.is_empty() {
            return;
        }
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => {
                let token = rng.pick(TOKENS);
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + rng.below(32)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(64)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, copy);
            }
            _ => bytes.truncate(at),
        }
    }
}

/// Template text: a random nesting of real constructs and raw fragments.
pub fn template(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.chance(10) {
        out.push_str("{{!-- handlebars --}}\n");
    }
    let budget = 1 + rng.below(40);
    node(rng, &mut out, budget, 0);
    out
}

fn node(rng: &mut Rng, out: &mut String, budget: usize, depth: usize) {
    const PIECES: &[&str] = &[
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "\n",
        "$",
        "$x",
        ":=",
        "|",
        "(",
        ")",
        ".",
        ".Data",
        ".Data.data",
        "\"",
        "\"s\"",
        "`r`",
        "'a'",
        "1",
        "-3",
        "0x1F",
        "1.5e3",
        "nil",
        "true",
        "if",
        "else",
        "end",
        "with",
        "range",
        "secret",
        "\"kv/a\"",
        "index",
        "printf",
        "\"%5d%s%v\"",
        "len",
        "and",
        "or",
        "eq",
        "toJSON",
        "split",
        "\",\"",
        "loop",
        "{{/*",
        "*/}}",
        "{{#each",
        "{{/each}}",
        "{{#with",
        "{{/with}}",
        "{{!",
        "[[",
        "]]",
        "add",
        "divide",
        "0",
        "indent",
        "base64Decode",
        "sprig_default",
        "not",
        "print",
        "parseJSON",
        "join",
        "replaceAll",
        "timestamp",
        "env",
        "file",
        "pkiCert",
        "secrets",
        "\"kv/\"",
        "{{>",
        "{{#*inline",
    ];
    for _ in 0..budget {
        if out.len() > 16 * 1024 {
            return;
        }
        match rng.below(12) {
            0 if depth < 110 => {
                let (open, close) = match rng.below(5) {
                    0 => ("{{ if .Data }}", "{{ end }}"),
                    1 => ("{{ with secret \"kv/a\" }}", "{{ end }}"),
                    2 => ("{{ range $k, $v := .Data }}", "{{ else }}none{{ end }}"),
                    3 => ("{{#each (loop 3)}}", "{{/each}}"),
                    _ => ("{{ range loop 50 }}", "{{ end }}"),
                };
                out.push_str(open);
                let inner = rng.below(4);
                node(rng, out, inner, depth + 1);
                out.push_str(close);
            }
            1 => {
                let n = rng.below(120);
                out.push_str("{{ ");
                out.push_str(&"(".repeat(n));
                out.push_str("print 1");
                out.push_str(&")".repeat(n));
                out.push_str(" }}");
            }
            2 => out.push_str("{{ with secret \"kv/a\" }}{{ .Data.data.password }}{{ end }}"),
            3 => out.push_str("{{ range loop 10 }}{{ printf \"%8d\" . }}{{ end }}"),
            _ => {
                let piece = PIECES[rng.below(PIECES.len())];
                out.push_str(piece);
            }
        }
    }
}

/// Data for a dependency a template asked for: a secret-shaped object, or something odd.
pub fn secret_value(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => json!(null),
        1 => json!(["a", "b", "c/"]),
        2 => json!("file contents"),
        _ => json!({
            "Data": {"data": {"password": "p", "n": 42, "list": [1, 2, 3]}, "password": "p"},
            "LeaseDuration": 60,
            "Renewable": rng.chance(50),
            "Cert": "c", "Key": "k", "CA": "ca",
        }),
    }
}
