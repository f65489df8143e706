//! `telemetry stats`: counts, run times, the frequent patterns and commands, and the time that
//! stopping early saved.

use std::io::Write;
use std::time::SystemTime;

use serde::Serialize;

use super::{open, CommandError, Shown};
use crate::analysis::savings::{self, Savings};
use crate::config::TelemetrySettings;
use crate::store::{Stats, Tally};

#[derive(Serialize)]
#[serde(untagged)]
pub enum StatsReport {
    /// No database yet: nothing has been recorded.
    NoDatabase { runs: i64, database: String },
    Recorded {
        #[serde(flatten)]
        stats: Stats,
        time_saved: Savings,
    },
}

pub fn stats(
    settings: &TelemetrySettings,
    since: Option<SystemTime>,
) -> Result<StatsReport, CommandError> {
    let Some(store) = open(settings)? else {
        return Ok(StatsReport::NoDatabase {
            runs: 0,
            database: settings.sqlite.path.display().to_string(),
        });
    };
    Ok(StatsReport::Recorded {
        stats: store.stats(since)?,
        time_saved: savings::from_timings(&store.run_timings(since)?),
    })
}

impl Shown for StatsReport {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let (stats, saved) = match self {
            StatsReport::NoDatabase { database, .. } => {
                return writeln!(out, "no runs recorded yet ({database} does not exist)");
            }
            StatsReport::Recorded { stats, time_saved } => (stats, time_saved),
        };
        let list = |rows: &[Tally]| {
            let items: Vec<String> = rows
                .iter()
                .map(|t| format!("{} {}", t.value, t.count))
                .collect();
            items.join(", ")
        };
        let seconds = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |s| format!("{s:.2}s"));
        writeln!(
            out,
            "runs: {}, match events: {}",
            stats.runs, stats.match_events
        )?;
        writeln!(out, "by outcome: {}", list(&stats.by_outcome))?;
        writeln!(out, "by exit reason: {}", list(&stats.by_exit_reason))?;
        writeln!(out, "by project type: {}", list(&stats.by_project_type))?;
        let (p50, p95) = (seconds(stats.runtime_p50), seconds(stats.runtime_p95));
        writeln!(out, "run time: p50 {p50}, p95 {p95}")?;
        for (title, rows) in [
            ("most frequent patterns:", &stats.top_patterns),
            ("most frequent commands:", &stats.top_commands),
        ] {
            writeln!(out, "{title}")?;
            for Tally { value, count } in rows {
                writeln!(out, "  {count:6}  {}", one_line(value))?;
            }
        }
        write_savings(saved, out)
    }
}

/// A label on one line of the table: a command with newlines or tabs in it (`sh -c` with a
/// script) keeps them as `\n` and `\t`, so that each row stays a row.
fn one_line(label: &str) -> String {
    let mut line = String::with_capacity(label.len());
    for c in label.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

/// The time-saved lines: the total, what it rests on, and each command.
fn write_savings(savings: &Savings, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "time saved: {:.2}s by {} run(s) stopped early ({} more without an estimate: fewer than {} runs of the command ended on their own); hangs stopped: {} ({:.2}s allowed)",
        savings.saved_seconds,
        savings.estimated_runs,
        savings.unknown_runs,
        savings::MIN_COMPLETE_RUNS,
        savings.hangs_stopped,
        savings.hang_seconds,
    )?;
    if savings.by_command.is_empty() {
        return Ok(());
    }
    writeln!(out, "time saved by command:")?;
    for command in &savings.by_command {
        let saved = command
            .saved_seconds
            .map_or_else(|| "unknown".to_string(), |s| format!("{s:.2}s"));
        let baseline = command
            .complete_median_seconds
            .map_or_else(String::new, |m| format!(", median {m:.2}s"));
        writeln!(
            out,
            "  {saved:>9}  {} ({} stopped early, {} hang(s); {} complete run(s){baseline})",
            one_line(&command.command),
            command.stopped_runs,
            command.hangs_stopped,
            command.complete_runs
        )?;
    }
    Ok(())
}
