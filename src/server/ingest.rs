//! What a request's body holds, as runs: the HTTP API's envelopes, OTLP spans and OTLP live
//! records, each in protobuf or JSON. A span becomes a run through the one conversion every
//! sink uses (`RunRecord::from_span`); spans and records that are not earlyexit's are counted
//! as rejected, not stored.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as ProtoKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use prost::Message;

use crate::recording::attributes as attr;
use crate::recording::envelopes::Envelope;
use crate::recording::live;
use crate::recording::privacy::Detail;
use crate::recording::record::{is_execution_id, RunRecord};
use crate::recording::stored_span::StoredSpan;
use crate::store::RunningRow;

/// How an OTLP body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// A body that cannot be read: a 400 with this line.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("body is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("unsupported api_version (expected \"1.0\")")]
    ApiVersion,
    #[error("events must be a list")]
    NoEvents,
    #[error("body is not an OTLP {0} request: {1}")]
    NotOtlp(&'static str, String),
    #[error("nothing to store: {0}")]
    NothingUsable(String),
    #[error("{count} {what} in one request: send at most {MAX_RUNS_PER_REQUEST} at once")]
    TooMany { what: &'static str, count: usize },
    #[error("run {execution_id}: {problem}")]
    BadValue {
        execution_id: String,
        problem: crate::recording::checks::BadValue,
    },
}

/// The runs of one request, and what could not be used.
#[derive(Debug, Default)]
pub struct Ingested {
    pub runs: Vec<RunRecord>,
    /// Executions (or spans) the request held.
    pub received: usize,
    /// Spans that are not earlyexit runs (no execution id, invalid ids).
    pub rejected: usize,
    pub warnings: Vec<String>,
}

/// The design document's body: its version, and its envelopes read as slices of it.
#[derive(serde::Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    events: Option<Vec<Envelope<'a>>>,
}

/// The body's shape, read only to say what is wrong with one that is not a payload.
#[derive(serde::Deserialize)]
struct Shape<'a> {
    #[serde(borrow, default)]
    api_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    events: Option<&'a serde_json::value::RawValue>,
}

/// The most runs (spans, live records) one request may hold: a runner's largest batch
/// (`http.batch_size`; the OTLP exporters send 512). Each is a record of a few hundred bytes
/// once read, however few bytes it took in the body.
pub const MAX_RUNS_PER_REQUEST: usize = 10_000;

