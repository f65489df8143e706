//! CI-native output, in a simulated GitHub Actions job (its variables, summary and output
//! files) and a GitLab CI one: annotations, the job summary, the step outputs, the JUnit file
//! (checked by xmllint against two JUnit schemas), the collapsible section, the CI hint.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A GitHub Actions job's files and variables, in a fresh home.
struct GithubJob {
    home: Home,
    summary: PathBuf,
    output: PathBuf,
}

impl GithubJob {
    fn new() -> GithubJob {
        let home = Home::new();
        GithubJob {
            summary: home.dir.join("step_summary.md"),
            output: home.dir.join("github_output"),
            home,
        }
    }

    fn earlyexit(&self, args: &[&str]) -> Command {
        let mut command = self.home.earlyexit(args);
        command
            .env("GITHUB_ACTIONS", "true")
            .env("CI", "true")
            .env("GITHUB_WORKSPACE", &self.home.dir)
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("GITHUB_OUTPUT", &self.output)
            .env("GITHUB_REPOSITORY", "team/app")
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_JOB", "test");
        command
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

/// A test suite that fails: a compiler-style error with its file and line, a trace under it,
/// and a pause standing for the rest of the suite.
const FAILING_SUITE: &str = "echo 'running 12 tests'; \
    echo 'src/parser.rs:41:9: error: expected a port, found \"http\"' >&2; \
    echo '  41 |     let port = parse_port(text);' >&2; \
    echo '     |         ^^^^ here' >&2; \
    sleep 20";

#[test]
#[ignore = "needs xmllint: run tests/install-and-run.sh"]
fn github_actions_gets_annotations_a_summary_and_outputs() {
    let job = GithubJob::new();
    let junit = job.home.dir.join("junit.xml");
    let run = run(job
        .earlyexit(&[
            "--junit",
            junit.to_str().unwrap(),
            "error:",
            "--",
            "sh",
            "-c",
            FAILING_SUITE,
        ])
        .env(
            "EARLYEXIT_TELEMETRY_TRACE_URL",
            "https://traces.example/trace/{trace_id}",
        ));
    assert_eq!(
        run.code,
        1,
        "CI mode: an error seen is 1\n{}",
        run.stderr_text()
    );
    let stdout = run.stdout_text();
    let annotations = workflow_commands(&stdout);
    assert_eq!(
        annotations,
        [
            "::error file=src/parser.rs,line=41,col=9,title=earlyexit%3A pattern matched (stderr line 1)::src/parser.rs:41:9: error: expected a port, found \"http\"%0A  41 |     let port = parse_port(text);%0A     |         ^^^^ here"
        ]
    );
    let trace_id = job.home.query("SELECT trace_id FROM executions")[0][0].clone();
    let summary = GithubJob::read(&job.summary);
    for expected in [
        "### ❌ earlyexit: failed — pattern matched",
        "| `failure` | 1 | 143 |",
        &format!("[`{trace_id}`](https://traces.example/trace/{trace_id})"),
        "Matched on stderr, line 1, after",
        "src/parser.rs:41:9: error: expected a port, found \"http\"\n  41 |     let port = parse_port(text);\n     |         ^^^^ here\n",
    ] {
        assert!(summary.contains(expected), "{expected:?} not in\n{summary}");
    }
    let outputs = GithubJob::read(&job.output);
    assert!(
        outputs.contains("outcome=failure\nexit_code=1\n"),
        "{outputs}"
    );
    assert!(
        outputs.contains(&format!("trace_id={trace_id}\n")),
        "{outputs}"
    );
    assert!(outputs.contains("command_exit_code=143\n"), "{outputs}");
    let xml = GithubJob::read(&junit);
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("type=\"match\""), "{xml}");
    assert!(
        xml.contains("  41 |     let port = parse_port(text);"),
        "{xml}"
    );
    validate_junit(&junit);
}

/// Both JUnit schemas the junit-report crate ships (Jenkins' junit-4 and Windy Road's Ant
/// schema), fetched by `tests/install-and-run.sh`.
fn validate_junit(file: &Path) {
    let schemas = std::env::var("EARLYEXIT_TEST_JUNIT_SCHEMAS")
        .expect("EARLYEXIT_TEST_JUNIT_SCHEMAS: run the suite through tests/install-and-run.sh");
    for schema in ["JUnit.xsd", "JUnit-alternative.xsd"] {
        let checked = Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(Path::new(&schemas).join(schema))
            .arg(file)
            .output()
            .expect("xmllint runs");
        assert!(
            checked.status.success(),
            "{schema}: {}\n{}",
            String::from_utf8_lossy(&checked.stderr),
            std::fs::read_to_string(file).unwrap()
        );
    }
}

#[test]
#[ignore = "needs xmllint: run tests/install-and-run.sh"]
fn every_outcome_makes_a_valid_junit_file() {
    let cases: [(&[&str], i32, &str); 4] = [
        (&["--", "true"], 0, "failures=\"0\" errors=\"0\""),
        (
            &["-t", "0.2", "--", "sleep", "5"],
            2,
            "<failure message=\"timeout after",
        ),
        (
            &["--", "/nonexistent/tool"],
            3,
            "<error message=\"command not found: /nonexistent/tool\" type=\"error\">the command could not start\ncommand not found: /nonexistent/tool</error>",
        ),
        (
            &[
                "-A",
                "0",
                "-e",
                "<FATAL> & \"x\"",
                "--",
                "sh",
                "-c",
                "printf '<FATAL> & \"x\" \\033[31mred\\n'; sleep 5",
            ],
            1,
            "message=\"&lt;FATAL&gt; &amp; &quot;x&quot; red\"",
        ),
    ];
    for (args, code, expected) in cases {
        let home = Home::new();
        let junit = home.dir.join("report.xml");
        let run =
            run(&mut home.earlyexit(&[&["--junit", junit.to_str().unwrap()][..], args].concat()));
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr_text());
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(
            xml.contains(expected),
            "{args:?}: {expected:?} not in\n{xml}"
        );
        validate_junit(&junit);
    }
}

