//! The runs folded into what the report shows: per UTC day and per command, branch, repository
//! and place, the count of each outcome, run-time histograms, matches and times to the first
//! match; per command and revision, the runs that passed and failed.
//!
//! A report is made of these, never of the runs themselves: `telemetry report` folds the runs
//! it reads, and the team server keeps them folded in its store as runs arrive, so a page over
//! a million runs reads a few thousand groups. Folding is addition, so groups from different
//! days, branches or batches merge in any order to the same figures.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::histogram::{sane_seconds, Histogram};
use super::tallies::Tallies;
use crate::outcome::{ExitReason, Outcome};
use crate::store::{Fold, Folded, ReportRun, StoredGroup, StoredRevision};

/// What a run is to the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunClass {
    /// It ended by itself: the baseline of its command.
    EndedOnItsOwn,
    /// earlyexit stopped it on a match or a pattern: it saved time.
    StoppedEarly,
    /// A timeout stopped it: a hang, with the time it was allowed.
    Hang,
    /// Anything else (and runs recorded before earlyexit kept `stopped_command`).
    Other,
}

impl RunClass {
    pub fn of(exit_reason: Option<ExitReason>, stopped_command: Option<bool>) -> RunClass {
        if exit_reason.is_some_and(ExitReason::is_timeout) {
            RunClass::Hang
        } else if stopped_command == Some(false) {
            RunClass::EndedOnItsOwn
        } else if stopped_command == Some(true)
            && matches!(
                exit_reason,
                Some(ExitReason::Match | ExitReason::ErrorPattern | ExitReason::SuccessPattern)
            )
        {
            RunClass::StoppedEarly
        } else {
            RunClass::Other
        }
    }
}

/// Per command hash, the run times of its runs that ended on their own, over the whole
/// database: what a stopped run is measured against.
pub type Baseline = HashMap<String, Histogram>;

/// What a filter can pick: one command on one branch of one repository, in one place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dims {
    pub command_hash: String,
    pub branch: Option<String>,
    pub repository: Option<String>,
    /// The CI system, or `None` on a workstation.
    pub ci_system: Option<String>,
}

impl Dims {
    /// An empty value is none, as the store keeps it.
    pub fn of(run: &ReportRun) -> Dims {
        let given = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        Dims {
            command_hash: run.command_hash.clone(),
            branch: given(&run.branch),
            repository: given(&run.repository),
            ci_system: given(&run.ci_system),
        }
    }
}

/// The upper ends of the time-to-first-match buckets, in seconds, with their names.
pub const FIRST_MATCH_BUCKETS: [(&str, f64); 6] = [
    ("< 0.1 s", 0.1),
    ("0.1-1 s", 1.0),
    ("1-10 s", 10.0),
    ("10-60 s", 60.0),
    ("1-10 min", 600.0),
    ("> 10 min", f64::INFINITY),
];

/// A command's label where its runs' differ (full detail, anonymized): the greatest, so that
/// any order of folding gives the same.
fn keep_greatest(label: &mut String, other: &str) {
    if other > label.as_str() {
        *label = other.to_string();
    }
}

/// One day of one [`Dims`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The command as the report shows it (the greatest, when its runs differ).
    pub label: String,
    /// Runs per outcome, in [`Outcome::ALL`]'s order.
    pub outcomes: [u64; Outcome::ALL.len()],
    /// Run times of the runs that ended on their own, of those stopped early, and the rest.
    pub complete: Histogram,
    pub stopped: Histogram,
    pub other: Histogram,
    pub hangs: u64,
    pub hang_seconds: f64,
    /// Matches per pattern.
    pub matches: BTreeMap<String, u64>,
    /// Runs per [`FIRST_MATCH_BUCKETS`] bucket.
    pub first_match: [u64; FIRST_MATCH_BUCKETS.len()],
    /// What `/api/v1/stats` counts beside these (figures kept before it are folded again).
    #[serde(default)]
    pub tallies: Tallies,
}

