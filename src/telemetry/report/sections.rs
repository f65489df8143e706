//! The page's sections, each built from the runs: what was saved, runs per day, the failing
//! commands, run times, patterns and time to first match.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use plotters::style::RGBColor;

use super::chart::{table, Section, Series};
use super::{outcome_color, percentile, ReportRun};
use crate::outcome::Outcome;
use crate::telemetry::savings::{self, RunTiming};

/// Every section, in page order.
pub fn all(runs: &[ReportRun], timings: &[RunTiming]) -> Vec<String> {
    let commands = by_command(runs);
    vec![
        time_saved(timings),
        time_saved_per_week(timings).render(),
        runs_per_day(runs).render(),
        failing_commands(&commands).render(),
        durations(&commands).render(),
        patterns(runs).render(),
        first_match(runs).render(),
    ]
}

fn seconds(value: f64) -> String {
    format!("{value:.3}")
}

/// The total and its basis, then one row per command: a table without a chart, first.
fn time_saved(timings: &[RunTiming]) -> String {
    let saved = savings::estimate(timings);
    let rows: Vec<Vec<String>> = saved
        .by_command
        .iter()
        .map(|c| {
            vec![
                c.command.clone(),
                c.saved_seconds.map_or_else(|| "unknown".into(), seconds),
                c.stopped_runs.to_string(),
                c.complete_runs.to_string(),
                c.hangs_stopped.to_string(),
                seconds(c.hang_seconds),
            ]
        })
        .collect();
    let headers = [
        "command",
        "saved (s)",
        "stopped early",
        "ended on their own",
        "hangs stopped",
        "hang time allowed (s)",
    ];
    format!(
        "<section id=\"time-saved\"><h2>Time saved</h2><p class=\"total\">{} s saved by {} run(s) stopped early; {} more without an estimate (their command has fewer than {} runs that ended on their own); {} hang(s) stopped after {} s allowed.</p>{}</section>\n",
        seconds(saved.saved_seconds),
        saved.estimated_runs,
        saved.unknown_runs,
        savings::MIN_COMPLETE_RUNS,
        saved.hangs_stopped,
        seconds(saved.hang_seconds),
        table(&headers, &rows)
    )
}

fn time_saved_per_week(timings: &[RunTiming]) -> Section {
    let mut weeks: BTreeMap<String, f64> = BTreeMap::new();
    for (timestamp, value) in savings::per_run(timings) {
        *weeks.entry(week_of(timestamp)).or_default() += value;
    }
    Section::single(
        (
            "time-saved-per-week",
            "Time saved per week",
            "Seconds saved, by week",
        ),
        ("saved", RGBColor(46, 125, 50)),
        vec!["week of", "saved (s)"],
        weeks
            .into_iter()
            .map(|(week, saved)| (week, saved, vec![seconds(saved)]))
            .collect(),
    )
}

fn runs_per_day(runs: &[ReportRun]) -> Section {
    let mut days: BTreeMap<String, [usize; Outcome::ALL.len()]> = BTreeMap::new();
    for run in runs {
        let column = Outcome::ALL.iter().position(|o| *o == run.outcome);
        days.entry(run.timestamp.chars().take(10).collect())
            .or_default()[column.unwrap_or_default()] += 1;
    }
    let series = Outcome::ALL
        .iter()
        .enumerate()
        .map(|(i, outcome)| Series {
            name: outcome.label(),
            color: outcome_color(*outcome),
            values: days.values().map(|c| c[i] as f64).collect(),
        })
        .collect();
    let mut headers = vec!["day"];
    headers.extend(Outcome::ALL.iter().map(|outcome| outcome.label()));
    Section {
        id: "runs-per-day",
        heading: "Runs per day, by outcome",
        title: "Runs per day",
        labels: days.keys().cloned().collect(),
        series,
        stacked: true,
        headers,
        rows: days
            .iter()
            .map(|(day, counts)| {
                std::iter::once(day.clone())
                    .chain(counts.iter().map(usize::to_string))
                    .collect()
            })
            .collect(),
    }
}

/// The ten commands with the highest failure rate, more runs first among equals.
fn failing_commands(commands: &[(&str, Vec<&ReportRun>)]) -> Section {
    let mut failing: Vec<(&str, usize, usize)> = commands
        .iter()
        .map(|(label, runs)| {
            let failures = runs.iter().filter(|r| r.outcome.is_failed()).count();
            (*label, runs.len(), failures)
        })
        .filter(|(_, _, failures)| *failures > 0)
        .collect();
    failing.sort_by(|a, b| (b.2 * a.1).cmp(&(a.2 * b.1)).then(b.1.cmp(&a.1)));
    failing.truncate(10);
    Section::single(
        (
            "failing-commands",
            "Commands that fail most",
            "Failure rate",
        ),
        ("failure rate", RGBColor(198, 40, 40)),
        vec!["command", "runs", "failed", "failure rate"],
        failing
            .into_iter()
            .map(|(label, runs, failures)| {
                let rate = failures as f64 / runs as f64;
                let cells = vec![runs.to_string(), failures.to_string(), format!("{rate:.3}")];
                (label.to_string(), rate, cells)
            })
            .collect(),
    )
}

