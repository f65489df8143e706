//! Local telemetry: the rows and lines real runs leave behind, configuration precedence,
//! privacy, trace context, and the 64 runs that start at once.

use crate::common::{self, *};

use std::io::Read;
use std::process::Stdio;

use sha2::{Digest, Sha256};

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const TWO_MATCHES: &str = "echo start; echo 'Error: one'; echo 'Error: two' >&2; exit 0";

#[test]
fn a_two_match_run_gives_one_execution_row_and_two_match_rows() {
    let home = Home::new();
    std::fs::write(home.dir.join("Cargo.toml"), "[package]\n").unwrap();
    let run =
        run(&mut home.earlyexit(&["--json", "-m", "2", "Error", "--", "sh", "-c", TWO_MATCHES]));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    assert_eq!(run.stderr_text(), "");
    let summary = run.json();

    let rows = home.query(
        "SELECT execution_id, trace_id, command_hash, executable, pattern, exit_code, exit_reason, command_exit_code,
                match_count, project_type, command_category, anonymized, command, working_directory
         FROM executions",
    );
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row[0], summary["execution_id"].as_str().unwrap());
    assert_eq!(row[1], summary["trace_id"].as_str().unwrap());
    assert_eq!(row[1].len(), 32);
    assert_eq!(row[2], sha256_hex(&format!("sh -c {TWO_MATCHES}")));
    assert_eq!(
        &row[3..],
        [
            "sh",
            "Error",
            "1",
            "match",
            "0",
            "2",
            "rust",
            "other",
            "0",
            &format!("sh -c {TWO_MATCHES}"),
            home.dir.to_str().unwrap(),
        ]
    );
    let matches = home.query(
        "SELECT execution_id, match_number, stream_source, line_number, match_kind, line_content
         FROM match_events ORDER BY match_number",
    );
    assert_eq!(matches.len(), 2);
    for (number, m) in matches.iter().enumerate() {
        assert_eq!(m[0], row[0]);
        assert_eq!(m[1], (number + 1).to_string());
    }
    let offsets = home.query("SELECT timestamp_offset FROM match_events");
    assert!(offsets.iter().all(|o| o[0].parse::<f64>().unwrap() >= 0.0));
    let timestamp = &home.query("SELECT timestamp FROM executions")[0][0];
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 24,
        "{timestamp}"
    );
}

#[test]
fn runtime_and_timing_columns_are_filled() {
    let home = Home::new();
    let run = run(&mut home.earlyexit(&[
        "-A",
        "0",
        "ready",
        "--",
        "sh",
        "-c",
        "sleep 0.3; echo ready",
    ]));
    assert_eq!(run.code, 1);
    let row = &home.query("SELECT total_runtime, time_to_first_output, time_to_first_match, lines_processed FROM executions")[0];
    let runtime: f64 = row[0].parse().unwrap();
    assert!((0.25..5.0).contains(&runtime), "{runtime}");
    assert!(row[1].parse::<f64>().unwrap() >= 0.25);
    assert!(row[2].parse::<f64>().unwrap() >= 0.25);
    assert_eq!(row[3], "1");
}

#[test]
fn pipe_mode_runs_are_recorded_as_stdin() {
    let home = Home::new();
    let mut child = home
        .earlyexit(&["ERR"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"ok\nERR\n").unwrap();
    }
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let rows = home.query("SELECT executable, exit_reason, command_exit_code FROM executions");
    assert_eq!(rows, [["NULL", "match", "NULL"]]);
    assert_eq!(
        home.query("SELECT stream_source FROM match_events"),
        [["stdin"]]
    );
}

