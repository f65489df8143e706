//! The team store's kept report figures: runs folded per day into groups as they arrive, so
//! that the report over a million runs reads a few thousand rows instead of the runs.
//!
//! A stored run is queued in `unfolded` by a trigger (on either database, whatever wrote it),
//! and taken from there in the same transaction that adds it to `report_groups` and
//! `report_revisions`: a run is counted once, even with several servers folding. What a group
//! holds is `analysis`'s business; here it is text, merged by the caller's `fold`.
//!
//! The queue is taken a day at a time, earliest first: a fold rewrites every group its runs
//! fall in, and runs imported over 25 days taken in no order made each fold of 2,000 runs
//! rewrite about 1,200 groups, where one day's are a few dozen.

use std::time::SystemTime;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::queries::{outcomes_in, report_run, time_bound, OUTCOME_COLUMN, REPORT_SELECT};
use super::{sqlite_error, ReportRun, Store, StoreError};
use crate::outcome::Outcome;

/// One day of one group, as stored: its dimensions and figures are JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGroup {
    pub day: String,
    pub dims: String,
    pub figures: String,
}

/// A command's runs on one revision: over all its runs (`branch`, `repository` and
/// `ci_system` empty), or over one group's. Empty is none.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRevision {
    pub command_hash: String,
    pub revision: String,
    pub branch: String,
    pub repository: String,
    pub ci_system: String,
    pub label: String,
    pub passed: i64,
    pub failed: i64,
    pub last_day: String,
}

/// What a fold writes: the groups as they now are, and what to add to the revisions, whole
/// and by group.
#[derive(Debug, Default)]
pub struct Folded {
    pub groups: Vec<StoredGroup>,
    pub revisions: Vec<StoredRevision>,
    pub revisions_by_group: Vec<StoredRevision>,
}

/// How runs are folded into the kept groups, in two steps so that the store reads only the
/// groups the runs fall in: `take` folds the runs and names those groups (day and dims), and
/// `merge` adds them to what the store keeps of them (an error says which it could not read).
pub trait Fold: Send {
    fn take(&mut self, runs: &[ReportRun]) -> Vec<(String, String)>;
    fn merge(self: Box<Self>, stored: Vec<StoredGroup>) -> Result<Folded, String>;
}

pub(super) const ALL_GROUPS: &str = "SELECT day, dims, figures FROM report_groups";
/// What storing a group over one already kept does: the fold merged them.
pub(super) const GROUP_CONFLICT: &str =
    "ON CONFLICT (day, dims) DO UPDATE SET figures = excluded.figures";
/// The columns of both revision tables, in [`StoredRevision`]'s order.
pub(super) const REVISION_COLUMNS: &str =
    "command_hash, revision, branch, repository, ci_system, label, passed, failed, last_day";
/// The revision tables and their keys: whole revisions, which an unfiltered page reads, and
/// revisions by group, which a page filtered by branch or repository reads.
pub(super) const REVISION_TABLES: [(&str, &str); 2] = [
    ("report_revisions", "command_hash, revision"),
    (
        "report_revisions_by_group",
        "command_hash, revision, branch, repository, ci_system",
    ),
];

/// Adds `values` (rows in [`REVISION_COLUMNS`]'s order) to what `table` keeps under `key`.
pub(super) fn add_revisions_sql((table, key): (&str, &str), values: &str) -> String {
    format!(
        "INSERT INTO {table} ({REVISION_COLUMNS}) {values} ON CONFLICT ({key}) DO UPDATE SET
            passed = {table}.passed + excluded.passed,
            failed = {table}.failed + excluded.failed,
            label = CASE WHEN excluded.label > {table}.label
                THEN excluded.label ELSE {table}.label END,
            last_day = CASE WHEN excluded.last_day > {table}.last_day
                THEN excluded.last_day ELSE {table}.last_day END"
    )
}

/// The revisions that can be flaky on a page of the days since `?1`: run on one of them, and
/// both passed and failed. Whole, for a page without a branch or repository filter.
pub(super) const FLAKY_REVISIONS: &str = "SELECT command_hash, revision, branch, repository,
    ci_system, label, passed, failed, last_day FROM report_revisions
    WHERE last_day >= ?1 AND passed > 0 AND failed > 0";
/// The same by group, on the branch `?2` and in a repository `LIKE ?3` (either `NULL`: any):
/// the page's filter then decides which groups count.
pub(super) const FLAKY_REVISIONS_BY_GROUP: &str = "SELECT g.command_hash, g.revision, g.branch,
    g.repository, g.ci_system, g.label, g.passed, g.failed, g.last_day
    FROM report_revisions_by_group g
    JOIN report_revisions w ON w.command_hash = g.command_hash AND w.revision = g.revision
    WHERE w.last_day >= ?1 AND w.passed > 0 AND w.failed > 0
    AND (CAST(?2 AS TEXT) IS NULL OR g.branch = ?2)
    AND (CAST(?3 AS TEXT) IS NULL OR g.repository LIKE ?3 ESCAPE '\\')";

/// The failed runs since `?1`, newest first, `?2` from `?3` on.
pub(super) fn latest_failed_sql() -> String {
    format!(
        "{REPORT_SELECT} WHERE timestamp >= ?1 AND {} IN ({})
         ORDER BY timestamp DESC, e.execution_id DESC LIMIT ?2 OFFSET ?3",
        OUTCOME_COLUMN,
        outcomes_in(Outcome::is_failed)
    )
}

