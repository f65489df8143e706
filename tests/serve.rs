//! `earlyexit serve`: real runs of the real client into the server, bad input, keys, limits
//! and shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::server::Server;
use crate::common::{run, Home};

/// An agent that reports every status rather than failing on 4xx and 5xx.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Posts a body; returns the status and the body of the answer.
fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
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

fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
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
fn events_body(execution_id: &str) -> String {
    format!(
        r#"{{"api_version":"1.0","events":[{{"type":"execution","data":{{"execution_id":"{execution_id}","timestamp":"2026-11-28T10:00:00.000Z","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","command_hash":"h","exit_code":0,"exit_reason":"match","total_runtime":1.0,"match_count":1}}}},{{"type":"match_event","data":{{"execution_id":"{execution_id}","match_number":1,"timestamp_offset":0.5,"stream_source":"stderr","line_number":3}}}}],"client":{{"version":"0","platform":"linux","anonymized":true}}}}"#
    )
}

/// A run as an OTLP/JSON span.
fn otlp_json(execution_id: &str, span_id: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"{span_id}","name":"make","kind":3,"startTimeUnixNano":"1800000000000000000","endTimeUnixNano":"1800000002500000000","attributes":[{{"key":"earlyexit.execution_id","value":{{"stringValue":"{execution_id}"}}}},{{"key":"earlyexit.exit_code","value":{{"intValue":"2"}}}},{{"key":"earlyexit.exit_reason","value":{{"stringValue":"timeout"}}}},{{"key":"earlyexit.outcome","value":{{"stringValue":"timeout"}}}},{{"key":"earlyexit.total_runtime","value":{{"doubleValue":2.5}}}}],"status":{{"code":2,"message":"timeout after 2.5s"}}}}]}}]}}]}}"#
    )
}

#[test]
fn runs_by_both_paths_are_stored_once_however_often_they_are_sent() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let hybrid = run(home
        .earlyexit(&["--json", "Error", "--", "sh", "-c", "echo Error x"])
        .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
        .env(
            "EARLYEXIT_TELEMETRY_ENDPOINT",
            format!("{}/api/v1/events", server.url),
        )
        .env("EARLYEXIT_TELEMETRY_API_KEY", &server.write_key));
    assert_eq!(hybrid.stderr_text(), "");
    let otlp = run(home
        .earlyexit(&[
            "--json",
            "-m",
            "3",
            "Error",
            "--",
            "sh",
            "-c",
            "echo Error y; sleep 0.3",
        ])
        .env("EARLYEXIT_TELEMETRY_BACKEND", "otlp")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.url)
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("x-api-key={}", server.write_key),
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
        [["0e-1", "stopped_on_success"], ["0e-2", "timeout"]]
    );
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["4"]]);
    assert_eq!(server.query("SELECT count(*) FROM running"), [["0"]]);
}

