//! OTLP export against a real OpenTelemetry Collector: rotel, from PyPI, started on free
//! loopback ports with its debug dump of received traces on stdout. The tests assert what the
//! collector received. A collector that cannot be installed or started fails the test.

use crate::common::{self, *};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SCRIPT: &str = "echo 'Error one'; echo 'Error two' >&2; exit 3";

fn assert_full_span(span: &DumpedSpan, summary: &serde_json::Value) {
    assert_eq!(span.fields["Name"], "sh");
    assert_eq!(
        span.fields["Kind"], "SPAN_KIND_CLIENT",
        "the CLI conventions' caller span"
    );
    assert_eq!(
        span.fields["Trace ID"],
        summary["trace_id"].as_str().unwrap()
    );
    let a = &span.attributes;
    assert_eq!(a["process.executable.name"], "sh");
    assert_eq!(a["process.exit.code"], "3");
    assert!(a["process.pid"].parse::<u32>().unwrap() > 0);
    assert_eq!(a["earlyexit.exit_code"], "3");
    assert_eq!(a["earlyexit.exit_reason"], "match");
    // PATTERN matched, then the command failed on its own: a failure with the command's code.
    assert_eq!(a["earlyexit.outcome"], "failure");
    assert_eq!(a["cicd.pipeline.task.run.result"], "failure");
    assert_eq!(a["error.type"], "3");
    assert_eq!(a["earlyexit.match_count"], "2");
    assert_eq!(a["earlyexit.pattern"], "Error");
    assert_eq!(a["earlyexit.command_hash"].len(), 64);
    assert!(
        !a.contains_key("process.command_args"),
        "minimal detail on the wire by default"
    );
    assert_eq!(span.events.len(), 2, "{span:?}");
    for (number, event) in span.events.iter().enumerate() {
        assert_eq!(event["Name"], "earlyexit.match");
        assert_eq!(event["earlyexit.match.number"], (number + 1).to_string());
        assert!(event.contains_key("earlyexit.match.offset"));
        assert!(event.contains_key("earlyexit.match.line_number"));
        assert!(!event.contains_key("earlyexit.match.line"));
    }
    let streams: Vec<&str> = span
        .events
        .iter()
        .map(|e| e["log.iostream"].as_str())
        .collect();
    assert!(
        streams.contains(&"stdout") && streams.contains(&"stderr"),
        "{streams:?}"
    );
    let r = &span.resource;
    assert_eq!(r["service.name"], "earlyexit");
    assert_eq!(r["service.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["os.type"], "linux");
    assert!(r.contains_key("host.arch"));
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn grpc_delivers_the_span_with_its_events_and_resource() {
    let collector = Collector::start();
    let home = Home::new();
    let summary = run_otlp(
        &home,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc)],
        &["-m", "2", "Error", "--", "sh", "-c", SCRIPT],
    );
    let span = collector.span(summary["execution_id"].as_str().unwrap());
    assert_full_span(&span, &summary);
    // The command ran to its end and failed: an error, even though the match was found.
    assert_eq!(span.fields["Status code"], "STATUS_CODE_ERROR");
    assert_eq!(span.fields["Status message"], "command exited with 3");
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn http_protobuf_delivers_the_same_span() {
    let collector = Collector::start();
    let home = Home::new();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.http.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ];
    let summary = run_otlp(&home, &env, &["-m", "2", "Error", "--", "sh", "-c", SCRIPT]);
    assert_full_span(
        &collector.span(summary["execution_id"].as_str().unwrap()),
        &summary,
    );
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn an_incoming_traceparent_becomes_the_parent() {
    let collector = Collector::start();
    let home = Home::new();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace}-{parent}-01");
    for endpoint in [
        ("grpc", collector.grpc.as_str()),
        ("http/protobuf", collector.http.as_str()),
    ] {
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.1),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", endpoint.0),
            ("TRACEPARENT", &traceparent),
        ];
        let summary = run_otlp(&home, &env, &["--", "true"]);
        let span = collector.span(summary["execution_id"].as_str().unwrap());
        assert_eq!(span.fields["Trace ID"], trace);
        assert_eq!(span.fields["Parent ID"], parent);
        assert_eq!(span.fields["Name"], "true");
        assert_eq!(span.fields["Status code"], "STATUS_CODE_UNSET");
    }
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn ci_runs_carry_the_registrys_cicd_and_vcs_names_at_their_detail() {
    let collector = Collector::start();
    let home = Home::new();
    let ci = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc.as_str()),
        ("GITLAB_CI", "true"),
        ("CI_PIPELINE_NAME", "nightly"),
        ("CI_PIPELINE_ID", "991"),
        (
            "CI_PIPELINE_URL",
            "https://gitlab.example/team/app/-/pipelines/991",
        ),
        ("CI_COMMIT_REF_NAME", "feature/login"),
        ("CI_COMMIT_SHA", "89abcdef"),
        (
            "CI_PROJECT_URL",
            "https://ci-token:s3cr3t@gitlab.example/team/app",
        ),
    ];
    let minimal = run_otlp(&home, &ci, &["--", "true"]);
    let a = collector
        .span(minimal["execution_id"].as_str().unwrap())
        .attributes;
    assert_eq!(a["earlyexit.ci.system"], "gitlab_ci");
    assert_eq!(a["cicd.pipeline.name"], "nightly");
    assert_eq!(a["cicd.pipeline.run.id"], "991");
    assert_eq!(a["vcs.ref.head.revision"], "89abcdef");
    for full_only in [
        "vcs.ref.head.name",
        "vcs.repository.url.full",
        "cicd.pipeline.run.url.full",
    ] {
        assert!(!a.contains_key(full_only), "{full_only} at minimal detail");
    }
    let full = run_otlp(
        &home,
        &[&ci[..], &[("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full")]].concat(),
        &["--", "true"],
    );
    let a = collector
        .span(full["execution_id"].as_str().unwrap())
        .attributes;
    assert_eq!(a["vcs.ref.head.name"], "feature/login");
    assert_eq!(
        a["vcs.repository.url.full"],
        "https://gitlab.example/team/app"
    );
    assert_eq!(
        a["cicd.pipeline.run.url.full"],
        "https://gitlab.example/team/app/-/pipelines/991"
    );
}

