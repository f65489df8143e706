//! What the run's span carries: its name and attributes at the start and at the end, its
//! parent from `TRACEPARENT`, its status, and the resource of the process.

use std::collections::HashMap;
use std::path::Path;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::Resource;
use sha2::{Digest, Sha256};

use super::attributes as attr;
use super::{ci, detect};
use crate::config::{Settings, Source, TelemetrySettings};
use crate::matcher::MatchKind;
use crate::observer::KeptMatch;
use crate::outcome::RunEnd;
use crate::profile::Block;

/// Where and what ran: the project type, the working directory and the command's words. The
/// free texts come scrubbed (or not) as the settings say.
pub fn place_attributes(
    project_type: &'static str,
    working_directory: String,
    command_words: Vec<String>,
) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new(attr::PROJECT_TYPE, project_type),
        KeyValue::new(attr::PROCESS_WORKING_DIRECTORY, working_directory),
    ];
    if !command_words.is_empty() {
        let words: Vec<StringValue> = command_words.into_iter().map(StringValue::from).collect();
        attributes.push(KeyValue::new(
            attr::PROCESS_COMMAND_ARGS,
            Value::Array(Array::String(words)),
        ));
    }
    attributes
}

/// How the run ended: the attributes known once the command has ended (or, for a lost run,
/// once it was closed).
pub fn outcome_attributes(outcome: &RunEnd) -> Vec<KeyValue> {
    let statistics = &outcome.statistics;
    let mut attributes = vec![
        KeyValue::new(attr::EXIT_CODE, i64::from(outcome.exit_code)),
        KeyValue::new(attr::EXIT_REASON, outcome.reason.as_str()),
        KeyValue::new(attr::OUTCOME, outcome.outcome.as_str()),
        KeyValue::new(
            attr::CICD_PIPELINE_TASK_RUN_RESULT,
            outcome.outcome.task_run_result(),
        ),
        KeyValue::new(attr::MATCH_COUNT, outcome.match_count as i64),
        KeyValue::new(attr::STOPPED_COMMAND, outcome.stopped_command),
        KeyValue::new(attr::TOTAL_RUNTIME, outcome.duration.as_secs_f64()),
        KeyValue::new(attr::LINES_PROCESSED, statistics.lines_processed as i64),
        KeyValue::new(attr::BYTES_PROCESSED, statistics.bytes_processed as i64),
    ];
    if let Some(code) = outcome.command_exit_code {
        attributes.push(KeyValue::new(attr::PROCESS_EXIT_CODE, i64::from(code)));
    }
    if let Some(error_type) = outcome.outcome.error_type(outcome) {
        attributes.push(KeyValue::new(attr::ERROR_TYPE, error_type));
    }
    if let Some(t) = statistics.time_to_first_output {
        attributes.push(KeyValue::new(attr::TIME_TO_FIRST_OUTPUT, t.as_secs_f64()));
    }
    if let Some(t) = statistics.time_to_first_match {
        attributes.push(KeyValue::new(attr::TIME_TO_FIRST_MATCH, t.as_secs_f64()));
    }
    attributes
}

/// The attributes of one match, on its span event and on its live log record. `line` is the
/// kept line as the settings keep it (scrubbed or not); it is cut to its limit here.
pub fn match_attributes(kept: &KeptMatch, line: String) -> Vec<KeyValue> {
    vec![
        KeyValue::new(attr::MATCH_NUMBER, kept.number as i64),
        KeyValue::new(attr::MATCH_OFFSET, kept.offset.as_secs_f64()),
        KeyValue::new(attr::MATCH_STREAM, kept.stream.as_str()),
        KeyValue::new(attr::MATCH_LINE_NUMBER, kept.line_number as i64),
        KeyValue::new(attr::MATCH_KIND, match_kind_name(kept.kind)),
        KeyValue::new(attr::MATCH_LINE, truncate(line, attr::MAX_MATCH_LINE_BYTES)),
    ]
}

/// The failure block on its match's event: its text (scrubbed by the caller, cut to
/// [`attr::MAX_MATCH_BLOCK_BYTES`]) and where it points.
pub fn block_attributes(block: &Block, text: String) -> Vec<KeyValue> {
    let mut attributes = vec![KeyValue::new(
        attr::MATCH_BLOCK,
        truncate(text, attr::MAX_MATCH_BLOCK_BYTES),
    )];
    if let Some(at) = &block.location {
        attributes.push(KeyValue::new(attr::CODE_FILE_PATH, at.file.clone()));
        attributes.push(KeyValue::new(attr::CODE_LINE_NUMBER, i64::from(at.line)));
        if let Some(column) = at.column {
            attributes.push(KeyValue::new(attr::CODE_COLUMN_NUMBER, i64::from(column)));
        }
    }
    attributes
}

/// The instrumentation scope of every span and live record: earlyexit, its version, and the
/// semantic conventions it follows.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("earlyexit")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(attr::SEMCONV_SCHEMA_URL)
        .build()
}

