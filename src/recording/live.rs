//! A run while it runs: the span as it stands, which the running row keeps and which becomes
//! the span of a run whose earlyexit was killed ([`lost`]), and the live records that tell a
//! collector of the start and of each match as they happen.
//!
//! The live records are OTLP log records tied to the run's span by its trace and span ids, the
//! OpenTelemetry project's direction for what span events carried (OTEP 4430):
//!
//! | event name | severity | attributes |
//! |---|---|---|
//! | `earlyexit.run.start` | INFO | the span's attributes at the start (execution id, pattern, command, CI) |
//! | `earlyexit.match` | ERROR for `-e`, WARN for PATTERN, INFO for `-s` | the execution id and the match event's attributes |
//! | `earlyexit.run.heartbeat` | DEBUG | the execution id and the matches so far, every 30 s while the run goes |
//! | `earlyexit.failure.block` | ERROR | the execution id, the deciding match's number, its failure block and location (a tool profile's), as the run ends |
//!
//! Both keep only what the remote detail level keeps, as the span does.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::logs::Severity;
use opentelemetry::trace::{Event, SpanContext, SpanKind, Status};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::attributes as attr;
use super::privacy::{self, Detail};
use super::span;
use crate::matcher::MatchKind;
use crate::observer::KeptMatch;
use crate::outcome::{exit_code, ExitReason, Outcome, RunEnd, Statistics};
use crate::profile::Block;

/// One live record, before a transport turns it into its own form.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRecord {
    pub event_name: &'static str,
    pub time: SystemTime,
    pub severity: Severity,
    /// The log record's body, as the conventions put a log's text: the matched line, the
    /// failure block (at full detail only).
    pub body: Option<String>,
    pub attributes: Vec<KeyValue>,
}

/// Moves the attribute `key` out of `attributes` into a body: a log record's text is its
/// body, not an attribute.
fn into_body(attributes: &mut Vec<KeyValue>, key: &str) -> Option<String> {
    let at = attributes.iter().position(|kv| kv.key.as_str() == key)?;
    Some(attributes.remove(at).value.as_str().into_owned())
}

/// The run's span as it stands at its start: its ids and parent, its name and the attributes
/// known then, no events, ending where it starts.
pub fn span_at_start(
    context: SpanContext,
    parent: &SpanContext,
    name: String,
    started_at: SystemTime,
    attributes: Vec<KeyValue>,
) -> SpanData {
    SpanData {
        span_context: context,
        parent_span_id: parent.span_id(),
        parent_span_is_remote: parent.is_remote(),
        span_kind: SpanKind::Client,
        name: Cow::Owned(name),
        start_time: started_at,
        end_time: started_at,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: span::scope(),
    }
}

/// Adds a match to the span in progress, as the span at the end will carry it.
pub fn add_match(span: &mut SpanData, kept: &KeptMatch, line: String) {
    span.events.events.push(Event::new(
        attr::MATCH_EVENT,
        span.start_time + kept.offset,
        span::match_attributes(kept, line),
        0,
    ));
}

/// The record that the run has started.
pub fn start_record(span: &SpanData, detail: Detail) -> LiveRecord {
    let mut attributes = span.attributes.clone();
    privacy::keep_at(detail, &mut attributes);
    LiveRecord {
        event_name: attr::RUN_START_EVENT,
        time: span.start_time,
        severity: Severity::Info,
        body: None,
        attributes,
    }
}

/// The record that the run `execution_id` still goes, with its matches so far.
pub fn heartbeat_record(execution_id: &str, match_count: u64) -> LiveRecord {
    LiveRecord {
        event_name: attr::RUN_HEARTBEAT_EVENT,
        time: SystemTime::now(),
        severity: Severity::Debug,
        body: None,
        attributes: vec![
            KeyValue::new(attr::EXECUTION_ID, execution_id.to_string()),
            KeyValue::new(attr::MATCH_COUNT, match_count.min(i64::MAX as u64) as i64),
        ],
    }
}

/// The record of one match of the run `execution_id` that started at `started_at`.
pub fn match_record(
    execution_id: &str,
    started_at: SystemTime,
    kept: &KeptMatch,
    line: String,
    detail: Detail,
) -> LiveRecord {
    let mut attributes = vec![KeyValue::new(attr::EXECUTION_ID, execution_id.to_string())];
    attributes.extend(span::match_attributes(kept, line));
    privacy::keep_at(detail, &mut attributes);
    let body = into_body(&mut attributes, attr::MATCH_LINE);
    LiveRecord {
        event_name: attr::MATCH_EVENT,
        body,
        time: started_at + kept.offset,
        severity: match kept.kind {
            MatchKind::Error => Severity::Error,
            MatchKind::Pattern => Severity::Warn,
            MatchKind::Success => Severity::Info,
        },
        attributes,
    }
}

