//! The team report at `/` as the server makes it from the figures it keeps folded: the same
//! page as `telemetry report` makes from the runs, however the runs arrived.

use std::time::{Duration, SystemTime};

use crate::common::server::Server;
use serde_json::{json, Value};

use crate::common::team::{report_sections, send_varied, served_figures, served_page, PERIODS};
use crate::common::{run, Home};

/// What `telemetry report` writes (with `extra` arguments) over the server's SQLite database,
/// for `query`.
fn local_report(home: &Home, server: &Server, query: &str, extra: &[&str]) -> String {
    let mut args: Vec<String> = ["telemetry", "report", "-o", "-"].map(String::from).into();
    args.extend(extra.iter().map(|arg| arg.to_string()));
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap();
        args.extend([format!("--{name}"), value.to_string()]);
    }
    let mut local = home.earlyexit(&args.iter().map(String::as_str).collect::<Vec<_>>());
    local.env("EARLYEXIT_TELEMETRY_SQLITE_PATH", &server.database);
    let local = run(&mut local);
    assert_eq!(local.code, 0, "{}", local.stderr_text());
    local.stdout_text()
}

fn local_sections(home: &Home, server: &Server, query: &str) -> String {
    report_sections(&local_report(home, server, query, &[])).to_string()
}

/// The server's `/api/v1/report` for `query`, checked to give the figures `telemetry report
/// --json` gives from the runs of its database (all but the period's start, which each took
/// from its own clock).
fn figures_of_the_runs(home: &Home, server: &Server, query: &str) -> Value {
    let served = served_figures(server, query);
    let local: Value =
        serde_json::from_str(&local_report(home, server, query, &["--json"])).unwrap();
    for field in ["runs", "filter", "time_saved", "sections"] {
        assert_eq!(served[field], local[field], "{query}: {field}");
    }
    assert_eq!(served["in_progress"], 0, "{query}");
    served
}

/// A section of a JSON report, by id.
fn section<'a>(figures: &'a Value, id: &str) -> &'a Value {
    let sections = figures["sections"].as_array().unwrap();
    sections
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {figures}"))
}

/// The server's page for `query`, checked to be the one `telemetry report` makes from the
/// runs of its database.
fn page_of_the_runs(home: &Home, server: &Server, query: &str) -> String {
    let served = served_page(server, query);
    assert_eq!(
        report_sections(&served),
        local_sections(home, server, query),
        "{query}"
    );
    served
}

#[test]
fn the_team_page_and_its_json_from_kept_figures_are_those_of_the_runs() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let sent = send_varied(&[&server], SystemTime::now());
    assert_eq!(sent, 2400);
    for query in PERIODS {
        let served = page_of_the_runs(&home, &server, query);
        assert!(report_sections(&served).len() > 5_000, "{query}: {served}");
        figures_of_the_runs(&home, &server, query);
    }
    assert!(served_page(&server, "since=30d").contains(": 2400 run(s)."));
    assert_eq!(server.query("SELECT count(*) FROM unfolded"), [["0"]]);

    // What a machine reads: the page's tables, a number wherever the page shows a figure.
    let figures = served_figures(&server, "since=30d");
    assert_eq!(figures["runs"], 2400);
    let per_day = section(&figures, "runs-per-day");
    let counted: u64 = per_day["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array().unwrap()[1..]
                .iter()
                .map(|n| n.as_u64().unwrap())
        })
        .sum();
    assert_eq!(counted, 2400);
    let failing = section(&figures, "failing-commands");
    assert_eq!(
        failing["columns"],
        json!([
            "command",
            "runs",
            "failed",
            "failure rate",
            "failing since",
            "last success",
            "failed per day"
        ])
    );
    for row in failing["rows"].as_array().unwrap() {
        let (runs, failed, rate) = (
            row[1].as_f64().unwrap(),
            row[2].as_f64().unwrap(),
            row[3].as_f64().unwrap(),
        );
        assert!(failed > 0.0 && (rate - failed / runs).abs() < 1e-9, "{row}");
    }
    let stored = server.query(
        "SELECT count(*) FROM executions WHERE outcome IN ('failure', 'timeout', 'error', 'lost')",
    );
    let failed: u64 = failing["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[2].as_u64().unwrap())
        .sum();
    assert_eq!(failed.to_string(), stored[0][0]);
    assert!(
        figures["time_saved"]["saved_seconds"].as_f64().unwrap() > 0.0,
        "{figures}"
    );
    assert_eq!(
        served_figures(&server, "since=7d&command=npm")["filter"]["command"],
        "npm"
    );
}

