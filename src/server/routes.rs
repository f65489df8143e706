//! Requests and their answers: the route, who calls (by key), the body within its limits, what
//! the store did, and one JSON line on stderr per request (with the key's name, never the key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use tokio::sync::mpsc;

use super::alerts::{Alerts, Seen};
use super::answer::{otlp_answer, request_id, Answer, Stored, PAGE_POLICY};
use super::body::{BodyLimits, BodyProblem};
use super::grpc::{self, FrameError};
use super::ingest::{self, Encoding};
use super::keys::{self, Caller, KeyRole};
use super::metrics::Metrics;
use super::request::{content_type, presented_key};
use super::shared_reads::SharedReads;
use super::team_store::TeamStore;
use super::ServeOptions;
use crate::rate_limit::RateLimit;
use crate::store::StoreError;

/// How long a client that cannot store is told to wait.
pub(super) const RETRY_STORE_AFTER: u64 = 5;

/// Reports built at once. A page holds the kept groups and the revisions that can be flaky
/// (a few hundred MB for the million-run benchmark's 162,389), and `/api/v1/stats` every run
/// time of its period, so readers take turns rather than multiply that.
const REPORTS_AT_ONCE: usize = 1;

/// The server's state: connections to the store, the keys, the rate limits and the counters.
/// Nothing here outlives the process but the store: servers behind one load balancer share
/// only the database.
pub struct App {
    pub(super) options: ServeOptions,
    pub store: TeamStore,
    limits: Mutex<HashMap<String, RateLimit>>,
    pub(super) reports: tokio::sync::Semaphore,
    pub(super) shared_reads: SharedReads,
    pub metrics: Metrics,
    /// When a runner's write last failed for want of the store (cleared by one that works).
    write_failed: Mutex<Option<Instant>>,
    /// The request bytes all requests together may hold (`--max-in-flight-bytes`).
    in_flight: tokio::sync::Semaphore,
    /// `--notify`: stored runs on watched branches go to be compared.
    alerts: Option<Alerts>,
}

/// How long a failed write keeps the server not ready.
const WRITE_FAILURE_COUNTS: Duration = Duration::from_secs(10);

/// The HTTP response, with the request's id; a page also gets the headers that keep a
/// browser from running or framing anything else in it.
fn http_response(answer: Answer, request_id: &str) -> Response<grpc::Body> {
    let html = answer.content_type.starts_with("text/html");
    let mut response = Response::new(grpc::plain(answer.body));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static(answer.content_type),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    if html {
        // The page runs no script and loads nothing: its style and charts are inline.
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static(PAGE_POLICY),
        );
        headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    }
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

impl App {
    /// The server's state, and the queue of stored runs its alerts compare (when it has any).
    pub async fn open(
        options: ServeOptions,
    ) -> Result<(App, Option<mpsc::Receiver<Seen>>), StoreError> {
        let (alerts, seen) = Alerts::new(options.alerts.clone()).unzip();
        let app = App {
            store: TeamStore::open(&options.database, options.statement_timeout).await?,
            alerts,
            limits: Mutex::new(HashMap::new()),
            reports: tokio::sync::Semaphore::new(REPORTS_AT_ONCE),
            shared_reads: SharedReads::default(),
            metrics: Metrics::default(),
            write_failed: Mutex::new(None),
            in_flight: tokio::sync::Semaphore::new(options.max_in_flight_bytes),
            options,
        };
        Ok((app, seen))
    }

    /// Answers one request, counts it and logs it with its id (the client's `X-Request-Id`
    /// when it is a short token, else a new one, answered in the same header) and the client's
    /// address.
    pub async fn handle(
        self: Arc<App>,
        request: Request<Incoming>,
        client: Option<std::net::SocketAddr>,
    ) -> Response<grpc::Body> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let request_id = request_id(request.headers());
        let grpc = grpc::is_grpc(&content_type(request.headers()));
        let (route, answer) = self.clone().answer(request).await;
        let took = started.elapsed();
        self.metrics.request(route, answer.status.as_u16(), took);
        let mut line = json!({
            "time": crate::timestamp::millis(SystemTime::now()),
            "request_id": request_id,
            "client": client.map(|address| address.to_string()),
            "method": method.as_str(),
            "path": path,
            "status": answer.status.as_u16(),
            "key": answer.caller,
            "runs": answer.runs,
            "ms": (took.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        });
        if let Some(failure) = &answer.failure {
            line["error"] = json!(failure);
        }
        super::log_line(&line);
        if grpc {
            return grpc::response(answer);
        }
        http_response(answer, &request_id)
    }

