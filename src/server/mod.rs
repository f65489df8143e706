//! `earlyexit serve`: the team side. One process takes every runner's runs, by the design
//! document's HTTP API (`POST /api/v1/events`) or OTLP over HTTP (`/v1/traces`, and `/v1/logs`
//! for the live records), in protobuf or JSON, or over gRPC; stores each run once, keyed by its execution id
//! and by its trace and span ids; answers 200 only once the run is committed, and 503 with
//! `Retry-After` when the store cannot take it (the runners' outboxes keep it meanwhile). It
//! serves the team report at `/`, the same figures as JSON at `/api/v1/report`, those of
//! `telemetry stats` at `/api/v1/stats`, `/healthz`, `/readyz` and Prometheus `/metrics`.
//!
//! `connection` speaks HTTP/1.1 or HTTP/2, `body` reads a body within its limits and the
//! budget of bytes in flight, `counting` counts an OTLP body's items before it is read, `ingest`
//! reads the bodies (`grpc` unwraps gRPC's), `keys` makes the API keys, `routes` answers
//! (`reads` the reports, each built once for the requests that ask for it at once:
//! `shared_reads`; `controls` and `in_progress` are the page's top), `alerts` and `notify` tell a
//! webhook when a command turns, `metrics` counts. Housekeeping (here) refreshes statistics,
//! forgets the running rows of stored runs (and of lost runs after a week) and applies
//! `--retention`. The server keeps nothing
//! but what is in the store, so several of them can share one.
//!
//! May import: `store`, `recording`, `analysis`, `outcome`, `delivery` (the trust policy,
//! for PostgreSQL's TLS), `since` and the leaves.

pub mod keys;

mod alerts;
mod answer;
mod body;
mod connection;
mod controls;
mod counting;
mod grpc;
mod in_progress;
mod ingest;
mod metrics;
mod notify;
mod reads;
mod request;
mod routes;
mod shared_reads;
mod team_report;
mod team_store;
mod tls;

pub use alerts::{AlertSettings, Target};
pub use team_store::{is_postgres_url, Database, TeamStore};
pub use tls::{ServeTls, ServeTlsError};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::store::{StoreError, FORGET_BATCH};
use routes::App;

/// How long a lost run stays listed on the page before its row is deleted.
const LOST_LISTED_FOR: Duration = Duration::from_secs(7 * 86_400);

/// How often the server keeps house.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);

/// Keeps house while the server runs, at start and then every [`HOUSEKEEPING_EVERY`]: the
/// planner's statistics refreshed once the runs have grown by a tenth, and the running rows of
/// stored runs deleted (reads never count them; this keeps the table small), as are those of
/// runs lost for over [`LOST_LISTED_FOR`]. A failure is
/// tried again next time; the answers stay right, only slower.
async fn keep_house(app: Arc<App>) {
    loop {
        let _ = app.store.refresh_statistics().await;
        let forgotten_before = std::time::SystemTime::now() - LOST_LISTED_FOR;
        let _ = app.store.forget_ended_running(forgotten_before).await;
        if let Some(retention) = app.options.retention {
            let _ = apply_retention(&app.store, retention).await;
        }
        tokio::time::sleep(HOUSEKEEPING_EVERY).await;
    }
}

/// The pause between two batches of retention: runners' writes and folds get their turn.
const RETENTION_PAUSE: Duration = Duration::from_millis(20);

/// Removes the runs of the UTC days that ended more than `retention` ago, a batch at a time.
async fn apply_retention(store: &TeamStore, retention: Duration) -> Result<(), StoreError> {
    let cutoff = crate::timestamp::start_of_day(crate::timestamp::before(
        std::time::SystemTime::now(),
        retention,
    ));
    while store.forget_before(cutoff, FORGET_BATCH).await? == FORGET_BATCH {
        tokio::time::sleep(RETENTION_PAUSE).await;
    }
    Ok(())
}

/// How often the server folds newly stored runs into the kept report figures.
const FOLD_EVERY: Duration = Duration::from_secs(1);
/// The pause between two folds when more runs wait: a SQLite writer waiting for the lock gets
/// its turn.
const FOLD_PAUSE: Duration = Duration::from_millis(20);

