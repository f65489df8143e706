//! `earlyexit telemetry report`: one self-contained HTML page a person looks at. Every chart is
//! inline SVG that `chart` writes itself, with its numbers in a table beside it (for screen readers
//! and for copying); the page loads nothing from the network and runs no script.
//!
//! Commands appear as the database holds them: their text at full detail, else the executable
//! and the start of the command hash.

mod chart;
mod failures;
mod sections;
pub mod streaks;
mod table;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::time::SystemTime;

use crate::analysis::rollup::{Baseline, Dims, Group, Revision, Rollup};
use crate::outcome::Outcome;
pub use crate::store::ReportRun;
use crate::store::{Store, StoreError};
use chart::{Color, Part};
use serde::Serialize;
pub use table::escape;
use table::{to_millisecond, Table};

/// Rows of the tables that list runs or commands, and bars of their charts.
pub const TOP: usize = 10;

/// What a filter of the branch or the repository names to keep the runs that have none
/// (sent at minimal detail, or from outside a repository).
pub const NONE: &str = "(none)";

/// Where a run ran, as the page's filter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    Ci,
    Local,
}

impl Place {
    /// Its name in a query (`place=ci`).
    pub fn as_str(self) -> &'static str {
        match self {
            Place::Ci => "ci",
            Place::Local => "local",
        }
    }
}

impl std::str::FromStr for Place {
    type Err = String;

    fn from_str(text: &str) -> Result<Place, String> {
        <Place as clap::ValueEnum>::from_str(text, true)
            .map_err(|_| format!("'{text}' is not ci or local"))
    }
}

/// Which runs the page shows: `--branch`, `--repository` and `--command`, and on the team's
/// page also where they ran and (among the latest failures) how they ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// The branch (or tag), exactly; [`NONE`] for runs without one.
    pub branch: Option<String>,
    /// A part of the repository's URL (`team/app`); [`NONE`] for runs without one.
    pub repository: Option<String>,
    /// A part of the command as the report shows it (`cargo test`).
    pub command: Option<String>,
    /// In CI, or on a workstation.
    pub place: Option<Place>,
    /// The failures listed: only those that ended so.
    #[serde(serialize_with = "outcome_name")]
    pub outcome: Option<Outcome>,
}

fn outcome_name<S: serde::Serializer>(outcome: &Option<Outcome>, to: S) -> Result<S::Ok, S::Error> {
    outcome.map(Outcome::as_str).serialize(to)
}

impl Filter {
    /// Whether runs of this command, branch, repository and place (`label` being the command
    /// as shown) are on the page.
    pub fn keeps(&self, dims: &Dims, label: &str) -> bool {
        let part = |wanted: &Option<String>, value: Option<&str>| match wanted.as_deref() {
            None => true,
            Some(NONE) => value.is_none(),
            Some(wanted) => value.is_some_and(|value| value.contains(wanted)),
        };
        let branch = match self.branch.as_deref() {
            None => true,
            Some(NONE) => dims.branch.is_none(),
            Some(branch) => dims.branch.as_deref() == Some(branch),
        };
        let place = match self.place {
            None => true,
            Some(Place::Ci) => dims.ci_system.is_some(),
            Some(Place::Local) => dims.ci_system.is_none(),
        };
        branch
            && place
            && part(&self.repository, dims.repository.as_deref())
            && part(&self.command, Some(label))
    }

    pub fn keeps_run(&self, run: &ReportRun) -> bool {
        self.keeps(&Dims::of(run), &run.label)
            && self.outcome.is_none_or(|outcome| run.outcome == outcome)
    }

    /// Leaves in `rollup`'s groups what the filter keeps (its revisions reach the page
    /// through [`revisions_on_page`], which filters them).
    pub fn apply(&self, rollup: &mut Rollup) {
        if *self != Filter::default() {
            rollup
                .groups
                .retain(|(_, dims), group| self.keeps(dims, &group.label));
        }
    }

    /// What the filter says, for the page's heading; empty without one.
    pub fn describe(&self) -> String {
        let place = self.place.map(|place| match place {
            Place::Ci => "CI".to_string(),
            Place::Local => "local".to_string(),
        });
        let outcome = self.outcome.map(|outcome| outcome.label().to_string());
        [
            ("branch", &self.branch),
            ("repository", &self.repository),
            ("command", &self.command),
            ("runs", &place),
            ("failures", &outcome),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name} {v}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// One command's groups of the period, merged.
pub struct Command<'a> {
    pub hash: &'a str,
    pub group: Group,
}

/// Per command, most runs first (then by label, then by hash).
pub fn by_command(rollup: &Rollup) -> Vec<Command<'_>> {
    let mut commands: HashMap<&str, Group> = HashMap::new();
    for ((_, dims), group) in &rollup.groups {
        commands.entry(&dims.command_hash).or_default().merge(group);
    }
    let mut commands: Vec<Command<'_>> = commands
        .into_iter()
        .map(|(hash, group)| Command { hash, group })
        .collect();
    commands.sort_by(|a, b| {
        (b.group.runs(), &a.group.label, a.hash).cmp(&(a.group.runs(), &b.group.label, b.hash))
    });
    commands
}

