//! Bad input: exit code 3 and one line that names the problem.

use crate::common::*;

fn assert_usage_error(args: &[&str], names: &str) {
    let run = run(&mut earlyexit(args));
    assert_eq!(run.code, 3, "{args:?}: {}", run.stderr_text());
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("earlyexit: "), "{stderr}");
    assert!(
        stderr.contains(names),
        "{args:?}: {stderr:?} does not name {names:?}"
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn invalid_regex_in_any_pattern_option() {
    assert_usage_error(&["(unclosed", "--", "true"], "'(unclosed'");
    assert_usage_error(&["-X", "[z-a]", "ok", "--", "true"], "'[z-a]'");
    assert_usage_error(&["-s", "a{2,1}", "--", "true"], "'a{2,1}'");
    assert_usage_error(&["-e", "*oops", "--", "true"], "'*oops'");
    assert_usage_error(&["--pattern", "(", "true"], "'('");
}

#[test]
fn unknown_option() {
    assert_usage_error(&["--frobnicate", "x", "--", "true"], "--frobnicate");
}

#[test]
fn bad_duration() {
    assert_usage_error(&["-t", "5 minutes", "x", "--", "true"], "'5 minutes'");
    assert_usage_error(&["-I", "-3", "x", "--", "true"], "-3");
    assert_usage_error(&["-m", "0", "x", "--", "true"], "0");
}

#[test]
fn command_not_found() {
    assert_usage_error(
        &["x", "--", "no-such-command-anywhere"],
        "no-such-command-anywhere",
    );
}

#[test]
fn command_not_executable() {
    let path =
        std::env::temp_dir().join(format!("earlyexit-not-executable-{}", std::process::id()));
    std::fs::write(&path, "echo hi\n").unwrap();
    let text = path.to_str().unwrap();
    assert_usage_error(&["x", "--", text], "permission denied");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn json_mode_reports_the_error_in_the_summary_too() {
    let run = run(&mut earlyexit(&[
        "--json",
        "x",
        "--",
        "no-such-command-anywhere",
    ]));
    assert_eq!(run.code, 3);
    let json = run.json();
    assert_eq!(json["exit_reason"], "error");
    assert!(json["error"]
        .as_str()
        .unwrap()
        .contains("no-such-command-anywhere"));
}

#[test]
fn help_and_version() {
    let help = run(&mut earlyexit(&["--help"]));
    assert_eq!(help.code, 0);
    assert!(help.stdout_text().contains("Examples:"));
    assert!(help.stdout_text().contains("--delay-exit"));
    let version = run(&mut earlyexit(&["--version"]));
    assert_eq!(version.code, 0);
    assert_eq!(
        version.stdout_text(),
        format!("earlyexit {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn ee_is_the_same_program() {
    let mut ee = std::process::Command::new(env!("CARGO_BIN_EXE_ee"));
    for marker in CI_MARKERS {
        ee.env_remove(marker);
    }
    let output = ee
        .args(["-A", "0", "hi", "--", "echo", "hi"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"hi\n");
}

#[test]
fn a_mistyped_option_gets_a_suggestion() {
    assert_usage_error(
        &["--timout", "3", "x", "--", "true"],
        "unexpected argument '--timout' found (a similar argument exists: '--timeout'",
    );
}

#[test]
fn help_and_telemetry_alone_say_what_there_is() {
    for args in [&["help"][..], &["--help"]] {
        let help = run(&mut earlyexit(args));
        assert_eq!(help.code, 0, "{args:?}");
        let text = help.stdout_text();
        assert!(text.contains("Examples:"), "{args:?}: {text}");
        assert!(
            text.contains("earlyexit telemetry status|stats|report"),
            "{args:?}: {text}"
        );
    }
    let tools = run(&mut earlyexit(&["telemetry"]));
    assert_eq!(tools.code, 0, "{}", tools.stderr_text());
    for subcommand in [
        "status",
        "stats",
        "report",
        "export",
        "import",
        "sync",
        "test-http",
    ] {
        assert!(tools.stdout_text().contains(subcommand), "{subcommand}");
    }
    let watched = run_with_input(&["--pattern", "help", "-A", "0"], b"help wanted\n");
    assert_eq!(
        watched.code, 1,
        "the word itself is still a pattern with --pattern"
    );
}
