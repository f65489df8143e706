//! `telemetry stats`'s figures made from folded groups instead of from the runs, for the team
//! server's `/api/v1/stats`: a million runs cost the few thousand groups the report reads. Each
//! group keeps, beside the report's figures, its runs per exit reason, project type and
//! pattern, and its matches ([`Tallies`]); run times come from its histograms, so the
//! percentiles are exact to a bucket's width (5%).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::rollup::Rollup;
use crate::outcome::Outcome;
use crate::store::{ReportRun, Stats, Tally};

/// How many patterns and commands `/api/v1/stats` lists, as `telemetry stats` does.
const TOP: usize = 10;

/// Runs counted by what `telemetry stats` groups them by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tallies {
    pub exit_reasons: BTreeMap<String, u64>,
    pub project_types: BTreeMap<String, u64>,
    /// Runs per pattern; a run without one is not counted.
    pub patterns: BTreeMap<String, u64>,
    /// The runs' matches.
    pub matches: u64,
}

impl Tallies {
    pub fn add(&mut self, run: &ReportRun) {
        let reason = run.exit_reason.map(|reason| reason.as_str()).unwrap_or("");
        *self.exit_reasons.entry(reason.to_string()).or_default() += 1;
        let project = run.project_type.clone().unwrap_or_default();
        *self.project_types.entry(project).or_default() += 1;
        if let Some(pattern) = &run.pattern {
            *self.patterns.entry(pattern.clone()).or_default() += 1;
        }
        self.matches += u64::try_from(run.match_count).unwrap_or(0);
    }

    pub fn merge(&mut self, other: &Tallies) {
        for (mine, theirs) in [
            (&mut self.exit_reasons, &other.exit_reasons),
            (&mut self.project_types, &other.project_types),
            (&mut self.patterns, &other.patterns),
        ] {
            for (value, count) in theirs {
                *mine.entry(value.clone()).or_default() += count;
            }
        }
        self.matches += other.matches;
    }
}

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
