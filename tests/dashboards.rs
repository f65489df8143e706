//! The shipped Grafana dashboards: every panel's SQL runs on a real store holding fixture runs
//! (sent through `earlyexit serve`) and returns what those runs say.

use std::path::Path;

use crate::common::postgres::Postgres;
use crate::common::server::Server;
use crate::common::Home;

/// The answers every store must give, panel by panel (numbers as each store prints them).
const POSTGRES_ANSWERS: [(&str, &str); 7] = [
    (
        "Runs by outcome",
        "1795132800|failure|1\n1795132800|success|3\n1795219200|stopped_on_success|1\n1795219200|timeout|2",
    ),
    (
        "Failure rate by command",
        "npm test|3|0.667\ncargo test|4|0.250",
    ),
    (
        "Run time p50 and p95",
        "1795132800|11|13.7\n1795219200|30|30",
    ),
    ("Top matched patterns", "error|2|1\nFAIL|1|1"),
    ("Time saved", "10.000"),
    ("Flaky commands", "npm test|r2|1|2\ncargo test|r1|3|1"),
    ("Runs in progress", "1"),
];

/// Grafana's macros as its PostgreSQL data source expands them, over November and December
/// 2026, and the dashboard's variables as given.
fn expand_postgres(sql: &str, variables: &[(&str, &str)]) -> String {
    expand_postgres_over(
        sql,
        variables,
        ("2026-11-01T00:00:00Z", "2026-12-31T00:00:00Z"),
    )
}

/// The same over the time range `from` to `to` (RFC 3339).
pub fn expand_postgres_over(
    sql: &str,
    variables: &[(&str, &str)],
    (from, to): (&str, &str),
) -> String {
    let mut sql = sql.to_string();
    while let Some(start) = sql.find("$__timeFilter(") {
        let end = start + sql[start..].find(')').unwrap();
        let column = &sql[start + "$__timeFilter(".len()..end].to_string();
        // The column may hold its own parentheses (`timestamp::timestamptz` holds none).
        sql.replace_range(
            start..=end,
            &format!("{column} BETWEEN '{from}' AND '{to}'"),
        );
    }
    while let Some(start) = sql.find("$__timeGroupAlias(") {
        let end = start + sql[start..].find(')').unwrap();
        let inside = sql[start + "$__timeGroupAlias(".len()..end].to_string();
        let (column, interval) = inside.rsplit_once(',').unwrap();
        assert_eq!(interval.trim(), "1d");
        sql.replace_range(
            start..=end,
            &format!("floor(extract(epoch from {column})/86400)*86400 AS \"time\""),
        );
    }
    for (name, value) in variables {
        sql = sql.replace(&format!("${name}"), value);
    }
    assert!(
        !sql.contains('$'),
        "every macro and variable expanded: {sql}"
    );
    sql
}

