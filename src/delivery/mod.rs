//! The one delivery path for every remote, the HTTP API and OTLP alike.
//!
//! **Commit, then send.** A run's remote copy is committed to the outbox table of the local
//! database before any network I/O. **Claim, then send.** A sender claims a batch of rows in
//! one write transaction, with a lease that lapses shortly after its own deadline, sends the
//! batch, and deletes the rows only once the remote has accepted them; on failure it releases
//! them for the next sender. So two senders never hold the same row, and a sender that dies
//! mid-send loses nothing: its rows become claimable again when the lease lapses.
//!
//! A run either waits for its own row's delivery (within the remote's timeout, and sends any
//! backlog in the same time) or, with `http.async` / `http.fire_and_forget`, hands the outbox
//! to one detached `earlyexit telemetry sync --background`, which holds the outbox's sender
//! lock: a hundred runs started together start one sender.
//!
//! The transports sit side by side: the HTTP API's in [`http`], OTLP's in
//! `otlp` (with its gRPC connector, `quick_ack`), both trusting as [`tls`] says, as does the
//! team server's connection to PostgreSQL (`postgres_tls`).
//!
//! May import: `store` (the outbox), `recording` (what a run's payload is), `config` and the
//! leaves.

mod background;
mod courier;
pub mod http;
mod otlp;
mod postgres_tls;
mod quick_ack;
pub mod tls;

use std::io;
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::{SpanData, SpanEvents};
use opentelemetry_sdk::Resource;

use crate::config::telemetry::{Remote, TelemetrySettings};
use crate::recording::attributes as attr;
use crate::recording::privacy::{self, Detail};
use crate::recording::record::RunRecord;
use crate::recording::stored_span::StoredSpan;
use crate::store::{Queued, StoreError};
pub use background::{start_background_sender, SenderLock};
pub use courier::{Courier, Drained};
use http::{Endpoint, PostError};
pub use otlp::{ExportError, OtlpLogs, OtlpTransport};
pub use postgres_tls::postgres_connector;

/// How a remote is reached.
#[derive(Debug)]
pub enum Transport {
    Http(HttpTransport),
    /// Boxed: the exporter is large, and a process has at most one.
    Otlp(Box<OtlpTransport>),
}

/// The HTTP API: `POST /api/v1/events`.
#[derive(Debug)]
pub struct HttpTransport {
    pub endpoint: Endpoint,
    pub timeout: Duration,
    pub retry_attempts: u32,
    /// The request's `client.anonymized`.
    pub anonymized: bool,
}

/// Why a remote cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no endpoint: give --endpoint URL or set EARLYEXIT_TELEMETRY_ENDPOINT")]
    NoEndpoint,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a batch did not reach its remote.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Http(#[from] PostError),
    #[error(transparent)]
    Otlp(#[from] ExportError),
    #[error("an outbox payload cannot be read: {0}")]
    Unreadable(String),
}

impl SendError {
    /// The remote refused what it was sent, for good (malformed, too large, a store that
    /// cannot hold it), rather than being unreachable, busy or not letting this key in: sent
    /// again, the same runs would be refused again.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            SendError::Http(PostError::Rejected {
                status: 400 | 413 | 415 | 422,
                ..
            })
        )
    }
}

/// A batch's payloads, each read once: the HTTP API's event envelopes, or the spans.
enum Payloads {
    Http(Vec<serde_json::Value>),
    Otlp(Vec<SpanData>),
}

/// Rows read for sending: what their remote is sent, how many runs that is, and the rows that
/// cannot be read, each with why.
struct ReadRows {
    payloads: Payloads,
    runs: usize,
    unreadable: Vec<(String, String)>,
}

