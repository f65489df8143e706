//! Every row of the README's exit-code table, in the three ways a run meets it: with no CI
//! variable set, under `CI=true`, and with `--exit-codes grep`. Each is read everywhere it is
//! told: the exit code, `--json`, the span (through the console exporter), the stored row and
//! the `telemetry stats` bucket. The outcome is the same in all three; only grep's exit code
//! differs, and no failing command and no error-pattern match exits 0 by default.

use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

/// One row: the arguments, what the default mode gives (exit code, outcome, result, error.type)
/// in or out of CI, and grep's exit code.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    told: Told,
    grep_exit_code: i32,
}

#[derive(Clone, Copy)]
struct Told {
    exit_code: i32,
    outcome: &'static str,
    /// `cicd.pipeline.task.run.result`.
    result: &'static str,
    /// `None`: status Unset and no `error.type`.
    error_type: Option<&'static str>,
}

const fn told(
    exit_code: i32,
    outcome: &'static str,
    result: &'static str,
    error_type: Option<&'static str>,
) -> Told {
    Told {
        exit_code,
        outcome,
        result,
        error_type,
    }
}

const SUCCESS: Told = told(0, "success", "success", None);

const CASES: &[Case] = &[
    Case {
        name: "no pattern, the command succeeds",
        args: &["--", "true"],
        told: SUCCESS,
        grep_exit_code: 0,
    },
    Case {
        name: "no match, the command succeeds",
        args: &["Error", "--", "sh", "-c", "echo all good"],
        told: SUCCESS,
        grep_exit_code: 1,
    },
    Case {
        name: "the error pattern does not match, the command succeeds",
        args: &["-e", "FATAL", "--", "true"],
        told: SUCCESS,
        grep_exit_code: 1,
    },
    Case {
        name: "no match, the command fails",
        args: &["Error", "--", "sh", "-c", "echo 'tests: 3 failed'; exit 4"],
        told: told(4, "failure", "failure", Some("4")),
        grep_exit_code: 1,
    },
    Case {
        name: "no match, the command crashes",
        args: &["Error", "--", "sh", "-c", "kill -SEGV $$"],
        told: told(139, "failure", "failure", Some("139")),
        grep_exit_code: 139,
    },
    Case {
        name: "no pattern, the command fails",
        args: &["--", "sh", "-c", "exit 5"],
        told: told(5, "failure", "failure", Some("5")),
        grep_exit_code: 5,
    },
    Case {
        name: "PATTERN matches",
        args: &["-A", "0", "Error", "--", "sh", "-c", "echo Error; sleep 5"],
        told: told(1, "failure", "failure", Some("match")),
        grep_exit_code: 0,
    },
    Case {
        name: "PATTERN matches, the command then exits 0",
        args: &["Error", "--", "sh", "-c", "echo Error"],
        told: told(1, "failure", "failure", Some("match")),
        grep_exit_code: 0,
    },
    Case {
        name: "PATTERN matches fewer times than -m, the command then exits 0",
        args: &[
            "-m",
            "3",
            "FAILED",
            "--",
            "sh",
            "-c",
            "echo a FAILED; echo ok",
        ],
        told: told(1, "failure", "failure", Some("match")),
        grep_exit_code: 0,
    },
    Case {
        name: "PATTERN matches, then the command fails on its own",
        args: &["Error", "--", "sh", "-c", "echo Error; exit 3"],
        told: told(3, "failure", "failure", Some("3")),
        grep_exit_code: 0,
    },
    Case {
        name: "the success pattern matches, then the command fails on its own",
        args: &[
            "-s",
            "Listening",
            "--",
            "sh",
            "-c",
            "echo Listening; exit 4",
        ],
        told: told(4, "failure", "failure", Some("4")),
        grep_exit_code: 0,
    },
    Case {
        name: "the error pattern matches",
        args: &[
            "-A",
            "0",
            "-e",
            "FATAL",
            "--",
            "sh",
            "-c",
            "echo FATAL; sleep 5",
        ],
        told: told(1, "failure", "failure", Some("error_pattern")),
        grep_exit_code: 1,
    },
    Case {
        name: "the success pattern matches",
        args: &[
            "-A",
            "0",
            "-s",
            "Listening",
            "--",
            "sh",
            "-c",
            "echo Listening; sleep 5",
        ],
        told: told(0, "stopped_on_success", "success", None),
        grep_exit_code: 0,
    },
    Case {
        name: "the overall timeout",
        args: &["-t", "0.3", "--", "sleep", "5"],
        told: told(2, "timeout", "timeout", Some("timeout")),
        grep_exit_code: 2,
    },
    Case {
        name: "the idle timeout",
        args: &["-I", "0.3", "--", "sh", "-c", "echo one; sleep 5"],
        told: told(2, "timeout", "timeout", Some("idle_timeout")),
        grep_exit_code: 2,
    },
    Case {
        name: "the command cannot start",
        args: &["--", "/nonexistent/command"],
        told: told(3, "error", "error", Some("error")),
        grep_exit_code: 3,
    },
];

