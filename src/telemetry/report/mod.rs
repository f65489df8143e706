//! `earlyexit telemetry report`: one self-contained HTML page a person looks at. Every chart is
//! inline SVG drawn by plotters, with its numbers in a table beside it (for screen readers
//! and for copying); the page loads nothing from the network and runs no script.
//!
//! Commands appear as the database holds them: their text at full detail, else the executable
//! and the start of the command hash.

mod chart;
mod sections;

use std::time::SystemTime;

use plotters::style::RGBColor;

use super::savings::RunTiming;
use crate::outcome::Outcome;
use chart::escape;

/// One run, as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRun {
    pub command_hash: String,
    pub label: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub outcome: Outcome,
    pub runtime: f64,
    pub time_to_first_match: Option<f64>,
    pub pattern: Option<String>,
    pub match_count: i64,
}

/// Each outcome's colour: red for what failed, green for what succeeded.
fn outcome_color(outcome: Outcome) -> RGBColor {
    match outcome {
        Outcome::Success => RGBColor(46, 125, 50),
        Outcome::StoppedOnSuccess => RGBColor(129, 199, 132),
        Outcome::Failure => RGBColor(198, 40, 40),
        Outcome::Timeout => RGBColor(239, 108, 0),
        Outcome::Cancelled => RGBColor(120, 144, 156),
        Outcome::Lost => RGBColor(121, 85, 72),
        Outcome::Error => RGBColor(106, 27, 154),
    }
}

/// What the page covers.
pub struct Scope<'a> {
    pub database: &'a str,
    pub period: &'a str,
}

/// The whole page: the time saved first, then each chart beside its table.
pub fn render(scope: &Scope<'_>, runs: &[ReportRun], timings: &[RunTiming]) -> String {
    let body: String = sections::all(runs, timings).concat();
    let generated = crate::timestamp::seconds(SystemTime::now());
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>earlyexit report: {period}</title>\n<style>{STYLE}</style></head>\n<body><h1>earlyexit report</h1>\n<p class=\"scope\">Database <code>{database}</code>, runs {period}: {count} run(s). Generated {generated}.</p>\n{body}</body></html>\n",
        period = escape(scope.period),
        database = escape(scope.database),
        count = runs.len(),
    )
}

/// The value at the given fraction of a sorted list (nearest rank), as `telemetry stats`.
pub fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
section{margin:2em 0}.pair{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\
figure{margin:0}table{border-collapse:collapse;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}td:not(:first-child){text-align:right}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_the_nearest_rank() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&sorted, 0.5), Some(5.0));
        assert_eq!(percentile(&sorted, 0.95), Some(10.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