/// The hashes of the commands that fail most in `period` (whose streaks the page shows).
pub fn failing_hashes(period: &Rollup) -> Vec<&str> {
    failures::most_failing(&by_command(period))
        .into_iter()
        .map(|command| command.hash)
        .collect()
}

/// Each outcome's colour: red for what failed, green for what succeeded.
fn outcome_color(outcome: Outcome) -> Color {
    match outcome {
        Outcome::Success => Color(46, 125, 50),
        Outcome::StoppedOnSuccess => Color(129, 199, 132),
        Outcome::Failure => Color(198, 40, 40),
        Outcome::Timeout => Color(239, 108, 0),
        Outcome::Cancelled => Color(120, 144, 156),
        Outcome::Lost => Color(121, 85, 72),
        Outcome::Error => Color(106, 27, 154),
    }
}

/// What the page is made of. A revision is on the page when one of its runs started on one of
/// the period's days; all its runs count, whenever they ran (flakiness belongs to the
/// revision, not to the period).
#[derive(Debug, Default)]
pub struct Figures {
    /// The period's runs that the filter keeps.
    pub period: Rollup,
    /// Those of the period before it, of the same length (for the trend).
    pub previous: Rollup,
    /// Every command's runs that ended on their own, unfiltered: what the time saved is
    /// measured against.
    pub baseline: Baseline,
    /// Each command's revisions on the page, their kept runs added up.
    pub revisions: Revisions,
    /// The period's latest failed runs that the filter keeps, newest first.
    pub latest_failures: Vec<ReportRun>,
    /// Where each of the commands that fail most stands, by command hash.
    pub streaks: HashMap<String, streaks::Streak>,
}

impl Figures {
    /// From every run, read one by one, in any order; each is folded once, into the period,
    /// the period before it, or the runs older still (which feed the baseline and the
    /// revisions).
    pub fn of_runs(runs: &[ReportRun], start: SystemTime, filter: &Filter) -> Figures {
        let period_start = crate::timestamp::millis(start);
        let previous_start = crate::timestamp::millis(previous_start(start));
        let (mut period, mut previous, mut older) = Default::default();
        for run in runs {
            let rollup: &mut Rollup = if run.timestamp >= period_start {
                &mut period
            } else if run.timestamp >= previous_start {
                &mut previous
            } else {
                &mut older
            };
            rollup.add(run);
        }
        let mut baseline = older.baseline();
        for rollup in [&period, &previous] {
            for (hash, complete) in rollup.baseline() {
                baseline.entry(hash).or_default().merge(&complete);
            }
        }
        let revisions = revisions_on_page(
            [&mut period, &mut previous, &mut older]
                .into_iter()
                .flat_map(|rollup| std::mem::take(&mut rollup.revisions)),
            filter,
            crate::timestamp::day(&period_start),
        );
        filter.apply(&mut period);
        filter.apply(&mut previous);
        let streaks = streaks::of_runs(runs, filter, &failing_hashes(&period));
        Figures {
            period,
            previous,
            baseline,
            revisions,
            latest_failures: latest_failures(
                runs.iter().filter(|run| run.timestamp >= period_start),
                filter,
            ),
            streaks,
        }
    }

    /// Runs in the period.
    pub fn runs(&self) -> u64 {
        self.period.groups.values().map(|group| group.runs()).sum()
    }
}

/// Per command hash and revision, the runs kept.
pub type Revisions = HashMap<(String, String), Revision>;

/// The revisions on a page of the days since `since_day`: of the runs the filter keeps, added
/// up per command and revision, those run on one of those days.
pub fn revisions_on_page(
    rows: impl IntoIterator<Item = ((Dims, String), Revision)>,
    filter: &Filter,
    since_day: &str,
) -> Revisions {
    let mut revisions = Revisions::new();
    for ((dims, revision), tally) in rows {
        if filter.keeps(&dims, &tally.label) {
            match revisions.entry((dims.command_hash, revision)) {
                Entry::Occupied(mut kept) => kept.get_mut().merge(&tally),
                Entry::Vacant(new) => {
                    new.insert(tally);
                }
            }
        }
    }
    revisions.retain(|_, tally| tally.last_day.as_str() >= since_day);
    revisions
}