#[test]
fn file_backend_writes_the_event_envelope() {
    let home = Home::new();
    let run = run(&mut home.earlyexit(&[
        "--telemetry-backend",
        "file",
        "-m",
        "2",
        "Error",
        "--",
        "sh",
        "-c",
        TWO_MATCHES,
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    assert!(
        !home.db_path().exists(),
        "the file backend must not create the database"
    );
    let text = std::fs::read_to_string(home.jsonl_path()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["type"], "execution");
    assert_eq!(lines[0]["data"]["match_count"], 2);
    assert_eq!(
        lines[0]["data"]["command_hash"],
        sha256_hex(&format!("sh -c {TWO_MATCHES}"))
    );
    for (i, line) in lines[1..].iter().enumerate() {
        assert_eq!(line["type"], "match_event");
        assert_eq!(
            line["data"]["execution_id"],
            lines[0]["data"]["execution_id"]
        );
        assert_eq!(line["data"]["match_number"], i + 1);
    }
}

#[test]
fn file_rotation_with_gzip_keeps_every_line() {
    let home = Home::new();
    home.write_config(
        "telemetry:\n  backend: file\n  file:\n    rotate_size_mb: 0.002\n    compression: gzip\n",
    );
    for _ in 0..8 {
        let run = run(&mut home.earlyexit(&["-A", "0", "x", "--", "echo", "x"]));
        assert_eq!(run.code, 1, "{}", run.stderr_text());
    }
    let mut lines = Vec::new();
    let mut gzipped = 0;
    for entry in std::fs::read_dir(home.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = if name.ends_with(".jsonl.gz") {
            gzipped += 1;
            let mut text = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            text
        } else if name.ends_with(".jsonl") {
            assert_eq!(name, "telemetry.jsonl", "rotated files are gzipped");
            std::fs::read_to_string(&path).unwrap()
        } else {
            continue;
        };
        assert!(
            text.len() <= 2000,
            "{name} grew past the rotation size: {}",
            text.len()
        );
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    assert!(gzipped >= 2, "expected rotated gzip files, found {gzipped}");
    let executions = lines.iter().filter(|l| l["type"] == "execution").count();
    assert_eq!(executions, 8);
}

#[test]
fn parallel_runs_never_interleave_inside_a_line() {
    let home = Home::new();
    let children: Vec<_> = (0..16)
        .map(|i| {
            home.earlyexit(&[
                "--telemetry-backend",
                "file",
                "-A",
                "0",
                "-m",
                "3",
                "M",
                "--",
                "sh",
                "-c",
                &format!("echo M{i}; echo M{i}; echo M{i}"),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
        })
        .collect();
    for mut child in children {
        assert_eq!(child.wait().unwrap().code(), Some(1));
    }
    let text = std::fs::read_to_string(home.jsonl_path()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a whole JSON line"))
        .collect();
    assert_eq!(lines.len(), 16 * 4);
}

#[test]
fn sixty_four_runs_at_once_all_land() {
    let home = Home::new();
    let children: Vec<_> = (0..64)
        .map(|i| {
            home.earlyexit(&["go", "--", "sh", "-c", &format!("echo go {i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "",
            "no error, no warning"
        );
    }
    assert_eq!(
        home.query("SELECT count(*), count(DISTINCT execution_id) FROM executions"),
        [["64", "64"]]
    );
    assert_eq!(home.query("SELECT count(*) FROM match_events"), [["64"]]);
}

#[test]
fn planted_secrets_never_reach_the_database_or_the_file() {
    let secret_token = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    let home = Home::new();
    let directory = home.dir.join("user-alice@example.com");
    std::fs::create_dir_all(&directory).unwrap();
    let script = format!("echo 'Error: auth failed for token={secret_token} from 10.20.30.40'");
    for backend in ["sqlite", "file"] {
        let run = run(home
            .earlyexit(&[
                "--telemetry-backend",
                backend,
                "-A",
                "0",
                "Error",
                "--",
                "sh",
                "-c",
                &script,
                "--password",
                "hunter2hunter2",
            ])
            .current_dir(&directory));
        assert_eq!(run.code, 1, "{}", run.stderr_text());
    }
    let mut stored = Vec::new();
    let mut directories = vec![home.state_dir()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                directories.push(path);
            } else {
                stored.extend(std::fs::read(path).unwrap());
            }
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    for secret in [
        secret_token,
        "hunter2hunter2",
        "alice@example.com",
        "10.20.30.40",
    ] {
        assert!(!stored.contains(secret), "{secret} was stored");
    }
    assert!(stored.contains("[REDACTED]"));
    let line = &home.query("SELECT line_content FROM match_events")[0][0];
    assert!(
        line.starts_with("Error: auth failed for token=[REDACTED]"),
        "{line}"
    );
}

#[test]
fn anonymize_keeps_only_the_minimal_set() {
    let home = Home::new();
    home.write_config("telemetry:\n  anonymize: true\n");
    let run = run(&mut home.earlyexit(&["-A", "0", "Error", "--", "sh", "-c", "echo Error here"]));
    assert_eq!(run.code, 1);
    assert_eq!(
        home.query("SELECT anonymized, command, working_directory FROM executions"),
        [["1", "NULL", "NULL"]]
    );
    assert_eq!(
        home.query("SELECT line_content FROM match_events"),
        [["NULL"]]
    );
}

#[test]
fn scrub_pii_false_keeps_the_text_as_it_was() {
    let home = Home::new();
    home.write_config("telemetry:\n  scrub_pii: false\n");
    run(&mut home.earlyexit(&["-A", "0", "mail", "--", "echo", "mail bob@example.com"]));
    assert_eq!(
        home.query("SELECT line_content FROM match_events"),
        [["mail bob@example.com"]]
    );
}

#[test]
fn traceparent_in_makes_a_child_span_and_the_command_gets_ours() {
    let home = Home::new();
    let parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_span = "00f067aa0ba902b7";
    let run = run(home
        .earlyexit(&["--json", "--", "sh", "-c", "echo \"$TRACEPARENT\""])
        .env("TRACEPARENT", format!("00-{parent_trace}-{parent_span}-01"))
        .env("TRACESTATE", "vendor=value"));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    let rows = home.query("SELECT trace_id, parent_span_id, span_id FROM executions");
    assert_eq!(rows[0][0], parent_trace);
    assert_eq!(rows[0][1], parent_span);
    let summary: serde_json::Value =
        serde_json::from_str(run.stdout_text().lines().last().unwrap()).unwrap();
    assert_eq!(summary["trace_id"], parent_trace);
    // With --json the child's output is not passed through; run again without it to read it.
    let passthrough = common::run(
        home.earlyexit(&["--", "sh", "-c", "echo \"$TRACEPARENT|$TRACESTATE\""])
            .env("TRACEPARENT", format!("00-{parent_trace}-{parent_span}-01"))
            .env("TRACESTATE", "vendor=value"),
    );
    let seen = passthrough.stdout_text();
    let spans = home.query("SELECT span_id FROM executions ORDER BY timestamp DESC LIMIT 1");
    assert_eq!(
        seen.trim(),
        format!("00-{parent_trace}-{}-01|vendor=value", spans[0][0])
    );
}

#[test]
fn an_unsampled_traceparent_still_records_the_run() {
    let home = Home::new();
    let parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let run = run(home
        .earlyexit(&["--", "sh", "-c", "echo \"$TRACEPARENT\""])
        .env(
            "TRACEPARENT",
            format!("00-{parent_trace}-00f067aa0ba902b7-00"),
        ));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    let rows = home.query("SELECT trace_id, span_id FROM executions");
    assert_eq!(rows.len(), 1, "the run was not recorded");
    assert_eq!(rows[0][0], parent_trace);
    assert_eq!(
        run.stdout_text().trim(),
        format!("00-{parent_trace}-{}-01", rows[0][1])
    );
}

#[test]
fn without_traceparent_a_new_trace_starts_and_the_child_still_gets_one() {
    let home = Home::new();
    let run = run(&mut home.earlyexit(&["--", "sh", "-c", "echo \"$TRACEPARENT\""]));
    let rows = home.query("SELECT trace_id, span_id, parent_span_id FROM executions");
    assert_eq!(rows[0][2], "NULL");
    assert_eq!(
        run.stdout_text().trim(),
        format!("00-{}-{}-01", rows[0][0], rows[0][1])
    );
}

#[test]
fn ci_runs_carry_the_pipeline() {
    let home = Home::new();
    run(home
        .earlyexit(&["--", "true"])
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKFLOW", "build")
        .env("GITHUB_RUN_ID", "77")
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_REPOSITORY", "team/app")
        .env("GITHUB_REF_NAME", "main")
        .env("GITHUB_SHA", "0123abcd"));
    assert_eq!(
        home.query(
            "SELECT ci_system, pipeline_name, pipeline_run_id, pipeline_run_url, vcs_ref,
             vcs_revision, vcs_repository_url FROM executions"
        ),
        [[
            "github_actions",
            "build",
            "77",
            "https://github.example/team/app/actions/runs/77",
            "main",
            "0123abcd",
            "https://github.example/team/app"
        ]]
    );
}

#[test]
fn dry_run_prints_what_would_be_written_and_writes_nothing() {
    let home = Home::new();
    let run = run(&mut home.earlyexit(&[
        "--telemetry-dry-run",
        "-m",
        "2",
        "Error",
        "--",
        "sh",
        "-c",
        TWO_MATCHES,
    ]));
    assert_eq!(run.code, 1);
    assert!(
        !home.state_dir().exists(),
        "dry run created {:?}",
        home.state_dir()
    );
    let lines: Vec<serde_json::Value> = run
        .stderr_text()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["sink"] == "sqlite"));
    assert_eq!(lines[0]["type"], "execution");
    assert_eq!(lines[0]["data"]["match_count"], 2);
}

#[test]
fn retention_removes_old_rows_at_most_once_a_day() {
    let home = Home::new();
    run(&mut home.earlyexit(&["--", "true"]));
    let plant_old_run = |id: &str| {
        home.db()
            .execute(
                "INSERT INTO executions (execution_id, timestamp, trace_id, span_id, command_hash, exit_code, exit_reason,
                 total_runtime, match_count, lines_processed, bytes_processed, project_type, command_category, anonymized)
                 VALUES (?1, '2020-01-01T00:00:00.000Z', 't', 's', 'h', 0, 'match', 1.0, 0, 0, 0, 'rust', 'test', 0)",
                [id],
            )
            .unwrap();
    };
    plant_old_run("old-1");
    home.db().execute("DELETE FROM meta", []).unwrap();
    run(&mut home.earlyexit(&["--", "true"]));
    assert_eq!(
        home.query("SELECT count(*) FROM executions WHERE execution_id = 'old-1'"),
        [["0"]]
    );
    plant_old_run("old-2");
    run(&mut home.earlyexit(&["--", "true"]));
    assert_eq!(
        home.query("SELECT count(*) FROM executions WHERE execution_id = 'old-2'"),
        [["1"]],
        "retention already ran today"
    );
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["4"]]);
}

#[test]
fn zero_retention_days_keeps_every_run() {
    let home = Home::new();
    home.write_config("telemetry:\n  sqlite:\n    retention_days: 0\n");
    run(&mut home.earlyexit(&["--", "true"]));
    home.db()
        .execute(
            "UPDATE executions SET timestamp = '2020-01-01T00:00:00.000Z'",
            [],
        )
        .unwrap();
    home.db().execute("DELETE FROM meta", []).unwrap();
    run(&mut home.earlyexit(&["--", "true"]));
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["2"]]);
}

#[test]
fn the_schema_is_versioned() {
    let home = Home::new();
    run(&mut home.earlyexit(&["--", "true"]));
    assert_eq!(home.query("PRAGMA user_version"), [["8"]]);
    assert_eq!(home.query("PRAGMA journal_mode"), [["wal"]]);
    home.db().execute_batch("PRAGMA user_version = 99").unwrap();
    let run = run(&mut home.earlyexit(&["--", "true"]));
    assert_eq!(run.code, 0);
    assert!(
        run.stderr_text().contains("newer earlyexit"),
        "{}",
        run.stderr_text()
    );
}

#[test]
fn rotation_under_two_hundred_runs_at_once_loses_none() {
    let home = Home::new();
    home.write_config("telemetry:\n  backend: file\n  file:\n    rotate_size_mb: 0.01\n");
    let mut children = Vec::new();
    for batch in 0..4 {
        children.extend((0..50).map(|i| {
            home.earlyexit(&["-A", "0", "x", "--", "echo", &format!("x {batch} {i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        }));
    }
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("telemetry"), "{stderr}");
    }
    let mut executions = Vec::new();
    for entry in std::fs::read_dir(home.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let envelope: serde_json::Value = serde_json::from_str(line).unwrap();
                if envelope["type"] == "execution" {
                    executions.push(envelope["data"]["execution_id"].to_string());
                }
            }
        }
    }
    executions.sort();
    executions.dedup();
    assert_eq!(executions.len(), 200);
}

#[test]
fn otel_traces_exporter_console_prints_the_span_on_stderr_beside_the_database() {
    let home = Home::new();
    let run = run(home
        .earlyexit(&["--json", "-A", "0", "Err", "--", "sh", "-c", "echo Err"])
        .env("OTEL_TRACES_EXPORTER", "console"));
    assert_eq!(run.code, 1);
    let stderr = run.stderr_text();
    let summary = run.json();
    assert!(stderr.starts_with("Span sh\n"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "  trace id: {}\n",
            summary["trace_id"].as_str().unwrap()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("    earlyexit.exit_reason: match\n"),
        "{stderr}"
    );
    assert!(stderr.contains("  event earlyexit.match at +"), "{stderr}");
    assert_eq!(
        home.query("SELECT execution_id FROM executions"),
        [[summary["execution_id"].as_str().unwrap()]]
    );
}