/// A way to meet the table: its name, and the flags and variables it adds.
type Mode = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// The three ways a run meets the table.
const MODES: [Mode; 3] = [
    ("no CI variable", &[], &[]),
    ("CI=true", &[], &[("CI", "true")]),
    ("--exit-codes grep", &["--exit-codes", "grep"], &[]),
];

/// The span as the console exporter printed it: `key: value` lines.
fn span_field<'a>(stderr: &'a str, key: &str) -> Option<&'a str> {
    stderr
        .lines()
        .map(str::trim_start)
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(": "))
}

fn check(home: &Home, case: &str, mode: &str, run: &Run, expected: Told) {
    let at = format!("{case} ({mode} mode)");
    assert_eq!(run.code, expected.exit_code, "{at}: exit code");
    let summary = run.json();
    assert_eq!(summary["exit_code"], expected.exit_code, "{at}: --json");
    assert_eq!(summary["outcome"], expected.outcome, "{at}: --json");
    let stderr = run.stderr_text();
    assert_eq!(
        span_field(&stderr, "kind"),
        Some("Client"),
        "{at}\n{stderr}"
    );
    assert_eq!(
        span_field(&stderr, "earlyexit.outcome"),
        Some(expected.outcome),
        "{at}\n{stderr}"
    );
    assert_eq!(
        span_field(&stderr, "cicd.pipeline.task.run.result"),
        Some(expected.result),
        "{at}\n{stderr}"
    );
    assert_eq!(
        span_field(&stderr, "error.type"),
        expected.error_type,
        "{at}\n{stderr}"
    );
    let status = span_field(&stderr, "status").unwrap_or_default();
    assert_eq!(
        status.starts_with("Error"),
        expected.error_type.is_some(),
        "{at}: status {status}"
    );
    assert_eq!(
        home.query("SELECT outcome, exit_code FROM executions"),
        [[expected.outcome.to_string(), expected.exit_code.to_string()]],
        "{at}: the stored row"
    );
    let stats = run_stats(home);
    assert_eq!(
        stats["by_outcome"],
        serde_json::json!([{"value": expected.outcome, "count": 1}]),
        "{at}: the stats bucket"
    );
}

fn run_stats(home: &Home) -> serde_json::Value {
    let stats = run(&mut home.earlyexit(&["telemetry", "stats", "--json"]));
    assert_eq!(stats.code, 0, "{}", stats.stderr_text());
    stats.json()
}

