//! `earlyexit telemetry report`: one self-contained HTML page a person looks at. Every chart is
//! inline SVG drawn by plotters, with its numbers in a table beside it (for screen readers
//! and for copying); the page loads nothing from the network and runs no script.
//!
//! Commands appear as the database holds them: their text at full detail, else the executable
//! and the start of the command hash.

mod chart;
mod failures;
mod sections;

use std::collections::HashSet;
use std::time::SystemTime;

pub use crate::numbers::percentile;
use crate::outcome::Outcome;
pub use crate::store::{ReportRun, RunTiming};
use crate::store::{Store, StoreError};
use chart::{escape, Color};

/// Rows of the tables that list runs or commands, and bars of their charts.
const TOP: usize = 10;

/// Which runs the page shows: `--branch`, `--repository` and `--command`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The branch (or tag), exactly.
    pub branch: Option<String>,
    /// A part of the repository's URL (`team/app`).
    pub repository: Option<String>,
    /// A part of the command as the report shows it (`cargo test`).
    pub command: Option<String>,
}

impl Filter {
    pub fn keeps(&self, run: &ReportRun) -> bool {
        let part = |wanted: &Option<String>, value: Option<&str>| {
            wanted
                .as_deref()
                .is_none_or(|wanted| value.is_some_and(|value| value.contains(wanted)))
        };
        self.branch
            .as_deref()
            .is_none_or(|branch| run.branch.as_deref() == Some(branch))
            && part(&self.repository, run.repository.as_deref())
            && part(&self.command, Some(&run.label))
    }

    /// What the filter says, for the page's heading; empty without one.
    pub fn describe(&self) -> String {
        [
            ("branch", &self.branch),
            ("repository", &self.repository),
            ("command", &self.command),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name} {v}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
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

/// What the page covers.
pub struct Scope<'a> {
    pub database: &'a str,
    pub period: &'a str,
}

/// The runs the page is made of: the period's (filtered), the period before it of the same
/// length (for the trend), and every run's timing (for the time saved).
pub struct Runs<'a> {
    pub period: &'a [ReportRun],
    pub previous: &'a [ReportRun],
    pub timings: &'a [RunTiming],
}

/// Where the period before the one that starts at `start` begins: the report compares the
/// two, so it reads the runs from there.
pub fn previous_start(start: SystemTime) -> SystemTime {
    let length = SystemTime::now().duration_since(start).unwrap_or_default();
    crate::timestamp::before(start, length)
}

/// The page of the runs in `store` since `start` (and, for the trend, the period of the same
/// length before it) that `filter` keeps; `since` is how the period was asked for, and
/// `database` names the store on the page.
pub fn from_store(
    store: &Store,
    start: SystemTime,
    since: &str,
    filter: &Filter,
    database: &str,
) -> Result<Page, StoreError> {
    let runs = store.report_runs(Some(previous_start(start)))?;
    let timings = store.run_timings(Some(start))?;
    Ok(from_runs(runs, timings, start, since, filter, database))
}

/// The same page from runs read elsewhere: `runs` since [`previous_start`] in any order, `timings` of
/// every run with those since `start` marked.
pub fn from_runs(
    mut runs: Vec<ReportRun>,
    mut timings: Vec<RunTiming>,
    start: SystemTime,
    since: &str,
    filter: &Filter,
    database: &str,
) -> Page {
    let period_start = crate::timestamp::millis(start);
    // Oldest first (the store hands them out in no order); RFC 3339 in UTC sorts as text.
    runs.sort_unstable_by(|a, b| {
        (&a.timestamp, &a.execution_id).cmp(&(&b.timestamp, &b.execution_id))
    });
    let (period, previous): (Vec<ReportRun>, Vec<ReportRun>) = runs
        .into_iter()
        .filter(|run| filter.keeps(run))
        .partition(|run| run.timestamp >= period_start);
    if *filter != Filter::default() {
        // The time saved covers the shown runs; their commands' other runs stay the baseline.
        let commands: HashSet<&str> = period.iter().map(|r| r.command_hash.as_str()).collect();
        let shown: HashSet<&str> = period.iter().map(|r| r.execution_id.as_str()).collect();
        timings.retain(|t| commands.contains(t.command_hash.as_str()));
        for timing in &mut timings {
            timing.in_period &= shown.contains(timing.execution_id.as_str());
        }
    }
    let described = filter.describe();
    let period_text = format!(
        "since {} (--since {since}){}",
        crate::timestamp::seconds(start),
        if described.is_empty() {
            String::new()
        } else {
            format!(", {described}")
        }
    );
    let html = render(
        &Scope {
            database,
            period: &period_text,
        },
        &Runs {
            period: &period,
            previous: &previous,
            timings: &timings,
        },
    );
    Page {
        html,
        runs: period.len(),
        period: period_text,
    }
}

/// A rendered report.
pub struct Page {
    pub html: String,
    /// Runs in the period.
    pub runs: usize,
    /// The period and filter, in words.
    pub period: String,
}

/// The whole page: the time saved and the trend first, then each chart beside its table.
pub fn render(scope: &Scope<'_>, runs: &Runs<'_>) -> String {
    let body: String = sections::all(runs).concat();
    let generated = crate::timestamp::seconds(SystemTime::now());
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>earlyexit report: {period}</title>\n<style>{STYLE}</style></head>\n<body><h1>earlyexit report</h1>\n<p class=\"scope\">Database <code>{database}</code>, runs {period}: {count} run(s). Generated {generated}.</p>\n{body}</body></html>\n",
        period = escape(scope.period),
        database = escape(scope.database),
        count = runs.period.len(),
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
section{margin:2em 0}.pair{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\
figure{margin:0}table{border-collapse:collapse;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}\
td:not(:first-child){text-align:right}td.text{text-align:left;font-family:monospace;white-space:pre-wrap}\
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:0.4em 1.2em;padding:0;margin:0.3em 0 0 4em;font-size:0.85em}\
.swatch{display:inline-block;width:0.9em;height:0.9em;margin-right:0.35em;vertical-align:-0.1em}";
