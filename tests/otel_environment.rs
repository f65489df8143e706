//! The OpenTelemetry environment as the specification reads it, against a decoding receiver
//! (`earlyexit serve`, behind a front that records every HTTP request; gRPC straight to the
//! server). For every variable, empty, valid and invalid: the command runs and keeps its exit
//! code, at most one warning names the variable, and the spans and the live records go where
//! the specification says.

use std::time::Duration;

use crate::common::receiver::{Receiver, RECEIVER_KEY};
use crate::common::*;

/// Where a signal's export is expected.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Through the front, to this path with this content type.
    Http(&'static str, &'static str),
    /// Over gRPC to the server: the run is stored and the front saw none of it.
    Grpc,
    /// Not at the receiver.
    Nowhere,
    /// Somewhere the test cannot see (live records over gRPC leave no row once the run ends).
    Unseen,
}

struct Case {
    name: &'static str,
    /// `{front}` is the front's base URL, `{direct}` the server's, `{direct_host}` its
    /// `127.0.0.1:PORT`, `{auth}` the header that carries the receiver's key.
    env: &'static [(&'static str, &'static str)],
    warnings: usize,
    traces: Expect,
    logs: Expect,
}

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";
const HTTP_TRACES: Expect = Expect::Http("/v1/traces", PROTOBUF);
const HTTP_LOGS: Expect = Expect::Http("/v1/logs", PROTOBUF);

/// The receiver over HTTP/protobuf, with its key.
const OVER_HTTP: [(&str, &str); 3] = [
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "{front}"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
];

macro_rules! over_http {
    ($($pair:expr),* $(,)?) => {
        &[OVER_HTTP[0], OVER_HTTP[1], OVER_HTTP[2], $($pair),*]
    };
}

const CASES: &[Case] = &[
    Case {
        name: "http/protobuf",
        env: over_http!(),
        warnings: 0,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "http/json",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{front}"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
        ],
        warnings: 0,
        traces: Expect::Http("/v1/traces", JSON),
        logs: Expect::Http("/v1/logs", JSON),
    },
    Case {
        name: "grpc",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{direct}"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
        ],
        warnings: 0,
        traces: Expect::Grpc,
        logs: Expect::Unseen,
    },
    Case {
        name: "an empty protocol is unset: gRPC, the default",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{direct}"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", ""),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
        ],
        warnings: 0,
        traces: Expect::Grpc,
        logs: Expect::Unseen,
    },
    Case {
        name: "an unknown protocol: a warning and gRPC",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{direct}"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
        ],
        warnings: 1,
        traces: Expect::Grpc,
        logs: Expect::Unseen,
    },
    Case {
        name: "an empty endpoint is unset; the traces endpoint is used as it is",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "{front}/v1/traces"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
        ],
        warnings: 0,
        traces: HTTP_TRACES,
        logs: Expect::Nowhere,
    },
    Case {
        name: "a traces endpoint with its own path; the logs follow the generic one",
        env: over_http!((
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "{front}/custom/traces"
        )),
        warnings: 0,
        traces: Expect::Http("/custom/traces", PROTOBUF),
        logs: HTTP_LOGS,
    },
    Case {
        name: "the logs' own endpoint and protocol",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{direct}"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "{front}/v1/logs"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json"),
        ],
        warnings: 0,
        traces: Expect::Grpc,
        logs: Expect::Http("/v1/logs", JSON),
    },
    Case {
        name: "an endpoint without a scheme is gRPC's, plain with insecure",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{direct_host}"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
        ],
        warnings: 0,
        traces: Expect::Grpc,
        logs: Expect::Unseen,
    },
    Case {
        name: "an endpoint without a scheme is https without insecure",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{direct_host}"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
        ],
        warnings: 0,
        traces: Expect::Nowhere,
        logs: Expect::Nowhere,
    },
    Case {
        name: "an endpoint without a scheme over HTTP: a warning",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{front_host}"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "{auth}"),
        ],
        warnings: 1,
        traces: Expect::Nowhere,
        logs: Expect::Nowhere,
    },
    Case {
        name: "an endpoint that is no URL: a warning",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ],
        warnings: 1,
        traces: Expect::Nowhere,
        logs: Expect::Nowhere,
    },
    Case {
        name: "an empty timeout is unset",
        env: over_http!(("OTEL_EXPORTER_OTLP_TIMEOUT", "")),
        warnings: 0,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "a negative timeout: a warning and the default",
        env: over_http!(("OTEL_EXPORTER_OTLP_TIMEOUT", "-1")),
        warnings: 1,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "a timeout of 0 is no limit",
        env: over_http!(("OTEL_EXPORTER_OTLP_TIMEOUT", "0")),
        warnings: 0,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "each signal's timeout",
        env: over_http!(
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "5000"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "abc"),
        ),
        warnings: 1,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "gzip",
        env: over_http!(("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")),
        warnings: 0,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "zstd: a warning and no compression",
        env: over_http!(("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")),
        warnings: 1,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "empty compression is unset",
        env: over_http!(("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "")),
        warnings: 0,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "headers that are not name=value: a warning; each signal's own headers",
        env: &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "{front}"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "garbage"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "{auth}"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "{auth}"),
        ],
        warnings: 1,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "an empty certificate is unset",
        env: over_http!(("OTEL_EXPORTER_OTLP_CERTIFICATE", "")),
        warnings: 0,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "OTEL_LOGS_EXPORTER=none",
        env: over_http!(("OTEL_LOGS_EXPORTER", "none")),
        warnings: 0,
        traces: HTTP_TRACES,
        logs: Expect::Nowhere,
    },
    Case {
        name: "OTEL_TRACES_EXPORTER=none",
        env: over_http!(("OTEL_TRACES_EXPORTER", "none")),
        warnings: 0,
        traces: Expect::Nowhere,
        logs: Expect::Nowhere,
    },
    Case {
        name: "an exporter earlyexit does not have: a warning",
        env: over_http!(("OTEL_TRACES_EXPORTER", "zipkin")),
        warnings: 1,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "empty exporters are unset",
        env: over_http!(("OTEL_TRACES_EXPORTER", ""), ("OTEL_LOGS_EXPORTER", "")),
        warnings: 0,
        traces: HTTP_TRACES,
        logs: HTTP_LOGS,
    },
    Case {
        name: "OTEL_SDK_DISABLED: nothing is sent, the command still runs",
        env: over_http!(
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1")
        ),
        warnings: 1,
        traces: Expect::Nowhere,
        logs: Expect::Nowhere,
    },
];

