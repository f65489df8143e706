//! `telemetry report`: one self-contained HTML page of the period's runs.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use super::{open, CommandError, Since};
use crate::analysis::report::{self, Filter, ReportRun};
use crate::config::TelemetrySettings;

/// Where the page goes when `-o` does not say.
const DEFAULT_REPORT: &str = "earlyexit-report.html";

pub fn write_report(
    settings: &TelemetrySettings,
    since: &Since,
    filter: &Filter,
    output: Option<&Path>,
) -> Result<(), CommandError> {
    let start = since.start;
    let Some(store) = open(settings)? else {
        return Err(CommandError::NoDatabase(settings.sqlite.path.clone()));
    };
    let length = SystemTime::now().duration_since(start).unwrap_or_default();
    let before = crate::timestamp::before(start, length);
    let period_start = crate::timestamp::millis(start);
    let (period, previous): (Vec<ReportRun>, Vec<ReportRun>) = store
        .report_runs(Some(before))?
        .into_iter()
        .filter(|run| filter.keeps(run))
        .partition(|run| run.timestamp >= period_start);
    let mut timings = store.run_timings(Some(start))?;
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
        "since {} (--since {}){}",
        crate::timestamp::seconds(start),
        since.text,
        if described.is_empty() {
            String::new()
        } else {
            format!(", {described}")
        }
    );
    let database = settings.sqlite.path.display().to_string();
    let page = report::render(
        &report::Scope {
            database: &database,
            period: &period_text,
        },
        &report::Runs {
            period: &period,
            previous: &previous,
            timings: &timings,
        },
    );
    let path = output.unwrap_or(Path::new(DEFAULT_REPORT));
    if path.as_os_str() == "-" {
        let _ = std::io::stdout().lock().write_all(page.as_bytes());
        return Ok(());
    }
    // The page holds command lines: private unless the user named where it goes.
    let written = match output {
        Some(_) => std::fs::write(path, page),
        None => {
            crate::files::create_private(path).and_then(|mut file| file.write_all(page.as_bytes()))
        }
    };
    written.map_err(|source| CommandError::File {
        path: path.to_path_buf(),
        source,
    })?;
    println!(
        "wrote {} ({} runs {period_text})",
        path.display(),
        period.len()
    );
    Ok(())
}