#[test]
fn at_most_ten_annotations_and_a_success_pattern_makes_none() {
    let job = GithubJob::new();
    let lines = "for i in $(seq 15); do echo \"Error $i\"; done; echo 'Server listening'; sleep 5";
    let first = run(&mut job.earlyexit(&[
        "-m",
        "100",
        "-s",
        "listening",
        "-A",
        "0",
        "Error",
        "--",
        "sh",
        "-c",
        lines,
    ]));
    assert_eq!(
        first.code,
        1,
        "errors seen before the success pattern: {}",
        first.stderr_text()
    );
    let stdout = first.stdout_text();
    let annotations = workflow_commands(&stdout);
    assert_eq!(annotations.len(), 10, "{stdout}");
    assert!(
        annotations.iter().all(|a| a.starts_with("::error ")),
        "{annotations:?}"
    );
    let job = GithubJob::new();
    let second = run(&mut job.earlyexit(&[
        "-s",
        "listening",
        "-A",
        "0",
        "--",
        "sh",
        "-c",
        "echo 'Server listening'; sleep 5",
    ]));
    assert_eq!(second.code, 0);
    assert_eq!(second.stdout_text(), "Server listening\n", "no annotation");
    assert!(GithubJob::read(&job.summary).contains("### ✅ earlyexit: stopped on success"));
}

/// The workflow commands in a step's output, each checked against GitHub's documented format
/// ("Workflow commands for GitHub Actions"): alone on its line from its first byte,
/// `::error` with `name=value` properties separated by `,`, then `::` and the message; `%`,
/// CR and LF escaped in both, and also `:` and `,` in properties; no terminal escape codes.
fn workflow_commands(stdout: &str) -> Vec<&str> {
    let starts = regex::Regex::new(r"::error(?: |::)").unwrap();
    for found in starts.find_iter(stdout) {
        let at = found.start();
        assert!(
            at == 0 || stdout.as_bytes()[at - 1] == b'\n',
            "a workflow command that does not start its line: {stdout:?}"
        );
    }
    let format = regex::Regex::new(
        r"^::error(?: (?:file|line|col|endLine|endColumn|title)=[^,:\r\n]*(?:,(?:file|line|col|endLine|endColumn|title)=[^,:\r\n]*)*)?::[^\r\n]*$",
    )
    .unwrap();
    let escapes = regex::Regex::new(r"%(?:25|0D|0A|3A|2C)").unwrap();
    let commands: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    for command in &commands {
        assert!(
            format.is_match(command),
            "not a workflow command: {command:?}"
        );
        assert!(!command.contains('\x1b'), "escape codes in {command:?}");
        let command = &escapes.replace_all(command, "");
        assert!(!command.contains('%'), "an unescaped % in {command:?}");
    }
    commands
}