/// Adds each table's rows (in [`REVISION_TABLES`]' order) to what it keeps: a fold's tallies,
/// or retention's taken off.
pub(super) fn add_revisions(
    transaction: &rusqlite::Transaction,
    tables: [&[StoredRevision]; 2],
) -> rusqlite::Result<()> {
    for (table, rows) in REVISION_TABLES.into_iter().zip(tables) {
        let values = "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
        let mut add = transaction.prepare_cached(&add_revisions_sql(table, values))?;
        for r in rows {
            add.execute(params![
                r.command_hash,
                r.revision,
                r.branch,
                r.repository,
                r.ci_system,
                r.label,
                r.passed,
                r.failed,
                r.last_day
            ])?;
        }
    }
    Ok(())
}

pub(super) fn group_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredGroup> {
    Ok(StoredGroup {
        day: row.get(0)?,
        dims: row.get(1)?,
        figures: row.get(2)?,
    })
}

fn revision_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRevision> {
    Ok(StoredRevision {
        command_hash: row.get(0)?,
        revision: row.get(1)?,
        branch: row.get(2)?,
        repository: row.get(3)?,
        ci_system: row.get(4)?,
        label: row.get(5)?,
        passed: row.get(6)?,
        failed: row.get(7)?,
        last_day: row.get(8)?,
    })
}

impl Store {
    /// Folds up to `limit` of the runs not yet folded into the kept figures, in one
    /// transaction; returns how many it folded (0: none were waiting).
    pub fn fold_pending(
        &mut self,
        limit: usize,
        mut fold: Box<dyn Fold>,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let error = |e| sqlite_error(&path, e);
        // Read and merged without the write lock, which runners' writes wait for (a fold over
        // a thousand groups took over their 2 s in a debug build); written under it only if no
        // other fold changed what was read meanwhile.
        let taken = format!(
            "{REPORT_SELECT} JOIN (SELECT execution_id FROM unfolded ORDER BY day, execution_id
             LIMIT ?1) p ON p.execution_id = e.execution_id"
        );
        let runs: Vec<ReportRun> = self.rows(&taken, [limit as i64], report_run)?;
        if runs.is_empty() {
            return Ok(0);
        }
        let keys = fold.take(&runs);
        let figures_of = "SELECT figures FROM report_groups WHERE day = ?1 AND dims = ?2";
        let read = |connection: &rusqlite::Connection| -> rusqlite::Result<Vec<Option<String>>> {
            let mut statement = connection.prepare_cached(figures_of)?;
            keys.iter()
                .map(|(day, dims)| {
                    statement
                        .query_row([day, dims], |row| row.get(0))
                        .optional()
                })
                .collect()
        };
        let before = read(&self.connection).map_err(error)?;
        let stored = keys
            .iter()
            .zip(&before)
            .filter_map(|((day, dims), figures)| {
                Some(StoredGroup {
                    day: day.clone(),
                    dims: dims.clone(),
                    figures: figures.clone()?,
                })
            })
            .collect();
        let figures_error = |message| StoreError::Figures {
            database: path.display().to_string(),
            message,
        };
        let folded = fold.merge(stored).map_err(figures_error)?;
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        let changed =
            || figures_error("another fold changed them meanwhile; folded again next time".into());
        if read(&transaction).map_err(error)? != before {
            return Err(changed());
        }
        {
            let mut done = transaction
                .prepare_cached("DELETE FROM unfolded WHERE execution_id = ?1")
                .map_err(error)?;
            for run in &runs {
                if done.execute([&run.execution_id]).map_err(error)? == 0 {
                    return Err(changed());
                }
            }
            let put = format!(
                "INSERT INTO report_groups (day, dims, figures) VALUES (?1, ?2, ?3) {GROUP_CONFLICT}"
            );
            let mut put = transaction.prepare_cached(&put).map_err(error)?;
            for group in &folded.groups {
                put.execute(params![group.day, group.dims, group.figures])
                    .map_err(error)?;
            }
            let tables = [&folded.revisions[..], &folded.revisions_by_group[..]];
            add_revisions(&transaction, tables).map_err(error)?;
        }
        transaction.commit().map_err(error)?;
        Ok(runs.len())
    }

    /// Every kept group, of every day.
    pub fn report_groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        self.rows(ALL_GROUPS, [], group_from)
    }

    /// The revisions the flaky section may show on a page of the days since `since_day`:
    /// whole, or by group on `branch` and in a repository `LIKE` `repository` when either is
    /// given.
    pub fn flaky_revisions(
        &self,
        since_day: &str,
        branch: Option<&str>,
        repository: Option<&str>,
    ) -> Result<Vec<StoredRevision>, StoreError> {
        if branch.is_none() && repository.is_none() {
            return self.rows(FLAKY_REVISIONS, [since_day], revision_from);
        }
        self.rows(
            FLAKY_REVISIONS_BY_GROUP,
            params![since_day, branch, repository],
            revision_from,
        )
    }

    /// The failed runs since `since`, newest first: `count` of them after the first `skip`.
    pub fn latest_failed(
        &self,
        since: SystemTime,
        count: usize,
        skip: usize,
    ) -> Result<Vec<ReportRun>, StoreError> {
        let sql = latest_failed_sql();
        let (count, skip) = (count as i64, skip as i64);
        self.rows(
            &sql,
            params![time_bound(Some(since)), count, skip],
            report_run,
        )
    }
}
