//! `telemetry export` and `telemetry import`: runs out of one database as JSON Lines in the
//! HTTP API's envelope, and into another.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{open, CommandError, ImportProblem};
use crate::config::TelemetrySettings;
use crate::recording::envelopes::Envelope;
use crate::recording::record::RunRecord;
use crate::store::Store;

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

/// How much of an import is held at once, so that no file (a gzip bomb, `/dev/zero`, a line
/// without end) makes the command grow without bound.
#[derive(Debug, Clone, Copy)]
struct ImportLimits {
    /// The longest line: an export's lines are a run or one match, a few kilobytes.
    line: usize,
    /// Envelopes are stored once this much text is held and the next run begins.
    batch: usize,
    /// The most text read from one file, after decompression.
    file: u64,
}

const LIMITS: ImportLimits = ImportLimits {
    line: 1024 * 1024,
    batch: 4 * 1024 * 1024,
    file: 16 * 1024 * 1024 * 1024,
};

/// Warnings an import prints; the rest are counted (a file of millions of bad lines would
/// otherwise print millions of lines).
const SHOWN_WARNINGS: usize = 20;

/// What an import came to.
#[derive(Debug, Default)]
struct Imported {
    added: usize,
    already: usize,
    /// Envelopes or runs skipped, each with a warning (shown or counted).
    skipped: usize,
}

impl Imported {
    /// One envelope or run skipped: said while fewer than [`SHOWN_WARNINGS`] were.
    fn skip(&mut self, warning: std::fmt::Arguments) {
        if self.skipped < SHOWN_WARNINGS {
            crate::message::say(format_args!("import: {warning}"));
        }
        self.skipped += 1;
    }
}

/// Stores one file's runs, batch by batch, as they are read: plain or gzip (by its first two
/// bytes), each line one JSON envelope. A line that is not names the file and line and stops
/// the import; an envelope of the wrong shape is a warning that names them too.
fn import_file(
    path: &Path,
    store: &mut Store,
    limits: ImportLimits,
    imported: &mut Imported,
) -> Result<(), CommandError> {
    use std::io::{BufRead, BufReader, Read};
    let failed = |problem| CommandError::Import {
        path: path.to_path_buf(),
        problem,
    };
    let input: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(|e| failed(ImportProblem::Read(e)))?)
    };
    let mut input = BufReader::new(input);
    let gzip = input
        .fill_buf()
        .map_err(|e| failed(ImportProblem::Read(e)))?
        .starts_with(&[0x1f, 0x8b]);
    let text: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut lines = BufReader::new(text.take(limits.file + 1));
    let mut batch = Batch::default();
    let mut total = 0u64;
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = (&mut lines)
            .take(limits.line as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| {
                failed(if gzip {
                    ImportProblem::Gzip(e)
                } else {
                    ImportProblem::Read(e)
                })
            })?;
        if read == 0 {
            break;
        }
        total += read as u64;
        if total > limits.file {
            return Err(failed(ImportProblem::TooLarge(limits.file)));
        }
        if line.len() > limits.line && !line.ends_with(b"\n") {
            return Err(CommandError::LineTooLong {
                path: path.to_path_buf(),
                line: number,
                limit: limits.line,
            });
        }
        let text = std::str::from_utf8(&line).map_err(|_| failed(ImportProblem::NotText))?;
        if text.trim().is_empty() {
            continue;
        }
        let starts_run = match serde_json::from_str::<Envelope>(text) {
            Ok(envelope) if envelope.is_whole() => envelope.kind.as_deref() == Some("execution"),
            _ => {
                return Err(CommandError::NotAnEnvelope {
                    path: path.to_path_buf(),
                    line: number,
                })
            }
        };
        if starts_run && batch.text >= limits.batch {
            batch.store(path, store, imported)?;
        }
        batch.push(text, number);
    }
    batch.store(path, store, imported)
}

