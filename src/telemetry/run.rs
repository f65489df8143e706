//! The telemetry of one run: a [`RunObserver`] that keeps what it is told while the command
//! runs, and makes and ends the run's span around it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Span};
use opentelemetry_sdk::Resource;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config::{Settings, Source};
use crate::export::{self as sinks, DeliveryReport, Fanout, Milestone};
use crate::observer::{KeptMatch, MatchEvent, RunObserver, RunStart};
use crate::outcome::{ExitReason, Outcome, RunEnd};
use crate::profile::Block;
use crate::recording::attributes as attr;
use crate::recording::span::{self, command_hash, parent_context, resource, start_attributes};
use crate::recording::{detect, privacy};

use super::live_plan::LivePlan;
use super::live_side::LiveSide;
use super::processor::RunProcessor;
use super::run_ids::RunIds;

/// How often `finish` looks for a signal while it waits for the sinks.
const SIGNAL_CHECK: Duration = Duration::from_millis(20);
/// How long `finish` still waits for the run to be kept once a signal came: within the
/// second that the user or the CI runner gives.
const KEEP_GRACE: Duration = Duration::from_millis(800);
/// How long a cancelled run's remote gets to answer: with the command's 1 s to stop
/// (`watch::CANCEL_GRACE`), the run is recorded within 2 s of the signal that cancelled it.
const CANCELLED_REMOTE_BUDGET: Duration = Duration::from_millis(500);

/// A flag that SIGINT, SIGTERM or SIGHUP sets from now on.
fn interrupted_from_now() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
    }
    flag
}

/// How long `finish` gives the live thread, after the run is kept, to remove its lock file.
const LOCK_RELEASE: Duration = Duration::from_millis(100);

/// The telemetry of one run.
pub struct Telemetry {
    state: SpanState,
    report: Arc<DeliveryReport>,
    started_at: SystemTime,
    trace_id: String,
    child_environment: Vec<(String, String)>,
    /// Free texts kept until the end, when they are scrubbed: scrubbing before the command
    /// starts would delay it.
    command_words: Vec<String>,
    working_directory: PathBuf,
    matches: Vec<KeptMatch>,
    /// Match events kept (`OTEL_SPAN_EVENT_COUNT_LIMIT`); `earlyexit.match_count` still
    /// counts every match.
    event_limit: usize,
    /// The deciding match's failure block, for that match's event.
    block: Option<(u64, Block)>,
    scrub_pii: bool,
    debug: bool,
    /// How long `finish` waits for the sinks.
    deadline: Duration,
    /// How long `finish` waits for the live records still to go: the remote's timeout, which
    /// the span's export gets in parallel.
    live_wait: Duration,
    /// Whether a sink sends over the network: only then may a signal cut `finish` short.
    remote: bool,
    /// The run was cancelled (a signal to earlyexit): the remote gets
    /// `CANCELLED_REMOTE_BUDGET` to answer, since a CI runner's SIGKILL is seconds away.
    cancelled: bool,
    /// The running row and the live records, when `telemetry.live` is on.
    live: Option<LiveSide>,
    /// The number of the run's last match so far.
    match_count: u64,
    /// Match log records go to a collector: the span says how many were suppressed.
    match_logs: bool,
}

/// Before the command starts, telemetry does only what the start needs: it chooses the span's
/// ids (the command's `TRACEPARENT` names them) and makes the span processor. The provider and
/// the span are made once the command runs: with the command's hash and the local database's
/// open, which its start no longer waits for.
struct PendingSpan {
    processor: RunProcessor,
    resource: Resource,
    ids: RunIds,
    parent: opentelemetry::Context,
    name: String,
    attributes: Vec<KeyValue>,
    command_line: Option<String>,
    event_limit: u32,
}

