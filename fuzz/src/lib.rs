//! Fuzzing on stable Rust (cargo-fuzz needs nightly): structure-aware random inputs for three
//! targets, each case derived from `(seed, case number)` alone so that any failure replays exactly.
//!
//! - [`Target::Admission`]: AdmissionReview bytes (mutated reviews of real pods, some then mutated
//!   byte by byte) through `review()`, the server's whole pure path.
//! - [`Target::Annotations`]: pods with random annotation sets through `decide()`.
//! - [`Target::Template`]: template text through the lexer, parser and executor.
//!
//! Invariants checked on every case: nothing panics; a patch always applies to the pod it was made
//! for and gives a valid Pod; a denial says why in a bounded message; every run happens on a thread
//! with a 2 MiB stack, as the server's workers have.

mod inputs;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use ferrovault_template::{Compiled, Dependency, Limits, Rendered, TemplateSource};
use ferrovault_webhook::inject::{Decision, InjectorDefaults, decide};
use ferrovault_webhook::review::{patch_of, review};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

pub use inputs::Rng;

/// What to fuzz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// AdmissionReview bytes through `review()`.
    Admission,
    /// Pods with random annotations through `decide()`.
    Annotations,
    /// Template text through compile and render.
    Template,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 3] = [Target::Admission, Target::Annotations, Target::Template];

    /// The target's name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Admission => "admission",
            Target::Annotations => "annotations",
            Target::Template => "template",
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Cases run.
    pub cases: u64,
    /// How many cases ended in each outcome (`patched`, `denied`, `error`, …).
    pub outcomes: BTreeMap<&'static str, u64>,
    /// The slowest case and how long it took.
    pub slowest: (u64, Duration),
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

/// A case that broke an invariant: replay it with the same seed and case number.
#[derive(Debug)]
pub struct Failure {
    /// The case number.
    pub case: u64,
    /// What went wrong (a panic's message, or the invariant).
    pub message: String,
    /// The input, to keep as a regression test.
    pub input: Vec<u8>,
}

/// The input of case `case` of `target` under `seed`.
pub fn input(target: Target, seed: u64, case: u64) -> Vec<u8> {
    let mut rng = Rng::for_case(seed, case);
    match target {
        Target::Admission => inputs::admission_review(&mut rng),
        Target::Annotations => serde_json::to_vec(&inputs::pod(&mut rng)).unwrap_or_default(),
        Target::Template => inputs::template(&mut rng).into_bytes(),
    }
}

/// Runs one input; `Ok` names the outcome, `Err` says which invariant broke.
pub fn check(target: Target, input: &[u8]) -> Result<&'static str, String> {
    match target {
        Target::Admission => check_admission(input),
        Target::Annotations => check_annotations(input),
        Target::Template => check_template(input),
    }
}

/// Runs `cases` cases from `first` on a 2 MiB-stack thread; stops at the first failure.
pub fn run(target: Target, seed: u64, first: u64, cases: u64) -> Result<Report, Box<Failure>> {
    let worker = std::thread::Builder::new()
        .name(format!("fuzz-{}", target.name()))
        .stack_size(2 << 20)
        .spawn(move || {
            let started = Instant::now();
            let mut report = Report::default();
            for case in first..first + cases {
                let bytes = input(target, seed, case);
                let t0 = Instant::now();
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| check(target, &bytes)));
                let took = t0.elapsed();
                if took > report.slowest.1 {
                    report.slowest = (case, took);
                }
                let outcome = match result {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(message)) => {
                        return Err(Box::new(Failure {
                            case,
                            message,
                            input: bytes,
                        }));
                    }
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_default();
                        return Err(Box::new(Failure {
                            case,
                            message: format!("panic: {message}"),
                            input: bytes,
                        }));
                    }
                };
                *report.outcomes.entry(outcome).or_default() += 1;
                report.cases += 1;
            }
            report.elapsed = started.elapsed();
            Ok(report)
        })
        .expect("spawn the fuzz thread");
    worker.join().unwrap_or_else(|_| {
        Err(Box::new(Failure {
            case: first,
            message: "the fuzz thread died".into(),
            input: Vec::new(),
        }))
    })
}

/// A denial or error message must be short enough to read (the input can be megabytes).
const MAX_MESSAGE: usize = 64 * 1024;