#[test]
fn every_row_of_the_exit_code_table_in_every_mode() {
    let all: Vec<(&'static Case, usize)> = CASES
        .iter()
        .flat_map(|case| (0..MODES.len()).map(move |mode| (case, mode)))
        .collect();
    // Four at a time: the table's runs are short, and a crowd of them on two cores would
    // test the machine's load rather than the outcomes.
    for batch in all.chunks(4) {
        let handles: Vec<_> = batch
            .iter()
            .map(|&(case, mode)| {
                std::thread::spawn(move || {
                    let (name, flags, variables) = MODES[mode];
                    let home = Home::new();
                    let args = [&["--json"][..], flags, case.args].concat();
                    let mut command = home.earlyexit(&args);
                    command.env("OTEL_TRACES_EXPORTER", "console");
                    command.envs(variables.iter().copied());
                    let run = run(&mut command);
                    let mut expected = case.told;
                    if flags.contains(&"grep") {
                        expected.exit_code = case.grep_exit_code;
                    }
                    check(&home, case.name, name, &run, expected);
                    let failed = !matches!(expected.outcome, "success" | "stopped_on_success");
                    if !flags.contains(&"grep") {
                        assert_eq!(
                            run.code != 0,
                            failed,
                            "{} ({name}): the exit code and the outcome disagree",
                            case.name
                        );
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    }
}

/// SIGTERM to earlyexit: cancelled, 143, in both modes.
#[test]
fn a_cancelled_run() {
    for mode in ["grep", "status"] {
        let home = Home::new();
        let child = home
            .earlyexit(&["--json", "--exit-codes", mode, "Error", "--", "sleep", "30"])
            .env("OTEL_TRACES_EXPORTER", "console")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let output = child.wait_with_output().unwrap();
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: output.stdout,
            stderr: output.stderr,
            elapsed: Duration::ZERO,
        };
        check(
            &home,
            "SIGTERM",
            mode,
            &run,
            told(143, "cancelled", "cancellation", Some("cancelled")),
        );
    }
}

/// Runs an earlier build stored (a PATTERN match outside CI as `stopped_on_success`, a run
/// with fewer matches than `-m` as `success`) are read by today's rule once the database is
/// migrated: the stored rows and `telemetry stats` say `failure`, and no run is lost.
#[test]
fn runs_stored_by_an_earlier_build_are_read_by_todays_rule() {
    let home = Home::new();
    let runs: [(&[&str], i32); 4] = [
        (
            &["-A", "0", "Error", "--", "sh", "-c", "echo Error; sleep 5"],
            1,
        ),
        (&["-m", "3", "FAILED", "--", "sh", "-c", "echo a FAILED"], 1),
        (
            &[
                "-A",
                "0",
                "-s",
                "ready",
                "--",
                "sh",
                "-c",
                "echo ready; sleep 5",
            ],
            0,
        ),
        (&["Error", "--", "true"], 0),
    ];
    for (args, code) in runs {
        assert_eq!(run(&mut home.earlyexit(args)).code, code, "{args:?}");
    }
    let earlier = home.db();
    earlier
        .execute_batch(
            "UPDATE executions SET outcome = 'stopped_on_success' WHERE pattern = 'Error' AND exit_reason = 'match';
             UPDATE executions SET outcome = 'success', exit_reason = 'no_match' WHERE pattern = 'FAILED';
             PRAGMA user_version = 7;",
        )
        .unwrap();
    drop(earlier);
    let outcomes =
        "SELECT pattern, outcome FROM executions WHERE pattern IN ('Error', 'FAILED') ORDER BY 1";
    assert_eq!(
        home.query(outcomes),
        [
            ["Error", "stopped_on_success"],
            ["Error", "success"],
            ["FAILED", "success"]
        ],
        "the earlier build's rows"
    );
    let stats = run_stats(&home);
    assert_eq!(
        stats["by_outcome"],
        serde_json::json!([
            {"value": "failure", "count": 2},
            {"value": "stopped_on_success", "count": 1},
            {"value": "success", "count": 1},
        ]),
        "{stats}"
    );
    assert_eq!(home.query("PRAGMA user_version"), [["8"]]);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["4"]]);
}

/// A run an earlier client sends to the team server with the earlier rule's outcome is stored
/// by today's; the kept report figures count it as a failure.
#[test]
fn the_team_server_stores_an_earlier_clients_run_by_todays_rule() {
    use crate::common::http::post;
    use crate::common::server::Server;

    let home = Home::new();
    let server = Server::start(&home, &[]);
    let execution = |n: u32, outcome: &str, reason: &str, matches: u32| {
        format!(
            r#"{{"type":"execution","data":{{"execution_id":"0a-{n}","timestamp":"2026-12-01T10:00:00.000Z","trace_id":"{:032x}","span_id":"{:016x}","command_hash":"h","exit_code":0,"exit_reason":"{reason}","outcome":"{outcome}","total_runtime":1.0,"match_count":{matches}}}}}"#,
            n, n
        )
    };
    let body = format!(
        r#"{{"api_version":"1.0","events":[{},{},{}]}}"#,
        execution(1, "stopped_on_success", "match", 1),
        execution(2, "success", "no_match", 2),
        execution(3, "stopped_on_success", "success_pattern", 1),
    );
    let key = ("X-API-Key", server.write_key.as_str());
    let (status, answer) = post(
        &format!("{}/api/v1/events", server.url),
        &[key, ("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        server.query("SELECT execution_id, outcome FROM executions ORDER BY 1"),
        [
            ["0a-1", "failure"],
            ["0a-2", "failure"],
            ["0a-3", "stopped_on_success"],
        ]
    );
}