/// Writes a request by hand and reads the status line of the answer.
fn raw_status(url: &str, request: &[u8], pause: Duration, rest: &[u8]) -> u16 {
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
    // A key revoked with the server running stops working within its 2 s.
    let output = home
        .earlyexit(&[
            "serve",
            "--database",
            &server.database,
            "keys",
            "revoke",
            "runners",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(
        post(&events, &[key, json], events_body("0b-2").as_bytes()).0,
        401
    );
    assert_eq!(
        server.query("SELECT execution_id FROM executions"),
        [["0b-1"]]
    );
}

#[test]
fn the_report_and_the_figures_need_a_read_key() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let key = ("X-API-Key", server.write_key.as_str());
    let json = ("Content-Type", "application/json");
    post(
        &format!("{}/api/v1/events", server.url),
        &[key, json],
        events_body("0c-1").as_bytes(),
    );
    let page = format!("{}/?since=7d", server.url);
    let (status, _) = get(&page, &[]);
    assert_eq!(status, 401);
    assert_eq!(get(&page, &[key]).0, 403, "a write key does not read");
    let basic = format!(
        "Basic {}",
        base64_of(&format!("anyone:{}", server.read_key))
    );
    let (status, html) = get(
        &format!("{}/?since=36500d", server.url),
        &[("Authorization", &basic)],
    );
    assert_eq!(status, 200);
    assert!(html.contains("<h2>Runs in progress</h2>"), "{html}");
    assert!(html.contains("1 run(s)"), "{html}");
    let (status, stats) = get(
        &format!("{}/api/v1/stats?since=36500d", server.url),
        &[("Authorization", &format!("Bearer {}", server.read_key))],
    );
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["runs"], 1);
    assert_eq!(
        get(&format!("{}/healthz", server.url), &[]),
        (200, "ok\n".into())
    );
    assert_eq!(get(&format!("{}/readyz", server.url), &[]).0, 200);
    let (_, metrics) = get(&format!("{}/metrics", server.url), &[]);
    assert!(
        metrics.contains("earlyexit_requests_total{route=\"events\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("earlyexit_runs_stored_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("earlyexit_rejected_total{reason=\"wrong_role\"} 1"),
        "{metrics}"
    );
    assert_eq!(get(&format!("{}/nowhere", server.url), &[]).0, 404);
    assert_eq!(post(&format!("{}/healthz", server.url), &[], b"").0, 405);
}

fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_key_over_its_rate_is_told_when_to_come_back() {
    let home = Home::new();
    let server = Server::start(&home, &["--max-requests-per-second", "2"]);
    let key = ("X-API-Key", server.write_key.as_str());
    let json = ("Content-Type", "application/json");
    let events = format!("{}/api/v1/events", server.url);
    let statuses: Vec<u16> = (0..3)
        .map(|i| {
            post(
                &events,
                &[key, json],
                events_body(&format!("0d-{i}")).as_bytes(),
            )
            .0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    let mut response = agent()
        .post(&events)
        .header("X-API-Key", &server.write_key)
        .header("Content-Type", "application/json")
        .send(events_body("0d-9").as_bytes())
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    assert!(response
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("too many requests"));
}

/// A store that cannot take the run answers 503 with Retry-After; the runner keeps the run in
/// its outbox, and `telemetry sync` delivers it once the store is back.
#[test]
fn a_store_that_cannot_write_answers_503_and_the_outbox_keeps_the_run() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let blocker = rusqlite::Connection::open(&server.database).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let hybrid = |args: &[&str]| {
        let mut command = home.earlyexit(args);
        command
            .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
            .env(
                "EARLYEXIT_TELEMETRY_ENDPOINT",
                format!("{}/api/v1/events", server.url),
            )
            .env("EARLYEXIT_TELEMETRY_API_KEY", &server.write_key)
            .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "4s");
        command
    };
    let first = run(&mut hybrid(&["--", "true"]));
    assert_eq!(first.code, 0);
    assert!(
        first.stderr_text().contains("503"),
        "{}",
        first.stderr_text()
    );
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["1"]]);
    blocker.execute_batch("ROLLBACK").unwrap();
    let sync = run(&mut hybrid(&["telemetry", "sync"]));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["1"]]);
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
}

/// SIGTERM: the request in flight finishes and is stored; then nothing listens.
#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    let body = events_body("0f-1");
    let (head, tail) = body.split_at(body.len() / 2);
    let request = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        server.write_key,
        body.len()
    );
    let in_flight = std::thread::spawn({
        let url = server.url.clone();
        let tail = tail.to_string();
        move || {
            raw_status(
                &url,
                request.as_bytes(),
                Duration::from_millis(800),
                tail.as_bytes(),
            )
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(in_flight.join().unwrap(), 200);
    assert_eq!(
        server.query("SELECT execution_id FROM executions"),
        [["0f-1"]]
    );
    let address = server.url.trim_start_matches("http://").to_string();
    assert!(
        TcpStream::connect(address).is_err(),
        "nothing listens after the shutdown"
    );
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("\"key\":\"runners\""), "{log}");
    assert!(
        !log.contains(&server.write_key),
        "the log never holds a key"
    );
}

/// HTTPS from the server's own certificate files, and with `--client-ca` mTLS: the real client
/// trusts the private CA (`http.ca_file`), and presents its certificate where it must.
#[test]
#[ignore = "needs openssl: run tests/install-and-run.sh"]
fn the_server_speaks_tls_and_requires_client_certificates_when_told() {
    let home = Home::new();
    let certificates = Home::new();
    crate::common::tls_front::private_ca(&certificates.dir);
    let file = |name: &str| certificates.dir.join(name).to_str().unwrap().to_string();
    let tls = [
        "--tls-certificate",
        &file("server.pem"),
        "--tls-key",
        &file("server.key"),
    ];
    let server = Server::start(&home, &tls);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let hybrid = |server: &Server, client_certificate: bool| {
        let mut command = home.earlyexit(&["--", "true"]);
        command
            .env("EARLYEXIT_TELEMETRY_BACKEND", "http")
            .env(
                "EARLYEXIT_TELEMETRY_ENDPOINT",
                format!("{}/api/v1/events", server.url),
            )
            .env("EARLYEXIT_TELEMETRY_API_KEY", &server.write_key)
            .env("EARLYEXIT_TELEMETRY_HTTP_CA_FILE", file("ca.pem"));
        if client_certificate {
            command
                .env("EARLYEXIT_TELEMETRY_HTTP_CLIENT_CERT", file("client.pem"))
                .env("EARLYEXIT_TELEMETRY_HTTP_CLIENT_KEY", file("client.key"));
        }
        run(&mut command)
    };
    let sent = hybrid(&server, false);
    assert_eq!(sent.stderr_text(), "", "trusted through the private CA");
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["1"]]);
    // Plain HTTP to the TLS port is not served.
    let plain = ureq::get(&format!(
        "http://{}/healthz",
        server.url.trim_start_matches("https://")
    ))
    .call();
    assert!(plain.is_err());
    drop(server);

    let mutual = Home::new();
    let ca = file("ca.pem");
    let with_client_ca = [&tls[..], &["--client-ca", &ca]].concat();
    let server = Server::start(&mutual, &with_client_ca);
    let without = hybrid(&server, false);
    assert_eq!(without.code, 0);
    assert!(
        without.stderr_text().contains("telemetry not recorded"),
        "{}",
        without.stderr_text()
    );
    let with = hybrid(&server, true);
    assert_eq!(with.stderr_text(), "", "the client certificate is accepted");
    // The refused run waited in the outbox and went with this one.
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["2"]]);
    let bad = run(&mut mutual.earlyexit(&[
        "serve",
        "--tls-certificate",
        &file("server.pem"),
        "--tls-key",
        &file("client.key"),
    ]));
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr_text()
            .contains("the private key does not belong to the certificate"),
        "{}",
        bad.stderr_text()
    );
}

