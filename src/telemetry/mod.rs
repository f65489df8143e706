//! Telemetry: every run becomes one OpenTelemetry span with one `earlyexit.match` event per
//! match, exported through one batch span processor to a fan-out over the configured sinks.
//!
//! [`Telemetry`] is a [`RunObserver`]. While the command runs it only stores what it is told
//! (the match lines are copied, nothing is scrubbed or written), and the exporter thread opens
//! the local database; everything else happens after the command has ended, so telemetry never
//! slows the output on its way to the terminal.

pub mod attributes;
pub mod delivery;
pub mod detect;
pub mod privacy;
pub mod record;
pub mod remote;
pub mod report;
pub mod savings;
pub mod sinks;
pub mod store;
pub mod stored_span;
pub mod tls;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanId, SpanKind, Status, TraceContextExt, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, Sampler,
    SdkTracerProvider, Span, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use sha2::{Digest, Sha256};

use crate::config::telemetry::Remote;
use crate::config::{Settings, Source};
use crate::matcher::MatchKind;
use crate::observer::{MatchEvent, RunObserver, RunStart, StreamName};
use crate::outcome::{ExitReason, Outcome};
use attributes as attr;
use sinks::{DeliveryReport, Fanout};

/// How long earlyexit waits at exit for the local sinks (a locked database is waited on for
/// `store::BUSY_TIMEOUT`); a remote sink adds its own `http.timeout`.
pub const LOCAL_DEADLINE: Duration = Duration::from_secs(3);
/// Spans the batch processor holds; a run makes one.
const SPAN_QUEUE: usize = 8;
/// Match events kept per run; `earlyexit.match_count` still counts every match.
pub const MAX_MATCH_EVENTS: u32 = 1000;

/// A match as the wrapper reported it, kept until the run ends.
struct PendingMatch {
    number: u64,
    kind: MatchKind,
    offset: Duration,
    stream: StreamName,
    line_number: u64,
    line: Vec<u8>,
}

/// The telemetry of one run.
pub struct Telemetry {
    /// What the span will be made of, until the command has started (see [`PendingSpan`]).
    pending: Option<Box<PendingSpan>>,
    /// Then the span, and the provider that exports it.
    started: Option<StartedSpan>,
    report: Arc<DeliveryReport>,
    started_at: SystemTime,
    trace_id: String,
    child_environment: Vec<(String, String)>,
    /// Free texts kept until the end, when they are scrubbed: scrubbing before the command
    /// starts would delay it.
    command_words: Vec<String>,
    working_directory: PathBuf,
    matches: Vec<PendingMatch>,
    scrub_pii: bool,
    debug: bool,
    /// How long `finish` waits for the sinks.
    deadline: Duration,
}

/// Before the command starts, telemetry does only what the start needs: it chooses the span's
/// ids (the command's `TRACEPARENT` names them) and starts the batch processor, whose thread
/// opens the local database meanwhile. The provider and the span are made once the command
/// runs: with the command's hash, 0.05 ms that its start no longer waits for.
struct PendingSpan {
    processor: BatchSpanProcessor,
    resource: Resource,
    ids: RunIds,
    parent: opentelemetry::Context,
    name: String,
    attributes: Vec<KeyValue>,
    command_line: Option<String>,
}

struct StartedSpan {
    provider: SdkTracerProvider,
    span: Span,
}

