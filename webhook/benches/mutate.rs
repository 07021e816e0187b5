//! One `decide` on the seed user's StatefulSet pod (annotations → spec → config → patch).

use criterion::{Criterion, criterion_group, criterion_main};
use ferrovault_webhook::inject::{Decision, InjectorDefaults, decide};
use k8s_openapi::api::core::v1::Pod;

fn seed_pod() -> Pod {
    #[derive(serde::Deserialize)]
    struct Case {
        pod: Pod,
    }
    let yaml = include_str!("../testdata/seed-statefulset.pod.yaml");
    serde_yaml::from_str::<Case>(yaml).expect("seed pod parses").pod
}

fn bench(c: &mut Criterion) {
    let pod = seed_pod();
    let defaults = InjectorDefaults {
        vault_address: "https://vault.vault.svc:8200".into(),
        ..Default::default()
    };
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
