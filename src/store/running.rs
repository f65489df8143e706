//! Runs in progress. While its command runs, a run keeps a row in `running` (the span as it
//! stood at the last heartbeat) and holds a lock file of its own beside the database. The
//! kernel lets go of the lock however earlyexit ends, SIGKILL and the OOM killer included, so a
//! lock file that can be taken names a run whose earlyexit is gone: [`abandoned`] finds them,
//! and `telemetry::lost` closes them. A run's record deletes its row in the same transaction
//! that keeps the record (`executions`, or the outbox), so a row outlives its run only when
//! the run was never kept.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};
use crate::recording::record::is_execution_id;

/// Deletes a run's row; run by every transaction that keeps a run's record.
pub(super) const DELETE_RUNNING: &str = "DELETE FROM running WHERE execution_id = ?1";

/// A run in progress as its row keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningRow {
    pub execution_id: String,
    pub trace_id: String,
    pub span_id: String,
    /// When the run started (RFC 3339, milliseconds).
    pub started: String,
    /// The last heartbeat.
    pub last_seen: SystemTime,
    /// Matches seen so far, those beyond the kept events included.
    pub match_count: u64,
    /// The span so far, as `recording::stored_span` writes it.
    pub span: String,
}

/// What a team server knows of runs in progress: rows whose run is not stored (on PostgreSQL a
/// start record read while its span is being stored can leave one for a moment), split by
/// whether a record came since the cut-off, and the newest rows themselves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunningNow {
    /// Heard of since the cut-off.
    pub in_progress: i64,
    /// Not heard of since: the runner went away without sending the run.
    pub lost: i64,
    /// The newest rows, both kinds, newest first.
    pub rows: Vec<RunningRow>,
}

/// The unstored rows, newest first, at most `?1`.
pub(super) const RUNNING_NOW: &str = "SELECT execution_id, trace_id, span_id, started, last_seen,
        match_count, span
    FROM running r WHERE NOT EXISTS (SELECT 1 FROM executions e WHERE e.execution_id = r.execution_id)
    ORDER BY started DESC LIMIT ?1";
/// How many unstored rows were heard of since `?1` (milliseconds), and how many before.
pub(super) const RUNNING_COUNTS: &str = "SELECT count(*) FILTER (WHERE last_seen >= ?1),
        count(*) FILTER (WHERE last_seen < ?1)
    FROM running r WHERE NOT EXISTS (SELECT 1 FROM executions e WHERE e.execution_id = r.execution_id)";
/// The rows of runs that are stored, and of lost runs not heard of since `?1`.
pub(super) const FORGET_ENDED_RUNNING: &str = "DELETE FROM running WHERE last_seen < ?1
    OR EXISTS (SELECT 1 FROM executions e WHERE e.execution_id = running.execution_id)";

