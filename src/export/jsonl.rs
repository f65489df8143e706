//! JSON Lines in the HTTP API's event envelope, appended; rotated by size, optionally gzipped.
//!
//! Parallel runs append to the same file: each run writes its lines with one `write` while
//! holding an exclusive lock on the file, so lines never interleave. Rotation happens under the
//! same lock; a writer that waited on the lock of a file that was rotated meanwhile notices
//! (the path now names another file) and starts over on the new one.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::write::GzEncoder;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::config::telemetry::Compression;
use crate::recording::privacy::Detail;
use crate::recording::record::RunRecord;

#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    rotate_bytes: u64,
    compression: Compression,
    detail: Detail,
}

impl JsonlSink {
    pub fn new(
        path: PathBuf,
        rotate_size_mb: f64,
        compression: Compression,
        detail: Detail,
    ) -> JsonlSink {
        JsonlSink {
            path,
            rotate_bytes: (rotate_size_mb * 1_000_000.0) as u64,
            compression,
            detail,
        }
    }

    /// Appends `bytes` (whole lines), rotating first if they would push the file past the limit.
    /// The record is written whole or not at all: after a short or failed write (a full disk)
    /// the file is cut back to where it ended, so the next record starts on a line of its own.
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::files::private_directory(parent)?;
        }
        loop {
            let mut file = crate::files::append_private(&self.path)?;
            file.lock()?;
            // Another run may have rotated the file between our open and our lock: the path
            // then names another file, or none yet. Start over on whatever it names now.
            let current = match std::fs::metadata(&self.path) {
                Ok(current) => current,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            let ours = file.metadata()?;
            if (current.dev(), current.ino()) != (ours.dev(), ours.ino()) {
                continue;
            }
            if ours.len() > 0 && ours.len() + bytes.len() as u64 > self.rotate_bytes {
                self.rotate()?;
                continue;
            }
            return file.write_all(bytes).inspect_err(|_| {
                // Best effort: if even this fails, the torn tail is what the disk allowed.
                let _ = file.set_len(ours.len());
            });
        }
    }

    /// Renames the full file aside (`telemetry.jsonl` → `telemetry.20261128T120455.123Z.jsonl`),
    /// gzipping it when configured. Called with the file's lock held.
    fn rotate(&self) -> io::Result<()> {
        let stamp = crate::timestamp::millis(SystemTime::now()).replace([':', '-'], "");
        let stem = self.path.file_stem().unwrap_or_default().to_string_lossy();
        let extension = self
            .path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        // Two rotations within one millisecond would share a name, and the second rename
        // would replace the first file: a counter keeps them apart. Rotations are serialised
        // by the lock on the current file, so the name checked is still free at the rename.
        let rotated = (0..)
            .map(|n| {
                let counter = if n == 0 {
                    String::new()
                } else {
                    format!("-{n}")
                };
                self.path
                    .with_file_name(format!("{stem}.{stamp}{counter}{extension}"))
            })
            .find(|name| !name.exists() && !gzipped_name(name).exists())
            .expect("some counter is free");
        std::fs::rename(&self.path, &rotated)?;
        if self.compression == Compression::Gzip {
            gzip(&rotated)?;
        }
        Ok(())
    }
}

fn gzipped_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

fn gzip(path: &Path) -> io::Result<()> {
    let mut input = File::open(path)?;
    let output = crate::files::create_private(&gzipped_name(path))?;
    let mut encoder = GzEncoder::new(output, flate2::Compression::default());
    io::copy(&mut input, &mut encoder)?;
    encoder.finish()?.sync_all()?;
    std::fs::remove_file(path)
}

impl SpanExporter for JsonlSink {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut bytes = Vec::new();
        for run in batch
            .iter()
            .filter_map(|span| RunRecord::from_span(span, self.detail))
        {
            for envelope in run.envelopes() {
                bytes.extend_from_slice(envelope.to_string().as_bytes());
                bytes.push(b'\n');
            }
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.append(&bytes)
            .map_err(|e| OTelSdkError::InternalFailure(format!("{}: {e}", self.path.display())))
    }
}
