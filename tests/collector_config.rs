//! The shipped collector configurations take everything earlyexit sends. The contrib
//! collector is not installable here, so `otelcol-contrib.yaml` is checked against the
//! component names and keys of the release it names (v0.162.0: the OTLP receiver, the
//! transform processor with OTTL's `span`, `spanevent` and `log` paths, the ClickHouse
//! exporter and the exporter helper's queue with batching, the debug exporter); rotel, which
//! is, receives a run with live records under `rotel.sh`'s settings.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use saphyr::{LoadableYamlNode, Yaml};

use crate::common::collector::Collector;
use crate::common::*;

fn shipped() -> Yaml<'static> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("collector-config/otelcol-contrib.yaml"),
    )
    .unwrap();
    Yaml::load_from_str(&text).unwrap().remove(0)
}

/// The keys of a mapping.
fn keys(node: &Yaml<'_>) -> Vec<String> {
    node.as_mapping()
        .map(|mapping| {
            mapping
                .keys()
                .filter_map(|key| key.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn at<'a>(node: &'a Yaml<'a>, path: &[&str]) -> &'a Yaml<'a> {
    path.iter().fold(node, |node, key| &node[*key])
}

fn words(node: &Yaml<'_>) -> Vec<String> {
    node.as_sequence()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_within(place: &str, found: &[String], allowed: &[&str]) {
    for key in found {
        assert!(
            allowed.contains(&key.as_str()),
            "{place}: '{key}' is not a key of v0.162.0 ({allowed:?})"
        );
    }
}

#[test]
fn the_contrib_configuration_has_both_pipelines_and_the_releases_keys() {
    let config = shipped();
    assert_eq!(
        keys(&config),
        ["receivers", "processors", "exporters", "service"]
    );
    let pipelines = at(&config, &["service", "pipelines"]);
    assert_eq!(
        keys(pipelines),
        ["traces", "logs"],
        "traces and the live records"
    );
    for signal in ["traces", "logs"] {
        let pipeline = &pipelines[signal];
        assert_eq!(words(&pipeline["receivers"]), ["otlp"]);
        assert_eq!(
            words(&pipeline["processors"]),
            ["transform/strip-free-text"],
            "no batch processor: batching is the exporter's"
        );
        assert_eq!(words(&pipeline["exporters"]), ["clickhouse", "debug"]);
    }
    assert_eq!(
        keys(at(&config, &["receivers", "otlp", "protocols"])),
        ["grpc", "http"]
    );

    let transform = at(&config, &["processors", "transform/strip-free-text"]);
    assert_within(
        "transform",
        &keys(transform),
        &[
            "error_mode",
            "trace_statements",
            "log_statements",
            "metric_statements",
        ],
    );
    let traces = words(&transform["trace_statements"]).join("\n");
    let logs = words(&transform["log_statements"]).join("\n");
    for removed in [
        "earlyexit.match.line",
        "earlyexit.match.block",
        "code.file.path",
    ] {
        assert!(
            traces.contains(&format!("delete_key(spanevent.attributes, \"{removed}\")")),
            "{removed} stays on span events: {traces}"
        );
    }
    for removed in ["process.command_args", "process.working_directory"] {
        assert!(traces.contains(&format!("delete_key(span.attributes, \"{removed}\")")));
        assert!(logs.contains(&format!("delete_key(log.attributes, \"{removed}\")")));
    }
    assert!(
        logs.contains("set(log.body, \"\")"),
        "the matched line is a log body: {logs}"
    );

    let clickhouse = at(&config, &["exporters", "clickhouse"]);
    assert_within(
        "clickhouse",
        &keys(clickhouse),
        &[
            "endpoint",
            "username",
            "password",
            "database",
            "connection_params",
            "create_schema",
            "async_insert",
            "compress",
            "traces_table_name",
            "logs_table_name",
            "metrics_tables",
            "table_engine",
            "cluster_name",
            "ttl",
            "timeout",
            "retry_on_failure",
            "sending_queue",
        ],
    );
    assert_eq!(clickhouse["logs_table_name"].as_str(), Some("otel_logs"));
    assert_eq!(
        clickhouse["traces_table_name"].as_str(),
        Some("otel_traces")
    );
    let queue = &clickhouse["sending_queue"];
    assert_within(
        "sending_queue",
        &keys(queue),
        &[
            "enabled",
            "num_consumers",
            "wait_for_result",
            "block_on_overflow",
            "sizer",
            "queue_size",
            "batch",
            "storage",
        ],
    );
    assert_within(
        "sending_queue.batch",
        &keys(&queue["batch"]),
        &["flush_timeout", "min_size", "max_size", "sizer"],
    );
    assert_eq!(keys(at(&config, &["exporters", "debug"])), ["verbosity"]);
}

/// A run long enough to go live, through rotel with `rotel.sh`'s batching: its span and its
/// start and match records all arrive.
#[test]
#[ignore = "needs rotel (an OTLP collector): run tests/install-and-run.sh"]
fn a_run_with_live_records_reaches_rotel_as_shipped_with_both_signals() {
    let collector = Collector::start_as_shipped();
    let home = Home::new();
    let run = run(home
        .earlyexit(&[
            "--json",
            "--telemetry-backend",
            "otlp",
            "-A",
            "0",
            "ERROR",
            "--",
            "sh",
            "-c",
            "sleep 0.3; echo ERROR here",
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc)
        .stdin(Stdio::null()));
    assert_eq!(run.code, 1, "{}", run.stderr_text());
    let summary = run.json();
    let span = collector.span(summary["execution_id"].as_str().unwrap());
    assert_eq!(span.events.len(), 1);
    let trace_id = summary["trace_id"].as_str().unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let names: Vec<String> = collector
            .logs()
            .into_iter()
            .filter(|log| log.fields.get("Trace ID").map(String::as_str) == Some(trace_id))
            .filter_map(|log| log.fields.get("EventName").cloned())
            .collect();
        if names.iter().any(|n| n == "earlyexit.run.start")
            && names.iter().any(|n| n == "earlyexit.match")
        {
            break;
        }
        assert!(Instant::now() < until, "the live records: {names:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
