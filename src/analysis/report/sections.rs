//! The page's sections, in page order, each built from the runs: what was saved, the trend
//! against the period before, runs per day, the failure sections (`failures`), run times,
//! patterns and time to first match.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use super::chart::{human_seconds, table, Color, Section, Series, Unit};
use super::failures::{self, ratio};
use super::{outcome_color, percentile, ReportRun, Runs, TOP};
use crate::analysis::savings::{self, RunTiming, Savings};
use crate::outcome::Outcome;

/// Every section, in page order.
pub fn all(runs: &Runs<'_>) -> Vec<String> {
    let period = runs.period;
    let commands = by_command(period);
    let saved = savings::estimate(runs.timings);
    vec![
        time_saved(&saved),
        trend(period, runs.previous),
        time_saved_per_week(runs.timings, &saved).render(),
        runs_per_day(period).render(),
        failures::failing_commands(&commands).render(),
        failures::failures_by(
            period,
            ("failures-by-branch", "Failures by branch", "Branch"),
            |run| run.branch.as_deref(),
            |branch| branch.unwrap_or("(no branch)").to_string(),
        )
        .render(),
        failures::failures_by(
            period,
            (
                "failures-by-place",
                "Failures in CI and locally",
                "Where it ran",
            ),
            |run| run.ci_system.as_deref(),
            |system| match system {
                Some(system) => format!("CI ({system})"),
                None => "local".into(),
            },
        )
        .render(),
        failures::flaky_commands(period).render(),
        durations(&commands).render(),
        patterns(period).render(),
        first_match(period).render(),
        failures::latest_failures(period),
    ]
}

pub fn seconds(value: f64) -> String {
    format!("{value:.3}")
}

/// The total and its basis, then one row per command: a table without a chart, first.
fn time_saved(saved: &Savings) -> String {
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
        "<section id=\"time-saved\"><h2>Time saved</h2><p class=\"total\">{} s saved ({}) by {} run(s) stopped early; {} more without an estimate (their command has fewer than {} runs that ended on their own); {} hang(s) stopped after {} s allowed.</p>{}</section>\n",
        seconds(saved.saved_seconds),
        human_seconds(saved.saved_seconds),
        saved.estimated_runs,
        saved.unknown_runs,
        savings::MIN_COMPLETE_RUNS,
        saved.hangs_stopped,
        seconds(saved.hang_seconds),
        table(&headers, &rows)
    )
}

/// The period against the one before it, of the same length: a table.
fn trend(period: &[ReportRun], previous: &[ReportRun]) -> String {
    struct Figures {
        runs: usize,
        failed: usize,
        p50: Option<f64>,
        p95: Option<f64>,
    }
    let figures = |runs: &[ReportRun]| {
        let mut times: Vec<f64> = runs.iter().map(|r| r.runtime).collect();
        times.sort_by(f64::total_cmp);
        Figures {
            runs: runs.len(),
            failed: runs.iter().filter(|r| r.outcome.is_failed()).count(),
            p50: percentile(&times, 0.5),
            p95: percentile(&times, 0.95),
        }
    };
    let (now, before) = (figures(period), figures(previous));
    let change = |now: f64, before: f64, unit: Unit| {
        let sign = if now >= before { "+" } else { "-" };
        format!("{sign}{}", unit.show((now - before).abs()))
    };
    let time = |value: Option<f64>| value.map_or_else(|| "-".to_string(), human_seconds);
    let timed = |now: Option<f64>, before: Option<f64>| match (now, before) {
        (Some(now), Some(before)) => change(now, before, Unit::Seconds),
        _ => "-".to_string(),
    };
    let rate = |f: &Figures| ratio(f.failed, f.runs);
    let rows = vec![
        vec![
            "runs".into(),
            now.runs.to_string(),
            before.runs.to_string(),
            change(now.runs as f64, before.runs as f64, Unit::Count),
        ],
        vec![
            "failed".into(),
            now.failed.to_string(),
            before.failed.to_string(),
            change(now.failed as f64, before.failed as f64, Unit::Count),
        ],
        vec![
            "failure rate".into(),
            Unit::Ratio.show(rate(&now)),
            Unit::Ratio.show(rate(&before)),
            change(rate(&now), rate(&before), Unit::Ratio),
        ],
        vec![
            "run time p50".into(),
            time(now.p50),
            time(before.p50),
            timed(now.p50, before.p50),
        ],
        vec![
            "run time p95".into(),
            time(now.p95),
            time(before.p95),
            timed(now.p95, before.p95),
        ],
    ];
    format!(
        "<section id=\"trend\"><h2>Against the period before</h2>{}</section>\n",
        table(&["", "this period", "the period before", "change"], &rows)
    )
}

