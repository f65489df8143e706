//! The team store's tables that SQLite and PostgreSQL share word for word, as text the
//! migrations of both (`team`, `postgres::schema`) are built from: the kept report figures
//! and the alerts. Macros, so that `concat!` can join them into each migration's one string.

/// The team store's tables of kept report figures (`report`), the same on SQLite and
/// PostgreSQL: the migrations of both (`team`, `postgres::schema`) are built from this text.
macro_rules! report_tables {
    () => {
        concat!(
            "
CREATE TABLE report_groups (
    day     TEXT NOT NULL,
    dims    TEXT NOT NULL,
    figures TEXT NOT NULL,
    PRIMARY KEY (day, dims)
);
",
            revision_table!("report_revisions", "command_hash, revision"),
            revision_table!(
                "report_revisions_by_group",
                "command_hash, revision, branch, repository, ci_system"
            ),
            "CREATE TABLE unfolded (execution_id TEXT PRIMARY KEY);
"
        )
    };
}

/// The team store's tables of alerts (`alerts`), the same on SQLite and PostgreSQL: each
/// watched command's state on each branch, and the messages waiting to be posted.
macro_rules! alert_tables {
    () => {
        "CREATE TABLE IF NOT EXISTS alert_states (
    command_hash    TEXT NOT NULL,
    branch          TEXT NOT NULL,
    repository      TEXT NOT NULL,
    failing         BIGINT NOT NULL,
    last_run_at     TEXT NOT NULL,
    revision        TEXT NOT NULL,
    revision_passed BIGINT NOT NULL,
    revision_failed BIGINT NOT NULL,
    PRIMARY KEY (command_hash, branch, repository)
);
CREATE TABLE IF NOT EXISTS notifications (
    id       TEXT PRIMARY KEY,
    target   TEXT NOT NULL,
    body     TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    due      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_by_due ON notifications (target, due);
"
    };
}

/// Folds every run again from the start (both team stores), for a migration that changed
/// stored runs: the kept figures are emptied and every run is queued, each with its day.
macro_rules! fold_again {
    () => {
        concat!(
            "DELETE FROM report_groups;
DELETE FROM report_revisions;
DELETE FROM report_revisions_by_group;
DELETE FROM unfolded;
INSERT INTO unfolded (execution_id, day) SELECT execution_id, ",
            run_day!("timestamp"),
            " FROM executions;
"
        )
    };
}

/// The UTC day (`YYYY-MM-DD`) a run started on, from its timestamp column, in SQL that both
/// databases read as `timestamp::day` does.
macro_rules! run_day {
    ($column:literal) => {
        concat!("substr(", $column, ", 1, 10)")
    };
}

/// One table of revisions' runs (see `report::REVISION_TABLES`), keyed by `key`.
macro_rules! revision_table {
    ($name:literal, $key:literal) => {
        concat!(
            "CREATE TABLE ",
            $name,
            " (
    command_hash TEXT NOT NULL,
    revision     TEXT NOT NULL,
    branch       TEXT NOT NULL,
    repository   TEXT NOT NULL,
    ci_system    TEXT NOT NULL,
    label        TEXT NOT NULL,
    passed       BIGINT NOT NULL,
    failed       BIGINT NOT NULL,
    last_day     TEXT NOT NULL,
    PRIMARY KEY (",
            $key,
            ")
);
"
        )
    };
}