/// Under GitHub Actions, the span nests under the step span that the Collector's GitHub
/// receiver computes (check-run-id scheme), and carries the conventions' CLI, CICD and VCS
/// names. The run, attempt and check run are those of the receiver's own golden fixture.
#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn github_actions_runs_nest_under_the_receivers_step_and_follow_the_conventions() {
    use sha2::{Digest, Sha256};
    let collector = Collector::start();
    let home = Home::new();
    let github = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc.as_str()),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_RUN_ID", "14796710445"),
        ("GITHUB_RUN_ATTEMPT", "13"),
        ("EARLYEXIT_GITHUB_CHECK_RUN_ID", "41546348818"),
        ("EARLYEXIT_GITHUB_STEP_NAME", "Run tests"),
        ("GITHUB_JOB", "build"),
        (
            "GITHUB_REPOSITORY",
            "open-telemetry/opentelemetry-collector-contrib",
        ),
        ("GITHUB_REPOSITORY_OWNER", "open-telemetry"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_REF_TYPE", "branch"),
    ];
    let summary = run_otlp(
        &home,
        &github,
        &[
            "-A",
            "0",
            "FAIL",
            "--",
            "sh",
            "-c",
            "echo 'FAIL test_login'; sleep 5",
        ],
    );
    assert_eq!(summary["exit_code"], 1, "CI mode: PATTERN is an error");
    let span = collector.span(summary["execution_id"].as_str().unwrap());
    let step = Sha256::digest(b"41546348818-Run tests-s");
    let step: String = step[8..16].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(span.fields["Trace ID"], "0b0cff7305ff68eb7d1bb72c7fdbe277");
    assert_eq!(span.fields["Parent ID"], step, "the receiver's step span");
    assert_eq!(span.fields["Kind"], "SPAN_KIND_CLIENT");
    assert_eq!(span.fields["Status code"], "STATUS_CODE_ERROR");
    assert_eq!(
        span.resource["(schema url)"],
        opentelemetry_semantic_conventions::SCHEMA_URL
    );
    let a = &span.attributes;
    for (key, value) in [
        ("error.type", "match"),
        ("cicd.pipeline.task.run.result", "failure"),
        ("cicd.pipeline.task.name", "build"),
        ("vcs.provider.name", "github"),
        ("vcs.ref.head.type", "branch"),
        ("earlyexit.outcome", "failure"),
        ("process.exit.code", "143"),
    ] {
        assert_eq!(a.get(key).map(String::as_str), Some(value), "{key}");
    }
    for full_only in ["vcs.repository.name", "vcs.owner.name"] {
        assert!(!a.contains_key(full_only), "{full_only} at minimal detail");
    }
    let full = run_otlp(
        &home,
        &[
            &github[..],
            &[("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full")],
        ]
        .concat(),
        &["--", "true"],
    );
    let span = collector.span(full["execution_id"].as_str().unwrap());
    let a = &span.attributes;
    assert_eq!(a["vcs.repository.name"], "opentelemetry-collector-contrib");
    assert_eq!(a["vcs.owner.name"], "open-telemetry");
    assert_eq!(a["cicd.pipeline.task.run.result"], "success");
    assert_eq!(span.fields["Status code"], "STATUS_CODE_UNSET");
    assert!(!a.contains_key("error.type"));
}

