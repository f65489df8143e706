//! The conventions of a Rust command-line tool: shell completions that load in a real bash
//! and a man page that `man` renders, both from `--generate` (ripgrep's interface).

use crate::common::*;

use std::process::Command;

#[test]
fn the_bash_completion_loads_and_completes_options_for_both_names() {
    let script = run(&mut earlyexit(&["--generate", "complete-bash"]));
    assert_eq!(script.code, 0);
    let dir = Home::new();
    let path = dir.dir.join("earlyexit.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    for name in ["earlyexit", "ee"] {
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -e; source {}; COMP_WORDS=({name} --time); COMP_CWORD=1; \
                 COMP_LINE='{name} --time'; COMP_POINT=${{#COMP_LINE}}; \
                 _{name} {name} --time {name}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                path.display()
            ))
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.lines().any(|l| l == "--timeout"),
            "{name}: {stdout:?}"
        );
    }
}

#[test]
fn the_bash_completion_completes_the_telemetry_subcommands() {
    let script = run(&mut earlyexit(&["--generate", "complete-bash"]));
    let dir = Home::new();
    let path = dir.dir.join("earlyexit.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; source {}; COMP_WORDS=(earlyexit telemetry s); COMP_CWORD=2; \
             COMP_LINE='earlyexit telemetry s'; COMP_POINT=${{#COMP_LINE}}; \
             _earlyexit earlyexit s telemetry; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display()
        ))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let offered: Vec<&str> = stdout.lines().collect();
    for subcommand in ["status", "stats", "sync", "send-test"] {
        assert!(offered.contains(&subcommand), "{subcommand}: {offered:?}");
    }
}

#[test]
fn zsh_and_fish_completions_name_the_options() {
    for kind in ["complete-zsh", "complete-fish"] {
        let script = run(&mut earlyexit(&["--generate", kind]));
        assert_eq!(script.code, 0);
        let text = script.stdout_text();
        assert!(
            text.contains("idle-timeout") && text.contains("telemetry-backend"),
            "{kind}"
        );
    }
}

#[test]
#[ignore = "needs man: run tests/install-and-run.sh"]
fn the_man_page_renders() {
    let page = run(&mut earlyexit(&["--generate", "man"]));
    assert_eq!(page.code, 0);
    let dir = Home::new();
    let path = dir.dir.join("earlyexit.1");
    std::fs::write(&path, &page.stdout).unwrap();
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&path)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("man runs (apt-get install man-db)");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let text = String::from_utf8_lossy(&rendered.stdout).replace(['\u{8}', '_'], "");
    for expected in [
        "NAME",
        "earlyexit",
        "SYNOPSIS",
        "--idle-timeout",
        "--telemetry-backend",
    ] {
        assert!(text.contains(expected), "{expected} missing in:\n{text}");
    }
}

#[test]
fn generate_takes_nothing_else_and_names_what_it_knows() {
    let bad = run(&mut earlyexit(&["--generate", "complete-tcsh"]));
    assert_eq!(bad.code, 3);
    assert_eq!(bad.stderr_text().lines().count(), 1);
    assert!(bad.stderr_text().contains("complete-tcsh"));
}

#[test]
fn choices_are_typed_and_the_help_lists_every_backend() {
    let help = run(&mut earlyexit(&["--help"])).stdout_text();
    let backends = help.split("--telemetry-backend <BACKEND>").nth(1).unwrap();
    for name in ["sqlite", "file", "http", "hybrid", "otlp", "none"] {
        assert!(
            backends.contains(&format!("- {name}")),
            "{name} missing from --help"
        );
    }
    let bad = run(&mut earlyexit(&[
        "--telemetry-backend",
        "pigeon",
        "--",
        "true",
    ]));
    assert_eq!(bad.code, 3);
    assert_eq!(bad.stderr_text().lines().count(), 1);
    assert!(
        bad.stderr_text().contains("'pigeon'"),
        "{}",
        bad.stderr_text()
    );
    let header = run(&mut earlyexit(&[
        "telemetry",
        "test-http",
        "--endpoint",
        "http://127.0.0.1:9",
        "--auth-header",
        "cookie",
    ]));
    assert_eq!(header.code, 3);
    assert!(
        header.stderr_text().contains("'cookie'"),
        "{}",
        header.stderr_text()
    );
}
