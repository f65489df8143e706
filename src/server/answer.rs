//! An answer before it is a response: its status, body and headers, and what the request log
//! line says of it.

use hyper::StatusCode;
use serde_json::json;

use super::ingest::{Encoding, IngestError};
use crate::store::StoreError;

/// An answer before it is a response.
#[derive(Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    pub caller: Option<String>,
    pub runs: usize,
    /// Why the server failed (a 5xx), for its log: our words and the store's, never input.
    pub failure: Option<String>,
}

impl Answer {
    pub fn new(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Answer {
        Answer {
            status,
            content_type,
            body,
            headers: Vec::new(),
            caller: None,
            runs: 0,
            failure: None,
        }
    }

    pub fn json(status: StatusCode, body: serde_json::Value) -> Answer {
        Answer::new(status, "application/json", body.to_string().into_bytes())
    }

    /// A refusal in one line: `{"status":"error","error":"…"}`; a 5xx's is also logged.
    pub fn error(status: StatusCode, message: impl Into<String>) -> Answer {
        let message = message.into();
        let failure = status.is_server_error().then(|| message.clone());
        Answer {
            failure,
            ..Answer::json(status, json!({"status": "error", "error": message}))
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Answer {
        self.headers.push((name, value));
        self
    }
}

/// What the report page may load and do: its own inline style and images, forms back to
/// itself, nothing else; and no page may frame it.
pub const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
    form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The request's id: the client's `X-Request-Id` when it is 1 to 64 letters, digits, `-`,
/// `_` or `.`, else a new UUID.
pub fn request_id(headers: &hyper::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string)
}

/// The OTLP answer: an empty export response, or one that says how many were rejected.
pub fn otlp_answer(encoding: Encoding, what: &str, rejected: usize) -> Answer {
    let partial = (rejected > 0).then(|| {
        format!("{rejected} {what} rejected: not earlyexit runs (no earlyexit.execution_id, or invalid ids)")
    });
    match encoding {
        Encoding::Json => {
            let body = match partial {
                Some(message) => {
                    json!({"partialSuccess": {"rejectedSpans": rejected, "errorMessage": message}})
                }
                None => json!({}),
            };
            Answer::json(StatusCode::OK, body)
        }
        Encoding::Protobuf => {
            use opentelemetry_proto::tonic::collector::trace::v1::{
                ExportTracePartialSuccess, ExportTraceServiceResponse,
            };
            use prost::Message;
            let response = ExportTraceServiceResponse {
                partial_success: partial.map(|error_message| ExportTracePartialSuccess {
                    rejected_spans: rejected as i64,
                    error_message,
                }),
            };
            Answer::new(
                StatusCode::OK,
                "application/x-protobuf",
                response.encode_to_vec(),
            )
        }
    }
}

/// Why a body was not stored.
pub enum Stored {
    Invalid(IngestError),
    /// The store will never take this batch (`StoreError::Refused`): a permanent answer, so
    /// that a runner sends its runs one by one and sets aside the one at fault.
    Refused(StoreError),
    Unavailable(StoreError),
}

impl From<StoreError> for Stored {
    fn from(error: StoreError) -> Stored {
        match error {
            StoreError::Refused { .. } => Stored::Refused(error),
            _ => Stored::Unavailable(error),
        }
    }
}

impl Stored {
    /// Its label in the metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Stored::Invalid(_) => "invalid",
            Stored::Refused(_) => "refused",
            Stored::Unavailable(_) => "store",
        }
    }

    /// The answer: 400 for a body that is not what it says, 422 for a batch the store will
    /// never take, 503 with `Retry-After` while the store cannot take it.
    pub fn answer(self, retry_after: u64) -> Answer {
        match self {
            Stored::Invalid(error) => Answer::error(StatusCode::BAD_REQUEST, error.to_string()),
            Stored::Refused(error) => Answer::error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the store refuses this batch: {}", error.cause()),
            ),
            Stored::Unavailable(error) => Answer {
                failure: Some(format!("storage unavailable: {error}")),
                ..Answer::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("storage unavailable: {}", error.cause()),
                )
            }
            .with_header("retry-after", retry_after.to_string()),
        }
    }
}
