//! The second line behind "no input reaches a panic": telemetry runs contained, so that a
//! panic inside it (a bug, or a library's `expect` we did not foresee) costs the run its
//! record and one line on stderr, and never the command's output or exit code.
//!
//! The release build unwinds (`panic = "unwind"`) so that a panic can be caught here on the
//! main thread; on the exporter's own thread it ends only that thread, and `finish` then
//! reports the run as not recorded.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::Telemetry;
use crate::config::Settings;
use crate::observer::{MatchEvent, RunObserver, RunStart};
use crate::outcome::RunEnd;

/// A run's telemetry, or nothing once it is off or has failed.
pub struct ContainedTelemetry(Option<Telemetry>);

/// Runs `work`; a panic becomes `None` (the panic hook has said it in one line).
fn contain<T>(work: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(work)).ok()
}

impl ContainedTelemetry {
    /// See [`Telemetry::start`].
    pub fn start(
        settings: &Settings,
        execution_id: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> ContainedTelemetry {
        ContainedTelemetry(contain(|| Telemetry::start(settings, execution_id, env)).flatten())
    }

    pub fn trace_id(&self) -> Option<String> {
        self.0.as_ref().map(|t| t.trace_id().to_string())
    }

    /// Runs `call` on the telemetry, which is dropped if it panics.
    fn with(&mut self, call: impl FnOnce(&mut Telemetry)) {
        if let Some(telemetry) = &mut self.0 {
            if contain(|| call(telemetry)).is_none() {
                self.0 = None;
            }
        }
    }

    /// See [`Telemetry::record_failure`].
    pub fn record_failure(&mut self, message: &str) {
        self.with(|t| t.record_failure(message));
    }

    /// See [`Telemetry::finish`]; a panic there is one line, like any failed delivery.
    pub fn finish(self) -> Vec<String> {
        match self.0 {
            Some(telemetry) => contain(|| telemetry.finish())
                .unwrap_or_else(|| vec!["telemetry not recorded: internal error".to_string()]),
            None => Vec::new(),
        }
    }
}

impl RunObserver for ContainedTelemetry {
    fn child_environment(&mut self) -> Vec<(String, String)> {
        let mut environment = Vec::new();
        self.with(|t| environment = t.child_environment());
        environment
    }

    fn on_start(&mut self, start: &RunStart<'_>) {
        self.with(|t| t.on_start(start));
    }

    fn on_match(&mut self, event: &MatchEvent<'_>) {
        self.with(|t| t.on_match(event));
    }

    fn on_block(&mut self, match_number: u64, block: &crate::profile::Block) {
        self.with(|t| t.on_block(match_number, block));
    }

    fn next_tick(&self) -> Option<std::time::Instant> {
        self.0.as_ref().and_then(Telemetry::next_tick)
    }

    fn on_tick(&mut self) {
        self.with(Telemetry::on_tick);
    }

    fn on_end(&mut self, outcome: &RunEnd) {
        self.with(|t| t.on_end(outcome));
    }
}
