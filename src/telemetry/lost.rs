//! Runs whose earlyexit was killed (SIGKILL, the OOM killer, a runner that vanished), closed
//! as `lost` by the next run, `telemetry sync` or `telemetry status` on the machine: each from
//! its running row, with the duration and matches of its last heartbeat and the ids it was
//! given at its start, through the same sinks as any run. So the local database counts it, and
//! a remote receives one span for it, tied to the live records it had already received.

use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::config::TelemetrySettings;
use crate::export::{self as sinks, Fanout};
use crate::recording::live;
use crate::recording::stored_span::StoredSpan;
use crate::store::{self, RunningLock, Store};

/// What closing found and did.
#[derive(Debug, Default)]
pub struct Closed {
    /// Runs closed as lost.
    pub closed: usize,
    /// What went wrong, one line each; such runs stay to be closed later.
    pub failures: Vec<String>,
}

/// Closes up to `limit` runs of this machine's database whose earlyexit is gone.
pub fn close_abandoned(settings: &TelemetrySettings, resource: &Resource, limit: usize) -> Closed {
    let database = &settings.sqlite.path;
    let found = store::abandoned(database, limit);
    let mut result = Closed::default();
    if found.is_empty() {
        return result;
    }
    let mut store = match Store::open(database, settings.sqlite.wal_mode) {
        Ok(store) => store,
        Err(error) => {
            result.failures.push(error.to_string());
            return result;
        }
    };
    let mut spans: Vec<SpanData> = Vec::new();
    let mut closing: Vec<(String, RunningLock)> = Vec::new();
    for (execution_id, lock) in found {
        match store.running(&execution_id) {
            // Its record was kept; only the lock file was left.
            Ok(None) => lock.release(),
            Ok(Some(row)) => {
                match StoredSpan::from_json(&row.span).and_then(StoredSpan::into_span_data) {
                    Ok(span) => {
                        spans.push(live::lost(span, row.last_seen, row.match_count));
                        closing.push((execution_id, lock));
                    }
                    Err(error) => {
                        // Nothing can be made of it: it is said once and forgotten.
                        result.failures.push(format!("run {execution_id}: {error}"));
                        let _ = store.forget_running(&execution_id);
                        lock.release();
                    }
                }
            }
            Err(error) => result.failures.push(error.to_string()),
        }
    }
    if spans.is_empty() {
        return result;
    }
    let (mut fanout, report) = Fanout::new(sinks::for_run(settings));
    fanout.set_resource(resource);
    let _ = futures_executor::block_on(fanout.export(spans));
    let _ = fanout.shutdown_with_timeout(sinks::shutdown_deadline(settings));
    result.failures.extend(
        report
            .deliveries()
            .into_iter()
            .filter_map(|delivery| Some(format!("{}: {}", delivery.sink, delivery.error?))),
    );
    for (execution_id, lock) in closing {
        // A sink that kept the run deleted its row; a row still there was kept nowhere, and
        // its lock file stays for the next try.
        if let Ok(None) = store.running(&execution_id) {
            lock.release();
            result.closed += 1;
        }
    }
    result
}
