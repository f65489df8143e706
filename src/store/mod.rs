//! The SQLite database: opening and migrating it, and writing runs. The same tables are
//! written by the local sink and by the reference HTTP receiver, so every tool reads either
//! file. `schema` holds the migrations, `rows` the mapping of a run onto its rows,
//! `queries` the typed reads behind the telemetry commands, and `outbox` the queue of runs
//! waiting for a remote. No SQL leaves this module.
//!
//! May import: `recording` (the flat record it stores), `outcome`, `config` and the leaves.
//! The rows it hands out ([`ReportRun`], [`RunTiming`]) are what `analysis` reads.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::recording::record::RunRecord;

#[macro_use]
mod team_tables;
mod alerts;
mod ledger;
mod outbox;
mod postgres;
mod queries;
mod report;
mod retention;
mod rows;
mod running;
mod schema;
mod team;

pub use alerts::{Change, Messages, Notification, Observed};
pub use outbox::{Claim, Queued};
pub use postgres::{PasswordSources, PgStore, PgTarget};
pub use queries::{ReportRun, RunTiming, Stats, Streak, Tally};
pub use report::{Fold, Folded, StoredGroup, StoredRevision};
pub use retention::FORGET_BATCH;
use rows::{insert_execution_sql, insert_runs, INSERT_MATCH, WARM_INSERT_PAGES};
pub use running::{abandoned, any_locks, RunningLock, RunningNow, RunningRow};
use schema::MIGRATIONS;
pub use schema::SCHEMA_VERSION;
pub use team::StoredKey;

/// How long a write waits for another process's lock before it gives up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// The write-ahead log is folded into the database, when a process opens it, once it has grown
/// past this size (a run without matches adds three 4 KB pages, 12 KB). Every open reads the
/// whole log to rebuild its index, about 2.5 µs per page; a fold costs two fsyncs, about
/// 0.9 ms here. This keeps the first well inside a short command's run time and the second
/// rare (one run in twenty). With 64 KiB every fifth run folded, and the mean grew by 0.1 ms.
const WAL_CHECKPOINT_BYTES: u64 = 256 * 1024;
/// Retention runs at most this often.
const PRUNE_INTERVAL: Duration = Duration::from_secs(24 * 3600);
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: written by a newer earlyexit (schema {found}, this build knows {SCHEMA_VERSION})", path.display())]
    TooNew { path: PathBuf, found: i64 },
    /// A store call that ran on a thread of its own did not come back (it panicked).
    #[error("the store's thread failed")]
    ThreadFailed,
    /// PostgreSQL's error; `database` is shown without credentials.
    #[error("{database}: {message}")]
    Postgres { database: String, message: String },
    /// What the store will never take, however often it is sent (PostgreSQL's data and
    /// integrity errors): a refusal, not an outage.
    #[error("{database}: {message}")]
    Refused { database: String, message: String },
    /// Kept report figures that do not read back (changed by hand, say).
    #[error("{database}: the kept report figures: {message}")]
    Figures { database: String, message: String },
}

impl StoreError {
    /// What went wrong, without where: the file's path or the database's address are the
    /// server's business, not a client's (its log has them).
    pub fn cause(&self) -> String {
        match self {
            StoreError::Sqlite { source, .. } => source.to_string(),
            StoreError::Create { source, .. } => format!("cannot create the store: {source}"),
            StoreError::TooNew { found, .. } => {
                format!("written by a newer earlyexit (schema {found})")
            }
            StoreError::ThreadFailed => self.to_string(),
            StoreError::Postgres { message, .. } | StoreError::Refused { message, .. } => {
                message.clone()
            }
            StoreError::Figures { message, .. } => format!("the kept report figures: {message}"),
        }
    }

    /// True when another connection held a lock.
    fn is_busy(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error {
                        code: rusqlite::ErrorCode::DatabaseBusy
                            | rusqlite::ErrorCode::DatabaseLocked,
                        ..
                    },
                    _,
                ),
                ..
            }
        )
    }
}

/// An open telemetry database.
#[derive(Debug)]
pub struct Store {
    connection: Connection,
    path: PathBuf,
    wal_mode: bool,
}

