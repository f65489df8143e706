//! `telemetry report`: one self-contained HTML page of the period's runs, or its figures as
//! JSON.

use std::io::Write;
use std::path::Path;

use super::{open, CommandError, Since};
use crate::analysis::report::{self, Filter};
use crate::config::TelemetrySettings;

/// Where the page goes when `-o` does not say.
const DEFAULT_REPORT: &str = "earlyexit-report.html";

/// Writes the page, or with `json` its figures as one JSON object (to stdout unless `output`
/// names a file).
pub fn write_report(
    settings: &TelemetrySettings,
    since: &Since,
    filter: &Filter,
    output: Option<&Path>,
    json: bool,
) -> Result<(), CommandError> {
    let Some(store) = open(settings)? else {
        return Err(CommandError::NoDatabase(settings.sqlite.path.clone()));
    };
    let database = settings.sqlite.path.display().to_string();
    let page = report::from_store(&store, since.start, &since.text, filter, &database)?;
    let (text, default) = if json {
        (format!("{}\n", page.json()), "-")
    } else {
        (page.html(), DEFAULT_REPORT)
    };
    let path = output.unwrap_or(Path::new(default));
    if path.as_os_str() == "-" {
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return Ok(());
    }
    // The page holds command lines: private unless the user named where it goes.
    let written = match output {
        Some(_) => std::fs::write(path, &text),
        None => {
            crate::files::create_private(path).and_then(|mut file| file.write_all(text.as_bytes()))
        }
    };
    written.map_err(|source| CommandError::File {
        path: path.to_path_buf(),
        source,
    })?;
    println!(
        "wrote {} ({} runs {})",
        path.display(),
        page.runs,
        page.period
    );
    Ok(())
}