/// `POST /api/v1/events`: the design document's body.
pub fn events(body: &[u8]) -> Result<Ingested, IngestError> {
    let payload: Payload = serde_json::from_slice(body).map_err(|error| {
        match serde_json::from_slice::<Shape>(body) {
            Ok(shape) if shape.api_version.as_deref() != Some("1.0") => IngestError::ApiVersion,
            Ok(shape) if !shape.events.is_some_and(|e| e.get().starts_with('[')) => {
                IngestError::NoEvents
            }
            _ => IngestError::NotJson(error),
        }
    })?;
    if payload.api_version.as_deref() != Some("1.0") {
        return Err(IngestError::ApiVersion);
    }
    let events = payload.events.ok_or(IngestError::NoEvents)?;
    let executions = events
        .iter()
        .filter(|event| event.kind.as_deref() == Some("execution"))
        .count();
    if executions > MAX_RUNS_PER_REQUEST {
        return Err(IngestError::TooMany {
            what: "runs",
            count: executions,
        });
    }
    let envelopes = RunRecord::from_envelopes(&events);
    let mut warnings: Vec<String> = envelopes.warnings.iter().map(ToString::to_string).collect();
    if envelopes.unlisted() > 0 {
        warnings.push(format!(
            "and {} more event(s) not used",
            envelopes.unlisted()
        ));
    }
    let (runs, odd): (Vec<RunRecord>, Vec<RunRecord>) = envelopes
        .runs
        .into_iter()
        .partition(|run| is_execution_id(&run.execution.execution_id));
    warnings.extend(odd.iter().map(|run| {
        format!(
            "execution_id {:?} is not an execution id (hex digits and dashes)",
            run.execution
                .execution_id
                .chars()
                .take(80)
                .collect::<String>()
        )
    }));
    if runs.is_empty() && !events.is_empty() {
        let why = warnings.first().cloned().unwrap_or_default();
        return Err(IngestError::NothingUsable(why));
    }
    let now = SystemTime::now();
    let runs = runs
        .into_iter()
        .map(|run| {
            let execution_id = run.execution.execution_id.clone();
            run.checked(now).map_err(|problem| IngestError::BadValue {
                execution_id,
                problem,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ingested {
        runs,
        received: envelopes.received,
        rejected: odd.len(),
        warnings,
    })
}

/// Decodes an OTLP request once its items are counted and within [`MAX_RUNS_PER_REQUEST`].
fn decode<T: Message + Default + serde::de::DeserializeOwned>(
    body: &[u8],
    encoding: Encoding,
    signal: &'static str,
) -> Result<T, IngestError> {
    let items = match encoding {
        Encoding::Protobuf => super::counting::protobuf_items(body),
        Encoding::Json => super::counting::json_items(body),
    };
    if let Some(count) = items.filter(|&count| count > MAX_RUNS_PER_REQUEST) {
        let what = if signal == "logs" {
            "log records"
        } else {
            "spans"
        };
        return Err(IngestError::TooMany { what, count });
    }
    match encoding {
        Encoding::Protobuf => {
            T::decode(body).map_err(|e| IngestError::NotOtlp(signal, e.to_string()))
        }
        Encoding::Json => {
            serde_json::from_slice(body).map_err(|e| IngestError::NotOtlp(signal, e.to_string()))
        }
    }
}

/// `POST /v1/traces`: the spans that are earlyexit runs.
pub fn traces(body: &[u8], encoding: Encoding) -> Result<Ingested, IngestError> {
    let request: ExportTraceServiceRequest = decode(body, encoding, "traces")?;
    let mut ingested = Ingested::default();
    let now = SystemTime::now();
    for resource in &request.resource_spans {
        for scope in &resource.scope_spans {
            for span in &scope.spans {
                ingested.received += 1;
                let run = span_data(span).and_then(|span| {
                    // A run sent at full detail carries one of what only full detail keeps (a
                    // run that could not start has no working directory, but its branch).
                    let full = span
                        .attributes
                        .iter()
                        .any(|kv| attr::FULL_DETAIL_ONLY.contains(&kv.key.as_str()));
                    let detail = if full { Detail::Full } else { Detail::Minimal };
                    RunRecord::from_span(&span, detail)
                });
                match run {
                    Some(run) if is_execution_id(&run.execution.execution_id) => {
                        let execution_id = run.execution.execution_id.clone();
                        match run.checked(now) {
                            Ok(run) => ingested.runs.push(run),
                            Err(problem) => {
                                ingested.rejected += 1;
                                ingested
                                    .warnings
                                    .push(format!("run {execution_id}: {problem}"));
                            }
                        }
                    }
                    _ => ingested.rejected += 1,
                }
            }
        }
    }
    Ok(ingested)
}

/// What live records say of runs in progress.
#[derive(Debug, Default)]
pub struct LiveNews {
    /// Runs that started (from `earlyexit.run.start`).
    pub started: Vec<RunningRow>,
    /// The latest match number heard of, per run (from a match or a heartbeat).
    pub matched: Vec<(String, u64)>,
    pub received: usize,
    pub rejected: usize,
}

/// `POST /v1/logs`: earlyexit's live records.
pub fn logs(body: &[u8], encoding: Encoding) -> Result<LiveNews, IngestError> {
    let request: ExportLogsServiceRequest = decode(body, encoding, "logs")?;
    let mut news = LiveNews::default();
    for resource in &request.resource_logs {
        for scope in &resource.scope_logs {
            for record in &scope.log_records {
                news.received += 1;
                let attributes = attributes(&record.attributes);
                let execution_id = text(&attributes, attr::EXECUTION_ID);
                let ids = ids(&record.trace_id, &record.span_id);
                let execution_id = execution_id.filter(|id| is_execution_id(id));
                match (record.event_name.as_str(), execution_id, ids) {
                    (attr::RUN_START_EVENT, Some(execution_id), Some((trace_id, span_id))) => {
                        let started = time(record.time_unix_nano);
                        let name = text(&attributes, attr::PROCESS_EXECUTABLE_NAME)
                            .unwrap_or_else(|| "run".into());
                        let context = SpanContext::new(
                            trace_id,
                            span_id,
                            TraceFlags::SAMPLED,
                            true,
                            TraceState::default(),
                        );
                        let span = live::span_at_start(
                            context,
                            &SpanContext::empty_context(),
                            name,
                            started,
                            attributes,
                        );
                        news.started.push(RunningRow {
                            execution_id,
                            trace_id: trace_id.to_string(),
                            span_id: span_id.to_string(),
                            started: crate::timestamp::millis(started),
                            last_seen: SystemTime::now(),
                            match_count: 0,
                            span: StoredSpan::of(&span).to_json(),
                        });
                    }
                    (
                        event @ (attr::MATCH_EVENT | attr::RUN_HEARTBEAT_EVENT),
                        Some(execution_id),
                        _,
                    ) => {
                        let counter = match event {
                            attr::MATCH_EVENT => attr::MATCH_NUMBER,
                            _ => attr::MATCH_COUNT,
                        };
                        let number = attributes
                            .iter()
                            .find(|kv| kv.key.as_str() == counter)
                            .and_then(|kv| match kv.value {
                                Value::I64(n) => u64::try_from(n).ok(),
                                _ => None,
                            })
                            .unwrap_or(0);
                        news.matched.push((execution_id, number));
                    }
                    _ => news.rejected += 1,
                }
            }
        }
    }
    Ok(news)
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn time(nanos: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// A trace id and a span id, both valid.
fn ids(trace_id: &[u8], span_id: &[u8]) -> Option<(TraceId, SpanId)> {
    let trace_id = TraceId::from_bytes(trace_id.try_into().ok()?);
    let span_id = SpanId::from_bytes(span_id.try_into().ok()?);
    (trace_id != TraceId::INVALID && span_id != SpanId::INVALID).then_some((trace_id, span_id))
}

/// An attribute value as the SDK holds it; maps and bytes (which earlyexit never sends)
/// become their JSON text.
fn value(any: &AnyValue) -> Value {
    match &any.value {
        Some(any_value::Value::StringValue(s)) => Value::from(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::I64(*i),
        Some(any_value::Value::DoubleValue(f)) => Value::F64(*f),
        Some(any_value::Value::ArrayValue(array)) => {
            let strings: Vec<StringValue> = array
                .values
                .iter()
                .map(|item| StringValue::from(value(item).as_str().into_owned()))
                .collect();
            Value::Array(Array::String(strings))
        }
        other => Value::from(format!("{other:?}")),
    }
}

fn attributes(attributes: &[ProtoKeyValue]) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|kv| {
            let value = kv.value.as_ref().map_or_else(|| Value::from(""), value);
            KeyValue::new(kv.key.clone(), value)
        })
        .collect()
}

/// An OTLP span as the SDK's `SpanData`, the form the flat record is made from; `None` when
/// its ids are invalid.
fn span_data(span: &ProtoSpan) -> Option<SpanData> {
    let (trace_id, span_id) = ids(&span.trace_id, &span.span_id)?;
    let parent_span_id = span
        .parent_span_id
        .as_slice()
        .try_into()
        .map(SpanId::from_bytes)
        .unwrap_or(SpanId::INVALID);
    let mut events = SpanEvents::default();
    events.events = span
        .events
        .iter()
        .map(|event| {
            Event::new(
                event.name.clone(),
                time(event.time_unix_nano),
                attributes(&event.attributes),
                0,
            )
        })
        .collect();
    let status = match span.status.as_ref().map(|s| (s.code(), s.message.clone())) {
        Some((StatusCode::Error, message)) => Status::error(message),
        Some((StatusCode::Ok, _)) => Status::Ok,
        _ => Status::Unset,
    };
    Some(SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ),
        parent_span_id,
        parent_span_is_remote: false,
        span_kind: match span.kind() {
            ProtoKind::Client => SpanKind::Client,
            ProtoKind::Server => SpanKind::Server,
            ProtoKind::Producer => SpanKind::Producer,
            ProtoKind::Consumer => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        name: Cow::Owned(span.name.clone()),
        start_time: time(span.start_time_unix_nano),
        end_time: time(span.end_time_unix_nano),
        attributes: attributes(&span.attributes),
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status,
        instrumentation_scope: crate::recording::scope(),
    })
}
