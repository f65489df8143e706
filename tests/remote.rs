//! Remote telemetry against `earlyexit serve` on loopback: the exact request, privacy on
//! the wire, deadlines, retries, hybrid mode's outbox, the opt-in flow and the tools.

use crate::common::{self, *};

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
    assert_eq!(run.code, 1, "{}", run.stderr_text());
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
    assert_eq!(
        home.query("SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM outbox)"),
        [["0", "0"]],
        "the http backend keeps no run locally, and its outbox only what is not yet delivered"
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
    assert_eq!(run.code, 1, "{}", run.stderr_text());
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
    assert_eq!(run.code, 1, "{}", run.stderr_text());
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
    assert_eq!(run.code, 1);
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

/// Waits until `done` holds, for at most `limit`.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while !done() {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The execution ids in every request the receiver got, repeats included.
fn received_execution_ids(receiver: &Receiver) -> Vec<String> {
    receiver
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
                .map(|e| e["data"]["execution_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Asserts that the receiver got each of `count` runs exactly once.
fn assert_each_once(receiver: &Receiver, count: usize) {
    let ids = received_execution_ids(receiver);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (ids.len(), unique.len()),
        (count, count),
        "each run delivered exactly once"
    );
}

#[test]
fn an_endpoint_that_never_answers_costs_at_most_the_timeout() {
    let home = Home::new();
    home.write_config("telemetry:\n  http:\n    timeout: 1s\n");
    let server = SilentServer::start();
    let run = run(&mut remote(
        &home,
        &server.url,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(run.code, 1);
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
fn async_runs_never_wait_for_a_silent_endpoint_and_arrive_once_it_answers() {
    let home = Home::new();
    home.write_config("telemetry:\n  backend: hybrid\n  http:\n    async: true\n    timeout: 1s\n");
    let server = SilentServer::start();
    for _ in 0..5 {
        let run = run(&mut hybrid(&home, &server.url));
        assert_eq!(run.code, 1);
        assert_eq!(run.stderr_text(), "");
        assert!(
            run.elapsed < Duration::from_millis(800),
            "{:?}",
            run.elapsed
        );
    }
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["5"]]);
    let port = server.port;
    drop(server);
    let receiver = Receiver::start_on(&home, port, &[]);
    // The next run's background sender finds the five waiting, once the failed sender's
    // claim has lapsed; until then `sync` sees them held.
    let until = Instant::now() + Duration::from_secs(10);
    while receiver.execution_count() < 6 && Instant::now() < until {
        run(&mut hybrid(&home, &receiver.url));
        std::thread::sleep(Duration::from_millis(500));
    }
    let runs: usize = home.query("SELECT count(*) FROM executions")[0][0]
        .parse()
        .unwrap();
    assert!(wait_for(Duration::from_secs(5), || receiver
        .execution_count()
        == runs));
    assert!(wait_for(Duration::from_secs(5), || home
        .query("SELECT count(*) FROM outbox")
        == [["0"]]));
    assert_each_once(&receiver, runs);
}

#[test]
fn fire_and_forget_is_the_async_path_and_keeps_what_fails() {
    let home = Home::new();
    home.write_config("telemetry:\n  backend: hybrid\n  http:\n    fire_and_forget: true\n");
    let refused = format!("http://127.0.0.1:{}/api/v1/events", closed_port());
    let run = run(&mut hybrid(&home, &refused));
    assert_eq!((run.code, run.stderr_text()), (1, String::new()));
    assert!(
        wait_for(Duration::from_secs(5), || {
            home.query("SELECT attempts > 0 FROM outbox") == [["1"]]
        }),
        "the failed send is kept in the outbox: {:?}",
        home.query("SELECT * FROM outbox")
    );
    let receiver = Receiver::start(&home, &[]);
    let sync = common::run(&mut remote(&home, &receiver.url, &["telemetry", "sync"]));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    assert_each_once(&receiver, 1);
    assert_eq!(
        receiver.requests()[0]["headers"]["authorization"],
        format!("Bearer {RECEIVER_KEY}")
    );
}

#[test]
fn a_hundred_async_runs_at_once_start_one_sender_and_arrive_once() {
    let home = Home::new();
    home.write_config("telemetry:\n  backend: hybrid\n  http:\n    async: true\n");
    let receiver = Receiver::start(&home, &[]);
    let children: Vec<_> = (0..100)
        .map(|_| {
            hybrid(&home, &receiver.url)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert_eq!(child.wait().unwrap().code(), Some(1));
    }
    assert!(wait_for(Duration::from_secs(10), || {
        home.query("SELECT count(*) FROM outbox") == [["0"]]
    }));
    assert_each_once(&receiver, 100);
    let requests = receiver.requests().len();
    assert!(
        requests <= 100 / 10 + 10,
        "one sender sends in batches of 10: {requests} requests"
    );
}

#[test]
fn sixty_four_hybrid_runs_at_once_send_each_run_once() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let children: Vec<_> = (0..64)
        .map(|_| {
            hybrid(&home, &receiver.url)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    }
    assert_each_once(&receiver, 64);
    let requests = receiver.requests().len();
    assert!(requests <= 64 + 64 / 10, "{requests} requests");
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
}

/// Twenty runs queued while the endpoint refused them.
fn twenty_queued(home: &Home) -> u16 {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/events");
    for _ in 0..20 {
        run(&mut hybrid(home, &url));
    }
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["20"]]);
    port
}

#[test]
fn three_syncs_at_once_send_each_queued_run_once() {
    let home = Home::new();
    let port = twenty_queued(&home);
    let receiver = Receiver::start_on(&home, port, &[]);
    let syncs: Vec<_> = (0..3)
        .map(|_| {
            remote(&home, &receiver.url, &["telemetry", "sync"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for sync in syncs {
        assert_eq!(sync.wait_with_output().unwrap().status.code(), Some(0));
    }
    assert_each_once(&receiver, 20);
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
}

#[test]
fn a_sender_killed_mid_send_loses_nothing() {
    let home = Home::new();
    twenty_queued(&home);
    let server = SilentServer::start();
    let mut sender = remote(&home, &server.url, &["telemetry", "sync"])
        .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "2s")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(5), || {
        home.query("SELECT count(*) FROM outbox WHERE claimed_by IS NOT NULL") == [["10"]]
    }));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sender.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    sender.wait().unwrap();
    let port = server.port;
    drop(server);
    let receiver = Receiver::start_on(&home, port, &[]);
    let url = receiver.url.clone();
    let early = run(&mut remote(&home, &url, &["telemetry", "sync"]));
    assert_eq!(
        early.stdout_text(),
        format!("sent 10 run(s) to {url}; 10 left\n"),
        "the dead sender's claim still holds its ten"
    );
    assert!(wait_for(Duration::from_secs(8), || {
        run(&mut remote(&home, &url, &["telemetry", "sync"]));
        home.query("SELECT count(*) FROM outbox") == [["0"]]
    }));
    assert_each_once(&receiver, 20);
}

#[test]
fn retries_after_503_then_succeeds() {
    let home = Home::new();
    let receiver = Receiver::start_faulty(
        &home,
        Faults {
            fail_first: 2,
            fail_status: 503,
            ..Faults::default()
        },
    );
    let run = run(&mut remote(
        &home,
        &receiver.url,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(run.code, 1);
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
    let receiver = Receiver::start_faulty(
        &home,
        Faults {
            fail_first: 1,
            fail_status: 429,
            retry_after: Some(1),
            ..Faults::default()
        },
    );
    let run = run(
        remote(&home, &receiver.url, &[&RUN[..], &["echo Error"]].concat())
            .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "3s"),
    );
    assert_eq!(run.code, 1);
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
    assert_eq!(run.code, 1);
    assert_eq!(receiver.requests().len(), 1);
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1);
    assert!(
        stderr.contains("answered 401: invalid or revoked API key"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-key"));
}

fn hybrid(home: &Home, url: &str) -> Command {
    remote(
        home,
        url,
        &["--telemetry-backend", "hybrid", "x", "--", "echo", "x"],
    )
}

#[test]
fn hybrid_runs_during_an_outage_are_sent_once_by_later_runs_and_sync() {
    let home = Home::new();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/events");
    for _ in 0..20 {
        let run = run(&mut hybrid(&home, &url));
        assert_eq!(run.code, 1);
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
    assert_each_once(&receiver, 20);
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
fn the_seeds_hybrid_block_with_an_endpoint_sends() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    home.write_config(&format!(
        "telemetry:\n  backend: hybrid\n  hybrid:\n    local: true\n    remote: true\n    \
         local_primary: true\n  http:\n    endpoint: {}\n",
        receiver.url
    ));
    let run = run(home
        .earlyexit(&["--", "true"])
        .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY));
    assert_eq!(run.stderr_text(), "");
    assert_eq!(receiver.execution_count(), 1);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["1"]]);
}

#[test]
fn opt_in_asks_once_on_a_terminal_and_says_so_without_one() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let command = |home: &Home| {
        let mut command = hybrid(home, &receiver.url);
        command.env("EARLYEXIT_TELEMETRY_HTTP_OPT_IN", "true");
        command
    };
    let without_terminal = run(&mut command(&home));
    assert_eq!(without_terminal.code, 1);
    assert_eq!(
        without_terminal.stderr_text(),
        format!(
            "earlyexit: remote telemetry to {} is off until you agree (http.opt_in): run \
             earlyexit once on a terminal and answer yes, or set telemetry.http.opt_in: false\n",
            receiver.url
        )
    );
    assert_eq!(receiver.requests().len(), 0);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["1"]]);

    let (code, stderr) = answer_on_terminal(&mut command(&home), "n\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("[y/N]"), "{stderr}");
    assert_eq!(receiver.requests().len(), 0, "no means nothing is sent");

    let (code, stderr) = answer_on_terminal(&mut command(&home), "y\n");
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(receiver.execution_count(), 1);
    let asked_again = run(&mut command(&home));
    assert_eq!(asked_again.stderr_text(), "", "the answer is remembered");
    assert_eq!(receiver.execution_count(), 2);
}

#[test]
fn do_not_track_turns_remote_sending_off_and_says_so() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let run = run(hybrid(&home, &receiver.url).env("DO_NOT_TRACK", "1"));
    assert_eq!(run.code, 1);
    assert!(
        run.stderr_text()
            .contains("is off because DO_NOT_TRACK is set"),
        "{}",
        run.stderr_text()
    );
    assert_eq!(receiver.requests().len(), 0);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["1"]]);
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
    assert_eq!(run.code, 1);
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
    assert_eq!(run.code, 1);
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
        receiver.query("SELECT pattern, exit_reason, outcome FROM executions"),
        [["earlyexit-send-test", "completed", "success"]]
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

