//! Golden patches: `webhook/testdata/*.pod.yaml` → `*.golden.json` (`UPDATE_GOLDEN=1` rewrites them).

use super::*;

// === golden patches ===

#[test]
fn golden_patches() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".pod.yaml"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 4, "golden inputs missing in {dir:?}");
    for input in inputs {
        let case: GoldenCase = serde_yaml::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        let d = InjectorDefaults {
            native_sidecar: case.native_sidecar,
            native_sidecar_supported: case.native_sidecar_supported,
            ..defaults()
        };
        let Decision::Patch {
            patch,
            audit,
            injection,
            ..
        } = decide(&case.namespace, &case.pod, &d)
        else {
            panic!("{input:?}: expected a patch");
        };
        let out = apply(&case.pod, &patch);
        assert!(matches!(decide(&case.namespace, &out, &d), Decision::Skip { .. }));
        let config = out
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .chain(out.spec.as_ref().unwrap().init_containers.iter().flatten())
            .find(|c| c.name.starts_with("vault-agent"))
            .map(env_config)
            .unwrap();
        let actual = serde_json::to_string_pretty(&json!({
            "injection": injection.label(),
            "audit": audit,
            "patch": patch,
            "agent_config": config,
        }))
        .unwrap()
            + "\n";
        let golden = input.with_file_name(
            input
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".pod.yaml", ".golden.json"),
        );
        if update {
            std::fs::write(&golden, &actual).unwrap();
        } else {
            let expected = std::fs::read_to_string(&golden)
                .unwrap_or_else(|_| panic!("{golden:?} missing: run with UPDATE_GOLDEN=1"));
            assert_eq!(
                actual, expected,
                "{golden:?} differs: run with UPDATE_GOLDEN=1 and review the diff"
            );
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoldenCase {
    namespace: String,
    #[serde(default)]
    native_sidecar: bool,
    #[serde(default)]
    native_sidecar_supported: bool,
    pod: Pod,
}
