//! The typed reads behind `telemetry stats|export|report`: each takes the period's start and
//! returns values, so the commands never see SQL.

use std::time::SystemTime;

use rusqlite::{params, params_from_iter, OptionalExtension, Params, Row};

use super::rows::{execution_from_row, EXECUTION_COLUMNS};
use super::schema::legacy_outcome;
use super::{Store, StoreError};
use crate::numbers::percentile;
use crate::outcome::{ExitReason, Outcome, UnknownName};
use crate::recording::record::{MatchRecord, RunRecord};

/// One run, as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRun {
    pub execution_id: String,
    pub command_hash: String,
    pub label: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub outcome: Outcome,
    /// `None` for a name this build does not know; with `stopped_command`, what the time-saved
    /// estimate makes of the run.
    pub exit_reason: Option<ExitReason>,
    pub stopped_command: Option<bool>,
    pub runtime: f64,
    pub time_to_first_match: Option<f64>,
    pub pattern: Option<String>,
    pub match_count: i64,
    /// The branch or tag built (full detail only), the repository and the commit.
    pub branch: Option<String>,
    pub repository: Option<String>,
    pub revision: Option<String>,
    /// The CI system, or `None` for a run on a workstation.
    pub ci_system: Option<String>,
    /// The first matched line, as stored (full detail only).
    pub first_line: Option<String>,
    pub project_type: Option<String>,
    /// Its CI job's page (full detail only).
    pub run_url: Option<String>,
}

/// One run, as the estimate sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunTiming {
    pub command_hash: String,
    /// The command as the database holds it: its text at full detail, else the executable
    /// and the start of the hash.
    pub label: String,
    /// `None` for a name this build does not know (a newer client's, through a receiver).
    pub exit_reason: Option<ExitReason>,
    pub stopped_command: Option<bool>,
    pub runtime: f64,
    pub in_period: bool,
}

/// What `telemetry stats` shows of a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    pub runs: i64,
    pub match_events: i64,
    pub by_outcome: Vec<Tally>,
    pub by_exit_reason: Vec<Tally>,
    pub by_project_type: Vec<Tally>,
    pub runtime_p50: Option<f64>,
    pub runtime_p95: Option<f64>,
    pub top_patterns: Vec<Tally>,
    pub top_commands: Vec<Tally>,
}

/// How many of the period's runs have this value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tally {
    pub value: String,
    pub count: i64,
}

/// A run's outcome; a row written without one (by hand, or by a tool of its own) gets it from
/// what it kept, as the migration gave older rows theirs.
macro_rules! outcome_column {
    () => {
        concat!("coalesce(outcome, ", legacy_outcome!(), ")")
    };
}
/// A run's outcome, as stored or made from what older versions stored.
pub(super) const OUTCOME_COLUMN: &str = outcome_column!();
const BY_OUTCOME: &str = concat!(
    "SELECT ",
    outcome_column!(),
    ", count(*) AS n FROM runs GROUP BY 1 ORDER BY n DESC, 1"
);
const BY_EXIT_REASON: &str =
    "SELECT exit_reason, count(*) AS n FROM runs GROUP BY 1 ORDER BY n DESC, 1";
const BY_PROJECT_TYPE: &str =
    "SELECT project_type, count(*) AS n FROM runs GROUP BY 1 ORDER BY n DESC, 1";
const TOP_PATTERNS: &str = "SELECT pattern, count(*) AS n FROM runs WHERE pattern IS NOT NULL
    GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10";
/// The command's text where any run of it kept it, else its executable and hash prefix; runs
/// that watched standard input (pipe mode) have neither, and are `stdin`.
const TOP_COMMANDS: &str = "SELECT coalesce(max(command), max(executable) || ' (' || substr(command_hash, 1, 12) || ')', 'stdin'),
    count(*) AS n FROM runs GROUP BY command_hash ORDER BY n DESC, 1 LIMIT 10";

