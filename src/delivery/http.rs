//! Sending to the team's HTTP endpoint (`POST /api/v1/events`, the HTTP API of
//! `TELEMETRY_BACKENDS.md`): the request body, authentication, and retries within a deadline.
//! Used by the HTTP sink, by the detached deliverer of `fire_and_forget`, and by
//! `telemetry test-http|send-test|sync`.
//!
//! The API key goes into one header and nowhere else: no error message, log line or dry-run
//! print contains it, and endpoints are shown without any `user:password@` part.

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::config::telemetry::{AuthHeader, HttpSettings, Secret};
use std::sync::{Arc, OnceLock};

use ureq::tls::TlsConfig;

use crate::delivery::tls::{self, TlsError, Trust};
use crate::urls::{redact_url, redact_urls_in};

/// The version of the HTTP API this client speaks.
pub const API_VERSION: &str = "1.0";
/// The path of the HTTP API of `TELEMETRY_BACKENDS.md`, for an endpoint given as a base URL
/// (`http://host:8080`).
pub const EVENTS_PATH: &str = "/api/v1/events";
/// First retry delay; each retry doubles it, plus up to as much again of jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(2);
/// Kept back from each request's timeout for what follows it (closing the connection, shutting
/// down), so that the whole delivery ends within the configured budget.
const DEADLINE_MARGIN: Duration = Duration::from_millis(25);
/// The longest wait a `Retry-After` may ask for (still bounded by the deadline).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where and how to post.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub auth_header: AuthHeader,
    pub api_key: Option<Secret>,
    /// A private CA and a client certificate, for https.
    pub trust: Trust,
    /// The TLS configuration made from `trust`, once: it reads the system's store (~150
    /// files), which a `sync` of a thousand batches must not do a thousand times.
    tls: OnceLock<Result<TlsConfig, Arc<TlsError>>>,
}

impl Endpoint {
    /// The endpoint at `url`, or at `TELEMETRY_BACKENDS.md`'s path there when `url` has none.
    pub fn new(
        url: &str,
        auth_header: AuthHeader,
        api_key: Option<Secret>,
        trust: Trust,
    ) -> Endpoint {
        Endpoint {
            url: events_url(url),
            auth_header,
            api_key,
            trust,
            tls: OnceLock::new(),
        }
    }

    /// The endpoint of the settings, if one is configured.
    pub fn from_settings(http: &HttpSettings) -> Option<Endpoint> {
        http.endpoint.as_ref().map(|url| {
            Endpoint::new(
                url,
                http.auth_header,
                http.api_key.clone(),
                http.trust.clone(),
            )
        })
    }

    /// The TLS configuration for an https endpoint, made the first time it is needed.
    fn tls(&self) -> Result<Option<&TlsConfig>, PostError> {
        if !self.url.starts_with("https://") {
            return Ok(None);
        }
        self.tls
            .get_or_init(|| self.trust.ureq_config().map_err(Arc::new))
            .as_ref()
            .map(Some)
            .map_err(|source| PostError::Tls {
                endpoint: self.display(),
                source: source.clone(),
            })
    }

    /// The URL without credentials or query string, for messages and for anything stored.
    pub fn display(&self) -> String {
        redact_url(&self.url)
    }

    /// The authentication header as it would be sent, with the key redacted.
    pub fn redacted_header(&self) -> Option<(&'static str, String)> {
        self.api_key
            .as_ref()
            .map(|_| self.auth_header.header("[REDACTED]"))
    }
}

/// An endpoint given without a path (`http://host:8080` or `http://host:8080/`) means the
/// `/api/v1/events` of `TELEMETRY_BACKENDS.md` there; one with a path is used as it is.
pub fn events_url(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    match base[authority_start.min(base.len())..].find('/') {
        Some(slash) if base.len() > authority_start + slash + 1 => url.to_string(),
        _ => format!("{}{EVENTS_PATH}{query}", base.trim_end_matches('/')),
    }
}

/// The request body for these event envelopes.
pub fn request_body(events: Vec<serde_json::Value>, anonymized: bool) -> serde_json::Value {
    json!({
        "api_version": API_VERSION,
        "events": events,
        "client": {
            "version": env!("CARGO_PKG_VERSION"),
            "platform": crate::recording::detect::os_type(),
            "anonymized": anonymized,
        },
    })
}

/// The endpoint accepted the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub status: u16,
    /// The response's `received`, when it said.
    pub received: Option<u64>,
    pub warnings: Vec<String>,
    pub attempts: u32,
    pub elapsed: Duration,
}

/// Why a delivery failed; `Display` is one line without the key.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("{endpoint} answered {status}{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Rejected {
        endpoint: String,
        status: u16,
        reason: Option<String>,
    },
    #[error("{endpoint} still failing after {attempts} attempt(s): {last}")]
    GaveUp {
        endpoint: String,
        attempts: u32,
        last: String,
    },
    #[error("{endpoint} did not answer within {}", crate::duration::format_duration(*budget))]
    TimedOut { endpoint: String, budget: Duration },
    #[error("{endpoint}: {source}")]
    Tls {
        endpoint: String,
        source: Arc<TlsError>,
    },
}

