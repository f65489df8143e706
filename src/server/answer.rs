//! An answer before it is a response: its status, body and headers, and what the request log
//! line says of it.

use hyper::StatusCode;
use serde_json::json;

use super::ingest::Encoding;

/// An answer before it is a response.
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
