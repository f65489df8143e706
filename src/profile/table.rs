//! The built-in profiles, as data. Each was written against the real tool's output (the corpus
//! in `tests/fixtures/corpus` runs them): the line that starts a failure block, what ends it,
//! and where its location is.

use super::{BlockRules, End, Hold, Invocation, Pick, Profile, Variable};

/// A location as `path:line:col` at the start of a line (gcc, clang, go build, rustc's
/// `-->` after its arrow).
const PATH_LINE_COL: &str = r"(?P<file>[^\s:()\[\]]+):(?P<line>\d+):(?P<col>\d+)";

/// Every profile, in the order they are tried: the first that recognises the command applies.
pub static PROFILES: &[Profile] = &[
    Profile {
        name: "cargo-test",
        recognises: "cargo test, cargo nextest",
        invocations: &[Invocation {
            programs: &["cargo"],
            subcommands: &["test", "t", "nextest"],
            with_argument: None,
        }],
        pattern: r"panicked at |^test \S+ \.\.\. FAILED$|^error(\[E\d{4}\])?: ",
        environment: &[
            Variable {
                name: "RUST_TEST_NOCAPTURE",
                value: "1",
                append: false,
            },
            Variable {
                name: "NEXTEST_FAILURE_OUTPUT",
                value: "immediate",
                append: false,
            },
        ],
        block: BlockRules {
            start: Some(
                r"^thread '.*' (\(\d+\) )?panicked at |^error(\[E\d{4}\])?: |^--- STDERR: ",
            ),
            start_within: 20,
            start_after_within: 20,
            ends: &[
                End::Through(r"^note: "),
                End::Before(r"^test \S+ \.\.\. |^(running \d+ tests?|test result: |failures:)"),
                End::BlankLine,
            ],
            locations: &[
                r"panicked at (?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+)",
                r"(?m)^\s*--> (?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+)",
            ],
            pick: Pick::First,
            // A panic's message, values and backtrace end with libtest's `note:` line.
            hold: Some(Hold {
                from: r"panicked at ",
                until: r"^note: ",
            }),
        },
        saves: "libtest keeps a test's output until the binary's summary; RUST_TEST_NOCAPTURE=1 \
                prints the panic, its assertion and its location as it happens",
    },
    Profile {
        name: "rustc",
        recognises: "cargo build, check, clippy, run; rustc",
        invocations: &[
            Invocation {
                programs: &["cargo"],
                subcommands: &[
                    "build", "b", "check", "c", "clippy", "run", "r", "rustc", "doc",
                ],
                with_argument: None,
            },
            Invocation {
                programs: &["rustc", "clippy-driver"],
                subcommands: &[],
                with_argument: None,
            },
        ],
        pattern: r"^error(\[E\d{4}\])?: ",
        environment: &[],
        block: BlockRules {
            start: None,
            start_within: 0,
            start_after_within: 0,
            ends: &[End::BlankLine],
            locations: &[r"(?m)^\s*--> (?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+)"],
            pick: Pick::First,
            hold: None,
        },
        saves: "the error with its source lines, and the file and line from the ` --> ` line \
                under it",
    },
    Profile {
        name: "pytest",
        recognises: "pytest, python -m pytest",
        invocations: &[Invocation {
            programs: &["pytest", "py.test"],
            subcommands: &[],
            with_argument: None,
        }],
        pattern: r"^_{3,} .+ _{3,}$",
        environment: &[Variable {
            name: "PYTEST_ADDOPTS",
            value: "-x",
            append: true,
        }],
        block: BlockRules {
            start: Some(r"^_{3,} .+ _{3,}$"),
            start_within: 40,
            start_after_within: 0,
            ends: &[End::Before(r"^(_{3,} .+ _{3,}|={3,}.*={3,}|!{3,}.*!{3,})$")],
            locations: &[r"(?m)^(?P<file>[^\s:]+\.py):(?P<line>\d+): "],
            pick: Pick::First,
            hold: None,
        },
        saves: "pytest prints tracebacks after the whole suite; -x stops it at the first \
                failure, which it then prints at once",
    },
    Profile {
        name: "python",
        recognises: "python, python3 (a traceback)",
        invocations: &[Invocation {
            programs: &["python", "python3", "python2"],
            subcommands: &[],
            with_argument: None,
        }],
        pattern: r"^Traceback \(most recent call last\):",
        environment: &[],
        block: BlockRules {
            start: Some(r"^Traceback \(most recent call last\):"),
            start_within: 100,
            start_after_within: 0,
            ends: &[End::Through(r"^\S")],
            locations: &[r#"File "(?P<file>[^"]+)", line (?P<line>\d+)"#],
            pick: Pick::Last,
            hold: None,
        },
        saves: "the whole traceback, up to the exception's own line, and the frame that raised it",
    },
    Profile {
        name: "node-test",
        recognises: "node --test",
        invocations: &[Invocation {
            programs: &["node", "nodejs"],
            subcommands: &[],
            with_argument: Some("--test"),
        }],
        pattern: r"^\s*not ok \d+ ",
        environment: &[],
        block: BlockRules {
            start: Some(r"^\s*not ok \d+ "),
            start_within: 0,
            start_after_within: 0,
            ends: &[End::Through(r"^\s*\.\.\.$")],
            locations: &[
                r"\((?:file://)?(?P<file>/[^():]+):(?P<line>\d+):(?P<col>\d+)\)",
                r"location: '(?:file://)?(?P<file>[^':]+):(?P<line>\d+):(?P<col>\d+)'",
            ],
            pick: Pick::First,
            // A TAP failure's YAML ends with its `...` line.
            hold: Some(Hold {
                from: r"^\s*not ok \d+ ",
                until: r"^\s*\.\.\.$",
            }),
        },
        saves: "the failing test's assertion, expected and actual values, and the line of the \
                assertion",
    },
    Profile {
        name: "jest",
        recognises: "jest, vitest",
        invocations: &[Invocation {
            programs: &["jest", "vitest"],
            subcommands: &[],
            with_argument: None,
        }],
        pattern: r"^\s*● |^\s*FAIL\s+\S+ > ",
        environment: &[],
        block: BlockRules {
            start: None,
            start_within: 0,
            start_after_within: 0,
            ends: &[End::Before(
                r"^\s*● |^\s*(PASS|FAIL)\s|^Test Suites: |^Tests?: |^\s*⎯{3,}",
            )],
            locations: &[
                r"at .*\((?P<file>[^()\s:]+):(?P<line>\d+):(?P<col>\d+)\)",
                r"❯ (?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+)",
            ],
            pick: Pick::First,
            hold: None,
        },
        saves: "the failing test's assertion, its source lines and the line of the assertion",
    },
    Profile {
        name: "node",
        recognises: "node (an uncaught exception)",
        invocations: &[Invocation {
            programs: &["node", "nodejs"],
            subcommands: &[],
            with_argument: None,
        }],
        pattern: r"^(\w*Error|Uncaught \w+)(: |$)",
        environment: &[],
        block: BlockRules {
            start: Some(r"^\S+:\d+$"),
            start_within: 6,
            start_after_within: 0,
            ends: &[End::BlankLine],
            locations: &[
                r"\((?P<file>[^()\s:]+):(?P<line>\d+):(?P<col>\d+)\)",
                r"(?m)^(?P<file>/\S+):(?P<line>\d+)$",
            ],
            pick: Pick::First,
            hold: None,
        },
        saves: "the exception with the source line that threw it and its stack",
    },
    Profile {
        name: "go-test",
        recognises: "go test",
        invocations: &[Invocation {
            programs: &["go"],
            subcommands: &["test"],
            with_argument: None,
        }],
        pattern: r"^\s*--- FAIL: |^panic: ",
        environment: &[Variable {
            name: "GOFLAGS",
            value: "-failfast",
            append: true,
        }],
        block: BlockRules {
            // With -v, a test's log comes between its `=== RUN` and its `--- FAIL`.
            start: Some(r"^\s*=== RUN "),
            start_within: 50,
            start_after_within: 0,
            ends: &[End::Before(
                r"^\s*(=== RUN|--- (FAIL|PASS|SKIP):)|^(FAIL|ok|PASS)\b",
            )],
            locations: &[r"(?m)^\s+(?P<file>[\w./-]+\.go):(?P<line>\d+)(:(?P<col>\d+))?"],
            pick: Pick::First,
            hold: None,
        },
        saves: "without -v, go test prints a package's output when the package ends; \
                -failfast ends it at its first failure",
    },
    Profile {
        name: "go-build",
        recognises: "go build, vet, run, install",
        invocations: &[Invocation {
            programs: &["go"],
            subcommands: &["build", "vet", "run", "install"],
            with_argument: None,
        }],
        pattern: r"^\S+\.go:\d+:\d+: ",
        environment: &[],
        block: BlockRules {
            start: Some(r"^# \S+"),
            start_within: 1,
            start_after_within: 0,
            ends: &[End::Before(r"^\S")],
            locations: &[PATH_LINE_COL],
            pick: Pick::First,
            hold: None,
        },
        saves: "the compiler's error with its package and location",
    },
    Profile {
        name: "tsc",
        recognises: "tsc, vue-tsc",
        invocations: &[Invocation {
            programs: &["tsc", "vue-tsc"],
            subcommands: &[],
            with_argument: None,
        }],
        pattern: r"error TS\d+: ",
        environment: &[],
        block: BlockRules {
            start: None,
            start_within: 0,
            start_after_within: 0,
            ends: &[End::Before(r"^\S")],
            locations: &[
                r"^(?P<file>[^\s(]+)\((?P<line>\d+),(?P<col>\d+)\): error",
                r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+) - error",
            ],
            pick: Pick::First,
            hold: None,
        },
        saves: "the type error with its location, from tsc's `file(line,col)`",
    },
    Profile {
        name: "eslint",
        recognises: "eslint",
        invocations: &[Invocation {
            programs: &["eslint"],
            subcommands: &[],
            with_argument: None,
        }],
        pattern: r"^\s+\d+:\d+\s+error\s",
        environment: &[],
        block: BlockRules {
            start: Some(r"^\S"),
            start_within: 50,
            start_after_within: 0,
            ends: &[End::BlankLine, End::Before(r"^\S")],
            locations: &[r"(?m)\A(?P<file>\S+)\n(?:.*\n)*?\s+(?P<line>\d+):(?P<col>\d+)\s+error"],
            pick: Pick::First,
            hold: None,
        },
        saves: "the rule's error with the file it is in, from the file's heading above it",
    },
    Profile {
        name: "gcc",
        recognises: "gcc, g++, clang, cc, make, cmake --build, ninja",
        invocations: &[Invocation {
            programs: &[
                "gcc", "g++", "cc", "c++", "clang", "clang++", "make", "gmake", "cmake", "ninja",
            ],
            subcommands: &[],
            with_argument: None,
        }],
        pattern: r"^[^\s:][^:]*:\d+:\d+: (fatal )?error: |^make(\[\d+\])?: \*\*\* ",
        environment: &[],
        block: BlockRules {
            start: Some(r": In (member )?function |: In instantiation |^In file included from "),
            start_within: 1,
            start_after_within: 0,
            ends: &[End::Before(r"^\S")],
            locations: &[
                r"(?m)^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (fatal )?error",
                PATH_LINE_COL,
            ],
            pick: Pick::First,
            hold: None,
        },
        saves: "the compiler's error with the function it is in and the source lines under it",
    },
    Profile {
        name: "java",
        recognises: "mvn, gradle, javac, java",
        invocations: &[Invocation {
            programs: &["mvn", "mvnw", "gradle", "gradlew", "javac", "java"],
            subcommands: &[],
            with_argument: None,
        }],
        // Maven's compiler errors carry `[line,col]`; a test's own line ends `<<< FAILURE!`
        // (its class's line goes on `- in Class`, and carries no detail); gradle names a
        // failed test `Class > test FAILED`; anything else Maven fails on is `Failed to
        // execute goal`.
        pattern: r"^\[ERROR\] \S+\.java:\[\d+,\d+\] |^\[ERROR\] Failed to execute goal |: error: |^Exception in thread |<<< (FAILURE|ERROR)!$|^\S.* > .* FAILED$",
        environment: &[],
        block: BlockRules {
            start: None,
            start_within: 0,
            start_after_within: 0,
            ends: &[End::BlankLine, End::Before(r"^\[(INFO|ERROR|WARNING)\] ")],
            locations: &[
                r"(?P<file>[^\s\[\]:]+\.java):\[(?P<line>\d+),(?P<col>\d+)\]",
                r"(?P<file>[^\s:]+\.java):(?P<line>\d+): error",
                r"\((?P<file>[\w$]+\.java):(?P<line>\d+)\)",
                r"\bat (?P<file>[\w$]+\.java):(?P<line>\d+)\b",
            ],
            pick: Pick::First,
            hold: None,
        },
        saves: "the compiler's error or the exception with its frames and causes",
    },
];
