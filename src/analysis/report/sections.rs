//! The page's sections, in page order, each built from the runs: what was saved, the trend
//! against the period before, runs per day, the failure sections (`failures`), run times,
//! patterns and time to first match.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::chart::{human_seconds, table, Color, Section, Series, Unit};
use super::failures::{self, ratio};
use super::{by_command, outcome_color, Command, Figures, TOP};
use crate::analysis::histogram::Histogram;
use crate::analysis::rollup::{Group, Rollup, FIRST_MATCH_BUCKETS};
use crate::analysis::savings::{self, Savings};
use crate::outcome::Outcome;

/// Every section, in page order.
pub fn all(figures: &Figures) -> Vec<String> {
    let period = &figures.period;
    let commands = by_command(period);
    let saved = savings::estimate(
        &figures.baseline,
        &commands
            .iter()
            .map(|command| (command.hash.to_string(), command.group.clone()))
            .collect(),
    );
    vec![
        time_saved(&saved),
        trend(period, &figures.previous),
        time_saved_per_week(figures).render(),
        runs_per_day(period).render(),
        failures::failing_commands(&commands).render(),
        failures::failures_by(
            period,
            ("failures-by-branch", "Failures by branch", "Branch"),
            |dims| dims.branch.as_deref(),
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
            |dims| dims.ci_system.as_deref(),
            |system| match system {
                Some(system) => format!("CI ({system})"),
                None => "local".into(),
            },
        )
        .render(),
        failures::flaky_commands(&figures.revisions).render(),
        durations(&commands).render(),
        patterns(period).render(),
        first_match(period).render(),
        failures::latest_failures(&figures.latest_failures),
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
fn trend(period: &Rollup, previous: &Rollup) -> String {
    struct Figures {
        runs: u64,
        failed: u64,
        p50: Option<f64>,
        p95: Option<f64>,
    }
    let figures = |rollup: &Rollup| {
        let mut all = Group::default();
        for group in rollup.groups.values() {
            all.merge(group);
        }
        let times = all.runtimes();
        Figures {
            runs: all.runs(),
            failed: all.failed(),
            p50: times.percentile(0.5),
            p95: times.percentile(0.95),
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

/// What each week's runs stopped early saved, against their command's baseline.
fn time_saved_per_week(figures: &Figures) -> Section {
    let mut weeks: BTreeMap<String, f64> = BTreeMap::new();
    for ((day, dims), group) in &figures.period.groups {
        if group.stopped.count() == 0 {
            continue;
        }
        if let Some(baseline) = savings::baseline_of(&figures.baseline, &dims.command_hash) {
            *weeks.entry(week_of(day)).or_default() += group.stopped.shortfall_below(baseline);
        }
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

fn runs_per_day(rollup: &Rollup) -> Section {
    let mut days: BTreeMap<&str, [u64; Outcome::ALL.len()]> = BTreeMap::new();
    for ((day, _), group) in &rollup.groups {
        let counts = days.entry(day).or_default();
        for (count, more) in counts.iter_mut().zip(group.outcomes) {
            *count += more;
        }
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
                    .chain(counts.iter().map(u64::to_string))
                    .collect()
            })
            .collect(),
    }
}

/// p50 and p95 of the ten most frequent commands.
fn durations(commands: &[Command<'_>]) -> Section {
    let durations: Vec<(&str, f64, f64)> = commands
        .iter()
        .take(TOP)
        .map(|command| {
            let times: Histogram = command.group.runtimes();
            let at = |f| times.percentile(f).unwrap_or(0.0);
            (command.group.label.as_str(), at(0.5), at(0.95))
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

fn patterns(rollup: &Rollup) -> Section {
    let mut patterns: BTreeMap<&str, u64> = BTreeMap::new();
    for group in rollup.groups.values() {
        for (pattern, count) in &group.matches {
            *patterns.entry(pattern).or_default() += count;
        }
    }
    let mut patterns: Vec<(&str, u64)> = patterns.into_iter().collect();
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

fn first_match(rollup: &Rollup) -> Section {
    let mut counts = [0u64; FIRST_MATCH_BUCKETS.len()];
    for group in rollup.groups.values() {
        for (count, more) in counts.iter_mut().zip(group.first_match) {
            *count += more;
        }
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
        FIRST_MATCH_BUCKETS
            .iter()
            .zip(counts)
            .map(|((bucket, _), n)| (bucket.to_string(), n as f64, vec![n.to_string()]))
            .collect(),
    )
}

/// The Monday that starts the week of a day (`YYYY-MM-DD`), as a day.
fn week_of(day: &str) -> String {
    let Ok(time) = humantime::parse_rfc3339_weak(&format!("{day}T00:00:00")) else {
        return day.to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_of("2026-12-02"), "2026-11-30");
        assert_eq!(week_of("2026-11-30"), "2026-11-30");
        assert_eq!(week_of("2026-11-29"), "2026-11-23");
    }
}