/// `test-http` and `send-test` check the configured remote, OTLP included, over both protocols.
#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn test_http_and_send_test_check_an_otlp_collector() {
    let collector = Collector::start();
    let home = Home::new();
    for (protocol, endpoint) in [
        ("grpc", collector.grpc.as_str()),
        ("http/protobuf", collector.http.as_str()),
    ] {
        let otlp = |words: &[&str]| {
            let mut command = home.earlyexit(words);
            command
                .env("EARLYEXIT_TELEMETRY_BACKEND", "otlp")
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol);
            run(&mut command)
        };
        let checked = otlp(&["telemetry", "test-http"]);
        assert_eq!(checked.code, 0, "{protocol}: {}", checked.stderr_text());
        assert!(
            checked
                .stdout_text()
                .contains(": reachable, an empty export accepted in "),
            "{}",
            checked.stdout_text()
        );
        let sent = otlp(&["telemetry", "send-test"]);
        assert_eq!(sent.code, 0, "{protocol}: {}", sent.stderr_text());
        let text = sent.stdout_text();
        let execution_id = text
            .split("(execution ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("{text}"));
        let span = collector.span(execution_id);
        assert_eq!(span.attributes["earlyexit.test"], "true");
        assert_eq!(span.attributes["earlyexit.outcome"], "success");
        assert_eq!(span.fields["Name"], "earlyexit-send-test");
    }
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let refused = run(home
        .earlyexit(&["telemetry", "test-http"])
        .env("EARLYEXIT_TELEMETRY_BACKEND", "otlp")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &closed)
        .env("EARLYEXIT_TELEMETRY_OTLP_TIMEOUT", "2s"));
    assert_eq!(refused.code, 1, "{}", refused.stderr_text());
    assert_eq!(
        refused.stderr_text().lines().count(),
        1,
        "{}",
        refused.stderr_text()
    );
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn service_name_and_resource_attributes_from_the_environment() {
    let collector = Collector::start();
    let home = Home::new();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc.as_str()),
        ("OTEL_SERVICE_NAME", "ci-jobs"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=staging,service.name=loses,team=a%2Cb%3Dc",
        ),
    ];
    let summary = run_otlp(&home, &env, &["--", "true"]);
    let span = collector.span(summary["execution_id"].as_str().unwrap());
    assert_eq!(
        span.resource["service.name"], "ci-jobs",
        "OTEL_SERVICE_NAME wins"
    );
    assert_eq!(span.resource["deployment.environment"], "staging");
    assert_eq!(span.resource["team"], "a,b=c", "values are percent-decoded");
    // A malformed entry discards the whole variable, with one warning.
    let malformed = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc.as_str()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=qa,garbage,deployment.environment=x",
        ),
    ];
    let mut command = home.earlyexit(&["--json", "--telemetry-backend", "otlp", "--", "true"]);
    for (name, value) in malformed {
        command.env(name, value);
    }
    let run = crate::common::run(&mut command);
    assert_eq!(run.code, 0);
    let warnings: Vec<String> = run
        .stderr_text()
        .lines()
        .filter(|line| line.contains("OTEL_RESOURCE_ATTRIBUTES"))
        .map(str::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr_text());
    assert!(warnings[0].contains("'garbage'"), "{warnings:?}");
    let span = collector.span(run.json()["execution_id"].as_str().unwrap());
    assert_eq!(span.resource["service.name"], "earlyexit");
    assert!(!span.resource.contains_key("team"), "{:?}", span.resource);
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn a_timeout_is_an_error_status() {
    let collector = Collector::start();
    let home = Home::new();
    let mut command = home.earlyexit(&[
        "--json",
        "--telemetry-backend",
        "otlp",
        "-t",
        "0.3",
        "--",
        "sleep",
        "5",
    ]);
    command.env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc);
    let run = run(&mut command);
    assert_eq!(run.code, 2);
    let span = collector.span(run.json()["execution_id"].as_str().unwrap());
    assert_eq!(span.fields["Status code"], "STATUS_CODE_ERROR");
    assert!(
        span.fields["Status message"].starts_with("timeout"),
        "{:?}",
        span.fields
    );
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn the_traces_endpoint_beats_the_generic_one_which_beats_the_config() {
    let collector = Collector::start();
    let home = Home::new();
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    home.write_config(&format!(
        "telemetry:\n  otlp:\n    endpoint: {nowhere}\n    protocol: http/protobuf\n"
    ));
    // The environment's protocol and endpoint win over the file's.
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ];
    let summary = run_otlp(&home, &env, &["--", "true"]);
    collector.span(summary["execution_id"].as_str().unwrap());
    // The traces-specific endpoint wins over the generic one.
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", nowhere.as_str()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            collector.grpc.as_str(),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ];
    let summary = run_otlp(&home, &env, &["--", "true"]);
    collector.span(summary["execution_id"].as_str().unwrap());
    // The file alone is used when nothing overrides it.
    home.write_config(&format!(
        "telemetry:\n  otlp:\n    endpoint: {}\n    protocol: http/protobuf\n",
        collector.http
    ));
    let summary = run_otlp(&home, &[], &["--", "true"]);
    collector.span(summary["execution_id"].as_str().unwrap());
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn otel_traces_exporter_none_sends_nothing() {
    let collector = Collector::start();
    let home = Home::new();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc.as_str()),
        ("OTEL_TRACES_EXPORTER", "none"),
    ];
    let summary = run_otlp(&home, &env, &["--", "true"]);
    collector.never_received(&[summary["execution_id"].as_str().unwrap().to_string()]);
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn hybrid_with_an_otlp_remote_keeps_sqlite_and_sends_the_span() {
    let collector = Collector::start();
    let home = Home::new();
    home.write_config("telemetry:\n  backend: hybrid\n  hybrid:\n    remote_backend: otlp\n");
    let mut command = home.earlyexit(&["--json", "--", "true"]);
    command.env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc);
    let run = run(&mut command);
    assert_eq!(run.stderr_text(), "");
    let id = run.json()["execution_id"].as_str().unwrap().to_string();
    collector.span(&id);
    assert_eq!(home.query("SELECT execution_id FROM executions"), [[id]]);
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn hybrid_runs_while_the_collector_is_down_arrive_with_sync_as_the_same_spans() {
    let home = Home::new();
    home.write_config("telemetry:\n  backend: hybrid\n  hybrid:\n    remote_backend: otlp\n");
    let down = format!("http://127.0.0.1:{}", closed_port());
    for _ in 0..5 {
        let run = run(home
            .earlyexit(&["-A", "0", "Error", "--", "sh", "-c", SCRIPT])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &down));
        // The match (1) or the command's own failure (3), whichever came first.
        assert!([1, 3].contains(&run.code), "{}", run.code);
        assert!(
            run.stderr_text().contains("(1 run(s) kept in the outbox)")
                || run.stderr_text().contains("run(s) kept in the outbox"),
            "{}",
            run.stderr_text()
        );
    }
    assert_eq!(
        home.query("SELECT count(*) FROM outbox WHERE remote = 'otlp'"),
        [["5"]]
    );
    let collector = Collector::start();
    let sync = run(home
        .earlyexit(&["telemetry", "sync"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    assert_eq!(
        sync.stdout_text(),
        format!("sent 5 run(s) to OTLP {}; 0 left\n", collector.grpc)
    );
    let recorded = home.query("SELECT execution_id, trace_id, span_id FROM executions");
    assert_eq!(recorded.len(), 5);
    for row in &recorded {
        let span = collector.span(&row[0]);
        assert_eq!(span.fields["Trace ID"], row[1]);
        assert_eq!(span.fields["ID"], row[2]);
        assert_eq!(
            span.events.len(),
            1,
            "the match event comes along: {span:?}"
        );
        assert_eq!(span.resource["service.name"], "earlyexit");
    }
    assert_eq!(collector.span_count(), 5);
}

#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn otel_traces_exporter_otlp_selects_the_collector() {
    let collector = Collector::start();
    let home = Home::new();
    let run = run(home
        .earlyexit(&["--json", "--", "true"])
        .env("OTEL_TRACES_EXPORTER", "otlp")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc));
    assert_eq!(run.stderr_text(), "");
    let id = run.json()["execution_id"].as_str().unwrap().to_string();
    collector.span(&id);
    assert_eq!(
        home.query("SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM outbox)"),
        [["0", "0"]],
        "the otlp backend keeps no local history"
    );
    let status = common::run(
        home.earlyexit(&["telemetry", "status"])
            .env("OTEL_TRACES_EXPORTER", "otlp"),
    );
    assert!(
        status
            .stdout_text()
            .lines()
            .any(|line| line.starts_with("  telemetry.backend")
                && line.contains("otlp")
                && line.contains("$OTEL_TRACES_EXPORTER")),
        "{}",
        status.stdout_text()
    );
}

