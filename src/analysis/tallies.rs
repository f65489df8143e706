//! What a folded group counts for `/api/v1/stats` beside the report's figures (`stats`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::ReportRun;

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
