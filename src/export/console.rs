//! `OTEL_TRACES_EXPORTER=console`: each span printed on stderr as the SDKs' console exporters
//! do, for a person reading along (a dozen lines a run), at the local detail level.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::recording::privacy::{self, Detail};

#[derive(Debug)]
pub struct ConsoleSink {
    detail: Detail,
}

impl ConsoleSink {
    pub fn new(detail: Detail) -> ConsoleSink {
        ConsoleSink { detail }
    }
}

fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64()
}

fn attribute_lines(out: &mut String, indent: &str, attributes: &[KeyValue]) {
    for kv in attributes {
        let _ = writeln!(out, "{indent}{}: {}", kv.key, kv.value);
    }
}

/// The span as lines of text.
fn render(span: &SpanData) -> String {
    let context = &span.span_context;
    let mut out = String::new();
    let _ = writeln!(out, "Span {}", span.name);
    let _ = writeln!(out, "  trace id: {}", context.trace_id());
    let _ = writeln!(out, "  span id: {}", context.span_id());
    let _ = writeln!(out, "  parent span id: {}", span.parent_span_id);
    let _ = writeln!(out, "  kind: {:?}", span.span_kind);
    let _ = writeln!(
        out,
        "  start: {}",
        crate::timestamp::micros(span.start_time)
    );
    let _ = writeln!(
        out,
        "  duration: {:.6}s",
        seconds_between(span.start_time, span.end_time)
    );
    let _ = writeln!(out, "  status: {:?}", span.status);
    let _ = writeln!(out, "  attributes:");
    attribute_lines(&mut out, "    ", &span.attributes);
    for event in span.events.iter() {
        let _ = writeln!(
            out,
            "  event {} at +{:.6}s:",
            event.name,
            seconds_between(span.start_time, event.timestamp)
        );
        attribute_lines(&mut out, "    ", &event.attributes);
    }
    out
}

impl SpanExporter for ConsoleSink {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let text: String = batch
            .into_iter()
            .map(|span| render(&privacy::at_detail(span, self.detail)))
            .collect();
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        Ok(())
    }
}