#[test]
fn credentials_and_query_strings_of_an_endpoint_are_never_shown_or_stored() {
    let home = Home::new();
    let url = format!(
        "http://admin:pa55w0rd@127.0.0.1:{}/api/v1/events?token=s3cr3t-t0ken",
        closed_port()
    );
    let failed = run(&mut hybrid(&home, &url));
    let status = run(&mut remote(&home, &url, &["telemetry", "status"]));
    let status_json = run(&mut remote(&home, &url, &["telemetry", "status", "--json"]));
    let stored = home.query("SELECT last_error FROM outbox");
    let shown = [
        failed.stderr_text(),
        status.stdout_text(),
        status_json.stdout_text(),
        format!("{stored:?}"),
    ];
    for text in &shown {
        for secret in ["admin", "pa55w0rd", "s3cr3t-t0ken"] {
            assert!(!text.contains(secret), "{secret} shown in {text}");
        }
    }
    assert!(
        failed.stderr_text().contains("[REDACTED]@127.0.0.1"),
        "{}",
        failed.stderr_text()
    );
    assert!(
        status.stdout_text().contains("/api/v1/events?[REDACTED]"),
        "{}",
        status.stdout_text()
    );
    assert!(
        status.stdout_text().contains("last delivery error: "),
        "{}",
        status.stdout_text()
    );
}

