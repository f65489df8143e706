//! Command mode, pipe mode and no-pattern mode; the first positional word is the pattern.

use crate::common::*;

#[test]
fn command_mode_match_stops_the_command_and_exits_1() {
    let run = run(&mut earlyexit(&[
        "-A",
        "0",
        "Error",
        "--",
        "sh",
        "-c",
        "echo one; echo 'Error: boom' >&2; sleep 30; echo never",
    ]));
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout_text(), "one\n");
    assert_eq!(
        run.stderr_text(),
        "Error: boom\nearlyexit: pattern 'Error' matched; stopped the command\n"
    );
    assert!(run.elapsed.as_secs() < 5, "took {:?}", run.elapsed);
}

#[test]
fn command_mode_without_match_exits_0_with_all_output() {
    let run = run(&mut earlyexit(&[
        "Error",
        "--",
        "sh",
        "-c",
        "echo a; echo b >&2; exit 0",
    ]));
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout_text(), "a\n");
    assert_eq!(run.stderr_text(), "b\n");
}

#[test]
fn first_positional_is_the_pattern_even_without_double_dash() {
    // No `--`: the first word, "error", is still the pattern, and `sh` starts the command.
    let run = run(&mut earlyexit(&[
        "-A",
        "0",
        "error",
        "sh",
        "-c",
        "echo an error; sleep 30",
    ]));
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout_text(), "an error\n");
}

#[test]
fn options_after_the_command_belong_to_the_command() {
    let run = run(&mut earlyexit(&[
        "-A", "0", "x", "--", "printf", "%s\\n", "-i", "-t", "x",
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    assert_eq!(run.stdout_text(), "-i\n-t\nx\n");
}

#[test]
fn pattern_option_lets_the_pattern_be_telemetry() {
    let run = run(&mut earlyexit(&[
        "-A",
        "0",
        "--pattern",
        "telemetry",
        "echo",
        "telemetry on",
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    assert_eq!(run.stdout_text(), "telemetry on\n");
}

/// `--pattern` takes a pattern that starts with `-`, as the README says.
#[test]
fn pattern_option_takes_a_pattern_that_looks_like_an_option() {
    let run = run(&mut earlyexit(&[
        "-A",
        "0",
        "--pattern",
        "-x",
        "--",
        "sh",
        "-c",
        "echo ok; echo -x here",
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    assert_eq!(run.stdout_text(), "ok\n-x here\n");
}

/// A pattern that matches the empty string matches every line: a usage error in one line that
/// says so, before the command runs; `-x ''` (empty lines) is meant and works.
#[test]
fn a_pattern_that_matches_every_line_is_a_usage_error() {
    for args in [
        &["", "--", "sh", "-c", "touch ran"][..],
        &["ERROR|", "--", "sh", "-c", "touch ran"],
        &["-e", "x*", "--", "sh", "-c", "touch ran"],
    ] {
        let directory = std::env::temp_dir().join(format!(
            "earlyexit-every-line-{}-{}",
            std::process::id(),
            args[0].len() + args[1].len()
        ));
        std::fs::create_dir_all(&directory).unwrap();
        let run = run(earlyexit(args).current_dir(&directory));
        assert_eq!(run.code, 3, "{args:?}");
        let stderr = run.stderr_text();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("matches every line"), "{stderr}");
        assert!(!directory.join("ran").exists(), "the command never starts");
        std::fs::remove_dir_all(&directory).unwrap();
    }
    let empty_lines = run_with_input(&["-x", ""], b"a\n\nb\n");
    assert_eq!(empty_lines.code, 1, "{}", empty_lines.stderr_text());
    assert_eq!(empty_lines.stdout_text(), "a\n\n");
}

#[test]
fn pipe_mode_match_exits_1_at_once_by_default() {
    let run = run_with_input(&["ERR"], b"a\nERR here\nb\nc\n");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout_text(), "a\nERR here\n");
    assert_eq!(run.stderr_text(), "");
}

#[test]
fn pipe_mode_end_of_input_without_match_exits_0() {
    let run = run_with_input(&["ERR"], b"a\nb\nlast line without newline");
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout_text(), "a\nb\nlast line without newline");
}

#[test]
fn pipe_mode_matches_an_unterminated_last_line() {
    let run = run_with_input(&["tail"], b"a\nthe tail");
    assert_eq!(run.code, 1);
}

#[test]
fn no_pattern_mode_returns_the_command_status() {
    let ok = run(&mut earlyexit(&["-t", "10", "--", "sh", "-c", "echo fine"]));
    assert_eq!((ok.code, ok.stdout_text().as_str()), (0, "fine\n"));
    let failed = run(&mut earlyexit(&["-t", "10", "--", "sh", "-c", "exit 7"]));
    assert_eq!(failed.code, 7);
    let json = run(&mut earlyexit(&["--json", "--", "sh", "-c", "exit 7"])).json();
    assert_eq!(json["exit_reason"], "completed");
    assert_eq!(json["command_exit_code"], 7);
}

#[test]
fn no_pattern_mode_times_out_with_2() {
    let run = run(&mut earlyexit(&["-t", "0.5s", "--", "sleep", "30"]));
    assert_eq!(run.code, 2);
    assert!(run.elapsed.as_secs() < 5);
}

#[test]
fn nothing_to_do_is_a_usage_error() {
    let run = run(&mut earlyexit(&[]));
    assert_eq!(run.code, 3);
    assert_eq!(run.stderr_text().lines().count(), 1);
}
