//! How many spans (or log records) an OTLP request holds, counted before it is read: an empty
//! span is two bytes of protobuf and a few hundred bytes once decoded, so a 9 MB body of them
//! took the server to 1.2 GB. The count walks the wire format (or, for JSON, reads the nesting
//! with every item ignored) and allocates nothing per item.

use serde::de::IgnoredAny;
use serde::Deserialize;

/// The path to the items of an export request, by field number: the request's resources (1),
/// each resource's scopes (2), each scope's spans or log records (2).
const ITEMS: [u64; 3] = [1, 2, 2];

/// The items of a protobuf export request; `None` when it is not protobuf's wire format.
pub fn protobuf_items(body: &[u8]) -> Option<usize> {
    count_at(body, &ITEMS)
}

/// The messages at `path` below `bytes`, each counted without being read.
fn count_at(mut bytes: &[u8], path: &[u64]) -> Option<usize> {
    let Some((&wanted, deeper)) = path.split_first() else {
        return Some(1);
    };
    let mut count = 0usize;
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        match key & 7 {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = bytes.get(8..)?,
            2 => {
                let length = usize::try_from(varint(&mut bytes)?).ok()?;
                let value = bytes.get(..length)?;
                bytes = &bytes[length..];
                if key >> 3 == wanted {
                    count = count.checked_add(count_at(value, deeper)?)?;
                }
            }
            5 => bytes = bytes.get(4..)?,
            _ => return None,
        }
    }
    Some(count)
}

/// A base-128 varint at the start of `bytes`, which it then leaves.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[derive(Deserialize)]
struct JsonRequest {
    #[serde(default, alias = "resourceSpans", alias = "resourceLogs")]
    resources: Vec<JsonResource>,
}

#[derive(Deserialize)]
struct JsonResource {
    #[serde(default, alias = "scopeSpans", alias = "scopeLogs")]
    scopes: Vec<JsonScope>,
}

#[derive(Deserialize)]
struct JsonScope {
    /// Ignored items take no room: a vector of them never allocates.
    #[serde(default, alias = "spans", alias = "logRecords")]
    items: Vec<IgnoredAny>,
}

/// The items of a JSON export request; `None` when it is not one.
pub fn json_items(body: &[u8]) -> Option<usize> {
    let request: JsonRequest = serde_json::from_slice(body).ok()?;
    Some(
        request
            .resources
            .iter()
            .flat_map(|resource| &resource.scopes)
            .map(|scope| scope.items.len())
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    #[test]
    fn spans_are_counted_in_protobuf_and_json_as_the_decoder_reads_them() {
        let scope = |spans: usize| ScopeSpans {
            spans: vec![
                Span {
                    name: "run".into(),
                    start_time_unix_nano: 1_796_000_000_000_000_000,
                    ..Span::default()
                };
                spans
            ],
            ..ScopeSpans::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    scope_spans: vec![scope(3), scope(0), scope(2)],
                    ..ResourceSpans::default()
                },
                ResourceSpans {
                    scope_spans: vec![scope(4)],
                    ..ResourceSpans::default()
                },
            ],
        };
        assert_eq!(protobuf_items(&request.encode_to_vec()), Some(9));
        let json = serde_json::to_vec(&request).unwrap();
        assert_eq!(json_items(&json), Some(9));
        assert_eq!(protobuf_items(&[0x0a, 0x05, 0x12]), None, "cut short");
        assert_eq!(protobuf_items(&[0x0f]), None, "wire type 7");
        assert_eq!(protobuf_items(&[]), Some(0));
    }
}
