//! The runs a team sends in the report tests, and the pages they compare.

use std::time::{Duration, SystemTime};

use super::http::{get, post};
use super::server::Server;

/// Runs posted at once from many runners.
const RUNNERS: u64 = 12;
const BATCHES_PER_RUNNER: u64 = 5;
const RUNS_PER_BATCH: u64 = 40;

/// Posts the runs `first..first + count` of [`varied_run`] over five days in one request.
pub fn send_batch(server: &Server, first: u64, count: u64, now: SystemTime) {
    store_events(
        server,
        (first..first + count).flat_map(|n| varied_run(n, now, 120).1),
    );
}

/// Posts these events in one envelope, with the write key; the server answers 200.
pub fn store_events(server: &Server, events: impl Iterator<Item = String>) {
    let body = envelope(events);
    let (status, answer) = post(
        &format!("{}/api/v1/events", server.url),
        &[
            ("X-API-Key", &server.write_key),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
}

/// Sends the runs of [`varied_run`] from [`RUNNERS`] threads at once, each to one of the
/// servers in turn; returns how many.
pub fn send_varied(servers: &[&Server], now: SystemTime) -> u64 {
    std::thread::scope(|scope| {
        for runner in 0..RUNNERS {
            let server = servers[runner as usize % servers.len()];
            scope.spawn(move || {
                for batch in 0..BATCHES_PER_RUNNER {
                    let first = (runner * BATCHES_PER_RUNNER + batch) * RUNS_PER_BATCH;
                    send_batch(server, first, RUNS_PER_BATCH, now);
                }
            });
        }
    });
    RUNNERS * BATCHES_PER_RUNNER * RUNS_PER_BATCH
}

/// The server's page for `query` (`since=30d`).
pub fn served_page(server: &Server, query: &str) -> String {
    served(server, "/", query)
}

/// The server's `GET /api/v1/report` for `query`.
pub fn served_figures(server: &Server, query: &str) -> serde_json::Value {
    let body = served(server, "/api/v1/report", query);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn served(server: &Server, path: &str, query: &str) -> String {
    let bearer = format!("Bearer {}", server.read_key);
    let (status, body) = get(
        &format!("{}{path}?{query}", server.url),
        &[("Authorization", &bearer)],
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// Every section but the heading's, for a whole month and for a period that starts in the
/// middle of a day (and the period before it, which the trend reads, starts and ends in one),
/// with a filter and without.
pub const PERIODS: [&str; 5] = [
    "since=30d",
    "since=36h",
    "since=50h&branch=main",
    "since=7d&command=npm",
    "since=3d&repository=team/ap",
];

/// A time as the stores keep it: RFC 3339 in UTC, with milliseconds.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// The HTTP API's envelope of these events.
pub fn envelope(events: impl Iterator<Item = String>) -> String {
    let events: Vec<String> = events.collect();
    format!(
        r#"{{"api_version":"1.0","events":[{}],"client":{{"version":"0","platform":"linux","anonymized":false}}}}"#,
        events.join(",")
    )
}

/// Run N as a team sends it (ids `0d-` and N in hex): four commands, six kinds of ending,
/// run times from 0.1 s to 100 s, two branches, CI and local, revisions shared by ten runs,
/// started on the half hour of one of the `hours` hours before `now` (so that no period that
/// starts on a whole hour from `now` cuts through a run): when it started, and its events
/// (the run, and its first match if it has one).
pub fn varied_run(n: u64, now: SystemTime, hours: u64) -> (SystemTime, Vec<String>) {
    const ENDINGS: [(&str, &str, bool, i64); 6] = [
        ("success", "no_match", false, 0),
        ("failure", "error_pattern", true, 1),
        ("stopped_on_success", "success_pattern", true, 0),
        ("timeout", "timeout", true, 124),
        ("failure", "no_match", false, 2),
        ("cancelled", "interrupted", true, 130),
    ];
    let commands = ["cargo test", "npm test", "make check", "pytest -x"];
    let (outcome, reason, stopped, code) = ENDINGS[(n / 4 % 6) as usize];
    let command = commands[(n % 4) as usize];
    let runtime = 0.1 + (n * 37 % 1000) as f64 / 10.0;
    let hours_ago = n * 7919 % hours;
    let started = now - Duration::from_secs(hours_ago * 3600 + 1800);
    let timestamp = humantime::format_rfc3339_millis(started);
    let matches = if reason.ends_with("pattern") {
        1 + n % 3
    } else {
        0
    };
    let first_match = if matches > 0 {
        format!("{}", runtime / 2.0)
    } else {
        "null".into()
    };
    let ci = if n.is_multiple_of(5) {
        "null".to_string()
    } else {
        r#""github_actions""#.to_string()
    };
    let execution = format!(
        r#"{{"type":"execution","data":{{"execution_id":"0d-{n:x}","timestamp":"{timestamp}","trace_id":"{:032x}","span_id":"{:016x}","command_hash":"h{}","executable":"{}","command":"{command}","pattern":"{}","exit_code":{code},"exit_reason":"{reason}","outcome":"{outcome}","stopped_command":{stopped},"total_runtime":{runtime},"time_to_first_match":{first_match},"match_count":{matches},"ci_system":{ci},"vcs_ref":"{}","vcs_revision":"r{}","vcs_repository_url":"https://git.example/team/app","anonymized":false}}}}"#,
        n + 1,
        n + 1,
        n % 4,
        command.split(' ').next().unwrap_or_default(),
        ["error", "FAIL"][(n % 2) as usize],
        ["main", "feature/x"][(n / 3 % 2) as usize],
        n / 10,
    );
    let matched = (matches > 0).then(|| {
        format!(
            r#"{{"type":"match_event","data":{{"execution_id":"0d-{n:x}","match_number":1,"timestamp_offset":{first_match},"stream_source":"stderr","line_number":{},"line_content":"error in case {n}"}}}}"#,
            n % 90
        )
    });
    (started, std::iter::once(execution).chain(matched).collect())
}

/// The sections of a report page, without its heading (which names the store and the time).
pub fn report_sections(page: &str) -> &str {
    let start = page.find(r#"<section id="time-saved">"#).unwrap_or(0);
    &page[start..]
}