/// A workflow command's message as GitHub shows it.
fn message_of(command: &str) -> String {
    let (_, message) = command[2..].split_once("::").unwrap();
    message
        .replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
}

#[test]
fn an_annotation_after_a_partial_line_starts_a_line_of_its_own() {
    let job = GithubJob::new();
    let run = run(&mut job.earlyexit(&[
        "FAILED",
        "--",
        "sh",
        "-c",
        "printf 'test_b_slow '; echo 'test_a FAILED' >&2; sleep 0.2; printf 'test_c '",
    ]));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    let stdout = run.stdout_text();
    assert!(
        stdout.starts_with("test_b_slow test_c \n::error "),
        "{stdout:?}"
    );
    let commands = workflow_commands(&stdout);
    assert_eq!(commands.len(), 1, "{stdout}");
    assert!(message_of(commands[0]).starts_with("test_a FAILED"));
}

#[test]
fn an_annotation_has_no_escape_codes_and_points_at_the_coloured_line() {
    let job = GithubJob::new();
    let run = run(job
        .earlyexit(&[
            "error",
            "--",
            "sh",
            "-c",
            "printf '\\033[1m\\033[31merror\\033[0m: src/main.rs:3:5: mismatched types\\n' >&2; \
             printf '  \\033[34m|\\033[0m expected u8\\n' >&2; exit 101",
        ])
        .env("CARGO_TERM_COLOR", "always"));
    assert_eq!(run.code, 101, "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("\x1b[31merror"),
        "the output keeps its colours"
    );
    let stdout = run.stdout_text();
    let commands = workflow_commands(&stdout);
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(
        commands[0].starts_with("::error file=src/main.rs,line=3,col=5,title="),
        "{}",
        commands[0]
    );
    assert_eq!(
        message_of(commands[0]),
        "error: src/main.rs:3:5: mismatched types\n  | expected u8"
    );
    let summary = GithubJob::read(&job.summary);
    assert!(
        summary.contains("error: src/main.rs:3:5: mismatched types\n  | expected u8\n"),
        "{summary}"
    );
    assert!(!summary.contains('\x1b'), "{summary}");
}

/// A run that failed without a deciding match (a timeout, a command that failed on its own)
/// carries the last lines of its output: in the annotation, the job summary, `--json-file`
/// and JUnit.
#[test]
#[ignore = "needs xmllint: run tests/install-and-run.sh"]
fn a_timeout_and_a_failure_without_a_match_carry_the_outputs_tail() {
    let cases: [(&[&str], i32, &str, &str); 2] = [
        (
            &[
                "-t",
                "0.5",
                "--",
                "sh",
                "-c",
                "echo compiling a; echo compiling b >&2; sleep 9",
            ],
            2,
            "timeout after 0.",
            "timeout",
        ),
        (
            &[
                "Error",
                "--",
                "sh",
                "-c",
                "echo compiling a; echo compiling b >&2; exit 4",
            ],
            4,
            "command exited with 4",
            "failure",
        ),
    ];
    for (args, code, headline, outcome) in cases {
        let job = GithubJob::new();
        let junit = job.home.dir.join("junit.xml");
        let json = job.home.dir.join("run.json");
        let run = run(&mut job.earlyexit(
            &[
                &["--junit", junit.to_str().unwrap()][..],
                &["--json-file", json.to_str().unwrap()],
                args,
            ]
            .concat(),
        ));
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr_text());
        let stdout = run.stdout_text();
        assert!(stdout.starts_with("compiling a\n::error "), "{stdout:?}");
        let commands = workflow_commands(&stdout);
        assert_eq!(commands.len(), 1, "{stdout}");
        assert!(
            commands[0].contains(&format!("title=earlyexit%3A {headline}")),
            "{}",
            commands[0]
        );
        assert_eq!(message_of(commands[0]), "compiling a\ncompiling b");
        let summary = GithubJob::read(&job.summary);
        assert!(
            summary.contains(
                "The last 2 line(s) of output:\n\n```text\ncompiling a\ncompiling b\n```"
            ),
            "{summary}"
        );
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(written["outcome"], outcome);
        assert_eq!(written["exit_code"], code);
        assert_eq!(
            written["tail"],
            serde_json::json!(["compiling a", "compiling b"])
        );
        let xml = GithubJob::read(&junit);
        assert!(xml.contains("compiling a\ncompiling b</failure>"), "{xml}");
        assert!(
            xml.contains("<system-out>compiling a\ncompiling b</system-out>"),
            "{xml}"
        );
        validate_junit(&junit);
    }
}

