//! A finished span as the OTLP outbox keeps it: everything a later export needs to send the
//! identical span again (trace id, span id, parent, times, attributes, events, status), as
//! JSON in one outbox row. The resource is not kept: `SpanData` has none, and the exporter is
//! given the resource of the process that sends.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSpan {
    trace_id: String,
    span_id: String,
    trace_flags: u8,
    trace_state: String,
    /// Empty for a root span.
    parent_span_id: String,
    parent_span_is_remote: bool,
    kind: StoredKind,
    name: String,
    /// Nanoseconds since the epoch.
    start: u64,
    end: u64,
    attributes: Vec<StoredAttribute>,
    events: Vec<StoredEvent>,
    /// `None` for Unset; the description for Error; `Some("")` never (Ok has its own).
    status: StoredStatus,
    scope_name: String,
    scope_version: Option<String>,
    #[serde(default)]
    scope_schema_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoredKind {
    Internal,
    Client,
    Server,
    Producer,
    Consumer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoredStatus {
    Unset,
    Ok,
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredAttribute {
    key: String,
    value: StoredValue,
}

/// An attribute value with its type, so that an integer comes back an integer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoredValue {
    Bool(bool),
    I64(i64),
    F64(f64),
    String(String),
    Bools(Vec<bool>),
    I64s(Vec<i64>),
    F64s(Vec<f64>),
    Strings(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredEvent {
    name: String,
    time: u64,
    attributes: Vec<StoredAttribute>,
}

/// The stored text cannot be turned back into a span.
#[derive(Debug, thiserror::Error)]
#[error("a stored span cannot be read: {0}")]
pub struct StoredSpanError(String);

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn time(nanos: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn store_attributes(attributes: &[KeyValue]) -> Vec<StoredAttribute> {
    attributes
        .iter()
        .map(|kv| StoredAttribute {
            key: kv.key.as_str().to_string(),
            value: match &kv.value {
                Value::Bool(b) => StoredValue::Bool(*b),
                Value::I64(i) => StoredValue::I64(*i),
                Value::F64(f) => StoredValue::F64(*f),
                Value::Array(Array::Bool(v)) => StoredValue::Bools(v.clone()),
                Value::Array(Array::I64(v)) => StoredValue::I64s(v.clone()),
                Value::Array(Array::F64(v)) => StoredValue::F64s(v.clone()),
                Value::Array(Array::String(v)) => {
                    StoredValue::Strings(v.iter().map(|s| s.as_str().to_string()).collect())
                }
                other => StoredValue::String(other.as_str().into_owned()),
            },
        })
        .collect()
}

fn restore_attributes(attributes: Vec<StoredAttribute>) -> Vec<KeyValue> {
    attributes
        .into_iter()
        .map(|attribute| {
            let value = match attribute.value {
                StoredValue::Bool(b) => Value::Bool(b),
                StoredValue::I64(i) => Value::I64(i),
                StoredValue::F64(f) => Value::F64(f),
                StoredValue::String(s) => Value::from(s),
                StoredValue::Bools(v) => Value::Array(Array::Bool(v)),
                StoredValue::I64s(v) => Value::Array(Array::I64(v)),
                StoredValue::F64s(v) => Value::Array(Array::F64(v)),
                StoredValue::Strings(v) => Value::Array(Array::String(
                    v.into_iter().map(StringValue::from).collect(),
                )),
            };
            KeyValue::new(attribute.key, value)
        })
        .collect()
}

impl StoredSpan {
    pub fn of(span: &SpanData) -> StoredSpan {
        let context = &span.span_context;
        StoredSpan {
            trace_id: context.trace_id().to_string(),
            span_id: context.span_id().to_string(),
            trace_flags: context.trace_flags().to_u8(),
            trace_state: context.trace_state().header(),
            parent_span_id: if span.parent_span_id == SpanId::INVALID {
                String::new()
            } else {
                span.parent_span_id.to_string()
            },
            parent_span_is_remote: span.parent_span_is_remote,
            kind: match span.span_kind {
                SpanKind::Client => StoredKind::Client,
                SpanKind::Server => StoredKind::Server,
                SpanKind::Producer => StoredKind::Producer,
                SpanKind::Consumer => StoredKind::Consumer,
                SpanKind::Internal => StoredKind::Internal,
            },
            name: span.name.to_string(),
            start: nanos(span.start_time),
            end: nanos(span.end_time),
            attributes: store_attributes(&span.attributes),
            events: span
                .events
                .iter()
                .map(|event| StoredEvent {
                    name: event.name.to_string(),
                    time: nanos(event.timestamp),
                    attributes: store_attributes(&event.attributes),
                })
                .collect(),
            status: match &span.status {
                Status::Unset => StoredStatus::Unset,
                Status::Ok => StoredStatus::Ok,
                Status::Error { description } => StoredStatus::Error(description.to_string()),
            },
            scope_name: span.instrumentation_scope.name().to_string(),
            scope_version: span.instrumentation_scope.version().map(str::to_string),
            scope_schema_url: span.instrumentation_scope.schema_url().map(str::to_string),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a stored span serializes")
    }

    pub fn from_json(text: &str) -> Result<StoredSpan, StoredSpanError> {
        serde_json::from_str(text).map_err(|e| StoredSpanError(e.to_string()))
    }

    /// The span again, identical to the one stored.
    pub fn into_span_data(self) -> Result<SpanData, StoredSpanError> {
        let invalid = |what: &str| StoredSpanError(format!("invalid {what}"));
        let trace_id = TraceId::from_hex(&self.trace_id).map_err(|_| invalid("trace id"))?;
        let span_id = SpanId::from_hex(&self.span_id).map_err(|_| invalid("span id"))?;
        let parent_span_id = if self.parent_span_id.is_empty() {
            SpanId::INVALID
        } else {
            SpanId::from_hex(&self.parent_span_id).map_err(|_| invalid("parent span id"))?
        };
        let trace_state = self.trace_state.parse::<TraceState>().unwrap_or_default();
        let mut events = SpanEvents::default();
        events.events = self
            .events
            .into_iter()
            .map(|event| {
                Event::new(
                    event.name,
                    time(event.time),
                    restore_attributes(event.attributes),
                    0,
                )
            })
            .collect();
        let mut scope = InstrumentationScope::builder(self.scope_name);
        if let Some(version) = self.scope_version {
            scope = scope.with_version(version);
        }
        if let Some(schema_url) = self.scope_schema_url {
            scope = scope.with_schema_url(schema_url);
        }
        Ok(SpanData {
            span_context: SpanContext::new(
                trace_id,
                span_id,
                TraceFlags::new(self.trace_flags),
                false,
                trace_state,
            ),
            parent_span_id,
            parent_span_is_remote: self.parent_span_is_remote,
            span_kind: match self.kind {
                StoredKind::Internal => SpanKind::Internal,
                StoredKind::Client => SpanKind::Client,
                StoredKind::Server => SpanKind::Server,
                StoredKind::Producer => SpanKind::Producer,
                StoredKind::Consumer => SpanKind::Consumer,
            },
            name: Cow::Owned(self.name),
            start_time: time(self.start),
            end_time: time(self.end),
            attributes: restore_attributes(self.attributes),
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status: match self.status {
                StoredStatus::Unset => Status::Unset,
                StoredStatus::Ok => Status::Ok,
                StoredStatus::Error(description) => Status::error(description),
            },
            instrumentation_scope: scope.build(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_comes_back_identical() {
        let mut events = SpanEvents::default();
        events.events = vec![Event::new(
            "earlyexit.match",
            time(1_700_000_000_123_456_789),
            vec![
                KeyValue::new("earlyexit.match.number", 1),
                KeyValue::new("earlyexit.match.offset", 0.25),
                KeyValue::new("earlyexit.match.stream", "stderr"),
            ],
            0,
        )];
        let span = SpanData {
            span_context: SpanContext::new(
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                TraceFlags::SAMPLED,
                false,
                "vendor=value".parse().unwrap(),
            ),
            parent_span_id: SpanId::from_hex("1111111111111111").unwrap(),
            parent_span_is_remote: true,
            span_kind: SpanKind::Internal,
            name: "npm".into(),
            start_time: time(1_700_000_000_000_000_001),
            end_time: time(1_700_000_002_500_000_000),
            attributes: vec![
                KeyValue::new("earlyexit.execution_id", "e-1"),
                KeyValue::new("earlyexit.exit_code", 2),
                KeyValue::new("earlyexit.total_runtime", 2.5),
                KeyValue::new("flag", true),
                KeyValue::new(
                    "process.command_args",
                    Value::Array(Array::String(vec!["npm".into(), "test".into()])),
                ),
            ],
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status: Status::error("timeout after 2.5s"),
            instrumentation_scope: InstrumentationScope::builder("earlyexit")
                .with_version("0.1.0")
                .with_schema_url("https://opentelemetry.io/schemas/1.42.0")
                .build(),
        };
        let text = StoredSpan::of(&span).to_json();
        let back = StoredSpan::from_json(&text)
            .unwrap()
            .into_span_data()
            .unwrap();
        assert_eq!(back, span);
    }
}
