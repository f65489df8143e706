//! `telemetry report`: one self-contained HTML page of the period's runs.

use std::io::Write;
use std::path::Path;

use super::{open, CommandError, Since};
use crate::config::TelemetrySettings;
use crate::telemetry::report;

pub fn write_report(
    settings: &TelemetrySettings,
    since: &Since,
    output: &Path,
) -> Result<(), CommandError> {
    let start = since.start;
    let Some(store) = open(settings)? else {
        return Err(CommandError::NoDatabase(settings.sqlite.path.clone()));
    };
    let runs = store.report_runs(Some(start))?;
    let timings = store.run_timings(Some(start))?;
    let period = format!(
        "since {} (--since {})",
        crate::timestamp::seconds(start),
        since.text
    );
    let database = settings.sqlite.path.display().to_string();
    let page = report::render(
        &report::Scope {
            database: &database,
            period: &period,
        },
        &runs,
        &timings,
    );
    if output.as_os_str() == "-" {
        let _ = std::io::stdout().lock().write_all(page.as_bytes());
        return Ok(());
    }
    std::fs::write(output, page).map_err(|source| CommandError::File {
        path: output.to_path_buf(),
        source,
    })?;
    println!("wrote {} ({} runs {period})", output.display(), runs.len());
    Ok(())
}
