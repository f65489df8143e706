//! `earlyexit serve`: real runs of the real client into the server by every path (the seed's
//! events, OTLP over HTTP and over gRPC), each stored once, and bad input refused.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::http::{events_body, post, raw_status};
use crate::common::server::Server;
use crate::common::team::served_figures;
use crate::common::{run, Home};

/// A run as an OTLP/JSON span.
fn otlp_json(execution_id: &str, span_id: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"{span_id}","name":"make","kind":3,"startTimeUnixNano":"1796000000000000000","endTimeUnixNano":"1796000002500000000","attributes":[{{"key":"earlyexit.execution_id","value":{{"stringValue":"{execution_id}"}}}},{{"key":"earlyexit.exit_code","value":{{"intValue":"2"}}}},{{"key":"earlyexit.exit_reason","value":{{"stringValue":"timeout"}}}},{{"key":"earlyexit.outcome","value":{{"stringValue":"timeout"}}}},{{"key":"earlyexit.total_runtime","value":{{"doubleValue":2.5}}}}],"status":{{"code":2,"message":"timeout after 2.5s"}}}}]}}]}}]}}"#
    )
}

#[test]
fn runs_by_both_paths_are_stored_once_however_often_they_are_sent() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let hybrid = run(server.sends_here(
        home.earlyexit(&["--json", "Error", "--", "sh", "-c", "echo Error x"])
            .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid"),
    ));
    assert_eq!(hybrid.stderr_text(), "");
    let otlp = run(server.sends_otlp_here(
        &mut home.earlyexit(&[
            "--json",
            "-m",
            "3",
            "Error",
            "--",
            "sh",
            "-c",
            "echo Error y; sleep 0.3",
        ]),
        "http/protobuf",
    ));
    assert_eq!(otlp.stderr_text(), "");
    for summary in [hybrid.json(), otlp.json()] {
        let id = summary["execution_id"].as_str().unwrap();
        assert_eq!(
            server.query(&format!(
                "SELECT trace_id, outcome, match_count FROM executions WHERE execution_id = '{id}'"
            )),
            [[
                summary["trace_id"].as_str().unwrap().to_string(),
                summary["outcome"].as_str().unwrap().to_string(),
                "1".to_string()
            ]]
        );
    }
    let key = ("X-API-Key", server.write_key.as_str());
    let json = ("Content-Type", "application/json");
    let events = format!("{}/api/v1/events", server.url);
    let traces = format!("{}/v1/traces", server.url);
    for _ in 0..10 {
        assert_eq!(
            post(&events, &[key, json], events_body("0e-1").as_bytes()).0,
            200
        );
        let (status, answer) = post(
            &traces,
            &[key, json],
            otlp_json("0e-2", "eee19b7ec3c1b174").as_bytes(),
        );
        assert_eq!((status, answer.as_str()), (200, "{}"));
    }
    // The same span under another execution id is the same run.
    post(
        &traces,
        &[key, json],
        otlp_json("0e-3", "eee19b7ec3c1b174").as_bytes(),
    );
    assert_eq!(
        server.query("SELECT execution_id, outcome FROM executions WHERE execution_id LIKE '0e-%' ORDER BY 1"),
        // A match sent without an outcome (any client of the seed's API) is a failure.
        [["0e-1", "failure"], ["0e-2", "timeout"]]
    );
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["4"]]);
    assert_eq!(server.query("SELECT count(*) FROM running"), [["0"]]);
}

/// What is sent, with which headers, and the status it must get.
type BadInput<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);