/// Why a run's own remote copy was not delivered before it exited.
#[derive(Debug, thiserror::Error)]
pub enum NotDelivered {
    #[error("{source} ({waiting} run(s) kept in the outbox)")]
    Kept { source: SendError, waiting: i64 },
    #[error("{source} (not kept: the outbox: {outbox})")]
    NotKept {
        source: SendError,
        outbox: StoreError,
    },
    #[error("kept in the outbox; cannot start the background sender: {0}")]
    NoSender(io::Error),
    /// The remote refused the run for good: it is set aside, never sent again.
    #[error("{reason} (the run is set aside: telemetry status)")]
    Refused { reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the configured `remote` sends, as every message shows it (never with credentials or
/// a query string); `None` for the HTTP API without an endpoint.
pub fn destination(settings: &TelemetrySettings, remote: Remote) -> Option<String> {
    match remote {
        Remote::Http => Endpoint::from_settings(&settings.http).map(|e| e.display()),
        Remote::Otlp => Some(otlp::destination(&settings.otlp.traces_url())),
    }
}

impl Transport {
    /// The transport of `remote` as the settings configure it.
    pub fn of(remote: Remote, settings: &TelemetrySettings) -> Result<Transport, DeliveryError> {
        match remote {
            Remote::Http => {
                let endpoint =
                    Endpoint::from_settings(&settings.http).ok_or(DeliveryError::NoEndpoint)?;
                Ok(Transport::Http(HttpTransport {
                    endpoint,
                    timeout: settings.http.timeout,
                    retry_attempts: settings.http.retry_attempts,
                    anonymized: settings.remote_detail == Detail::Minimal,
                }))
            }
            Remote::Otlp => {
                let mut otlp = OtlpTransport::new(&settings.otlp);
                let live = &settings.live;
                otlp.match_events = !live.enabled
                    || settings.otlp.logs.disabled
                    || live.match_records.as_span_events();
                Ok(Transport::Otlp(Box::new(otlp)))
            }
        }
    }

    pub fn remote(&self) -> Remote {
        match self {
            Transport::Http(_) => Remote::Http,
            Transport::Otlp(_) => Remote::Otlp,
        }
    }

    /// Where it sends, for messages: never with credentials or a query string.
    pub fn destination(&self) -> String {
        match self {
            Transport::Http(http) => http.endpoint.display(),
            Transport::Otlp(otlp) => otlp.display_url(),
        }
    }

    /// The whole budget of one send.
    pub fn timeout(&self) -> Duration {
        match self {
            Transport::Http(http) => http.timeout,
            Transport::Otlp(otlp) => otlp.timeout(),
        }
    }

    pub fn set_resource(&mut self, resource: &Resource) {
        if let Transport::Otlp(otlp) = self {
            otlp.set_resource(resource);
        }
    }

    /// A run's outbox row: its execution id, and what this remote is sent, at `detail`.
    pub fn payload(&self, span: &SpanData, detail: Detail) -> Option<(String, String)> {
        match self {
            Transport::Http(_) => {
                let run = RunRecord::from_span(span, detail)?;
                let envelopes = serde_json::Value::from(run.envelopes()).to_string();
                Some((run.execution.execution_id, envelopes))
            }
            Transport::Otlp(otlp) => {
                let execution_id = span
                    .attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == attr::EXECUTION_ID)?
                    .value
                    .as_str()
                    .into_owned();
                let mut span = privacy::at_detail(span.clone(), detail);
                if !otlp.match_events {
                    span.events = SpanEvents::default();
                }
                Some((execution_id, StoredSpan::of(&span).to_json()))
            }
        }
    }

    /// Reads each row's payload once, keeping apart those that cannot be read.
    fn read(&self, rows: &[Queued]) -> ReadRows {
        let mut unreadable = Vec::new();
        let mut runs = 0;
        let mut failed =
            |row: &Queued, why: String| unreadable.push((row.execution_id.clone(), why));
        let payloads = match self {
            Transport::Http(_) => {
                let mut events = Vec::new();
                for row in rows {
                    match envelopes(&row.payload) {
                        Ok(envelopes) => {
                            events.extend(envelopes);
                            runs += 1;
                        }
                        Err(error) => failed(row, error.to_string()),
                    }
                }
                Payloads::Http(events)
            }
            Transport::Otlp(_) => {
                let mut spans = Vec::new();
                for row in rows {
                    match StoredSpan::from_json(&row.payload).and_then(StoredSpan::into_span_data) {
                        Ok(span) => spans.push(span),
                        Err(error) => failed(row, error.to_string()),
                    }
                }
                runs = spans.len();
                Payloads::Otlp(spans)
            }
        };
        ReadRows {
            payloads,
            runs,
            unreadable,
        }
    }

    /// Sends these rows in one request; on success, lines for `telemetry.debug`. A row that
    /// cannot be read fails the send (the outbox's sender sets such rows aside first).
    pub async fn send(&self, rows: &[Queued], deadline: Instant) -> Result<Vec<String>, SendError> {
        let read = self.read(rows);
        if let Some((_, why)) = read.unreadable.into_iter().next() {
            return Err(SendError::Unreadable(why));
        }
        self.send_read(read.payloads, read.runs, deadline).await
    }

    async fn send_read(
        &self,
        payloads: Payloads,
        runs: usize,
        deadline: Instant,
    ) -> Result<Vec<String>, SendError> {
        match (self, payloads) {
            (Transport::Http(http), Payloads::Http(events)) => http.send(events, runs, deadline),
            (Transport::Otlp(otlp), Payloads::Otlp(spans)) => {
                otlp.export_spans(spans).await?;
                Ok(Vec::new())
            }
            // A transport reads only its own payloads; the pairing cannot come apart.
            _ => Err(SendError::Unreadable(
                "payloads read by another transport".into(),
            )),
        }
    }
}

/// An HTTP outbox row's payload: the run's event envelopes.
fn envelopes(payload: &str) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    serde_json::from_str(payload)
}

impl HttpTransport {
    fn send(
        &self,
        events: Vec<serde_json::Value>,
        runs: usize,
        deadline: Instant,
    ) -> Result<Vec<String>, SendError> {
        let body = http::request_body(events, self.anonymized).to_string();
        let accepted = http::post(
            &self.endpoint,
            body.as_bytes(),
            deadline,
            self.retry_attempts,
        )
        .map_err(SendError::Http)?;
        let shown = self.endpoint.display();
        let mut notes = vec![format!(
            "{shown} accepted {} run(s) (HTTP {}, received {}, {} attempt(s), {:.1} ms)",
            runs,
            accepted.status,
            accepted
                .received
                .map_or_else(|| "?".to_string(), |r| r.to_string()),
            accepted.attempts,
            accepted.elapsed.as_secs_f64() * 1000.0
        )];
        notes.extend(
            accepted
                .warnings
                .iter()
                .map(|warning| format!("{shown} warns: {warning}")),
        );
        Ok(notes)
    }
}
