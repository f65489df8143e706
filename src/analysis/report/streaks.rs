//! Where each failing command stands: since when it fails (the first failed run after its last
//! success, with that run's revision) and when it last passed. From the runs in memory for
//! `telemetry report`; the team store answers the same questions with two indexed reads per
//! command (`store::Streak`).

use std::collections::HashMap;

use super::{Filter, ReportRun};
pub use crate::store::Streak;

/// The streaks of the commands `hashes`, over every run the filter keeps.
pub fn of_runs(runs: &[ReportRun], filter: &Filter, hashes: &[&str]) -> HashMap<String, Streak> {
    let mut kept: HashMap<&str, Vec<&ReportRun>> = HashMap::new();
    for run in runs {
        if hashes.contains(&run.command_hash.as_str())
            && filter.keeps(&crate::analysis::rollup::Dims::of(run), &run.label)
        {
            kept.entry(&run.command_hash).or_default().push(run);
        }
    }
    kept.into_iter()
        .map(|(hash, mut runs)| {
            runs.sort_unstable_by(|a, b| {
                (&a.timestamp, &a.execution_id).cmp(&(&b.timestamp, &b.execution_id))
            });
            let last_success = runs
                .iter()
                .rev()
                .find(|run| !run.outcome.is_error())
                .map(|run| run.timestamp.clone());
            let after = last_success.clone().unwrap_or_default();
            let failing_since = runs
                .iter()
                .find(|run| run.timestamp > after && run.outcome.is_failed())
                .map(|run| (run.timestamp.clone(), run.revision.clone()));
            (
                hash.to_string(),
                Streak {
                    last_success,
                    failing_since,
                },
            )
        })
        .collect()
}