impl Group {
    pub fn runs(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    pub fn failed(&self) -> u64 {
        Outcome::ALL
            .iter()
            .zip(self.outcomes)
            .filter(|(outcome, _)| outcome.is_failed())
            .map(|(_, count)| count)
            .sum()
    }

    /// Every run's time.
    pub fn runtimes(&self) -> Histogram {
        let mut all = self.complete.clone();
        all.merge(&self.stopped);
        all.merge(&self.other);
        all
    }

    pub fn merge(&mut self, other: &Group) {
        keep_greatest(&mut self.label, &other.label);
        for (mine, theirs) in self.outcomes.iter_mut().zip(other.outcomes) {
            *mine += theirs;
        }
        self.complete.merge(&other.complete);
        self.stopped.merge(&other.stopped);
        self.other.merge(&other.other);
        self.hangs += other.hangs;
        self.hang_seconds += other.hang_seconds;
        for (pattern, count) in &other.matches {
            *self.matches.entry(pattern.clone()).or_default() += count;
        }
        for (mine, theirs) in self.first_match.iter_mut().zip(other.first_match) {
            *mine += theirs;
        }
        self.tallies.merge(&other.tallies);
    }

    /// Counts a run's time where its class says: the baseline, the time saved, hangs.
    pub fn add_timed(&mut self, label: &str, class: RunClass, runtime: f64) {
        let runtime = sane_seconds(runtime);
        keep_greatest(&mut self.label, label);
        match class {
            RunClass::EndedOnItsOwn => self.complete.add(runtime),
            RunClass::StoppedEarly => self.stopped.add(runtime),
            RunClass::Hang => {
                self.hangs += 1;
                self.hang_seconds += runtime;
                self.other.add(runtime);
            }
            RunClass::Other => self.other.add(runtime),
        }
    }

    fn add(&mut self, run: &ReportRun) {
        self.tallies.add(run);
        let column = Outcome::ALL.iter().position(|o| *o == run.outcome);
        self.outcomes[column.unwrap_or_default()] += 1;
        let class = RunClass::of(run.exit_reason, run.stopped_command);
        self.add_timed(&run.label, class, run.runtime);
        if run.match_count > 0 {
            let pattern = run.pattern.as_deref().unwrap_or("(none)");
            *self.matches.entry(pattern.to_string()).or_default() += run.match_count as u64;
        }
        if let Some(time) = run.time_to_first_match {
            let bucket = FIRST_MATCH_BUCKETS
                .iter()
                .position(|(_, upper)| time < *upper)
                .unwrap_or(FIRST_MATCH_BUCKETS.len() - 1);
            self.first_match[bucket] += 1;
        }
    }
}

/// One command's runs on one revision, under one [`Dims`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub label: String,
    pub passed: u64,
    pub failed: u64,
    /// The last UTC day it ran.
    pub last_day: String,
}

impl Revision {
    pub fn merge(&mut self, other: &Revision) {
        keep_greatest(&mut self.label, &other.label);
        self.passed += other.passed;
        self.failed += other.failed;
        if other.last_day > self.last_day {
            self.last_day.clone_from(&other.last_day);
        }
    }
}

/// Runs folded by day and [`Dims`], and by revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollup {
    pub groups: HashMap<(String, Dims), Group>,
    pub revisions: HashMap<(Dims, String), Revision>,
}

impl Rollup {
    pub fn of<'a>(runs: impl IntoIterator<Item = &'a ReportRun>) -> Rollup {
        let mut rollup = Rollup::default();
        for run in runs {
            rollup.add(run);
        }
        rollup
    }

    pub fn add(&mut self, run: &ReportRun) {
        let dims = Dims::of(run);
        let day = crate::timestamp::day(&run.timestamp);
        self.groups
            .entry((day.to_string(), dims.clone()))
            .or_default()
            .add(run);
        let Some(revision) = &run.revision else {
            return;
        };
        let tally = self.revisions.entry((dims, revision.clone())).or_default();
        let ran = Revision {
            label: run.label.clone(),
            passed: u64::from(matches!(
                run.outcome,
                Outcome::Success | Outcome::StoppedOnSuccess
            )),
            failed: u64::from(run.outcome.is_failed()),
            last_day: day.to_string(),
        };
        tally.merge(&ran);
    }

    pub fn merge(&mut self, other: Rollup) {
        for (key, group) in other.groups {
            match self.groups.get_mut(&key) {
                Some(mine) => mine.merge(&group),
                None => {
                    self.groups.insert(key, group);
                }
            }
        }
        for (key, revision) in other.revisions {
            self.revisions.entry(key).or_default().merge(&revision);
        }
    }

    /// Each command's runs that ended on their own: the savings baseline these runs give.
    pub fn baseline(&self) -> Baseline {
        let mut baseline = Baseline::new();
        for ((_, dims), group) in &self.groups {
            baseline
                .entry(dims.command_hash.clone())
                .or_default()
                .merge(&group.complete);
        }
        baseline
    }
}

