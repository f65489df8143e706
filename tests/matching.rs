//! The matching options: -i -v -w -x -m -X -s -e --stdout --stderr, and the exit codes they give.

use crate::common::*;

#[test]
fn ignore_case() {
    assert_eq!(run_with_input(&["error"], b"ERROR\n").code, 0);
    assert_eq!(run_with_input(&["-i", "error"], b"ERROR\n").code, 1);
    let error_pattern = run_with_input(&["--json", "-i", "-e", "fatal"], b"FATAL\n");
    assert_eq!(error_pattern.json()["exit_reason"], "error_pattern");
    assert_eq!(
        run_with_input(&["-i", "-X", "ok", "error"], b"ERROR OK\n").code,
        0
    );
}

#[test]
fn invert_counts_lines_that_do_not_match() {
    let run = run_with_input(&["-v", "ok"], b"ok 1\nok 2\nbad\nok 3\n");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout_text(), "ok 1\nok 2\nbad\n");
    assert_eq!(run_with_input(&["-v", "ok"], b"ok 1\nok 2\n").code, 0);
}

#[test]
fn whole_words_and_whole_lines() {
    assert_eq!(
        run_with_input(&["-w", "error"], b"errors\nterror\n").code,
        0
    );
    assert_eq!(
        run_with_input(&["-w", "error"], b"errors\nan error.\n").code,
        1
    );
    assert_eq!(
        run_with_input(&["-x", "done"], b"not done\ndone!\n").code,
        0
    );
    assert_eq!(
        run_with_input(&["-x", "done"], b"not done\r\ndone\r\n").code,
        1
    );
}

#[test]
fn max_count_stops_at_the_nth_match() {
    let run = run(&mut earlyexit(&[
        "-m",
        "2",
        "-A",
        "0",
        "E",
        "--",
        "sh",
        "-c",
        "echo E1; echo x; echo E2; echo after; sleep 30",
    ]));
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout_text(), "E1\nx\nE2\n");
    assert!(run.elapsed.as_secs() < 5);
}

#[test]
fn excluded_lines_never_count() {
    let input = b"Error: expected in test\nError: real\n";
    let run = run_with_input(&["--json", "-X", "expected", "-X", "skip", "Error"], input);
    assert_eq!(run.code, 1);
    assert_eq!(run.json()["match_count"], 1);
    assert_eq!(
        run_with_input(&["-X", "expected", "Error"], b"Error: expected\n").code,
        0
    );
}

