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

use crate::config::TelemetrySettings;
use crate::delivery::{self, Courier, NotDelivered, Transport};
use crate::recording::privacy::Detail;
use crate::store::{Queued, Store, StoreError};

/// Whether a run waits for its remote copy to be delivered.
#[derive(Debug, Clone, PartialEq)]
enum Waiting {
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
    /// The sink that sends through `transport` as the settings say: at the remote detail
    /// level, through the outbox in the SQLite database, waiting or in the background.
    pub fn new(transport: Transport, settings: &TelemetrySettings) -> RemoteSink {
        let waiting = if settings.http.send_wait.in_background() {
            Waiting::Background {
                config: settings.config_file.clone(),
            }
        } else {
            Waiting::Wait
        };
        RemoteSink {
            transport,
            detail: settings.remote_detail,
            outbox: settings.sqlite.path.clone(),
            wal_mode: settings.sqlite.wal_mode,
            batch_size: settings.http.batch_size.get(),
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

    async fn deliver(
        &self,
        rows: Vec<(String, String)>,
        kept: &(dyn Fn() + Sync),
    ) -> Result<(), NotDelivered> {
        let own = rows[0].0.clone();
        let deadline = Instant::now() + self.transport.timeout();
        let mut store = match Store::open(&self.outbox, self.wal_mode).and_then(|mut store| {
            store
                .enqueue(self.transport.remote(), &rows)
                .map(|()| store)
        }) {
            Ok(store) => store,
            Err(error) => {
                // Nothing more can be kept: the outbox is out of reach.
                kept();
                return self.send_without_outbox(rows, deadline, error).await;
            }
        };
        kept();
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
                    set_aside: 0,
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

impl RemoteSink {
    /// Commits the batch to the outbox, calls `kept`, then sends (or leaves the sending to
    /// the background sender).
    pub async fn export_then_send(
        &self,
        batch: Vec<SpanData>,
        kept: &(dyn Fn() + Sync),
    ) -> OTelSdkResult {
        let rows: Vec<(String, String)> = batch
            .iter()
            .filter_map(|span| self.transport.payload(span, self.detail))
            .collect();
        if rows.is_empty() {
            kept();
            return Ok(());
        }
        self.deliver(rows, kept)
            .await
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }
}

impl SpanExporter for RemoteSink {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.export_then_send(batch, &|| {}).await
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.transport.set_resource(resource);
    }
}