#[test]
fn an_endpoint_without_a_path_means_the_events_path() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let base = receiver.url.trim_end_matches("/api/v1/events").to_string();
    let checked = run(&mut home.earlyexit(&[
        "telemetry",
        "test-http",
        "--endpoint",
        &base,
        "--api-key",
        RECEIVER_KEY,
    ]));
    assert_eq!(checked.code, 0, "{}", checked.stderr_text());
    assert!(checked
        .stdout_text()
        .contains("reachable, key accepted (HTTP 200)"));
    let sent = run(&mut remote(
        &home,
        &base,
        &[&RUN[..], &["echo Error"]].concat(),
    ));
    assert_eq!(sent.stderr_text(), "");
    assert_eq!(receiver.execution_count(), 1);
    assert!(receiver
        .requests()
        .iter()
        .all(|request| request["path"] == "/api/v1/events"));
}

/// An outbox row whose payload cannot be read (damaged on disk) is moved aside with a warning
/// and counted in `telemetry status`: it is neither dropped nor allowed to block the rows
/// behind it, which are delivered.
#[test]
fn an_unreadable_outbox_row_is_set_aside_and_the_others_are_sent() {
    let home = Home::new();
    let down = format!("http://127.0.0.1:{}/api/v1/events", closed_port());
    for _ in 0..3 {
        assert_eq!(run(&mut hybrid(&home, &down)).code, 1);
    }
    let ids: Vec<String> = home
        .query("SELECT execution_id FROM outbox ORDER BY created")
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(ids.len(), 3);
    home.db()
        .execute(
            "UPDATE outbox SET events = '[{\"type\": \"execution\", trunc' WHERE execution_id = ?1",
            [&ids[1]],
        )
        .unwrap();
    let receiver = Receiver::start(&home, &[]);
    let sync = run(&mut remote(&home, &receiver.url, &["telemetry", "sync"]));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    assert!(
        sync.stdout_text().starts_with("sent 2 run(s) to "),
        "{}",
        sync.stdout_text()
    );
    assert_eq!(
        sync.stderr_text(),
        "earlyexit: set aside 1 run(s) that cannot be read or that the remote refuses for good (kept in outbox_aside with the reason; telemetry status counts them)\n"
    );
    assert_eq!(receiver.execution_count(), 2);
    assert_eq!(
        home.query("SELECT execution_id, remote FROM outbox_aside"),
        [[ids[1].clone(), "http".to_string()]]
    );
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
    let status = run(&mut remote(&home, &receiver.url, &["telemetry", "status"]));
    assert!(
        status
            .stdout_text()
            .contains(", 1 set aside as unreadable or refused by the remote (table outbox_aside, with the reason))"),
        "{}",
        status.stdout_text()
    );
}

