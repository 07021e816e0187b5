//! Renders the seed template (compile once, render many), and the worst case the step limit allows.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ferrovault_template::{Compiled, Dependency, Rendered, TemplateSource};
use serde_json::json;

const SEED: &str = "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}\n";

fn data() -> BTreeMap<Dependency, serde_json::Value> {
    BTreeMap::from([(
        Dependency::Read {
            path: "secret/my-secret".into(),
        },
        json!({"LeaseDuration": 2764800, "Renewable": false, "Data": {"username": "alice", "password": "s3cr3t"}}),
    )])
}

fn bench(c: &mut Criterion) {
    let data = data();
    c.bench_function("compile seed", |b| {
        b.iter(|| Compiled::compile(&TemplateSource::new(black_box(SEED))).unwrap())
    });
    let compiled = Compiled::compile(&TemplateSource::new(SEED)).unwrap();
    c.bench_function("render seed", |b| {
        b.iter(|| {
            let r = compiled.render(black_box(&data)).unwrap();
            assert!(matches!(r, Rendered::Complete(_)));
            r
        })
    });
    let hundred: Vec<Compiled> = (0..100)
        .map(|_| Compiled::compile(&TemplateSource::new(SEED)).unwrap())
        .collect();
    c.bench_function("render 100 seed templates", |b| {
        b.iter(|| {
            for t in &hundred {
                black_box(t.render(&data).unwrap());
            }
        })
    });
    // The longest any render can run: nested loops stopped by the default step limit.
    let runaway = Compiled::compile(&TemplateSource::new(
        "{{ range loop 1000000 }}{{ range loop 1000000 }}{{ end }}{{ end }}",
    ))
    .unwrap();
    let mut group = c.benchmark_group("limits");
    group.sample_size(10);
    group.bench_function("render stopped at the default step limit", |b| {
        b.iter(|| assert!(runaway.render(black_box(&data)).is_err()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
