//! The team server's edges, each as a client or an operator meets it: values a store cannot
//! order or sum, the request log's id and client, a page's security headers, the open files
//! limit, and an import of a file full of bad lines.

use std::io::Write;

use nix::sys::resource::Resource;

use crate::common::http::{agent, post};
use crate::common::server::Server;
use crate::common::{run, Home};

fn one_run(timestamp: &str, total_runtime: &str) -> String {
    format!(
        r#"{{"api_version":"1.0","events":[{{"type":"execution","data":{{"execution_id":"0b-1","timestamp":"{timestamp}","command_hash":"h","exit_code":0,"exit_reason":"no_match","total_runtime":{total_runtime},"match_count":0}}}}]}}"#
    )
}

#[test]
fn a_time_or_duration_no_store_can_order_or_sum_is_refused_with_its_field() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let send = |body: String| {
        post(
            &format!("{}/api/v1/events", server.url),
            &[
                ("X-API-Key", &server.write_key),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    };
    for (timestamp, runtime, said) in [
        (
            "yesterday",
            "1",
            "timestamp \\\"yesterday\\\" is not an RFC 3339 time in UTC",
        ),
        (
            "9999-12-31T00:00:00Z",
            "1",
            "is more than a day ahead of this clock",
        ),
        (
            "2026-12-01T10:00:00Z",
            "-5",
            "total_runtime -5 is not a number of seconds",
        ),
    ] {
        let (status, body) = send(one_run(timestamp, runtime));
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("run 0b-1: "), "{body}");
        assert!(body.contains(said), "{body}");
    }
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["0"]]);
    let (status, body) = send(one_run("2026-12-01T10:00:00+00:00", "2.5"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        server.query("SELECT timestamp FROM executions"),
        [["2026-12-01T10:00:00.000Z"]],
        "kept as every store keeps a start"
    );
}

#[test]
fn each_request_is_logged_with_its_id_and_client_and_a_page_forbids_scripts_and_frames() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    let response = agent()
        .get(&format!("{}/", server.url))
        .header("Authorization", &format!("Bearer {}", server.read_key))
        .header("X-Request-Id", "lb-7f3a.1")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_string())
    };
    assert_eq!(header("x-request-id").as_deref(), Some("lb-7f3a.1"));
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    let policy = header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("script-src"), "{policy}");
    // A request id that is not a short token is replaced by one of the server's.
    let response = agent()
        .get(&format!("{}/healthz", server.url))
        .header("X-Request-Id", "a b\"c")
        .call()
        .unwrap();
    let made = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(made.len(), 36, "{made}");
    server.stop();
    let log = std::fs::read_to_string(&server.log).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| line["path"].is_string())
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(lines[0]["request_id"], "lb-7f3a.1");
    assert_eq!(lines[1]["request_id"], made.as_str());
    for line in &lines {
        let client = line["client"].as_str().unwrap();
        assert!(client.starts_with("127.0.0.1:"), "{line}");
    }
}

#[test]
fn the_server_lifts_its_open_files_limit_to_the_hard_one() {
    let home = Home::new();
    let server = Server::start_limited(&home, Resource::RLIMIT_NOFILE, 256);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft and hard: {line}");
    assert_ne!(numbers[0], "256", "{line}");
}

#[test]
fn an_import_of_a_thousand_bad_lines_says_twenty_and_counts_the_rest() {
    let home = Home::new();
    let file = home.dir.join("bad.jsonl");
    let mut out = std::fs::File::create(&file).unwrap();
    for n in 0..1000 {
        writeln!(out, r#"{{"type":"execution","data":{{"execution_id":"0c-{n:x}","timestamp":"soon","total_runtime":1}}}}"#).unwrap();
    }
    drop(out);
    let imported = run(&mut home.earlyexit(&["telemetry", "import", file.to_str().unwrap()]));
    let stderr = imported.stderr_text();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("import: ")).collect();
    assert_eq!(warnings.len(), 21, "{stderr}");
    assert!(
        warnings[0].contains("timestamp \"soon\" is not an RFC 3339 time"),
        "{stderr}"
    );
    assert!(
        warnings[20]
            .contains("980 more warning(s) not shown (1000 envelope(s) or run(s) skipped in all)"),
        "{stderr}"
    );
    assert!(stderr.lines().count() <= 23, "{stderr}");
}

/// The server's peak resident memory so far, in bytes.
fn peak_memory(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// A 9 MB body of 280,000 empty envelopes, and one of 4.5 million empty OTLP spans: read as
/// trees and records they took 300 MB and 1.2 GB. Now each costs a few times its size, and
/// sixteen at once are held within the in-flight budget.
#[test]
fn bodies_of_tiny_items_cost_a_small_multiple_of_their_size_and_share_one_budget() {
    let home = Home::new();
    let server = Server::start(&home, &["--max-in-flight-bytes", "20000000"]);
    let envelopes = vec![r#"{"type":"match_event","data":{}}"#; 280_000].join(",");
    let events = format!(r#"{{"api_version":"1.0","events":[{envelopes}]}}"#);
    let spans = {
        let span = [0x12u8, 0x00];
        let scope: Vec<u8> = span.repeat(4_500_000);
        let field = |tag: u8, payload: &[u8]| {
            let mut out = vec![tag << 3 | 2];
            let mut length = payload.len();
            while length >= 0x80 {
                out.push((length as u8 & 0x7f) | 0x80);
                length >>= 7;
            }
            out.push(length as u8);
            out.extend_from_slice(payload);
            out
        };
        field(1, &field(2, &scope))
    };
    let before = peak_memory(&server);
    let send = |path: &str, content_type: &str, body: &[u8]| {
        post(
            &format!("{}{path}", server.url),
            &[
                ("X-API-Key", &server.write_key),
                ("Content-Type", content_type),
            ],
            body,
        )
    };
    let (status, answer) = send("/api/v1/events", "application/json", events.as_bytes());
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = send("/v1/traces", "application/x-protobuf", &spans);
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("4500000 spans in one request"), "{answer}");
    let one = peak_memory(&server) - before;
    assert!(
        one < 10 * events.len() as u64,
        "{one} bytes for one body of {}",
        events.len()
    );
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                let (status, answer) =
                    send("/api/v1/events", "application/json", events.as_bytes());
                assert!(status == 400 || status == 503, "{status} {answer}");
            });
        }
    });
    let sixteen = peak_memory(&server) - before;
    assert!(
        sixteen < 20 * events.len() as u64,
        "{sixteen} bytes for sixteen bodies of {}",
        events.len()
    );
}

/// A run that could not start, sent over OTLP at full detail from CI, keeps its branch and
/// repository: it has no working directory, which the server once took for minimal detail.
#[test]
fn a_run_that_could_not_start_keeps_its_branch_over_otlp() {
    let home = Home::new();
    home.write_config("telemetry:\n  remote_detail: full\n");
    let server = Server::start(&home, &[]);
    let mut command = home.earlyexit(&["Error", "--", "/nonexistent/command"]);
    let failed = run(server
        .sends_otlp_here(&mut command, "http/protobuf")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REF_NAME", "main")
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_REPOSITORY", "team/app"));
    assert_eq!(failed.code, 3, "{}", failed.stderr_text());
    assert_eq!(
        server.query("SELECT outcome, vcs_ref, vcs_repository_url, anonymized FROM executions"),
        [["error", "main", "https://github.example/team/app", "0"]]
    );
}
