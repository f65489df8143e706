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
    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(
        annotations,
        [
            "::error file=src/parser.rs,line=41,col=9,title=earlyexit%3A pattern matched (stderr line 1)::src/parser.rs:41:9: error: expected a port, found \"http\""
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
            "<error message=\"the command could not start\" type=\"error\"",
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
            "message=\"&lt;FATAL&gt; &amp; &quot;x&quot; \u{fffd}[31mred\"",
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
fn at_most_ten_annotations_and_success_is_a_warning() {
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
        0,
        "the success pattern decides: {}",
        first.stderr_text()
    );
    let stdout = first.stdout_text();
    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 10, "{stdout}");
    assert!(
        annotations.iter().all(|a| a.starts_with("::error ")),
        "errors first: {annotations:?}"
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
    assert!(
        second.stdout_text().contains("::warning title=earlyexit%3A success pattern matched (stdout line 1)::Server listening\n"),
        "{}",
        second.stdout_text()
    );
    assert!(GithubJob::read(&job.summary).contains("### ✅ earlyexit: stopped on success"));
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