impl PendingSpan {
    fn start(self, started_at: SystemTime) -> StartedSpan {
        let provider = SdkTracerProvider::builder()
            // Every run is recorded. The SDK's default follows the parent's sampled flag, so
            // a TRACEPARENT ending in -00 (or OTEL_TRACES_SAMPLER) dropped the run from the
            // local database too; sampling is for a tracing backend's volume, and a run is
            // one span.
            .with_sampler(Sampler::AlwaysOn)
            .with_id_generator(self.ids)
            .with_span_processor(self.processor)
            .with_resource(self.resource)
            .with_max_events_per_span(MAX_MATCH_EVENTS)
            .build();
        let tracer = provider.tracer_with_scope(
            InstrumentationScope::builder("earlyexit")
                .with_version(env!("CARGO_PKG_VERSION"))
                .with_schema_url(attr::SEMCONV_SCHEMA_URL)
                .build(),
        );
        let mut attributes = self.attributes;
        attributes.push(KeyValue::new(
            attr::COMMAND_HASH,
            command_hash(self.command_line.as_deref().unwrap_or_default()),
        ));
        let span = tracer
            .span_builder(self.name)
            .with_kind(SpanKind::Internal)
            .with_start_time(started_at)
            .with_attributes(attributes)
            .start_with_context(&tracer, &self.parent);
        StartedSpan { provider, span }
    }
}

/// The run's span context, chosen before the span exists. The SDK asks its id generator for
/// them as it makes the span (for a trace id only when there is no parent).
#[derive(Debug, Clone, Copy)]
struct RunIds {
    trace_id: TraceId,
    span_id: SpanId,
}

impl RunIds {
    fn choose(parent: &opentelemetry::Context) -> RunIds {
        let random = RandomIdGenerator::default();
        let parent = parent.span();
        let parent = parent.span_context();
        RunIds {
            trace_id: if parent.is_valid() {
                parent.trace_id()
            } else {
                random.new_trace_id()
            },
            span_id: random.new_span_id(),
        }
    }
}

impl IdGenerator for RunIds {
    fn new_trace_id(&self) -> TraceId {
        self.trace_id
    }

    fn new_span_id(&self) -> SpanId {
        self.span_id
    }
}

