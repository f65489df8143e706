//! Live runs: a run is visible while it runs (a running row, a start record and its matches
//! at the collector), and a run whose earlyexit is killed is closed as lost, once, with its
//! own ids.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::collector::{Collector, DumpedLog, DumpedSpan};
use crate::common::receiver::{Receiver, RECEIVER_KEY};
use crate::common::{live_members, Home};

/// Rows of a query on the run's database, or `None` while it does not exist or is not yet
/// migrated.
fn rows_now(home: &Home, sql: &str) -> Option<Vec<Vec<String>>> {
    let connection = rusqlite::Connection::open_with_flags(
        home.db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .ok()?;
    let mut statement = connection.prepare(sql).ok()?;
    let columns = statement.column_count();
    let rows = statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| row.get::<_, String>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .ok()?
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(rows)
}

/// Polls `probe` every 20 ms until it gives a value, for at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < until, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A command that says its process group and the trace context it was given, matches once, and
/// then runs for half a minute.
const SAYS_AND_SLEEPS: &str = concat!(
    "echo $(",
    say_group!(),
    ") $TRACEPARENT; echo ERROR one; sleep 30"
);

/// A run that is still going: earlyexit, and what its command said first.
struct Going {
    earlyexit: Child,
    /// Kept open: a closed pipe would end the run as cancelled.
    _output: BufReader<std::process::ChildStdout>,
    /// The command's process group.
    group: i32,
    /// The `TRACEPARENT` the command was given: the run's trace and span ids.
    trace_id: String,
    span_id: String,
}

fn start_going(home: &Home, env: &[(&str, &str)]) -> Going {
    let mut earlyexit = home
        .earlyexit(&["-m", "5", "ERROR", "--", "sh", "-c", SAYS_AND_SLEEPS])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut output = BufReader::new(earlyexit.stdout.take().unwrap());
    let mut first = String::new();
    output.read_line(&mut first).unwrap();
    let words: Vec<&str> = first.split_whitespace().collect();
    let parts: Vec<&str> = words[1].split('-').collect();
    Going {
        group: words[0].parse().unwrap(),
        trace_id: parts[1].to_string(),
        span_id: parts[2].to_string(),
        earlyexit,
        _output: output,
    }
}

/// Kills each earlyexit with SIGKILL once all of them are recorded as running with their match,
/// and checks that none of their commands outlives it.
fn kill_when_running(home: &Home, runs: &mut [Going]) {
    let count = format!("{}", runs.len());
    wait_for("every run's running row", Duration::from_secs(60), || {
        let rows = rows_now(
            home,
            "SELECT CAST(count(*) AS TEXT) FROM running WHERE match_count = 1",
        )?;
        (rows[0][0] == count).then_some(())
    });
    for run in runs.iter_mut() {
        run.earlyexit.kill().unwrap();
        run.earlyexit.wait().unwrap();
    }
    for run in runs.iter() {
        wait_for(
            &format!("the end of the command's group {}", run.group),
            Duration::from_secs(2),
            || live_members(run.group).is_empty().then_some(()),
        );
    }
}

#[test]
fn a_run_is_recorded_as_running_until_its_record_is_kept() {
    let home = Home::new();
    let mut child = home
        .earlyexit(&["ERROR", "--", "sh", "-c", "echo $TRACEPARENT; sleep 1.5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let row = wait_for("the running row", Duration::from_secs(5), || {
        rows_now(&home, "SELECT trace_id, span_id FROM running").filter(|rows| !rows.is_empty())
    });
    assert_eq!(
        format!("00-{}-{}-01", row[0][0], row[0][1]),
        first.trim(),
        "the row has the ids the command was given"
    );
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let locks = home.state_dir().join("telemetry.db.running");
    assert_eq!(std::fs::read_dir(&locks).unwrap().count(), 1);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(home.query("SELECT count(*) FROM running"), [["0"]]);
    assert_eq!(home.query("SELECT outcome FROM executions"), [["success"]]);
    assert_eq!(
        std::fs::read_dir(&locks).unwrap().count(),
        0,
        "lock file gone"
    );
}

#[test]
fn a_short_run_writes_no_running_row() {
    let home = Home::new();
    let run = crate::common::run(&mut home.earlyexit(&["ERROR", "--", "true"]));
    assert_eq!(run.code, 0);
    assert_eq!(home.query("SELECT count(*) FROM running"), [["0"]]);
    assert!(!home.state_dir().join("telemetry.db.running").exists());
}

/// A run that starts while another process holds the database's write lock longer than the
/// busy timeout (as when dozens of runs start at once on a loaded machine) writes its running
/// row once the lock goes, while it still runs: else a kill would leave nothing to close.
#[test]
fn a_run_that_starts_while_the_database_is_locked_is_recorded_as_running_later() {
    let home = Home::new();
    // No match: exit 0, and a database to lock.
    assert_eq!(
        crate::common::run(&mut home.earlyexit(&["NEVER", "--", "true"])).code,
        0
    );
    let holder = home.db();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut child = home
        .earlyexit(&["NEVER", "--", "sleep", "8"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Past the store's busy timeout (2 s) and a first heartbeat.
    std::thread::sleep(Duration::from_millis(3500));
    holder.execute_batch("COMMIT").unwrap();
    wait_for("the running row", Duration::from_secs(4), || {
        rows_now(&home, "SELECT execution_id FROM running").filter(|rows| rows.len() == 1)
    });
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills three runs' earlyexits: `telemetry status` closes one, `telemetry sync` the next, and
/// an ordinary run the third; each is stored once, as lost, with its own ids and its match.
#[test]
fn a_killed_earlyexit_is_closed_as_lost_by_status_sync_or_the_next_run() {
    let home = Home::new();
    let closers: [&[&str]; 3] = [
        &["telemetry", "status"],
        &["telemetry", "sync"],
        &["NEVER", "--", "true"],
    ];
    for closer in closers {
        let mut runs = vec![start_going(&home, &[])];
        kill_when_running(&home, &mut runs);
        let closed = crate::common::run(&mut home.earlyexit(closer));
        if closer[0] == "telemetry" {
            assert!(
                closed
                    .stderr_text()
                    .contains("closed 1 run(s) whose earlyexit was killed, as lost"),
                "{}",
                closed.stderr_text()
            );
        }
        let run = &runs[0];
        let rows = wait_for(
            &format!("the lost run, closed by {closer:?}"),
            Duration::from_secs(5),
            || {
                let rows = home.query(&format!(
                "SELECT outcome, exit_reason, exit_code, match_count, span_id, total_runtime > 0
                 FROM executions WHERE trace_id = '{}'",
                run.trace_id
            ));
                (!rows.is_empty()).then_some(rows)
            },
        );
        assert_eq!(
            rows,
            [["lost", "lost", "137", "1", run.span_id.as_str(), "1"]],
            "closed by {closer:?}"
        );
        assert_eq!(
            home.query(&format!(
                "SELECT count(*) FROM match_events JOIN executions USING (execution_id)
                 WHERE trace_id = '{}'",
                run.trace_id
            )),
            [["1"]]
        );
    }
    assert_eq!(home.query("SELECT count(*) FROM running"), [["0"]]);
}

fn logs_of(collector: &Collector, trace_id: &str) -> Vec<DumpedLog> {
    collector
        .logs()
        .into_iter()
        .filter(|log| log.fields.get("Trace ID").map(String::as_str) == Some(trace_id))
        .collect()
}

fn event_names(logs: &[DumpedLog]) -> Vec<&str> {
    logs.iter()
        .filter_map(|log| log.fields.get("EventName").map(String::as_str))
        .collect()
}

/// The run: the start record and the first match's record are at the collector while
/// the command still sleeps, tied to the span that arrives at the end.
#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn the_start_and_the_first_match_reach_the_collector_while_the_command_sleeps() {
    let collector = Collector::start();
    let home = Home::new();
    let mut child = home
        .earlyexit(&[
            "--telemetry-backend",
            "otlp",
            "-m",
            "2",
            "ERROR",
            "--",
            "sh",
            "-c",
            "echo $TRACEPARENT; echo start; sleep 1; echo ERROR one; sleep 3",
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc)
        .env("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    output.read_line(&mut first).unwrap();
    let trace_id = first.trim().split('-').nth(1).unwrap().to_string();
    let span_id = first.trim().split('-').nth(2).unwrap().to_string();
    let logs = wait_for(
        "the start and match records",
        Duration::from_secs(4),
        || {
            let logs = logs_of(&collector, &trace_id);
            (event_names(&logs) == ["earlyexit.run.start", "earlyexit.match"]).then_some(logs)
        },
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the records arrived while the command ran"
    );
    for log in &logs {
        assert_eq!(log.fields["Span ID"], span_id);
    }
    assert_eq!(logs[0].fields["SeverityText"], "INFO");
    assert_eq!(logs[0].attributes["process.executable.name"], "sh");
    assert_eq!(logs[1].fields["SeverityText"], "WARN");
    assert_eq!(
        logs[1].fields["Body"], "Str(ERROR one)",
        "the line is the body"
    );
    assert_eq!(logs[1].attributes["earlyexit.match.number"], "1");
    assert_eq!(
        logs[0].attributes["earlyexit.execution_id"],
        logs[1].attributes["earlyexit.execution_id"]
    );
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let span = collector.span(&logs[0].attributes["earlyexit.execution_id"]);
    assert_eq!(span.fields["ID"], span_id);
    assert_eq!(span.events.len(), 1, "span events stay by default");
}

/// `match_records: logs`: the matches go as log records alone, and the span has no events.
#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn matches_can_go_as_log_records_alone() {
    let collector = Collector::start();
    let home = Home::new();
    let run = crate::common::run(
        home.earlyexit(&[
            "--json",
            "--telemetry-backend",
            "otlp",
            "ERROR",
            "--",
            "sh",
            "-c",
            "echo ERROR now; echo more",
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc)
        .env("EARLYEXIT_TELEMETRY_LIVE_MATCH_RECORDS", "logs"),
    );
    let summary = run.json();
    let span = collector.span(summary["execution_id"].as_str().unwrap());
    assert!(span.events.is_empty(), "{span:?}");
    let trace_id = summary["trace_id"].as_str().unwrap();
    let logs = wait_for("the match record", Duration::from_secs(5), || {
        let logs = logs_of(&collector, trace_id);
        event_names(&logs)
            .contains(&"earlyexit.match")
            .then_some(logs)
    });
    let record = logs
        .iter()
        .find(|log| log.fields["EventName"] == "earlyexit.match")
        .unwrap();
    assert_eq!(record.attributes["log.iostream"], "stdout");
    assert!(!record.fields.contains_key("Body") || record.fields["Body"] == "Empty");
    assert!(
        !record.attributes.contains_key("earlyexit.match.line"),
        "minimal detail keeps no line"
    );
}

/// A flood of matches is held to the rate: what was sent and what was suppressed add up to
/// every match, and the span counts the suppressed ones.
#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn a_flood_of_matches_is_rate_limited_and_counted() {
    let collector = Collector::start();
    let home = Home::new();
    let run = crate::common::run(
        home.earlyexit(&[
            "--json",
            "--telemetry-backend",
            "otlp",
            "-m",
            "100000",
            "ERROR",
            "--",
            "sh",
            "-c",
            "seq 1 5000 | sed 's/^/ERROR /'; sleep 1",
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc)
        .env("EARLYEXIT_TELEMETRY_LIVE_MAX_RECORDS_PER_SECOND", "50"),
    );
    let summary = run.json();
    assert_eq!(summary["match_count"], 5000);
    let span = collector.span(summary["execution_id"].as_str().unwrap());
    let suppressed: usize = span.attributes["earlyexit.live.suppressed_records"]
        .parse()
        .unwrap();
    let sent = 5000 - suppressed;
    let seconds = summary["duration_seconds"].as_f64().unwrap();
    assert!(
        (50..=50 + (seconds * 50.0).ceil() as usize).contains(&sent),
        "{sent} records in {seconds} s"
    );
    let trace_id = summary["trace_id"].as_str().unwrap();
    wait_for("every record sent", Duration::from_secs(5), || {
        let matches = event_names(&logs_of(&collector, trace_id))
            .into_iter()
            .filter(|name| *name == "earlyexit.match")
            .count();
        (matches == sent).then_some(())
    });
}

/// A collector that is down costs a flood of matches nothing: the run ends as it would and
/// says one line.
#[test]
fn a_flood_of_matches_to_a_collector_that_is_down_ends_in_time() {
    let home = Home::new();
    let started = Instant::now();
    let run = crate::common::run(
        home.earlyexit(&[
            "--telemetry-backend",
            "hybrid",
            "-m",
            "100000",
            "ERROR",
            "--",
            "sh",
            "-c",
            "seq 1 100000 | sed 's/^/ERROR /'",
        ])
        .env("EARLYEXIT_TELEMETRY_HYBRID_REMOTE_BACKEND", "otlp")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{}", crate::common::closed_port()),
        )
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
    );
    assert_eq!(run.code, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(run.stdout.iter().filter(|&&b| b == b'\n').count(), 100_000);
    assert_eq!(
        run.stderr_text().lines().count(),
        1,
        "{}",
        run.stderr_text()
    );
    assert_eq!(
        home.query("SELECT match_count FROM executions"),
        [["100000"]]
    );
}

fn lost_spans(collector: &Collector) -> Vec<DumpedSpan> {
    collector
        .spans()
        .into_iter()
        .filter(|span| span.attributes.get("earlyexit.outcome").map(String::as_str) == Some("lost"))
        .collect()
}

/// The acceptance over OTLP: twenty runs' earlyexits killed with SIGKILL, no command
/// left behind, and `telemetry sync` delivers each once, as lost, with the ids of its start
/// record.
#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn twenty_killed_runs_reach_the_collector_once_each_with_their_start_records_ids() {
    let collector = Collector::start();
    let home = Home::new();
    let env = [
        ("EARLYEXIT_TELEMETRY_BACKEND", "otlp"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc.as_str()),
    ];
    let mut runs: Vec<Going> = (0..20).map(|_| start_going(&home, &env)).collect();
    kill_when_running(&home, &mut runs);
    let sync = crate::common::run(home.earlyexit(&["telemetry", "sync"]).envs(env));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    assert!(sync.stderr_text().contains("closed 20 run(s)"));
    wait_for("twenty lost spans", Duration::from_secs(10), || {
        (lost_spans(&collector).len() >= 20).then_some(())
    });
    // A later sync sends nothing more, and a later run arrives after it: nothing came twice.
    crate::common::run(home.earlyexit(&["telemetry", "sync"]).envs(env));
    collector.never_received(&[]);
    assert_eq!(lost_spans(&collector).len(), 20, "each run once");
    for run in &runs {
        let span = lost_spans(&collector)
            .into_iter()
            .find(|span| span.fields["Trace ID"] == run.trace_id)
            .unwrap_or_else(|| panic!("no lost span of trace {}", run.trace_id));
        assert_eq!(span.fields["ID"], run.span_id);
        let start = logs_of(&collector, &run.trace_id);
        assert_eq!(event_names(&start)[0], "earlyexit.run.start");
        assert_eq!(start[0].fields["Span ID"], run.span_id);
        assert_eq!(span.attributes["cicd.pipeline.task.run.result"], "error");
    }
    assert_eq!(home.query("SELECT count(*) FROM running"), [["0"]]);
}

/// The same in hybrid mode to the HTTP API: the local database and the receiver each hold
/// every run once, as lost, with the ids the command was given.
#[test]
fn twenty_killed_hybrid_runs_are_stored_once_locally_and_at_the_receiver() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let env = [
        ("EARLYEXIT_TELEMETRY_BACKEND", "hybrid"),
        ("EARLYEXIT_TELEMETRY_ENDPOINT", receiver.url.as_str()),
        ("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY),
    ];
    let mut runs: Vec<Going> = (0..20).map(|_| start_going(&home, &env)).collect();
    kill_when_running(&home, &mut runs);
    let sync = crate::common::run(home.earlyexit(&["telemetry", "sync"]).envs(env));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    crate::common::run(home.earlyexit(&["telemetry", "sync"]).envs(env));
    for run in &runs {
        let sql = format!(
            "SELECT outcome, span_id FROM executions WHERE trace_id = '{}'",
            run.trace_id
        );
        let expected = [["lost", run.span_id.as_str()]];
        assert_eq!(home.query(&sql), expected, "locally");
        assert_eq!(receiver.query(&sql), expected, "at the receiver");
    }
    assert_eq!(receiver.execution_count(), 20);
}

/// A profile's failure block goes to the collector as its own record when it is complete,
/// tied to the run's span, with the block's text and where it points.
#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn the_failure_block_reaches_the_collector_as_a_record() {
    let collector = Collector::start();
    let home = Home::new();
    let traceback = "sleep 0.3; echo 'Traceback (most recent call last):' >&2; \
                     echo '  File \"app/config.py\", line 4, in <module>' >&2; \
                     echo '    port = settings[\"port\"]' >&2; \
                     echo \"KeyError: 'port'\" >&2; sleep 5";
    let run = crate::common::run(
        home.earlyexit(&[
            "--json",
            "--telemetry-backend",
            "otlp",
            "--profile",
            "python",
            "--",
            "sh",
            "-c",
            traceback,
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc)
        .env("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full")
        .env("EARLYEXIT_TELEMETRY_LIVE_MATCH_RECORDS", "both"),
    );
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    let summary = run.json();
    let trace_id = summary["trace_id"].as_str().unwrap();
    let logs = wait_for("the block record", Duration::from_secs(5), || {
        let logs = logs_of(&collector, trace_id);
        event_names(&logs)
            .contains(&"earlyexit.failure.block")
            .then_some(logs)
    });
    let record = logs
        .iter()
        .find(|log| log.fields["EventName"] == "earlyexit.failure.block")
        .unwrap();
    assert_eq!(record.fields["SeverityText"], "ERROR");
    assert_eq!(
        record.attributes["earlyexit.execution_id"],
        summary["execution_id"].as_str().unwrap()
    );
    assert!(
        record.fields["Body"].starts_with("Str(Traceback (most recent call last):"),
        "{record:?}"
    );
    assert!(
        record.fields["Body"].contains("KeyError: 'port'"),
        "{record:?}"
    );
    assert_eq!(record.attributes["code.file.path"], "app/config.py");
    assert_eq!(record.attributes["code.line.number"], "4");
}
