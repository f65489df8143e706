-- Tables for earlyexit's HTTP path (the seed's "Option 2: ClickHouse"): a receiver that accepts
-- POST /api/v1/events (see examples/http_receiver.rs for the reference) inserts one row per
-- `execution` event and one per `match_event` event. Field names are the event envelope's.
CREATE DATABASE IF NOT EXISTS earlyexit;

CREATE TABLE IF NOT EXISTS earlyexit.earlyexit_executions (
    execution_id         String,
    timestamp            DateTime64(3, 'UTC'),
    trace_id             String,
    span_id              String,
    command_hash         String,
    executable           LowCardinality(Nullable(String)),
    pattern              Nullable(String),
    exit_code            UInt8,
    exit_reason          LowCardinality(String),
    outcome              LowCardinality(Nullable(String)),   -- success, failure, timeout …
    command_exit_code    Nullable(Int32),
    total_runtime        Float32,
    time_to_first_output Nullable(Float32),
    time_to_first_match  Nullable(Float32),
    match_count          UInt32,
    stopped_command      Nullable(Bool),
    lines_processed      UInt64,
    bytes_processed      UInt64,
    project_type         LowCardinality(String),
    command_category     LowCardinality(String),
    ci_system            LowCardinality(Nullable(String)),
    pipeline_name        Nullable(String),
    pipeline_run_id      Nullable(String),
    task_name            Nullable(String),
    pipeline_run_url     Nullable(String),
    vcs_ref              Nullable(String),
    vcs_revision         Nullable(String),
    vcs_repository_url   Nullable(String),
    anonymized           Bool
) ENGINE = ReplacingMergeTree   -- a resent execution_id collapses into one row
ORDER BY (timestamp, command_hash, execution_id)
TTL toDateTime(timestamp) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS earlyexit.earlyexit_match_events (
    execution_id     String,
    match_number     UInt32,
    timestamp_offset Float32,
    stream_source    LowCardinality(String),
    line_number      UInt64,
    match_kind       LowCardinality(String)
) ENGINE = ReplacingMergeTree
ORDER BY (execution_id, match_number);
