//! The remote sink, for the HTTP API and OTLP alike: it commits the run's remote copy to the
//! outbox and then either delivers it within the remote's timeout or hands the outbox to the
//! background sender (see `telemetry::delivery`). When the outbox cannot be opened (a locked
//! or broken database, a full disk) it still tries to send the run directly, without a second
//! chance.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::telemetry::delivery::{self, Courier, NotDelivered, Transport};
use crate::telemetry::privacy::Detail;
use crate::telemetry::store::{Queued, Store, StoreError};

/// Whether a run waits for its remote copy to be delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum Waiting {
    /// Deliver within the remote's timeout before the run exits (the default).
    Wait,
    /// Commit and exit; the background sender delivers (`http.async`, `fire_and_forget`).
    /// It reads this config file, when one was named on the command line.
    Background { config: Option<PathBuf> },
}

#[derive(Debug)]
pub struct RemoteSink {
    transport: Transport,
    detail: Detail,
    /// The database whose outbox holds what is not yet delivered.
    outbox: PathBuf,
    wal_mode: bool,
    batch_size: usize,
    waiting: Waiting,
    /// What the remote said, for `telemetry.debug`.
    notes: Mutex<Vec<String>>,
}

impl RemoteSink {
    pub fn new(
        transport: Transport,
        detail: Detail,
        outbox: PathBuf,
        wal_mode: bool,
        batch_size: usize,
        waiting: Waiting,
    ) -> RemoteSink {
        RemoteSink {
            transport,
            detail,
            outbox,
            wal_mode,
            batch_size,
            waiting,
            notes: Mutex::new(Vec::new()),
        }
    }

    pub fn name(&self) -> String {
        self.transport.remote().to_string()
    }

    /// Lines for `telemetry.debug`: what the remote answered.
    pub fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    fn note(&self, lines: Vec<String>) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.extend(lines);
        }
    }

    async fn deliver(&self, rows: Vec<(String, String)>) -> Result<(), NotDelivered> {
        let own = rows[0].0.clone();
        let deadline = Instant::now() + self.transport.timeout();
        let mut store = match Store::open(&self.outbox, self.wal_mode).and_then(|mut store| {
            store
                .enqueue(self.transport.remote(), &rows)
                .map(|()| store)
        }) {
            Ok(store) => store,
            Err(error) => return self.send_without_outbox(rows, deadline, error).await,
        };
        match &self.waiting {
            Waiting::Background { config } => {
                delivery::start_background_sender(&self.outbox, config.as_deref())
                    .map(drop)
                    .map_err(NotDelivered::NoSender)
            }
            Waiting::Wait => {
                let mut courier = Courier {
                    store: &mut store,
                    transport: &self.transport,
                    batch_size: self.batch_size,
                };
                let notes = courier.deliver_run(&own, deadline).await?;
                self.note(notes);
                Ok(())
            }
        }
    }

    async fn send_without_outbox(
        &self,
        rows: Vec<(String, String)>,
        deadline: Instant,
        outbox_error: StoreError,
    ) -> Result<(), NotDelivered> {
        let rows: Vec<Queued> = rows
            .into_iter()
            .map(|(execution_id, payload)| Queued {
                execution_id,
                payload,
            })
            .collect();
        match self.transport.send(&rows, deadline).await {
            Ok(notes) => {
                self.note(notes);
                Ok(())
            }
            Err(source) => Err(NotDelivered::NotKept {
                source,
                outbox: outbox_error,
            }),
        }
    }
}

impl SpanExporter for RemoteSink {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let rows: Vec<(String, String)> = batch
            .iter()
            .filter_map(|span| self.transport.payload(span, self.detail))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        self.deliver(rows)
            .await
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.transport.set_resource(resource);
    }
}