/// A server killed (SIGKILL) again and again while it folds a backlog, at moments spread over
/// the fold, counts every run once: each fold is one transaction, and a killed one is undone.
#[test]
fn a_server_killed_while_it_folds_counts_every_run_once() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    send_varied(&[&server], SystemTime::now());
    server.kill();
    for round in 0..8 {
        let mut again = server.another(&home);
        std::thread::sleep(Duration::from_millis(15 * round));
        again.kill();
    }
    let server = server.another(&home);
    let page = page_of_the_runs(&home, &server, "since=30d");
    assert!(page.contains(": 2400 run(s)."), "{page:.2000}");
}

/// A stopped server whose database holds the varied runs, rewritten by `sql` into what an
/// older version left.
fn stopped_as_before(home: &Home, sql: &str) -> Server {
    let mut server = Server::start(home, &[]);
    send_varied(&[&server], SystemTime::now());
    assert!(server.stop().success());
    let database = rusqlite::Connection::open(&server.database).unwrap();
    database.execute_batch(sql).unwrap();
    server
}

/// A database written before the server kept figures (team schema 1) gets them at start-up:
/// every run it holds is queued and folded, and the page is the one its runs make.
#[test]
fn a_database_from_before_the_kept_figures_is_folded_at_start_up() {
    let home = Home::new();
    let server = stopped_as_before(
        &home,
        "DROP TRIGGER executions_to_fold; DROP TABLE unfolded; DROP TABLE report_groups;
         DROP TABLE report_revisions; DROP TABLE report_revisions_by_group;
         UPDATE meta SET value = '1' WHERE key = 'team_schema';",
    );
    let server = server.another(&home);
    let page = page_of_the_runs(&home, &server, "since=7d");
    assert!(page.contains(": 2400 run(s)."), "{page:.2000}");
}

/// A team database from before the outcome rule (PATTERN matches stored as
/// `stopped_on_success`, and kept figures folded from them) is settled and folded again when
/// the server starts: the page is the one its runs make by today's rule.
#[test]
fn a_database_from_before_the_outcome_rule_is_settled_and_folded_again() {
    let home = Home::new();
    let mut server = stopped_as_before(
        &home,
        "UPDATE executions SET exit_reason = 'match', outcome = 'stopped_on_success'
             WHERE exit_reason = 'error_pattern';
         DELETE FROM report_groups; DELETE FROM report_revisions;
         DELETE FROM report_revisions_by_group; DELETE FROM unfolded;
         INSERT INTO unfolded (execution_id, day)
             SELECT execution_id, substr(timestamp, 1, 10) FROM executions;",
    );
    // A server of this build folds the old outcomes as they are (no migration is due), so the
    // kept figures count those runs as stopped on success, as the earlier build's did.
    server = server.another(&home);
    let stale = served_page(&server, "since=7d");
    assert!(server.stop().success());
    let database = rusqlite::Connection::open(&server.database).unwrap();
    database
        .execute_batch(
            "PRAGMA user_version = 7; UPDATE meta SET value = '3' WHERE key = 'team_schema';",
        )
        .unwrap();
    drop(database);
    let server = server.another(&home);
    assert_eq!(
        server.query("SELECT count(*) FROM executions WHERE outcome = 'stopped_on_success' AND exit_reason = 'match'"),
        [["0"]]
    );
    let page = page_of_the_runs(&home, &server, "since=7d");
    assert_ne!(
        report_sections(&page),
        report_sections(&stale),
        "folded again"
    );
    assert!(page.contains(": 2400 run(s)."), "{page:.2000}");
}