/// The span's life: made of parts until the command starts, then a span that a provider
/// exports once it ends.
enum SpanState {
    Pending(PendingSpan),
    Started(StartedSpan),
    /// Ended and handed to the provider (only while `finish` shuts it down).
    Ended,
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
            .with_max_events_per_span(self.event_limit)
            .build();
        let tracer = provider.tracer_with_scope(span::scope());
        let mut attributes = self.attributes;
        attributes.push(KeyValue::new(
            attr::COMMAND_HASH,
            command_hash(self.command_line.as_deref().unwrap_or_default()),
        ));
        let span = tracer
            .span_builder(self.name)
            .with_kind(SpanKind::Client)
            .with_start_time(started_at)
            .with_attributes(attributes)
            .start_with_context(&tracer, &self.parent);
        StartedSpan { provider, span }
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
        crate::fault::inject("telemetry-start");
        let config = &settings.telemetry;
        if !config.is_active() {
            return None;
        }
        let sinks = sinks::for_run(&settings.telemetry);
        if sinks.is_empty() {
            return None;
        }
        let deadline = sinks::shutdown_deadline(config);
        let remote = sinks
            .iter()
            .any(|sink| matches!(sink, sinks::Sink::Remote(_)));
        let (fanout, report) = Fanout::new(sinks);
        let resource = resource(config);
        let processor = RunProcessor::new(fanout, remote, config.http.flush_interval, &resource);
        let started_at = SystemTime::now();
        let working_directory = std::env::current_dir().unwrap_or_default();
        let parent = parent_context(env, config.propagate_trace_context);
        let ids = RunIds::choose(&parent);
        let mut child_environment = Vec::new();
        if config.propagate_trace_context {
            // Always sampled (`-01`): see `PendingSpan::start`.
            child_environment.push((
                "TRACEPARENT".to_string(),
                format!("00-{}-{}-01", ids.trace_id, ids.span_id),
            ));
            let trace_state = parent.span().span_context().trace_state().header();
            if !trace_state.is_empty() {
                child_environment.push(("TRACESTATE".to_string(), trace_state));
            }
        }
        let (name, attributes) = start_attributes(settings, execution_id, env);
        let command_words: Vec<String> = match &settings.source {
            Source::Command { program, args } => std::iter::once(program)
                .chain(args)
                .map(|word| word.to_string_lossy().into_owned())
                .collect(),
            Source::Stdin => Vec::new(),
        };
        let live = LivePlan::wanted(config).then(|| {
            LiveSide::planned(LivePlan {
                settings: config.clone(),
                execution_id: execution_id.to_string(),
                context: SpanContext::new(
                    ids.trace_id,
                    ids.span_id,
                    TraceFlags::SAMPLED,
                    false,
                    parent.span().span_context().trace_state().clone(),
                ),
                parent: parent.span().span_context().clone(),
                name: name.clone(),
                start_attributes: attributes.clone(),
                command_line: settings.command_line(),
                command_words: command_words.clone(),
                working_directory: working_directory.clone(),
                started_at,
                resource: resource.clone(),
                report: Arc::clone(&report),
            })
        });
        let match_logs = config.sends_live_records() && config.live.match_records.as_logs();
        Some(Telemetry {
            state: SpanState::Pending(PendingSpan {
                processor,
                resource,
                ids,
                parent,
                name,
                attributes,
                command_line: settings.command_line(),
                event_limit: u32::try_from(config.span_event_limit).unwrap_or(u32::MAX),
            }),
            report,
            started_at,
            trace_id: ids.trace_id.to_string(),
            child_environment,
            command_words,
            working_directory,
            matches: Vec::new(),
            event_limit: config.span_event_limit,
            block: None,
            scrub_pii: config.scrub_pii,
            debug: config.debug,
            deadline,
            live_wait: sinks::remote_wait(config),
            remote,
            cancelled: false,
            live,
            match_count: 0,
            match_logs,
        })
    }

    /// The run's trace id, for `--json`.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The run's span, made the first time it is needed: as the command starts, or when it
    /// could not start.
    fn span(&mut self) -> &mut Span {
        if let SpanState::Pending(_) = self.state {
            if let SpanState::Pending(pending) =
                std::mem::replace(&mut self.state, SpanState::Ended)
            {
                self.state = SpanState::Started(pending.start(self.started_at));
            }
        }
        match &mut self.state {
            SpanState::Started(started) => &mut started.span,
            SpanState::Pending(_) | SpanState::Ended => unreachable!("started above"),
        }
    }

    /// Records a run that could not start (exit code 3).
    pub fn record_failure(&mut self, message: &str) {
        let description = self.free_text(message);
        let span = self.span();
        span.set_attributes([
            KeyValue::new(attr::EXIT_CODE, i64::from(crate::outcome::exit_code::USAGE)),
            KeyValue::new(attr::EXIT_REASON, ExitReason::Error.as_str()),
            KeyValue::new(attr::OUTCOME, Outcome::Error.as_str()),
            KeyValue::new(
                attr::CICD_PIPELINE_TASK_RUN_RESULT,
                Outcome::Error.task_run_result(),
            ),
            KeyValue::new(attr::ERROR_TYPE, Outcome::Error.as_str()),
            KeyValue::new(attr::MATCH_COUNT, 0),
            KeyValue::new(attr::TOTAL_RUNTIME, 0.0),
            KeyValue::new(attr::LINES_PROCESSED, 0),
            KeyValue::new(attr::BYTES_PROCESSED, 0),
        ]);
        span.set_status(Status::error(description));
    }

    /// Ends the span, waits for the sinks (at most [`sinks::LOCAL_DEADLINE`] plus a remote sink's
    /// timeout), and returns the lines to show the user: one warning if anything failed, and
    /// with `telemetry.debug` a line per delivery.
    ///
    /// With a remote sink, once SIGINT, SIGTERM or SIGHUP arrives (the command has ended) it
    /// waits only until the run is kept, locally and in the outbox, and at
    /// most `KEEP_GRACE`: a CI runner's SIGKILL follows its SIGTERM within seconds, and a
    /// user's Ctrl-C means now. A cancelled run (the signal came while the command ran) gives
    /// the remote `CANCELLED_REMOTE_BUDGET` to answer, then the same. Local sinks alone are waited for: they
    /// take milliseconds, and a signal must not cost the local record.
    pub fn finish(mut self) -> Vec<String> {
        let live_give_up = Instant::now() + self.live_wait;
        if let Some(live) = &mut self.live {
            live.end(&self.matches, self.block.as_ref());
        }
        self.span().end();
        let SpanState::Started(started) = std::mem::replace(&mut self.state, SpanState::Ended)
        else {
            unreachable!("span() starts it")
        };
        let give_up = Instant::now() + self.deadline;
        let interrupted = if self.remote {
            interrupted_from_now()
        } else {
            Arc::default()
        };
        let cancelled_give_up = Instant::now() + CANCELLED_REMOTE_BUDGET;
        while self.remote && !self.report.wait_for(Milestone::Done, SIGNAL_CHECK) {
            let cut_short = self.cancelled && Instant::now() >= cancelled_give_up;
            if cut_short || interrupted.load(Ordering::Relaxed) {
                let kept = self.report.wait_for(Milestone::Kept, KEEP_GRACE);
                // Shutting the provider down would wait for the send being abandoned.
                std::mem::forget(started.provider);
                return vec![if kept {
                    "telemetry: interrupted; the run waits in the outbox for the next run or `earlyexit telemetry sync`".to_string()
                } else {
                    "telemetry not recorded: interrupted".to_string()
                }];
            }
            if Instant::now() >= give_up {
                break;
            }
        }
        let remaining = give_up.saturating_duration_since(Instant::now());
        let shutdown = started
            .provider
            .shutdown_with_timeout(remaining.max(SIGNAL_CHECK));
        // The live thread, which sent its last records meanwhile, removes the run's lock file
        // once the record is kept: that takes it a moment after the export, even when the
        // live records' own time is over.
        if let Some(live) = self.live.take() {
            live.wait(live_give_up.max(Instant::now() + LOCK_RELEASE), give_up);
        }
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
        privacy::scrub_if(self.scrub_pii, text)
    }
}