/// The span's status: Error, with what happened ([`RunEnd::headline`]), when the outcome is
/// one (failure, timeout, cancelled, lost, error); Unset otherwise, as the conventions ask of
/// instrumentation.
pub fn error_status(end: &RunEnd) -> Option<String> {
    end.outcome.is_error().then(|| end.headline())
}

pub fn match_kind_name(kind: MatchKind) -> &'static str {
    match kind {
        MatchKind::Pattern => "pattern",
        MatchKind::Success => "success",
        MatchKind::Error => "error",
    }
}

/// Cuts a string to at most `max` bytes on a character boundary.
pub fn truncate(mut text: String, max: usize) -> String {
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
pub fn start_attributes(
    settings: &Settings,
    execution_id: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (String, Vec<KeyValue>) {
    let mut attributes = vec![KeyValue::new(attr::EXECUTION_ID, execution_id.to_string())];
    if let Some(pattern) = settings.patterns.label() {
        attributes.push(KeyValue::new(attr::PATTERN, pattern));
    }
    if let Some(applied) = &settings.profile {
        attributes.push(KeyValue::new(attr::PROFILE, applied.profile.name));
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
    if let Some(ci) = ci::ci_run(env) {
        attributes.push(KeyValue::new(attr::CI_SYSTEM, ci.system));
        let described = [
            (attr::CICD_PIPELINE_NAME, ci.pipeline_name),
            (attr::CICD_PIPELINE_RUN_ID, ci.run_id),
            (attr::CICD_PIPELINE_RUN_URL_FULL, ci.run_url),
            (attr::VCS_REF_HEAD_NAME, ci.ref_name),
            (attr::VCS_REF_HEAD_REVISION, ci.revision),
            (attr::VCS_REPOSITORY_URL_FULL, ci.repository_url),
        ];
        let named = [
            (attr::CICD_PIPELINE_TASK_NAME, ci.task_name),
            (attr::VCS_REPOSITORY_NAME, ci.repository_name),
            (attr::VCS_OWNER_NAME, ci.owner_name),
            (attr::CICD_PIPELINE_TASK_RUN_ID, ci.task_run_id),
            (attr::CICD_PIPELINE_TASK_RUN_URL_FULL, ci.task_run_url),
            (attr::CICD_WORKER_NAME, ci.worker_name),
            (attr::VCS_CHANGE_ID, ci.change_id),
            (attr::VCS_REF_BASE_NAME, ci.base_ref),
        ];
        for (name, value) in described.into_iter().chain(named) {
            if let Some(value) = value {
                attributes.push(KeyValue::new(name, value));
            }
        }
        let kinds = [
            (attr::VCS_PROVIDER_NAME, ci.provider),
            (attr::VCS_REF_HEAD_TYPE, ci.ref_type),
        ];
        for (name, value) in kinds {
            if let Some(value) = value {
                attributes.push(KeyValue::new(name, value));
            }
        }
    }
    (name, attributes)
}

/// The context in `TRACEPARENT`/`TRACESTATE`, which CI systems set, unless `propagate` is off
/// (`OTEL_PROPAGATORS` without `tracecontext`); the run's span becomes its child. Without
/// one, under GitHub Actions, the workflow step as the Collector's GitHub receiver draws it
/// (`github_parent`). An invalid header is ignored.
pub fn parent_context(
    env: &dyn Fn(&str) -> Option<String>,
    propagate: bool,
) -> opentelemetry::Context {
    let mut carrier = HashMap::new();
    for (variable, header) in [("TRACEPARENT", "traceparent"), ("TRACESTATE", "tracestate")] {
        if let Some(value) = env(variable).filter(|_| propagate) {
            carrier.insert(header.to_string(), value);
        }
    }
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        context
    } else if let Some(step) = super::github_parent::parent(env) {
        opentelemetry::Context::new().with_remote_span_context(step)
    } else {
        opentelemetry::Context::new()
    }
}

/// The resource of the process: earlyexit's own attributes, then what the user gave
/// (`OTEL_RESOURCE_ATTRIBUTES`, decoded, and `OTEL_SERVICE_NAME`, resolved in
/// [`TelemetrySettings::resource`]), which wins; `service.name` is `earlyexit` unless the user
/// named another. Built from those settings rather than the SDK's environment detector,
/// which neither decodes values nor lets `OTEL_SERVICE_NAME` win.
pub fn resource(settings: &TelemetrySettings) -> Resource {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_schema_url(Vec::<KeyValue>::new(), attr::SEMCONV_SCHEMA_URL)
        .with_service_name("earlyexit")
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("os.type", detect::os_type()),
            KeyValue::new("host.arch", host_arch),
        ])
        .with_attributes(
            settings
                .resource
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        )
        .build()
}

/// Any `TRACEPARENT` and `TRACESTATE` are taken or ignored, never a panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_trace_context_is_taken_or_ignored(
            parent in prop_oneof![any::<String>(), "00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"],
            state in any::<String>(),
        ) {
            let env = |name: &str| match name {
                "TRACEPARENT" => Some(parent.clone()),
                "TRACESTATE" => Some(state.clone()),
                _ => None,
            };
            super::parent_context(&env, true);
        }
    }
}