/// Dimensions as the store keys them.
fn dims_text(dims: &Dims) -> String {
    serde_json::to_string(dims).unwrap_or_default()
}

fn read<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} {text:.80}: {e}"))
}

impl Rollup {
    /// The groups a store keeps, read back.
    pub fn from_stored(groups: Vec<StoredGroup>) -> Result<Rollup, String> {
        let mut rollup = Rollup::default();
        for stored in groups {
            let dims: Dims = read(&stored.dims, "group")?;
            let group: Group = read(&stored.figures, "figures of")?;
            rollup.groups.insert((stored.day, dims), group);
        }
        Ok(rollup)
    }
}

/// The revisions a store keeps, read back.
pub fn stored_revisions(
    rows: Vec<StoredRevision>,
) -> impl Iterator<Item = ((Dims, String), Revision)> {
    let given = |value: String| Some(value).filter(|v| !v.is_empty());
    rows.into_iter().map(move |stored| {
        let dims = Dims {
            command_hash: stored.command_hash,
            branch: given(stored.branch),
            repository: given(stored.repository),
            ci_system: given(stored.ci_system),
        };
        let tally = Revision {
            label: stored.label,
            passed: stored.passed.unsigned_abs(),
            failed: stored.failed.unsigned_abs(),
            last_day: stored.last_day,
        };
        ((dims, stored.revision), tally)
    })
}

/// Runs folded for a store (see [`Fold`]): their groups, keyed as the store keys them, and
/// their revisions.
#[derive(Debug, Default)]
pub struct StoreFold {
    groups: HashMap<(String, String), Group>,
    revisions: HashMap<(Dims, String), Revision>,
}

impl Fold for StoreFold {
    fn take(&mut self, runs: &[ReportRun]) -> Vec<(String, String)> {
        let rollup = Rollup::of(runs);
        self.groups = rollup
            .groups
            .into_iter()
            .map(|((day, dims), group)| ((day, dims_text(&dims)), group))
            .collect();
        self.revisions = rollup.revisions;
        self.groups.keys().cloned().collect()
    }

    /// The groups merged with what the store keeps of them, and the revisions to add, whole
    /// and by group.
    fn merge(self: Box<Self>, stored: Vec<StoredGroup>) -> Result<Folded, String> {
        let StoreFold {
            mut groups,
            revisions,
        } = *self;
        for kept in stored {
            if let Some(group) = groups.get_mut(&(kept.day, kept.dims)) {
                group.merge(&read(&kept.figures, "figures")?);
            }
        }
        let groups = groups
            .into_iter()
            .map(|((day, dims), group)| StoredGroup {
                day,
                dims,
                figures: serde_json::to_string(&group).unwrap_or_default(),
            })
            .collect();
        let mut whole: HashMap<(String, String), Revision> = HashMap::new();
        let mut revisions_by_group = Vec::with_capacity(revisions.len());
        for ((dims, revision), tally) in revisions {
            whole
                .entry((dims.command_hash.clone(), revision.clone()))
                .or_default()
                .merge(&tally);
            revisions_by_group.push(stored_revision(dims, revision, tally));
        }
        let revisions = whole
            .into_iter()
            .map(|((command_hash, revision), tally)| {
                let dims = Dims {
                    command_hash,
                    branch: None,
                    repository: None,
                    ci_system: None,
                };
                stored_revision(dims, revision, tally)
            })
            .collect();
        Ok(Folded {
            groups,
            revisions,
            revisions_by_group,
        })
    }
}