/// The newest failed runs among these that the filter keeps, newest first.
pub fn latest_failures<'a>(
    runs: impl IntoIterator<Item = &'a ReportRun>,
    filter: &Filter,
) -> Vec<ReportRun> {
    let mut failed: Vec<&ReportRun> = runs
        .into_iter()
        .filter(|run| run.outcome.is_failed() && filter.keeps_run(run))
        .collect();
    failed.sort_unstable_by(|a, b| {
        (&b.timestamp, &b.execution_id).cmp(&(&a.timestamp, &a.execution_id))
    });
    failed.into_iter().take(TOP).cloned().collect()
}

/// Where the period before the one that starts at `start` begins: the report compares the
/// two, so it reads the runs from there.
pub fn previous_start(start: SystemTime) -> SystemTime {
    let length = SystemTime::now().duration_since(start).unwrap_or_default();
    crate::timestamp::before(start, length)
}

/// The report of the runs in `store` since `start` (and, for the trend, the period of the
/// same length before it) that `filter` keeps; `since` is how the period was asked for, and
/// `database` names the store on the page.
pub fn from_store(
    store: &Store,
    start: SystemTime,
    since: &str,
    filter: &Filter,
    database: &str,
) -> Result<Page, StoreError> {
    let runs = store.report_runs(None, None)?;
    let figures = Figures::of_runs(&runs, start, filter);
    Ok(page(&figures, start, since, filter, database))
}

/// The report of these figures.
pub fn page(
    figures: &Figures,
    start: SystemTime,
    since: &str,
    filter: &Filter,
    database: &str,
) -> Page {
    let described = filter.describe();
    let period = format!(
        "since {} (--since {since}){}",
        crate::timestamp::seconds(start),
        if described.is_empty() {
            String::new()
        } else {
            format!(", {described}")
        }
    );
    Page {
        runs: figures.runs(),
        period,
        start,
        filter: filter.clone(),
        database: database.to_string(),
        contents: sections::all(figures),
    }
}

/// A report, made once: a page for a person, or the same figures as JSON for a machine.
pub struct Page {
    /// Runs in the period.
    pub runs: u64,
    /// The period and filter, in words.
    pub period: String,
    start: SystemTime,
    filter: Filter,
    database: String,
    contents: sections::Contents,
}

/// The report as JSON: its tables as the page shows them, each cell a value (a number where
/// the page shows a figure, null where it shows none).
#[derive(Serialize)]
struct Data<'a> {
    period: &'a str,
    since: String,
    filter: &'a Filter,
    runs: u64,
    time_saved: SavedInAll,
    sections: Vec<&'a Table>,
}

/// The time saved in all, as the page's sentence above the table by command gives it.
#[derive(Serialize)]
struct SavedInAll {
    saved_seconds: f64,
    estimated_runs: u64,
    unknown_runs: u64,
    hangs_stopped: u64,
    hang_seconds: f64,
}

impl Page {
    /// The whole page: the time saved and the trend first, then each chart beside its table.
    pub fn html(&self) -> String {
        let body: String = self.contents.parts.iter().map(Part::render).collect();
        let generated = crate::timestamp::seconds(SystemTime::now());
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>earlyexit report: {period}</title>\n<style>{STYLE}</style></head>\n<body><h1>earlyexit report</h1>\n<p class=\"scope\">Database <code>{database}</code>, runs {period}: {count} run(s). Generated {generated}.</p>\n{body}</body></html>\n",
            period = escape(&self.period),
            database = escape(&self.database),
            count = self.runs,
        )
    }

    /// The page's figures as one JSON object: `telemetry report --json` and the team server's
    /// `/api/v1/report`.
    pub fn json(&self) -> serde_json::Value {
        let saved = &self.contents.saved;
        serde_json::json!(Data {
            period: &self.period,
            since: crate::timestamp::seconds(self.start),
            filter: &self.filter,
            runs: self.runs,
            time_saved: SavedInAll {
                saved_seconds: to_millisecond(saved.saved_seconds),
                estimated_runs: saved.estimated_runs,
                unknown_runs: saved.unknown_runs,
                hangs_stopped: saved.hangs_stopped,
                hang_seconds: to_millisecond(saved.hang_seconds),
            },
            sections: self.contents.parts.iter().map(Part::table).collect(),
        })
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
section{margin:2em 0}.pair{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\
figure{margin:0}table{border-collapse:collapse;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}\
td:not(:first-child){text-align:right}td.text{text-align:left;font-family:monospace;white-space:pre-wrap}\
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:0.4em 1.2em;padding:0;margin:0.3em 0 0 4em;font-size:0.85em}\
.swatch{display:inline-block;width:0.9em;height:0.9em;margin-right:0.35em;vertical-align:-0.1em}";
