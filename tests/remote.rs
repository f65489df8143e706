//! Remote telemetry against the reference receiver on loopback: the exact request, privacy on
//! the wire, deadlines, retries, hybrid mode's outbox, the opt-in flow and the tools.

mod common;
use common::*;

use std::process::Command;
use std::time::{Duration, Instant};

/// earlyexit in `home`, sending to `url` with the test key.
fn remote(home: &Home, url: &str, args: &[&str]) -> Command {
    let mut command = home.earlyexit(args);
    command
        .env("EARLYEXIT_TELEMETRY_ENDPOINT", url)
        .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY);
    command
}

/// A run that matches and ends by itself (so no "stopped the command" message races in).
const RUN: [&str; 6] = ["--telemetry-backend", "http", "Error", "--", "sh", "-c"];

#[test]
fn the_request_has_the_seed_body_and_a_bearer_key() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let run = run(&mut remote(
        &home,
        &receiver.url,
        &[&["--json"][..], &RUN, &["echo ok; echo Error here"]].concat(),
    ));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    assert_eq!(run.stderr_text(), "");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/api/v1/events");
    assert_eq!(
        request["headers"]["authorization"],
        format!("Bearer {RECEIVER_KEY}")
    );
    assert_eq!(request["headers"]["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["api_version"], "1.0");
    assert_eq!(body["client"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["client"]["platform"], std::env::consts::OS);
    assert_eq!(body["client"]["anonymized"], true);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "execution");
    assert_eq!(
        events[0]["data"]["execution_id"],
        run.json()["execution_id"]
    );
    assert_eq!(events[0]["data"]["pattern"], "Error");
    assert_eq!(events[1]["type"], "match_event");
    assert_eq!(events[1]["data"]["match_number"], 1);
    assert_eq!(events[1]["data"]["stream_source"], "stdout");
    assert_eq!(receiver.execution_count(), 1);
    assert!(
        !home.db_path().exists(),
        "the http backend keeps nothing locally"
    );
}

#[test]
fn x_api_key_header_when_configured() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    home.write_config("telemetry:\n  http:\n    auth_header: x-api-key\n");
    let run = run(&mut remote(
        &home,
        &receiver.url,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    let request = &receiver.requests()[0];
    assert_eq!(request["headers"]["x-api-key"], RECEIVER_KEY);
    assert!(request["headers"].get("authorization").is_none());
    assert_eq!(receiver.execution_count(), 1);
}

#[test]
fn a_planted_secret_never_goes_on_the_wire_at_default_detail() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let directory = home.dir.join("dir-s3cr3t-path");
    std::fs::create_dir_all(&directory).unwrap();
    let script = "echo 'Error: the-matched-s3cr3t-line'";
    let run = run(remote(
        &home,
        &receiver.url,
        &[&RUN[..], &[script, "--password", "hunter2hunter2"]].concat(),
    )
    .current_dir(&directory));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    let wire = std::fs::read_to_string(&receiver.record).unwrap();
    for secret in ["hunter2hunter2", "s3cr3t", "the-matched"] {
        assert!(!wire.contains(secret), "{secret} went on the wire");
    }
    assert!(wire.contains("command_hash"));
}

#[test]
fn full_remote_detail_sends_the_scrubbed_command_and_lines() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    home.write_config("telemetry:\n  remote_detail: full\n");
    let script = "echo 'Error: login as bob@example.com failed'";
    run(&mut remote(
        &home,
        &receiver.url,
        &[&RUN[..], &[script, "--password", "hunter2hunter2"]].concat(),
    ));
    let wire = std::fs::read_to_string(&receiver.record).unwrap();
    assert!(!wire.contains("hunter2hunter2") && !wire.contains("bob@example.com"));
    let rows = receiver.query("SELECT command FROM executions");
    assert!(rows[0][0].contains("--password [REDACTED]"), "{rows:?}");
    let lines = receiver.query("SELECT line_content FROM match_events");
    assert!(
        lines[0][0].contains("Error: login as [EMAIL] failed"),
        "{lines:?}"
    );
}