impl Telemetry {
    /// Prepares the run's span, or returns `None` when telemetry is off (then no file is
    /// touched and no thread started).
    pub fn start(
        settings: &Settings,
        execution_id: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Telemetry> {
        let config = &settings.telemetry;
        if !config.is_active() {
            return None;
        }
        let sinks = sinks::for_run(&settings.telemetry);
        if sinks.is_empty() {
            return None;
        }
        let deadline = shutdown_deadline(settings);
        let (fanout, report) = Fanout::new(sinks);
        let mut processor = BatchSpanProcessor::builder(fanout)
            .with_batch_config(
                // A run makes one span. The default queue of 2048 spans is allocated and
                // touched up front: a third of a millisecond for nothing. A batch of one
                // starts the export the moment the span ends, not when `finish` asks.
                BatchConfigBuilder::default()
                    .with_max_queue_size(SPAN_QUEUE)
                    .with_max_export_batch_size(1)
                    .with_scheduled_delay(config.http.flush_interval)
                    .build(),
            )
            .build();
        // The thread opens the database when it has the resource; the provider would hand it
        // over only once the command has started.
        let resource = resource(env);
        processor.set_resource(&resource);
        let started_at = SystemTime::now();
        let working_directory = std::env::current_dir().unwrap_or_default();
        let parent = parent_context(env);
        let ids = RunIds::choose(&parent);
        // Always sampled (`-01`): see `PendingSpan::start`.
        let mut child_environment = vec![(
            "TRACEPARENT".to_string(),
            format!("00-{}-{}-01", ids.trace_id, ids.span_id),
        )];
        let trace_state = parent.span().span_context().trace_state().header();
        if !trace_state.is_empty() {
            child_environment.push(("TRACESTATE".to_string(), trace_state));
        }
        let (name, attributes) = start_attributes(settings, execution_id, env);
        Some(Telemetry {
            pending: Some(Box::new(PendingSpan {
                processor,
                resource,
                ids,
                parent,
                name,
                attributes,
                command_line: settings.command_line(),
            })),
            started: None,
            report,
            started_at,
            trace_id: ids.trace_id.to_string(),
            child_environment,
            command_words: match &settings.source {
                Source::Command { program, args } => std::iter::once(program)
                    .chain(args)
                    .map(|word| word.to_string_lossy().into_owned())
                    .collect(),
                Source::Stdin => Vec::new(),
            },
            working_directory,
            matches: Vec::new(),
            scrub_pii: config.scrub_pii,
            debug: config.debug,
            deadline,
        })
    }

    /// The run's trace id, for `--json`.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The run's span, made the first time it is needed: as the command starts, or when it
    /// could not start.
    fn span(&mut self) -> &mut Span {
        if let Some(pending) = self.pending.take() {
            self.started = Some(pending.start(self.started_at));
        }
        &mut self.started.as_mut().expect("made above").span
    }

    /// Records a run that could not start (exit code 3).
    pub fn record_failure(&mut self, message: &str) {
        let description = self.free_text(message);
        let span = self.span();
        span.set_attributes([
            KeyValue::new(attr::EXIT_CODE, i64::from(crate::outcome::exit_code::USAGE)),
            KeyValue::new(attr::EXIT_REASON, ExitReason::Error.as_str()),
            KeyValue::new(attr::MATCH_COUNT, 0),
            KeyValue::new(attr::TOTAL_RUNTIME, 0.0),
            KeyValue::new(attr::LINES_PROCESSED, 0),
            KeyValue::new(attr::BYTES_PROCESSED, 0),
        ]);
        span.set_status(Status::error(description));
    }

    /// Ends the span, waits for the sinks (at most [`LOCAL_DEADLINE`] plus a remote sink's
    /// timeout), and returns the lines to show the user: one warning if anything failed, and
    /// with `telemetry.debug` a line per delivery.
    pub fn finish(mut self) -> Vec<String> {
        self.span().end();
        let provider = &self.started.as_ref().expect("made by span()").provider;
        let shutdown = provider.shutdown_with_timeout(self.deadline);
        let deliveries = self.report.deliveries();
        let mut lines = Vec::new();
        if self.debug {
            for delivery in &deliveries {
                lines.push(format!(
                    "telemetry: {}: {} span(s) in {:.2} ms: {}",
                    delivery.sink,
                    delivery.spans,
                    delivery.elapsed.as_secs_f64() * 1000.0,
                    delivery.error.as_deref().unwrap_or("ok")
                ));
                lines.extend(
                    delivery
                        .notes
                        .iter()
                        .map(|note| format!("telemetry: {}: {note}", delivery.sink)),
                );
            }
        }
        let mut failures: Vec<String> = deliveries
            .iter()
            .filter_map(|d| d.error.as_ref().map(|e| format!("{}: {e}", d.sink)))
            .collect();
        if deliveries.is_empty() {
            if let Err(error) = shutdown {
                failures.push(format!(
                    "not delivered within {} ({error})",
                    crate::duration::format_duration(self.deadline)
                ));
            }
        }
        if !failures.is_empty() {
            lines.push(format!("telemetry not recorded: {}", failures.join("; ")));
        }
        lines
    }

    fn free_text(&self, text: &str) -> String {
        if self.scrub_pii {
            privacy::scrub(text)
        } else {
            text.to_string()
        }
    }
}

impl RunObserver for Telemetry {
    fn child_environment(&mut self) -> Vec<(String, String)> {
        self.child_environment.clone()
    }

    fn on_start(&mut self, start: &RunStart<'_>) {
        let span = self.span();
        if let Some(pid) = start.pid {
            span.set_attribute(KeyValue::new(attr::PROCESS_PID, i64::from(pid)));
        }
    }

    fn on_match(&mut self, event: &MatchEvent<'_>) {
        if self.matches.len() < MAX_MATCH_EVENTS as usize {
            let keep = event.line.len().min(attr::MAX_MATCH_LINE_BYTES);
            self.matches.push(PendingMatch {
                number: event.number,
                kind: event.kind,
                offset: event.offset,
                stream: event.stream,
                line_number: event.line_number,
                line: event.line[..keep].to_vec(),
            });
        }
    }

