//! `telemetry report`: one self-contained HTML page of the period's runs.

use std::io::Write;
use std::path::Path;

use super::{open, CommandError, Since};
use crate::config::TelemetrySettings;
use crate::telemetry::report;

/// Where the page goes when `-o` does not say.
const DEFAULT_REPORT: &str = "earlyexit-report.html";

pub fn write_report(
    settings: &TelemetrySettings,
    since: &Since,
    output: Option<&Path>,
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
    println!("wrote {} ({} runs {period})", path.display(), runs.len());
    Ok(())
}