const MATCHES_OF_RUN: &str = "SELECT execution_id, match_number, timestamp_offset, stream_source,
    line_number, match_kind, line_content FROM match_events WHERE execution_id = ?1 ORDER BY match_number";

/// A run's command as the database holds it: its text at full detail, else the executable and
/// the start of the command hash, and `stdin` for a pipe-mode run (the report and the
/// time-saved figures show this).
macro_rules! command_label {
    () => {
        "coalesce(command, executable || ' (' || substr(command_hash, 1, 12) || ')', 'stdin')"
    };
}

/// Every run's command, outcome and duration, marked when it started in the period (`?1`).
pub(super) const RUN_TIMINGS: &str = concat!(
    "SELECT command_hash, ",
    command_label!(),
    ", exit_reason, stopped_command, total_runtime, timestamp >= ?1 FROM executions"
);

/// A run as the report reads it, with its first matched line (matches are numbered from 1).
/// A join, not a subquery per run: PostgreSQL hashes it, which over 100,000 runs took the
/// query from 0.8 s to 0.3 s. Read by [`report_run`].
macro_rules! report_select {
    () => {
        concat!(
            "SELECT e.execution_id, command_hash, ",
            command_label!(),
            ", timestamp, ",
            outcome_column!(),
            ", total_runtime, time_to_first_match, pattern, match_count,
             vcs_ref, vcs_repository_url, vcs_revision, ci_system, m.line_content, exit_reason,
             stopped_command, project_type, pipeline_run_url
             FROM executions e
             LEFT JOIN match_events m ON m.execution_id = e.execution_id AND m.match_number = 1"
        )
    };
}
pub(super) const REPORT_SELECT: &str = report_select!();

/// The runs from `?1` until `?2`, in no order. The report sorts them itself: asked for in
/// time order, SQLite read a month through the timestamp index, one random page per run, and
/// PostgreSQL sorted a million rows on disk.
pub(super) const REPORT_RUNS: &str = concat!(
    report_select!(),
    " WHERE timestamp >= ?1 AND timestamp < ?2"
);

/// Where a command stands on the page's runs: since when it has failed, and when it last
/// passed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Streak {
    /// When it last passed (RFC 3339), if ever.
    pub last_success: Option<String>,
    /// The first failed run after that: when, and its revision. `None` while it passes.
    pub failing_since: Option<(String, Option<String>)>,
}

/// The runs of command `?1` the page's filter keeps: the branch `?2` ('' for none), a
/// repository `LIKE ?3` (a pattern; '' for none), in CI (`?4` true) or not (false); `NULL`
/// keeps any.
const STREAK_RUNS: &str = " FROM executions WHERE command_hash = ?1
    AND (CAST(?2 AS TEXT) IS NULL OR coalesce(vcs_ref, '') = ?2)
    AND (CAST(?3 AS TEXT) IS NULL OR coalesce(vcs_repository_url, '') LIKE ?3 ESCAPE '\\')
    AND (CAST(?4 AS BOOLEAN) IS NULL OR CAST(?4 AS BOOLEAN) = (ci_system IS NOT NULL))";