/// A trace longer than the after-context's cap: the lines past it are counted, not shown, and
/// one line says how many and which option shows them; with the cap raised the root cause is
/// there.
#[test]
fn a_long_trace_cut_at_the_cap_says_what_was_cut() {
    let trace = "echo 'Exception in thread main: FATAL boom'; \
        for i in $(seq 2 189); do echo \"    at com.example.Frame$i(Frame.java:$i)\"; done; \
        echo 'Caused by: java.io.IOException: disk full'; sleep 9";
    let job = GithubJob::new();
    let json = job.home.dir.join("run.json");
    // A pause of 2 s ends the context (not 0.5 s): a loaded machine may stall the loop.
    let capped = run(&mut job.earlyexit(&[
        "--context-pause",
        "2",
        "--json-file",
        json.to_str().unwrap(),
        "FATAL",
        "--",
        "sh",
        "-c",
        trace,
    ]));
    assert_eq!(capped.code, 1, "{}", capped.stderr_text());
    assert!(
        capped.elapsed < std::time::Duration::from_secs(7),
        "{:?}",
        capped.elapsed
    );
    let stdout = capped.stdout_text();
    assert!(
        stdout.contains("Frame101(") && !stdout.contains("Frame102("),
        "100 lines after the match"
    );
    assert!(!stdout.contains("Caused by"));
    let stderr = capped.stderr_text();
    assert!(
        stderr.contains(
            "earlyexit: 89 more line(s) after the match were not shown: the context stops after 100 line(s) (--delay-exit-after-lines 100; raise it to see more)\n"
        ),
        "{stderr}"
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        written["context_cut"],
        serde_json::json!({"lines_not_shown": 89, "lines_shown": 100, "option": "--delay-exit-after-lines"})
    );
    let context = written["matches"][0]["context"].as_array().unwrap();
    assert_eq!(context.len(), 100);
    assert_eq!(context[0], "    at com.example.Frame2(Frame.java:2)");
    let commands = workflow_commands(&stdout);
    assert_eq!(commands.len(), 1);
    let message = message_of(commands[0]);
    assert!(message.ends_with("\n… 80 more line(s)"), "{message}");
    assert!(
        commands[0].starts_with("::error title=earlyexit%3A pattern matched (stdout line 1)::"),
        "{}",
        commands[0]
    );
    assert!(
        GithubJob::read(&job.summary).contains("89 more line(s) after the match were not shown")
    );

    let job = GithubJob::new();
    let raised = run(&mut job.earlyexit(&[
        "--context-pause",
        "2",
        "--delay-exit-after-lines",
        "200",
        "--json",
        "FATAL",
        "--",
        "sh",
        "-c",
        trace,
    ]));
    assert_eq!(raised.code, 1);
    let summary = raised.json();
    assert!(summary["context_cut"].is_null(), "{summary}");
    let context = summary["matches"][0]["context"].as_array().unwrap();
    assert_eq!(context.len(), 189, "the whole trace");
    assert_eq!(context[188], "Caused by: java.io.IOException: disk full");
    assert!(!raised.stderr_text().contains("not shown"));
}