fn deadline_case(endpoint: &str, protocol: &str, timeout_ms: &str) -> Run {
    let home = Home::new();
    let mut command = home.earlyexit(&[
        "--telemetry-backend",
        "otlp",
        "-A",
        "0",
        "x",
        "--",
        "sh",
        "-c",
        "echo x; exit 0",
    ]);
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", timeout_ms);
    run(&mut command)
}

#[test]
fn a_collector_that_refuses_connections_costs_one_line_and_little_time() {
    for protocol in ["grpc", "http/protobuf"] {
        let run = deadline_case(
            &format!("http://127.0.0.1:{}", closed_port()),
            protocol,
            "2000",
        );
        assert_eq!(run.code, 1);
        assert_eq!(run.stdout_text(), "x\n");
        let stderr = run.stderr_text();
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("telemetry")).collect();
        assert_eq!(warnings.len(), 1, "{protocol}: {}", run.stderr_text());
        assert!(
            warnings[0].starts_with("earlyexit: telemetry not recorded: otlp: "),
            "{}",
            warnings[0]
        );
        assert!(
            run.elapsed < Duration::from_secs(1),
            "{protocol}: {:?}",
            run.elapsed
        );
    }
}

#[test]
fn a_collector_that_never_answers_costs_at_most_the_timeout() {
    let silent = SilentServer::start();
    let endpoint = format!("http://127.0.0.1:{}", silent.port);
    for protocol in ["grpc", "http/protobuf"] {
        let run = deadline_case(&endpoint, protocol, "1000");
        assert_eq!(run.code, 1);
        assert!(
            run.elapsed < Duration::from_millis(2500),
            "{protocol}: {:?}",
            run.elapsed
        );
        let warnings = run
            .stderr_text()
            .lines()
            .filter(|l| l.contains("telemetry not recorded"))
            .count();
        assert_eq!(warnings, 1, "{protocol}: {}", run.stderr_text());
    }
}