impl RunObserver for Telemetry {
    fn child_environment(&mut self) -> Vec<(String, String)> {
        self.child_environment.clone()
    }

    fn on_start(&mut self, start: &RunStart<'_>) {
        if let Some(live) = &mut self.live {
            live.started(start.pid);
        }
        let span = self.span();
        if let Some(pid) = start.pid {
            span.set_attribute(KeyValue::new(attr::PROCESS_PID, i64::from(pid)));
        }
    }

    fn on_match(&mut self, event: &MatchEvent<'_>) {
        self.match_count = event.number;
        if let Some(live) = &mut self.live {
            live.matched(event);
        }
        if self.matches.len() < self.event_limit {
            self.matches.push(event.kept());
        }
    }

    fn on_block(&mut self, match_number: u64, block: &Block) {
        self.block = Some((match_number, block.clone()));
    }

    fn next_tick(&self) -> Option<Instant> {
        self.live.as_ref().and_then(LiveSide::next_tick)
    }

    fn on_tick(&mut self) {
        if let Some(live) = &mut self.live {
            live.go_live(&self.matches, self.match_count);
        }
    }

    fn on_end(&mut self, outcome: &RunEnd) {
        crate::fault::inject("telemetry-end");
        self.cancelled = outcome.outcome == Outcome::Cancelled;
        let command_words = if self.scrub_pii {
            privacy::scrub_args(&self.command_words)
        } else {
            self.command_words.clone()
        };
        let working_directory = self.free_text(&self.working_directory.display().to_string());
        let mut attributes = span::place_attributes(
            detect::project_type(&self.working_directory),
            working_directory,
            command_words,
        );
        attributes.extend(span::outcome_attributes(outcome));
        if let Some(live) = &mut self.live {
            live.end(&self.matches, self.block.as_ref());
            if self.match_logs && live.suppressed() > 0 {
                attributes.push(KeyValue::new(
                    attr::LIVE_RECORDS_SUPPRESSED,
                    live.suppressed() as i64,
                ));
            }
        }
        let events: Vec<(SystemTime, Vec<KeyValue>)> = std::mem::take(&mut self.matches)
            .into_iter()
            .map(|kept| {
                let line = privacy::scrub_matched_line(self.scrub_pii, &kept);
                let mut attributes = span::match_attributes(&kept, line);
                if let Some((_, block)) = self.block.as_ref().filter(|(n, _)| *n == kept.number) {
                    let text = self.free_text(&block.lines.join("\n"));
                    attributes.extend(span::block_attributes(block, text));
                }
                (self.started_at + kept.offset, attributes)
            })
            .collect();
        let ended_at = self.started_at + outcome.duration;
        let span = self.span();
        span.set_attributes(attributes);
        for (timestamp, attributes) in events {
            span.add_event_with_timestamp(attr::MATCH_EVENT, timestamp, attributes);
        }
        if let Some(description) = span::error_status(outcome) {
            span.set_status(Status::error(description));
        }
        span.end_with_timestamp(ended_at);
    }
}