/// Median wall time of a few runs (loose comparisons only).
fn median_time(mut make: impl FnMut() -> Command, times: usize) -> Duration {
    let mut samples: Vec<Duration> = (0..times)
        .map(|_| {
            let start = Instant::now();
            make().output().unwrap();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[times / 2]
}

#[test]
fn an_endpoint_that_refuses_connections_costs_little_and_one_line() {
    let home = Home::new();
    let url = format!("http://127.0.0.1:{}/api/v1/events", closed_port());
    let run = run(&mut remote(
        &home,
        &url,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(run.code, 0);
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("earlyexit: telemetry not recorded: http: "),
        "{stderr}"
    );
    assert!(!stderr.contains(RECEIVER_KEY));
    let refused = median_time(
        || remote(&home, &url, &[&RUN[..], &["echo Error"]].concat()),
        5,
    );
    assert!(
        refused < Duration::from_millis(500),
        "refused endpoint took {refused:?}"
    );
}

/// A server that accepts connections and never answers.
fn silent_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/events", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok((stream, _)) = listener.accept() {
                held.push(stream);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (url, handle)
}

#[test]
fn an_endpoint_that_never_answers_costs_at_most_the_timeout() {
    let home = Home::new();
    home.write_config("telemetry:\n  http:\n    timeout: 1s\n");
    let (url, _server) = silent_server();
    let run = run(&mut remote(
        &home,
        &url,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(run.code, 0);
    assert!(
        run.elapsed >= Duration::from_millis(900),
        "{:?}",
        run.elapsed
    );
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("did not answer within 1s"), "{stderr}");
}

#[test]
fn fire_and_forget_returns_at_once_and_delivers_afterwards() {
    let home = Home::new();
    home.write_config("telemetry:\n  http:\n    fire_and_forget: true\n    timeout: 5s\n");
    let (silent, _server) = silent_server();
    let run_silent = run(&mut remote(
        &home,
        &silent,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(run_silent.code, 0);
    assert!(
        run_silent.elapsed < Duration::from_secs(1),
        "{:?}",
        run_silent.elapsed
    );
    assert_eq!(run_silent.stderr_text(), "");

    let receiver = Receiver::start(&home, &[]);
    let run = run(&mut remote(
        &home,
        &receiver.url,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(run.code, 0);
    let until = Instant::now() + Duration::from_secs(5);
    while receiver.execution_count() == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        receiver.execution_count(),
        1,
        "the detached delivery arrived"
    );
    let request = &receiver.requests()[0];
    assert_eq!(
        request["headers"]["authorization"],
        format!("Bearer {RECEIVER_KEY}")
    );
}

#[test]
fn retries_after_503_then_succeeds() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &["--fail-first", "2", "--fail-status", "503"]);
    let run = run(&mut remote(
        &home,
        &receiver.url,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stderr_text(),
        "",
        "a delivery that succeeded on retry warns of nothing"
    );
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(receiver.execution_count(), 1);
}

#[test]
fn retries_after_429_honour_retry_after() {
    let home = Home::new();
    let receiver = Receiver::start(
        &home,
        &[
            "--fail-first",
            "1",
            "--fail-status",
            "429",
            "--retry-after",
            "1",
        ],
    );
    let run = run(
        remote(&home, &receiver.url, &[&RUN[..], &["echo Error"]].concat())
            .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "3s"),
    );
    assert_eq!(run.code, 0);
    assert_eq!(run.stderr_text(), "");
    assert_eq!(receiver.requests().len(), 2);
    assert!(
        run.elapsed >= Duration::from_secs(1),
        "Retry-After was not honoured: {:?}",
        run.elapsed
    );
    assert_eq!(receiver.execution_count(), 1);
}

#[test]
fn other_4xx_are_not_retried_and_say_why() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let run = run(
        remote(&home, &receiver.url, &[&RUN[..], &["echo Error"]].concat())
            .env("EARLYEXIT_TELEMETRY_API_KEY", "wrong-key"),
    );
    assert_eq!(run.code, 0);
    assert_eq!(receiver.requests().len(), 1);
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1);
    assert!(
        stderr.contains("answered 401: invalid or missing API key"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-key"));
}

fn hybrid(home: &Home, url: &str) -> Command {
    let mut command = remote(
        home,
        url,
        &["--telemetry-backend", "hybrid", "x", "--", "echo", "x"],
    );
    command.env("EARLYEXIT_TELEMETRY_HTTP_OPT_IN", "true");
    command
}

#[test]
fn hybrid_runs_during_an_outage_are_sent_once_by_later_runs_and_sync() {
    let home = Home::new();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/events");
    for _ in 0..20 {
        let run = run(&mut hybrid(&home, &url));
        assert_eq!(run.code, 0);
        assert_eq!(
            run.stderr_text().lines().count(),
            1,
            "one warning per failed delivery"
        );
    }
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["20"]]);
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["20"]]);

    let receiver = Receiver::start_on(&home, port, &[]);
    let sync = run(&mut remote(&home, &url, &["telemetry", "sync"]));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    assert_eq!(
        sync.stdout_text(),
        format!("sent 20 run(s) to {url}; 0 left\n")
    );
    assert_eq!(receiver.execution_count(), 20);
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);

    let again = run(&mut remote(&home, &url, &["telemetry", "sync"]));
    assert_eq!(
        again.stdout_text(),
        format!("sent 0 run(s) to {url}; 0 left\n")
    );
    let sent_ids: Vec<String> = receiver
        .requests()
        .iter()
        .flat_map(|r| {
            let body: serde_json::Value =
                serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["type"] == "execution")
                .map(|e| e["data"]["execution_id"].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut unique = sent_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (sent_ids.len(), unique.len()),
        (20, 20),
        "each execution delivered exactly once"
    );
}