impl Store {
    /// Opens or creates the database, creating its directory, and brings the schema up to date.
    pub fn open(path: &Path, wal_mode: bool) -> Result<Store, StoreError> {
        crate::files::private_database(path).map_err(|source| StoreError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let connection = Connection::open(path).map_err(|source| sqlite_error(path, source))?;
        let mut store = Store {
            connection,
            path: path.to_path_buf(),
            wal_mode,
        };
        // Switching a new file to WAL and recovering a WAL left by another process take locks
        // that SQLite does not always wait for (it answers "database is locked" at once when
        // many processes open the file together), so retry within the busy timeout.
        let give_up = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match store.configure().and_then(|()| store.migrate()) {
                Err(error) if error.is_busy() && std::time::Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(error) => return Err(error),
                Ok(()) => break,
            }
        }
        // Housekeeping, not part of opening: a fold that fails leaves the log for the next run.
        let _ = store.checkpoint_if_large();
        Ok(store)
    }

    /// Opens a database that must already exist (the telemetry commands never create one).
    pub fn open_existing(path: &Path) -> Result<Option<Store>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags)
            .map_err(|source| sqlite_error(path, source))?;
        // Its journal mode is whatever the file says; closing this rare connection may
        // checkpoint, which is fine for a command.
        let journal_mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .map_err(|source| sqlite_error(path, source))?;
        let mut store = Store {
            connection,
            path: path.to_path_buf(),
            wal_mode: journal_mode.eq_ignore_ascii_case("wal"),
        };
        store.configure()?;
        store.migrate()?;
        Ok(Some(store))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, source: rusqlite::Error) -> StoreError {
        sqlite_error(&self.path, source)
    }

    /// In WAL mode a connection that closes last would checkpoint the log into the database
    /// and fsync both: milliseconds at the end of every run. Instead the log is left for the
    /// next process, which folds it in as it opens the database (while its command runs) once
    /// it passes [`WAL_CHECKPOINT_BYTES`], so a run pays for a checkpoint only now and then.
    /// Commits in WAL mode with `synchronous = NORMAL` survive a crash of earlyexit; a power
    /// cut may lose the last runs but never corrupts the file.
    fn configure(&mut self) -> Result<(), StoreError> {
        self.connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.error(e))?;
        let pragmas = if self.wal_mode {
            self.connection
                .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
                .map_err(|e| self.error(e))?;
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        } else {
            "PRAGMA foreign_keys = ON;"
        };
        self.connection
            .execute_batch(pragmas)
            .map_err(|e| self.error(e))
    }

    /// Folds the write-ahead log into the database when it has grown past its limit, and
    /// truncates it, so that its size on disk is the measure of what the next open will read.
    fn checkpoint_if_large(&mut self) -> Result<(), StoreError> {
        let mut log = self.path.as_os_str().to_owned();
        log.push("-wal");
        let size = std::fs::metadata(&log).map_or(0, |m| m.len());
        if self.wal_mode && size > WAL_CHECKPOINT_BYTES {
            self.fold_log()?;
        }
        Ok(())
    }

    /// Folds the write-ahead log into the database and empties it, which gives its room back.
    fn fold_log(&mut self) -> Result<(), StoreError> {
        self.connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.error(e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version = self.schema_version()?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
            });
        }
        let path = self.path.clone();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_error(&path, e))?;
        // Another process may have migrated while we waited for the lock.
        let version: i64 = transaction
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| sqlite_error(&path, e))?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            transaction
                .execute_batch(migration)
                .map_err(|e| sqlite_error(&path, e))?;
            transaction
                .pragma_update(None, "user_version", index as i64 + 1)
                .map_err(|e| sqlite_error(&path, e))?;
        }
        transaction.commit().map_err(|e| sqlite_error(&path, e))
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| self.error(e))
    }

    /// Compiles the statements that [`Store::insert`] runs, reading the schema on the way
    /// (about 0.1 ms), and reads the pages that an insert changes into SQLite's cache, so that
    /// a run can do all of it while its command is still going.
    pub fn prepare_insert(&self) -> Result<(), StoreError> {
        self.connection
            .prepare_cached(&insert_execution_sql())
            .and_then(|_| self.connection.prepare_cached(INSERT_MATCH))
            .and_then(|_| self.connection.prepare_cached(running::DELETE_RUNNING))
            .and_then(|_| self.connection.query_row(WARM_INSERT_PAGES, [], |_| Ok(())))
            .map_err(|e| self.error(e))
    }

    /// Writes runs in one transaction, ending their running rows, and returns how many were
    /// new. A run already stored (same `execution_id`) is left as it is, so writing twice is
    /// harmless.
    pub fn insert(&mut self, runs: &[RunRecord]) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_error(&path, e))?;
        let inserted = insert_runs(&transaction, runs).map_err(|e| sqlite_error(&path, e))?;
        transaction.commit().map_err(|e| sqlite_error(&path, e))?;
        Ok(inserted)
    }

    /// Deletes runs that started before `cutoff`; returns how many.
    pub fn prune_before(&mut self, cutoff: SystemTime) -> Result<usize, StoreError> {
        let cutoff = crate::timestamp::millis(cutoff);
        self.connection
            .execute("DELETE FROM executions WHERE timestamp < ?1", [cutoff])
            .map_err(|e| self.error(e))
    }

    /// Applies `retention_days` if it has not run in the last day. Zero keeps every run: read
    /// literally it would empty the database once a day, which nobody asks for on purpose.
    pub fn apply_retention(
        &mut self,
        retention_days: u32,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        if retention_days == 0 {
            return Ok(());
        }
        let last: Option<String> = self
            .connection
            .query_row(
                "SELECT value FROM meta WHERE key = 'last_prune'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let due = last
            .and_then(|text| humantime::parse_rfc3339(&text).ok())
            .is_none_or(|last| now.duration_since(last).unwrap_or_default() >= PRUNE_INTERVAL);
        if !due {
            return Ok(());
        }
        let cutoff = crate::timestamp::before(now, Duration::from_secs(86_400) * retention_days);
        self.prune_before(cutoff)?;
        let stamp = crate::timestamp::millis(now);
        self.connection
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_prune', ?1)",
                [stamp],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Deletes every run and whatever waits in the outbox; returns how many runs.
    /// Deletes every run (and on a team database the kept figures made of them).
    pub fn clear(&mut self) -> Result<usize, StoreError> {
        self.connection
            .execute("DELETE FROM outbox", [])
            .map_err(|e| self.error(e))?;
        if self.is_team()? {
            self.connection
                .execute_batch(
                    "DELETE FROM report_groups; DELETE FROM report_revisions;
                     DELETE FROM report_revisions_by_group; DELETE FROM unfolded;
                     DELETE FROM running;",
                )
                .map_err(|e| self.error(e))?;
        }
        self.connection
            .execute("DELETE FROM executions", [])
            .map_err(|e| self.error(e))
    }

    pub fn count(&self, table: Table) -> Result<i64, StoreError> {
        let sql = match table {
            Table::Executions => "SELECT count(*) FROM executions",
            Table::MatchEvents => "SELECT count(*) FROM match_events",
            Table::Outbox => "SELECT count(*) FROM outbox",
        };
        self.connection
            .query_row(sql, [], |row| row.get(0))
            .map_err(|e| self.error(e))
    }
}

/// The tables that hold data.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Executions,
    MatchEvents,
    Outbox,
}