/// A database whose runs wait in the queue as the schema before kept it (without their day)
/// gets their days when it is opened, and folds them into the same page.
#[test]
fn a_queue_from_before_folding_by_day_gets_the_days_of_its_runs() {
    let home = Home::new();
    let server = stopped_as_before(
        &home,
        "DROP TRIGGER executions_to_fold; DROP TABLE unfolded;
         DELETE FROM report_groups; DELETE FROM report_revisions;
         DELETE FROM report_revisions_by_group;
         CREATE TABLE unfolded (execution_id TEXT PRIMARY KEY);
         CREATE TRIGGER executions_to_fold AFTER INSERT ON executions BEGIN
             INSERT INTO unfolded (execution_id) VALUES (NEW.execution_id);
         END;
         INSERT INTO unfolded (execution_id) SELECT execution_id FROM executions;
         UPDATE meta SET value = '2' WHERE key = 'team_schema';",
    );
    let keys = run(&mut home.earlyexit(&["serve", "--database", &server.database, "keys", "list"]));
    assert_eq!(keys.code, 0, "{}", keys.stderr_text());
    assert_eq!(
        server.query(
            "SELECT count(*) FROM unfolded u JOIN executions e USING (execution_id)
             WHERE u.day = substr(e.timestamp, 1, 10) AND length(u.day) = 10"
        ),
        [["2400"]],
        "opening the database (keys list folds nothing) gave every queued run its day"
    );
    let server = server.another(&home);
    let page = page_of_the_runs(&home, &server, "since=7d");
    assert!(page.contains(": 2400 run(s)."), "{page:.2000}");
    assert_eq!(server.query("SELECT count(*) FROM unfolded"), [["0"]]);
}

/// `/api/v1/stats` from the kept figures gives what `telemetry stats` gives from the runs of
/// the same database, for a whole period and for periods that start inside a day: the counts
/// exactly, the run-time percentiles to the histogram's bucket (5%). Its `match_events` counts
/// the runs' matches.
#[test]
fn the_team_stats_from_kept_figures_are_those_of_the_runs() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    send_varied(&[&server], SystemTime::now());
    for since in ["36500d", "36h", "50h", "1h"] {
        let bearer = format!("Bearer {}", server.read_key);
        let (status, body) = crate::common::http::get(
            &format!("{}/api/v1/stats?since={since}", server.url),
            &[("Authorization", &bearer)],
        );
        assert_eq!(status, 200, "{body}");
        let served: Value = serde_json::from_str(&body).unwrap();
        let mut local = home.earlyexit(&["telemetry", "stats", "--json", "--since", since]);
        local.env("EARLYEXIT_TELEMETRY_SQLITE_PATH", &server.database);
        let local = run(&mut local);
        assert_eq!(local.code, 0, "{}", local.stderr_text());
        let local: Value = serde_json::from_str(&local.stdout_text()).unwrap();
        for field in [
            "runs",
            "by_outcome",
            "by_exit_reason",
            "by_project_type",
            "top_patterns",
            "top_commands",
        ] {
            assert_eq!(served[field], local[field], "since {since}: {field}");
        }
        for field in ["runtime_p50", "runtime_p95"] {
            let (served, local) = (served[field].as_f64(), local[field].as_f64());
            match (served, local) {
                (Some(served), Some(local)) => {
                    assert!(
                        (served / local - 1.0).abs() <= 0.05,
                        "{since}: {field}: {served} against {local}"
                    )
                }
                _ => assert_eq!(served, local, "since {since}: {field}"),
            }
        }
        let in_period = if since == "36500d" {
            server.query("SELECT coalesce(sum(match_count), 0) FROM executions")
        } else {
            let hours: u64 = since.trim_end_matches('h').parse().unwrap();
            let start = SystemTime::now() - Duration::from_secs(hours * 3600);
            server.query(&format!(
                "SELECT coalesce(sum(match_count), 0) FROM executions WHERE timestamp >= '{}'",
                humantime::format_rfc3339_millis(start)
            ))
        };
        assert_eq!(
            served["match_events"].to_string(),
            in_period[0][0],
            "since {since}"
        );
    }
}