#[test]
fn bad_input_gets_a_4xx_in_one_line_and_nothing_is_stored() {
    let home = Home::new();
    let server = Server::start(
        &home,
        &["--max-body-bytes", "1048576", "--read-timeout", "2s"],
    );
    let events = format!("{}/api/v1/events", server.url);
    let key = ("Authorization", format!("Bearer {}", server.write_key));
    let key = (key.0, key.1.as_str());
    let json = ("Content-Type", "application/json");
    let gzip_bomb = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..64 {
            encoder.write_all(&zeros).unwrap();
        }
        encoder.finish().unwrap()
    };
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<BadInput> = vec![
        ("not JSON", vec![key, json], b"events please".to_vec(), 400),
        ("deep nesting", vec![key, json], deep.into_bytes(), 400),
        (
            "wrong types",
            vec![key, json],
            br#"{"api_version":"1.0","events":"x"}"#.to_vec(),
            400,
        ),
        (
            "wrong version",
            vec![key, json],
            br#"{"api_version":1,"events":[]}"#.to_vec(),
            400,
        ),
        (
            "invalid UTF-8",
            vec![key, json],
            b"{\"api_version\":\"1.0\",\"events\":[\"\xff\xfe\"]}".to_vec(),
            400,
        ),
        (
            "SQL in an id",
            vec![key, json],
            events_body("x'); DROP TABLE executions; --").into_bytes(),
            400,
        ),
        (
            "a gzip bomb",
            vec![key, json, ("Content-Encoding", "gzip")],
            gzip_bomb,
            413,
        ),
        ("no key", vec![json], events_body("0a-1").into_bytes(), 401),
        (
            "a wrong key",
            vec![json, ("X-API-Key", "eek_guess")],
            events_body("0a-2").into_bytes(),
            401,
        ),
        (
            "a read key",
            vec![json, ("X-API-Key", server.read_key.as_str())],
            events_body("0a-3").into_bytes(),
            403,
        ),
        (
            "not JSON's type",
            vec![key, ("Content-Type", "text/plain")],
            events_body("0a-4").into_bytes(),
            415,
        ),
    ];
    for (what, headers, body, expected) in cases {
        let (status, answer) = post(&events, &headers, &body);
        assert_eq!(status, expected, "{what}: {answer}");
        assert_eq!(answer.lines().count(), 1, "{what}: one line: {answer}");
        let error: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(error["status"], "error", "{what}");
    }
    // 100 MB declared: refused before it is read.
    let huge = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n",
        server.write_key
    );
    assert_eq!(
        raw_status(&server.url, huge.as_bytes(), Duration::ZERO, b"{"),
        413
    );
    // One byte a second: the body's deadline ends it.
    let body = events_body("0a-5");
    let slow = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        server.write_key,
        body.len()
    );
    let started = Instant::now();
    let slow_client = std::thread::spawn({
        let url = server.url.clone();
        move || raw_status(&url, slow.as_bytes(), Duration::from_secs(4), b"\"")
    });
    // Meanwhile the server serves the others.
    let (status, _) = post(&events, &[key, json], events_body("0b-1").as_bytes());
    assert_eq!(status, 200);
    assert_eq!(slow_client.join().unwrap(), 408);
    assert!(started.elapsed() < Duration::from_secs(10));
    // A key revoked with the server running stops working at once (`--database` after `keys`
    // as before it).
    let output = home
        .earlyexit(&[
            "serve",
            "keys",
            "revoke",
            "runners",
            "--database",
            &server.database,
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        post(&events, &[key, json], events_body("0b-2").as_bytes()).0,
        401
    );
    assert_eq!(
        server.query("SELECT execution_id FROM executions"),
        [["0b-1"]]
    );
}

/// A runner pointed at the server with OTLP over gRPC: the live records (`LogsService`) show
/// the run in progress while it runs, the span (`TraceService`) stores it once, and a wrong
/// key is refused without breaking the run or storing anything.
#[test]
fn otlp_over_grpc_is_stored_live_and_once_and_a_wrong_key_is_refused() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let grpc = |key: &str, script: &str| {
        let mut command = home.earlyexit(&["--json", "-m", "3", "Error", "--", "sh", "-c", script]);
        command
            .env("EARLYEXIT_TELEMETRY_BACKEND", "otlp")
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.url)
            .env("OTEL_EXPORTER_OTLP_HEADERS", format!("x-api-key={key}"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    };
    let going = grpc(&server.write_key, "echo Error y; sleep 2")
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while server.query("SELECT count(*) FROM running") != [["1"]] {
        assert!(Instant::now() < until, "no run in progress at the server");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(served_figures(&server, "since=1d")["in_progress"], 1);
    let output = going.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let id = summary["execution_id"].as_str().unwrap();
    assert_eq!(
        server.query(&format!(
            "SELECT trace_id, match_count FROM executions WHERE execution_id = '{id}'"
        )),
        [[
            summary["trace_id"].as_str().unwrap().to_string(),
            "1".to_string()
        ]]
    );
    assert_eq!(server.query("SELECT count(*) FROM running"), [["0"]]);
    let figures = served_figures(&server, "since=1d");
    assert_eq!(
        (&figures["runs"], &figures["in_progress"]),
        (&1.into(), &0.into())
    );

    let refused = grpc("eek_wrong", "echo Error z").output().unwrap();
    assert_eq!(
        refused.status.code(),
        Some(1),
        "the run's own code: fewer matches than -m"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("eek_wrong"), "{stderr}");
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["1"]]);
}
