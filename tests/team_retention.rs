//! `serve --retention`: runs over 120 days, 90 kept. A store that held them all and removed
//! the old ones answers every question as a store that only ever held the runs that remain:
//! the page, `/api/v1/report`, `/api/v1/stats` and (on PostgreSQL) each Grafana panel.

use std::time::{Duration, Instant, SystemTime};

use crate::common::postgres::Postgres;
use crate::common::server::Server;
use crate::common::team::{report_sections, served_figures, served_page, store_events, varied_run};
use crate::common::Home;
use crate::dashboards::{expand_postgres_over, panels};

/// Runs sent, over [`HOURS`]: enough for every command, ending and branch on every day
/// (`EARLYEXIT_TEST_RETENTION_RUNS` sends more: the closing figures used 100,000).
fn runs() -> u64 {
    std::env::var("EARLYEXIT_TEST_RETENTION_RUNS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(12_000)
}
const HOURS: u64 = 120 * 24;
const DAY: Duration = Duration::from_secs(86_400);

fn send(server: &Server, events: Vec<String>) {
    for chunk in events.chunks(1_000) {
        store_events(server, chunk.iter().cloned());
    }
}

/// The start of the first UTC day that a retention of 90 days keeps.
fn first_kept_day(now: SystemTime) -> SystemTime {
    let ago = now - 90 * DAY;
    let seconds = ago
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds - seconds % 86_400)
}

/// Figures to nine significant digits: sums of the same runs' times differ in their last bits
/// with the order they were added in.
fn rounded(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap();
            Value::String(format!("{x:.9e}"))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rounded).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, rounded(v))).collect())
        }
        other => other,
    }
}

/// What the two servers say, for periods inside and beyond the 90 days.
fn answers(server: &Server) -> Vec<String> {
    let mut said = Vec::new();
    for query in [
        "since=90d",
        "since=120d",
        "since=30d&branch=main",
        "since=100d&command=npm",
    ] {
        let mut figures = served_figures(server, query);
        // Where and when it was asked.
        for volatile in ["period", "since"] {
            figures.as_object_mut().unwrap().remove(volatile);
        }
        said.push(format!("{query}: {}", rounded(figures)));
        said.push(format!(
            "{query}: {}",
            report_sections(&served_page(server, query))
        ));
    }
    let (status, stats) = crate::common::http::get(
        &format!("{}/api/v1/stats?since=120d", server.url),
        &[("Authorization", &format!("Bearer {}", server.read_key))],
    );
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    said.push(format!("stats: {}", rounded(stats)));
    said
}

/// Sends every run to `everything` (then restarted with a retention of 90 days, from
/// `EARLYEXIT_SERVE_RETENTION`, as `--retention`'s variable) and the kept ones alone to
/// `kept_only`; the first must come to say what the second says.
fn retention_agrees(everything: &str, kept_only: &str, count_old: impl Fn() -> u64) {
    let now = SystemTime::now();
    let home = Home::new();
    let first_kept = first_kept_day(now);
    let runs: Vec<(SystemTime, Vec<String>)> =
        (0..runs()).map(|n| varied_run(n, now, HOURS)).collect();
    let mut all = Server::start_on_database(&home, everything, &[]);
    send(
        &all,
        runs.iter().flat_map(|(_, events)| events.clone()).collect(),
    );
    let kept = Server::start_on_database(&home, kept_only, &[]);
    let kept_events = runs
        .iter()
        .filter(|(started, _)| *started >= first_kept)
        .flat_map(|(_, events)| events.clone())
        .collect();
    send(&kept, kept_events);
    let old = count_old();
    assert!(old > 1_000, "runs older than 90 days were sent");
    all.stop();
    let started = Instant::now();
    let retained = all.restarted(&home, &[("EARLYEXIT_SERVE_RETENTION", "90d")]);
    while count_old() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "retention did not remove the old runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("retention removed {old} runs in {:?}", started.elapsed());
    let (retained_said, kept_said) = (answers(&retained), answers(&kept));
    for (retained, kept) in retained_said.iter().zip(&kept_said) {
        assert_eq!(retained, kept);
    }
}

#[test]
fn retention_on_sqlite_leaves_what_a_store_of_the_kept_runs_alone_says() {
    let home = Home::new();
    let everything = home.dir.join("everything.db");
    let kept_only = home.dir.join("kept.db");
    let cut = crate::common::team::rfc3339(first_kept_day(SystemTime::now()));
    retention_agrees(
        everything.to_str().unwrap(),
        kept_only.to_str().unwrap(),
        || {
            crate::common::query_rows(
                &everything,
                &format!("SELECT count(*) FROM executions WHERE timestamp < '{cut}'"),
            )[0][0]
                .parse()
                .unwrap()
        },
    );
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn retention_on_postgres_leaves_what_a_store_of_the_kept_runs_alone_says_panels_included() {
    let postgres = Postgres::start();
    postgres.psql("postgres", "CREATE DATABASE kept");
    let now = SystemTime::now();
    let cut = crate::common::team::rfc3339(first_kept_day(now));
    retention_agrees(&postgres.url("team"), &postgres.url("kept"), || {
        postgres
            .psql(
                "team",
                &format!("SELECT count(*) FROM executions WHERE timestamp < '{cut}'"),
            )
            .parse()
            .unwrap()
    });
    let window = (
        crate::common::team::rfc3339(now - 90 * DAY),
        crate::common::team::rfc3339(now + DAY),
    );
    let none = [("repository", ""), ("branch", ""), ("command", "")];
    for (title, sql) in panels("postgres/earlyexit.json") {
        let sql = expand_postgres_over(&sql, &none, (&window.0, &window.1));
        assert_eq!(
            postgres.psql("team", &sql),
            postgres.psql("kept", &sql),
            "{title}"
        );
    }
}