/// A run cancelled by a signal to earlyexit, with a remote: when the remote answers, the
/// cancelled run reaches it; when it never answers (and `http.timeout` is long), earlyexit
/// still ends within 2 s of the signal, with the run kept locally and in the outbox.
#[test]
fn a_cancelled_run_is_sent_when_the_remote_answers_and_kept_when_it_does_not() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let cancel = |home: &Home, url: &str| {
        let mut child = remote(
            home,
            url,
            &[
                "--telemetry-backend",
                "hybrid",
                "--",
                "sh",
                "-c",
                "trap '' INT; sleep 30",
            ],
        )
        .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "10")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let signalled = Instant::now();
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        let status = child.wait().unwrap();
        (status.code(), signalled.elapsed())
    };
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let (code, took) = cancel(&home, &receiver.url);
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(
        receiver.query("SELECT outcome FROM executions"),
        [["cancelled"]]
    );

    let home = Home::new();
    let server = SilentServer::start();
    let (code, took) = cancel(&home, &server.url);
    assert_eq!(code, Some(130));
    assert!(
        took < Duration::from_secs(2),
        "the silent remote cut short: {took:?}"
    );
    assert_eq!(
        home.query("SELECT outcome FROM executions"),
        [["cancelled"]]
    );
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["1"]]);
}

/// One run the remote refuses for good (here larger than the server takes) blocks none of the
/// others: its batch goes run by run, the others are stored, and the one at fault is set
/// aside with the reason, said by `telemetry sync` and counted by `telemetry status`.
#[test]
fn one_run_the_remote_refuses_is_set_aside_and_the_rest_are_stored() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &["--max-body-bytes", "20000"]);
    let nowhere = format!("http://127.0.0.1:{}/api/v1/events", closed_port());
    let queue = |script: &str| {
        let run = run(home
            .earlyexit(&["-m", "1000", "-A", "0", "ERROR", "--", "sh", "-c", script])
            .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
            .env("EARLYEXIT_TELEMETRY_ENDPOINT", &nowhere)
            .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY)
            .env("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full")
            .env("EARLYEXIT_TELEMETRY_HTTP_RETRY_ATTEMPTS", "0"));
        assert_eq!(run.code, 1, "{}", run.stderr_text());
    };
    let long_line = "x".repeat(900);
    queue(&format!(
        "for i in $(seq 60); do echo ERROR $i {long_line}; done"
    ));
    for n in 0..10 {
        queue(&format!("echo ERROR {n}"));
    }
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["11"]]);
    let sync = run(home
        .earlyexit(&["telemetry", "sync"])
        .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
        .env("EARLYEXIT_TELEMETRY_ENDPOINT", &receiver.url)
        .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY));
    assert_eq!(receiver.execution_count(), 10, "{}", sync.stderr_text());
    let said = format!("{}{}", sync.stdout_text(), sync.stderr_text());
    assert!(said.contains("set aside"), "{said}");
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
    let aside = home.query("SELECT reason FROM outbox_aside");
    assert_eq!(aside.len(), 1);
    assert!(aside[0][0].contains("413"), "{aside:?}");
    let status = run(&mut home.earlyexit(&["telemetry", "status"]));
    assert!(
        status.stdout_text().contains("1 set aside"),
        "{}",
        status.stdout_text()
    );
}
