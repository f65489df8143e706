//! The sections about failures: the commands that fail most, failures by branch and by place
//! (CI or local), flaky commands, and the latest failures with their matched line.
//!
//! "Failed" is [`Outcome::is_failed`] everywhere on the page.

use std::collections::{BTreeMap, HashMap};

use super::chart::{Color, Part, Section, Series, Unit};
use super::streaks::Streak;
use super::table::{Cell, Table};
use super::{Command, ReportRun, Revisions, TOP};
use crate::analysis::rollup::{Dims, Rollup};

const FAILED: Color = Color(198, 40, 40);
const OTHER: Color = Color(144, 164, 174);

pub fn ratio(failed: u64, runs: u64) -> f64 {
    if runs == 0 {
        0.0
    } else {
        failed as f64 / runs as f64
    }
}

/// The ten commands with the most failed runs, more runs first among equals: a command that
/// failed fifteen times of a hundred comes before a typo that failed five times of five.
pub fn most_failing<'c, 'a>(commands: &'c [Command<'a>]) -> Vec<&'c Command<'a>> {
    let mut failing: Vec<&Command<'_>> = commands
        .iter()
        .filter(|command| command.group.failed() > 0)
        .collect();
    failing.sort_by(|a, b| {
        (b.group.failed(), b.group.runs(), &a.group.label).cmp(&(
            a.group.failed(),
            a.group.runs(),
            &b.group.label,
        ))
    });
    failing.truncate(TOP);
    failing
}

/// A command's failed runs per day of the period, as a line of bars (`▁▃█`, `·` for a day
/// it did not run): the small trend beside its figures.
fn daily_failures(period: &Rollup, hash: &str) -> String {
    let mut days: BTreeMap<&str, Option<u64>> = BTreeMap::new();
    for ((day, dims), group) in &period.groups {
        let failed = days.entry(day).or_default();
        if dims.command_hash == hash {
            *failed = Some(failed.unwrap_or(0) + group.failed());
        }
    }
    let most = days.values().flatten().copied().max().unwrap_or(0).max(1);
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    days.values()
        .map(|failed| match failed {
            None => '·',
            Some(failed) => BARS[(*failed * 7).div_ceil(most) as usize],
        })
        .collect()
}