/// The outcomes `keep` picks, as an SQL list (`'failure', 'timeout'`): the one rule of what
/// failed, in the store's words.
pub(super) fn outcomes_in(keep: impl Fn(Outcome) -> bool) -> String {
    Outcome::ALL
        .into_iter()
        .filter(|outcome| keep(*outcome))
        .map(|outcome| format!("'{}'", outcome.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// When the command last passed.
pub(super) fn last_success_sql() -> String {
    format!(
        "SELECT max(timestamp){STREAK_RUNS} AND {OUTCOME_COLUMN} IN ({})",
        outcomes_in(|outcome| !outcome.is_error())
    )
}

/// Its first failed run after `?5`.
pub(super) fn first_failure_after_sql() -> String {
    format!(
        "SELECT timestamp, vcs_revision{STREAK_RUNS} AND timestamp > ?5
         AND {OUTCOME_COLUMN} IN ({}) ORDER BY timestamp, execution_id LIMIT 1",
        outcomes_in(Outcome::is_failed)
    )
}

/// A row of [`report_select`] as the value.
pub(super) fn report_run(row: &Row<'_>) -> rusqlite::Result<ReportRun> {
    Ok(ReportRun {
        execution_id: row.get(0)?,
        command_hash: row.get(1)?,
        label: row.get(2)?,
        timestamp: row.get(3)?,
        outcome: parsed(row, 4)?,
        runtime: row.get(5)?,
        time_to_first_match: row.get(6)?,
        pattern: row.get(7)?,
        match_count: row.get(8)?,
        branch: row.get(9)?,
        repository: row.get(10)?,
        revision: row.get(11)?,
        ci_system: row.get(12)?,
        first_line: row.get(13)?,
        exit_reason: row.get::<_, String>(14)?.parse().ok(),
        stopped_command: row.get(15)?,
        project_type: row.get(16)?,
        run_url: row.get(17)?,
    })
}

impl Store {
    /// Every row of a query, each made into a value by `map`.
    pub(super) fn rows<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        self.connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_map(params, map)?.collect())
            .map_err(|e| self.error(e))
    }

    /// Where command `hash` stands on the runs of `branch`, a repository `LIKE` `repository`
    /// and in CI or not (see [`Streak`]).
    pub fn streak(
        &self,
        hash: &str,
        branch: Option<&str>,
        repository: Option<&str>,
        in_ci: Option<bool>,
    ) -> Result<Streak, StoreError> {
        let last_success: Option<String> = self
            .connection
            .query_row(
                &last_success_sql(),
                params![hash, branch, repository, in_ci],
                |row| row.get(0),
            )
            .map_err(|e| self.error(e))?;
        let after = last_success.clone().unwrap_or_default();
        let failing_since = self
            .connection
            .query_row(
                &first_failure_after_sql(),
                params![hash, branch, repository, in_ci, after],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        Ok(Streak {
            last_success,
            failing_since,
        })
    }

    /// Runs (with their matches) that started at or after `since`, oldest first.
    pub fn runs_since(&self, since: Option<SystemTime>) -> Result<Vec<RunRecord>, StoreError> {
        let executions = self.rows(
            &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE timestamp >= ?1 ORDER BY timestamp, execution_id"),
            [time_bound(since)],
            execution_from_row,
        )?;
        executions
            .into_iter()
            .map(|execution| {
                let matches = self.rows(MATCHES_OF_RUN, [&execution.execution_id], |row| {
                    Ok(MatchRecord {
                        execution_id: row.get(0)?,
                        match_number: row.get(1)?,
                        timestamp_offset: row.get(2)?,
                        stream_source: row.get(3)?,
                        line_number: row.get(4)?,
                        match_kind: row.get(5)?,
                        line_content: row.get(6)?,
                    })
                })?;
                Ok(RunRecord { execution, matches })
            })
            .collect()
    }

    /// The figures of `telemetry stats` for the runs that started since then.
    pub fn stats(&self, since: Option<SystemTime>) -> Result<Stats, StoreError> {
        let by_outcome = self.tally(BY_OUTCOME, since)?;
        let runtimes = self.runtimes(since)?;
        Ok(Stats {
            runs: by_outcome.iter().map(|tally| tally.count).sum(),
            match_events: self.match_events_count(since)?,
            by_outcome,
            by_exit_reason: self.tally(BY_EXIT_REASON, since)?,
            by_project_type: self.tally(BY_PROJECT_TYPE, since)?,
            runtime_p50: percentile(&runtimes, 0.50),
            runtime_p95: percentile(&runtimes, 0.95),
            top_patterns: self.tally(TOP_PATTERNS, since)?,
            top_commands: self.tally(TOP_COMMANDS, since)?,
        })
    }

    /// Rows of a query whose columns are (label, count). The query reads the runs of the
    /// period from `runs` (see `over_period`).
    fn tally(&self, sql: &str, since: Option<SystemTime>) -> Result<Vec<Tally>, StoreError> {
        let (sql, bound) = over_period(sql, since);
        self.rows(&sql, params_from_iter(bound), |row| {
            Ok(Tally {
                value: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                count: row.get(1)?,
            })
        })
    }

    /// How many match events the period's runs have.
    fn match_events_count(&self, since: Option<SystemTime>) -> Result<i64, StoreError> {
        let (sql, bound) = over_period(
            "SELECT count(*) FROM match_events JOIN runs USING (execution_id)",
            since,
        );
        self.connection
            .query_row(&sql, params_from_iter(bound), |row| row.get(0))
            .map_err(|e| self.error(e))
    }

    /// Every run's command, outcome and duration, marked when it started in the period: what
    /// the time-saved estimate reads (see `savings`).
    pub fn run_timings(&self, since: Option<SystemTime>) -> Result<Vec<RunTiming>, StoreError> {
        self.rows(RUN_TIMINGS, [time_bound(since)], |row| {
            Ok(RunTiming {
                command_hash: row.get(0)?,
                label: row.get(1)?,
                exit_reason: row.get::<_, String>(2)?.parse().ok(),
                stopped_command: row.get(3)?,
                runtime: row.get(4)?,
                in_period: row.get(5)?,
            })
        })
    }

    /// The runs that started from `since` until `until`, in no order, as the report reads
    /// them.
    pub fn report_runs(
        &self,
        since: Option<SystemTime>,
        until: Option<SystemTime>,
    ) -> Result<Vec<ReportRun>, StoreError> {
        if since.is_none() && until.is_none() {
            // Unbounded, so that SQLite scans the table rather than walk the time index (see
            // `over_period`).
            return self.rows(REPORT_SELECT, [], report_run);
        }
        let bounds = [time_bound(since), end_bound(until)];
        self.rows(REPORT_RUNS, bounds, report_run)
    }

    /// The run times in seconds of the period's runs, sorted, for percentiles.
    fn runtimes(&self, since: Option<SystemTime>) -> Result<Vec<f64>, StoreError> {
        let (sql, bound) = over_period("SELECT total_runtime FROM runs ORDER BY 1", since);
        self.rows(&sql, params_from_iter(bound), |row| row.get(0))
    }
}

/// A column that holds an [`Outcome`]'s name; one this build does not know is an error that
/// says which.
fn parsed(row: &Row<'_>, index: usize) -> rusqlite::Result<Outcome> {
    let name: String = row.get(index)?;
    outcome_of(&name).map_err(|error: UnknownName| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, error.into())
    })
}