/// The job summary shows the command as a shell takes it, in a code span Markdown leaves
/// alone.
#[test]
fn the_job_summary_shows_the_command_verbatim() {
    let job = GithubJob::new();
    let run = run(&mut job.earlyexit(&["--", "sh", "-c", "echo \"*all*\" `x`; exit 7"]));
    assert_eq!(run.code, 7);
    let summary = GithubJob::read(&job.summary);
    assert!(
        summary.contains("\n``sh -c 'echo \"*all*\" `x`; exit 7'``\n"),
        "{summary}"
    );
}

#[test]
fn json_keeps_stdout_clean_and_a_bad_summary_path_is_one_warning() {
    let job = GithubJob::new();
    let run = run(job
        .earlyexit(&["--json", "Error", "--", "sh", "-c", "echo Error; exit 3"])
        .env("GITHUB_STEP_SUMMARY", &job.home.dir));
    assert_eq!(run.code, 3, "CI mode: the command's own failure");
    assert_eq!(run.json()["outcome"], "failure", "stdout is the JSON alone");
    let stderr = run.stderr_text();
    assert!(
        stderr.contains("earlyexit: cannot write GITHUB_STEP_SUMMARY ("),
        "{stderr}"
    );
    assert!(GithubJob::read(&job.output).contains("outcome=failure\n"));
}

#[test]
fn gitlab_folds_the_after_context_into_a_section() {
    let home = Home::new();
    let run = run(home
        .earlyexit(&[
            "FAIL",
            "--",
            "sh",
            "-c",
            "echo PASS a; echo FAIL b; echo '  at b.js:3'; echo '  at main.js:9'; sleep 20",
        ])
        .env("GITLAB_CI", "true")
        .env("CI", "true"));
    assert_eq!(run.code, 1);
    let stdout = run.stdout_text();
    let start = stdout.find("section_start:").expect("a section opens");
    let end = stdout.find("section_end:").expect("and closes");
    assert!(
        stdout[..start].ends_with("PASS a\nFAIL b\n\x1b[0K"),
        "{stdout:?}"
    );
    assert!(
        stdout[start..end].contains(":earlyexit_context[collapsed=true]\r\x1b[0K")
            && stdout[start..end].contains("  at b.js:3\n  at main.js:9\n"),
        "{stdout:?}"
    );
    let plain = run_without_gitlab();
    assert!(!plain.contains("section_start"), "{plain:?}");
}

fn run_without_gitlab() -> String {
    let home = Home::new();
    run(&mut home.earlyexit(&[
        "FAIL",
        "--",
        "sh",
        "-c",
        "echo FAIL b; echo '  at b.js:3'; sleep 20",
    ]))
    .stdout_text()
}

#[test]
fn the_ci_hint_is_said_once_per_runner_and_names_otlp() {
    let home = Home::new();
    let hint = |home: &Home| {
        let run = run(home.earlyexit(&["--", "true"]).env("CI", "true"));
        assert_eq!(run.code, 0);
        run.stderr_text()
    };
    let first = hint(&home);
    assert!(
        first.contains("CI detected") && first.contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{first}"
    );
    assert!(first.contains("said once on this runner"), "{first}");
    for _ in 0..3 {
        assert_eq!(hint(&home), "", "said once");
    }
    assert!(
        hint(&Home::new()).contains("CI detected"),
        "a new runner hears it"
    );
}

/// A report path that names a FIFO nobody reads is one warning at once, never a wait.
#[test]
fn a_report_path_that_is_a_fifo_is_a_warning_not_a_hang() {
    let job = GithubJob::new();
    let fifo = job.home.dir.join("summary.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let junit = job.home.dir.join("junit.fifo");
    assert!(Command::new("mkfifo")
        .arg(&junit)
        .status()
        .unwrap()
        .success());
    let run = run(job
        .earlyexit(&["--junit", junit.to_str().unwrap(), "--", "true"])
        .env("GITHUB_STEP_SUMMARY", &fifo));
    assert_eq!(run.code, 0);
    assert!(
        run.elapsed < std::time::Duration::from_secs(5),
        "{:?}",
        run.elapsed
    );
    let stderr = run.stderr_text();
    assert!(
        stderr.contains("cannot write the JUnit report")
            && stderr.contains("cannot write GITHUB_STEP_SUMMARY"),
        "{stderr}"
    );
}