/// The case's variables with the receiver's addresses in place.
fn variables(case: &Case, receiver: &Receiver) -> Vec<(String, String)> {
    let front = receiver.url.trim_end_matches("/api/v1/events");
    let auth = format!("authorization=Bearer%20{RECEIVER_KEY}");
    case.env
        .iter()
        .map(|(name, value)| {
            let value = value
                .replace("{front_host}", front.trim_start_matches("http://"))
                .replace("{front}", front)
                .replace(
                    "{direct_host}",
                    receiver.direct.trim_start_matches("http://"),
                )
                .replace("{direct}", &receiver.direct)
                .replace("{auth}", &auth);
            (name.to_string(), value)
        })
        .collect()
}

/// Runs one case; returns what was wrong with it, if anything.
fn check(case: &Case, receiver: &Receiver) -> Vec<String> {
    let home = Home::new();
    let summary = home.dir.join("run.json");
    let mut command = home.earlyexit(&[
        "--telemetry-backend",
        "otlp",
        "--json-file",
        summary.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo started; sleep 0.3; exit 3",
    ]);
    for (name, value) in variables(case, receiver) {
        command.env(name, value);
    }
    let run = run(&mut command);
    let mut problems = Vec::new();
    let stderr = run.stderr_text();
    if run.code != 3 || run.stdout_text() != "started\n" {
        problems.push(format!("exit {} and {:?}", run.code, run.stdout_text()));
    }
    let warnings = stderr.lines().filter(|line| line.contains("OTEL_")).count();
    if warnings != case.warnings {
        problems.push(format!("{warnings} warnings, not {}", case.warnings));
    }
    if run.elapsed > Duration::from_secs(10) {
        problems.push(format!("took {:?}", run.elapsed));
    }
    let execution_id = std::fs::read_to_string(&summary)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["execution_id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let requests: Vec<serde_json::Value> = receiver
        .requests()
        .into_iter()
        .filter(|request| {
            // Only the gzip case compresses: its bodies cannot be searched.
            let gzip = request["headers"]["content-encoding"] == "gzip";
            let mine = request["body"]
                .as_str()
                .is_some_and(|body| !execution_id.is_empty() && body.contains(&execution_id));
            mine || (gzip && case.name == "gzip")
        })
        .collect();
    let stored = receiver
        .query(&format!(
            "SELECT count(*) FROM executions WHERE execution_id = '{execution_id}'"
        ))
        .first()
        .is_some_and(|row| row[0] == "1");
    let is_logs = |request: &&serde_json::Value| {
        request["path"]
            .as_str()
            .is_some_and(|path| path.ends_with("logs"))
    };
    let (logs, traces): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        requests.iter().partition(is_logs);
    for (signal, expect, seen) in [("traces", case.traces, &traces), ("logs", case.logs, &logs)] {
        let at = |request: &&serde_json::Value, path: &str, content_type: &str| {
            request["path"] == path && request["headers"]["content-type"] == content_type
        };
        let fine = match expect {
            Expect::Http(path, content_type) => seen.iter().any(|r| at(r, path, content_type)),
            Expect::Grpc => seen.is_empty() && (signal == "logs" || stored),
            Expect::Nowhere => seen.is_empty() && (signal == "logs" || !stored),
            Expect::Unseen => seen.is_empty(),
        };
        if !fine {
            let paths: Vec<String> = seen
                .iter()
                .map(|r| format!("{} {}", r["path"], r["headers"]["content-type"]))
                .collect();
            problems.push(format!(
                "{signal}: expected {expect:?}, front saw {paths:?}, stored {stored}"
            ));
        }
    }
    if !problems.is_empty() {
        problems.insert(0, format!("{}:\n{stderr}", case.name));
    }
    problems
}

#[test]
fn every_otel_variable_empty_valid_and_invalid() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let problems: Vec<String> = std::thread::scope(|scope| {
        let checks: Vec<_> = CASES
            .iter()
            .map(|case| scope.spawn(|| check(case, &receiver)))
            .collect();
        checks
            .into_iter()
            .flat_map(|check| check.join().unwrap())
            .collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `OTEL_PROPAGATORS` without `tracecontext` (or `none`) hands the command no TRACEPARENT of
/// the run and reads none from the environment; with it, both.
#[test]
fn otel_propagators_without_tracecontext_hand_on_and_read_no_traceparent() {
    let home = Home::new();
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for (propagators, propagated) in [
        ("none", false),
        ("b3", false),
        ("tracecontext,baggage", true),
    ] {
        let handed = run(home
            .earlyexit(&["--", "sh", "-c", "echo \"[$TRACEPARENT]\""])
            .env("OTEL_PROPAGATORS", propagators));
        assert_eq!(handed.code, 0, "{}", handed.stderr_text());
        assert_eq!(
            handed.stdout_text().starts_with("[00-"),
            propagated,
            "{propagators}: {}",
            handed.stdout_text()
        );
        let summary = home.dir.join("run.json");
        let read = run(home
            .earlyexit(&["--json-file", summary.to_str().unwrap(), "--", "true"])
            .env("OTEL_PROPAGATORS", propagators)
            .env("TRACEPARENT", parent));
        assert_eq!(read.code, 0);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        assert_eq!(
            json["trace_id"] == "0af7651916cd43dd8448eb211c80319c",
            propagated,
            "{propagators}: {json}"
        );
    }
}

/// `OTEL_SPAN_EVENT_COUNT_LIMIT` bounds the match events a run keeps; the count is whole.
#[test]
fn the_span_event_count_limit_bounds_the_match_events() {
    let home = Home::new();
    let run = run(home
        .earlyexit(&[
            "-m",
            "1000",
            "ERROR",
            "--",
            "sh",
            "-c",
            "for i in $(seq 300); do echo ERROR $i; done",
        ])
        .env("OTEL_SPAN_EVENT_COUNT_LIMIT", "5"));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    assert_eq!(home.query("SELECT match_count FROM executions"), [["300"]]);
    assert_eq!(home.query("SELECT count(*) FROM match_events"), [["5"]]);
    let bad = run_in(&home, "OTEL_SPAN_EVENT_COUNT_LIMIT", "many");
    assert_eq!(bad.code, 0);
    assert_eq!(
        bad.stderr_text()
            .lines()
            .filter(|line| line.contains("OTEL_SPAN_EVENT_COUNT_LIMIT"))
            .count(),
        1,
        "{}",
        bad.stderr_text()
    );
}

fn run_in(home: &Home, variable: &str, value: &str) -> Run {
    run(home.earlyexit(&["--", "true"]).env(variable, value))
}
