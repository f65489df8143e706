//! The schema, as the migrations that build it.

/// The outcome of a run recorded without one (before schema 5, or imported from an older
/// file), by today's rule (`Outcome::of`): a match of PATTERN or `-e` is a failure, even
/// fewer than `-m`, and so is a command that failed on its own.
macro_rules! legacy_outcome {
    () => {
        "CASE
    WHEN exit_reason IN ('timeout', 'idle_timeout', 'first_output_timeout') THEN 'timeout'
    WHEN exit_reason = 'interrupted' THEN 'cancelled'
    WHEN exit_reason = 'error' THEN 'error'
    WHEN exit_reason IN ('error_pattern', 'match') THEN 'failure'
    WHEN exit_reason = 'no_match' AND match_count > 0 THEN 'failure'
    WHEN coalesce(command_exit_code, 0) <> 0 THEN 'failure'
    WHEN exit_reason = 'success_pattern' THEN 'stopped_on_success'
    ELSE 'success' END"
    };
}
pub(super) use legacy_outcome;

/// Stored outcomes by today's rule (`Outcome::settled`), for both stores' migrations: earlier
/// builds stored a PATTERN match in grep's mode as `stopped_on_success`, and a run that saw
/// fewer matches than `-m` as `success`.
macro_rules! settle_outcomes {
    () => {
        "UPDATE executions SET outcome = 'failure'
    WHERE (outcome = 'stopped_on_success' AND exit_reason = 'match')
        OR (outcome = 'success' AND exit_reason = 'no_match' AND match_count > 0);
"
    };
}
pub(crate) use settle_outcomes;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Each entry upgrades the schema by one version; `PRAGMA user_version` says how many ran.
/// Append only: never edit a migration that has shipped.
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
    exit_code            INTEGER NOT NULL,
    exit_reason          TEXT NOT NULL,
    command_exit_code    INTEGER,
    total_runtime        REAL NOT NULL,
    time_to_first_output REAL,
    time_to_first_match  REAL,
    match_count          INTEGER NOT NULL,
    lines_processed      INTEGER NOT NULL,
    bytes_processed      INTEGER NOT NULL,
    project_type         TEXT NOT NULL,
    command_category     TEXT NOT NULL,
    ci_system            TEXT,
    pipeline_name        TEXT,
    pipeline_run_id      TEXT,
    anonymized           INTEGER NOT NULL,
    command              TEXT,
    working_directory    TEXT
);
CREATE INDEX executions_by_timestamp ON executions (timestamp);
CREATE INDEX executions_by_command_hash ON executions (command_hash);
CREATE INDEX executions_by_project_type ON executions (project_type, total_runtime);
CREATE INDEX executions_by_exit_reason ON executions (exit_reason);
CREATE INDEX executions_by_pattern ON executions (pattern);
CREATE TABLE match_events (
    id               INTEGER PRIMARY KEY,
    execution_id     TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
    match_number     INTEGER NOT NULL,
    timestamp_offset REAL NOT NULL,
    stream_source    TEXT NOT NULL,
    line_number      INTEGER NOT NULL,
    match_kind       TEXT NOT NULL,
    line_content     TEXT,
    UNIQUE (execution_id, match_number)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
",
    r"
CREATE TABLE outbox (
    execution_id TEXT PRIMARY KEY,
    created      TEXT NOT NULL,
    events       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
",
    // Every index is one more 4 KB page that each run writes to the log and that every open
    // reads back: these four were 4 of a run's 7. The time-range queries (export --since,
    // prune, retention) keep their index. The statistics read every row anyway: over 100,000
    // runs `telemetry stats` takes 0.20 s without these indexes and 0.17 s with them.
    r"
DROP INDEX executions_by_command_hash;
DROP INDEX executions_by_project_type;
DROP INDEX executions_by_exit_reason;
DROP INDEX executions_by_pattern;
",
    // What CI systems tell of the run and the commit (`cicd.pipeline.run.url.full`, `vcs.*`).
    // The outbox of every remote: which remote a row is for (its `events` column holds the
    // HTTP API's envelopes, or for OTLP the stored span), and the claim of the sender that
    // holds it (a token and the wall-clock millisecond when the claim lapses).
    r"
ALTER TABLE outbox ADD COLUMN remote TEXT NOT NULL DEFAULT 'http';
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_by_remote ON outbox (remote, created, execution_id);
ALTER TABLE executions ADD COLUMN pipeline_run_url TEXT;
ALTER TABLE executions ADD COLUMN vcs_ref TEXT;
ALTER TABLE executions ADD COLUMN vcs_revision TEXT;
ALTER TABLE executions ADD COLUMN vcs_repository_url TEXT;
ALTER TABLE executions ADD COLUMN stopped_command INTEGER;
",
    // The run's one outcome (`outcome::Outcome`), and the CI job it ran in. Runs recorded
    // before it get theirs from what they kept.
    concat!(
        "ALTER TABLE executions ADD COLUMN outcome TEXT;
ALTER TABLE executions ADD COLUMN task_name TEXT;
UPDATE executions SET outcome = ",
        legacy_outcome!(),
        ";"
    ),
    // Outbox rows whose payload cannot be read (written by a broken build, or damaged on
    // disk): set aside with the reason, counted in `telemetry status`, never sent, never lost.
    r"
CREATE TABLE outbox_aside (
    execution_id TEXT PRIMARY KEY,
    remote       TEXT NOT NULL,
    created      TEXT NOT NULL,
    events       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    set_aside    TEXT NOT NULL
);
",
    // Runs in progress (`telemetry::live`): the span as it stood at the last heartbeat, so
    // that a run whose earlyexit was killed is closed as lost with its own ids. A run's
    // record deletes its row in the same transaction (`executions` or the outbox).
    r"
CREATE TABLE running (
    execution_id TEXT PRIMARY KEY,
    trace_id     TEXT NOT NULL,
    span_id      TEXT NOT NULL,
    started      TEXT NOT NULL,
    last_seen    INTEGER NOT NULL,
    match_count  INTEGER NOT NULL DEFAULT 0,
    span         TEXT NOT NULL
);
",
    // A run's outcome is a fact of the run, never of the exit-code mode.
    settle_outcomes!(),
];
