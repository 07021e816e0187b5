//! Templates checked at admission: warnings, strict denials, nothing secret in messages.

use super::*;

// === templates at admission ===

const BROKEN_TEMPLATE: &str = "{{ with secret \"secret/x\" }}{{ .Data.password ";

#[test]
fn broken_template_warns() {
    let p = patched(&handler_pod(&basic(&[(
        "agent-inject-template-db",
        BROKEN_TEMPLATE,
    )])));
    assert!(
        p.warnings
            .iter()
            .any(|w| w
                .starts_with("template for secret \"db\" (vault.hashicorp.com/agent-inject-template-db): ")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn broken_template_denies_in_strict_mode() {
    let message = deny_message(decide_on(&handler_pod(&basic(&[
        ("agent-inject-template-db", BROKEN_TEMPLATE),
        ("ferrovault.dev/strict", "true"),
    ]))));
    assert!(message.starts_with("template for secret \"db\""), "{message}");
}

#[test]
fn messages_never_contain_template_bodies_or_secret_values() {
    const MARKER: &str = "S3CR3T-MARKER-4f1c9a";
    let bodies = [
        format!("{{{{ with secret \"secret/x\" }}}}{MARKER}{{{{ .Data.password "),
        format!("{MARKER} {{{{ {MARKER} }}}}"),
        format!("{{{{ {MARKER}"),
        format!("{{{{ with secret \"{MARKER}\" }}}}{{{{ .Data.x }}}}{{{{ end }}}}"),
        format!("{{{{ {MARKER} | {MARKER} }}}}"),
        format!("{{{{ end }}}}{MARKER}{MARKER}{MARKER}"),
    ];
    let breakers: [(&str, &str); 5] = [
        ("ferrovault.dev/strict", "true"),
        (
            "agent-json-patch",
            "[{\"op\":\"add\",\"path\":\"/env/-\",\"value\":{\"name\":\"S3CR3T-MARKER-4f1c9a\"}},{\"op\":\"bogus\"}]",
        ),
        (
            "agent-init-json-patch",
            "[{\"op\":\"test\",\"path\":\"/name\",\"value\":\"S3CR3T-MARKER-4f1c9a\"}]",
        ),
        ("agent-json-patch", "S3CR3T-MARKER-4f1c9a"),
        ("agent-inject-containers", "web"),
    ];
    let mut seen = 0;
    for body in &bodies {
        for breaker in breakers {
            let pod = handler_pod(&basic(&[
                ("agent-inject-template-db", body),
                ("auth-config-secret-id", MARKER),
                ("agent-inject-command-db", MARKER),
                breaker,
            ]));
            let texts: Vec<String> = match decide_on(&pod) {
                Decision::Deny { message } => vec![message],
                Decision::Patch { warnings, audit, .. } => {
                    warnings.into_iter().chain(audit.into_values()).collect()
                }
                Decision::Skip { .. } => panic!("skip"),
            };
            for t in texts {
                seen += 1;
                assert!(!t.contains(MARKER), "leaked in {t:?}");
            }
        }
    }
    assert!(seen > 0);
}
