//! The outbox: runs committed for a remote before any network I/O, claimed by one sender at a
//! time, deleted once the remote accepted them.

use std::time::SystemTime;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::ledger::Ledger;
use super::running::DELETE_RUNNING;
use super::{sqlite_error, Store, StoreError};
use crate::config::telemetry::Remote;

/// A run waiting in the outbox, as a sender claimed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub execution_id: String,
    /// What the remote is sent: the HTTP API's envelopes (a JSON list), or the stored span.
    pub payload: String,
}

/// Rows one sender holds until it has sent them or its claim lapses.
#[derive(Debug)]
pub struct Claim {
    token: String,
    pub rows: Vec<Queued>,
}

impl Claim {
    pub fn execution_ids(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().map(|row| row.execution_id.as_str())
    }
}

/// Milliseconds since the epoch: claims are compared across processes, so by the wall clock.
fn epoch_millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Commits runs to the outbox of `remote`, before any network I/O, and ends their running
    /// rows. A run already queued stays as it is.
    pub fn enqueue(&mut self, remote: Remote, runs: &[(String, String)]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let created = crate::timestamp::millis(SystemTime::now());
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_error(&path, e))?;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT OR IGNORE INTO outbox (execution_id, created, events, remote) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| sqlite_error(&path, e))?;
            let mut no_longer_running = transaction
                .prepare_cached(DELETE_RUNNING)
                .map_err(|e| sqlite_error(&path, e))?;
            for (execution_id, payload) in runs {
                insert
                    .execute(params![execution_id, created, payload, remote.to_string()])
                    .and_then(|_| no_longer_running.execute([execution_id]))
                    .map_err(|e| sqlite_error(&path, e))?;
            }
        }
        transaction.commit().map_err(|e| sqlite_error(&path, e))?;
        // While the disk has room: without the ledger, a full disk later can only mean the
        // batch is sent again (see `delivered`).
        let _ = Ledger::of(&path).prepare();
        Ok(())
    }

    /// Claims up to `limit` rows of `remote` that no live claim holds, `first` before the
    /// others and then the oldest, until `until`. The select and the update are one write
    /// transaction, so two senders never hold the same row.
    pub fn claim(
        &mut self,
        remote: Remote,
        first: Option<&str>,
        limit: usize,
        until: SystemTime,
    ) -> Result<Claim, StoreError> {
        let path = self.path.clone();
        let token = uuid::Uuid::new_v4().to_string();
        let now = epoch_millis(SystemTime::now());
        let ledger = Ledger::of(&path);
        let accepted = ledger.tokens().unwrap_or_default();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_error(&path, e))?;
        if !accepted.is_empty() {
            let tokens = serde_json::Value::from(accepted.clone()).to_string();
            transaction
                .execute(
                    "DELETE FROM outbox WHERE claimed_by IN (SELECT value FROM json_each(?1))",
                    [tokens],
                )
                .map_err(|e| sqlite_error(&path, e))?;
        }
        let rows = {
            // The oldest first, in the order of the outbox's index, so that a claim reads only
            // the rows it takes (and those that others hold); `first` is looked up by its key.
            let mut select = transaction
                .prepare_cached(
                    "SELECT execution_id, events FROM outbox
                     WHERE remote = ?1 AND claimed_until <= ?2
                     ORDER BY created, execution_id LIMIT ?3",
                )
                .map_err(|e| sqlite_error(&path, e))?;
            let mut select_first = transaction
                .prepare_cached(
                    "SELECT execution_id, events FROM outbox
                     WHERE remote = ?1 AND claimed_until <= ?2 AND execution_id = ?3",
                )
                .map_err(|e| sqlite_error(&path, e))?;
            let queued = |row: &rusqlite::Row<'_>| {
                Ok(Queued {
                    execution_id: row.get(0)?,
                    payload: row.get(1)?,
                })
            };
            let mut rows = match first {
                Some(first) => select_first
                    .query_map(params![remote.to_string(), now, first], queued)
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| sqlite_error(&path, e))?,
                None => Vec::new(),
            };
            let others = select
                .query_map(params![remote.to_string(), now, limit as i64], queued)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|e| sqlite_error(&path, e))?;
            for row in others {
                if rows.len() < limit && Some(row.execution_id.as_str()) != first {
                    rows.push(row);
                }
            }
            let mut mark = transaction
                .prepare_cached(
                    "UPDATE outbox SET claimed_by = ?1, claimed_until = ?2 WHERE execution_id = ?3",
                )
                .map_err(|e| sqlite_error(&path, e))?;
            for row in &rows {
                mark.execute(params![token, epoch_millis(until), row.execution_id])
                    .map_err(|e| sqlite_error(&path, e))?;
            }
            rows
        };
        transaction.commit().map_err(|e| sqlite_error(&path, e))?;
        if !accepted.is_empty() {
            let _ = ledger.forget(&accepted);
        }
        Ok(Claim { token, rows })
    }

    /// Removes the rows of a claim once the remote has accepted them. When the database
    /// cannot (a full disk), the log is folded to make room and the delete tried once more;
    /// failing that, the claim goes into the ledger, whose rows no claim sends again.
    pub fn delivered(&mut self, claim: &Claim) -> Result<(), StoreError> {
        let delete = |store: &mut Store| {
            store
                .connection
                .execute("DELETE FROM outbox WHERE claimed_by = ?1", [&claim.token])
                .map_err(|e| store.error(e))
                .map(drop)
        };
        let Err(error) = delete(self) else {
            return Ok(());
        };
        let _ = self.fold_log();
        if delete(self).is_ok() || Ledger::of(&self.path).remember(&claim.token).is_ok() {
            return Ok(());
        }
        Err(error)
    }

    /// Deletes these rows of a claim, each delivered on its own. A row whose delete fails is
    /// sent again later, and the remote keeps it once by its execution id.
    pub fn delivered_rows(
        &mut self,
        claim: &Claim,
        execution_ids: &[String],
    ) -> Result<(), StoreError> {
        for execution_id in execution_ids {
            self.connection
                .execute(
                    "DELETE FROM outbox WHERE claimed_by = ?1 AND execution_id = ?2",
                    params![claim.token, execution_id],
                )
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Releases the rows of a claim that failed, noting the error, for the next sender.
    pub fn delivery_failed(&mut self, claim: &Claim, error: &str) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, claimed_by = NULL,
                 claimed_until = 0 WHERE claimed_by = ?1",
                params![claim.token, error],
            )
            .map_err(|e| self.error(e))
            .map(drop)
    }

    /// Moves claimed rows that cannot be sent (a payload that cannot be read, a run the remote
    /// refuses for good) into `outbox_aside`, with the reason, in one transaction: they leave
    /// the outbox, so they block no batch, and stay on disk.
    pub fn set_aside(
        &mut self,
        claim: &Claim,
        rows: &[(String, String)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sqlite_error(&path, e))?;
        let now = crate::timestamp::millis(SystemTime::now());
        for (execution_id, reason) in rows {
            transaction
                .execute(
                    "INSERT OR REPLACE INTO outbox_aside
                     SELECT execution_id, remote, created, events, ?3, ?4 FROM outbox
                     WHERE execution_id = ?1 AND claimed_by = ?2",
                    params![execution_id, claim.token, reason, now],
                )
                .and_then(|_| {
                    transaction.execute(
                        "DELETE FROM outbox WHERE execution_id = ?1 AND claimed_by = ?2",
                        params![execution_id, claim.token],
                    )
                })
                .map_err(|e| sqlite_error(&path, e))?;
        }
        transaction.commit().map_err(|e| sqlite_error(&path, e))
    }

    /// Rows set aside as unreadable, of every remote.
    pub fn set_aside_count(&self) -> Result<i64, StoreError> {
        self.connection
            .query_row("SELECT count(*) FROM outbox_aside", [], |row| row.get(0))
            .map_err(|e| self.error(e))
    }

    /// The error of the most recent failed delivery of a row still waiting.
    pub fn last_delivery_error(&self) -> Result<Option<String>, StoreError> {
        self.connection
            .query_row(
                "SELECT last_error FROM outbox WHERE last_error IS NOT NULL
                 ORDER BY attempts DESC, created DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Rows of `remote` waiting, claimed or not.
    pub fn waiting(&self, remote: Remote) -> Result<i64, StoreError> {
        self.connection
            .query_row(
                "SELECT count(*) FROM outbox WHERE remote = ?1",
                [remote.to_string()],
                |row| row.get(0),
            )
            .map_err(|e| self.error(e))
    }

    /// Rows of `remote` waiting that no live claim holds.
    pub fn unclaimed(&self, remote: Remote) -> Result<i64, StoreError> {
        self.connection
            .query_row(
                "SELECT count(*) FROM outbox WHERE remote = ?1 AND claimed_until <= ?2",
                params![remote.to_string(), epoch_millis(SystemTime::now())],
                |row| row.get(0),
            )
            .map_err(|e| self.error(e))
    }
}
