//! JSON Lines in the HTTP API's event envelope, appended; rotated by size, optionally gzipped.
//!
//! Parallel runs append to the same file: each run writes its lines with one `write` while
//! holding an exclusive lock on the file, so lines never interleave. Rotation happens under the
//! same lock; a writer that waited on the lock of a file that was rotated meanwhile notices
//! (the path now names another file) and starts over on the new one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::write::GzEncoder;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::config::telemetry::Compression;
use crate::telemetry::privacy::Detail;
use crate::telemetry::record::RunRecord;

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
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        loop {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            file.lock()?;
            let current = std::fs::metadata(&self.path)?;
            let ours = file.metadata()?;
            if (current.dev(), current.ino()) != (ours.dev(), ours.ino()) {
                continue;
            }
            if ours.len() > 0 && ours.len() + bytes.len() as u64 > self.rotate_bytes {
                self.rotate()?;
                continue;
            }
            file.write_all(bytes)?;
            return Ok(());
        }
    }

    /// Renames the full file aside (`telemetry.jsonl` → `telemetry.20261128T120455.123Z.jsonl`),
    /// gzipping it when configured. Called with the file's lock held.
    fn rotate(&self) -> io::Result<()> {
        let stamp = humantime::format_rfc3339_millis(SystemTime::now())
            .to_string()
            .replace([':', '-'], "");
        let stem = self.path.file_stem().unwrap_or_default().to_string_lossy();
        let extension = self
            .path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let rotated = self
            .path
            .with_file_name(format!("{stem}.{stamp}{extension}"));
        std::fs::rename(&self.path, &rotated)?;
        if self.compression == Compression::Gzip {
            gzip(&rotated)?;
        }
        Ok(())
    }
}

fn gzip(path: &Path) -> io::Result<()> {
    let mut gzipped_name = path.as_os_str().to_owned();
    gzipped_name.push(".gz");
    let mut input = File::open(path)?;
    let output = File::create(&gzipped_name)?;
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