/// A PostgreSQL that is not there stops the server at once, in one line that names the
/// database without its password.
#[test]
fn a_database_that_cannot_be_reached_is_one_line_without_its_password() {
    let home = Home::new();
    let url = format!(
        "postgres://earlyexit:s3cr3t-pw@127.0.0.1:{}/team",
        crate::common::closed_port()
    );
    let started = Instant::now();
    let serve = run(&mut home.earlyexit(&["serve", "--database", &url, "--listen", "127.0.0.1:0"]));
    assert_eq!(serve.code, 1);
    let stderr = serve.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("postgres://[REDACTED]@127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A connection that sends nothing is closed after the read timeout: idle clients do not
/// hold the server's connections.
#[test]
fn an_idle_connection_is_closed_after_the_read_timeout() {
    let home = Home::new();
    let server = Server::start(&home, &["--read-timeout", "1s"]);
    let mut idle = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let _ = idle.read_to_end(&mut buffer);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
}

/// Seconds of CPU a process has used (user and system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// A server out of file descriptors waits for one rather than spinning on the failed accept,
/// and serves again once connections close.
#[test]
fn a_server_out_of_file_descriptors_neither_spins_nor_stops() {
    let home = Home::new();
    let server = Server::start_with_open_files(&home, 48);
    let address = server.url.trim_start_matches("http://").to_string();
    let held: Vec<TcpStream> = (0..64)
        .filter_map(|_| TcpStream::connect(&address).ok())
        .collect();
    assert_eq!(
        held.len(),
        64,
        "the kernel queues what the server cannot take"
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_seconds(server.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(server.pid()) - before;
    assert!(
        used < 0.5,
        "{used} s of CPU in 2 s while out of descriptors"
    );
    drop(held);
    let (status, _) = get(&format!("{}/healthz", server.url), &[]);
    assert_eq!(status, 200);
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

/// The SQLite store samples its runs for the query planner when the server starts (and as
/// they grow): without the samples a month's figures over a million runs took 39 s.
#[test]
fn the_sqlite_store_keeps_statistics_for_its_planner() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    let (status, _) = post(
        &format!("{}/api/v1/events", server.url),
        &[
            ("X-API-Key", server.write_key.as_str()),
            ("Content-Type", "application/json"),
        ],
        events_body("0e-9").as_bytes(),
    );
    assert_eq!(status, 200);
    server.stop();
    let keys = (server.write_key.clone(), server.read_key.clone());
    let server = Server::start_on(&home, &server.database, "127.0.0.1:0", &[], keys.0, keys.1);
    let until = Instant::now() + Duration::from_secs(5);
    // The table appears with the first ANALYZE, which the server runs as it starts.
    let sampled = || {
        server.query("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'") == [["1"]]
            && server.query("SELECT count(*) > 0 FROM sqlite_stat1 WHERE tbl = 'executions'")
                == [["1"]]
    };
    while !sampled() {
        assert!(Instant::now() < until, "no statistics after 5 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
