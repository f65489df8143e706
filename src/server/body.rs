//! A request's body: read within the size limit and the read timeout, inflated when it is
//! gzip, and holding its share of the bytes that all requests together may have in flight.
//!
//! The share is taken before the body is read (its declared length, or the limit when it
//! declares none) and grows by what inflating it adds. Bodies that do not fit wait for
//! others to finish, up to the read timeout, then get 503: thirty-two 9 MB bodies at once
//! are read a few at a time instead of all together.

use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::request::{gunzip_within, Gunzip};

/// Why a request's body was not read.
pub enum BodyProblem {
    TooLarge,
    TooSlow,
    Unreadable,
    Encoding(String),
    /// The bytes in flight are at their limit, and stayed there for the read timeout.
    Busy,
}

impl BodyProblem {
    /// The answer's status, the metrics' reason, and the one line that says why.
    pub fn refusal(
        &self,
        max: usize,
        read_timeout: Duration,
    ) -> (StatusCode, &'static str, String) {
        match self {
            BodyProblem::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("body larger than {max} bytes"),
            ),
            BodyProblem::TooSlow => (
                StatusCode::REQUEST_TIMEOUT,
                "too_slow",
                format!(
                    "body not received within {}",
                    crate::duration::format_duration(read_timeout)
                ),
            ),
            BodyProblem::Unreadable => (
                StatusCode::BAD_REQUEST,
                "unreadable",
                "body cannot be read (or its gzip is damaged)".into(),
            ),
            BodyProblem::Encoding(encoding) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "encoding",
                format!("Content-Encoding '{encoding}' is not gzip"),
            ),
            BodyProblem::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server holds as many request bytes as it may: send again shortly".into(),
            ),
        }
    }
}

/// A body as read, and its share of the bytes in flight (given back when it is dropped).
pub struct Body<'a> {
    pub bytes: Vec<u8>,
    held: SemaphorePermit<'a>,
}

/// How bodies are read: their limit, how long they may take, and the budget they share.
pub struct BodyLimits<'a> {
    pub max: usize,
    pub read_timeout: Duration,
    pub in_flight: &'a Semaphore,
}

impl<'a> BodyLimits<'a> {
    /// Waits (up to the read timeout) until `bytes` more fit in the budget.
    async fn hold(&self, bytes: usize) -> Result<SemaphorePermit<'a>, BodyProblem> {
        let permits = u32::try_from(bytes).map_err(|_| BodyProblem::TooLarge)?;
        match tokio::time::timeout(self.read_timeout, self.in_flight.acquire_many(permits)).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(BodyProblem::Busy),
        }
    }

    /// Reads the body within the size limit and the read timeout, and inflates gzip within
    /// the same limit.
    pub async fn read(&self, request: Request<Incoming>) -> Result<Body<'a>, BodyProblem> {
        let declared = request
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max as u64) {
            return Err(BodyProblem::TooLarge);
        }
        let encoding = request
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
        let mut held = self
            .hold(declared.map_or(self.max, |length| length as usize))
            .await?;
        let collected = tokio::time::timeout(
            self.read_timeout,
            Limited::new(request.into_body(), self.max).collect(),
        )
        .await
        .map_err(|_| BodyProblem::TooSlow)?;
        let bytes = match collected {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                return Err(BodyProblem::TooLarge)
            }
            Err(_) => return Err(BodyProblem::Unreadable),
        };
        let bytes = match encoding.as_deref() {
            None | Some("identity") => bytes.to_vec(),
            Some("gzip") => {
                let inflated =
                    gunzip_within(&bytes, self.max).map_err(|problem| match problem {
                        Gunzip::Damaged => BodyProblem::Unreadable,
                        Gunzip::TooLarge => BodyProblem::TooLarge,
                    })?;
                held.merge(self.hold(inflated.len()).await?);
                inflated
            }
            Some(other) => return Err(BodyProblem::Encoding(other.to_string())),
        };
        Ok(Body { bytes, held })
    }

    /// The body with its content replaced by `inflated` (a gRPC frame's message), holding
    /// its bytes too.
    pub async fn replaced(
        &self,
        mut body: Body<'a>,
        inflated: Vec<u8>,
    ) -> Result<Body<'a>, BodyProblem> {
        body.held.merge(self.hold(inflated.len()).await?);
        body.bytes = inflated;
        Ok(body)
    }
}