    fn on_end(&mut self, outcome: &Outcome) {
        let statistics = &outcome.statistics;
        let mut attributes = vec![
            KeyValue::new(
                attr::PROJECT_TYPE,
                detect::project_type(&self.working_directory),
            ),
            KeyValue::new(
                attr::PROCESS_WORKING_DIRECTORY,
                self.free_text(&self.working_directory.display().to_string()),
            ),
            KeyValue::new(attr::EXIT_CODE, i64::from(outcome.exit_code)),
            KeyValue::new(attr::EXIT_REASON, outcome.reason.as_str()),
            KeyValue::new(attr::MATCH_COUNT, outcome.match_count as i64),
            KeyValue::new(attr::STOPPED_COMMAND, outcome.stopped_command),
            KeyValue::new(attr::TOTAL_RUNTIME, outcome.duration.as_secs_f64()),
            KeyValue::new(attr::LINES_PROCESSED, statistics.lines_processed as i64),
            KeyValue::new(attr::BYTES_PROCESSED, statistics.bytes_processed as i64),
        ];
        if !self.command_words.is_empty() {
            let words = if self.scrub_pii {
                privacy::scrub_args(&self.command_words)
            } else {
                self.command_words.clone()
            };
            let words: Vec<StringValue> = words.into_iter().map(StringValue::from).collect();
            attributes.push(KeyValue::new(
                attr::PROCESS_COMMAND_ARGS,
                Value::Array(Array::String(words)),
            ));
        }
        if let Some(code) = outcome.command_exit_code {
            attributes.push(KeyValue::new(attr::PROCESS_EXIT_CODE, i64::from(code)));
        }
        if let Some(t) = statistics.time_to_first_output {
            attributes.push(KeyValue::new(attr::TIME_TO_FIRST_OUTPUT, t.as_secs_f64()));
        }
        if let Some(t) = statistics.time_to_first_match {
            attributes.push(KeyValue::new(attr::TIME_TO_FIRST_MATCH, t.as_secs_f64()));
        }
        let events: Vec<(SystemTime, Vec<KeyValue>)> = std::mem::take(&mut self.matches)
            .into_iter()
            .map(|pending| {
                let line = self.free_text(&String::from_utf8_lossy(&pending.line));
                let attributes = vec![
                    KeyValue::new(attr::MATCH_NUMBER, pending.number as i64),
                    KeyValue::new(attr::MATCH_OFFSET, pending.offset.as_secs_f64()),
                    KeyValue::new(attr::MATCH_STREAM, pending.stream.as_str()),
                    KeyValue::new(attr::MATCH_LINE_NUMBER, pending.line_number as i64),
                    KeyValue::new(attr::MATCH_KIND, match_kind_name(pending.kind)),
                    KeyValue::new(attr::MATCH_LINE, truncate(line, attr::MAX_MATCH_LINE_BYTES)),
                ];
                (self.started_at + pending.offset, attributes)
            })
            .collect();
        let ended_at = self.started_at + outcome.duration;
        let span = self.span();
        span.set_attributes(attributes);
        for (timestamp, attributes) in events {
            span.add_event_with_timestamp(attr::MATCH_EVENT, timestamp, attributes);
        }
        if let Some(description) = error_status(outcome) {
            span.set_status(Status::error(description));
        }
        span.end_with_timestamp(ended_at);
    }
}

/// How long `finish` waits: the local database (the remote sink's outbox is in it too), then
/// the remote's own timeout.
fn shutdown_deadline(settings: &Settings) -> Duration {
    let config = &settings.telemetry;
    let remote = match config.remote() {
        Some(Remote::Http) => config.http.timeout,
        Some(Remote::Otlp) => config.otlp.timeout,
        None => Duration::ZERO,
    };
    // A little slack so that a sink that gives up exactly at its deadline is still counted.
    LOCAL_DEADLINE + remote + Duration::from_millis(100)
}

/// The status rule: a match that stopped the command is the tool working (Unset);
/// a timeout, an error pattern, or a command that ran to its end and failed is an Error.
fn error_status(outcome: &Outcome) -> Option<String> {
    match outcome.reason {
        reason if reason.is_timeout() => Some(format!(
            "{} after {:.1}s",
            reason.as_str(),
            outcome.duration.as_secs_f64()
        )),
        ExitReason::ErrorPattern => Some("error pattern matched".into()),
        _ => match outcome.command_exit_code {
            Some(code) if code != 0 && !outcome.stopped_command => {
                Some(format!("command exited with {code}"))
            }
            _ => None,
        },
    }
}

fn match_kind_name(kind: MatchKind) -> &'static str {
    match kind {
        MatchKind::Pattern => "pattern",
        MatchKind::Success => "success",
        MatchKind::Error => "error",
    }
}