#[test]
fn a_later_hybrid_run_sends_the_backlog_itself() {
    let home = Home::new();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/events");
    for _ in 0..3 {
        run(&mut hybrid(&home, &url));
    }
    let receiver = Receiver::start_on(&home, port, &[]);
    let run = run(&mut hybrid(&home, &url));
    assert_eq!(run.stderr_text(), "");
    assert_eq!(receiver.execution_count(), 4);
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["4"]]);
}

#[test]
fn hybrid_needs_opt_in_or_telemetry_remote() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let args = ["--telemetry-backend", "hybrid", "--", "true"];
    run(&mut remote(&home, &receiver.url, &args));
    assert_eq!(receiver.requests().len(), 0);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["1"]]);
    run(&mut remote(
        &home,
        &receiver.url,
        &[&["--telemetry-remote"][..], &args].concat(),
    ));
    assert_eq!(receiver.execution_count(), 1);
}

#[test]
fn telemetry_remote_adds_the_endpoint_to_a_local_backend() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    run(&mut remote(
        &home,
        &receiver.url,
        &["--telemetry-remote", "--", "true"],
    ));
    assert_eq!(receiver.execution_count(), 1);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["1"]]);
}

#[test]
fn dry_run_prints_the_body_with_the_key_redacted_and_sends_nothing() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let run = run(&mut remote(
        &home,
        &receiver.url,
        &[&["--telemetry-dry-run"][..], &RUN, &["echo Error"]].concat(),
    ));
    assert_eq!(run.code, 0);
    assert_eq!(receiver.requests().len(), 0);
    let stderr = run.stderr_text();
    assert!(!stderr.contains(RECEIVER_KEY));
    let line: serde_json::Value =
        serde_json::from_str(stderr.lines().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(line["sink"], "http");
    assert_eq!(line["endpoint"], receiver.url);
    assert_eq!(line["headers"]["Authorization"], "Bearer [REDACTED]");
    assert_eq!(line["body"]["api_version"], "1.0");
    assert_eq!(line["body"]["events"][0]["type"], "execution");
}

#[test]
fn opt_in_without_a_terminal_explains_and_continues_locally() {
    let home = Home::new();
    let run = run(&mut home.earlyexit(&[
        "--telemetry-backend",
        "http",
        "-A",
        "0",
        "x",
        "--",
        "echo",
        "x",
    ]));
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout_text(), "x\n");
    let stderr = run.stderr_text();
    assert!(
        stderr.contains("Remote telemetry not yet configured."),
        "{stderr}"
    );
    assert!(stderr.contains("export EARLYEXIT_TELEMETRY_ENDPOINT=https://..."));
    assert!(stderr.contains("continuing with local telemetry only"));
    assert!(!stderr.contains("[y/N]"));
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["1"]]);
}

