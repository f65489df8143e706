//! The HTTP sink: the seed's `POST /api/v1/events`. Alone (`backend: http`) it posts each run
//! within `http.timeout`; in hybrid mode it first queues the run in the SQLite outbox and then
//! sends the backlog, oldest first, so that a failed delivery is sent again by a later run or
//! by `earlyexit telemetry sync`, and the receiver's dedup by `execution_id` makes a resend
//! harmless.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::config::telemetry::AuthHeader;
use crate::telemetry::privacy::Detail;
use crate::telemetry::record::RunRecord;
use crate::telemetry::remote::{self, Accepted, Endpoint};
use crate::telemetry::store::{Store, Table};

/// How a run reaches the endpoint.
#[derive(Debug, Clone)]
pub enum HttpDelivery {
    /// Post now, within the timeout.
    Direct,
    /// Queue in this database's outbox, then send the backlog (hybrid mode).
    Outbox { path: PathBuf, wal_mode: bool },
    /// Hand the request to a detached `earlyexit telemetry deliver` and return at once.
    Detached,
}

#[derive(Debug)]
pub struct HttpSink {
    endpoint: Endpoint,
    timeout: Duration,
    retry_attempts: u32,
    batch_size: usize,
    detail: Detail,
    delivery: HttpDelivery,
    /// What the endpoint said, for `telemetry.debug`.
    notes: Mutex<Vec<String>>,
}

/// The result of sending a backlog.
#[derive(Debug, Clone, PartialEq)]
pub struct BacklogReport {
    pub sent: usize,
    pub left: i64,
    pub warnings: Vec<String>,
}

impl HttpSink {
    pub fn new(
        endpoint: Endpoint,
        timeout: Duration,
        retry_attempts: u32,
        batch_size: usize,
        detail: Detail,
        delivery: HttpDelivery,
    ) -> HttpSink {
        HttpSink {
            endpoint,
            timeout,
            retry_attempts,
            batch_size,
            detail,
            delivery,
            notes: Mutex::new(Vec::new()),
        }
    }

    /// Lines for `telemetry.debug`: what the endpoint answered.
    pub fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    fn note(&self, line: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.push(line);
        }
    }

    fn note_accepted(&self, accepted: &Accepted, runs: usize) {
        self.note(format!(
            "{} accepted {runs} run(s) (HTTP {}, received {}, {} attempt(s), {:.1} ms)",
            self.endpoint.display(),
            accepted.status,
            accepted
                .received
                .map_or_else(|| "?".to_string(), |r| r.to_string()),
            accepted.attempts,
            accepted.elapsed.as_secs_f64() * 1000.0
        ));
        for warning in &accepted.warnings {
            self.note(format!("{} warns: {warning}", self.endpoint.display()));
        }
    }

    fn deliver(&self, runs: Vec<(String, Vec<serde_json::Value>)>) -> Result<(), String> {
        let deadline = Instant::now() + self.timeout;
        let anonymized = self.detail == Detail::Minimal;
        match &self.delivery {
            HttpDelivery::Direct => {
                let accepted = remote::post(
                    &self.endpoint,
                    request_text(&runs, anonymized).as_bytes(),
                    deadline,
                    self.retry_attempts,
                )
                .map_err(|e| e.to_string())?;
                self.note_accepted(&accepted, runs.len());
                Ok(())
            }
            HttpDelivery::Detached => spawn_deliverer(
                &self.endpoint,
                self.timeout,
                self.retry_attempts,
                request_text(&runs, anonymized).as_bytes(),
            )
            .map_err(|e| format!("cannot start the background delivery: {e}")),
            HttpDelivery::Outbox { path, wal_mode } => {
                let mut store = Store::open(path, *wal_mode).map_err(|e| e.to_string())?;
                store.enqueue(&runs).map_err(|e| e.to_string())?;
                let report = send_backlog(
                    &mut store,
                    &self.endpoint,
                    self.batch_size,
                    self.retry_attempts,
                    deadline,
                    anonymized,
                )?;
                for warning in report.warnings {
                    self.note(warning);
                }
                Ok(())
            }
        }
    }
}

/// The request body for these runs, all in one request.
fn request_text(runs: &[(String, Vec<serde_json::Value>)], anonymized: bool) -> String {
    let events = runs
        .iter()
        .flat_map(|(_, events)| events.iter().cloned())
        .collect();
    remote::request_body(events, anonymized).to_string()
}

/// Sends the outbox oldest first, `batch_size` runs a request, until it is empty, a request
/// fails or the deadline comes. What was sent is removed; what failed stays for next time.
pub fn send_backlog(
    store: &mut Store,
    endpoint: &Endpoint,
    batch_size: usize,
    retries: u32,
    deadline: Instant,
    anonymized: bool,
) -> Result<BacklogReport, String> {
    let mut sent = 0;
    let mut warnings = Vec::new();
    loop {
        let batch = store.pending(batch_size).map_err(|e| e.to_string())?;
        if batch.is_empty() {
            break;
        }
        let ids: Vec<String> = batch.iter().map(|p| p.execution_id.clone()).collect();
        let events = batch.into_iter().flat_map(|p| p.events).collect();
        let body = remote::request_body(events, anonymized).to_string();
        match remote::post(endpoint, body.as_bytes(), deadline, retries) {
            Ok(accepted) => {
                store.delivered(&ids).map_err(|e| e.to_string())?;
                sent += ids.len();
                warnings.extend(accepted.warnings);
            }
            Err(error) => {
                let message = error.to_string();
                let _ = store.delivery_failed(&ids, &message);
                let left = store.count(Table::Outbox).unwrap_or(-1);
                return Err(format!("{message} ({left} run(s) kept in the outbox)"));
            }
        }
    }
    let left = store.count(Table::Outbox).map_err(|e| e.to_string())?;
    Ok(BacklogReport {
        sent,
        left,
        warnings,
    })
}

/// Starts `earlyexit telemetry deliver` in its own session, hands it the body on stdin and the
/// key in its environment (never on its command line), and does not wait for it.
fn spawn_deliverer(
    endpoint: &Endpoint,
    timeout: Duration,
    retries: u32,
    body: &[u8],
) -> std::io::Result<()> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["telemetry", "deliver", "--endpoint", &endpoint.url])
        .args([
            "--auth-header",
            match endpoint.auth_header {
                AuthHeader::Bearer => "bearer",
                AuthHeader::ApiKey => "x-api-key",
            },
        ])
        .args(["--timeout", &format!("{}ms", timeout.as_millis())])
        .args(["--retries", &retries.to_string()])
        .env_remove("EARLYEXIT_TELEMETRY_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(key) = &endpoint.api_key {
        command.env("EARLYEXIT_TELEMETRY_API_KEY", key.expose());
    }
    // SAFETY: setsid is async-signal-safe; it detaches the deliverer from our terminal.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body)?;
    }
    Ok(())
}

impl SpanExporter for HttpSink {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let runs: Vec<(String, Vec<serde_json::Value>)> = batch
            .iter()
            .filter_map(|span| RunRecord::from_span(span, self.detail))
            .map(|run| (run.execution.execution_id.clone(), run.envelopes()))
            .collect();
        if runs.is_empty() {
            return Ok(());
        }
        self.deliver(runs).map_err(OTelSdkError::InternalFailure)
    }
}