fn time_saved_per_week(timings: &[RunTiming], saved: &Savings) -> Section {
    let mut weeks: BTreeMap<String, f64> = BTreeMap::new();
    for (timestamp, value) in savings::per_run(timings, saved) {
        *weeks.entry(week_of(timestamp)).or_default() += value;
    }
    Section::single(
        ("time-saved-per-week", "Time saved per week"),
        ("Week of", "Time saved", Unit::Seconds),
        ("saved", Color(46, 125, 50)),
        vec!["week of", "saved (s)"],
        weeks
            .into_iter()
            .map(|(week, saved)| (week, saved, vec![seconds(saved)]))
            .collect(),
    )
}

fn runs_per_day(runs: &[ReportRun]) -> Section {
    let mut days: BTreeMap<&str, [usize; Outcome::ALL.len()]> = BTreeMap::new();
    for run in runs {
        let column = Outcome::ALL.iter().position(|o| *o == run.outcome);
        let day = run.timestamp.get(..10).unwrap_or(&run.timestamp);
        days.entry(day).or_default()[column.unwrap_or_default()] += 1;
    }
    let shown: Vec<(usize, Outcome)> = Outcome::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, _)| days.values().any(|counts| counts[*i] > 0))
        .collect();
    let series = shown
        .iter()
        .map(|(i, outcome)| Series {
            name: outcome.label(),
            color: outcome_color(*outcome),
            values: days.values().map(|c| c[*i] as f64).collect(),
        })
        .collect();
    let mut headers = vec!["day"];
    headers.extend(Outcome::ALL.iter().map(|outcome| outcome.label()));
    Section {
        id: "runs-per-day",
        heading: "Runs per day, by outcome",
        x_title: "Day",
        y_title: "Runs",
        unit: Unit::Count,
        labels: days.keys().map(|day| day.to_string()).collect(),
        series,
        stacked: true,
        headers,
        rows: days
            .iter()
            .map(|(day, counts)| {
                std::iter::once(day.to_string())
                    .chain(counts.iter().map(usize::to_string))
                    .collect()
            })
            .collect(),
    }
}

/// p50 and p95 of the ten most frequent commands.
fn durations(commands: &[(&str, Vec<&ReportRun>)]) -> Section {
    let durations: Vec<(&str, f64, f64)> = commands
        .iter()
        .take(TOP)
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
        x_title: "Command",
        y_title: "Run time",
        unit: Unit::Seconds,
        labels: durations.iter().map(|d| d.0.to_string()).collect(),
        series: vec![
            series(
                "p50",
                Color(30, 136, 229),
                durations.iter().map(|d| d.1).collect(),
            ),
            series(
                "p95",
                Color(94, 53, 177),
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
            .entry(run.pattern.as_deref().unwrap_or("(none)"))
            .or_default() += run.match_count;
    }
    let mut patterns: Vec<(&str, i64)> = patterns.into_iter().collect();
    patterns.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    patterns.truncate(TOP);
    Section::single(
        ("patterns", "Most frequent matched patterns"),
        ("Pattern", "Matches", Unit::Count),
        ("matches", Color(0, 137, 123)),
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
        ("first-match", "Time to first match"),
        (
            "Time from the start to the first match",
            "Runs",
            Unit::Count,
        ),
        ("runs", Color(255, 143, 0)),
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

/// Per command, most runs first (then by label, then by hash).
pub fn by_command(runs: &[ReportRun]) -> Vec<(&str, Vec<&ReportRun>)> {
    let mut commands: HashMap<&str, Vec<&ReportRun>> = HashMap::new();
    for run in runs {
        commands.entry(&run.command_hash).or_default().push(run);
    }
    let mut commands: Vec<(&str, Vec<&ReportRun>)> = commands
        .into_values()
        .map(|runs| (runs[0].label.as_str(), runs))
        .collect();
    commands.sort_by(|a, b| {
        (b.1.len(), a.0, &a.1[0].command_hash).cmp(&(a.1.len(), b.0, &b.1[0].command_hash))
    });
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
