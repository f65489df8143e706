//! What stopping early saved, estimated honestly.
//!
//! For a run that earlyexit stopped on a match or an error pattern, the estimate is the median
//! duration of the same command's runs (same `command_hash`) that ended on their own, minus
//! this run's duration, and never below zero. A command with fewer than
//! [`MIN_COMPLETE_RUNS`] such runs has no estimate: it is reported as unknown, never guessed.
//! Runs stopped by a timeout are counted as hangs stopped, with the time they were allowed;
//! no saving is invented for them (nobody knows when a hang would have ended).
//!
//! The baseline comes from every run in the database, the stopped runs from the period asked
//! for. Runs recorded before earlyexit kept `stopped_command` count as neither.

use std::collections::HashMap;

use serde::Serialize;

use super::histogram::Histogram;
use super::rollup::{Baseline, Group, RunClass};
pub use crate::store::RunTiming;

/// The fewest runs that ended on their own for a command to have an estimate.
pub const MIN_COMPLETE_RUNS: u64 = 3;

/// The median a command's stopped runs are measured against, when it has enough runs.
pub fn baseline_of(baseline: &Baseline, command_hash: &str) -> Option<f64> {
    let complete = baseline.get(command_hash)?;
    if complete.count() < MIN_COMPLETE_RUNS {
        return None;
    }
    complete.median()
}

/// The savings of one command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandSavings {
    pub command: String,
    pub command_hash: String,
    /// Seconds saved by the period's runs stopped early; `None` when unknown.
    pub saved_seconds: Option<f64>,
    pub stopped_runs: u64,
    /// Runs of this command that ended on their own, in the whole database.
    pub complete_runs: u64,
    pub complete_median_seconds: Option<f64>,
    pub hangs_stopped: u64,
    /// The time the period's hangs were allowed to run.
    pub hang_seconds: f64,
}

/// The period's savings, in all and by command (most saved first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Savings {
    pub saved_seconds: f64,
    /// Runs stopped early whose saving is estimated, and those whose command has too few
    /// complete runs.
    pub estimated_runs: u64,
    pub unknown_runs: u64,
    pub hangs_stopped: u64,
    pub hang_seconds: f64,
    pub by_command: Vec<CommandSavings>,
}

/// Estimates the savings of the period's runs, folded per command hash, against `baseline`.
pub fn estimate(baseline: &Baseline, period: &HashMap<String, Group>) -> Savings {
    let mut by_command: Vec<CommandSavings> = period
        .iter()
        .filter(|(_, runs)| runs.stopped.count() > 0 || runs.hangs > 0)
        .map(|(hash, runs)| {
            let median = baseline_of(baseline, hash);
            let stopped_runs = runs.stopped.count();
            CommandSavings {
                command: runs.label.clone(),
                command_hash: hash.clone(),
                saved_seconds: median
                    .filter(|_| stopped_runs > 0)
                    .map(|median| runs.stopped.shortfall_below(median)),
                stopped_runs,
                complete_runs: baseline.get(hash).map_or(0, Histogram::count),
                complete_median_seconds: baseline.get(hash).and_then(Histogram::median),
                hangs_stopped: runs.hangs,
                hang_seconds: runs.hang_seconds,
            }
        })
        .collect();
    by_command.sort_by(|a, b| {
        b.saved_seconds
            .unwrap_or(-1.0)
            .total_cmp(&a.saved_seconds.unwrap_or(-1.0))
            .then_with(|| a.command.cmp(&b.command))
            .then_with(|| a.command_hash.cmp(&b.command_hash))
    });
    let estimated = |c: &&CommandSavings| c.saved_seconds.is_some();
    Savings {
        // Folded from +0.0: an empty f64 sum is -0.0, shown as "-0.000".
        saved_seconds: by_command
            .iter()
            .filter_map(|c| c.saved_seconds)
            .fold(0.0, |total, s| total + s),
        estimated_runs: by_command
            .iter()
            .filter(estimated)
            .map(|c| c.stopped_runs)
            .sum(),
        unknown_runs: by_command
            .iter()
            .filter(|c| c.saved_seconds.is_none())
            .map(|c| c.stopped_runs)
            .sum(),
        hangs_stopped: by_command.iter().map(|c| c.hangs_stopped).sum(),
        hang_seconds: by_command
            .iter()
            .fold(0.0, |total, c| total + c.hang_seconds),
        by_command,
    }
}

