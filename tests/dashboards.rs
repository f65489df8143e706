//! The shipped Grafana dashboards: every panel's SQL runs on a real store holding fixture runs
//! (sent through `earlyexit serve`) and returns what those runs say.

use std::path::Path;

use crate::common::postgres::Postgres;
use crate::common::server::Server;
use crate::common::Home;

/// Grafana's macros as its PostgreSQL data source expands them, over November and December
/// 2026, and the dashboard's variables as given.
fn expand_postgres(sql: &str, variables: &[(&str, &str)]) -> String {
    let mut sql = sql.to_string();
    while let Some(start) = sql.find("$__timeFilter(") {
        let end = start + sql[start..].find(')').unwrap();
        let column = &sql[start + "$__timeFilter(".len()..end].to_string();
        // The column may hold its own parentheses (`timestamp::timestamptz` holds none).
        sql.replace_range(
            start..=end,
            &format!("{column} BETWEEN '2026-11-01T00:00:00Z' AND '2026-12-31T00:00:00Z'"),
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
fn panels(dashboard: &str) -> Vec<(String, String)> {
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

/// One run in the design document's envelope, with the fields the panels read.
#[allow(clippy::too_many_arguments)]
fn execution(
    id: &str,
    day: u32,
    command: &str,
    outcome: &str,
    exit_reason: &str,
    stopped: bool,
    seconds: f64,
    matches: u32,
) -> serde_json::Value {
    let hash = if command.starts_with("cargo") {
        "a"
    } else {
        "b"
    }
    .repeat(64);
    let revision = if command.starts_with("cargo") {
        "r1"
    } else {
        "r2"
    };
    serde_json::json!({"type": "execution", "data": {
        "execution_id": id,
        "timestamp": format!("2026-11-{day}T10:00:00.000Z"),
        "trace_id": format!("{:0>32}", id.replace('-', "")),
        "span_id": format!("{:0>16}", id.replace('-', "")),
        "command_hash": hash,
        "executable": command.split(' ').next().unwrap(),
        "command": command,
        "pattern": if command.starts_with("cargo") { "error" } else { "FAIL" },
        "exit_code": 0,
        "exit_reason": exit_reason,
        "outcome": outcome,
        "stopped_command": stopped,
        "total_runtime": seconds,
        "match_count": matches,
        "vcs_revision": revision,
        "vcs_repository_url": "https://git.example.com/team/app",
        "anonymized": false,
    }})
}

/// Command A (cargo test, revision r1): three complete runs of 10, 12 and 14 s and one stopped
/// at an error after 2 s, on 20 November. Command B (npm test, r2): two timeouts of 30 s and
/// one success of 5 s with a match, on 21 November. One run is in progress.
fn send_fixture(server: &Server) {
    let events = vec![
        execution(
            "0a-1",
            20,
            "cargo test",
            "success",
            "no_match",
            false,
            10.0,
            0,
        ),
        execution(
            "0a-2",
            20,
            "cargo test",
            "success",
            "no_match",
            false,
            12.0,
            0,
        ),
        execution(
            "0a-3",
            20,
            "cargo test",
            "success",
            "no_match",
            false,
            14.0,
            0,
        ),
        execution(
            "0a-4",
            20,
            "cargo test",
            "failure",
            "error_pattern",
            true,
            2.0,
            2,
        ),
        execution("0b-1", 21, "npm test", "timeout", "timeout", true, 30.0, 0),
        execution("0b-2", 21, "npm test", "timeout", "timeout", true, 30.0, 0),
        execution("0b-3", 21, "npm test", "success", "no_match", false, 5.0, 1),
    ];
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
    let expected = [
        (
            "Runs by outcome",
            "1795132800|failure|1\n1795132800|success|3\n1795219200|success|1\n1795219200|timeout|2",
        ),
        ("Failure rate by command", "npm test|3|0.667\ncargo test|4|0.250"),
        ("Run time p50 and p95", "1795132800|11|13.7\n1795219200|30|30"),
        ("Top matched patterns", "error|2|1\nFAIL|1|1"),
        ("Time saved", "10.000"),
        ("Flaky commands", "npm test|r2|1|2\ncargo test|r1|3|1"),
        ("Runs in progress", "1"),
    ];
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
