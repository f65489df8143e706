//! `telemetry stats`'s figures made from folded groups instead of from the runs, for the team
//! server's `/api/v1/stats`: a million runs cost the few thousand groups the report reads. Each
//! group keeps, beside the report's figures, its runs per exit reason, project type and
//! pattern, and its matches (`tallies`); run times come from its histograms, so the
//! percentiles are exact to a bucket's width (5%).

use std::collections::HashMap;

use super::rollup::Rollup;
use super::tallies::Tallies;
use crate::outcome::Outcome;
use crate::store::{Stats, Tally};

/// How many patterns and commands `/api/v1/stats` lists, as `telemetry stats` does.
const TOP: usize = 10;

impl Rollup {
    /// The figures of `telemetry stats` over these groups. `match_events` counts the runs'
    /// matches (the team server keeps a run's match events up to its limit).
    pub fn stats(&self) -> Stats {
        let mut outcomes = [0u64; Outcome::ALL.len()];
        let mut tallies = Tallies::default();
        let mut runtimes = super::histogram::Histogram::default();
        let mut commands: HashMap<&str, (u64, &str)> = HashMap::new();
        for ((_, dims), group) in &self.groups {
            for (total, count) in outcomes.iter_mut().zip(group.outcomes) {
                *total += count;
            }
            tallies.merge(&group.tallies);
            runtimes.merge(&group.runtimes());
            let command = commands.entry(&dims.command_hash).or_default();
            command.0 += group.runs();
            if group.label.as_str() > command.1 {
                command.1 = &group.label;
            }
        }
        let by_outcome = ranked(
            Outcome::ALL
                .iter()
                .zip(outcomes)
                .filter(|(_, count)| *count > 0)
                .map(|(outcome, count)| (outcome.as_str().to_string(), count)),
            usize::MAX,
        );
        let top_commands = ranked(
            commands
                .into_values()
                .map(|(count, label)| (label.to_string(), count)),
            TOP,
        );
        Stats {
            runs: by_outcome.iter().map(|tally| tally.count).sum(),
            match_events: i64::try_from(tallies.matches).unwrap_or(i64::MAX),
            by_outcome,
            by_exit_reason: ranked(tallies.exit_reasons, usize::MAX),
            by_project_type: ranked(tallies.project_types, usize::MAX),
            runtime_p50: runtimes.percentile(0.50),
            runtime_p95: runtimes.percentile(0.95),
            top_patterns: ranked(tallies.patterns, TOP),
            top_commands,
        }
    }
}

/// The first `limit` values by count, most first, then by value: `telemetry stats`'s order.
fn ranked(counts: impl IntoIterator<Item = (String, u64)>, limit: usize) -> Vec<Tally> {
    let mut tallies: Vec<Tally> = counts
        .into_iter()
        .map(|(value, count)| Tally {
            value,
            count: i64::try_from(count).unwrap_or(i64::MAX),
        })
        .collect();
    tallies.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    tallies.truncate(limit);
    tallies
}
