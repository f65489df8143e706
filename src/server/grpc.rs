//! OTLP over gRPC, without a gRPC framework: the two unary calls the exporters make
//! (`TraceService/Export`, `LogsService/Export`) carry the same protobuf messages as OTLP over
//! HTTP, so a gRPC request is an OTLP/HTTP one in another envelope. The body is one
//! length-prefixed message; the answer is one such message and the `grpc-status` trailer, or,
//! for a refusal, the status alone in the headers ("Trailers-Only").
//!
//! Everything else (keys, limits, parsing, storing) is the HTTP path's.

use std::convert::Infallible;

use http_body_util::combinators::WithTrailers;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Response, StatusCode};

use super::answer::Answer;
use super::request::{gunzip_within, Gunzip};

/// The response body of every route: a gRPC answer has trailers, the others have none.
pub type Body =
    WithTrailers<Full<Bytes>, std::future::Ready<Option<Result<HeaderMap, Infallible>>>>;

/// The route that a gRPC method is the same as.
pub fn route_of(path: &str) -> Option<&'static str> {
    match path {
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => Some("traces"),
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => Some("logs"),
        _ => None,
    }
}

/// Whether a request's content type is gRPC's (`application/grpc`, `application/grpc+proto`).
pub fn is_grpc(content_type: &str) -> bool {
    content_type == "application/grpc" || content_type == "application/grpc+proto"
}

/// Why a gRPC body is not one message.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Not a 5-byte prefix and the length it gives, exactly.
    Malformed,
    /// Compressed with something other than gzip.
    Encoding,
    /// The inflated message is over the limit.
    TooLarge,
}

/// The message of a request body: one frame (a flag, a big-endian length, the message),
/// inflated when its flag says so, within `max` bytes.
pub fn unframe(
    body: &[u8],
    grpc_encoding: Option<&str>,
    max: usize,
) -> Result<Vec<u8>, FrameError> {
    let [flag, a, b, c, d, message @ ..] = body else {
        return Err(FrameError::Malformed);
    };
    if u32::from_be_bytes([*a, *b, *c, *d]) as usize != message.len() {
        return Err(FrameError::Malformed);
    }
    match (flag, grpc_encoding) {
        (0, _) => Ok(message.to_vec()),
        (1, Some("gzip")) => gunzip_within(message, max).map_err(|problem| match problem {
            Gunzip::Damaged => FrameError::Malformed,
            Gunzip::TooLarge => FrameError::TooLarge,
        }),
        (1, _) => Err(FrameError::Encoding),
        _ => Err(FrameError::Malformed),
    }
}

/// The gRPC status for an HTTP answer's status (the table of the gRPC HTTP mapping, the other
/// way round, with 413 as RESOURCE_EXHAUSTED).
fn status_code(status: StatusCode) -> u8 {
    match status.as_u16() {
        200 => 0,
        400 | 415 => 3,
        401 => 16,
        403 => 7,
        404 => 12,
        408 => 4,
        413 | 429 => 8,
        503 => 14,
        _ => 13,
    }
}

/// Percent-encodes a `grpc-message` as the protocol asks (printable ASCII but `%` as is).
fn message_header(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'%' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The answer as gRPC: on success the message in a frame and `grpc-status: 0` after it; a
/// refusal as its status and message in the headers, with `retry-after` kept as metadata.
pub fn response(answer: Answer) -> Response<Body> {
    let code = status_code(answer.status);
    let mut status = HeaderMap::new();
    status.insert("grpc-status", HeaderValue::from(u16::from(code)));
    if code == 0 {
        let mut framed = Vec::with_capacity(5 + answer.body.len());
        framed.push(0);
        framed.extend_from_slice(&(answer.body.len() as u32).to_be_bytes());
        framed.extend_from_slice(&answer.body);
        let body =
            Full::new(Bytes::from(framed)).with_trailers(std::future::ready(Some(Ok(status))));
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/grpc"));
        return response;
    }
    let error = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    if let Ok(value) = HeaderValue::from_str(&message_header(&error)) {
        status.insert("grpc-message", value);
    }
    let mut response = Response::new(plain(Vec::new()));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/grpc"));
    headers.extend(status);
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// Any other answer, as a body without trailers.
pub fn plain(body: Vec<u8>) -> Body {
    Full::new(Bytes::from(body)).with_trailers(std::future::ready(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut framed = vec![flag];
        framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
        framed.extend_from_slice(message);
        framed
    }

    #[test]
    fn a_frame_gives_its_message_and_nothing_else_passes() {
        assert_eq!(unframe(&frame(0, b"abc"), None, 10), Ok(b"abc".to_vec()));
        let mut long = frame(0, b"abc");
        long.push(0);
        assert_eq!(unframe(&long, None, 10), Err(FrameError::Malformed));
        assert_eq!(unframe(&[0, 0, 0], None, 10), Err(FrameError::Malformed));
        assert_eq!(
            unframe(&frame(1, b"abc"), Some("snappy"), 10),
            Err(FrameError::Encoding)
        );
        assert_eq!(
            unframe(&frame(7, b""), None, 10),
            Err(FrameError::Malformed)
        );
    }

    #[test]
    fn a_gzip_frame_is_inflated_within_the_limit() {
        use std::io::Write;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&[b'x'; 1000]).unwrap();
        let compressed = gzip.finish().unwrap();
        assert_eq!(
            unframe(&frame(1, &compressed), Some("gzip"), 1000).map(|m| m.len()),
            Ok(1000)
        );
        assert_eq!(
            unframe(&frame(1, &compressed), Some("gzip"), 999),
            Err(FrameError::TooLarge)
        );
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(message_header("100% é"), "100%25 %C3%A9");
    }
}