/// p50 and p95 of the ten most frequent commands.
fn durations(commands: &[(&str, Vec<&ReportRun>)]) -> Section {
    let durations: Vec<(&str, f64, f64)> = commands
        .iter()
        .take(10)
        .map(|(label, runs)| {
            let mut times: Vec<f64> = runs.iter().map(|r| r.runtime).collect();
            times.sort_by(f64::total_cmp);
            let at = |f| percentile(&times, f).unwrap_or(0.0);
            (*label, at(0.5), at(0.95))
        })
        .collect();
    let series = |name, color, values| Series {
        name,
        color,
        values,
    };
    Section {
        id: "durations",
        heading: "Run time per command (p50 and p95)",
        title: "Seconds",
        labels: durations.iter().map(|d| d.0.to_string()).collect(),
        series: vec![
            series(
                "p50",
                RGBColor(30, 136, 229),
                durations.iter().map(|d| d.1).collect(),
            ),
            series(
                "p95",
                RGBColor(94, 53, 177),
                durations.iter().map(|d| d.2).collect(),
            ),
        ],
        stacked: false,
        headers: vec!["command", "p50 (s)", "p95 (s)"],
        rows: durations
            .iter()
            .map(|d| vec![d.0.to_string(), seconds(d.1), seconds(d.2)])
            .collect(),
    }
}

fn patterns(runs: &[ReportRun]) -> Section {
    let mut patterns: BTreeMap<&str, i64> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.match_count > 0) {
        *patterns
            .entry(run.pattern.as_deref().unwrap_or(""))
            .or_default() += run.match_count;
    }
    let mut patterns: Vec<(&str, i64)> = patterns.into_iter().collect();
    patterns.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    patterns.truncate(10);
    Section::single(
        ("patterns", "Most frequent matched patterns", "Matches"),
        ("matches", RGBColor(0, 137, 123)),
        vec!["pattern", "matches"],
        patterns
            .into_iter()
            .map(|(pattern, n)| (pattern.to_string(), n as f64, vec![n.to_string()]))
            .collect(),
    )
}

fn first_match(runs: &[ReportRun]) -> Section {
    const BUCKETS: [(&str, f64); 6] = [
        ("< 0.1 s", 0.1),
        ("0.1-1 s", 1.0),
        ("1-10 s", 10.0),
        ("10-60 s", 60.0),
        ("1-10 min", 600.0),
        ("> 10 min", f64::INFINITY),
    ];
    let mut counts = [0usize; 6];
    for t in runs.iter().filter_map(|r| r.time_to_first_match) {
        counts[BUCKETS
            .iter()
            .position(|(_, upper)| t < *upper)
            .unwrap_or(5)] += 1;
    }
    Section::single(
        ("first-match", "Time to first match", "Runs"),
        ("runs", RGBColor(255, 143, 0)),
        vec!["time to first match", "runs"],
        BUCKETS
            .iter()
            .zip(counts)
            .map(|((bucket, _), n)| (bucket.to_string(), n as f64, vec![n.to_string()]))
            .collect(),
    )
}

/// The Monday that starts the week of an RFC 3339 time, as a date.
fn week_of(timestamp: &str) -> String {
    let Ok(time) = humantime::parse_rfc3339_weak(timestamp.trim_end_matches('Z')) else {
        return timestamp.chars().take(10).collect();
    };
    let days = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400;
    // 1970-01-01 was a Thursday.
    let monday = days.saturating_sub((days + 3) % 7);
    let start = UNIX_EPOCH + Duration::from_secs(monday * 86_400);
    crate::timestamp::seconds(start)[..10].to_string()
}

/// Per command, most runs first, at most ten.
fn by_command(runs: &[ReportRun]) -> Vec<(&str, Vec<&ReportRun>)> {
    let mut commands: BTreeMap<&str, Vec<&ReportRun>> = BTreeMap::new();
    for run in runs {
        commands.entry(&run.command_hash).or_default().push(run);
    }
    let mut commands: Vec<(&str, Vec<&ReportRun>)> = commands
        .into_values()
        .map(|runs| (runs[0].label.as_str(), runs))
        .collect();
    commands.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_of("2026-12-02T10:00:00.000Z"), "2026-11-30");
        assert_eq!(week_of("2026-11-30T00:00:00.000Z"), "2026-11-30");
        assert_eq!(week_of("2026-11-29T23:59:59.999Z"), "2026-11-23");
    }
}
