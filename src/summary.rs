//! The `--json` summary: the one object that scripts and agents read at the end of a run.
//! Its keys are a promise (README, "`--json`"): new keys may come, with `schema_version`
//! raised only when one changes meaning or goes.
//!
//! May import: `config`, `evidence`, `ci_output`, `recording`.

use std::time::Duration;

use serde_json::json;

use crate::ci_output::Finished;
use crate::config::Settings;
use crate::evidence::{context_cut, kept_text, KeptLine, Shown};
use crate::recording::privacy;

/// The version of the `--json` object's schema.
pub const SCHEMA_VERSION: u32 = 1;

/// Lines as `--json` lists them: scrubbed and without escape sequences, `null` when withheld.
fn lines_json(settings: &Settings, lines: &[KeptLine]) -> serde_json::Value {
    lines
        .iter()
        .map(|(_, line)| kept_text(settings, line))
        .collect::<Vec<_>>()
        .into()
}

/// `matches`: the deciding one with its after-context (`context`), its failure block
/// (`block`, with a profile) and where it points (`location`); and `tail`: the output's last
/// lines when the run failed without a deciding match.
fn evidence_json(finished: &Finished<'_>) -> (serde_json::Value, serde_json::Value) {
    let settings = finished.settings;
    let evidence = finished.evidence;
    let shown = finished.shown();
    let deciding = match shown {
        Shown::Match(found, _) => Some(found.number),
        _ => None,
    };
    let matches: Vec<serde_json::Value> = evidence
        .matches
        .iter()
        .map(|found| {
            let mut entry = json!({
                "number": found.number,
                "kind": crate::recording::span::match_kind_name(found.kind),
                "stream": found.stream.as_str(),
                "line_number": found.line_number,
                "offset_seconds": found.offset.as_secs_f64(),
                "line": kept_text(settings, &found.line),
            });
            if deciding == Some(found.number) {
                entry["context"] = lines_json(settings, &evidence.context);
                if let Some(block) = &finished.block {
                    entry["block"] = json!(block.lines);
                }
                entry["location"] = finished.location().map_or(
                    json!(null),
                    |at| json!({"file": at.file, "line": at.line, "column": at.column}),
                );
            }
            entry
        })
        .collect();
    let tail = match shown {
        Shown::Tail(lines) => lines_json(settings, lines),
        _ => serde_json::Value::Null,
    };
    (matches.into(), tail)
}

/// The `--json` object of a run that ended.
pub fn summary(finished: &Finished<'_>) -> serde_json::Value {
    let (settings, outcome) = (finished.settings, finished.end);
    let (execution_id, trace_id) = (finished.execution_id, finished.trace_id);
    let (matches, tail) = evidence_json(finished);
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
        "tail": tail,
        "context_cut": context_cut(settings, outcome).map(|(_, cut)| cut),
        "duration_seconds": outcome.duration.as_secs_f64(),
        "pattern": settings.patterns.pattern,
        "success_pattern": settings.patterns.success,
        "error_pattern": settings.patterns.error,
        "command": settings
            .quoted_command_line()
            .map(|line| privacy::scrub_if(settings.telemetry.scrub_pii, &line)),
        "execution_id": execution_id,
        "trace_id": trace_id,
        "timeouts": {
            "overall": seconds(settings.timeouts.overall),
            "idle": seconds(settings.timeouts.idle),
            "first_output": seconds(settings.timeouts.first_output),
        },
        "profile": settings.profile.as_ref().map(|p| p.profile.name),
        "statistics": {
            "lines_processed": statistics.lines_processed,
            "bytes_processed": statistics.bytes_processed,
            "time_to_first_output": seconds(statistics.time_to_first_output),
            "time_to_first_match": seconds(statistics.time_to_first_match),
        },
    })
}