fn check_admission(input: &[u8]) -> Result<&'static str, String> {
    let defaults = defaults();
    let reviewed = match review(input, &defaults) {
        Ok(r) => r,
        Err(e) => {
            let message = e.to_string();
            if message.len() > MAX_MESSAGE {
                return Err(format!("a {} byte error message", message.len()));
            }
            return Ok("bad request");
        }
    };
    if reviewed
        .denial
        .as_ref()
        .is_some_and(|m| m.len() > MAX_MESSAGE || m.is_empty())
    {
        return Err("a denial without a bounded message".into());
    }
    let _ = reviewed.response_json();
    let Some(patch) = patch_of(&reviewed) else {
        return Ok(if reviewed.denial.is_some() {
            "denied"
        } else {
            "allowed"
        });
    };
    let object: Value = serde_json::from_slice::<Value>(input)
        .ok()
        .and_then(|v| v.pointer("/request/object").cloned())
        .ok_or("a patch for a review without an object")?;
    patched_pod(object, &patch)?;
    Ok("patched")
}

fn check_annotations(input: &[u8]) -> Result<&'static str, String> {
    let pod: Pod = serde_json::from_slice(input).map_err(|e| format!("generator made a bad pod: {e}"))?;
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    match decide(&namespace, &pod, &defaults()) {
        Decision::Skip { .. } => Ok("skipped"),
        Decision::Deny { message } if message.is_empty() || message.len() > MAX_MESSAGE => {
            Err(format!("a denial message of {} bytes", message.len()))
        }
        Decision::Deny { .. } => Ok("denied"),
        Decision::Patch { patch, .. } => {
            let object = serde_json::to_value(&pod).map_err(|e| e.to_string())?;
            patched_pod(object, &patch.to_json_patch())?;
            Ok("patched")
        }
    }
}

/// The patch applies to `object` and the result is a Pod.
fn patched_pod(mut object: Value, patch: &json_patch::Patch) -> Result<(), String> {
    json_patch::patch(&mut object, patch).map_err(|e| format!("the patch does not apply: {e}"))?;
    serde_json::from_value::<Pod>(object).map_err(|e| format!("the patched pod is not a Pod: {e}"))?;
    Ok(())
}

fn defaults() -> InjectorDefaults {
    InjectorDefaults {
        vault_address: "https://vault.vault.svc:8200".into(),
        native_sidecar_supported: true,
        ..Default::default()
    }
}

/// Small limits keep the fuzzer fast; the bounds are what is under test, not their size.
const FUZZ_LIMITS: Limits = Limits {
    max_template_bytes: 64 * 1024,
    max_depth: 100,
    max_steps: 20_000,
    max_output_bytes: 256 * 1024,
};

fn check_template(input: &[u8]) -> Result<&'static str, String> {
    let text = String::from_utf8_lossy(input);
    let (left, right) = if text.len().is_multiple_of(5) {
        ("[[", "]]")
    } else {
        ("{{", "}}")
    };
    let source = TemplateSource {
        left_delim: left,
        right_delim: right,
        error_on_missing_key: text.len().is_multiple_of(3),
        ..TemplateSource::new(&text)
    };
    let compiled = match Compiled::compile_with_limits(&source, FUZZ_LIMITS) {
        Ok(c) => c,
        Err(_) => return Ok("refused"),
    };
    let _ = compiled.static_dependencies();
    let mut data: BTreeMap<Dependency, Value> = BTreeMap::new();
    let mut rng = Rng::for_case(input.len() as u64, 0);
    for _ in 0..4 {
        match compiled.render(&data) {
            Ok(Rendered::Complete(out)) => {
                if out.len() > FUZZ_LIMITS.max_output_bytes {
                    return Err(format!("{} bytes of output past the limit", out.len()));
                }
                return Ok("rendered");
            }
            Ok(Rendered::Incomplete { missing }) => {
                for dep in missing {
                    data.insert(dep, inputs::secret_value(&mut rng));
                }
            }
            Err(e) if e.message == ferrovault_template::INTERNAL_ERROR => {
                return Err("the render panicked (caught by the engine)".into());
            }
            Err(_) => return Ok("render error"),
        }
    }
    Ok("incomplete")
}
