//! Runs in progress at the team server are true: a finished run is never left in progress,
//! whichever of its records arrives first, and a run whose runner was killed is shown as lost
//! once it has not been heard of for `--lost-after`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::postgres::Postgres;
use crate::common::server::Server;
use crate::common::team::{served_figures, served_page};
use crate::common::Home;

/// A runner's command that sends to the server over OTLP/HTTP (live records included).
fn otlp_runner(home: &Home, server: &Server, args: &[&str]) -> std::process::Command {
    let mut command = home.earlyexit(args);
    server.sends_otlp_here(&mut command, "http/protobuf");
    command
}

#[test]
fn a_killed_runners_run_is_listed_with_its_job_then_shown_as_lost() {
    let home = Home::new();
    home.write_config("telemetry:\n  remote_detail: full\n");
    let server = Server::start(&home, &["--lost-after", "2s"]);
    let mut runner = otlp_runner(&home, &server, &["Error", "--", "sh", "-c", "sleep 30"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_JOB", "unit-tests")
        .env("GITHUB_REF_NAME", "main")
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_REPOSITORY", "team/app")
        .env("GITHUB_RUN_ID", "4242")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let figures = loop {
        let figures = served_figures(&server, "since=1d");
        if figures["in_progress"] == 1 {
            break figures;
        }
        assert!(Instant::now() < until, "no run in progress: {figures}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let run = &figures["running"][0];
    assert_eq!(run["command"], "sh -c sleep 30", "{run}");
    assert_eq!(run["branch"], "main");
    assert_eq!(run["runs_on"], "github_actions: unit-tests");
    assert_eq!(
        run["url"],
        "https://github.example/team/app/actions/runs/4242"
    );
    assert_eq!(run["lost"], false);
    let page = served_page(&server, "since=1d");
    assert!(page.contains("1 run(s) in progress now."), "{page}");
    assert!(
        page.contains(
            "<a href=\"https://github.example/team/app/actions/runs/4242\">github_actions: unit-tests</a>"
        ),
        "{page}"
    );

    // SIGKILL: nothing more is heard of the run.
    runner.kill().unwrap();
    runner.wait().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let figures = loop {
        let figures = served_figures(&server, "since=1d");
        if figures["lost"] == 1 {
            break figures;
        }
        assert!(
            Instant::now() < until,
            "the run is not shown as lost: {figures}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(figures["in_progress"], 0);
    assert_eq!(figures["running"][0]["lost"], true);
    let page = served_page(&server, "since=1d");
    assert!(page.contains("0 run(s) in progress now."), "{page}");
    assert!(
        page.contains("1 run(s) lost: no word from their runner for over 2s"),
        "{page}"
    );
}

/// Each run sends its start record at 0.1 s and its span at its end a few milliseconds later,
/// on two connections: the server stores the span while it reads the start record (here 9 to
/// 15 runs of 200 left a running row behind; reads do not count them, housekeeping deletes
/// them).
#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn two_hundred_short_otlp_runs_on_postgres_leave_none_in_progress() {
    let postgres = Postgres::start();
    let home = Home::new();
    let server = Server::start_on_database(&home, &postgres.url("team"), &[]);
    std::thread::scope(|scope| {
        for _ in 0..20 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let output = otlp_runner(
                        &home,
                        &server,
                        &["Error", "--", "sh", "-c", "echo fine; sleep 0.1"],
                    )
                    .output()
                    .unwrap();
                    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
                }
            });
        }
    });
    assert_eq!(
        postgres.psql("team", "SELECT count(*) FROM executions"),
        "200"
    );
    let figures = served_figures(&server, "since=1d");
    assert_eq!(
        (&figures["in_progress"], &figures["lost"]),
        (&0.into(), &0.into()),
        "{figures}"
    );
    assert_eq!(figures["running"], serde_json::json!([]));
    eprintln!(
        "running rows of stored runs left for housekeeping: {}",
        postgres.psql("team", "SELECT count(*) FROM running")
    );
}

/// A lost run stays listed for a week; then housekeeping deletes its row.
#[test]
fn a_run_lost_for_over_a_week_is_no_longer_listed() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    server.stop();
    let database = rusqlite::Connection::open(&server.database).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (id, days) in [("0a-8", 8), ("0a-6", 6)] {
        database
            .execute(
                "INSERT INTO running (execution_id, trace_id, span_id, started, last_seen, match_count, span)
                 VALUES (?1, '', '', '2026-11-01T00:00:00.000Z', ?2, 0, '{}')",
                rusqlite::params![id, now - days * 86_400_000],
            )
            .unwrap();
    }
    drop(database);
    let server = server.restarted(&home, &[]);
    let until = Instant::now() + Duration::from_secs(10);
    while server.query("SELECT count(*) FROM running") != [["1"]] {
        assert!(Instant::now() < until, "the week-old row was not deleted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.query("SELECT execution_id FROM running"), [["0a-6"]]);
    let figures = served_figures(&server, "since=30d");
    assert_eq!(
        (&figures["lost"], &figures["in_progress"]),
        (&1.into(), &0.into())
    );
}