/// The commands that fail most, with since when each has failed (its first failed run after
/// its last success, and that run's revision), when it last passed, and its failures per day.
pub fn failing_commands(
    period: &Rollup,
    commands: &[Command<'_>],
    streaks: &HashMap<String, Streak>,
) -> Section {
    let when = |time: &str| time.chars().take(16).collect::<String>().replace('T', " ");
    Section::single(
        ("failing-commands", "Commands that fail most"),
        ("Command", "Failed runs", Unit::Count),
        ("failed runs", FAILED),
        vec![
            "command",
            "runs",
            "failed",
            "failure rate",
            "failing since",
            "last success",
            "failed per day",
        ],
        most_failing(commands)
            .into_iter()
            .map(|command| {
                let (runs, failures) = (command.group.runs(), command.group.failed());
                let streak = streaks.get(command.hash).cloned().unwrap_or_default();
                let since = match &streak.failing_since {
                    Some((time, Some(revision))) if !revision.is_empty() => {
                        Cell::text(format!("{revision} ({})", when(time)))
                    }
                    Some((time, _)) => Cell::text(when(time)),
                    None => Cell::Absent("passing"),
                };
                let last = streak
                    .last_success
                    .as_deref()
                    .map_or(Cell::Absent("never"), |time| Cell::text(when(time)));
                let cells = vec![
                    Cell::Count(runs),
                    Cell::Count(failures),
                    Cell::ratio(ratio(failures, runs)),
                    since,
                    last,
                    Cell::text(daily_failures(period, command.hash)),
                ];
                (command.group.label.clone(), failures as f64, cells)
            })
            .collect(),
    )
}

/// Failed and other runs per value of `key` (a branch, a CI system), shown as `label` says,
/// most runs first. Groups are counted by the stored value and labelled once per value.
pub fn failures_by<'a>(
    rollup: &'a Rollup,
    (id, heading, x_title): (&'static str, &'static str, &'static str),
    key: impl Fn(&'a Dims) -> Option<&'a str>,
    label: impl Fn(Option<&str>) -> String,
) -> Section {
    let mut counted: HashMap<Option<&str>, (u64, u64)> = HashMap::new();
    for ((_, dims), group) in &rollup.groups {
        let counts = counted.entry(key(dims)).or_default();
        counts.0 += group.runs();
        counts.1 += group.failed();
    }
    let mut groups: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (value, (runs, failed)) in counted {
        let group = groups.entry(label(value)).or_default();
        group.0 += runs;
        group.1 += failed;
    }
    let mut groups: Vec<(String, (u64, u64))> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    groups.truncate(TOP);
    Section {
        x_title,
        y_title: "Runs",
        unit: Unit::Count,
        labels: groups.iter().map(|(name, _)| name.clone()).collect(),
        series: vec![
            Series {
                name: "failed",
                color: FAILED,
                values: groups
                    .iter()
                    .map(|(_, (_, failed))| *failed as f64)
                    .collect(),
            },
            Series {
                name: "other outcomes",
                color: OTHER,
                values: groups
                    .iter()
                    .map(|(_, (runs, failed))| (runs - failed) as f64)
                    .collect(),
            },
        ],
        stacked: true,
        table: Table {
            id,
            heading,
            columns: vec![x_title, "runs", "failed", "failure rate"],
            rows: groups
                .iter()
                .map(|(name, (runs, failed))| {
                    vec![
                        Cell::text(name.clone()),
                        Cell::Count(*runs),
                        Cell::Count(*failed),
                        Cell::ratio(ratio(*failed, *runs)),
                    ]
                })
                .collect(),
            text: false,
        },
    }
}

/// The revisions a flaky command's row lists; a busy team's command can have thousands.
const REVISIONS_SHOWN: usize = 5;

/// Commands that both passed and failed on the same revision: flaky, not broken.
pub fn flaky_commands(revisions: &Revisions) -> Section {
    // Revisions gathered in a list and sorted only for the rows shown: a set per command
    // compared strings at every insert, a tenth of a page over a million runs.
    let mut flaky: HashMap<&str, (usize, Vec<&str>, u64, u64)> = HashMap::new();
    for ((_, revision), tally) in revisions {
        let (label, passed, failed) = (tally.label.as_str(), tally.passed, tally.failed);
        if passed > 0 && failed > 0 {
            let entry = flaky.entry(label).or_default();
            entry.0 += 1;
            entry.1.push(revision);
            entry.2 += passed;
            entry.3 += failed;
        }
    }
    let mut flaky: Vec<_> = flaky.into_iter().collect();
    flaky.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    flaky.truncate(TOP);
    for (_, (_, revisions, _, _)) in &mut flaky {
        revisions.sort_unstable();
        revisions.dedup();
    }
    Section::single(
        (
            "flaky-commands",
            "Flaky commands (passed and failed on one revision)",
        ),
        ("Command", "Revisions", Unit::Count),
        ("flaky revisions", Color(251, 140, 0)),
        vec![
            "command",
            "flaky revisions",
            "passed",
            "failed",
            "revisions",
        ],
        flaky
            .into_iter()
            .map(|(label, (count, revisions, passed, failed))| {
                let mut shown: Vec<String> = revisions
                    .iter()
                    .take(REVISIONS_SHOWN)
                    .map(|r| r.chars().take(12).collect())
                    .collect();
                if revisions.len() > REVISIONS_SHOWN {
                    shown.push(format!("and {} more", revisions.len() - REVISIONS_SHOWN));
                }
                let cells = vec![
                    Cell::Count(count as u64),
                    Cell::Count(passed),
                    Cell::Count(failed),
                    Cell::text(shown.join(" ")),
                ];
                (label.to_string(), count as f64, cells)
            })
            .collect(),
    )
}

/// The last failed runs, newest first, with the line that matched: a table.
pub fn latest_failures(runs: &[ReportRun]) -> Part {
    let rows: Vec<Vec<Cell>> = runs
        .iter()
        .map(|run| {
            let or_empty =
                |value: &Option<String>| value.clone().map_or(Cell::Absent(""), Cell::Text);
            vec![
                Cell::text(
                    run.timestamp
                        .chars()
                        .take(19)
                        .collect::<String>()
                        .replace('T', " "),
                ),
                Cell::text(run.label.clone()),
                Cell::text(run.outcome.label()),
                or_empty(&run.branch),
                or_empty(&run.first_line),
                match &run.run_url {
                    Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                        Cell::Link {
                            text: "job".into(),
                            url: url.clone(),
                        }
                    }
                    _ => Cell::Absent(""),
                },
            ]
        })
        .collect();
    Part::Table {
        lead: String::new(),
        table: Table {
            id: "latest-failures",
            heading: "Latest failures",
            columns: vec![
                "started (UTC)",
                "command",
                "outcome",
                "branch",
                "matched line",
                "CI job",
            ],
            rows,
            text: true,
        },
    }
}