/// Envelopes read but not yet stored (their lines' text, each checked to be an envelope),
/// with their line numbers.
#[derive(Default)]
struct Batch {
    envelopes: Vec<String>,
    lines: Vec<usize>,
    text: usize,
}

impl Batch {
    fn push(&mut self, envelope: &str, line: usize) {
        self.envelopes.push(envelope.to_string());
        self.lines.push(line);
        self.text += envelope.len();
    }

    fn store(
        &mut self,
        path: &Path,
        store: &mut Store,
        imported: &mut Imported,
    ) -> Result<(), CommandError> {
        // Each line was read as an envelope when it was pushed.
        let envelopes: Vec<Envelope> = self
            .envelopes
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect();
        let read = RunRecord::from_envelopes(&envelopes);
        for warning in &read.warnings {
            let line = self.lines.get(warning.index).copied().unwrap_or_default();
            imported.skip(format_args!(
                "{}:{line}: {}",
                path.display(),
                warning.problem
            ));
        }
        imported.skipped += read.unlisted();
        let now = SystemTime::now();
        let mut runs = Vec::with_capacity(read.runs.len());
        for run in read.runs {
            let execution_id = run.execution.execution_id.clone();
            match run.checked(now) {
                Ok(run) => runs.push(run),
                Err(problem) => imported.skip(format_args!(
                    "{}: run {execution_id}: {problem}",
                    path.display()
                )),
            }
        }
        let added = store.insert(&runs)?;
        imported.added += added;
        imported.already += runs.len() - added;
        *self = Batch::default();
        Ok(())
    }
}

pub fn import(settings: &TelemetrySettings, files: &[PathBuf]) -> Result<(), CommandError> {
    let mut store = Store::open(&settings.sqlite.path, settings.sqlite.wal_mode)?;
    let mut imported = Imported::default();
    for path in files {
        import_file(path, &mut store, LIMITS, &mut imported)?;
    }
    if imported.skipped > SHOWN_WARNINGS {
        crate::message::say(format_args!(
            "import: {} more warning(s) not shown ({} envelope(s) or run(s) skipped in all)",
            imported.skipped - SHOWN_WARNINGS,
            imported.skipped
        ));
    }
    if imported.added + imported.already == 0 && imported.skipped > 0 {
        return Err(CommandError::NothingImported(imported.skipped));
    }
    println!(
        "imported {} run(s) into {} ({} already there)",
        imported.added,
        settings.sqlite.path.display(),
        imported.already
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `import_file` with limits small enough to reach in a test: the file's total and the
    /// line's length each stop the import with an error that names them.
    #[test]
    fn the_limits_stop_an_import_and_say_where() {
        let directory = std::env::temp_dir().join(format!("import-limits-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let mut store = Store::open(&directory.join("t.db"), true).unwrap();
        let small = ImportLimits {
            line: 16,
            batch: 64,
            file: 40,
        };
        let mut imported = Imported::default();
        let blank = directory.join("blank.jsonl");
        std::fs::write(&blank, "\n".repeat(41)).unwrap();
        let error = import_file(&blank, &mut store, small, &mut imported).unwrap_err();
        assert!(
            matches!(
                &error,
                CommandError::Import {
                    problem: ImportProblem::TooLarge(40),
                    ..
                }
            ),
            "{error}"
        );
        let long = directory.join("long.jsonl");
        std::fs::write(&long, format!("\n\n{}\n", "x".repeat(17))).unwrap();
        let error = import_file(&long, &mut store, small, &mut imported).unwrap_err();
        assert!(
            matches!(
                &error,
                CommandError::LineTooLong {
                    line: 3,
                    limit: 16,
                    ..
                }
            ),
            "{error}"
        );
        std::fs::write(&long, format!("{}\n", " ".repeat(15))).unwrap();
        assert!(import_file(&long, &mut store, small, &mut imported).is_ok());
        std::fs::remove_dir_all(directory).unwrap();
    }
}
