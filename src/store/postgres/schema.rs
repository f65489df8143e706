//! The PostgreSQL schema, as the migrations that build it: the SQLite store's tables, in
//! PostgreSQL's types.

use crate::store::schema::settle_outcomes;

/// Each entry upgrades the schema by one version. Append only.
pub const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE executions (
    execution_id         TEXT PRIMARY KEY,
    timestamp            TEXT NOT NULL,
    trace_id             TEXT NOT NULL,
    span_id              TEXT NOT NULL,
    parent_span_id       TEXT,
    command_hash         TEXT NOT NULL,
    executable           TEXT,
    pattern              TEXT,
    exit_code            BIGINT NOT NULL,
    exit_reason          TEXT NOT NULL,
    command_exit_code    BIGINT,
    total_runtime        DOUBLE PRECISION NOT NULL,
    time_to_first_output DOUBLE PRECISION,
    time_to_first_match  DOUBLE PRECISION,
    match_count          BIGINT NOT NULL,
    lines_processed      BIGINT NOT NULL,
    bytes_processed      BIGINT NOT NULL,
    project_type         TEXT NOT NULL,
    command_category     TEXT NOT NULL,
    ci_system            TEXT,
    pipeline_name        TEXT,
    pipeline_run_id      TEXT,
    anonymized           BOOLEAN NOT NULL,
    command              TEXT,
    working_directory    TEXT,
    pipeline_run_url     TEXT,
    vcs_ref              TEXT,
    vcs_revision         TEXT,
    vcs_repository_url   TEXT,
    stopped_command      BOOLEAN,
    outcome              TEXT,
    task_name            TEXT,
    UNIQUE (trace_id, span_id)
);
CREATE INDEX executions_by_timestamp ON executions (timestamp);
CREATE TABLE match_events (
    execution_id     TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
    match_number     BIGINT NOT NULL,
    timestamp_offset DOUBLE PRECISION NOT NULL,
    stream_source    TEXT NOT NULL,
    line_number      BIGINT NOT NULL,
    match_kind       TEXT NOT NULL,
    line_content     TEXT,
    PRIMARY KEY (execution_id, match_number)
);
CREATE TABLE running (
    execution_id TEXT PRIMARY KEY,
    trace_id     TEXT NOT NULL,
    span_id      TEXT NOT NULL,
    started      TEXT NOT NULL,
    last_seen    BIGINT NOT NULL,
    match_count  BIGINT NOT NULL DEFAULT 0,
    span         TEXT NOT NULL
);
CREATE TABLE api_keys (
    name    TEXT PRIMARY KEY,
    hash    TEXT NOT NULL UNIQUE,
    role    TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT
);
",
    r#"
-- Timestamps are RFC 3339 in UTC, ordered byte by byte: the C collation sorts them without
-- the locale's rules, which the report's sort over a period's runs pays for on every row.
ALTER TABLE executions ALTER COLUMN timestamp TYPE TEXT COLLATE "C";
"#,
    concat!(
        "-- The kept report figures (store::report): a run is queued for them by a trigger on every
-- insert that stores it, and folded once.
",
        report_tables!(),
        "CREATE FUNCTION earlyexit_queue_to_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO unfolded (execution_id) SELECT execution_id FROM stored;
    RETURN NULL;
END $$;
CREATE TRIGGER executions_to_fold AFTER INSERT ON executions
    REFERENCING NEW TABLE AS stored FOR EACH STATEMENT EXECUTE FUNCTION earlyexit_queue_to_fold();
INSERT INTO unfolded (execution_id) SELECT execution_id FROM executions;
"
    ),
    concat!(
        "-- Runs are folded a day at a time (see report::fold_pending).
ALTER TABLE unfolded ADD COLUMN day TEXT NOT NULL DEFAULT '';
UPDATE unfolded SET day = ",
        run_day!("e.timestamp"),
        " FROM executions e WHERE e.execution_id = unfolded.execution_id;
ALTER TABLE unfolded DROP CONSTRAINT unfolded_pkey, ADD PRIMARY KEY (day, execution_id);
CREATE OR REPLACE FUNCTION earlyexit_queue_to_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO unfolded (execution_id, day) SELECT execution_id, ",
        run_day!("timestamp"),
        " FROM stored;
    RETURN NULL;
END $$;
"
    ),
    // A run's outcome is a fact of the run, never of the exit-code mode; the kept figures are
    // made again from the settled outcomes.
    concat!(settle_outcomes!(), fold_again!()),
    // Trace and span ids are a second key only when a run has them: other clients of the
    // HTTP API send runs without, each its own run by its execution id.
    r"
ALTER TABLE executions DROP CONSTRAINT executions_trace_id_span_id_key;
CREATE UNIQUE INDEX executions_by_span ON executions (trace_id, span_id) WHERE trace_id <> '';
",
    // The kept figures carry what `/api/v1/stats` counts (`analysis::stats`): made again.
    fold_again!(),
    alert_tables!(),
    // Where each failing command stands on the page (`queries::Streak`): read per command.
    "CREATE INDEX IF NOT EXISTS executions_by_command ON executions (command_hash, timestamp);",
];