/// Runs over https with both protocols, `trust` naming a file that holds the test CA, and
/// asserts that the collector received each run's span.
fn assert_delivered_over_https(trust: &str) {
    let collector = Collector::start();
    let front = TlsFront::start(&collector);
    let home = Home::new();
    let ca = front.ca();
    for (endpoint, protocol) in front.endpoints() {
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            (trust, ca.as_str()),
        ];
        let summary = run_otlp(&home, &env, &["-m", "2", "Error", "--", "sh", "-c", SCRIPT]);
        assert_full_span(
            &collector.span(summary["execution_id"].as_str().unwrap()),
            &summary,
        );
    }
}

#[test]
#[ignore = "needs nginx, openssl, rotel (an OTLP collector): run tests/install-and-run.sh"]
fn https_with_a_private_ca_from_otel_exporter_otlp_certificate() {
    assert_delivered_over_https("OTEL_EXPORTER_OTLP_CERTIFICATE");
}

#[test]
#[ignore = "needs nginx, openssl, rotel (an OTLP collector): run tests/install-and-run.sh"]
fn https_with_the_systems_roots() {
    // SSL_CERT_FILE names the system's store for OpenSSL and for rustls-native-certs alike;
    // here it holds only the test CA.
    assert_delivered_over_https("SSL_CERT_FILE");
}

