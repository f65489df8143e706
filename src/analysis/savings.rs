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

use crate::outcome::ExitReason;
pub use crate::store::RunTiming;

/// The fewest runs that ended on their own for a command to have an estimate.
pub const MIN_COMPLETE_RUNS: usize = 3;

/// What the estimate asks of a run (the type is the store's, which reads it).
impl RunTiming {
    fn is_hang(&self) -> bool {
        self.exit_reason.is_some_and(ExitReason::is_timeout)
    }

    fn stopped_early(&self) -> bool {
        self.stopped_command == Some(true)
            && matches!(
                self.exit_reason,
                Some(ExitReason::Match | ExitReason::ErrorPattern | ExitReason::SuccessPattern)
            )
    }

    fn ended_on_its_own(&self) -> bool {
        self.stopped_command == Some(false) && !self.is_hang()
    }
}

/// The savings of one command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandSavings {
    pub command: String,
    pub command_hash: String,
    /// Seconds saved by the period's runs stopped early; `None` when unknown.
    pub saved_seconds: Option<f64>,
    pub stopped_runs: usize,
    /// Runs of this command that ended on their own, in the whole database.
    pub complete_runs: usize,
    pub complete_median_seconds: Option<f64>,
    pub hangs_stopped: usize,
    /// The time the period's hangs were allowed to run.
    pub hang_seconds: f64,
}

/// The period's savings, in all and by command (most saved first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Savings {
    pub saved_seconds: f64,
    /// Runs stopped early whose saving is estimated, and those whose command has too few
    /// complete runs.
    pub estimated_runs: usize,
    pub unknown_runs: usize,
    pub hangs_stopped: usize,
    pub hang_seconds: f64,
    pub by_command: Vec<CommandSavings>,
}

/// The median of a non-empty list.
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    })
}

/// The saving of each of the period's runs stopped early whose command has an estimate, with
/// the run's start time: what the report adds up by week. `saved` is [`estimate`] of `runs`.
pub fn per_run<'a>(runs: &'a [RunTiming], saved: &Savings) -> Vec<(&'a str, f64)> {
    let baselines: HashMap<&str, f64> = saved
        .by_command
        .iter()
        .filter(|command| command.saved_seconds.is_some())
        .filter_map(|command| {
            Some((
                command.command_hash.as_str(),
                command.complete_median_seconds?,
            ))
        })
        .collect();
    runs.iter()
        .filter(|run| run.in_period && run.stopped_early())
        .filter_map(|run| {
            let median = baselines.get(run.command_hash.as_str())?;
            Some((run.timestamp.as_str(), (median - run.runtime).max(0.0)))
        })
        .collect()
}

impl CommandSavings {
    /// The savings of one command's runs (every run in the database: the baseline).
    fn of(hash: &str, runs: &[&RunTiming]) -> CommandSavings {
        let complete: Vec<f64> = runs
            .iter()
            .filter(|run| run.ended_on_its_own())
            .map(|run| run.runtime)
            .collect();
        let complete_runs = complete.len();
        let complete_median = median(complete);
        let period: Vec<&&RunTiming> = runs.iter().filter(|run| run.in_period).collect();
        let stopped: Vec<f64> = period
            .iter()
            .filter(|run| run.stopped_early())
            .map(|run| run.runtime)
            .collect();
        let hangs: Vec<f64> = period
            .iter()
            .filter(|run| run.is_hang())
            .map(|run| run.runtime)
            .collect();
        let saved_seconds = complete_median
            .filter(|_| complete_runs >= MIN_COMPLETE_RUNS && !stopped.is_empty())
            .map(|baseline| {
                stopped
                    .iter()
                    .map(|runtime| (baseline - runtime).max(0.0))
                    .fold(0.0, |total, saved| total + saved)
            });
        CommandSavings {
            command: runs
                .iter()
                .map(|run| run.label.as_str())
                .max()
                .unwrap_or_default()
                .to_string(),
            command_hash: hash.to_string(),
            saved_seconds,
            stopped_runs: stopped.len(),
            complete_runs,
            complete_median_seconds: complete_median,
            hangs_stopped: hangs.len(),
            hang_seconds: hangs.iter().fold(0.0, |total, t| total + t),
        }
    }
}

/// Estimates the savings of these runs.
pub fn estimate(runs: &[RunTiming]) -> Savings {
    let mut commands: HashMap<&str, Vec<&RunTiming>> = HashMap::new();
    for run in runs {
        commands.entry(&run.command_hash).or_default().push(run);
    }
    let mut by_command: Vec<CommandSavings> = commands
        .into_iter()
        .map(|(hash, runs)| CommandSavings::of(hash, &runs))
        .filter(|command| command.stopped_runs > 0 || command.hangs_stopped > 0)
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
            timestamp: "2026-12-02T10:00:00.000Z".into(),
            execution_id: String::new(),
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
        let savings = estimate(&runs);
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
        let savings = estimate(&runs);
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
        let savings = estimate(&runs);
        assert!((savings.saved_seconds - 0.6).abs() < 1e-9);
        assert_eq!(savings.by_command[0].stopped_runs, 1);
    }
}
