//! Retention on a team store (`serve --retention`, `telemetry prune` of a team database): the
//! runs that started before a UTC day are removed a batch at a time, each batch in one short
//! transaction with what the kept figures hold of its runs, so that the page, the JSON, the
//! stats and the panels agree afterwards on the days that remain:
//!
//! - the kept groups of the days before the cut, which are whole days, go with the first batch;
//! - each removed run's part of the revisions' tallies (passed, failed) is taken off, by the
//!   same fold that added it (a run still waiting to be folded was never added, and is only
//!   taken off the queue); a revision left with no runs goes.
//!
//! A batch holds the write lock (SQLite) or the fold's lock (PostgreSQL) for a few
//! milliseconds: runners' writes wait for one batch at most, never for the whole removal.

use std::time::SystemTime;

use rusqlite::{params, TransactionBehavior};

use super::queries::{report_run, REPORT_SELECT};
use super::report::{add_revisions, Fold, StoredRevision, REVISION_TABLES};
use super::{sqlite_error, ReportRun, Store, StoreError};

/// Runs removed in one transaction.
pub const FORGET_BATCH: usize = 1_000;

/// The oldest runs before `?1`, at most `?2`.
pub(super) fn oldest_runs_sql() -> String {
    format!("{REPORT_SELECT} WHERE e.timestamp < ?1 ORDER BY e.timestamp LIMIT ?2")
}
/// The kept groups of the days before `?1`.
pub(super) const FORGET_GROUPS: &str = "DELETE FROM report_groups WHERE day < ?1";
/// Rows of runs in progress that started before `?1`: lost runs, long gone.
pub(super) const FORGET_RUNNING: &str = "DELETE FROM running WHERE started < ?1";

/// A revision's key in `table` and the SQL that deletes the row when it has no runs left.
pub(super) fn forget_empty_revision_sql((table, key): (&str, &str)) -> String {
    let matches: Vec<String> = key
        .split(", ")
        .enumerate()
        .map(|(i, column)| format!("{column} = ?{}", i + 1))
        .collect();
    format!(
        "DELETE FROM {table} WHERE {} AND passed <= 0 AND failed <= 0",
        matches.join(" AND ")
    )
}

/// The values of `table`'s key columns in a revision, in the key's order.
pub(super) fn key_values<'r>((_, key): (&str, &str), r: &'r StoredRevision) -> Vec<&'r str> {
    key.split(", ")
        .map(|column| match column {
            "command_hash" => r.command_hash.as_str(),
            "revision" => &r.revision,
            "branch" => &r.branch,
            "repository" => &r.repository,
            _ => &r.ci_system,
        })
        .collect()
}

/// What removing these folded runs takes off the revisions: their tallies, negated.
pub(super) fn taken_off(
    folded_runs: &[ReportRun],
    mut fold: Box<dyn Fold>,
) -> Result<[Vec<StoredRevision>; 2], String> {
    if folded_runs.is_empty() {
        return Ok([Vec::new(), Vec::new()]);
    }
    fold.take(folded_runs);
    let folded = fold.merge(Vec::new())?;
    let negated = |revisions: Vec<StoredRevision>| -> Vec<StoredRevision> {
        revisions
            .into_iter()
            .map(|r| StoredRevision {
                passed: -r.passed,
                failed: -r.failed,
                ..r
            })
            .collect()
    };
    Ok([
        negated(folded.revisions),
        negated(folded.revisions_by_group),
    ])
}

impl Store {
    /// Removes up to `limit` runs that started before `cutoff` (the start of a UTC day) and
    /// their part of the kept figures, in one transaction; returns how many went.
    pub fn forget_before(
        &mut self,
        cutoff: SystemTime,
        limit: usize,
        fold: Box<dyn Fold>,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let error = |e| sqlite_error(&path, e);
        let cut = crate::timestamp::millis(cutoff);
        let cut_day = crate::timestamp::day(&cut).to_string();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        let runs: Vec<ReportRun> = transaction
            .prepare_cached(&oldest_runs_sql())
            .and_then(|mut statement| {
                statement
                    .query_map(params![cut, limit as i64], report_run)?
                    .collect()
            })
            .map_err(error)?;
        let mut folded = Vec::with_capacity(runs.len());
        {
            let mut unqueue = transaction
                .prepare_cached("DELETE FROM unfolded WHERE execution_id = ?1")
                .map_err(error)?;
            let mut forget = transaction
                .prepare_cached("DELETE FROM executions WHERE execution_id = ?1")
                .map_err(error)?;
            for run in &runs {
                if unqueue.execute([&run.execution_id]).map_err(error)? == 0 {
                    folded.push(run.clone());
                }
                forget.execute([&run.execution_id]).map_err(error)?;
            }
        }
        let figures_error = |message| StoreError::Figures {
            database: path.display().to_string(),
            message,
        };
        let off = taken_off(&folded, fold).map_err(figures_error)?;
        add_revisions(&transaction, [&off[0][..], &off[1][..]]).map_err(error)?;
        for (table, rows) in REVISION_TABLES.into_iter().zip(&off) {
            let mut empty = transaction
                .prepare_cached(&forget_empty_revision_sql(table))
                .map_err(error)?;
            for r in rows {
                empty
                    .execute(rusqlite::params_from_iter(key_values(table, r)))
                    .map_err(error)?;
            }
        }
        transaction
            .execute(FORGET_GROUPS, [&cut_day])
            .map_err(error)?;
        transaction.execute(FORGET_RUNNING, [&cut]).map_err(error)?;
        transaction.commit().map_err(error)?;
        Ok(runs.len())
    }
}
