//! `decide` on the seed user's StatefulSet pod (annotations → spec → config → patch), and the whole
//! pure path the server runs for one admission (issue #14): AdmissionReview bytes in → response bytes
//! out (parse, decide, patch, serialise, base64), on the seed pod and on a large pod (20 containers,
//! 30 secrets).

use criterion::{Criterion, criterion_group, criterion_main};
use ferrovault_webhook::inject::{Decision, InjectorDefaults, decide};
use ferrovault_webhook::review::{Outcome, review};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

fn seed_pod() -> Pod {
    #[derive(serde::Deserialize)]
    struct Case {
        pod: Pod,
    }
    let yaml = include_str!("../testdata/seed-statefulset.pod.yaml");
    serde_yaml::from_str::<Case>(yaml).expect("seed pod parses").pod
}

/// The seed pod with 20 containers and 30 secrets (half with templates).
fn large_pod() -> Pod {
    let mut pod = serde_json::to_value(seed_pod()).unwrap();
    let first = pod["spec"]["containers"][0].clone();
    let containers: Vec<Value> = (0..20)
        .map(|i| {
            let mut c = first.clone();
            c["name"] = json!(format!("app-{i}"));
            c
        })
        .collect();
    pod["spec"]["containers"] = json!(containers);
    let annotations = pod["metadata"]["annotations"].as_object_mut().unwrap();
    for i in 0..30 {
        annotations.insert(
            format!("vault.hashicorp.com/agent-inject-secret-s{i}.txt"),
            json!(format!("secret/data/app/s{i}")),
        );
        if i % 2 == 0 {
            annotations.insert(
                format!("vault.hashicorp.com/agent-inject-template-s{i}.txt"),
                json!(format!(
                    "{{{{- with secret \"secret/data/app/s{i}\" -}}}}\n{{{{ .Data.data.user }}}}:{{{{ .Data.data.pass }}}}\n{{{{- end }}}}\n"
                )),
            );
        }
    }
    serde_json::from_value(pod).unwrap()
}

fn review_bytes(pod: &Pod) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "bench",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:statefulset-controller"},
            "object": pod,
        }
    }))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let defaults = InjectorDefaults {
        vault_address: "https://vault.vault.svc:8200".into(),
        ..Default::default()
    };
    let pod = seed_pod();
    assert!(matches!(
        decide("default", &pod, &defaults),
        Decision::Patch { .. }
    ));
    c.bench_function("decide_seed_statefulset_pod", |b| {
        b.iter(|| {
            decide(
                std::hint::black_box("default"),
                std::hint::black_box(&pod),
                &defaults,
            )
        })
    });
    let large = large_pod();
    assert!(matches!(
        decide("default", &large, &defaults),
        Decision::Patch { .. }
    ));
    c.bench_function("decide_large_pod", |b| {
        b.iter(|| decide("default", std::hint::black_box(&large), &defaults))
    });
    // The whole request, as the server runs it between reading the body and writing the answer.
    for (name, pod) in [("review_seed_pod", &pod), ("review_large_pod", &large)] {
        let body = review_bytes(pod);
        let reviewed = review(&body, &defaults).unwrap();
        assert!(matches!(reviewed.outcome, Outcome::Injected(_)));
        c.bench_function(name, |b| {
            b.iter(|| {
                let reviewed = review(std::hint::black_box(&body), &defaults).unwrap();
                reviewed.response_bytes()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
