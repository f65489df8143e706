//! `earlyexit serve --database postgres://…`: the team store on a real PostgreSQL.

use std::time::{Duration, Instant, SystemTime};

use crate::common::http::{self, agent, events_body};
use crate::common::postgres::Postgres;
use crate::common::server::Server;
use crate::common::team::{report_sections, send_batch, send_varied, served_page, PERIODS};
use crate::common::{run, Home};

/// GET with a key.
fn get(url: &str, key: &str) -> (u16, String) {
    http::get(url, &[("Authorization", &format!("Bearer {key}"))])
}

/// A run of the real client in hybrid mode to the server, and its `--json` summary.
fn hybrid_run(home: &Home, server: &Server, script: &str) -> crate::common::Run {
    run(server
        .sends_here(&mut home.earlyexit(&["--json", "Error", "--", "sh", "-c", script]))
        .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
        .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "4s"))
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn runs_by_both_paths_are_stored_once_in_postgres_and_reported() {
    let postgres = Postgres::start();
    let home = Home::new();
    let server = Server::start_on_database(&home, &postgres.url("team"), &[]);
    let hybrid = hybrid_run(&home, &server, "echo Error x");
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
            postgres.psql(
                "team",
                &format!(
                    "SELECT trace_id, outcome, match_count FROM executions WHERE execution_id = '{id}'"
                )
            ),
            format!(
                "{}|{}|1",
                summary["trace_id"].as_str().unwrap(),
                summary["outcome"].as_str().unwrap()
            )
        );
    }
    assert_eq!(
        postgres.psql("team", "SELECT count(*) FROM match_events"),
        "2"
    );
    // The same run sent again from the runner's outbox is not a second row.
    let sync = run(server.sends_here(&mut home.earlyexit(&["telemetry", "sync"])));
    assert_eq!(sync.code, 0);
    assert_eq!(
        postgres.psql("team", "SELECT count(*) FROM executions"),
        "2"
    );
    assert_eq!(postgres.psql("team", "SELECT count(*) FROM running"), "0");
    let (status, html) = get(&format!("{}/?since=1d", server.url), &server.read_key);
    assert_eq!(status, 200);
    assert!(html.contains("2 run(s)"), "{html}");
    let (status, stats) = get(
        &format!("{}/api/v1/stats?since=1d", server.url),
        &server.read_key,
    );
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["runs"], 2);
    assert_eq!(stats["match_events"], 2);
}

/// PostgreSQL goes away: the server answers 503 (and is not ready), the runner keeps its run
/// in its outbox; PostgreSQL comes back: the server reconnects and `telemetry sync` delivers
/// the run, once.
#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn a_postgres_restart_costs_a_503_and_the_outbox_delivers_later() {
    let mut postgres = Postgres::start();
    let home = Home::new();
    let server = Server::start_on_database(&home, &postgres.url("team"), &[]);
    assert_eq!(hybrid_run(&home, &server, "echo Error before").code, 1);
    postgres.stop();
    let during = hybrid_run(&home, &server, "echo Error during");
    assert_eq!(during.code, 1, "telemetry never changes the exit code");
    assert!(
        during.stderr_text().contains("503"),
        "{}",
        during.stderr_text()
    );
    let (ready, _) = {
        let mut response = agent()
            .get(&format!("{}/readyz", server.url))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string(),
        )
    };
    assert_eq!(ready, 503);
    postgres.run();
    let sync = run(server.sends_here(&mut home.earlyexit(&["telemetry", "sync"])));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    assert_eq!(
        postgres.psql("team", "SELECT count(*) FROM executions"),
        "2"
    );
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
}

/// A statement held past `--statement-timeout` (here by a lock another session keeps) ends
/// there: the request gets 503 with Retry-After within seconds instead of hanging, nothing is
/// stored, and once the lock is gone the same run is stored.
#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn a_statement_held_past_the_statement_timeout_is_a_503_not_a_hung_request() {
    let postgres = Postgres::start();
    let home = Home::new();
    let server =
        Server::start_on_database(&home, &postgres.url("team"), &["--statement-timeout", "1s"]);
    let mut holder = postgres.psql_in_background(
        "team",
        "BEGIN; LOCK TABLE executions IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;",
    );
    let held = "SELECT count(*) FROM pg_locks WHERE relation = 'executions'::regclass \
                AND mode = 'AccessExclusiveLock' AND granted";
    let waited = Instant::now();
    while postgres.psql("team", held) != "1" {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the lock was never taken"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("{}/api/v1/events", server.url);
    let bearer = format!("Bearer {}", server.write_key);
    let started = Instant::now();
    let response = agent()
        .post(&url)
        .header("Authorization", &bearer)
        .header("Content-Type", "application/json")
        .send(events_body("0a-1").as_bytes())
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "held {:?}",
        started.elapsed()
    );
    assert!(holder.wait().unwrap().success(), "the lock's session ends");
    let (status, body) = http::post(
        &url,
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        events_body("0a-1").as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        postgres.psql("team", "SELECT count(*) FROM executions"),
        "1"
    );
}

