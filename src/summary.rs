//! The `--json` summary: the one object that scripts and agents read at the end of a run.
//! Its keys are a promise (README, "`--json`"): new keys may come, with `schema_version`
//! raised only when one changes meaning or goes.
//!
//! What matched is seen by [`MatchRecorder`], an observer in front of telemetry's: the wrapper
//! reports each match to it as to any observer.

use std::time::Duration;

use serde_json::json;

use crate::config::Settings;
use crate::observer::{kept_line, KeptMatch, MatchEvent, RunObserver, RunStart, StreamName};
use crate::outcome::RunEnd;
use crate::recording::privacy::{self, Detail};

/// The version of the `--json` object's schema.
pub const SCHEMA_VERSION: u32 = 1;
/// Matches listed in the summary; `match_count` counts them all.
const MAX_MATCHES: usize = 100;
/// Lines of after-context kept for the CI job summary and the JUnit failure.
const MAX_CONTEXT_LINES: usize = 20;

/// Keeps the first matches of a run and the start of its after-context, for the summary and the
/// CI reports, and passes every event on to `inner`.
pub struct MatchRecorder<'a> {
    inner: &'a mut dyn RunObserver,
    matches: Vec<KeptMatch>,
    context: Vec<(StreamName, Vec<u8>)>,
}

impl<'a> MatchRecorder<'a> {
    pub fn new(inner: &'a mut dyn RunObserver) -> MatchRecorder<'a> {
        MatchRecorder {
            inner,
            matches: Vec::new(),
            context: Vec::new(),
        }
    }

    /// What was kept: the first matches in order, and the first lines after the deciding
    /// match (each cut to `MAX_KEPT_LINE_BYTES`).
    pub fn into_kept(self) -> Kept {
        Kept {
            matches: self.matches,
            context: self.context,
        }
    }
}

/// What [`MatchRecorder`] kept of a run.
pub struct Kept {
    pub matches: Vec<KeptMatch>,
    pub context: Vec<(StreamName, Vec<u8>)>,
}

impl Kept {
    /// The matches as the summary lists them: each line scrubbed as the local sinks keep it
    /// (with `telemetry.scrub_pii`), and left out when they keep minimal detail.
    pub fn to_json(&self, settings: &Settings) -> serde_json::Value {
        let matches: Vec<serde_json::Value> = self
            .matches
            .iter()
            .map(|found| {
                let line = kept_text(settings, &found.line);
                json!({
                    "number": found.number,
                    "kind": crate::recording::span::match_kind_name(found.kind),
                    "stream": found.stream.as_str(),
                    "line_number": found.line_number,
                    "offset_seconds": found.offset.as_secs_f64(),
                    "line": line,
                })
            })
            .collect();
        serde_json::Value::from(matches)
    }
}

impl RunObserver for MatchRecorder<'_> {
    fn child_environment(&mut self) -> Vec<(String, String)> {
        self.inner.child_environment()
    }

    fn on_start(&mut self, start: &RunStart<'_>) {
        self.inner.on_start(start);
    }

    fn on_match(&mut self, event: &MatchEvent<'_>) {
        if self.matches.len() < MAX_MATCHES {
            self.matches.push(event.kept());
        }
        self.inner.on_match(event);
    }

    fn on_context_line(&mut self, stream: StreamName, line: &[u8]) {
        if self.context.len() < MAX_CONTEXT_LINES {
            self.context.push((stream, kept_line(line)));
        }
        self.inner.on_context_line(stream, line);
    }

    fn on_end(&mut self, outcome: &RunEnd) {
        self.inner.on_end(outcome);
    }
}

/// A free text as the local sinks keep it: scrubbed unless `telemetry.scrub_pii: false`.
fn scrubbed(settings: &Settings, text: &str) -> String {
    privacy::scrub_if(settings.telemetry.scrub_pii, text)
}

/// A line of output as the local sinks keep it: scrubbed (unless `scrub_pii: false`), and
/// withheld (`None`) when they keep minimal detail (`telemetry.anonymize`). `--json` and the
/// CI reports show lines this way.
pub fn kept_text(settings: &Settings, bytes: &[u8]) -> Option<String> {
    (settings.telemetry.local_detail() == Detail::Full)
        .then(|| scrubbed(settings, &String::from_utf8_lossy(bytes)))
}

/// The `--json` object of a run that ended (`matches` from [`Kept::to_json`]).
pub fn summary(
    settings: &Settings,
    outcome: &RunEnd,
    execution_id: &str,
    trace_id: Option<&str>,
    matches: serde_json::Value,
) -> serde_json::Value {
    let seconds = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let statistics = &outcome.statistics;
    json!({
        "schema_version": SCHEMA_VERSION,
        "exit_code": outcome.exit_code,
        "outcome": outcome.outcome.as_str(),
        "exit_reason": outcome.reason.as_str(),
        "exit_codes": settings.exit_codes.to_string(),
        "command_exit_code": outcome.command_exit_code,
        "match_count": outcome.match_count,
        "matches": matches,
        "duration_seconds": outcome.duration.as_secs_f64(),
        "pattern": settings.patterns.pattern,
        "success_pattern": settings.patterns.success,
        "error_pattern": settings.patterns.error,
        "command": settings.command_line().map(|line| scrubbed(settings, &line)),
        "execution_id": execution_id,
        "trace_id": trace_id,
        "timeouts": {
            "overall": seconds(settings.timeouts.overall),
            "idle": seconds(settings.timeouts.idle),
            "first_output": seconds(settings.timeouts.first_output),
        },
        "statistics": {
            "lines_processed": statistics.lines_processed,
            "bytes_processed": statistics.bytes_processed,
            "time_to_first_output": seconds(statistics.time_to_first_output),
            "time_to_first_match": seconds(statistics.time_to_first_match),
        },
    })
}
