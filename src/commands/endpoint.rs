//! `telemetry test-http` and `telemetry send-test`: checking the configured remote. With
//! `--endpoint`, or when the remote is the HTTP API, they speak the HTTP API of `TELEMETRY_BACKENDS.md`; when it is an
//! OTLP collector, they send it an empty export (does it answer, does it take our headers?) or
//! one test span.

use std::time::{Instant, SystemTime};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::{CommandError, EndpointArgs};
use crate::config::telemetry::{Remote, Secret};
use crate::config::TelemetrySettings;
use crate::delivery::http::{self, Endpoint, PostError};
use crate::delivery::DeliveryError;
use crate::delivery::OtlpTransport;
use crate::outcome::{ExitReason, Outcome};
use crate::recording::attributes as attr;
use crate::recording::privacy::Detail;
use crate::recording::record::RunRecord;

/// The pattern and command a test record carries, so that it is told apart from real runs.
const TEST_PATTERN: &str = "earlyexit-send-test";
const TEST_COMMAND: &str = "earlyexit telemetry send-test";

/// True when these commands are to check the OTLP collector: no `--endpoint`, and the
/// configured remote is OTLP.
fn checks_otlp(settings: &TelemetrySettings, args: &EndpointArgs) -> bool {
    args.endpoint.is_none() && settings.configured_remote() == Some(Remote::Otlp)
}

/// Sends `spans` to the configured collector; returns where and how long it took.
fn export_otlp(
    settings: &TelemetrySettings,
    spans: Vec<SpanData>,
) -> Result<(String, f64), CommandError> {
    let mut sink = OtlpTransport::new(&settings.otlp);
    sink.set_resource(&crate::recording::resource(settings));
    let started = Instant::now();
    futures_executor::block_on(sink.export_spans(spans))
        .map_err(|error| CommandError::Otlp(error.to_string()))?;
    Ok((sink.display_url(), started.elapsed().as_secs_f64() * 1000.0))
}

/// One test span, shaped as a run's: a successful run of `earlyexit telemetry send-test`,
/// marked `earlyexit.test`.
fn test_span(execution_id: &str) -> SpanData {
    let now = SystemTime::now();
    let outcome = Outcome::Success;
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(uuid::Uuid::new_v4().into_bytes()),
            SpanId::from_bytes(
                uuid::Uuid::new_v4().into_bytes()[..8]
                    .try_into()
                    .unwrap_or([1; 8]),
            ),
            TraceFlags::SAMPLED,
            false,
            Default::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Client,
        name: TEST_PATTERN.into(),
        start_time: now,
        end_time: now,
        attributes: vec![
            KeyValue::new(attr::EXECUTION_ID, execution_id.to_string()),
            KeyValue::new(
                attr::COMMAND_HASH,
                crate::recording::command_hash(TEST_COMMAND),
            ),
            KeyValue::new(attr::PATTERN, TEST_PATTERN),
            KeyValue::new(attr::EXIT_CODE, 0),
            KeyValue::new(attr::EXIT_REASON, ExitReason::Completed.as_str()),
            KeyValue::new(attr::OUTCOME, outcome.as_str()),
            KeyValue::new(
                attr::CICD_PIPELINE_TASK_RUN_RESULT,
                outcome.task_run_result(),
            ),
            KeyValue::new(attr::MATCH_COUNT, 0),
            KeyValue::new(attr::TOTAL_RUNTIME, 0.0),
            KeyValue::new(attr::PROJECT_TYPE, "unknown"),
            KeyValue::new(attr::COMMAND_CATEGORY, "test"),
            KeyValue::new(attr::TEST, true),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("earlyexit")
            .with_version(env!("CARGO_PKG_VERSION"))
            .with_schema_url(attr::SEMCONV_SCHEMA_URL)
            .build(),
    }
}

impl EndpointArgs {
    fn resolve(&self, settings: &TelemetrySettings) -> Result<Endpoint, CommandError> {
        let url = self
            .endpoint
            .clone()
            .or_else(|| settings.http.endpoint.as_deref().map(str::to_string))
            .ok_or_else(|| CommandError::Usage(DeliveryError::NoEndpoint.to_string()))?;
        let auth_header = self.auth_header.unwrap_or(settings.http.auth_header);
        let api_key = self
            .api_key
            .clone()
            .map(Secret::new)
            .or_else(|| settings.http.api_key.clone());
        Ok(Endpoint::new(
            &url,
            auth_header,
            api_key,
            settings.http.trust.clone(),
        ))
    }
}

pub fn test_http(settings: &TelemetrySettings, args: &EndpointArgs) -> Result<(), CommandError> {
    if checks_otlp(settings, args) {
        let (destination, millis) = export_otlp(settings, Vec::new())?;
        println!("{destination}: reachable, an empty export accepted in {millis:.1} ms");
        return Ok(());
    }
    let endpoint = args.resolve(settings)?;
    let body = http::request_body(Vec::new(), true).to_string();
    let deadline = std::time::Instant::now() + settings.http.timeout;
    match http::post(&endpoint, body.as_bytes(), deadline, 0) {
        Ok(accepted) => {
            println!(
                "{}: reachable, key accepted (HTTP {}) in {:.1} ms",
                endpoint.display(),
                accepted.status,
                accepted.elapsed.as_secs_f64() * 1000.0
            );
            Ok(())
        }
        Err(PostError::Rejected {
            status: 401 | 403,
            endpoint: url,
            ..
        }) => Err(CommandError::KeyRefused(url)),
        Err(error) => Err(error.into()),
    }
}

pub fn send_test(settings: &TelemetrySettings, args: &EndpointArgs) -> Result<(), CommandError> {
    let execution_id = uuid::Uuid::new_v4().to_string();
    // One test run, made the way a real run's span is made, and sent the way the configured
    // remote is sent a real run: the span itself to a collector, its flat record to the API.
    let span = test_span(&execution_id);
    if checks_otlp(settings, args) {
        let trace_id = span.span_context.trace_id();
        let (destination, millis) = export_otlp(settings, vec![span])?;
        println!(
            "sent test span {trace_id} (execution {execution_id}) to {destination} in {millis:.1} ms"
        );
        return Ok(());
    }
    let endpoint = args.resolve(settings)?;
    let events = RunRecord::from_span(&span, Detail::Minimal)
        .map(|run| run.envelopes())
        .unwrap_or_default();
    let body = http::request_body(events, true).to_string();
    let deadline = std::time::Instant::now() + settings.http.timeout;
    let accepted = http::post(
        &endpoint,
        body.as_bytes(),
        deadline,
        settings.http.retry_attempts,
    )?;
    println!(
        "sent test execution {execution_id} to {} (HTTP {}, received {})",
        endpoint.display(),
        accepted.status,
        accepted
            .received
            .map_or_else(|| "?".to_string(), |r| r.to_string())
    );
    for warning in accepted.warnings {
        println!("warning: {warning}");
    }
    Ok(())
}
