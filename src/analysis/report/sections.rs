//! The page's sections, in page order, each built from the runs: what was saved, the trend
//! against the period before, runs per day, the failure sections (`failures`), run times,
//! patterns and time to first match.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use super::chart::{Color, Part, Section, Series, Unit};
use super::failures::{self, ratio};
use super::table::human_seconds;
use super::table::{Cell, Table};
use super::{by_command, outcome_color, Command, Figures, TOP};
use crate::analysis::histogram::Histogram;
use crate::analysis::rollup::{Group, Rollup, FIRST_MATCH_BUCKETS};
use crate::analysis::savings::{self, Savings};
use crate::outcome::Outcome;

/// What the page shows: the time saved, then every section in page order.
pub struct Contents {
    pub saved: Savings,
    pub parts: Vec<Part>,
}

pub fn all(figures: &Figures) -> Contents {
    let period = &figures.period;
    let commands = by_command(period);
    let saved = savings::estimate(
        &figures.baseline,
        &commands
            .iter()
            .map(|command| (command.hash.to_string(), command.group.clone()))
            .collect(),
    );
    let parts = vec![
        time_saved(&saved),
        trend(period, &figures.previous),
        Part::Chart(time_saved_per_week(figures)),
        Part::Chart(runs_per_day(period)),
        Part::Chart(failures::failing_commands(
            period,
            &commands,
            &figures.streaks,
        )),
        Part::Chart(failures::failures_by(
            period,
            ("failures-by-branch", "Failures by branch", "Branch"),
            |dims| dims.branch.as_deref(),
            |branch| branch.unwrap_or("(no branch)").to_string(),
        )),
        Part::Chart(failures::failures_by(
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
        )),
        Part::Chart(failures::flaky_commands(&figures.revisions)),
        Part::Chart(durations(&commands)),
        Part::Chart(patterns(period)),
        Part::Chart(first_match(period)),
        failures::latest_failures(&figures.latest_failures),
    ];
    Contents { saved, parts }
}

/// The total and its basis, then one row per command: a table without a chart, first.
fn time_saved(saved: &Savings) -> Part {
    let rows: Vec<Vec<Cell>> = saved
        .by_command
        .iter()
        .map(|c| {
            vec![
                Cell::text(c.command.clone()),
                c.saved_seconds
                    .map_or(Cell::Absent("unknown"), Cell::seconds),
                Cell::Count(c.stopped_runs),
                Cell::Count(c.complete_runs),
                Cell::Count(c.hangs_stopped),
                Cell::seconds(c.hang_seconds),
            ]
        })
        .collect();
    let lead = format!(
        "<p class=\"total\">{} s saved ({}) by {} run(s) stopped early; {} more without an estimate (their command has fewer than {} runs that ended on their own); {} hang(s) stopped after {} s allowed.</p>",
        seconds(saved.saved_seconds),
        human_seconds(saved.saved_seconds),
        saved.estimated_runs,
        saved.unknown_runs,
        savings::MIN_COMPLETE_RUNS,
        saved.hangs_stopped,
        seconds(saved.hang_seconds),
    );
    Part::Table {
        lead,
        table: Table {
            id: "time-saved",
            heading: "Time saved",
            columns: vec![
                "command",
                "saved",
                "stopped early",
                "ended on their own",
                "hangs stopped",
                "hang time allowed",
            ],
            rows,
            text: false,
        },
    }
}

fn seconds(value: f64) -> String {
    format!("{value:.3}")
}

/// The period against the one before it, of the same length: a table.
fn trend(period: &Rollup, previous: &Rollup) -> Part {
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
        let shown = format!("{sign}{}", unit.show((now - before).abs()));
        match unit {
            Unit::Seconds => Cell::time(shown, now - before),
            Unit::Count | Unit::Ratio => Cell::shown(shown, now - before),
        }
    };
    let time =
        |value: Option<f64>| value.map_or(Cell::Absent("-"), |v| Cell::time(human_seconds(v), v));
    let timed = |now: Option<f64>, before: Option<f64>| match (now, before) {
        (Some(now), Some(before)) => change(now, before, Unit::Seconds),
        _ => Cell::Absent("-"),
    };
    let rate = |f: &Figures| ratio(f.failed, f.runs);
    let share = |value: f64| Cell::shown(Unit::Ratio.show(value), value);
    let rows = vec![
        vec![
            Cell::text("runs"),
            Cell::Count(now.runs),
            Cell::Count(before.runs),
            change(now.runs as f64, before.runs as f64, Unit::Count),
        ],
        vec![
            Cell::text("failed"),
            Cell::Count(now.failed),
            Cell::Count(before.failed),
            change(now.failed as f64, before.failed as f64, Unit::Count),
        ],
        vec![
            Cell::text("failure rate"),
            share(rate(&now)),
            share(rate(&before)),
            change(rate(&now), rate(&before), Unit::Ratio),
        ],
        vec![
            Cell::text("run time p50"),
            time(now.p50),
            time(before.p50),
            timed(now.p50, before.p50),
        ],
        vec![
            Cell::text("run time p95"),
            time(now.p95),
            time(before.p95),
            timed(now.p95, before.p95),
        ],
    ];
    Part::Table {
        lead: String::new(),
        table: Table {
            id: "trend",
            heading: "Against the period before",
            columns: vec!["", "this period", "the period before", "change"],
            rows,
            text: false,
        },
    }
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
        vec!["week of", "saved"],
        weeks
            .into_iter()
            .map(|(week, saved)| (week, saved, vec![Cell::seconds(saved)]))
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
    let mut columns = vec!["day"];
    columns.extend(Outcome::ALL.iter().map(|outcome| outcome.label()));
    Section {
        x_title: "Day",
        y_title: "Runs",
        unit: Unit::Count,
        labels: days.keys().map(|day| day.to_string()).collect(),
        series,
        stacked: true,
        table: Table {
            id: "runs-per-day",
            heading: "Runs per day, by outcome",
            columns,
            rows: days
                .iter()
                .map(|(day, counts)| {
                    std::iter::once(Cell::text(*day))
                        .chain(counts.iter().map(|count| Cell::Count(*count)))
                        .collect()
                })
                .collect(),
            text: false,
        },
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
        table: Table {
            id: "durations",
            heading: "Run time per command (p50 and p95)",
            columns: vec!["command", "p50", "p95"],
            rows: durations
                .iter()
                .map(|d| vec![Cell::text(d.0), Cell::seconds(d.1), Cell::seconds(d.2)])
                .collect(),
            text: false,
        },
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
            .map(|(pattern, n)| (pattern.to_string(), n as f64, vec![Cell::Count(n)]))
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
            .map(|((bucket, _), n)| (bucket.to_string(), n as f64, vec![Cell::Count(n)]))
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
