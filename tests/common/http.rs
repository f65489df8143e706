//! HTTP as the server tests speak it (every status is an answer, not an error), and the
//! bodies they send.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An agent that reports every status rather than failing on 4xx and 5xx.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Posts a body; returns the status and the body of the answer.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// A run in the design document's envelope.
pub fn events_body(execution_id: &str) -> String {
    format!(
        r#"{{"api_version":"1.0","events":[{{"type":"execution","data":{{"execution_id":"{execution_id}","timestamp":"2026-11-28T10:00:00.000Z","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","command_hash":"h","exit_code":0,"exit_reason":"match","total_runtime":1.0,"match_count":1}}}},{{"type":"match_event","data":{{"execution_id":"{execution_id}","match_number":1,"timestamp_offset":0.5,"stream_source":"stderr","line_number":3}}}}],"client":{{"version":"0","platform":"linux","anonymized":true}}}}"#
    )
}

/// Runs `first..first + count` in the seed's envelope (ids `0e-` and N in hex), each with one matched line
/// of `line_bytes` bytes.
pub fn batch_body(first: u64, count: u64, line_bytes: usize) -> String {
    let line = "x".repeat(line_bytes);
    let events: Vec<String> = (first..first + count)
        .flat_map(|n| {
            [
                format!(
                    r#"{{"type":"execution","data":{{"execution_id":"0e-{n:x}","timestamp":"2026-11-28T10:00:00.000Z","trace_id":"{:032x}","span_id":"{:016x}","command_hash":"h","exit_code":1,"exit_reason":"match","total_runtime":1.0,"match_count":1}}}}"#,
                    n + 1,
                    n + 1
                ),
                format!(
                    r#"{{"type":"match_event","data":{{"execution_id":"0e-{n:x}","match_number":1,"timestamp_offset":0.5,"stream_source":"stderr","line_number":3,"line_content":"{line}"}}}}"#
                ),
            ]
        })
        .collect();
    format!(
        r#"{{"api_version":"1.0","events":[{}],"client":{{"version":"0","platform":"linux","anonymized":false}}}}"#,
        events.join(",")
    )
}

/// The ids of runs `first..first + count`.
pub fn run_ids(first: u64, count: u64) -> impl Iterator<Item = String> {
    (first..first + count).map(|n| format!("0e-{n:x}"))
}

/// Writes a request by hand and reads the status line of the answer.
pub fn raw_status(url: &str, request: &[u8], pause: Duration, rest: &[u8]) -> u16 {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(request);
    std::thread::sleep(pause);
    let _ = stream.write_all(rest);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}
