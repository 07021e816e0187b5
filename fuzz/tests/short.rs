//! The short fuzz run `make test` does: a few thousand cases per target with fresh seeds each
//! day would make failures unreproducible, so the seed is fixed; the long runs in BENCHMARKS.md use
//! others.

use ferrovault_fuzz::{Target, run};

#[test]
fn every_target_survives_a_short_run() {
    for target in Target::ALL {
        let cases = match target {
            Target::Template => 20_000,
            _ => 3_000,
        };
        match run(target, 7, 0, cases) {
            Ok(report) => assert_eq!(report.cases, cases),
            Err(f) => panic!(
                "{} case {} failed: {} (input: {:?})",
                target.name(),
                f.case,
                f.message,
                String::from_utf8_lossy(&f.input)
                    .chars()
                    .take(2000)
                    .collect::<String>()
            ),
        }
    }
}