/// Runs with a terminal on stdin, answers the question, returns (exit code, stderr).
fn opt_in_answering(home: &Home, answer: &str, marker: &std::path::Path) -> (i32, String) {
    let mut command = home.earlyexit(&[
        "--telemetry-backend",
        "http",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    answer_on_terminal(&mut command, answer)
}

#[test]
fn opt_in_on_a_terminal_asks_and_respects_the_answer() {
    let home = Home::new();
    let marker = home.dir.join("ran");
    let (code, stderr) = opt_in_answering(&home, "n\n", &marker);
    assert_eq!(code, 3);
    assert!(
        stderr.contains("Continue without telemetry? [y/N]"),
        "{stderr}"
    );
    assert!(!marker.exists(), "declining must not run the command");
    let (code, _) = opt_in_answering(&home, "y\n", &marker);
    assert_eq!(code, 0);
    assert!(marker.exists());
    assert!(
        !home.db_path().exists(),
        "yes means no telemetry for this run"
    );
}

#[test]
fn ci_gets_one_hint_that_can_be_silenced() {
    let home = Home::new();
    let run = run(home.earlyexit(&["--", "true"]).env("CI", "true"));
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("EARLYEXIT_TELEMETRY_BACKEND=http"),
        "{stderr}"
    );
    let silenced = common::run(
        home.earlyexit(&["--", "true"])
            .env("CI", "true")
            .env("EARLYEXIT_TELEMETRY_CI_HINT", "false"),
    );
    assert_eq!(silenced.stderr_text(), "");
    assert_eq!(
        home.query("SELECT ci_system FROM executions LIMIT 1"),
        [["generic"]]
    );
}

#[test]
fn test_http_and_send_test() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let ok = run(&mut home.earlyexit(&[
        "telemetry",
        "test-http",
        "--endpoint",
        &receiver.url,
        "--api-key",
        RECEIVER_KEY,
    ]));
    assert_eq!(ok.code, 0, "{}", ok.stderr_text());
    assert!(
        ok.stdout_text()
            .contains("reachable, key accepted (HTTP 200)"),
        "{}",
        ok.stdout_text()
    );
    let bad_key = run(&mut home.earlyexit(&[
        "telemetry",
        "test-http",
        "--endpoint",
        &receiver.url,
        "--api-key",
        "nope",
    ]));
    assert_eq!(bad_key.code, 1);
    assert!(bad_key.stderr_text().contains("key was not accepted"));
    assert!(!bad_key.stderr_text().contains("nope"));
    let down = run(&mut home.earlyexit(&[
        "telemetry",
        "test-http",
        "--endpoint",
        &format!("http://127.0.0.1:{}/", closed_port()),
    ]));
    assert_eq!(down.code, 1);
    let sent = run(&mut remote(
        &home,
        &receiver.url,
        &["telemetry", "send-test"],
    ));
    assert_eq!(sent.code, 0, "{}", sent.stderr_text());
    assert_eq!(
        receiver.query("SELECT exit_reason FROM executions"),
        [["test"]]
    );
}

#[test]
fn stats_reads_the_receivers_database() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    for _ in 0..3 {
        run(&mut remote(
            &home,
            &receiver.url,
            &[&RUN[..], &["echo Error"]].concat(),
        ));
    }
    let stats = run(home
        .earlyexit(&["telemetry", "stats", "--json"])
        .env("EARLYEXIT_TELEMETRY_SQLITE_PATH", &receiver.db));
    assert_eq!(stats.json()["runs"], 3);
}

/// Posts a raw request to the receiver and returns its status.
fn post_raw(url: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send(body).unwrap().status().as_u16()
}

#[test]
fn the_receiver_answers_errors_properly_and_ignores_repeats() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &["--max-body-bytes", "2000"]);
    let bearer = format!("Bearer {RECEIVER_KEY}");
    let json = ("Content-Type", "application/json");
    let good = r#"{"api_version":"1.0","events":[{"type":"execution","data":{"execution_id":"e-1","timestamp":"2026-11-28T10:00:00.000Z","command_hash":"h","exit_code":0,"exit_reason":"match","total_runtime":1.0,"match_count":1}},{"type":"match_event","data":{"execution_id":"e-1","match_number":1,"timestamp_offset":0.5,"stream_source":"stderr","line_number":3}}],"client":{"version":"0","platform":"linux","anonymized":true}}"#;
    assert_eq!(post_raw(&receiver.url, &[json], good), 401);
    assert_eq!(
        post_raw(
            &receiver.url,
            &[json, ("Authorization", "Bearer wrong")],
            good
        ),
        401
    );
    assert_eq!(
        post_raw(
            &receiver.url,
            &[("Content-Type", "text/plain"), ("Authorization", &bearer)],
            good
        ),
        415
    );
    assert_eq!(
        post_raw(
            &receiver.url,
            &[json, ("Authorization", &bearer)],
            "{not json"
        ),
        400
    );
    assert_eq!(
        post_raw(
            &receiver.url,
            &[json, ("Authorization", &bearer)],
            &good.replace("\"1.0\"", "\"2.0\"")
        ),
        400
    );
    assert_eq!(
        post_raw(
            &receiver.url,
            &[json, ("Authorization", &bearer)],
            &"x".repeat(3000)
        ),
        413
    );
    assert_eq!(
        post_raw(
            &receiver.url.replace("/api/v1/events", "/other"),
            &[json, ("Authorization", &bearer)],
            good
        ),
        404
    );
    assert_eq!(
        post_raw(&receiver.url, &[json, ("X-API-Key", RECEIVER_KEY)], good),
        200
    );
    assert_eq!(
        post_raw(&receiver.url, &[json, ("Authorization", &bearer)], good),
        200
    );
    assert_eq!(
        receiver.execution_count(),
        1,
        "a repeated execution_id is ignored"
    );
    assert_eq!(receiver.query("SELECT count(*) FROM match_events"), [["1"]]);
}