    async fn answer(self: Arc<App>, request: Request<Incoming>) -> (&'static str, Answer) {
        let method = request.method().clone();
        let route: &'static str = match request.uri().path() {
            "/healthz" => "healthz",
            "/readyz" => "readyz",
            "/metrics" => "metrics",
            "/api/v1/events" => "events",
            "/v1/traces" => "traces",
            "/v1/logs" => "logs",
            "/" => "report",
            "/api/v1/report" => "report_json",
            "/api/v1/stats" => "stats",
            other => match grpc::route_of(other) {
                Some(route) => route,
                None => return ("other", Answer::error(StatusCode::NOT_FOUND, "not found")),
            },
        };
        let wanted = match route {
            "events" | "traces" | "logs" => Method::POST,
            _ => Method::GET,
        };
        if method != wanted {
            let answer = Answer::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method not allowed: use {wanted}"),
            )
            .with_header("allow", wanted.to_string());
            return (route, answer);
        }
        let answer = match route {
            "healthz" => Answer::new(StatusCode::OK, "text/plain", b"ok\n".to_vec()),
            "readyz" => self.ready().await,
            "metrics" => Answer::new(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                self.metrics.render().into_bytes(),
            ),
            "report" | "report_json" | "stats" => self.read(route, request).await,
            _ => self.ingest(route, request).await,
        };
        (route, answer)
    }

    /// Ready when the store answers.
    /// Ready when the store answers, a write can be committed, and no runner's write failed
    /// in the last [`WRITE_FAILURE_COUNTS`].
    async fn ready(self: Arc<App>) -> Answer {
        let not_ready = |message: String| {
            Answer::error(StatusCode::SERVICE_UNAVAILABLE, message)
                .with_header("retry-after", RETRY_STORE_AFTER.to_string())
        };
        if !self.store.ready().await {
            return not_ready("the store does not answer".into());
        }
        if let Err(error) = self.store.probe_write().await {
            return not_ready(format!("the store takes no write: {}", error.cause()));
        }
        let failed = *self
            .write_failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if failed.is_some_and(|at| at.elapsed() < WRITE_FAILURE_COUNTS) {
            return not_ready("runners' writes are failing".into());
        }
        Answer::new(StatusCode::OK, "text/plain", b"ready\n".to_vec())
    }

    /// The caller of a request, if its key is in force and has `role`; else the refusal.
    pub(super) async fn caller(
        self: &Arc<App>,
        headers: &HeaderMap,
        role: KeyRole,
    ) -> Result<Caller, Answer> {
        let challenge = |answer: Answer| match role {
            // A browser asks for the read key when told how.
            KeyRole::Read => {
                answer.with_header("www-authenticate", "Basic realm=\"earlyexit\"".into())
            }
            KeyRole::Write => answer,
        };
        let Some(key) = presented_key(headers) else {
            self.metrics.rejected("no_key");
            return Err(challenge(Answer::error(
                StatusCode::UNAUTHORIZED,
                "missing API key: send Authorization: Bearer KEY or X-API-Key: KEY",
            )));
        };
        let recognised = self
            .store
            .key_in_force(keys::hash(&key))
            .await
            .map(|found| found.and_then(|(name, role)| Caller::of(name, &role)));
        match recognised {
            Ok(Some(caller)) if caller.role == role => Ok(caller),
            Ok(Some(caller)) => {
                self.metrics.rejected("wrong_role");
                let mut answer = Answer::error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "the key '{}' may only {}",
                        caller.name,
                        caller.role.as_str()
                    ),
                );
                answer.caller = Some(caller.name);
                Err(answer)
            }
            Ok(None) => {
                self.metrics.rejected("bad_key");
                Err(challenge(Answer::error(
                    StatusCode::UNAUTHORIZED,
                    "invalid or revoked API key",
                )))
            }
            Err(_) => Err(Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store does not answer",
            )
            .with_header("retry-after", RETRY_STORE_AFTER.to_string())),
        }
    }

    /// Whether this caller may make another request now; if not, in how many seconds.
    fn within_rate(&self, caller: &Caller) -> Result<(), u64> {
        let mut limits = self.limits.lock().unwrap_or_else(PoisonError::into_inner);
        let limit = limits
            .entry(caller.name.clone())
            .or_insert_with(|| RateLimit::new(self.options.max_requests_per_second));
        if limit.allow(Instant::now()) {
            Ok(())
        } else {
            Err(limit.seconds_to_wait())
        }
    }

    /// `POST /api/v1/events`, `/v1/traces`, `/v1/logs`.
    async fn ingest(self: Arc<App>, route: &'static str, request: Request<Incoming>) -> Answer {
        let caller = match self.caller(request.headers(), KeyRole::Write).await {
            Ok(caller) => caller,
            Err(answer) => return answer,
        };
        let mut answer = self.ingest_as(&caller, route, request).await;
        answer.caller = Some(caller.name);
        answer
    }

    async fn ingest_as(
        self: &Arc<App>,
        caller: &Caller,
        route: &'static str,
        request: Request<Incoming>,
    ) -> Answer {
        if let Err(seconds) = self.within_rate(caller) {
            self.metrics.rejected("rate");
            return Answer::error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests for this key",
            )
            .with_header("retry-after", seconds.to_string());
        }
        let content_type = content_type(request.headers());
        let grpc = grpc::is_grpc(&content_type);
        let grpc_encoding = request
            .headers()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let encoding = match (route, content_type.as_str()) {
            (_, "application/json") => Encoding::Json,
            ("traces" | "logs", "application/x-protobuf") => Encoding::Protobuf,
            ("traces" | "logs", _) if grpc => Encoding::Protobuf,
            ("events", _) => {
                self.metrics.rejected("content_type");
                return Answer::error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Content-Type must be application/json",
                );
            }
            _ => {
                self.metrics.rejected("content_type");
                return Answer::error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Content-Type must be application/x-protobuf or application/json",
                );
            }
        };
        let limits = BodyLimits {
            max: self.options.max_body_bytes,
            read_timeout: self.options.read_timeout,
            in_flight: &self.in_flight,
        };
        let refused = |problem: BodyProblem| {
            let (status, reason, message) = problem.refusal(limits.max, limits.read_timeout);
            self.metrics.rejected(reason);
            let answer = Answer::error(status, message);
            match problem {
                BodyProblem::Busy => answer.with_header("retry-after", "1".into()),
                _ => answer,
            }
        };
        let body = match limits.read(request).await {
            Ok(body) => body,
            Err(problem) => return refused(problem),
        };
        let body = match grpc {
            false => body,
            true => match grpc::unframe(&body.bytes, grpc_encoding.as_deref(), limits.max) {
                Ok(message) => match limits.replaced(body, message).await {
                    Ok(body) => body,
                    Err(problem) => return refused(problem),
                },
                Err(problem) => {
                    self.metrics.rejected("grpc_frame");
                    let (status, message) = match problem {
                        FrameError::Malformed => (StatusCode::BAD_REQUEST, "not one gRPC message"),
                        FrameError::Encoding => (
                            StatusCode::UNSUPPORTED_MEDIA_TYPE,
                            "grpc-encoding is not gzip",
                        ),
                        FrameError::TooLarge => (
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "message larger than the limit",
                        ),
                    };
                    return Answer::error(status, message);
                }
            },
        };
        let stored = self.store_body(route, &body.bytes, encoding).await;
        match stored {
            Ok(answer) => answer,
            Err(not_stored) => {
                self.metrics.rejected(not_stored.reason());
                not_stored.answer(RETRY_STORE_AFTER)
            }
        }
    }

    /// Parses and stores a body, in one transaction, and says so only once it is committed.
    async fn store_body(
        &self,
        route: &str,
        body: &[u8],
        encoding: Encoding,
    ) -> Result<Answer, Stored> {
        if route == "logs" {
            let news = ingest::logs(body, encoding).map_err(Stored::Invalid)?;
            self.store
                .note_live(news.started, news.matched)
                .await
                .map_err(Stored::Unavailable)?;
            return Ok(otlp_answer(encoding, "log records", news.rejected));
        }
        let ingested = match route {
            "events" => ingest::events(body),
            _ => ingest::traces(body, encoding),
        }
        .map_err(Stored::Invalid)?;
        let sent: Vec<(String, usize)> = ingested
            .runs
            .iter()
            .map(|run| (run.execution.execution_id.clone(), 1 + run.matches.len()))
            .collect();
        let seen = self
            .alerts
            .as_ref()
            .map(|alerts| alerts.watched(&ingested.runs));
        let inserted = self.store.insert(ingested.runs).await;
        *self
            .write_failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = match &inserted {
            Err(error) if !matches!(error, StoreError::Refused { .. }) => Some(Instant::now()),
            _ => None,
        };
        let new = inserted?;
        if let Some((alerts, seen)) = self.alerts.as_ref().zip(seen) {
            alerts.stored(seen);
        }
        self.metrics.stored(new);
        // A run that is neither new nor held was not stored (its trace and span ids are
        // another run's): the answer never claims it.
        let mut dropped = Vec::new();
        if new < sent.len() {
            let held = self
                .store
                .held(sent.iter().map(|(id, _)| id.clone()).collect())
                .await?;
            dropped.extend(sent.into_iter().filter(|(id, _)| !held.contains(id)));
        }
        let mut warnings = ingested.warnings;
        warnings.extend(dropped.iter().map(|(id, _)| {
            format!("execution_id {id}: not stored: its trace_id and span_id are another run's")
        }));
        let received = ingested
            .received
            .saturating_sub(dropped.iter().map(|(_, n)| n).sum::<usize>());
        let mut answer = match route {
            "events" => Answer::json(
                StatusCode::OK,
                json!({"status": "ok", "received": received, "warnings": warnings}),
            ),
            _ => otlp_answer(encoding, "spans", ingested.rejected + dropped.len()),
        };
        answer.runs = new;
        Ok(answer)
    }
}