/// Each panel's title and SQL, in order.
pub fn panels(dashboard: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dashboards")
        .join(dashboard);
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|panel| {
            (
                panel["title"].as_str().unwrap().to_string(),
                panel["targets"][0]["rawSql"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A fixture run: id, day of November 2026, command, outcome, exit reason, stopped by
/// earlyexit, seconds, matches.
type Fixture = (
    &'static str,
    u32,
    &'static str,
    &'static str,
    &'static str,
    bool,
    f64,
    u32,
);

/// Command A (cargo test, revision r1): three complete runs of 10, 12 and 14 s and one stopped
/// at an error after 2 s, on 20 November. Command B (npm test, r2): two timeouts of 30 s and
/// one run of 5 s stopped on its success pattern, on 21 November. One more run is in progress.
const RUNS: [Fixture; 7] = [
    (
        "0a-1",
        20,
        "cargo test",
        "success",
        "no_match",
        false,
        10.0,
        0,
    ),
    (
        "0a-2",
        20,
        "cargo test",
        "success",
        "no_match",
        false,
        12.0,
        0,
    ),
    (
        "0a-3",
        20,
        "cargo test",
        "success",
        "no_match",
        false,
        14.0,
        0,
    ),
    (
        "0a-4",
        20,
        "cargo test",
        "failure",
        "error_pattern",
        true,
        2.0,
        2,
    ),
    ("0b-1", 21, "npm test", "timeout", "timeout", true, 30.0, 0),
    ("0b-2", 21, "npm test", "timeout", "timeout", true, 30.0, 0),
    (
        "0b-3",
        21,
        "npm test",
        "stopped_on_success",
        "success_pattern",
        true,
        5.0,
        1,
    ),
];

/// What a fixture run is in every store: its ids, hash, pattern and revision.
struct Facts {
    trace_id: String,
    span_id: String,
    hash: String,
    pattern: &'static str,
    revision: &'static str,
}

fn facts(id: &str, command: &str) -> Facts {
    let cargo = command.starts_with("cargo");
    Facts {
        trace_id: format!("{:0>32}", id.replace('-', "")),
        span_id: format!("{:0>16}", id.replace('-', "")),
        hash: if cargo { "a" } else { "b" }.repeat(64),
        pattern: if cargo { "error" } else { "FAIL" },
        revision: if cargo { "r1" } else { "r2" },
    }
}

const REPOSITORY: &str = "https://git.example.com/team/app";

/// A fixture run in the design document's envelope.
fn execution(run: &Fixture) -> serde_json::Value {
    let (id, day, command, outcome, exit_reason, stopped, seconds, matches) = *run;
    let facts = facts(id, command);
    serde_json::json!({"type": "execution", "data": {
        "execution_id": id,
        "timestamp": format!("2026-11-{day}T10:00:00.000Z"),
        "trace_id": facts.trace_id,
        "span_id": facts.span_id,
        "command_hash": facts.hash,
        "executable": command.split(' ').next().unwrap(),
        "command": command,
        "pattern": facts.pattern,
        "exit_code": 0,
        "exit_reason": exit_reason,
        "outcome": outcome,
        "stopped_command": stopped,
        "total_runtime": seconds,
        "match_count": matches,
        "vcs_revision": facts.revision,
        "vcs_repository_url": REPOSITORY,
        "anonymized": false,
    }})
}

/// A fixture run as the collector's ClickHouse exporter writes its span (at full detail).
fn exported_span(run: &Fixture) -> serde_json::Value {
    let (id, day, command, outcome, exit_reason, stopped, seconds, matches) = *run;
    let facts = facts(id, command);
    let words: Vec<&str> = command.split(' ').collect();
    serde_json::json!({
        "Timestamp": format!("2026-11-{day} 10:00:00"),
        "TraceId": facts.trace_id,
        "SpanId": facts.span_id,
        "ServiceName": "earlyexit",
        "SpanName": words[0],
        "SpanKind": "Client",
        "Duration": (seconds * 1e9) as u64,
        "StatusCode": "Unset",
        "SpanAttributes": {
            "earlyexit.execution_id": id,
            "earlyexit.command_hash": facts.hash,
            "earlyexit.pattern": facts.pattern,
            "earlyexit.outcome": outcome,
            "earlyexit.exit_reason": exit_reason,
            "earlyexit.stopped_command": stopped.to_string(),
            "earlyexit.total_runtime": seconds.to_string(),
            "earlyexit.match_count": matches.to_string(),
            "process.command_args": serde_json::to_string(&words).unwrap(),
            "vcs.ref.head.revision": facts.revision,
            "vcs.repository.url.full": REPOSITORY,
        },
    })
}

/// The fixture, sent through the server: the runs, and the start record of one in progress.
fn send_fixture(server: &Server) {
    let events: Vec<serde_json::Value> = RUNS.iter().map(execution).collect();
    let body = serde_json::json!({"api_version": "1.0", "events": events});
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent
        .post(&format!("{}/api/v1/events", server.url))
        .header("X-API-Key", &server.write_key)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let start = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1795300000000000000","eventName":"earlyexit.run.start","traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","attributes":[{"key":"earlyexit.execution_id","value":{"stringValue":"0c-1"}}]}]}]}]}"#;
    let answer = agent
        .post(&format!("{}/v1/logs", server.url))
        .header("X-API-Key", &server.write_key)
        .header("Content-Type", "application/json")
        .send(start)
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn every_postgres_panel_answers_what_the_fixture_runs_did() {
    let postgres = Postgres::start();
    let home = Home::new();
    let server = Server::start_on_database(&home, &postgres.url("team"), &[]);
    send_fixture(&server);
    let none = [("repository", ""), ("branch", ""), ("command", "")];
    let expected = POSTGRES_ANSWERS;
    let panels = panels("postgres/earlyexit.json");
    assert_eq!(panels.len(), expected.len());
    for ((title, sql), (wanted_title, wanted)) in panels.iter().zip(expected) {
        assert_eq!(title, wanted_title);
        assert_eq!(
            postgres.psql("team", &expand_postgres(sql, &none)),
            wanted,
            "{title}"
        );
    }
    // The variables narrow every panel: one command, one repository.
    let npm = [
        ("repository", "team/app"),
        ("branch", ""),
        ("command", "npm"),
    ];
    assert_eq!(
        postgres.psql("team", &expand_postgres(&panels[1].1, &npm)),
        "npm test|3|0.667"
    );
    let elsewhere = [
        ("repository", "other/repo"),
        ("branch", ""),
        ("command", ""),
    ];
    assert_eq!(
        postgres.psql("team", &expand_postgres(&panels[3].1, &elsewhere)),
        ""
    );
}

/// Grafana's macros as the ClickHouse data source expands them, over November and December
/// 2026, and the variables as given.
fn expand_clickhouse(sql: &str, variables: &[(&str, &str)]) -> String {
    let mut sql = sql.to_string();
    for (macro_name, expansion) in [
        (
            "$__timeFilter(",
            "{0} >= toDateTime('2026-11-01 00:00:00') AND {0} <= toDateTime('2026-12-31 00:00:00')",
        ),
        (
            "$__timeInterval(",
            "toStartOfInterval(toDateTime({0}), INTERVAL 86400 second)",
        ),
    ] {
        while let Some(start) = sql.find(macro_name) {
            let end = start + sql[start..].find(')').unwrap();
            let column = sql[start + macro_name.len()..end].to_string();
            sql.replace_range(start..=end, &expansion.replace("{0}", &column));
        }
    }
    for (name, value) in variables {
        sql = sql.replace(&format!("${name}"), value);
    }
    assert!(
        !sql.contains('$'),
        "every macro and variable expanded: {sql}"
    );
    sql
}

/// Runs queries on chdb over the fixture (tests/clickhouse_panels.py); each answer's rows as
/// `a|b|c` lines.
fn clickhouse_answers(queries: &[String]) -> Vec<String> {
    let dir = Home::new();
    let spans: Vec<serde_json::Value> = RUNS.iter().map(exported_span).collect();
    // The run in progress, and a finished run's start record (its span came: not running).
    let logs = serde_json::json!([
        {"TraceId": "5b8efff798038103d269b633813fc60c", "SpanId": "eee19b7ec3c1b174",
         "ServiceName": "earlyexit", "EventName": "earlyexit.run.start"},
        {"TraceId": facts("0a-1", "cargo test").trace_id, "SpanId": facts("0a-1", "cargo test").span_id,
         "ServiceName": "earlyexit", "EventName": "earlyexit.run.start"},
    ]);
    std::fs::write(
        dir.dir.join("queries.json"),
        serde_json::to_string(queries).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.dir.join("spans.json"),
        serde_json::to_string(&spans).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.dir.join("logs.json"), logs.to_string()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("EARLYEXIT_TEST_PYTHON")
        .expect("EARLYEXIT_TEST_PYTHON names the Python with chdb: run tests/install-and-run.sh");
    let output = std::process::Command::new(python)
        .arg(root.join("tests/clickhouse_panels.py"))
        .arg(root.join("collector-config/clickhouse"))
        .arg(dir.dir.join("queries.json"))
        .arg(dir.dir.join("spans.json"))
        .arg(dir.dir.join("logs.json"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<Vec<Vec<serde_json::Value>>> = serde_json::from_slice(&output.stdout).unwrap();
    answers
        .iter()
        .map(|rows| {
            let lines: Vec<String> = rows
                .iter()
                .map(|row| {
                    let values: Vec<String> = row
                        .iter()
                        .map(|value| match value {
                            serde_json::Value::String(text) => text.clone(),
                            other => other.to_string(),
                        })
                        .collect();
                    values.join("|")
                })
                .collect();
            lines.join("\n")
        })
        .collect()
}

#[test]
#[ignore = "needs chdb: run tests/install-and-run.sh"]
fn every_clickhouse_panel_answers_what_the_fixture_runs_did_once_each() {
    let expected = [
        (
            "Runs by outcome",
            "2026-11-20 00:00:00|failure|1\n2026-11-20 00:00:00|success|3\n2026-11-21 00:00:00|stopped_on_success|1\n2026-11-21 00:00:00|timeout|2",
        ),
        ("Failure rate by command", "npm test|3|0.667\ncargo test|4|0.25"),
        (
            "Run time p50 and p95",
            "2026-11-20 00:00:00|11|13.7\n2026-11-21 00:00:00|30|30",
        ),
        ("Top matched patterns", "error|2|1\nFAIL|1|1"),
        ("Time saved", "10"),
        ("Flaky commands", "npm test|r2|1|2\ncargo test|r1|3|1"),
        ("Runs in progress", "1"),
    ];
    let panels = panels("clickhouse/earlyexit.json");
    assert_eq!(panels.len(), expected.len());
    let none = [("repository", ""), ("branch", ""), ("command", "")];
    let npm = [
        ("repository", "team/app"),
        ("branch", ""),
        ("command", "npm"),
    ];
    let elsewhere = [
        ("repository", "other/repo"),
        ("branch", ""),
        ("command", ""),
    ];
    let mut queries: Vec<String> = panels
        .iter()
        .map(|(_, sql)| expand_clickhouse(sql, &none))
        .collect();
    queries.push(expand_clickhouse(&panels[1].1, &npm));
    queries.push(expand_clickhouse(&panels[3].1, &elsewhere));
    let answers = clickhouse_answers(&queries);
    for (((title, _), (wanted_title, wanted)), answer) in panels.iter().zip(expected).zip(&answers)
    {
        assert_eq!(title, wanted_title);
        assert_eq!(answer, wanted, "{title}");
    }
    assert_eq!(
        answers[7], "npm test|3|0.667",
        "the variables narrow the panels"
    );
    assert_eq!(answers[8], "");
}