/// One attempt's result, before the retry policy looks at it.
enum Attempt {
    Done(Accepted),
    /// Worth retrying, after at least this long.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Fatal(PostError),
}

/// Posts `body`, retrying connection errors, 429 and 5xx up to `retries` times with
/// exponential backoff and jitter (or the server's `Retry-After`), never past `deadline`.
pub fn post(
    endpoint: &Endpoint,
    body: &[u8],
    deadline: Instant,
    retries: u32,
) -> Result<Accepted, PostError> {
    let start = Instant::now();
    // For messages: the budget as configured (in tenths of a second), not less the
    // milliseconds a run spent committing to the outbox before it got here.
    let budget = Duration::from_millis(
        deadline
            .saturating_duration_since(start)
            .as_millis()
            .div_ceil(100) as u64
            * 100,
    );
    let tls = endpoint.tls()?;
    let mut attempts = 0;
    loop {
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(DEADLINE_MARGIN);
        if remaining.is_zero() {
            return Err(PostError::TimedOut {
                endpoint: endpoint.display(),
                budget,
            });
        }
        attempts += 1;
        let (reason, after) = match attempt(endpoint, tls, body, remaining, budget) {
            Attempt::Done(mut accepted) => {
                accepted.attempts = attempts;
                accepted.elapsed = start.elapsed();
                return Ok(accepted);
            }
            Attempt::Fatal(error) => return Err(error),
            Attempt::Retry { reason, after } => (reason, after),
        };
        let give_up = || PostError::GaveUp {
            endpoint: endpoint.display(),
            attempts,
            last: reason.clone(),
        };
        if attempts > retries {
            return Err(give_up());
        }
        let delay = after.unwrap_or_else(|| backoff(attempts));
        if Instant::now() + delay >= deadline {
            return Err(give_up());
        }
        std::thread::sleep(delay);
    }
}

fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_BASE * 2u32.saturating_pow(attempt - 1);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    base + base.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

fn attempt(
    endpoint: &Endpoint,
    tls: Option<&TlsConfig>,
    body: &[u8],
    remaining: Duration,
    budget: Duration,
) -> Attempt {
    let mut request = tls::agent(remaining, tls)
        .post(&endpoint.url)
        .header("Content-Type", "application/json");
    if let Some(key) = &endpoint.api_key {
        let (name, value) = endpoint.auth_header.header(key.expose());
        request = request.header(name, value);
    }
    let mut response = match request.send(body) {
        Ok(response) => response,
        Err(ureq::Error::Timeout(_)) => {
            return Attempt::Fatal(PostError::TimedOut {
                endpoint: endpoint.display(),
                budget,
            });
        }
        Err(error) => {
            return Attempt::Retry {
                reason: one_line(&error.to_string(), endpoint),
                after: None,
            };
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match status {
        200..=299 => Attempt::Done(Accepted {
            status,
            received: answer["received"].as_u64(),
            warnings: answer["warnings"]
                .as_array()
                .map(|w| {
                    w.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            attempts: 0,
            elapsed: Duration::ZERO,
        }),
        429 | 500..=599 => Attempt::Retry {
            reason: format!("HTTP {status}"),
            after: retry_after,
        },
        _ => {
            let reason = answer["error"]
                .as_str()
                .or_else(|| answer["message"].as_str())
                .map(|r| one_line(r, endpoint))
                .or_else(|| {
                    (!text.trim().is_empty())
                        .then(|| one_line(&text.chars().take(200).collect::<String>(), endpoint))
                });
            Attempt::Fatal(PostError::Rejected {
                endpoint: endpoint.display(),
                status,
                reason,
            })
        }
    }
}

/// One line, and never the key (a server could echo it back).
fn one_line(text: &str, endpoint: &Endpoint) -> String {
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line = redact_urls_in(&line.replace(&endpoint.url, &endpoint.display()));
    if let Some(key) = &endpoint.api_key {
        if !key.expose().is_empty() {
            line = line.replace(key.expose(), "[REDACTED]");
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_means_the_events_path() {
        assert_eq!(
            events_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/api/v1/events"
        );
        assert_eq!(
            events_url("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/api/v1/events"
        );
        assert_eq!(
            events_url("https://h?token=x"),
            "https://h/api/v1/events?token=x"
        );
        assert_eq!(events_url("https://h/earlyexit"), "https://h/earlyexit");
    }

    #[test]
    fn backoff_grows_with_jitter() {
        assert!(backoff(1) >= BACKOFF_BASE && backoff(1) <= BACKOFF_BASE * 2);
        assert!(backoff(3) >= BACKOFF_BASE * 4);
    }

    #[test]
    fn the_body_has_the_documented_shape() {
        let body = request_body(vec![json!({"type": "execution", "data": {}})], true);
        assert_eq!(body["api_version"], "1.0");
        assert_eq!(body["client"]["anonymized"], true);
        assert_eq!(body["events"].as_array().unwrap().len(), 1);
    }
}
