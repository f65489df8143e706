//! The after-context ends with the failure's block: real tools' failure output, recorded in
//! `tests/fixtures/failures`, is replayed with its timing, and earlyexit must pass every line of
//! the trace and stop within the context pause after it, not when `-A` runs out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::*;

/// The default `--context-pause`.
const PAUSE: Duration = Duration::from_millis(500);
/// Scheduling, python's start-up and the command's stop, loosely.
const SLACK: Duration = Duration::from_secs(2);

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/failures")
        .join(name)
}

/// One recorded read: when, from which stream, what.
struct Chunk {
    at: Duration,
    stderr: bool,
    text: String,
}

fn chunks(name: &str) -> Vec<Chunk> {
    std::fs::read_to_string(fixture_path(name))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|chunk| chunk.get("data").is_some())
        .map(|chunk| Chunk {
            at: Duration::from_secs_f64(chunk["t"].as_f64().unwrap()),
            stderr: chunk["stream"] == "stderr",
            text: chunk["data"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// Replays `name` under earlyexit (CI exit codes, `-A 10s`), stopping on `pattern`; the trace
/// runs from the line with `first` to the line with `last`. Checks the exit code, every line of
/// the trace on its own stream, and the time.
fn ends_with_the_trace(name: &str, pattern: &str, first: &str, last: &str) {
    let recorded = chunks(name);
    let start = recorded
        .iter()
        .position(|c| c.text.contains(first))
        .unwrap();
    let end = recorded.iter().position(|c| c.text.contains(last)).unwrap();
    let trace_end = recorded[end].at;
    let began = Instant::now();
    let run = run(&mut earlyexit(&[
        "--no-telemetry",
        "--exit-codes",
        "ci",
        "-A",
        "10s",
        pattern,
        "--",
        example("replay").to_str().unwrap(),
        fixture_path(name).to_str().unwrap(),
        "30",
    ]));
    let took = began.elapsed();
    assert_eq!(run.code, 1, "{name}: a failure in CI mode");
    let (stdout, stderr) = (run.stdout_text(), run.stderr_text());
    for chunk in &recorded[start..=end] {
        let lines: Vec<&str> = chunk
            .text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let shown = if chunk.stderr { &stderr } else { &stdout };
        for line in lines {
            assert!(
                shown.contains(line),
                "{name}: the trace line {line:?} was not passed\nstdout:\n{stdout}\nstderr:\n{stderr}"
            );
        }
    }
    assert!(
        took < trace_end + PAUSE + SLACK,
        "{name}: took {took:?}; the trace ended at {trace_end:?}"
    );
}

/// The traces of `traces.json`: one test per tool, so that they run side by side.
fn trace(fixture: &str) {
    let traces: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path("traces.json")).unwrap())
            .unwrap();
    let trace = traces
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["fixture"] == fixture)
        .unwrap_or_else(|| panic!("{fixture} is not in traces.json"));
    let field = |name: &str| trace[name].as_str().unwrap();
    ends_with_the_trace(fixture, field("pattern"), field("first"), field("last"));
}

#[test]
fn cargo_test_panic_with_its_backtrace() {
    trace("cargo-test.jsonl");
}

#[test]
fn pytest_failure_block_and_summary() {
    trace("pytest.jsonl");
}

#[test]
fn jest_failure_with_its_code_frame() {
    trace("jest.jsonl");
}

#[test]
fn go_test_failure_and_panic_trace() {
    trace("go-test.jsonl");
}

#[test]
fn jvm_exception_with_its_cause() {
    trace("jvm.jsonl");
}

/// `--context-pause 0` waits out `-A`, as before the pause existed.
#[test]
fn a_zero_pause_waits_out_the_delay() {
    let began = Instant::now();
    let run = run(&mut earlyexit(&[
        "--no-telemetry",
        "-A",
        "2s",
        "--context-pause",
        "0",
        "FAIL",
        "--",
        example("replay").to_str().unwrap(),
        fixture_path("jest.jsonl").to_str().unwrap(),
        "30",
    ]));
    assert_eq!(run.code, 1);
    assert!(
        began.elapsed() >= Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
}