/// Which path the runners send by.
#[derive(Clone, Copy)]
enum Path {
    HttpApi,
    Otlp,
}

/// The issue's acceptance: 200 runners, 50 hybrid runs each, while the server is restarted
/// three times and PostgreSQL once. Runs that met a restart wait in their runner's outbox;
/// `telemetry sync` on each runner sends them. Exactly 10,000 runs are stored.
fn ten_thousand_runs_through_restarts(path: Path) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    // One load at a time: two at once are 400 runners on two cores, which tests the machine.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    const RUNNERS: usize = 200;
    const RUNS: usize = 50;
    let mut postgres = Postgres::start();
    let home = Home::new();
    let database = postgres.url("team");
    let write_key = crate::common::server::add_key(&home, &database, "runners", "write");
    let read_key = crate::common::server::add_key(&home, &database, "dashboard", "read");
    let port = crate::common::port_to_restart_on();
    let listen = format!("127.0.0.1:{port}");
    let start_server = |home: &Home| {
        Server::start_on(
            home,
            &database,
            &listen,
            &[],
            write_key.clone(),
            read_key.clone(),
        )
    };
    let mut server = start_server(&home);
    let url = server.url.clone();
    let environment: Vec<(String, String)> = match path {
        Path::HttpApi => vec![
            ("EARLYEXIT_TELEMETRY_BACKEND".into(), "hybrid".into()),
            (
                "EARLYEXIT_TELEMETRY_ENDPOINT".into(),
                format!("{url}/api/v1/events"),
            ),
            ("EARLYEXIT_TELEMETRY_API_KEY".into(), write_key.clone()),
        ],
        Path::Otlp => vec![
            ("EARLYEXIT_TELEMETRY_BACKEND".into(), "hybrid".into()),
            (
                "EARLYEXIT_TELEMETRY_HYBRID_REMOTE_BACKEND".into(),
                "otlp".into(),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/protobuf".into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), url.clone()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS".into(),
                format!("x-api-key={write_key}"),
            ),
        ],
    };
    let done = Arc::new(AtomicUsize::new(0));
    // Runs that could not deliver when they ended (each says so in its one warning line);
    // a later run of the same runner, or `telemetry sync`, delivers them.
    let undelivered = Arc::new(AtomicUsize::new(0));
    let homes: Vec<Arc<Home>> = (0..RUNNERS).map(|_| Arc::new(Home::new())).collect();
    let runners: Vec<_> = homes
        .iter()
        .map(|runner| {
            let (runner, done, undelivered, environment) = (
                Arc::clone(runner),
                Arc::clone(&done),
                Arc::clone(&undelivered),
                environment.clone(),
            );
            std::thread::spawn(move || {
                for _ in 0..RUNS {
                    let output = runner
                        .earlyexit(&["--", "true"])
                        .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                        .output()
                        .unwrap();
                    assert_eq!(output.status.code(), Some(0));
                    if !output.stderr.is_empty() {
                        undelivered.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let total = RUNNERS * RUNS;
    let wait_until = |fraction: usize| {
        while done.load(Ordering::Relaxed) < total * fraction / 100 {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    for (at, what) in [
        (20, "server"),
        (40, "postgres"),
        (60, "server"),
        (80, "server"),
    ] {
        wait_until(at);
        match what {
            "server" => {
                assert!(server.stop().success());
                server = start_server(&home);
            }
            _ => {
                postgres.stop();
                std::thread::sleep(Duration::from_millis(300));
                postgres.run();
            }
        }
    }
    for runner in runners {
        runner.join().unwrap();
    }
    assert!(
        undelivered.load(Ordering::Relaxed) > 0,
        "some runs met a restart and could not deliver when they ended"
    );
    for runner in &homes {
        let sync = run(runner
            .earlyexit(&["telemetry", "sync"])
            .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
        assert_eq!(sync.code, 0, "{}", sync.stderr_text());
        assert_eq!(runner.query("SELECT count(*) FROM outbox"), [["0"]]);
    }
    assert_eq!(
        postgres.psql("team", "SELECT count(*), count(DISTINCT execution_id), count(DISTINCT (trace_id, span_id)) FROM executions"),
        "10000|10000|10000"
    );
    // Folded through the same restarts: the page counts each run once.
    let (status, page) = get(&format!("{}/?since=1d", server.url), &read_key);
    assert_eq!(status, 200);
    assert!(page.contains(": 10000 run(s)."), "{page:.2000}");
    assert_eq!(postgres.psql("team", "SELECT count(*) FROM unfolded"), "0");
    drop(server);
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn ten_thousand_hybrid_runs_through_restarts_are_stored_exactly_once() {
    ten_thousand_runs_through_restarts(Path::HttpApi);
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn ten_thousand_otlp_runs_through_restarts_are_stored_exactly_once() {
    ten_thousand_runs_through_restarts(Path::Otlp);
}

/// Two servers on one PostgreSQL, each taking half the runners, fold every run once into the
/// figures they keep there: both serve the page a SQLite store serves for the same runs, for
/// every period and filter.
#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn two_servers_on_postgres_fold_every_run_once_into_the_page_sqlite_serves() {
    let postgres = Postgres::start();
    let home = Home::new();
    let database = postgres.url("team");
    let first = Server::start_on_database(&home, &database, &[]);
    let second = first.another(&home);
    let sqlite = Server::start(&home, &[]);
    let now = SystemTime::now();
    assert_eq!(send_varied(&[&first, &second], now), 2400);
    send_varied(&[&sqlite], now);
    // The team page's own filters too, which `telemetry report` does not take.
    let team_only = ["since=4d&place=ci", "since=4d&place=local&branch=main"];
    for query in PERIODS.into_iter().chain(team_only) {
        let expected = served_page(&sqlite, query);
        for server in [&first, &second] {
            let page = served_page(server, query);
            assert_eq!(
                report_sections(&page),
                report_sections(&expected),
                "{query}"
            );
        }
    }
    assert!(served_page(&second, "since=30d").contains(": 2400 run(s)."));
    assert_eq!(postgres.psql("team", "SELECT count(*) FROM unfolded"), "0");
}

/// A server killed (SIGKILL) in the middle of a fold, after it took runs from the queue and
/// before it stored their figures, loses none of them: the fold is one transaction, which
/// PostgreSQL undoes, and the next server folds the runs again, once.
#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn a_server_killed_in_the_middle_of_a_fold_loses_no_run_and_counts_none_twice() {
    let postgres = Postgres::start();
    let home = Home::new();
    let database = postgres.url("team");
    let mut server = Server::start_on_database(&home, &database, &[]);
    let sqlite = Server::start(&home, &[]);
    let now = SystemTime::now();
    send_varied(&[&server], now);
    send_varied(&[&sqlite], now);
    let until_psql = |sql: &str, wanted: &str| {
        let waited = Instant::now();
        while postgres.psql("team", sql) != wanted {
            assert!(waited.elapsed() < Duration::from_secs(30), "{sql}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    until_psql("SELECT count(*) FROM unfolded", "0");
    // Reads of the kept groups go on; writes to them wait, the next fold's among them.
    let mut holder = postgres.psql_in_background(
        "team",
        "BEGIN; LOCK TABLE report_groups IN SHARE MODE; SELECT pg_sleep(60); COMMIT;",
    );
    until_psql(
        "SELECT count(*) FROM pg_locks WHERE relation = 'report_groups'::regclass \
         AND mode = 'ShareLock' AND granted",
        "1",
    );
    send_batch(&server, 10_000, 400, now);
    send_batch(&sqlite, 10_000, 400, now);
    until_psql(
        "SELECT count(*) FROM pg_locks WHERE relation = 'report_groups'::regclass \
         AND NOT granted",
        "1",
    );
    server.kill();
    postgres.psql(
        "team",
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' \
         AND pid <> pg_backend_pid()",
    );
    let _ = holder.wait();
    let again = server.another(&home);
    for query in PERIODS {
        let expected = served_page(&sqlite, query);
        let page = served_page(&again, query);
        assert_eq!(
            report_sections(&page),
            report_sections(&expected),
            "{query}"
        );
    }
    assert!(served_page(&again, "since=30d").contains(": 2800 run(s)."));
}

/// The design document's envelope as another client sends it: its fields alone, no trace or
/// span ids, no exit reason or outcome. `exit_code` 1 with a match of the pattern is a failure;
/// 0 a success.
fn document_envelopes(first: usize, count: usize) -> String {
    let events: Vec<String> = (first..first + count)
        .flat_map(|n| {
            let id = format!("00000000-0000-4000-8000-{n:012}");
            let exit_code = n % 2;
            [
                format!(
                    r#"{{"type":"execution","data":{{"execution_id":"{id}","timestamp":"2026-12-01T10:30:00Z","command_hash":"sha256-{n}","pattern":"Error","exit_code":{exit_code},"total_runtime":45.3,"match_count":{exit_code},"project_type":"nodejs"}}}}"#
                ),
                format!(
                    r#"{{"type":"match_event","data":{{"execution_id":"{id}","match_number":1,"timestamp_offset":12.5,"stream_source":"stderr"}}}}"#
                ),
            ]
        })
        .collect();
    format!(
        r#"{{"api_version":"1.0","events":[{}],"client":{{"version":"0.0.1","platform":"darwin","anonymized":true}}}}"#,
        events.join(",")
    )
}

/// 1,000 runs in the document's shape, each sent twice, are 1,000 rows, with `received`
/// never claiming more than what is stored or already held.
fn another_clients_runs_are_stored_once_each(server: &Server, count_rows: impl Fn(&str) -> String) {
    for _ in 0..2 {
        for first in (0..1000).step_by(100) {
            let (status, body) = crate::common::http::post(
                &format!("{}/api/v1/events", server.url),
                &[
                    ("authorization", &format!("Bearer {}", server.write_key)),
                    ("content-type", "application/json"),
                ],
                document_envelopes(first, 100).as_bytes(),
            );
            assert_eq!(status, 200, "{body}");
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(answer["received"], 200, "{answer}");
        }
    }
    assert_eq!(count_rows("SELECT count(*) FROM executions"), "1000");
    assert_eq!(count_rows("SELECT count(*) FROM match_events"), "1000");
    assert_eq!(
        count_rows(
            "SELECT count(*) FROM executions WHERE (exit_code = 1 AND outcome = 'failure') \
             OR (exit_code = 0 AND outcome = 'success')"
        ),
        "1000"
    );
}

#[test]
fn another_clients_runs_without_trace_ids_are_each_stored_once_on_sqlite() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    another_clients_runs_are_stored_once_each(&server, |sql| server.query(sql)[0][0].clone());
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn another_clients_runs_without_trace_ids_are_each_stored_once_on_postgres() {
    let postgres = Postgres::start();
    let home = Home::new();
    let server = Server::start_on_database(&home, &postgres.url("team"), &[]);
    another_clients_runs_are_stored_once_each(&server, |sql| {
        postgres.psql("team", sql).trim().to_string()
    });
}

/// A matched line with a NUL, which PostgreSQL's text cannot hold, is kept with `␀` in its
/// place; it blocks nothing: the 10 runs after it arrive as they end.
#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn a_run_with_a_nul_is_stored_with_it_shown_and_blocks_nothing() {
    let postgres = Postgres::start();
    let home = Home::new();
    let server = Server::start_on_database(&home, &postgres.url("team"), &[]);
    let bad = run(server
        .sends_here(&mut home.earlyexit(&["Error", "--", "sh", "-c", "printf 'Error a\\000b\\n'"]))
        .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
        .env("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full"));
    assert_eq!(bad.code, 1);
    assert_eq!(bad.stderr_text(), "", "sent at once, nothing to say");
    for n in 0..10 {
        let clean = hybrid_run(&home, &server, &format!("echo Error {n}"));
        assert_eq!(clean.stderr_text(), "");
    }
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
    assert_eq!(
        postgres
            .psql("team", "SELECT count(*) FROM executions")
            .trim(),
        "11"
    );
    assert_eq!(
        postgres
            .psql(
                "team",
                "SELECT line_content FROM match_events WHERE line_content LIKE 'Error a%'"
            )
            .trim(),
        "Error a\u{2400}b"
    );
}

/// Two runs that claim the same trace and span ids: the second is not stored, and the answer
/// says so rather than counting it as received.
#[test]
fn a_run_with_another_runs_span_ids_is_not_claimed_as_received() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let post = |execution_id: &str| {
        let (status, body) = crate::common::http::post(
            &format!("{}/api/v1/events", server.url),
            &[
                ("authorization", &format!("Bearer {}", server.write_key)),
                ("content-type", "application/json"),
            ],
            crate::common::http::events_body(execution_id).as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    assert_eq!(post("aaaa-1")["received"], 2);
    assert_eq!(post("aaaa-1")["received"], 2, "the same run again is held");
    let other = post("bbbb-2");
    assert_eq!(other["received"], 0, "{other}");
    assert!(
        other["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("bbbb-2") && w.contains("not stored")),
        "{other}"
    );
    assert_eq!(
        server.query("SELECT execution_id FROM executions"),
        [["aaaa-1"]]
    );
}