/// Each command's runs that ended on their own, among these.
pub fn baseline(runs: &[RunTiming]) -> Baseline {
    let mut baseline = Baseline::new();
    for run in runs {
        if RunClass::of(run.exit_reason, run.stopped_command) == RunClass::EndedOnItsOwn {
            let complete = baseline.entry(run.command_hash.clone()).or_default();
            complete.add(run.runtime);
        }
    }
    baseline
}

/// The estimate over runs read one by one (`telemetry stats`).
pub fn from_timings(runs: &[RunTiming]) -> Savings {
    let mut period: HashMap<String, Group> = HashMap::new();
    for run in runs.iter().filter(|run| run.in_period) {
        let class = RunClass::of(run.exit_reason, run.stopped_command);
        let group = period.entry(run.command_hash.clone()).or_default();
        group.add_timed(&run.label, class, run.runtime);
    }
    estimate(&baseline(runs), &period)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(hash: &str, reason: &str, stopped: Option<bool>, runtime: f64) -> RunTiming {
        RunTiming {
            command_hash: hash.into(),
            label: format!("cmd {hash}"),
            exit_reason: reason.parse().ok(),
            stopped_command: stopped,
            runtime,
            in_period: true,
        }
    }

    #[test]
    fn the_median_of_complete_runs_less_the_stopped_run_never_below_zero() {
        let runs = [
            run("a", "no_match", Some(false), 2.0),
            run("a", "no_match", Some(false), 3.0),
            run("a", "match", Some(false), 2.5),
            run("a", "match", Some(true), 0.5),
            run("a", "error_pattern", Some(true), 4.0),
        ];
        let savings = from_timings(&runs);
        assert_eq!(
            savings.saved_seconds, 2.0,
            "2.5 - 0.5, and 0 for the slower one"
        );
        assert_eq!((savings.estimated_runs, savings.unknown_runs), (2, 0));
        assert_eq!(savings.by_command[0].complete_median_seconds, Some(2.5));
    }

    #[test]
    fn too_few_complete_runs_is_unknown_and_hangs_count_apart() {
        let runs = [
            run("b", "no_match", Some(false), 2.0),
            run("b", "no_match", Some(false), 2.0),
            run("b", "match", Some(true), 0.3),
            run("c", "timeout", Some(true), 1.5),
            run("d", "match", None, 0.1),
        ];
        let savings = from_timings(&runs);
        assert_eq!(savings.saved_seconds, 0.0);
        assert_eq!((savings.estimated_runs, savings.unknown_runs), (0, 1));
        assert_eq!((savings.hangs_stopped, savings.hang_seconds), (1, 1.5));
        let b = savings
            .by_command
            .iter()
            .find(|c| c.command_hash == "b")
            .unwrap();
        assert_eq!(b.saved_seconds, None);
        assert!(savings.by_command.iter().all(|c| c.command_hash != "d"));
    }

    #[test]
    fn runs_outside_the_period_only_feed_the_baseline() {
        let mut old = run("e", "match", Some(true), 0.2);
        old.in_period = false;
        let runs = [
            run("e", "no_match", Some(false), 1.0),
            run("e", "no_match", Some(false), 1.0),
            run("e", "no_match", Some(false), 1.0),
            old,
            run("e", "match", Some(true), 0.4),
        ];
        let savings = from_timings(&runs);
        assert!((savings.saved_seconds - 0.6).abs() < 1e-9);
        assert_eq!(savings.by_command[0].stopped_runs, 1);
    }
}
