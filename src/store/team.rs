//! The team server's additions to a database (`earlyexit serve`): its API keys, a run kept
//! once by its trace and span ids as well as by its execution id, and the kept report figures
//! (`report`). They are migrations of their
//! own, counted in `meta` under `team_schema`, so a runner's local database never gets them.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{sqlite_error, Store, StoreError};

/// The name and role of the key in force with the hash `?1`. Asked at every request, so that a
/// revoked key stops working at once on every server of the database: an indexed read of one
/// row (the hash is unique), which finds the key by its hash and never compares keys.
pub(super) const KEY_IN_FORCE: &str =
    "SELECT name, role FROM api_keys WHERE hash = ?1 AND revoked IS NULL";

/// Each entry upgrades the team schema by one version. Append only.
const TEAM_MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE api_keys (
    name    TEXT PRIMARY KEY,
    hash    TEXT NOT NULL UNIQUE,
    role    TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE UNIQUE INDEX executions_by_span ON executions (trace_id, span_id);
",
    concat!(
        report_tables!(),
        "CREATE TRIGGER executions_to_fold AFTER INSERT ON executions BEGIN
    INSERT INTO unfolded (execution_id) VALUES (NEW.execution_id);
END;
INSERT INTO unfolded (execution_id) SELECT execution_id FROM executions;
"
    ),
    concat!(
        "-- Runs are folded a day at a time (see report::fold_pending).
ALTER TABLE unfolded ADD COLUMN day TEXT NOT NULL DEFAULT '';
UPDATE unfolded SET day = (SELECT ",
        run_day!("timestamp"),
        " FROM executions e WHERE e.execution_id = unfolded.execution_id);
CREATE INDEX unfolded_by_day ON unfolded (day, execution_id);
DROP TRIGGER executions_to_fold;
CREATE TRIGGER executions_to_fold AFTER INSERT ON executions BEGIN
    INSERT INTO unfolded (execution_id, day) VALUES (NEW.execution_id, ",
        run_day!("NEW.timestamp"),
        ");
END;
"
    ),
    // The local migration that settled the runs' outcomes (`schema::settle_outcomes`) ran
    // first; the kept figures are made again from them.
    fold_again!(),
    // Trace and span ids are a second key only when a run has them: other clients of the
    // HTTP API send runs without, each its own run by its execution id.
    r"
DROP INDEX executions_by_span;
CREATE UNIQUE INDEX executions_by_span ON executions (trace_id, span_id) WHERE trace_id <> '';
",
    // The kept figures carry what `/api/v1/stats` counts (`analysis::stats`): made again.
    fold_again!(),
    alert_tables!(),
    // Where each failing command stands on the page (`queries::Streak`): read per command.
    "CREATE INDEX IF NOT EXISTS executions_by_command ON executions (command_hash, timestamp);",
];

/// An API key as the server keeps it: never the key, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub name: String,
    pub role: String,
    pub created: String,
    pub revoked: Option<String>,
}

impl Store {
    /// Which of these execution ids the store holds.
    pub fn held(&self, execution_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let ids = serde_json::Value::from(execution_ids.to_vec()).to_string();
        let mut statement = self
            .connection
            .prepare(
                "SELECT execution_id FROM executions
                 WHERE execution_id IN (SELECT value FROM json_each(?1))",
            )
            .map_err(|e| self.error(e))?;
        statement
            .query_map([ids], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.error(e))
    }

    /// Opens a team database, creating it if needed, with the team schema up to date.
    pub fn open_team(path: &std::path::Path) -> Result<Store, StoreError> {
        let mut store = Store::open(path, true)?;
        store.migrate_team()?;
        Ok(store)
    }

    /// How far the runs have grown: the highest rowid, found at the end of the table's b-tree
    /// (runs are not deleted from a team store, so it follows their count, which would take a
    /// scan of every run).
    pub fn runs_grown_to(&self) -> Result<u64, StoreError> {
        self.connection
            .query_row(
                "SELECT coalesce(max(rowid), 0) FROM executions",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(i64::unsigned_abs)
            .map_err(|e| self.error(e))
    }

    /// Samples the runs for SQLite's query planner (this build keeps STAT4 samples): 0.7 s a
    /// million runs. Without them it reads a month of runs through the timestamp index, one random page per run:
    /// 39 s for the figures over a million runs, where a scan of the table takes a second.
    /// With them it scans a long period and seeks a short one.
    pub fn refresh_statistics(&self) -> Result<(), StoreError> {
        self.connection
            .execute_batch("ANALYZE executions")
            .map_err(|e| self.error(e))
    }

    /// Makes this connection's planner use the statistics another connection has just taken
    /// (a connection reads them only when it opens, or when told so).
    pub fn reload_statistics(&self) -> Result<(), StoreError> {
        self.connection
            .execute_batch("ANALYZE sqlite_schema")
            .map_err(|e| self.error(e))
    }

    /// Writes a row to show that a write can be committed (`/readyz`): on a full disk the
    /// commit fails.
    pub fn probe_write(&mut self) -> Result<(), StoreError> {
        let now = crate::timestamp::millis(std::time::SystemTime::now());
        self.connection
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('ready_probe', ?1)",
                [now],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Whether this database is a team server's (it keeps report figures that follow its runs).
    pub fn is_team(&self) -> Result<bool, StoreError> {
        self.connection
            .query_row("SELECT 1 FROM meta WHERE key = 'team_schema'", [], |_| {
                Ok(())
            })
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.error(e))
    }

    fn migrate_team(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_error(&path, e))?;
        let version: i64 = transaction
            .query_row(
                "SELECT value FROM meta WHERE key = 'team_schema'",
                [],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| sqlite_error(&path, e))?
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        for migration in TEAM_MIGRATIONS.iter().skip(version.max(0) as usize) {
            transaction
                .execute_batch(migration)
                .map_err(|e| sqlite_error(&path, e))?;
        }
        transaction
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('team_schema', ?1)",
                [TEAM_MIGRATIONS.len().to_string()],
            )
            .map_err(|e| sqlite_error(&path, e))?;
        transaction.commit().map_err(|e| sqlite_error(&path, e))
    }

    /// Adds a key by its hash; false when the name is taken.
    pub fn add_key(&mut self, name: &str, hash: &str, role: &str) -> Result<bool, StoreError> {
        let created = crate::timestamp::millis(std::time::SystemTime::now());
        self.connection
            .execute(
                "INSERT OR IGNORE INTO api_keys (name, hash, role, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, hash, role, created],
            )
            .map(|added| added == 1)
            .map_err(|e| self.error(e))
    }

    /// Every key, revoked ones too, by name.
    pub fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT name, role, created, revoked FROM api_keys ORDER BY name")
            .map_err(|e| self.error(e))?;
        let keys = statement
            .query_map([], |row| {
                Ok(StoredKey {
                    name: row.get(0)?,
                    role: row.get(1)?,
                    created: row.get(2)?,
                    revoked: row.get(3)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.error(e))?;
        Ok(keys)
    }

    /// Revokes a key; false when no key that is not revoked has this name.
    pub fn revoke_key(&mut self, name: &str) -> Result<bool, StoreError> {
        let revoked = crate::timestamp::millis(std::time::SystemTime::now());
        self.connection
            .execute(
                "UPDATE api_keys SET revoked = ?2 WHERE name = ?1 AND revoked IS NULL",
                params![name, revoked],
            )
            .map(|changed| changed == 1)
            .map_err(|e| self.error(e))
    }

    /// The name and role of the key in force with this hash, if there is one.
    pub fn key_in_force(&self, hash: &str) -> Result<Option<(String, String)>, StoreError> {
        self.connection
            .prepare_cached(KEY_IN_FORCE)
            .and_then(|mut statement| {
                statement
                    .query_row([hash], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.error(e))
    }
}