/// A revision's tally as the store keeps it: none is empty.
fn stored_revision(dims: Dims, revision: String, tally: Revision) -> StoredRevision {
    StoredRevision {
        command_hash: dims.command_hash,
        revision,
        branch: dims.branch.unwrap_or_default(),
        repository: dims.repository.unwrap_or_default(),
        ci_system: dims.ci_system.unwrap_or_default(),
        label: tally.label,
        passed: tally.passed as i64,
        failed: tally.failed as i64,
        last_day: tally.last_day,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn run(n: u32, outcome: Outcome, runtime: f64) -> ReportRun {
        ReportRun {
            execution_id: format!("run-{n}"),
            command_hash: format!("hash-{}", n % 2),
            label: format!("cmd {}", n % 2),
            timestamp: format!("2026-12-0{}T10:00:00.000Z", 1 + n % 3),
            outcome,
            exit_reason: None,
            stopped_command: Some(false),
            runtime,
            time_to_first_match: Some(runtime / 2.0),
            pattern: Some("error".into()),
            match_count: 1,
            branch: Some("main".into()),
            repository: None,
            revision: Some(format!("rev-{}", n % 4)),
            ci_system: None,
            first_line: None,
            project_type: Some("rust".into()),
            run_url: None,
        }
    }

    #[test]
    fn runs_folded_in_any_split_merge_to_the_same_figures() {
        let runs: Vec<ReportRun> = (0..60)
            .map(|n| {
                let outcome = Outcome::ALL[n as usize % Outcome::ALL.len()];
                run(n, outcome, 0.1 * f64::from(n))
            })
            .collect();
        let whole = Rollup::of(&runs);
        let mut halves = Rollup::of(&runs[40..]);
        halves.merge(Rollup::of(&runs[..40]));
        assert_eq!(halves, whole);
        let runs_counted: u64 = whole.groups.values().map(Group::runs).sum();
        assert_eq!(runs_counted, 60);
        assert_eq!(whole.groups.len(), 6, "3 days × 2 commands");
        assert_eq!(
            whole.revisions.len(),
            4,
            "rev-n % 4 sits on one command each"
        );
        let stored = serde_json::to_string(&whole.groups.values().next()).unwrap();
        let group: Group = serde_json::from_str(&stored).unwrap();
        assert_eq!(Some(&group), whole.groups.values().next());
    }

    #[test]
    fn folds_in_turn_keep_what_one_fold_of_every_run_keeps() {
        let runs: Vec<ReportRun> = (0..60)
            .map(|n| run(n, Outcome::ALL[n as usize % 4], 0.3 * f64::from(n)))
            .collect();
        let fold = |runs: &[ReportRun], kept: &HashMap<(String, String), StoredGroup>| {
            let mut fold = Box::<StoreFold>::default();
            let stored = fold
                .take(runs)
                .into_iter()
                .filter_map(|key| kept.get(&key).cloned())
                .collect();
            fold.merge(stored).unwrap()
        };
        let keyed = |folded: Folded| -> HashMap<(String, String), StoredGroup> {
            let group = |g: StoredGroup| ((g.day.clone(), g.dims.clone()), g);
            folded.groups.into_iter().map(group).collect()
        };
        let mut kept = keyed(fold(&runs[..25], &HashMap::new()));
        let later = keyed(fold(&runs[25..], &kept));
        kept.extend(later);
        let at_once = keyed(fold(&runs, &HashMap::new()));
        let figures = |groups: &HashMap<(String, String), StoredGroup>| {
            let mut figures: Vec<((String, String), Group)> = groups
                .iter()
                .map(|(key, g)| (key.clone(), serde_json::from_str(&g.figures).unwrap()))
                .collect();
            figures.sort_by(|a, b| a.0.cmp(&b.0));
            figures
        };
        assert_eq!(figures(&kept), figures(&at_once));
        assert_eq!(kept.len(), 6);
    }
}