#[test]
fn success_pattern_exits_0_and_error_pattern_exits_1() {
    let script = "echo starting; echo 'Listening on 8080'; sleep 30";
    let ok = run(&mut earlyexit(&[
        "-A",
        "0",
        "-s",
        "Listening",
        "-e",
        "EADDRINUSE",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(ok.code, 0);
    assert!(ok.elapsed.as_secs() < 5);
    let script = "echo starting; echo 'Error: EADDRINUSE' >&2; sleep 30";
    let failed = run(&mut earlyexit(&[
        "--json",
        "-A",
        "0",
        "-s",
        "Listening",
        "-e",
        "EADDRINUSE",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(failed.code, 1);
    assert_eq!(failed.json()["exit_reason"], "error_pattern");
}

#[test]
fn only_the_chosen_stream_is_watched_but_both_pass_through() {
    let script = "echo Error >&2; echo out";
    let stdout_only = run(&mut earlyexit(&[
        "--stdout", "Error", "--", "sh", "-c", script,
    ]));
    assert_eq!(stdout_only.code, 0);
    assert_eq!(stdout_only.stderr_text(), "Error\n");
    assert_eq!(stdout_only.stdout_text(), "out\n");
    let stderr_only = run(&mut earlyexit(&[
        "--stderr", "-A", "0", "Error", "--", "sh", "-c", script,
    ]));
    assert_eq!(stderr_only.code, 1);
}

/// The status exit codes (the default, `--exit-codes status`, its former name `ci`, and
/// `--unix-exit-codes`): 0 only when the command exited 0 and no error was seen. Each case:
/// the mode's options, the pattern options, the command, the code.
#[test]
fn status_exit_codes_never_turn_a_failure_green() {
    let cases: [(&[&str], &str, i32); 10] = [
        (&["Error"], "echo 'tests: 3 failed'; exit 1", 1),
        (&["Error"], "echo 'ran'; exit 4", 4),
        (&["Error"], "kill -SEGV $$", 139),
        (&["Error"], "kill -9 $$", 137),
        (&["Error"], "echo ok; exit 0", 0),
        (&["-A", "0", "Error"], "echo Error; exit 0", 1),
        (&["-e", "FATAL", "-A", "0"], "echo FATAL; exit 0", 1),
        (&["-s", "ready", "-A", "0"], "echo ready; sleep 5", 0),
        (&["-s", "ready"], "echo starting; exit 3", 3),
        (&[], "exit 5", 5),
    ];
    let modes: [&[&str]; 4] = [
        &[],
        &["--exit-codes", "status"],
        &["--exit-codes", "ci"],
        &["--unix-exit-codes"],
    ];
    for mode in modes {
        for (options, script, code) in cases {
            let args = [mode, options, &["--", "sh", "-c", script]].concat();
            let run = run(&mut earlyexit(&args));
            assert_eq!(run.code, code, "{args:?}: {}", run.stderr_text());
        }
    }
    assert_eq!(run_with_input(&["x"], b"x\n").code, 1);
    assert_eq!(run_with_input(&["x"], b"y\n").code, 0);
}

/// The status codes are the default in and out of CI; grep's are chosen by the flag, the
/// variable or the config, and `ci` (their former name) still means the status codes.
#[test]
fn status_exit_codes_are_the_default_everywhere_and_grep_is_chosen() {
    let failing = ["Error", "--", "sh", "-c", "exit 4"];
    let code = |variables: &[(&str, &str)], args: &[&str]| {
        let mut command = earlyexit(args);
        command.envs(variables.iter().copied());
        run(&mut command).code
    };
    assert_eq!(code(&[], &failing), 4, "no CI variable");
    assert_eq!(code(&[("CI", "true")], &failing), 4);
    assert_eq!(code(&[("GITHUB_ACTIONS", "true")], &failing), 4);
    assert_eq!(code(&[("EARLYEXIT_EXIT_CODES", "grep")], &failing), 1);
    assert_eq!(code(&[("EARLYEXIT_EXIT_CODES", "ci")], &failing), 4);
    let chosen = [&["--exit-codes", "grep"][..], &failing].concat();
    assert_eq!(code(&[("CI", "true")], &chosen), 1, "a flag wins");
    let home = Home::new();
    let config = home.write_config("exit_codes: grep\n");
    let configured = run(home
        .earlyexit(&failing)
        .env("EARLYEXIT_CONFIG", &config)
        .env("EARLYEXIT_NO_TELEMETRY", "1"));
    assert_eq!(configured.code, 1, "{}", configured.stderr_text());
    let wrong = run(&mut earlyexit(&[
        "--exit-codes",
        "green",
        "x",
        "--",
        "true",
    ]));
    assert_eq!(wrong.code, 3);
}

#[test]
fn delay_exit_by_time_shows_the_context_after_the_match() {
    let run = run(&mut earlyexit(&[
        "--context-pause",
        "0",
        "-A",
        "1s",
        "Error",
        "--",
        "sh",
        "-c",
        "echo Error; echo '  at frame 1'; sleep 0.2; echo '  at frame 2'; sleep 30; echo never",
    ]));
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout_text(), "Error\n  at frame 1\n  at frame 2\n");
    assert!(
        run.elapsed.as_secs_f64() >= 0.9 && run.elapsed.as_secs() < 5,
        "{:?}",
        run.elapsed
    );
}

#[test]
fn delay_exit_by_lines_cuts_after_exactly_n_lines() {
    let run = run(&mut earlyexit(&[
        "--delay-exit-after-lines",
        "2",
        "Error",
        "--",
        "sh",
        "-c",
        "echo Error; echo t1; echo t2; echo t3; sleep 30",
    ]));
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout_text(), "Error\nt1\nt2\n");
    assert!(run.elapsed.as_secs() < 5);
    let piped = run_with_input(
        &["-A", "10s", "--delay-exit-after-lines", "1", "E"],
        b"a\nE\nb\nc\n",
    );
    assert_eq!(piped.stdout_text(), "a\nE\nb\n");
}

#[test]
fn command_that_ends_during_the_delay_keeps_the_match_exit_code() {
    let run = run(&mut earlyexit(&[
        "Error",
        "--",
        "sh",
        "-c",
        "echo Error; echo bye; exit 5",
    ]));
    assert_eq!(run.code, 5);
    assert_eq!(run.stdout_text(), "Error\nbye\n");
    assert!(
        run.elapsed.as_secs() < 5,
        "the 10 s default delay must end with the command"
    );
}

#[test]
fn quiet_prints_nothing() {
    let run = run(&mut earlyexit(&[
        "-q",
        "-A",
        "0",
        "Error",
        "--",
        "sh",
        "-c",
        "echo x; echo Error >&2; sleep 30",
    ]));
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty() && run.stderr.is_empty(), "{run:?}");
    let bad = run_with_input(&["-q", "-t", "0.3", "nothing"], b"");
    assert!(bad.stderr.is_empty());
}

#[test]
fn json_summary_replaces_the_output() {
    let run = run(&mut earlyexit(&[
        "--json",
        "-A",
        "0",
        "-t",
        "1m",
        "Error",
        "--",
        "sh",
        "-c",
        "echo line1; echo Error; sleep 5; exit 3",
    ]));
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout.iter().filter(|&&b| b == b'\n').count(),
        1,
        "one JSON line only"
    );
    let json = run.json();
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["outcome"], "failure");
    assert_eq!(json["exit_reason"], "match");
    assert_eq!(json["match_count"], 1);
    assert_eq!(json["pattern"], "Error");
    assert_eq!(
        json["command"],
        "sh -c 'echo line1; echo Error; sleep 5; exit 3'"
    );
    assert_eq!(json["timeouts"]["overall"], 60.0);
    assert_eq!(json["statistics"]["lines_processed"], 2);
    assert_eq!(json["statistics"]["bytes_processed"], 12);
    assert!(json["statistics"]["time_to_first_match"].as_f64().unwrap() >= 0.0);
    assert_eq!(json["execution_id"].as_str().unwrap().len(), 36);
    for key in ["command_exit_code", "duration_seconds", "trace_id"] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(run.stderr_text(), "");
}

#[test]
fn json_says_what_matched_where_and_when() {
    // Two pipes have no common order: FATAL comes a moment later, so that it is read second.
    let script =
        "echo ok; echo 'Error: token=s3cr3tvalue at src/a.rs:3' >&2; sleep 0.3; echo FATAL; sleep 5";
    let run = run(&mut earlyexit(&[
        "--json", "-q", "-m", "2", "-A", "0", "-e", "FATAL", "Error", "--", "sh", "-c", script,
    ]));
    let json = run.json();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["exit_reason"], "error_pattern");
    assert_eq!(json["exit_codes"], "status");
    assert_eq!(json["error_pattern"], "FATAL");
    let matches = json["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 2, "{json}");
    assert_eq!(matches[0]["kind"], "pattern");
    assert_eq!(matches[0]["stream"], "stderr");
    assert_eq!(matches[0]["line_number"], 1);
    assert_eq!(matches[0]["line"], "Error: token=[REDACTED] at src/a.rs:3");
    assert!(matches[0]["offset_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(matches[1]["kind"], "error");
    assert_eq!(matches[1]["stream"], "stdout");
    assert_eq!(matches[1]["line_number"], 2);
    assert_eq!(matches[1]["number"], 2);
    assert!(!run.stdout_text().contains("s3cr3tvalue"));
}
