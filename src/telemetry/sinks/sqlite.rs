//! The default sink: one row per run in `executions` and one per match in `match_events`.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::telemetry::privacy::Detail;
use crate::telemetry::record::RunRecord;
use crate::telemetry::store::{Store, StoreError};

#[derive(Debug)]
pub struct SqliteSink {
    path: PathBuf,
    wal_mode: bool,
    retention_days: u32,
    detail: Detail,
    /// Opened on the first export, on the exporter's thread, so a run that records nothing
    /// never touches the file.
    store: Mutex<Option<Store>>,
}

impl SqliteSink {
    pub fn new(path: PathBuf, wal_mode: bool, retention_days: u32, detail: Detail) -> SqliteSink {
        SqliteSink {
            path,
            wal_mode,
            retention_days,
            detail,
            store: Mutex::new(None),
        }
    }

    fn write(&self, runs: &[RunRecord]) -> Result<(), StoreError> {
        let mut guard = self
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            *guard = Some(Store::open(&self.path, self.wal_mode)?);
        }
        let store = guard.as_mut().expect("opened above");
        store.insert(runs)?;
        store.apply_retention(self.retention_days, SystemTime::now())
    }
}

impl SpanExporter for SqliteSink {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let runs: Vec<RunRecord> = batch
            .iter()
            .filter_map(|span| RunRecord::from_span(span, self.detail))
            .collect();
        self.write(&runs)
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }
}
