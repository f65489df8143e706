//! `earlyexit telemetry status|stats|export|prune|clear` against databases real runs wrote.

use crate::common::*;

/// Two matching runs and one that matches nothing, in a Rust project.
fn home_with_runs() -> Home {
    let home = Home::new();
    std::fs::write(home.dir.join("Cargo.toml"), "").unwrap();
    assert_eq!(
        run(&mut home.earlyexit(&["Error", "--", "sh", "-c", "echo Error a"])).code,
        1
    );
    let two = run(&mut home.earlyexit(&[
        "-m",
        "2",
        "Error",
        "--",
        "sh",
        "-c",
        "echo Error b; echo Error c",
    ]));
    assert_eq!(two.code, 1);
    assert_eq!(
        run(&mut home.earlyexit(&["panic", "--", "sh", "-c", "echo fine"])).code,
        0
    );
    home
}

fn plant_old_run(home: &Home) {
    home.db()
        .execute(
            "INSERT INTO executions (execution_id, timestamp, trace_id, span_id, command_hash, exit_code, exit_reason,
             total_runtime, match_count, lines_processed, bytes_processed, project_type, command_category, anonymized)
             VALUES ('old', '2020-01-01T00:00:00.000Z', 't', 's', 'h', 2, 'timeout', 60.0, 0, 0, 0, 'nodejs', 'test', 0)",
            [],
        )
        .unwrap();
}

#[test]
fn status_shows_backend_destination_origins_and_counts() {
    let home = home_with_runs();
    home.write_config("telemetry:\n  debug: false\n  sqlite:\n    retention_days: 30\n");
    let run = run(home
        .earlyexit(&["telemetry", "status"])
        .env("EARLYEXIT_TELEMETRY_ANONYMIZE", "false"));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    let text = run.stdout_text();
    assert!(
        text.contains("telemetry: enabled, backend sqlite"),
        "{text}"
    );
    assert!(
        text.contains(&format!("writes to: {}", home.db_path().display())),
        "{text}"
    );
    assert!(
        text.contains("(3 runs, 3 match events, schema 8, 0 waiting to be sent)"),
        "{text}"
    );
    let line_of = |key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap()
            .to_string()
    };
    assert!(
        line_of("telemetry.sqlite.retention_days").contains("30")
            && line_of("telemetry.sqlite.retention_days").contains("config.yaml:4")
    );
    assert!(line_of("telemetry.anonymize").contains("$EARLYEXIT_TELEMETRY_ANONYMIZE"));
    assert!(line_of("telemetry.backend").contains("(default)"));

    let json = run_json(&home, &["telemetry", "status", "--json"]);
    assert_eq!(json["database"]["executions"], 3);
    assert_eq!(
        json["settings"]["telemetry.sqlite.retention_days"]["value"],
        "30"
    );
}

fn run_json(home: &Home, args: &[&str]) -> serde_json::Value {
    let run = run(&mut home.earlyexit(args));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    run.json()
}

#[test]
fn status_never_creates_the_database() {
    let home = Home::new();
    let run = run(&mut home.earlyexit(&["telemetry", "status"]));
    assert_eq!(run.code, 0);
    assert!(run.stdout_text().contains("not created yet"));
    assert!(!home.db_path().exists());
}

#[test]
fn stats_counts_runs_reasons_projects_runtimes_patterns_and_commands() {
    let home = home_with_runs();
    plant_old_run(&home);
    let json = run_json(&home, &["telemetry", "stats", "--json"]);
    assert_eq!(json["runs"], 4);
    assert_eq!(json["match_events"], 3);
    assert_eq!(
        json["by_exit_reason"][0],
        serde_json::json!({"value": "match", "count": 2})
    );
    assert_eq!(
        json["by_project_type"][0],
        serde_json::json!({"value": "rust", "count": 3})
    );
    assert_eq!(
        json["top_patterns"][0],
        serde_json::json!({"value": "Error", "count": 2})
    );
    assert_eq!(json["runtime_p95"], 60.0);
    assert!(json["runtime_p50"].as_f64().unwrap() < 5.0);
    assert_eq!(json["top_commands"].as_array().unwrap().len(), 4);
    let text = run(&mut home.earlyexit(&["telemetry", "stats"])).stdout_text();
    assert!(text.contains("runs: 4, match events: 3"), "{text}");
    assert!(
        text.contains("by exit reason: match 2, no_match 1, timeout 1"),
        "{text}"
    );
}