/// Keeps the report's figures up with the runs as they arrive, so that a page has little left
/// to fold. A failure (the database away) is tried again next time; a page folds what is left.
async fn keep_figures(app: Arc<App>) {
    loop {
        let more = app.store.fold_pending(team_report::FOLD_BATCH).await;
        let pause = match more {
            Ok(folded) if folded == team_report::FOLD_BATCH => FOLD_PAUSE,
            _ => FOLD_EVERY,
        };
        tokio::time::sleep(pause).await;
    }
}

/// How long the accept loop waits after a failed accept (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// How the server runs: every limit has a bound checked where the command line is read.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The team store: a SQLite file, or PostgreSQL.
    pub database: Database,
    /// The largest body, before and after gzip.
    pub max_body_bytes: usize,
    /// The request bytes all requests together may hold (at least `max_body_bytes`).
    pub max_in_flight_bytes: usize,
    /// A request's headers, and then its body, must arrive within this.
    pub read_timeout: Duration,
    /// Requests per second per key, in bursts of a second's worth.
    pub max_requests_per_second: u32,
    /// How long in-flight requests get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// How long one statement of a PostgreSQL store may run.
    pub statement_timeout: Duration,
    /// How long a run in progress may go unheard of before it is shown as lost.
    pub lost_after: Duration,
    /// Runs of the UTC days that ended longer ago than this are removed.
    pub retention: Option<Duration>,
    /// Where to post when a watched command turns (`--notify`), and on which branches.
    pub alerts: AlertSettings,
    /// Serve HTTPS (and with a client CA, mTLS) instead of HTTP.
    pub tls: Option<ServeTls>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Tls(#[from] ServeTlsError),
}

/// Serves until SIGTERM or SIGINT, then lets the requests in flight finish (within the grace)
/// and refuses new ones. The first line on stdout says where it listens.
pub fn serve(options: ServeOptions) -> Result<(), ServeError> {
    raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(run(options))
}

/// Lifts the soft limit of open files to the hard one: a server holds a descriptor per
/// connection, and systemd's default soft limit (1024) is a few hundred runners. A limit that
/// cannot be raised is left, and said in the log.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let raised = getrlimit(Resource::RLIMIT_NOFILE).and_then(|(soft, hard)| {
        if soft < hard {
            setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
        }
        Ok(hard)
    });
    if let Err(error) = raised {
        log_line(&serde_json::json!({"event": "open_files_limit", "error": error.to_string()}));
    }
}

async fn run(options: ServeOptions) -> Result<(), ServeError> {
    let acceptor = options.tls.as_ref().map(ServeTls::acceptor).transpose()?;
    let listener =
        TcpListener::bind(options.listen)
            .await
            .map_err(|source| ServeError::Listen {
                address: options.listen,
                source,
            })?;
    let address = listener.local_addr().map_err(|source| ServeError::Listen {
        address: options.listen,
        source,
    })?;
    let (read_timeout, grace) = (options.read_timeout, options.shutdown_grace);
    let targets = options.alerts.targets.clone();
    let (app, seen) = App::open(options).await?;
    let app = Arc::new(app);
    if let Some(seen) = seen {
        tokio::spawn(notify::compare(Arc::clone(&app), seen, targets.clone()));
        tokio::spawn(notify::post(Arc::clone(&app), targets));
    }
    tokio::spawn(keep_house(Arc::clone(&app)));
    tokio::spawn(keep_figures(Arc::clone(&app)));
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    {
        // Where it listens, for whoever started it; a closed stdout does not stop the server.
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {scheme}://{address}").and_then(|()| stdout.flush());
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Runtime)?;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection reset before it was taken: the next one. Out of descriptors:
                // the same error until one is closed, so wait rather than spin.
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        tokio::spawn(connection::serve(
            stream,
            acceptor.clone(),
            Arc::clone(&app),
            read_timeout,
            graceful.watcher(),
        ));
    }
    drop(listener);
    log_line(&serde_json::json!({"event": "shutdown", "grace_ms": grace.as_millis() as u64}));
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {}
    }
    Ok(())
}

/// Writes one line of the server's log to stderr. A log that cannot be written (a full disk, a
/// closed pipe) costs that line, never the request: `eprintln!` would panic.
fn log_line(line: &serde_json::Value) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