fn sqlite_error(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::telemetry::Remote;

    /// A file written by an older release opens with its runs intact and its schema current.
    #[test]
    fn an_older_schema_is_migrated_and_keeps_its_runs() {
        let directory =
            std::env::temp_dir().join(format!("earlyexit-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("telemetry.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(&MIGRATIONS[..2].concat()).unwrap();
        old.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO executions (execution_id, timestamp, trace_id, span_id, command_hash,
                 exit_code, exit_reason, total_runtime, match_count, lines_processed,
                 bytes_processed, project_type, command_category, anonymized)
             VALUES ('kept', '2026-01-01T00:00:00.000Z', 't', 's', 'h', 0, 'completed', 0.5,
                 0, 0, 0, 'rust', 'build', 0);
             INSERT INTO outbox (execution_id, created, events)
             VALUES ('queued', '2026-01-01T00:00:00.000Z', '[]');",
        )
        .unwrap();
        drop(old);

        let store = Store::open(&path, true).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let ids: String = store
            .connection
            .query_row(
                "SELECT group_concat(execution_id) FROM executions",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(ids, "kept");
        let indexes: String = store
            .connection
            .query_row(
                "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index'
                 AND tbl_name = 'executions' AND sql IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, "executions_by_timestamp");
        let mut store = store;
        let claim = store
            .claim(
                Remote::Http,
                None,
                10,
                SystemTime::now() + Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(
            claim.execution_ids().collect::<Vec<_>>(),
            ["queued"],
            "a row queued before schema 4 is an HTTP row, free to claim"
        );
        drop(store);
        std::fs::remove_dir_all(directory).unwrap();
    }
}
