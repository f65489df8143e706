//! Under GitHub Actions without `TRACEPARENT`, the run's span nests under its workflow step as
//! the OpenTelemetry Collector's GitHub Actions receiver (contrib `receiver/githubreceiver`,
//! the check-run-id scheme, its default since v0.151.0) draws the workflow's trace from the
//! webhook events: the same trace id, and the step's (or the job's, or the run's) span id as
//! the parent, so both land in one trace.
//!
//! The receiver hashes with SHA-256 and keeps hex digits of the digest: the trace id is the
//! first 16 bytes of `"{run id}{run attempt}t"`, a span id bytes 8..16 of `"{run id}{run
//! attempt}s"` (the workflow run), `"{check run id}-j"` (the job) or `"{check run id}-{step
//! name}-s"` (a step). GitHub exports the run id and attempt; the job's check run id
//! (`${{ job.check_run_id }}`) and the step's name reach earlyexit through
//! `EARLYEXIT_GITHUB_CHECK_RUN_ID` and `EARLYEXIT_GITHUB_STEP_NAME`, which a workflow sets
//! (README, "Nesting under the workflow's trace").

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use sha2::{Digest, Sha256};

/// The span that the run nests under, when running under GitHub Actions.
pub fn parent(env: &dyn Fn(&str) -> Option<String>) -> Option<SpanContext> {
    if env("GITHUB_ACTIONS").as_deref() != Some("true") {
        return None;
    }
    let number = |name: &str| {
        env(name)
            .and_then(|value| value.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
    };
    let run_id = number("GITHUB_RUN_ID")?;
    let attempt = number("GITHUB_RUN_ATTEMPT").unwrap_or(1);
    let check_run_id = number("EARLYEXIT_GITHUB_CHECK_RUN_ID");
    let step = env("EARLYEXIT_GITHUB_STEP_NAME").filter(|name| !name.is_empty());
    let parent = match (check_run_id, step) {
        (Some(job), Some(step)) => format!("{job}-{step}-s"),
        (Some(job), None) => format!("{job}-j"),
        (None, _) => format!("{run_id}{attempt}s"),
    };
    let trace = Sha256::digest(format!("{run_id}{attempt}t").as_bytes());
    let span = Sha256::digest(parent.as_bytes());
    let trace_id = TraceId::from_bytes(trace[..16].try_into().ok()?);
    let span_id = SpanId::from_bytes(span[8..16].try_into().ok()?);
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The receiver's golden file for a skipped job (`workflow-job-skipped.json` and its
    /// expected traces): run 14796710445, attempt 13, check run 41546348818.
    #[test]
    fn the_receivers_ids_for_its_own_fixture() {
        let env = |check_run: Option<&'static str>| {
            move |name: &str| {
                match name {
                    "GITHUB_ACTIONS" => Some("true"),
                    "GITHUB_RUN_ID" => Some("14796710445"),
                    "GITHUB_RUN_ATTEMPT" => Some("13"),
                    "EARLYEXIT_GITHUB_CHECK_RUN_ID" => check_run,
                    _ => None,
                }
                .map(str::to_string)
            }
        };
        let run = parent(&env(None)).unwrap();
        assert_eq!(
            run.trace_id().to_string(),
            "0b0cff7305ff68eb7d1bb72c7fdbe277"
        );
        assert_eq!(
            run.span_id().to_string(),
            "3b54c768f3ef27e1",
            "the run's span"
        );
        let job = parent(&env(Some("41546348818"))).unwrap();
        assert_eq!(job.trace_id(), run.trace_id());
        assert_eq!(
            job.span_id().to_string(),
            "fb6779d8c7b7c66c",
            "the job's span"
        );
        assert!(parent(&|_: &str| None).is_none());
    }
}
