//! `ferrovault-fuzz`: runs the fuzz targets for a number of cases (see the library docs).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferrovault_fuzz::{Target, run};

/// Fuzz the admission path, the annotation parsers and the template engine on stable Rust.
#[derive(Debug, Parser)]
struct Args {
    /// Targets to run (all by default).
    #[arg(long, value_enum, env = "FERROVAULT_FUZZ_TARGETS", value_delimiter = ',')]
    target: Vec<Target>,
    /// Cases per target.
    #[arg(long, env = "FERROVAULT_FUZZ_CASES", default_value_t = 1_000_000)]
    cases: u64,
    /// First case number (replay one case with --first N --cases 1).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Seed; the same seed and case number give the same input.
    #[arg(long, env = "FERROVAULT_FUZZ_SEED", default_value_t = 1)]
    seed: u64,
    /// Where a failing input is written.
    #[arg(long, default_value = "fuzz-failure.bin")]
    failure_file: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let targets = if args.target.is_empty() {
        Target::ALL.to_vec()
    } else {
        args.target
    };
    for target in targets {
        match run(target, args.seed, args.first, args.cases) {
            Ok(report) => {
                let outcomes: Vec<String> = report.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!(
                    "{}: {} cases in {:.1?} ({:.0} cases/s), no failure; slowest case {} took {:.1?}; {}",
                    target.name(),
                    report.cases,
                    report.elapsed,
                    report.cases as f64 / report.elapsed.as_secs_f64().max(1e-9),
                    report.slowest.0,
                    report.slowest.1,
                    outcomes.join(", ")
                );
            }
            Err(failure) => {
                let _ = std::fs::write(&args.failure_file, &failure.input);
                eprintln!(
                    "{}: case {} (seed {}) failed: {}; input in {}",
                    target.name(),
                    failure.case,
                    args.seed,
                    failure.message,
                    args.failure_file.display()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