#[test]
#[ignore = "needs nginx, openssl, rotel (an OTLP collector): run tests/install-and-run.sh"]
fn https_with_an_unknown_ca_costs_one_line_and_sends_nothing() {
    let collector = Collector::start();
    let front = TlsFront::start(&collector);
    let home = Home::new();
    let mut sent = Vec::new();
    for (endpoint, protocol) in front.endpoints() {
        let mut command = home.earlyexit(&[
            "--json",
            "--telemetry-backend",
            "otlp",
            "-A",
            "0",
            "hello",
            "--",
            "echo",
            "hello",
        ]);
        command.envs([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ]);
        let run = run(&mut command);
        assert_eq!(run.code, 1, "the exit code is the run's");
        sent.push(run.json()["execution_id"].as_str().unwrap().to_string());
        let stderr = run.stderr_text();
        let warnings: Vec<_> = stderr
            .lines()
            .filter(|l| l.contains("telemetry not recorded"))
            .collect();
        assert_eq!(warnings.len(), 1, "{protocol}: {stderr}");
        assert!(warnings[0].contains(endpoint), "{stderr}");
    }
    collector.never_received(&sent);
}

/// `SPAN_KIND_INTERNAL` → `Internal`, `STATUS_CODE_ERROR` → `Error`: the exporter's spelling.
fn exporter_word(dumped: &str, prefix: &str) -> String {
    let word = dumped
        .strip_prefix(prefix)
        .unwrap_or(dumped)
        .to_ascii_lowercase();
    let mut letters = word.chars();
    letters
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + letters.as_str())
        .unwrap_or_default()
}

/// A span the collector received, as the ClickHouse check reads it.
fn span_json(span: &DumpedSpan) -> serde_json::Value {
    let events: Vec<serde_json::Value> = span
        .events
        .iter()
        .map(|event| {
            let attributes: BTreeMap<&String, &String> = event
                .iter()
                .filter(|(key, _)| {
                    !["Name", "Timestamp", "DroppedAttributesCount"].contains(&key.as_str())
                })
                .collect();
            serde_json::json!({
                "name": event["Name"],
                "time": event["Timestamp"],
                "attributes": attributes,
            })
        })
        .collect();
    serde_json::json!({
        "trace_id": span.fields["Trace ID"],
        "span_id": span.fields["ID"],
        "parent_span_id": span.fields["Parent ID"],
        "name": span.fields["Name"],
        "kind": exporter_word(&span.fields["Kind"], "SPAN_KIND_"),
        "start": span.fields["Start time"],
        "end": span.fields["End time"],
        "status_code": exporter_word(&span.fields["Status code"], "STATUS_CODE_"),
        "status_message": span.fields["Status message"],
        "attributes": span.attributes,
        "resource": span.resource,
        "events": events,
    })
}

