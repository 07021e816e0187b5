//! One name for each image everywhere: the chart's values are the source (`scripts/images.sh`
//! reads them), the tag is the workspace version, and the webhook's default agent image
//! (`serve --help`, `inject`) is the same name.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `scripts/images.sh names` as key → value.
fn script_names() -> Vec<(String, String)> {
    let out = Command::new(root().join("scripts/images.sh"))
        .arg("names")
        .output()
        .expect("run scripts/images.sh names");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn chart_script_and_webhook_default_name_the_same_images() {
    let version = env!("CARGO_PKG_VERSION");
    let chart = yaml(&root().join("charts/ferrovault/Chart.yaml"));
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(version),
        "appVersion = workspace version"
    );
    let values = yaml(&root().join("charts/ferrovault/values.yaml"));
    let webhook = format!("{}:{version}", values["image"]["repository"].as_str().unwrap());
    let agent = format!(
        "{}:{version}",
        values["agentImage"]["repository"].as_str().unwrap()
    );
    assert_eq!(webhook, "ghcr.io/ferrovault/ferrovault-webhook:0.1.0");
    assert_eq!(agent, "ghcr.io/ferrovault/ferrovault-agent:0.1.0");

    let names = script_names();
    let get = |k: &str| names.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("WEBHOOK_IMAGE"), Some(webhook.as_str()));
    assert_eq!(get("AGENT_IMAGE"), Some(agent.as_str()));

    assert_eq!(ferrovault_webhook::inject::DEFAULT_AGENT_IMAGE, agent);
    assert_eq!(
        ferrovault_webhook::inject::InjectorDefaults::default().agent_image,
        agent
    );
}

#[test]
fn containerfile_targets_are_static_non_root_and_labelled() {
    let text = std::fs::read_to_string(root().join("Containerfile")).unwrap();
    for target in ["webhook", "agent"] {
        assert!(text.contains(&format!("AS {target}\n")), "target {target}");
        assert!(
            text.contains(&format!("ENTRYPOINT [\"/ferrovault-{target}\"]")),
            "entrypoint of {target}"
        );
    }
    assert!(!text.contains("FROM rust") && text.contains("FROM scratch AS common"));
    assert!(text.contains("USER 100:1000"));
    for label in ["source", "version", "licenses"] {
        assert!(
            text.contains(&format!("org.opencontainers.image.{label}=")),
            "{label}"
        );
    }
}
