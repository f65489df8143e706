//! The default sink: one row per run in `executions` and one per match in `match_events`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::recording::privacy::Detail;
use crate::recording::record::RunRecord;
use crate::store::{Store, StoreError};

#[derive(Debug)]
pub struct SqliteSink {
    path: PathBuf,
    wal_mode: bool,
    retention_days: u32,
    detail: Detail,
    /// Opened once, on the exporting thread: early, while the command runs (see
    /// `set_resource`), or at the first export. A failure to open is kept and reported at
    /// the export, not tried again: a locked database must cost its busy timeout only once.
    store: Mutex<Option<Opened>>,
}

/// The database, or why it could not be opened (shared: it is reported at every export).
type Opened = Result<Store, Arc<StoreError>>;

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

    /// The store slot. A panic elsewhere while it was held leaves nothing half-written in it.
    fn lock_store(&self) -> MutexGuard<'_, Option<Opened>> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens the database unless that was done (or tried) already, and does all the work
    /// that does not need the run's record: retention and compiling the inserts.
    fn open(&self) -> MutexGuard<'_, Option<Opened>> {
        let mut guard = self.lock_store();
        if guard.is_none() {
            let mut opened = Store::open(&self.path, self.wal_mode).map_err(Arc::new);
            if let Ok(store) = &mut opened {
                // Housekeeping: a failure here shows again, and is reported, at the insert.
                let _ = store.apply_retention(self.retention_days, SystemTime::now());
                let _ = store.prepare_insert();
            }
            *guard = Some(opened);
        }
        guard
    }

    fn write(&self, runs: &[RunRecord]) -> Result<(), Arc<StoreError>> {
        match self.open().as_mut() {
            Some(Ok(store)) => store.insert(runs).map(drop).map_err(Arc::new),
            Some(Err(error)) => Err(error.clone()),
            None => unreachable!("open() fills the slot"),
        }
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

    /// Called before the first export: as the provider is made once the command has started,
    /// and, where a remote sink exports on the batch thread, by `Telemetry::start` before.
    /// Opening the database here (about 0.4 ms) overlaps with the command instead of
    /// following it.
    fn set_resource(&mut self, _resource: &opentelemetry_sdk::Resource) {
        drop(self.open());
    }
}
