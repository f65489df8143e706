//! The one conversion from a finished span to the flat records that the SQLite, file and HTTP
//! sinks store: one execution and one match record per `earlyexit.match` event, with the
//! field names of `TELEMETRY_BACKENDS.md`, at the detail level the sink keeps. The records
//! read back from the HTTP API's envelopes are `envelopes`'.

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::attributes as attr;
use super::privacy::Detail;
use crate::outcome::{ExitReason, Outcome};

/// One run, as a row of `executions`. Also what the team server reads from a request,
/// so fields a client may leave out have defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutionRecord {
    pub execution_id: String,
    /// When the run started, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub command_hash: String,
    pub executable: Option<String>,
    pub pattern: Option<String>,
    pub exit_code: i64,
    pub exit_reason: String,
    /// The run's one outcome (`outcome::Outcome`); absent in records of older versions.
    pub outcome: Option<String>,
    pub command_exit_code: Option<i64>,
    /// Seconds.
    pub total_runtime: f64,
    pub time_to_first_output: Option<f64>,
    pub time_to_first_match: Option<f64>,
    pub match_count: i64,
    /// Whether earlyexit ended the command; unknown for runs recorded before it was kept.
    pub stopped_command: Option<bool>,
    pub lines_processed: i64,
    pub bytes_processed: i64,
    pub project_type: String,
    pub command_category: String,
    pub ci_system: Option<String>,
    pub pipeline_name: Option<String>,
    pub pipeline_run_id: Option<String>,
    /// The CI job (`cicd.pipeline.task.name`).
    pub task_name: Option<String>,
    /// Full detail only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_run_url: Option<String>,
    /// Full detail only: the branch or tag built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcs_ref: Option<String>,
    pub vcs_revision: Option<String>,
    /// Full detail only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcs_repository_url: Option<String>,
    /// True when this record was reduced to minimal detail.
    pub anonymized: bool,
    /// Full detail only: the scrubbed command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Full detail only: the scrubbed working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
}

/// One matching line, as a row of `match_events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchRecord {
    pub execution_id: String,
    pub match_number: i64,
    /// Seconds since the start of the run.
    pub timestamp_offset: f64,
    pub stream_source: String,
    pub line_number: i64,
    pub match_kind: String,
    /// Full detail only: the scrubbed line, at most 1 KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_content: Option<String>,
}

/// A run with its matches.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub execution: ExecutionRecord,
    pub matches: Vec<MatchRecord>,
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match find(attributes, key)? {
        Value::Array(array) => Some(array.to_string()),
        value => Some(value.as_str().into_owned()),
    }
}

fn integer(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match find(attributes, key)? {
        Value::I64(i) => Some(*i),
        Value::F64(f) => Some(*f as i64),
        _ => None,
    }
}