/// An outcome's stored name, as the type.
pub(super) fn outcome_of(name: &str) -> Result<Outcome, UnknownName> {
    name.parse()
}

/// A period's start as the `timestamp` column spells it; no start is the empty string, which
/// every timestamp follows.
pub(super) fn time_bound(since: Option<SystemTime>) -> String {
    since.map_or_else(String::new, crate::timestamp::millis)
}

/// A period's end as the `timestamp` column spells it; no end is `~`, which every timestamp
/// precedes.
pub(super) fn end_bound(until: Option<SystemTime>) -> String {
    until.map_or_else(|| "~".to_string(), crate::timestamp::millis)
}

/// `sql` with `runs` defined as the runs that started since then, and the value to bind.
/// Without a start, `runs` is the whole table: `timestamp >= ''` would lead SQLite through the
/// time index row by row, which for rows out of time order (a receiver's file fed by many
/// machines) took 0.9 s over 100,000 runs, against 0.2 s for a plain scan.
fn over_period(sql: &str, since: Option<SystemTime>) -> (String, Option<String>) {
    match since {
        None => (
            format!("WITH runs AS (SELECT * FROM executions) {sql}"),
            None,
        ),
        Some(_) => (
            format!("WITH runs AS (SELECT * FROM executions WHERE timestamp >= ?1) {sql}"),
            Some(time_bound(since)),
        ),
    }
}