/// The Python with chdb that tests/install-and-run.sh installs (`$EARLYEXIT_TEST_PYTHON`).
fn chdb_python() -> PathBuf {
    let python = std::env::var("EARLYEXIT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        });
    assert!(
        python.exists(),
        "{} is missing: run the tests with tests/install-and-run.sh (it installs chdb)",
        python.display()
    );
    python
}

/// Runs tests/clickhouse_check.py with these queries; its answers, or its error.
fn clickhouse_answers(
    dir: &Path,
    queries: &Path,
    export: &[u8],
    spans: &serde_json::Value,
) -> Result<Vec<Vec<serde_json::Value>>, String> {
    let sql = Path::new(env!("CARGO_MANIFEST_DIR")).join("collector-config/clickhouse");
    std::fs::write(dir.join("export.jsonl"), export).unwrap();
    std::fs::write(dir.join("spans.json"), spans.to_string()).unwrap();
    let output = Command::new(chdb_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clickhouse_check.py"))
        .arg(sql.join("schema.sql"))
        .arg(sql.join("otel_traces.sql"))
        .arg(queries)
        .arg(dir.join("export.jsonl"))
        .arg(dir.join("spans.json"))
        .output()
        .expect("python runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&output.stdout).expect("the answers are JSON"))
}

#[test]
#[ignore = "needs chdb, rotel (an OTLP collector): run tests/install-and-run.sh"]
fn the_shipped_clickhouse_sql_answers_what_the_runs_did() {
    let collector = Collector::start();
    let home = Home::new();
    home.write_config("telemetry:\n  backend: hybrid\n  hybrid:\n    remote_backend: otlp\n");
    let earlyexit = |args: &[&str], nap: &str| {
        let run = run(home
            .earlyexit(args)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc)
            .env("NAP", nap));
        assert!(
            !run.stderr_text().contains("telemetry"),
            "{}",
            run.stderr_text()
        );
        run
    };
    // Two runs stopped at their match; two runs of another command that time out and one of
    // it that ends by itself.
    for _ in 0..2 {
        earlyexit(
            &["-A", "0", "Error", "--", "sh", "-c", "echo Error; sleep 5"],
            "0",
        );
    }
    let napping = ["NEVER", "--", "sh", "-c", "sleep ${NAP}"];
    for _ in 0..2 {
        let timed_out = earlyexit(&[&["-t", "0.3"][..], &napping].concat(), "5");
        assert_eq!(timed_out.code, 2);
    }
    earlyexit(&napping, "0");

    let recorded = home.query("SELECT execution_id, total_runtime FROM executions");
    assert_eq!(recorded.len(), 5);
    let spans: Vec<serde_json::Value> = recorded
        .iter()
        .map(|row| span_json(&collector.span(&row[0])))
        .collect();
    let export = run(&mut home.earlyexit(&["telemetry", "export"])).stdout;
    let queries =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("collector-config/clickhouse/queries.sql");
    let answers = clickhouse_answers(&home.dir, &queries, &export, &serde_json::json!(spans))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(answers.len(), 8, "every query of queries.sql answered");

    let slowest: f64 = recorded
        .iter()
        .map(|row| row[1].parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    // 1. Failure rate: both runs stopped at their error failed; the napping command failed
    // two runs of three.
    for answer in [&answers[0], &answers[1]] {
        assert_eq!(answer.len(), 2, "{answer:?}");
        assert_eq!(answer[0]["executable"], "sh");
        assert_eq!(answer[0]["runs"].to_string().trim_matches('"'), "2");
        assert_eq!(answer[0]["failure_rate"], 1.0, "{answer:?}");
        assert_eq!(answer[1]["runs"].to_string().trim_matches('"'), "3");
        assert_eq!(answer[1]["failure_rate"], 0.667, "{answer:?}");
    }
    // 2. p95 run time by project type: the five runs, near the slowest (the timeouts).
    for answer in [&answers[2], &answers[3]] {
        assert_eq!(answer.len(), 1, "{answer:?}");
        assert_eq!(answer[0]["project_type"], "unknown");
        assert_eq!(answer[0]["runs"].to_string().trim_matches('"'), "5");
        let p95 = answer[0]["p95_seconds"].as_f64().unwrap();
        assert!(
            (p95 - slowest).abs() <= 0.02,
            "p95 {p95} against slowest {slowest}"
        );
    }
    // 3. Top patterns: Error, matched once in each of two runs.
    assert_eq!(answers[4].len(), 1, "{:?}", answers[4]);
    assert_eq!(answers[4][0]["pattern"], "Error");
    assert_eq!(answers[4][0]["matches"].to_string().trim_matches('"'), "2");
    assert_eq!(answers[5].len(), 1, "{:?}", answers[5]);
    assert_eq!(answers[5][0]["pattern"], "Error");
    assert_eq!(answers[5][0]["matches"].to_string().trim_matches('"'), "2");
    // 4. Slowest runs this week: all five, a timeout first.
    for answer in [&answers[6], &answers[7]] {
        assert_eq!(answer.len(), 5, "{answer:?}");
        assert_eq!(answer[0]["exit_reason"], "timeout", "{answer:?}");
        assert_eq!(answer[0]["outcome"], "timeout", "{answer:?}");
    }

    // A broken query fails the check, naming it.
    let broken = home.dir.join("broken.sql");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&queries)
            .unwrap()
            .replacen("total_runtime", "total_run_time", 1),
    )
    .unwrap();
    let error = clickhouse_answers(&home.dir, &broken, &export, &serde_json::json!(spans))
        .expect_err("a query on a missing column fails");
    assert!(error.contains("total_run_time"), "{error}");
}

/// Runs `true` with the HTTP API backend behind the front; the lines it printed on stderr.
fn run_http_api(home: &Home, url: &str, env: &[(&str, String)]) -> String {
    let mut command = home.earlyexit(&["--telemetry-backend", "http", "--", "true"]);
    command
        .env("EARLYEXIT_TELEMETRY_ENDPOINT", url)
        .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let run = run(&mut command);
    assert_eq!(run.code, 0);
    run.stderr_text()
}

#[test]
#[ignore = "needs nginx, openssl, rotel (an OTLP collector): run tests/install-and-run.sh"]
fn the_http_api_over_https_trusts_a_private_ca_and_ssl_cert_file_and_nothing_else() {
    let collector = Collector::start();
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let front = TlsFront::start_with(&collector, Some(&receiver), false);
    let url = front.api.clone().unwrap();
    for trust in ["EARLYEXIT_TELEMETRY_HTTP_CA_FILE", "SSL_CERT_FILE"] {
        let stderr = run_http_api(&home, &url, &[(trust, front.ca())]);
        assert_eq!(stderr, "", "{trust}");
    }
    assert_eq!(receiver.execution_count(), 2);
    let untrusted = run_http_api(&home, &url, &[]);
    assert_eq!(untrusted.lines().count(), 1, "{untrusted}");
    assert!(
        untrusted.starts_with("earlyexit: telemetry not recorded: http: ")
            && untrusted.contains("(1 run(s) kept in the outbox)"),
        "{untrusted}"
    );
    assert_eq!(receiver.execution_count(), 2);
}

#[test]
#[ignore = "needs nginx, openssl, rotel (an OTLP collector): run tests/install-and-run.sh"]
fn mtls_is_accepted_with_a_client_certificate_and_refused_in_one_line_without() {
    let collector = Collector::start();
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let front = TlsFront::start_with(&collector, Some(&receiver), true);
    for (endpoint, protocol) in front.endpoints() {
        let base = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_string()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_string()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", front.ca()),
        ];
        let identity = [
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                front.file("client.pem"),
            ),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", front.file("client.key")),
        ];
        let mut with = home.earlyexit(&["--json", "--telemetry-backend", "otlp", "--", "true"]);
        with.envs(base.iter().chain(&identity).map(|(k, v)| (*k, v.as_str())));
        let accepted = run(&mut with);
        assert_eq!(accepted.stderr_text(), "", "{protocol}");
        collector.span(accepted.json()["execution_id"].as_str().unwrap());

        let mut without = home.earlyexit(&["--json", "--telemetry-backend", "otlp", "--", "true"]);
        without.envs(base.iter().map(|(k, v)| (*k, v.as_str())));
        let refused = run(&mut without);
        let stderr = refused.stderr_text();
        assert_eq!(stderr.lines().count(), 1, "{protocol}: {stderr}");
        assert!(
            stderr.starts_with("earlyexit: telemetry not recorded: otlp: "),
            "{protocol}: {stderr}"
        );
        let id = refused.json()["execution_id"].as_str().unwrap().to_string();
        collector.never_received(&[id]);
    }
    let url = front.api.clone().unwrap();
    let ca = ("EARLYEXIT_TELEMETRY_HTTP_CA_FILE", front.ca());
    let accepted = run_http_api(
        &home,
        &url,
        &[
            ca.clone(),
            (
                "EARLYEXIT_TELEMETRY_HTTP_CLIENT_CERT",
                front.file("client.pem"),
            ),
            (
                "EARLYEXIT_TELEMETRY_HTTP_CLIENT_KEY",
                front.file("client.key"),
            ),
        ],
    );
    assert_eq!(accepted, "");
    assert_eq!(receiver.execution_count(), 1);
    let refused = run_http_api(&home, &url, &[ca]);
    assert_eq!(refused.lines().count(), 1, "{refused}");
    assert!(
        refused.starts_with("earlyexit: telemetry not recorded: http: "),
        "{refused}"
    );
    assert_eq!(receiver.execution_count(), 1);
}

/// With a match already sent live, a collector that never answers still costs one timeout in
/// all at exit, not one for the live records and another for the span.
#[test]
fn a_silent_collector_after_a_live_match_costs_one_timeout() {
    let silent = SilentServer::start();
    let home = Home::new();
    let run = run(home
        .earlyexit(&[
            "--telemetry-backend",
            "otlp",
            "-A",
            "0",
            "ERROR",
            "--",
            "sh",
            "-c",
            "sleep 0.3; echo ERROR; sleep 5",
        ])
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{}", silent.port),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    assert!(
        run.elapsed < Duration::from_millis(2200),
        "{:?}: the match at 0.3 s, then one timeout of 1 s",
        run.elapsed
    );
}
