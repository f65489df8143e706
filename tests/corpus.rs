//! The corpus: real tools failing in known ways (`tests/fixtures/corpus`), each run through
//! earlyexit with nothing but the profile it recognises, under GitHub Actions' variables. For
//! each: the failure's detail reaches the terminal, earlyexit ends soon after the block (and
//! long before the tool's slow tests would), `--json` carries the block with the right file
//! and line, so does the annotation, the exit code is not 0 and the stored outcome is
//! `failure`. `tests/install-and-run.sh` installs the tools.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;

/// One tool failing in a known way.
struct Case {
    /// The directory under `tests/fixtures/corpus`.
    fixture: &'static str,
    /// The command; a first word `@NAME` is a tool the test command installed (see [`tool`]).
    command: &'static [&'static str],
    profile: &'static str,
    /// Text of the failure's detail: on the terminal and in the block.
    detail: &'static str,
    /// Where the failure points, relative to the fixture (the workspace).
    file: &'static str,
    line: u32,
    /// Seconds within which earlyexit must have ended: well before the fixture's slow part
    /// (8 s for most, a minute for Maven, whose JVM alone takes seconds to start).
    stopped_within: u64,
}

/// The path of a tool the test command installed: `pytest` in its Python venv, `tsc`, `jest`,
/// `vitest` and `eslint` in its npm prefix.
fn tool(name: &str) -> PathBuf {
    let installed = |variable: &str| {
        PathBuf::from(std::env::var(variable).unwrap_or_else(|_| {
            panic!("{variable}: run the suite through tests/install-and-run.sh")
        }))
    };
    match name {
        "@pytest" => installed("EARLYEXIT_TEST_PYTHON").with_file_name("pytest"),
        "@tsc" | "@jest" | "@vitest" | "@eslint" => {
            installed("EARLYEXIT_TEST_NODE_BIN").join(&name[1..])
        }
        other => PathBuf::from(other),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn check(case: &Case) {
    let home = Home::new();
    let workspace = home.dir.join("workspace");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/corpus")
            .join(case.fixture),
        &workspace,
    );
    let json = home.dir.join("run.json");
    let summary = home.dir.join("summary.md");
    let program = tool(case.command[0]);
    // The test's HOME is new: rustup and cargo are found through the real one.
    let real_home = PathBuf::from(std::env::var("HOME").unwrap_or_default());
    let rustup_home =
        std::env::var_os("RUSTUP_HOME").unwrap_or_else(|| real_home.join(".rustup").into());
    let cargo_home =
        std::env::var_os("CARGO_HOME").unwrap_or_else(|| real_home.join(".cargo").into());
    let mut args = vec![
        "--json-file",
        json.to_str().unwrap(),
        "--",
        program.to_str().unwrap(),
    ];
    args.extend(&case.command[1..]);
    let run = run(home
        .earlyexit(&args)
        .current_dir(&workspace)
        .env("GITHUB_ACTIONS", "true")
        .env("CI", "true")
        .env("GITHUB_WORKSPACE", &workspace)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("RUSTUP_HOME", rustup_home)
        .env("CARGO_HOME", cargo_home)
        .env("CARGO_TARGET_DIR", home.dir.join("target"))
        .env("CARGO_NET_OFFLINE", "true")
        .env("GOCACHE", home.dir.join("go-cache"))
        .env("GOPATH", home.dir.join("go"))
        .env("GOFLAGS", "-count=1")
        .env("NO_COLOR", "1"));
    let name = case.fixture;
    let terminal = format!("{}{}", run.stdout_text(), run.stderr_text());
    assert_ne!(run.code, 0, "{name}: {terminal}");
    assert!(
        run.stderr_text()
            .contains(&format!("earlyexit: profile {} (", case.profile)),
        "{name}: {terminal}"
    );
    assert!(
        terminal.contains(case.detail),
        "{name}: the detail: {terminal}"
    );
    assert!(
        run.elapsed < Duration::from_secs(case.stopped_within),
        "{name}: not stopped early ({:?}): {terminal}",
        run.elapsed
    );

    let summary_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(summary_json["outcome"], "failure", "{name}: {summary_json}");
    assert_eq!(summary_json["profile"], case.profile, "{name}");
    let deciding = summary_json["matches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m.get("block").is_some())
        .unwrap_or_else(|| panic!("{name}: no block in {summary_json}"));
    let block: Vec<&str> = deciding["block"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap_or_default())
        .collect();
    assert!(
        block.join("\n").contains(case.detail),
        "{name}: the block {block:#?}"
    );
    assert_eq!(
        (
            deciding["location"]["file"].as_str(),
            deciding["location"]["line"].as_u64()
        ),
        (Some(case.file), Some(u64::from(case.line))),
        "{name}: {deciding}"
    );
    let after_match = summary_json["duration_seconds"].as_f64().unwrap()
        - summary_json["statistics"]["time_to_first_match"]
            .as_f64()
            .unwrap();
    assert!(
        after_match < 2.0,
        "{name}: {after_match} s from the match to the end"
    );
    assert!(
        run.stdout_text()
            .contains(&format!("::error file={},line={},", case.file, case.line)),
        "{name}: {}",
        run.stdout_text()
    );
    assert_eq!(
        home.query("SELECT outcome FROM executions"),
        [["failure"]],
        "{name}"
    );
}

macro_rules! corpus {
    ($($test:ident: $case:expr;)+) => {$(
        #[test]
        #[ignore = "needs the corpus's tools (cargo, python3, pytest, node, tsc, jest, vitest, eslint, go, make, javac, mvn): run tests/install-and-run.sh"]
        fn $test() {
            check(&$case);
        }
    )+};
}

corpus! {
    cargo_test_a_failing_assertion_among_slow_tests: Case {
        fixture: "rust-test",
        command: &["cargo", "test", "--offline"],
        profile: "cargo-test",
        detail: "left: 0\n right: 80",
        file: "src/lib.rs",
        line: 11,
        stopped_within: 8,
    };
    cargo_build_a_type_error: Case {
        fixture: "rust-build",
        command: &["cargo", "build", "--offline"],
        profile: "rustc",
        detail: "expected `u16`, found `&str`",
        file: "src/lib.rs",
        line: 2,
        stopped_within: 8,
    };
    cargo_clippy_a_type_error: Case {
        fixture: "rust-build",
        command: &["cargo", "clippy", "--offline"],
        profile: "rustc",
        detail: "expected `u16`, found `&str`",
        file: "src/lib.rs",
        line: 2,
        stopped_within: 8,
    };
    pytest_a_failing_assertion_before_slow_tests: Case {
        fixture: "pytest",
        command: &["@pytest", "-p", "no:cacheprovider"],
        profile: "pytest",
        detail: "E       assert 8080 == 5432",
        file: "test_config.py",
        line: 13,
        stopped_within: 8,
    };
    a_python_traceback: Case {
        fixture: "python",
        command: &["python3", "service.py"],
        profile: "python",
        detail: "KeyError: 'port'",
        file: "service.py",
        line: 6,
        stopped_within: 8,
    };
    node_test_a_failing_assertion: Case {
        fixture: "node-test",
        command: &["node", "--test"],
        profile: "node-test",
        detail: "10 !== 5",
        file: "cart.test.js",
        line: 9,
        stopped_within: 8,
    };
    jest_a_failing_expectation: Case {
        fixture: "jest",
        command: &["@jest", "--ci"],
        profile: "jest",
        detail: "Received: 10",
        file: "cart.test.js",
        line: 8,
        stopped_within: 8,
    };
    // vitest prints failures when the whole run ends: the profile saves the detail, not time.
    vitest_a_failing_expectation: Case {
        fixture: "vitest",
        command: &["@vitest", "run"],
        profile: "jest",
        detail: "AssertionError: expected 10 to be 5",
        file: "cart.test.js",
        line: 9,
        stopped_within: 30,
    };
    tsc_a_type_error: Case {
        fixture: "tsc",
        command: &["@tsc", "--noEmit", "--strict", "cart.ts"],
        profile: "tsc",
        detail: "error TS2322: Type 'number' is not assignable to type 'string'.",
        file: "cart.ts",
        line: 7,
        stopped_within: 8,
    };
    eslint_an_undefined_name: Case {
        fixture: "eslint",
        command: &["@eslint", "."],
        profile: "eslint",
        detail: "'quantity' is not defined  no-undef",
        file: "cart.js",
        line: 2,
        stopped_within: 8,
    };
    go_test_without_v: Case {
        fixture: "go",
        command: &["go", "test", "./..."],
        profile: "go-test",
        detail: "Peek(0) = \"b\", want \"a\"",
        file: "queue/queue_test.go",
        line: 13,
        stopped_within: 8,
    };
    go_test_with_v: Case {
        fixture: "go",
        command: &["go", "test", "-v", "./..."],
        profile: "go-test",
        detail: "Peek(0) = \"b\", want \"a\"",
        file: "queue/queue_test.go",
        line: 13,
        stopped_within: 8,
    };
    gcc_through_make: Case {
        fixture: "make",
        command: &["make", "-k"],
        profile: "gcc",
        detail: "main.c:4:16: error: initialization of",
        file: "main.c",
        line: 4,
        stopped_within: 8,
    };
    javac_a_type_error: Case {
        fixture: "java",
        command: &["javac", "Inventory.java"],
        profile: "java",
        detail: "error: incompatible types: Integer cannot be converted to String",
        file: "Inventory.java",
        line: 7,
        stopped_within: 8,
    };
    maven_a_compile_error: Case {
        fixture: "maven-build",
        command: &["mvn", "compile"],
        profile: "java",
        detail: "incompatible types: int cannot be converted to java.lang.String",
        file: "src/main/java/shop/Cart.java",
        line: 5,
        stopped_within: 30,
    };
    maven_a_failing_junit_test_before_a_slow_one: Case {
        fixture: "maven-test",
        command: &["mvn", "test"],
        profile: "java",
        detail: "java.lang.AssertionError: expected:<10> but was:<7>",
        file: "src/test/java/shop/CartTest.java",
        line: 10,
        stopped_within: 30,
    };
}

/// The block travels on the deciding match's span event: its text and where it points
/// (`code.file.path`, `code.line.number`), and the span names the profile.
#[test]
#[ignore = "needs python3: run tests/install-and-run.sh"]
fn the_span_event_carries_the_block_and_its_location() {
    let home = Home::new();
    let workspace = home.dir.join("workspace");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus/python"),
        &workspace,
    );
    let run = run(home
        .earlyexit(&["--", "python3", "service.py"])
        .current_dir(&workspace)
        .env("GITHUB_WORKSPACE", &workspace)
        .env("OTEL_TRACES_EXPORTER", "console"));
    assert_eq!(run.code, 1);
    let stderr = run.stderr_text();
    for expected in [
        "earlyexit.profile: python\n",
        "earlyexit.match.block: Traceback (most recent call last):\n",
        "KeyError: 'port'\n",
        "code.file.path: service.py\n",
        "code.line.number: 6\n",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in\n{stderr}");
    }
}

/// A profile whose tool prints a failure's detail in parts holds the context past a pause
/// until the detail's last line (libtest's `note:`), and says it waited; without the profile
/// the pause ends the run before the assertion arrives.
#[test]
fn a_profile_waits_past_a_pause_for_the_rest_of_the_detail() {
    let script = "echo \"thread 'x' panicked at src/lib.rs:3:5:\" >&2; sleep 1.2; \
                  echo 'assertion failed: left == right' >&2; \
                  echo 'note: run with `RUST_BACKTRACE=1`' >&2; sleep 20; echo never";
    let held = run(&mut earlyexit(&[
        "--profile",
        "cargo-test",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(held.code, 1, "{}", held.stderr_text());
    let stderr = held.stderr_text();
    assert!(
        stderr.contains("assertion failed: left == right\nnote: run with"),
        "{stderr}"
    );
    assert!(
        stderr.contains("earlyexit: waited past a pause for the end of the failure's detail (profile cargo-test)\n"),
        "{stderr}"
    );
    assert!(held.elapsed < Duration::from_secs(8), "{:?}", held.elapsed);
    let plain = run(&mut earlyexit(&[
        "--profile",
        "none",
        "panicked at",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(plain.code, 1);
    assert!(
        !plain.stderr_text().contains("assertion failed"),
        "{}",
        plain.stderr_text()
    );
    assert!(!plain.stderr_text().contains("waited"));
}

/// libtest writes `... FAILED` on stdout and the panic on stderr; when the FAILED line is
/// read first (a loaded machine), the block still starts at the panic, the hold still waits
/// for its `note:` past a pause, and the location is the panic's.
#[test]
fn a_panic_read_after_its_failed_line_is_still_the_block() {
    let script = "echo 'running 2 tests'; echo 'test tests::a ... FAILED'; sleep 0.1; \
                  echo \"thread 'tests::a' panicked at src/lib.rs:11:9:\" >&2; sleep 1.2; \
                  echo 'assertion failed: left == right' >&2; \
                  echo 'note: run with `RUST_BACKTRACE=1`' >&2; sleep 20; echo never";
    let held = run(&mut earlyexit(&[
        "--json",
        "--profile",
        "cargo-test",
        "--",
        "sh",
        "-c",
        script,
    ]));
    assert_eq!(held.code, 1, "{}", held.stderr_text());
    let stdout = held.stdout_text();
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    let deciding = &summary["matches"][0];
    assert_eq!(
        deciding["block"],
        serde_json::json!([
            "test tests::a ... FAILED",
            "thread 'tests::a' panicked at src/lib.rs:11:9:",
            "assertion failed: left == right",
            "note: run with `RUST_BACKTRACE=1`"
        ]),
        "{summary}"
    );
    assert_eq!(deciding["location"]["line"], 11, "{summary}");
    assert!(held.elapsed < Duration::from_secs(8), "{:?}", held.elapsed);
}
