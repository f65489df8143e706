//! The sinks, each a `SpanExporter` of its own, and the fan-out that puts them behind the one
//! batch span processor.
//!
//! `SpanExporter::export` returns `impl Future`, so exporters cannot be boxed as `dyn`; the
//! fan-out holds an enum of the sinks instead. It never fails the batch: each sink's success
//! or failure is counted in a [`DeliveryReport`], because the SDK drops a failed batch and
//! `shutdown()` reports Ok even then.
//!
//! May import: `recording` (the flat record, privacy), `store` (the SQLite sink, the outbox),
//! `delivery` (the remote sink hands its rows to it), `config` and the leaves.

mod console;
mod dry_run;
mod jsonl;
mod remote;
mod sqlite;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::config::telemetry::{Backend, Remote, Signal, TelemetrySettings};
use crate::delivery::http::Endpoint;
use crate::delivery::Transport;

pub use console::ConsoleSink;
pub use dry_run::DryRunSink;
pub use jsonl::JsonlSink;
pub use remote::RemoteSink;
pub use sqlite::SqliteSink;

/// How long earlyexit waits at exit for the local sinks (a locked database is waited on for
/// `store::BUSY_TIMEOUT`); a remote sink adds its own `http.timeout`.
pub const LOCAL_DEADLINE: Duration = Duration::from_secs(3);

/// How long `finish` waits: the local database (the remote sink's outbox is in it too), then
/// the remote's own timeout.
pub fn shutdown_deadline(config: &TelemetrySettings) -> Duration {
    // A little slack so that a sink that gives up exactly at its deadline is still counted.
    LOCAL_DEADLINE + remote_wait(config) + Duration::from_millis(100)
}

/// The remote's timeout: what the wait at exit gives it, spans and live records together.
pub fn remote_wait(config: &TelemetrySettings) -> Duration {
    match config.remote() {
        Some(Remote::Http) => config.http.timeout,
        Some(Remote::Otlp) => config.otlp.export(Signal::Traces).timeout,
        None => Duration::ZERO,
    }
}

/// The sinks of a run, local first: SQLite or the file, then the remote. With
/// `--telemetry-dry-run` each is replaced by a stand-in that prints instead.
pub fn for_run(config: &TelemetrySettings) -> Vec<Sink> {
    let local_detail = config.local_detail();
    let remote_detail = config.remote_detail;
    let mut sinks = Vec::new();
    if config.writes_locally() {
        sinks.push(match (config.backend, config.dry_run) {
            (Backend::File, false) => Sink::Jsonl(JsonlSink::new(
                config.file.path.clone(),
                config.file.rotate_size_mb,
                config.file.compression,
                local_detail,
            )),
            (Backend::File, true) => Sink::DryRun(DryRunSink::local("file", local_detail)),
            (_, false) => Sink::Sqlite(SqliteSink::new(
                config.sqlite.path.clone(),
                config.sqlite.wal_mode,
                config.sqlite.retention_days,
                local_detail,
            )),
            (_, true) => Sink::DryRun(DryRunSink::local("sqlite", local_detail)),
        });
    }
    if config.console {
        sinks.push(Sink::Console(ConsoleSink::new(local_detail)));
    }
    let Some(remote) = config.remote() else {
        return sinks;
    };
    if config.dry_run {
        match remote {
            Remote::Http => sinks.extend(
                Endpoint::from_settings(&config.http)
                    .map(|endpoint| Sink::DryRun(DryRunSink::http(endpoint, remote_detail))),
            ),
            Remote::Otlp => sinks.push(Sink::DryRun(DryRunSink::local("otlp", remote_detail))),
        }
        return sinks;
    }
    // Without an endpoint the HTTP remote has nowhere to go; `consent` has said so already.
    if let Ok(transport) = Transport::of(remote, config) {
        sinks.push(Sink::Remote(Box::new(RemoteSink::new(transport, config))));
    }
    sinks
}

/// One destination for spans.
#[derive(Debug)]
pub enum Sink {
    Sqlite(SqliteSink),
    Jsonl(JsonlSink),
    /// Boxed: the OTLP exporter is large, and a run has at most one remote.
    Remote(Box<RemoteSink>),
    DryRun(DryRunSink),
    Console(ConsoleSink),
}

impl Sink {
    /// The sink's name in messages and in `telemetry status`.
    pub fn name(&self) -> String {
        match self {
            Sink::Sqlite(_) => "sqlite".into(),
            Sink::Jsonl(_) => "file".into(),
            Sink::Remote(sink) => sink.name(),
            Sink::DryRun(sink) => sink.stands_for().into(),
            Sink::Console(_) => "console".into(),
        }
    }

    /// Exports `batch`; `kept` is called once the run is safe here (before a remote sends).
    async fn export_to(&self, batch: Vec<SpanData>, kept: &(dyn Fn() + Sync)) -> OTelSdkResult {
        match self {
            Sink::Sqlite(sink) => sink.export(batch).await,
            Sink::Jsonl(sink) => sink.export(batch).await,
            Sink::Remote(sink) => sink.export_then_send(batch, kept).await,
            Sink::DryRun(sink) => sink.export(batch).await,
            Sink::Console(sink) => sink.export(batch).await,
        }
    }