#[test]
fn pipe_mode_runs_are_stdin_and_a_script_with_newlines_keeps_its_row() {
    let home = Home::new();
    let mut piped = home.earlyexit(&["x"]);
    piped.stdin(std::process::Stdio::piped());
    let mut child = piped.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"x\n").unwrap();
    child.wait().unwrap();
    run(&mut home.earlyexit(&["--", "sh", "-c", "echo a\necho 'b\tc'"]));
    let text = run(&mut home.earlyexit(&["telemetry", "stats"])).stdout_text();
    assert!(text.contains("       1  stdin\n"), "{text}");
    assert!(
        text.contains("       1  sh -c echo a\\necho 'b\\tc'\n"),
        "{text}"
    );
    let json = run_json(&home, &["telemetry", "stats", "--json"]);
    let labels: Vec<&str> = json["top_commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tally| tally["value"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"stdin"), "{labels:?}");
}

#[test]
fn stats_since_counts_only_the_runs_of_that_period() {
    let home = home_with_runs();
    plant_old_run(&home);
    home.db()
        .execute(
            "INSERT INTO match_events (execution_id, match_number, timestamp_offset, stream_source,
             line_number, match_kind) VALUES ('old', 1, 0.5, 'stdout', 1, 'pattern')",
            [],
        )
        .unwrap();
    assert_eq!(
        run_json(&home, &["telemetry", "stats", "--json"])["match_events"],
        4
    );
    let week = run_json(&home, &["telemetry", "stats", "--json", "--since", "7d"]);
    assert_eq!(week["runs"], 3);
    assert_eq!(week["match_events"], 3);
    assert_eq!(week["runtime_p95"].as_f64().map(|t| t < 5.0), Some(true));
    assert!(!week["by_exit_reason"].to_string().contains("timeout"));
    let text = run(&mut home.earlyexit(&["telemetry", "stats", "--since", "2021-01-01"]));
    assert!(
        text.stdout_text().contains("runs: 3, match events: 3"),
        "{}",
        text.stdout_text()
    );
    let bad = run(&mut home.earlyexit(&["telemetry", "stats", "--since", "soonish"]));
    assert_eq!(bad.code, 3);
    assert!(bad.stderr_text().contains("soonish"));
}

#[test]
fn export_prints_the_envelope_and_honours_since() {
    let home = home_with_runs();
    plant_old_run(&home);
    let all = run(&mut home.earlyexit(&["telemetry", "export"])).stdout_text();
    let lines: Vec<serde_json::Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().filter(|l| l["type"] == "execution").count(), 4);
    assert_eq!(
        lines.iter().filter(|l| l["type"] == "match_event").count(),
        3
    );
    assert_eq!(lines[0]["data"]["execution_id"], "old", "oldest first");
    let recent =
        run(&mut home.earlyexit(&["telemetry", "export", "--since", "2021-01-01"])).stdout_text();
    assert_eq!(
        recent
            .lines()
            .filter(|l| l.contains("\"type\":\"execution\""))
            .count(),
        3
    );
    let last_day =
        run(&mut home.earlyexit(&["telemetry", "export", "--since", "1d"])).stdout_text();
    assert_eq!(last_day, recent);
    let bad = run(&mut home.earlyexit(&["telemetry", "export", "--since", "yesterday-ish"]));
    assert_eq!(bad.code, 3);
    assert!(bad.stderr_text().contains("yesterday-ish"));
}

#[test]
fn prune_removes_only_older_runs() {
    let home = home_with_runs();
    plant_old_run(&home);
    let run = run(&mut home.earlyexit(&["telemetry", "prune", "--older-than", "30d"]));
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout_text(), "removed 1 run(s) older than 30d\n");
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["3"]]);
}

#[test]
fn clear_needs_yes_without_a_terminal() {
    let home = home_with_runs();
    let refused = run(&mut home.earlyexit(&["telemetry", "clear"]));
    assert_eq!(refused.code, 3);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["3"]]);
    let cleared = run(&mut home.earlyexit(&["telemetry", "clear", "--yes"]));
    assert_eq!(cleared.code, 0);
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["0"]]);
    assert_eq!(home.query("SELECT count(*) FROM match_events"), [["0"]]);
}

