//! `telemetry export` and `telemetry import`: runs out of one database as JSON Lines in the
//! HTTP API's envelope, and into another.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{open, CommandError, ImportProblem};
use crate::config::TelemetrySettings;
use crate::telemetry::record::RunRecord;
use crate::telemetry::store::Store;

pub fn export(settings: &TelemetrySettings, since: Option<SystemTime>) -> Result<(), CommandError> {
    let Some(store) = open(settings)? else {
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    for run in store.runs_since(since)? {
        for envelope in run.envelopes() {
            if writeln!(out, "{envelope}").is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The envelopes of one export file, plain or gzip (by its first two bytes), each line one
/// JSON object; a line that is not names the file and line.
fn read_export(path: &Path) -> Result<Vec<serde_json::Value>, CommandError> {
    use std::io::Read;
    let failed = |problem| CommandError::Import {
        path: path.to_path_buf(),
        problem,
    };
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut bytes))
    }
    .map_err(|e| failed(ImportProblem::Read(e)))?;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .map_err(|e| failed(ImportProblem::Gzip(e)))?;
        text
    } else {
        String::from_utf8(bytes).map_err(|_| failed(ImportProblem::NotText))?
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .filter(|envelope| envelope["type"].is_string() && envelope["data"].is_object())
                .ok_or_else(|| CommandError::NotAnEnvelope {
                    path: path.to_path_buf(),
                    line: index + 1,
                })
        })
        .collect()
}

pub fn import(settings: &TelemetrySettings, files: &[PathBuf]) -> Result<(), CommandError> {
    let mut envelopes = Vec::new();
    for path in files {
        envelopes.extend(read_export(path)?);
    }
    let read = RunRecord::from_envelopes(&envelopes);
    for warning in &read.warnings {
        eprintln!("earlyexit: import: {warning}");
    }
    let mut store = Store::open(&settings.sqlite.path, settings.sqlite.wal_mode)?;
    let added = store.insert(&read.runs)?;
    println!(
        "imported {added} run(s) into {} ({} already there)",
        settings.sqlite.path.display(),
        read.runs.len() - added
    );
    Ok(())
}