    /// What the sink wants shown with `telemetry.debug` after an export.
    fn take_notes(&self) -> Vec<String> {
        match self {
            Sink::Remote(sink) => sink.take_notes(),
            _ => Vec::new(),
        }
    }

    fn shutdown_of(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Sink::Sqlite(sink) => sink.shutdown_with_timeout(timeout),
            Sink::Jsonl(sink) => sink.shutdown_with_timeout(timeout),
            Sink::Remote(sink) => sink.shutdown_with_timeout(timeout),
            Sink::DryRun(sink) => sink.shutdown_with_timeout(timeout),
            Sink::Console(sink) => sink.shutdown_with_timeout(timeout),
        }
    }

    fn set_resource_of(&mut self, resource: &Resource) {
        match self {
            Sink::Sqlite(sink) => sink.set_resource(resource),
            Sink::Jsonl(sink) => sink.set_resource(resource),
            Sink::Remote(sink) => sink.set_resource(resource),
            Sink::DryRun(sink) => sink.set_resource(resource),
            Sink::Console(sink) => sink.set_resource(resource),
        }
    }
}

/// What happened to one export of one sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub sink: String,
    pub spans: usize,
    pub elapsed: Duration,
    /// The error, in one line, if the export failed.
    pub error: Option<String>,
    /// Details for `telemetry.debug` (what the endpoint answered).
    pub notes: Vec<String>,
}

/// Every delivery of a run, shared between the exporter thread and the caller, who can wait
/// for two moments: the run is kept (every local sink has written it and the remote copy is in
/// the outbox), and every sink is done.
#[derive(Debug, Default)]
pub struct DeliveryReport {
    progress: Mutex<Progress>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Progress {
    deliveries: Vec<Delivery>,
    kept: bool,
    done: bool,
}

/// A moment of a run's delivery that the caller can wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    /// Nothing is lost if earlyexit exits now: what the remote has not taken waits in the
    /// outbox.
    Kept,
    /// Every sink has returned.
    Done,
}

impl DeliveryReport {
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.progress
            .lock()
            .map(|p| p.deliveries.clone())
            .unwrap_or_default()
    }

    /// Waits until `milestone` or `timeout`; returns whether the milestone was reached.
    pub fn wait_for(&self, milestone: Milestone, timeout: Duration) -> bool {
        let Ok(progress) = self.progress.lock() else {
            return false;
        };
        let reached = |p: &mut Progress| match milestone {
            Milestone::Kept => p.kept || p.done,
            Milestone::Done => p.done,
        };
        self.changed
            .wait_timeout_while(progress, timeout, |p| !reached(p))
            .is_ok_and(|(mut progress, _)| reached(&mut progress))
    }

    fn update(&self, change: impl FnOnce(&mut Progress)) {
        if let Ok(mut progress) = self.progress.lock() {
            change(&mut progress);
            self.changed.notify_all();
        }
    }

    fn record(&self, delivery: Delivery) {
        self.update(|p| p.deliveries.push(delivery));
    }

    fn mark(&self, milestone: Milestone) {
        self.update(|p| match milestone {
            Milestone::Kept => p.kept = true,
            Milestone::Done => p.done = true,
        });
    }
}

/// Exports every batch to every sink, local sinks first (they come first in `sinks`).
#[derive(Debug)]
pub struct Fanout {
    sinks: Vec<Sink>,
    report: Arc<DeliveryReport>,
}

impl Fanout {
    pub fn new(sinks: Vec<Sink>) -> (Fanout, Arc<DeliveryReport>) {
        let report = Arc::new(DeliveryReport::default());
        (
            Fanout {
                sinks,
                report: Arc::clone(&report),
            },
            report,
        )
    }
}

impl SpanExporter for Fanout {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        crate::fault::inject("export");
        let kept = || self.report.mark(Milestone::Kept);
        for sink in &self.sinks {
            let start = Instant::now();
            let spans = batch.len();
            let result = sink.export_to(batch.clone(), &kept).await;
            self.report.record(Delivery {
                sink: sink.name(),
                spans,
                elapsed: start.elapsed(),
                error: result.err().map(|e| one_line(&e.to_string())),
                notes: sink.take_notes(),
            });
        }
        self.report.mark(Milestone::Done);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        for sink in &mut self.sinks {
            sink.set_resource_of(resource);
        }
    }

    /// The run is over and every export has returned. Like an export, a sink's failure here
    /// does not stop the others.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let results: Vec<OTelSdkResult> = self
            .sinks
            .iter()
            .map(|sink| sink.shutdown_of(timeout))
            .collect();
        results.into_iter().collect()
    }
}

/// Error texts from the SDK and SQLite can span lines; a warning must be one.
fn one_line(text: &str) -> String {
    let text = text.strip_prefix("Operation failed: ").unwrap_or(text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
