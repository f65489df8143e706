//! The reference receiver for earlyexit's HTTP backend: the seed's "simple backend" in Rust.
//!
//!     EARLYEXIT_RECEIVER_API_KEY=secret \
//!       cargo run --example http_receiver -- --listen 127.0.0.1:8080 --db events.db
//!
//! It serves `POST /api/v1/events`, checks the key (`Authorization: Bearer KEY` or
//! `X-API-Key: KEY`, compared in constant time), and stores the events in SQLite with the same
//! `executions` and `match_events` tables as earlyexit's local sink, so `earlyexit telemetry
//! stats` can read its file (`EARLYEXIT_TELEMETRY_SQLITE_PATH=events.db`). A repeated
//! `execution_id` is ignored, so a client may safely send a run again.
//!
//! Answers: 200 `{"status":"ok","received":N,"warnings":[…]}`; 401 bad or missing key; 400 body
//! that is not JSON, wrong `api_version` or no `events` list; 413 body over `--max-body-bytes`;
//! 415 not `application/json`; 404 other paths; 405 other methods.
//!
//! For testing clients: `--record FILE` appends every request (method, path, headers, body) as
//! a JSON line; `--fail-first N --fail-status S [--retry-after SECONDS]` answers the first N
//! requests with status S; `--delay-ms MS` holds each stored request that long before answering.
//! The first line on stdout is the address it listens on.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::PathBuf;

use earlyexit::recording::record::RunRecord;
use earlyexit::store::Store;
use serde_json::json;

struct Options {
    listen: String,
    db: PathBuf,
    key_variable: String,
    max_body_bytes: usize,
    record: Option<PathBuf>,
    fail_first: usize,
    fail_status: u16,
    retry_after: Option<u64>,
    /// Milliseconds to hold each accepted request before answering.
    delay_ms: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        listen: "127.0.0.1:8080".into(),
        db: PathBuf::from("events.db"),
        key_variable: "EARLYEXIT_RECEIVER_API_KEY".into(),
        max_body_bytes: 1 << 20,
        record: None,
        fail_first: 0,
        fail_status: 503,
        retry_after: None,
        delay_ms: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => options.listen = value()?,
            "--db" => options.db = PathBuf::from(value()?),
            "--api-key-env" => options.key_variable = value()?,
            "--max-body-bytes" => {
                options.max_body_bytes =
                    value()?.parse().map_err(|_| "--max-body-bytes: a number")?
            }
            "--record" => options.record = Some(PathBuf::from(value()?)),
            "--fail-first" => {
                options.fail_first = value()?.parse().map_err(|_| "--fail-first: a number")?
            }
            "--fail-status" => {
                options.fail_status = value()?
                    .parse()
                    .map_err(|_| "--fail-status: a status code")?
            }
            "--retry-after" => {
                options.retry_after = Some(value()?.parse().map_err(|_| "--retry-after: seconds")?)
            }
            "--delay-ms" => {
                options.delay_ms = value()?.parse().map_err(|_| "--delay-ms: milliseconds")?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

/// Compares without stopping at the first difference, so timing does not reveal the key.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header<'a>(request: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn authorized(request: &tiny_http::Request, key: &str) -> bool {
    let bearer = header(request, "Authorization").and_then(|v| v.strip_prefix("Bearer "));
    let api_key = header(request, "X-API-Key");
    [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|given| constant_time_eq(given.trim().as_bytes(), key.as_bytes()))
}

fn respond(
    request: tiny_http::Request,
    status: u16,
    body: serde_json::Value,
    extra: Option<(&str, String)>,
) {
    let mut response = tiny_http::Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(
            tiny_http::Header::from_bytes("Content-Type", "application/json")
                .expect("valid header"),
        );
    if let Some((name, value)) = extra {
        response =
            response.with_header(tiny_http::Header::from_bytes(name, value).expect("valid header"));
    }
    let _ = request.respond(response);
}

fn error(request: tiny_http::Request, status: u16, message: &str) {
    respond(
        request,
        status,
        json!({"status": "error", "error": message}),
        None,
    );
}

fn record(path: &PathBuf, request: &tiny_http::Request, body: &[u8]) {
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let line = json!({
        "method": request.method().as_str(),
        "path": request.url(),
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    });
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{line}");
    }
}

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("http_receiver: {message}");
            std::process::exit(2);
        }
    };
    let Some(key) = std::env::var(&options.key_variable)
        .ok()
        .filter(|k| !k.is_empty())
    else {
        eprintln!(
            "http_receiver: set {} to the API key clients must send",
            options.key_variable
        );
        std::process::exit(2);
    };
    let mut store = match Store::open(&options.db, true) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("http_receiver: {e}");
            std::process::exit(1);
        }
    };
    let server = match tiny_http::Server::http(&options.listen) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("http_receiver: cannot listen on {}: {e}", options.listen);
            std::process::exit(1);
        }
    };
    let address = server
        .server_addr()
        .to_ip()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("listening on http://{address}/api/v1/events");
    let _ = std::io::stdout().flush();

    let mut failures_left = options.fail_first;
    for mut request in server.incoming_requests() {
        let mut body = Vec::new();
        let too_large = request
            .body_length()
            .is_some_and(|n| n > options.max_body_bytes);
        if !too_large {
            let _ = request
                .as_reader()
                .take(options.max_body_bytes as u64 + 1)
                .read_to_end(&mut body);
        }
        if let Some(path) = &options.record {
            record(path, &request, &body);
        }
        if failures_left > 0 {
            failures_left -= 1;
            let retry_after = options.retry_after.map(|s| ("Retry-After", s.to_string()));
            respond(
                request,
                options.fail_status,
                json!({"status": "error", "error": "injected failure"}),
                retry_after,
            );
            continue;
        }
        if request.url() != "/api/v1/events" {
            error(request, 404, "not found: use POST /api/v1/events");
            continue;
        }
        if request.method() != &tiny_http::Method::Post {
            error(request, 405, "method not allowed: use POST");
            continue;
        }
        if !authorized(&request, &key) {
            error(request, 401, "invalid or missing API key");
            continue;
        }
        let json_body = header(&request, "Content-Type").is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
        if !json_body {
            error(request, 415, "Content-Type must be application/json");
            continue;
        }
        if too_large || body.len() > options.max_body_bytes {
            error(
                request,
                413,
                &format!("body larger than {} bytes", options.max_body_bytes),
            );
            continue;
        }
        let payload: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(payload) => payload,
            Err(e) => {
                error(request, 400, &format!("body is not JSON: {e}"));
                continue;
            }
        };
        if payload["api_version"] != "1.0" {
            error(request, 400, "unsupported api_version (expected \"1.0\")");
            continue;
        }
        let Some(events) = payload["events"].as_array() else {
            error(request, 400, "events must be a list");
            continue;
        };
        let envelopes = RunRecord::from_envelopes(events);
        let (runs, received) = (envelopes.runs, envelopes.received);
        let warnings: Vec<String> = envelopes.warnings.iter().map(|w| w.to_string()).collect();
        if let Err(e) = store.insert(&runs) {
            error(request, 503, &format!("storage unavailable: {e}"));
            continue;
        }
        std::thread::sleep(std::time::Duration::from_millis(options.delay_ms));
        respond(
            request,
            200,
            json!({"status": "ok", "received": received, "warnings": warnings}),
            None,
        );
    }
}