/// Runs `telemetry clear` with a terminal on stdin and answers its question.
fn clear_answering(home: &Home, answer: &str) -> String {
    let (code, stderr) = answer_on_terminal(&mut home.earlyexit(&["telemetry", "clear"]), answer);
    assert_eq!(code, 0);
    stderr
}

#[test]
fn clear_asks_on_a_terminal() {
    let home = home_with_runs();
    let question = clear_answering(&home, "n\n");
    assert!(
        question.contains("Delete all 3 recorded runs"),
        "{question}"
    );
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["3"]]);
    clear_answering(&home, "y\n");
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["0"]]);
}

#[test]
fn a_report_whose_reader_went_away_ends_by_sigpipe_without_a_message() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let home = home_with_runs();
    for args in [
        &["telemetry", "export"][..],
        &["telemetry", "status"],
        &["telemetry", "stats"],
        &["--help"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = home
            .earlyexit(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            output.status.signal(),
            Some(nix::sys::signal::Signal::SIGPIPE as i32),
            "{args:?}: {:?}",
            output.status
        );
        assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{args:?}");
    }
}

#[test]
fn import_merges_members_exports_plain_and_gzip_and_skips_runs_it_has() {
    use std::io::Write;
    let alice = home_with_runs();
    let bob = home_with_runs();
    let team = Home::new();
    let alice_export = team.dir.join("alice.jsonl");
    std::fs::write(
        &alice_export,
        run(&mut alice.earlyexit(&["telemetry", "export"])).stdout,
    )
    .unwrap();
    let bob_export = team.dir.join("bob.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&bob_export).unwrap(),
        flate2::Compression::default(),
    );
    encoder
        .write_all(&run(&mut bob.earlyexit(&["telemetry", "export"])).stdout)
        .unwrap();
    encoder.finish().unwrap();

    let args = |files: &[&std::path::Path]| {
        let mut args = vec!["telemetry".to_string(), "import".to_string()];
        args.extend(files.iter().map(|f| f.display().to_string()));
        args
    };
    let imported = run(&mut team.earlyexit(
        &args(&[&alice_export, &bob_export])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    assert_eq!(imported.code, 0, "{}", imported.stderr_text());
    assert_eq!(
        imported.stdout_text(),
        format!(
            "imported 6 run(s) into {} (0 already there)\n",
            team.db_path().display()
        )
    );
    let again = run(&mut team.earlyexit(
        &args(&[&alice_export])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    assert!(
        again.stdout_text().starts_with("imported 0 run(s)"),
        "{}",
        again.stdout_text()
    );
    assert_eq!(
        team.query("SELECT count(*), count(DISTINCT execution_id) FROM executions"),
        [["6", "6"]]
    );
    assert_eq!(team.query("SELECT count(*) FROM match_events"), [["6"]]);
    let team_stats = run(&mut team.earlyexit(&["telemetry", "stats", "--json"])).json();
    assert_eq!(team_stats["runs"], 6);
    let team_report = run(&mut team.earlyexit(&["telemetry", "report", "-o", "-"])).stdout_text();
    assert!(
        team_report.contains(": 6 run(s)."),
        "the team's report covers both members"
    );

    let broken = team.dir.join("broken.jsonl");
    std::fs::write(&broken, "{\"type\":\"execution\",\"data\":{}}\nnot json\n").unwrap();
    let failed = run(&mut team.earlyexit(&["telemetry", "import", broken.to_str().unwrap()]));
    assert_eq!(failed.code, 1);
    assert_eq!(
        failed.stderr_text(),
        format!(
            "earlyexit: {}:2: not an event envelope ({{\"type\": …, \"data\": {{…}}}})\n",
            broken.display()
        )
    );
}

const SLOW: &str = "echo start; sleep 0.3; echo Error; sleep 1.7; echo done";
const FEW: &str = "sleep 0.2; echo Error; sleep 1";

/// Real runs with known outcomes, all at once: a command that completes in 2 s three times
/// and is stopped at 0.3 s twice; one with a single complete run (too few for an estimate),
/// stopped once; one timeout. Returns the home, the saving to expect and the hang's time.
fn home_with_timed_runs() -> (Home, f64, f64) {
    let home = Home::new();
    let (slow, few) = (SLOW, FEW);
    let mut runs: Vec<(Vec<&str>, i32)> = Vec::new();
    for _ in 0..3 {
        runs.push((vec!["NEVER", "--", "sh", "-c", slow], 0));
    }
    for _ in 0..2 {
        runs.push((vec!["-A", "0", "Error", "--", "sh", "-c", slow], 1));
    }
    runs.push((vec!["NEVER", "--", "sh", "-c", few], 0));
    runs.push((vec!["-A", "0", "Error", "--", "sh", "-c", few], 1));
    runs.push((vec!["-t", "0.4", "--", "sh", "-c", "sleep 5"], 2));
    let children: Vec<_> = runs
        .iter()
        .map(|(args, _)| {
            home.earlyexit(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for (mut child, (args, code)) in children.into_iter().zip(&runs) {
        assert_eq!(child.wait().unwrap().code(), Some(*code), "{args:?}");
    }
    let runtimes = |sql: &str| -> Vec<f64> {
        home.query(sql)
            .into_iter()
            .map(|row| row[0].parse().unwrap())
            .collect()
    };
    let complete = runtimes(&format!(
        "SELECT total_runtime FROM executions WHERE command LIKE '%{slow}%' AND NOT stopped_command ORDER BY 1"
    ));
    assert_eq!(complete.len(), 3);
    assert!(complete.iter().all(|t| *t > 1.9), "{complete:?}");
    let stopped = runtimes(&format!(
        "SELECT total_runtime FROM executions WHERE command LIKE '%{slow}%' AND stopped_command"
    ));
    assert_eq!(stopped.len(), 2);
    assert!(stopped.iter().all(|t| *t < 1.0), "{stopped:?}");
    let exact: f64 = stopped.iter().map(|t| (complete[1] - t).max(0.0)).sum();
    // The complete runs share a 5% histogram bucket, whose mean stands for their median: off
    // by less than their spread, for each of the two stopped runs.
    let spread = complete[2] - complete[0];
    let stats = run(&mut home.earlyexit(&["telemetry", "stats", "--json"])).json();
    let estimated = stats["time_saved"]["saved_seconds"].as_f64().unwrap();
    assert!(
        (estimated - exact).abs() <= 2.0 * spread + 1e-9,
        "{estimated} against {exact} from the runs {complete:?} {stopped:?}"
    );
    let hang = runtimes("SELECT total_runtime FROM executions WHERE exit_reason = 'timeout'");
    (home, estimated, hang[0])
}

#[test]
fn stats_estimates_the_time_saved_from_real_runs() {
    let (home, expected, hang) = home_with_timed_runs();
    let (slow, few) = (SLOW, FEW);
    let complete_median: f64 = home.query(&format!(
        "SELECT total_runtime FROM executions WHERE command LIKE '%{slow}%' AND NOT stopped_command ORDER BY 1 LIMIT 1 OFFSET 1"
    ))[0][0]
        .parse()
        .unwrap();
    let spread: f64 = home.query(&format!(
        "SELECT max(total_runtime) - min(total_runtime) FROM executions WHERE command LIKE '%{slow}%' AND NOT stopped_command"
    ))[0][0]
        .parse()
        .unwrap();
    let stats = run(&mut home.earlyexit(&["telemetry", "stats", "--json"])).json();
    let saved = &stats["time_saved"];
    // The same sum in another order may differ in the last bit.
    let close = |value: &serde_json::Value| (value.as_f64().unwrap() - expected).abs() < 1e-9;
    assert!(
        close(&saved["saved_seconds"]),
        "{expected}: {saved:#} against the runs {:?}",
        home.query("SELECT command, exit_reason, stopped_command, total_runtime FROM executions")
    );
    assert_eq!(saved["estimated_runs"], 2);
    assert_eq!(saved["unknown_runs"], 1, "one complete run is too few");
    assert_eq!(saved["hangs_stopped"], 1);
    assert_eq!(saved["hang_seconds"].as_f64().unwrap(), hang);
    let first = &saved["by_command"][0];
    assert_eq!(first["command"], format!("sh -c {slow}"));
    assert!(close(&first["saved_seconds"]), "{first:#}");
    assert_eq!(first["complete_runs"], 3);
    let median = first["complete_median_seconds"].as_f64().unwrap();
    assert!(
        (median - complete_median).abs() <= spread + 1e-9,
        "{median}"
    );
    let few_command = saved["by_command"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == format!("sh -c {few}"))
        .unwrap();
    assert!(few_command["saved_seconds"].is_null());

    let text = run(&mut home.earlyexit(&["telemetry", "stats"])).stdout_text();
    assert!(
        text.contains(&format!(
            "time saved: {expected:.2}s by 2 run(s) stopped early (1 more without an estimate"
        )),
        "{text}"
    );
    assert!(text.contains("hangs stopped: 1"), "{text}");
    assert!(text.contains("  unknown  sh -c sleep 0.2"), "{text}");
}

#[test]
fn the_report_is_one_page_with_every_chart_and_the_time_saved_in_its_tables() {
    let (home, expected, hang) = home_with_timed_runs();
    let page = run(&mut home.earlyexit(&["telemetry", "report", "--since", "7d", "-o", "-"]));
    assert_eq!(page.code, 0, "{}", page.stderr_text());
    let html = page.stdout_text();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<title>earlyexit report: since "), "{html}");
    assert!(html.contains("(--since 7d)</title>"));
    assert!(html.contains(&format!(
        "Database <code>{}</code>",
        home.db_path().display()
    )));
    assert!(html.contains(": 8 run(s)."), "eight runs in the period");
    for loads in ["<script", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(loads), "the page loads nothing: {loads}");
    }
    assert!(html.contains(&format!("{expected:.3} s saved (")), "{html}");
    assert!(html.contains(") by 2 run(s) stopped early; 1 more without an estimate"));
    assert!(html.contains(&format!("1 hang(s) stopped after {hang:.3} s allowed")));
    // The table shows the time in human units; the JSON report gives it to the millisecond.
    let row = html
        .split(&format!("<tr><td>sh -c {SLOW}</td><td>"))
        .nth(1)
        .unwrap();
    let (saved, rest) = row.split_once("</td>").unwrap();
    assert!(saved.ends_with(" s") || saved.ends_with(" ms"), "{row}");
    assert!(
        rest.starts_with("<td>2</td><td>3</td><td>0</td><td>0 s</td></tr>"),
        "{row}"
    );
    assert!(html.contains(&format!("<tr><td>sh -c {FEW}</td><td>unknown</td>")));
    for id in [
        "time-saved-per-week",
        "runs-per-day",
        "failing-commands",
        "failures-by-branch",
        "failures-by-place",
        "durations",
        "patterns",
        "first-match",
    ] {
        let section = html
            .split(&format!("<section id=\"{id}\">"))
            .nth(1)
            .unwrap();
        let svg = section.split("</svg>").next().unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("<rect"),
            "{id} has a drawn chart"
        );
        assert!(
            section
                .split("</section>")
                .next()
                .unwrap()
                .contains("<table>"),
            "{id}"
        );
    }
    let written = home.dir.join("report.html");
    let to_file =
        run(&mut home.earlyexit(&["telemetry", "report", "-o", written.to_str().unwrap()]));
    assert_eq!(to_file.code, 0);
    assert!(to_file
        .stdout_text()
        .starts_with(&format!("wrote {} (8 runs since ", written.display())));
    assert!(std::fs::read_to_string(&written)
        .unwrap()
        .contains("Time to first match"));
}

#[test]
#[ignore = "needs Chromium: run tests/install-and-run.sh"]
fn the_report_renders_in_headless_chromium() {
    let (home, expected, _) = home_with_timed_runs();
    let page = home.dir.join("report.html");
    let written = run(&mut home.earlyexit(&[
        "telemetry",
        "report",
        "--since",
        "7d",
        "-o",
        page.to_str().unwrap(),
    ]));
    assert_eq!(written.code, 0, "{}", written.stderr_text());

    let (dom, log) = crate::common::chromium(&page, &["--dump-dom"]);
    for error in [
        "Uncaught",
        "SyntaxError",
        "ERR_FILE_NOT_FOUND",
        "Refused to load",
    ] {
        assert!(!log.contains(error), "{error} in the console:\n{log}");
    }
    let title = dom
        .split("<title>")
        .nth(1)
        .unwrap()
        .split("</title>")
        .next()
        .unwrap();
    assert!(title.starts_with("earlyexit report: since "), "{title}");
    assert!(title.ends_with("(--since 7d)"), "{title}");
    let svgs: Vec<&str> = dom.split("<svg").skip(1).collect();
    assert_eq!(
        svgs.len(),
        8,
        "eight charts in the rendered page (no flaky commands here)"
    );
    for svg in svgs {
        let chart = svg.split("</svg>").next().unwrap();
        assert!(
            chart.matches("<rect").count() >= 2,
            "a chart with a bar besides its background: {chart:.200}"
        );
    }
    assert!(dom.contains(&format!("{expected:.3} s saved (")));

    let screenshot = home.dir.join("report.png");
    chromium(
        &page,
        &[
            "--window-size=1280,1500",
            &format!("--screenshot={}", screenshot.display()),
        ],
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (width, height) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((width, height), (1280, 1500));
    assert!(
        png.len() > 20_000,
        "the page drew something: {} bytes",
        png.len()
    );
}

#[test]
fn the_report_shows_command_text_only_where_the_database_holds_it() {
    let home = Home::new();
    let private = "echo private-words; exit 1";
    run(home
        .earlyexit(&["NEVER", "--", "sh", "-c", private])
        .env("EARLYEXIT_TELEMETRY_ANONYMIZE", "true"));
    let hash: String = home.query("SELECT command_hash FROM executions")[0][0].clone();
    let html = run(&mut home.earlyexit(&["telemetry", "report", "-o", "-"])).stdout_text();
    assert!(
        !html.contains("private-words"),
        "minimal detail keeps no command text"
    );
    assert!(
        html.contains(&format!("<td>sh ({})</td>", &hash[..12])),
        "the executable and the start of the hash stand in for it"
    );
}

/// A run watched only by `-s`/`-e` is labelled with them in the store and in stats, never blank.
#[test]
fn runs_without_a_pattern_show_their_success_and_error_patterns() {
    let home = Home::new();
    let run = run(&mut home.earlyexit(&[
        "-A",
        "0",
        "-s",
        "it's up",
        "-e",
        "FATAL",
        "--",
        "sh",
        "-c",
        "echo \"it's up\"",
    ]));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    assert_eq!(
        home.query("SELECT pattern FROM executions"),
        [["-s 'it'\\''s up' -e 'FATAL'"]]
    );
    let stats = crate::common::run(&mut home.earlyexit(&["telemetry", "stats"]));
    assert!(
        stats
            .stdout_text()
            .contains("most frequent patterns:\n       1  -s 'it'\\''s up' -e 'FATAL'\n"),
        "{}",
        stats.stdout_text()
    );
}

/// The same command failing and passing on one revision, on two branches, in CI and locally,
/// and one run of the period before: the report's new sections and its filters.
#[test]
fn the_report_shows_branches_places_flaky_commands_the_trend_and_the_latest_failures() {
    let home = Home::new();
    let suite = "if [ -e fail ]; then echo 'FAIL: test_login expected 200, got 500'; fi; echo done";
    let flag = home.dir.join("fail");
    let ci_run = |branch: &str, revision: &str, failing: bool| {
        if failing {
            std::fs::write(&flag, "").unwrap();
        } else {
            let _ = std::fs::remove_file(&flag);
        }
        let run = run(home
            .earlyexit(&["-A", "0", "FAIL", "--", "sh", "-c", suite])
            .current_dir(&home.dir)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REF_NAME", branch)
            .env("GITHUB_SHA", revision)
            .env("GITHUB_REPOSITORY", "team/app")
            .env("GITHUB_SERVER_URL", "https://github.example"));
        assert_eq!(run.code, i32::from(failing), "{}", run.stderr_text());
    };
    ci_run("main", "aaa111", true);
    ci_run("main", "aaa111", false);
    ci_run("feature/login", "bbb222", true);
    let local = run(home
        .earlyexit(&["--", "sh", "-c", suite])
        .current_dir(&home.dir));
    assert_eq!(local.code, 0);
    ci_run("main", "ccc333", false);
    home.db()
        .execute(
            "UPDATE executions SET timestamp = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-90 minutes')
             WHERE vcs_revision = 'ccc333'",
            [],
        )
        .unwrap();
    let report = |filters: &[&str]| {
        let page = run(&mut home.earlyexit(
            &[
                &["telemetry", "report", "--since", "1h", "-o", "-"][..],
                filters,
            ]
            .concat(),
        ));
        assert_eq!(page.code, 0, "{}", page.stderr_text());
        page.stdout_text()
    };
    let section = |html: &str, id: &str| -> String {
        html.split(&format!("<section id=\"{id}\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {id}"))
            .split("</section>")
            .next()
            .unwrap()
            .to_string()
    };
    let html = report(&[]);
    assert!(
        html.contains(": 4 run(s)."),
        "the older run is not in the period"
    );
    let branches = section(&html, "failures-by-branch");
    assert!(
        branches.contains("<tr><td>main</td><td>2</td><td>1</td><td>0.500</td></tr>")
            && branches
                .contains("<tr><td>feature/login</td><td>1</td><td>1</td><td>1.000</td></tr>")
            && branches.contains("<tr><td>(no branch)</td><td>1</td><td>0</td><td>0.000</td></tr>"),
        "{branches}"
    );
    let places = section(&html, "failures-by-place");
    assert!(
        places.contains("<tr><td>CI (github_actions)</td><td>3</td><td>2</td><td>0.667</td></tr>")
            && places.contains("<tr><td>local</td><td>1</td><td>0</td><td>0.000</td></tr>"),
        "{places}"
    );
    let flaky = section(&html, "flaky-commands");
    assert!(
        flaky.contains(&format!(
            "<tr><td>sh -c {}</td><td>1</td><td>1</td><td>1</td><td>aaa111</td></tr>",
            suite.replace('>', "&gt;")
        )),
        "{flaky}"
    );
    let trend = section(&html, "trend");
    assert!(
        trend.contains("<tr><td>runs</td><td>4</td><td>1</td><td>+3</td></tr>"),
        "{trend}"
    );
    assert!(
        trend.contains("<tr><td>failure rate</td><td>50%</td><td>0%</td><td>+50%</td></tr>"),
        "{trend}"
    );
    let latest = section(&html, "latest-failures");
    assert_eq!(
        latest
            .matches("<td class=\"text\">FAIL: test_login expected 200, got 500</td>")
            .count(),
        2,
        "{latest}"
    );
    // Count axes tick on whole numbers; every chart has both axis titles; the legend is
    // HTML under the chart, never over its bars.
    let per_day = section(&html, "runs-per-day");
    let ticks: Vec<&str> = per_day
        .split("text-anchor=\"end\">")
        .skip(1)
        .map(|t| t.split('<').next().unwrap())
        .collect();
    assert!(
        !ticks.is_empty() && ticks.iter().all(|t| !t.contains('.')),
        "{ticks:?}"
    );
    assert!(per_day.contains(">Day</text>") && per_day.contains(">Runs</text>"));
    let legend = per_day.split("</svg>").nth(1).unwrap();
    assert!(
        legend.contains("<ul class=\"legend\">") && legend.contains("failed"),
        "{legend}"
    );

    let main = report(&["--branch", "main"]);
    assert!(main.contains(": 2 run(s)."), "{main:.600}");
    assert!(main.contains(", branch main"));
    let nothing = report(&["--repository", "other/repo"]);
    assert!(nothing.contains(": 0 run(s)."));
    let by_command = report(&["--command", "fail"]);
    assert!(by_command.contains(": 4 run(s)."));
}

/// Long command labels wrap between words under their bar, with the whole label as the
/// tooltip, and are never cut inside a word.
#[test]
fn report_labels_wrap_at_word_boundaries() {
    let home = Home::new();
    let long = "echo one-long-argument another-long-argument yet-another-argument and-more words";
    for _ in 0..2 {
        run(&mut home.earlyexit(&["--", "sh", "-c", long]));
    }
    run(&mut home.earlyexit(&["--", "sh", "-c", "exit 1"]));
    let html = run(&mut home.earlyexit(&["telemetry", "report", "-o", "-"])).stdout_text();
    let durations = html
        .split("<section id=\"durations\">")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    let label = format!("sh -c {long}");
    let words: Vec<&str> = label.split(' ').collect();
    let text = durations
        .split("<text text-anchor=\"middle\"")
        .find(|t| t.contains(&format!("<title>{label}</title>")))
        .expect("the whole label is the tooltip");
    let lines: Vec<&str> = text
        .split("\">")
        .skip(1)
        .filter_map(|piece| {
            piece
                .split("</tspan>")
                .next()
                .filter(|_| piece.contains("</tspan>"))
        })
        .collect();
    assert!(lines.len() > 1, "wrapped: {lines:?}");
    for line in lines {
        for word in line.trim_end_matches('…').split(' ') {
            assert!(
                words.contains(&word),
                "{word:?} is a whole word of the label"
            );
        }
    }
}