/// The record of the deciding match's failure block: `text` is the block as the settings keep
/// it (scrubbed or not).
pub fn block_record(
    execution_id: &str,
    match_number: u64,
    block: &Block,
    text: String,
    detail: Detail,
) -> LiveRecord {
    let mut attributes = vec![
        KeyValue::new(attr::EXECUTION_ID, execution_id.to_string()),
        KeyValue::new(attr::MATCH_NUMBER, match_number as i64),
    ];
    attributes.extend(span::block_attributes(block, text));
    privacy::keep_at(detail, &mut attributes);
    let body = into_body(&mut attributes, attr::MATCH_BLOCK);
    LiveRecord {
        event_name: attr::FAILURE_BLOCK_EVENT,
        body,
        time: SystemTime::now(),
        severity: Severity::Error,
        attributes,
    }
}

/// The span of a run whose earlyexit was killed: as it stood at its last heartbeat, ended
/// then, with the outcome `lost`. Its ids are those it was given at the start, so a remote
/// that received its live records ties them to it, and receives the span once.
pub fn lost(mut span: SpanData, last_seen: SystemTime, match_count: u64) -> SpanData {
    let end = RunEnd {
        exit_code: exit_code::KILLED,
        outcome: Outcome::Lost,
        reason: ExitReason::Lost,
        command_exit_code: None,
        pid: None,
        match_count,
        duration: last_seen
            .duration_since(span.start_time)
            .unwrap_or_default(),
        statistics: Statistics::default(),
        stopped_command: false,
    };
    span.attributes.extend(span::outcome_attributes(&end));
    span.status = Status::error(end.headline());
    span.end_time = span.start_time + end.duration;
    span
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;
    use crate::observer::StreamName;

    fn kept(kind: MatchKind) -> KeptMatch {
        KeptMatch {
            number: 1,
            kind,
            offset: Duration::from_millis(1500),
            stream: StreamName::Stderr,
            line_number: 7,
            line: b"ERROR token=abc".to_vec(),
            in_private_key: false,
        }
    }

    #[test]
    fn a_lost_run_keeps_its_ids_and_ends_at_its_last_heartbeat() {
        let context = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut span = span_at_start(
            context.clone(),
            &SpanContext::empty_context(),
            "make".into(),
            started,
            vec![KeyValue::new(attr::EXECUTION_ID, "e-1")],
        );
        add_match(&mut span, &kept(MatchKind::Error), "ERROR".into());
        let span = lost(span, started + Duration::from_secs(12), 3);
        assert_eq!(span.span_context, context);
        assert_eq!(span.end_time, started + Duration::from_secs(12));
        assert_eq!(span.events.len(), 1);
        let value = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.as_str().into_owned())
        };
        assert_eq!(value(attr::OUTCOME).as_deref(), Some("lost"));
        assert_eq!(
            value(attr::CICD_PIPELINE_TASK_RUN_RESULT).as_deref(),
            Some("error")
        );
        assert_eq!(value(attr::MATCH_COUNT).as_deref(), Some("3"));
        assert_eq!(value(attr::TOTAL_RUNTIME).as_deref(), Some("12"));
        assert_eq!(
            span.status,
            Status::error("earlyexit was killed; last seen after 12.0s")
        );
    }

    #[test]
    fn a_match_record_keeps_the_line_as_its_body_only_at_full_detail() {
        let started = SystemTime::UNIX_EPOCH;
        let has_line = |record: &LiveRecord| {
            let as_attribute = record
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == attr::MATCH_LINE);
            assert!(!as_attribute, "the line is the body, not an attribute");
            record.body.as_deref() == Some("x")
        };
        let full = match_record(
            "e",
            started,
            &kept(MatchKind::Error),
            "x".into(),
            Detail::Full,
        );
        let minimal = match_record(
            "e",
            started,
            &kept(MatchKind::Pattern),
            "x".into(),
            Detail::Minimal,
        );
        assert!(has_line(&full) && !has_line(&minimal));
        assert_eq!(full.severity, Severity::Error);
        assert_eq!(minimal.severity, Severity::Warn);
        assert_eq!(full.time, started + Duration::from_millis(1500));
    }
}