pub(super) fn epoch_millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Records a run as running (again, if a row of that id was left).
    pub fn start_running(&mut self, row: &RunningRow) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT OR REPLACE INTO running
                 (execution_id, trace_id, span_id, started, last_seen, match_count, span)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.execution_id,
                    row.trace_id,
                    row.span_id,
                    row.started,
                    epoch_millis(row.last_seen),
                    row.match_count as i64,
                    row.span
                ],
            )
            .map_err(|e| self.error(e))
            .map(drop)
    }

    /// A heartbeat: the time, the count of matches, and the span when it has new events.
    /// Does nothing once the run's record has been kept (the row is gone).
    pub fn touch_running(
        &mut self,
        execution_id: &str,
        last_seen: SystemTime,
        match_count: u64,
        span: Option<&str>,
    ) -> Result<(), StoreError> {
        self.connection
            .prepare_cached(
                "UPDATE running SET last_seen = ?2, match_count = ?3, span = coalesce(?4, span)
                 WHERE execution_id = ?1",
            )
            .and_then(|mut update| {
                update.execute(params![
                    execution_id,
                    epoch_millis(last_seen),
                    match_count as i64,
                    span
                ])
            })
            .map_err(|e| self.error(e))
            .map(drop)
    }

    /// The row of a run in progress, if it has one.
    pub fn running(&self, execution_id: &str) -> Result<Option<RunningRow>, StoreError> {
        self.connection
            .query_row(
                "SELECT execution_id, trace_id, span_id, started, last_seen, match_count, span
                 FROM running WHERE execution_id = ?1",
                [execution_id],
                running_row,
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// A team store's runs in progress: heard of since `lost_before`, or lost; `limit` rows.
    pub fn running_now(
        &self,
        lost_before: SystemTime,
        limit: usize,
    ) -> Result<RunningNow, StoreError> {
        let (in_progress, lost) = self
            .connection
            .query_row(RUNNING_COUNTS, [epoch_millis(lost_before)], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(|e| self.error(e))?;
        let mut statement = self
            .connection
            .prepare_cached(RUNNING_NOW)
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([limit as i64], running_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.error(e))?;
        Ok(RunningNow {
            in_progress,
            lost,
            rows,
        })
    }

    /// Deletes the rows of runs that are stored, and of lost runs not heard of since
    /// `forgotten_before`; returns how many.
    pub fn forget_ended_running(
        &mut self,
        forgotten_before: SystemTime,
    ) -> Result<usize, StoreError> {
        self.connection
            .execute(FORGET_ENDED_RUNNING, [epoch_millis(forgotten_before)])
            .map_err(|e| self.error(e))
    }

    /// Forgets a run's row (its record was kept elsewhere, or it cannot be closed).
    pub fn forget_running(&mut self, execution_id: &str) -> Result<(), StoreError> {
        self.connection
            .execute(DELETE_RUNNING, [execution_id])
            .map_err(|e| self.error(e))
            .map(drop)
    }

    /// What a team server hears of runs in progress, in one transaction: runs that started
    /// (unless their record is in already: a start record can arrive after its span), and the
    /// latest match number heard of per run.
    pub fn note_live(
        &mut self,
        started: &[RunningRow],
        matched: &[(String, u64)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| super::sqlite_error(&path, e))?;
        {
            let mut start = transaction
                .prepare_cached(
                    "INSERT OR IGNORE INTO running
                     (execution_id, trace_id, span_id, started, last_seen, match_count, span)
                     SELECT ?1, ?2, ?3, ?4, ?5, 0, ?6
                     WHERE NOT EXISTS (SELECT 1 FROM executions WHERE execution_id = ?1)",
                )
                .map_err(|e| super::sqlite_error(&path, e))?;
            for row in started {
                start
                    .execute(params![
                        row.execution_id,
                        row.trace_id,
                        row.span_id,
                        row.started,
                        epoch_millis(row.last_seen),
                        row.span
                    ])
                    .map_err(|e| super::sqlite_error(&path, e))?;
            }
            let mut heard = transaction
                .prepare_cached(
                    "UPDATE running SET last_seen = ?2, match_count = max(match_count, ?3)
                     WHERE execution_id = ?1",
                )
                .map_err(|e| super::sqlite_error(&path, e))?;
            let now = epoch_millis(SystemTime::now());
            for (execution_id, number) in matched {
                heard
                    .execute(params![execution_id, now, *number as i64])
                    .map_err(|e| super::sqlite_error(&path, e))?;
            }
        }
        transaction
            .commit()
            .map_err(|e| super::sqlite_error(&path, e))
    }

    /// How many runs are in progress, as far as their rows say (runs whose earlyexit was killed
    /// count until they are closed).
    pub fn running_count(&self) -> Result<i64, StoreError> {
        self.connection
            .query_row("SELECT count(*) FROM running", [], |row| row.get(0))
            .map_err(|e| self.error(e))
    }
}

fn running_row(row: &rusqlite::Row) -> rusqlite::Result<RunningRow> {
    let last_seen: i64 = row.get(4)?;
    let match_count: i64 = row.get(5)?;
    Ok(RunningRow {
        execution_id: row.get(0)?,
        trace_id: row.get(1)?,
        span_id: row.get(2)?,
        started: row.get(3)?,
        last_seen: SystemTime::UNIX_EPOCH
            + std::time::Duration::from_millis(last_seen.max(0) as u64),
        match_count: match_count.max(0) as u64,
        span: row.get(6)?,
    })
}

/// The directory of the runs' lock files: `telemetry.db.running` beside `telemetry.db`.
fn lock_directory(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".running");
    PathBuf::from(name)
}

/// The lock file of one run, held while the run is in progress (or while a later process
/// closes it).
#[derive(Debug)]
pub struct RunningLock {
    file: File,
    path: PathBuf,
}

impl RunningLock {
    /// Takes the lock of a new run. The file appears under its name already locked (it is
    /// locked under a temporary name, then renamed), so no other process ever finds it
    /// unlocked while its run lives.
    pub fn take(database: &Path, execution_id: &str) -> io::Result<RunningLock> {
        if !is_execution_id(execution_id) {
            return Err(io::Error::other("not an execution id"));
        }
        let directory = lock_directory(database);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&directory)?;
        let path = directory.join(execution_id);
        let temporary = directory.join(format!(".{execution_id}"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.lock()?;
        std::fs::rename(&temporary, &path)?;
        Ok(RunningLock { file, path })
    }

    /// The run is over or closed: the file goes, then the lock.
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
        drop(self.file);
    }
}

/// Whether any run's lock file is there, held or left: a run that ends before it goes live
/// looks for runs to close only then (one `open` of a directory that is usually missing).
pub fn any_locks(database: &Path) -> bool {
    std::fs::read_dir(lock_directory(database)).is_ok_and(|mut entries| entries.next().is_some())
}

/// The runs whose earlyexit is gone, at most `limit` of them, each with its lock, now held by
/// the caller (so that two processes never close the same run). Leftover temporary files of
/// runs that died before their lock file was in place are removed on the way.
pub fn abandoned(database: &Path, limit: usize) -> Vec<(String, RunningLock)> {
    let Ok(entries) = std::fs::read_dir(lock_directory(database)) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        if found.len() >= limit {
            break;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let (execution_id, temporary) = match name.strip_prefix('.') {
            Some(id) => (id, true),
            None => (name, false),
        };
        if !is_execution_id(execution_id) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = OpenOptions::new().write(true).open(&path) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) if temporary => {
                let _ = std::fs::remove_file(&path);
            }
            Ok(()) => found.push((execution_id.to_string(), RunningLock { file, path })),
            Err(TryLockError::WouldBlock | TryLockError::Error(_)) => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_not_abandoned_and_a_dropped_one_is() {
        let directory =
            std::env::temp_dir().join(format!("earlyexit-running-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let database = directory.join("telemetry.db");
        let held = RunningLock::take(&database, "0a-1").unwrap();
        let dropped = RunningLock::take(&database, "0b-2").unwrap();
        // A process that dies lets go of its lock but leaves the file: as dropping it does.
        drop(dropped);
        let found: Vec<String> = abandoned(&database, 10)
            .into_iter()
            .map(|(id, lock)| {
                lock.release();
                id
            })
            .collect();
        assert_eq!(found, ["0b-2"]);
        assert!(abandoned(&database, 10).is_empty(), "released means gone");
        assert!(RunningLock::take(&database, "../escape").is_err());
        held.release();
        assert!(abandoned(&database, 10).is_empty());
        std::fs::remove_dir_all(directory).unwrap();
    }
}