/// Cuts a string to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// sha256 hex of the command line as one string (words joined by single spaces).
pub fn command_hash(command_line: &str) -> String {
    Sha256::digest(command_line.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The span name and the attributes known before the command starts, all cheap (free texts,
/// which must be scrubbed, and the project type, which takes a dozen file lookups,
/// come at the end).
fn start_attributes(
    settings: &Settings,
    execution_id: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (String, Vec<KeyValue>) {
    let mut attributes = vec![KeyValue::new(attr::EXECUTION_ID, execution_id.to_string())];
    if let Some(pattern) = &settings.patterns.pattern {
        attributes.push(KeyValue::new(attr::PATTERN, pattern.clone()));
    }
    let name = match &settings.source {
        Source::Command { program, args } => {
            let executable = Path::new(program)
                .file_name()
                .map_or_else(|| program.to_string_lossy(), |n| n.to_string_lossy())
                .into_owned();
            let args: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            attributes.push(KeyValue::new(
                attr::COMMAND_CATEGORY,
                detect::command_category(&executable, &args),
            ));
            attributes.push(KeyValue::new(
                attr::PROCESS_EXECUTABLE_NAME,
                executable.clone(),
            ));
            executable
        }
        Source::Stdin => {
            attributes.push(KeyValue::new(attr::COMMAND_CATEGORY, "other"));
            "stdin".to_string()
        }
    };
    if let Some(ci) = detect::ci_run(env) {
        attributes.push(KeyValue::new(attr::CI_SYSTEM, ci.system));
        let described = [
            (attr::CICD_PIPELINE_NAME, ci.pipeline_name),
            (attr::CICD_PIPELINE_RUN_ID, ci.run_id),
            (attr::CICD_PIPELINE_RUN_URL_FULL, ci.run_url),
            (attr::VCS_REF_HEAD_NAME, ci.ref_name),
            (attr::VCS_REF_HEAD_REVISION, ci.revision),
            (attr::VCS_REPOSITORY_URL_FULL, ci.repository_url),
        ];
        for (name, value) in described {
            if let Some(value) = value {
                attributes.push(KeyValue::new(name, value));
            }
        }
    }
    (name, attributes)
}

/// The context in `TRACEPARENT`/`TRACESTATE`, which CI systems set; the run's span becomes its
/// child. An invalid header is ignored (the run starts a new trace).
fn parent_context(env: &dyn Fn(&str) -> Option<String>) -> opentelemetry::Context {
    let mut carrier = HashMap::new();
    for (variable, header) in [("TRACEPARENT", "traceparent"), ("TRACESTATE", "tracestate")] {
        if let Some(value) = env(variable) {
            carrier.insert(header.to_string(), value);
        }
    }
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        context
    } else {
        opentelemetry::Context::new()
    }
}

/// `service.name` is `earlyexit` unless `OTEL_SERVICE_NAME` (or `OTEL_RESOURCE_ATTRIBUTES`)
/// names another; the SDK's default detectors read those.
pub fn resource(env: &dyn Fn(&str) -> Option<String>) -> Resource {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let mut builder = Resource::builder().with_attributes([
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("os.type", detect::os_type()),
        KeyValue::new("host.arch", host_arch),
    ]);
    let named_by_user = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    if !named_by_user {
        builder = builder.with_service_name("earlyexit");
    }
    builder.build()
}