fn boolean(attributes: &[KeyValue], key: &str) -> Option<bool> {
    match find(attributes, key)? {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn float(attributes: &[KeyValue], key: &str) -> Option<f64> {
    match find(attributes, key)? {
        Value::F64(f) => Some(*f),
        Value::I64(i) => Some(*i as f64),
        _ => None,
    }
}

/// Joins `process.command_args` back into one line for the flat record.
fn command_line(attributes: &[KeyValue]) -> Option<String> {
    match find(attributes, attr::PROCESS_COMMAND_ARGS)? {
        Value::Array(opentelemetry::Array::String(args)) => Some(
            args.iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        other => Some(other.as_str().into_owned()),
    }
}

/// How a team store keeps a NUL character, which PostgreSQL's text cannot hold: as `␀`
/// (U+2400), which reads the same. Both stores keep it so, so that they agree.
pub const NUL_KEPT_AS: char = '\u{2400}';

/// `record` with every NUL in its text as [`NUL_KEPT_AS`]; as it was when it has none.
fn without_nul<T: Serialize + serde::de::DeserializeOwned>(record: T) -> T {
    fn replace(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) if text.contains('\0') => {
                *text = text.replace('\0', &NUL_KEPT_AS.to_string());
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(replace),
            serde_json::Value::Object(fields) => fields.values_mut().for_each(replace),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&record) else {
        return record;
    };
    replace(&mut value);
    serde_json::from_value(value).unwrap_or(record)
}

impl RunRecord {
    /// The run as a team store keeps it: NUL in any text as [`NUL_KEPT_AS`].
    pub fn without_nul(self) -> RunRecord {
        // JSON writes a NUL as `\u0000`: a cheap test before the walk over every text.
        let json = serde_json::to_string(&(&self.execution, &self.matches)).unwrap_or_default();
        if !json.contains("\\u0000") {
            return self;
        }
        RunRecord {
            execution: without_nul(self.execution),
            matches: self.matches.into_iter().map(without_nul).collect(),
        }
    }
}

impl ExecutionRecord {
    /// Its outcome by today's rule, whichever version or client recorded it: the one it
    /// carries, settled (`Outcome::settled`), or for a record without one (an older version,
    /// another client of the HTTP API) derived from what it says (`Outcome::of_record`); a
    /// name this build does not know is kept as it is. Its trace and span ids are kept only
    /// when they are ids: another client may send none, or zeros.
    pub(super) fn settle(&mut self) {
        let reason = self.exit_reason.parse::<ExitReason>().ok();
        let outcome = match self.outcome.as_deref().map(str::parse::<Outcome>) {
            Some(Ok(stored)) => Outcome::settled(stored, reason, self.match_count),
            Some(Err(_)) => return,
            None => Outcome::of_record(
                reason,
                self.exit_code,
                self.command_exit_code,
                self.match_count,
            ),
        };
        self.outcome = Some(outcome.as_str().to_string());
        let is_id = |id: &str, length: usize| {
            id.len() == length
                && id.bytes().all(|b| b.is_ascii_hexdigit())
                && id.bytes().any(|b| b != b'0')
        };
        if !(is_id(&self.trace_id, 32) && is_id(&self.span_id, 16)) {
            self.trace_id.clear();
            self.span_id.clear();
        }
    }
}

impl RunRecord {
    /// Converts an earlyexit span; `None` for any other span.
    pub fn from_span(span: &SpanData, detail: Detail) -> Option<RunRecord> {
        let a = &span.attributes;
        let execution_id = text(a, attr::EXECUTION_ID)?;
        let full = detail == Detail::Full;
        let parent = span.parent_span_id;
        let mut execution = ExecutionRecord {
            execution_id: execution_id.clone(),
            timestamp: crate::timestamp::millis(span.start_time),
            trace_id: span.span_context.trace_id().to_string(),
            span_id: span.span_context.span_id().to_string(),
            parent_span_id: (parent != opentelemetry::trace::SpanId::INVALID)
                .then(|| parent.to_string()),
            command_hash: text(a, attr::COMMAND_HASH).unwrap_or_default(),
            executable: text(a, attr::PROCESS_EXECUTABLE_NAME),
            pattern: text(a, attr::PATTERN),
            exit_code: integer(a, attr::EXIT_CODE).unwrap_or_default(),
            exit_reason: text(a, attr::EXIT_REASON).unwrap_or_default(),
            outcome: text(a, attr::OUTCOME),
            command_exit_code: integer(a, attr::PROCESS_EXIT_CODE),
            total_runtime: float(a, attr::TOTAL_RUNTIME).unwrap_or_default(),
            time_to_first_output: float(a, attr::TIME_TO_FIRST_OUTPUT),
            time_to_first_match: float(a, attr::TIME_TO_FIRST_MATCH),
            match_count: integer(a, attr::MATCH_COUNT).unwrap_or_default(),
            stopped_command: boolean(a, attr::STOPPED_COMMAND),
            lines_processed: integer(a, attr::LINES_PROCESSED).unwrap_or_default(),
            bytes_processed: integer(a, attr::BYTES_PROCESSED).unwrap_or_default(),
            project_type: text(a, attr::PROJECT_TYPE).unwrap_or_else(|| "unknown".into()),
            command_category: text(a, attr::COMMAND_CATEGORY).unwrap_or_else(|| "other".into()),
            ci_system: text(a, attr::CI_SYSTEM),
            pipeline_name: text(a, attr::CICD_PIPELINE_NAME),
            pipeline_run_id: text(a, attr::CICD_PIPELINE_RUN_ID),
            task_name: text(a, attr::CICD_PIPELINE_TASK_NAME),
            pipeline_run_url: text(a, attr::CICD_PIPELINE_RUN_URL_FULL).filter(|_| full),
            vcs_ref: text(a, attr::VCS_REF_HEAD_NAME).filter(|_| full),
            vcs_revision: text(a, attr::VCS_REF_HEAD_REVISION),
            vcs_repository_url: text(a, attr::VCS_REPOSITORY_URL_FULL).filter(|_| full),
            anonymized: !full,
            command: command_line(a).filter(|_| full),
            working_directory: text(a, attr::PROCESS_WORKING_DIRECTORY).filter(|_| full),
        };
        let matches = span
            .events
            .iter()
            .filter(|event| event.name == attr::MATCH_EVENT)
            .map(|event| {
                let e = &event.attributes;
                MatchRecord {
                    execution_id: execution_id.clone(),
                    match_number: integer(e, attr::MATCH_NUMBER).unwrap_or_default(),
                    timestamp_offset: float(e, attr::MATCH_OFFSET).unwrap_or_default(),
                    stream_source: text(e, attr::MATCH_STREAM)
                        .or_else(|| text(e, attr::MATCH_STREAM_BEFORE))
                        .unwrap_or_default(),
                    line_number: integer(e, attr::MATCH_LINE_NUMBER).unwrap_or_default(),
                    match_kind: text(e, attr::MATCH_KIND).unwrap_or_else(|| "pattern".into()),
                    line_content: text(e, attr::MATCH_LINE).filter(|_| full),
                }
            })
            .collect();
        execution.settle();
        Some(RunRecord { execution, matches })
    }

    /// The HTTP API's event envelopes: one `execution`, then one `match_event` per match.
    pub fn envelopes(&self) -> Vec<serde_json::Value> {
        std::iter::once(json!({"type": "execution", "data": self.execution}))
            .chain(
                self.matches
                    .iter()
                    .map(|m| json!({"type": "match_event", "data": m})),
            )
            .collect()
    }
}

/// Whether a text can be an execution id: earlyexit makes them UUIDs; hex digits and dashes,
/// at most 64, is what any store, file name or query may take as one.
pub fn is_execution_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
    use opentelemetry::InstrumentationScope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use std::time::{Duration, SystemTime};

    fn span() -> SpanData {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let mut events = SpanEvents::default();
        events.events = vec![Event::new(
            attr::MATCH_EVENT,
            start + Duration::from_millis(250),
            vec![
                KeyValue::new(attr::MATCH_NUMBER, 1),
                KeyValue::new(attr::MATCH_OFFSET, 0.25),
                KeyValue::new(attr::MATCH_STREAM, "stderr"),
                KeyValue::new(attr::MATCH_LINE_NUMBER, 7),
                KeyValue::new(attr::MATCH_KIND, "error"),
                KeyValue::new(attr::MATCH_LINE, "error: boom"),
            ],
            0,
        )];
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                TraceFlags::SAMPLED,
                false,
                Default::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "make".into(),
            start_time: start,
            end_time: start + Duration::from_secs(2),
            attributes: vec![
                KeyValue::new(attr::EXECUTION_ID, "e-1"),
                KeyValue::new(attr::COMMAND_HASH, "abc"),
                KeyValue::new(attr::PATTERN, "error"),
                KeyValue::new(attr::EXIT_CODE, 1),
                KeyValue::new(attr::EXIT_REASON, "error_pattern"),
                KeyValue::new(attr::MATCH_COUNT, 1),
                KeyValue::new(attr::STOPPED_COMMAND, true),
                KeyValue::new(attr::TOTAL_RUNTIME, 2.0),
                KeyValue::new(attr::PROCESS_EXIT_CODE, 143),
                KeyValue::new(
                    attr::PROCESS_COMMAND_ARGS,
                    Value::Array(opentelemetry::Array::String(vec![
                        "make".into(),
                        "-j4".into(),
                    ])),
                ),
                KeyValue::new(attr::PROCESS_WORKING_DIRECTORY, "/src"),
                KeyValue::new(attr::VCS_REF_HEAD_NAME, "main"),
                KeyValue::new(attr::VCS_REF_HEAD_REVISION, "0123"),
            ],
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status: Status::error("error pattern matched"),
            instrumentation_scope: InstrumentationScope::builder("earlyexit").build(),
        }
    }

    #[test]
    fn a_span_becomes_the_documented_flat_record_at_full_detail() {
        let run = RunRecord::from_span(&span(), Detail::Full).unwrap();
        let e = &run.execution;
        assert_eq!(e.execution_id, "e-1");
        assert_eq!(e.timestamp, "2026-11-30T00:53:20.000Z");
        assert_eq!(e.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(e.parent_span_id, None);
        assert_eq!((e.exit_code, e.exit_reason.as_str()), (1, "error_pattern"));
        assert_eq!(e.command_exit_code, Some(143));
        assert_eq!(e.stopped_command, Some(true));
        assert_eq!(e.total_runtime, 2.0);
        assert_eq!(e.command.as_deref(), Some("make -j4"));
        assert_eq!(e.working_directory.as_deref(), Some("/src"));
        assert_eq!(e.vcs_ref.as_deref(), Some("main"));
        assert_eq!(e.vcs_revision.as_deref(), Some("0123"));
        assert!(!e.anonymized);
        assert_eq!(run.matches.len(), 1);
        let m = &run.matches[0];
        assert_eq!((m.match_number, m.line_number), (1, 7));
        assert_eq!(
            (m.stream_source.as_str(), m.match_kind.as_str()),
            ("stderr", "error")
        );
        assert_eq!(m.line_content.as_deref(), Some("error: boom"));
    }

    #[test]
    fn minimal_detail_keeps_no_free_text() {
        let run = RunRecord::from_span(&span(), Detail::Minimal).unwrap();
        let e = &run.execution;
        assert!(e.anonymized);
        assert_eq!(
            (e.command.as_ref(), e.working_directory.as_ref()),
            (None, None)
        );
        assert_eq!(e.vcs_ref, None);
        assert_eq!(e.vcs_revision.as_deref(), Some("0123"));
        assert_eq!(run.matches[0].line_content, None);
    }

    #[test]
    fn other_spans_are_not_runs_and_envelopes_come_back_as_runs() {
        let mut other = span();
        other
            .attributes
            .retain(|kv| kv.key.as_str() != attr::EXECUTION_ID);
        assert!(RunRecord::from_span(&other, Detail::Full).is_none());
        let run = RunRecord::from_span(&span(), Detail::Full).unwrap();
        let text = serde_json::Value::from(run.envelopes()).to_string();
        let envelopes: Vec<crate::recording::envelopes::Envelope> =
            serde_json::from_str(&text).unwrap();
        let read = RunRecord::from_envelopes(&envelopes);
        assert_eq!((read.runs, read.received), (vec![run], 2));
        assert!(read.warnings.is_empty());
    }
}

/// Any JSON sent as events is read as runs or refused, never a panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::RunRecord;

    /// Arbitrary JSON, a few levels deep, as an import file or a request body holds it.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("type".to_string()),
                        Just("data".to_string()),
                        Just("execution_id".to_string()),
                        Just("timestamp".to_string()),
                        Just("match_number".to_string()),
                        any::<String>(),
                    ],
                    inner,
                    0..6
                )
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_envelopes_are_read_or_refused(events in prop::collection::vec(json(), 0..8)) {
            let text = serde_json::Value::from(events).to_string();
            let envelopes: Vec<crate::recording::envelopes::Envelope> =
                match serde_json::from_str(&text) {
                    Ok(envelopes) => envelopes,
                    Err(_) => return Ok(()),
                };
            let read = RunRecord::from_envelopes(&envelopes);
            prop_assert!(read.received <= envelopes.len());
            prop_assert_eq!(read.skipped, read.warnings.len() + read.unlisted());
            for run in read.runs {
                run.envelopes();
            }
        }
    }
}
