//! What the team server's alerts keep (`serve --notify`): each watched command's state on each
//! branch, and the messages waiting to be posted. A run's outcome is compared with its
//! command's state and the state changed in one transaction, with a message queued for each
//! target when it turned, so that servers sharing the store post one message per change. A
//! message is deleted once posted, and tried again later (a bounded number of times) when its
//! target did not take it.

use std::time::SystemTime;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::running::epoch_millis;
use super::{sqlite_error, Store, StoreError};

/// A run on a watched branch, as the alerts see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub command_hash: String,
    pub branch: String,
    pub repository: String,
    /// RFC 3339, as stored: a run older than the state's last is too late to change it.
    pub started: String,
    pub revision: String,
    pub failed: bool,
}

/// How a command changed on a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It failed where it passed (or had never run).
    Failing,
    /// It passed where it failed.
    Passing,
    /// One revision both passed and failed.
    Flaky,
}

/// What to queue for each change a run may make: (target, body) pairs, made before the
/// run is compared, so that the comparison's transaction only writes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Messages(pub Vec<(Change, Vec<(String, String)>)>);

impl Messages {
    pub(super) fn of(&self, change: Change) -> &[(String, String)] {
        self.0
            .iter()
            .find(|(made, _)| *made == change)
            .map_or(&[], |(_, messages)| messages)
    }
}

/// A command's state on a branch, as kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct State {
    pub failing: bool,
    pub last_run_at: String,
    pub revision: String,
    pub revision_passed: bool,
    pub revision_failed: bool,
}

impl State {
    /// The state after `run`, and what changed; `None` for a run older than the last one.
    pub fn after(&self, run: &Observed) -> Option<(State, Vec<Change>)> {
        if run.started <= self.last_run_at {
            return None;
        }
        let same_revision = !run.revision.is_empty() && run.revision == self.revision;
        let kept = |flag: bool| same_revision && flag;
        let next = State {
            failing: run.failed,
            last_run_at: run.started.clone(),
            revision: run.revision.clone(),
            revision_passed: kept(self.revision_passed) || !run.failed,
            revision_failed: kept(self.revision_failed) || run.failed,
        };
        let mut changes = Vec::new();
        match (self.failing, next.failing) {
            (false, true) => changes.push(Change::Failing),
            (true, false) => changes.push(Change::Passing),
            _ => {}
        }
        let was_flaky = kept(self.revision_passed) && kept(self.revision_failed);
        if same_revision && next.revision_passed && next.revision_failed && !was_flaky {
            changes.push(Change::Flaky);
        }
        Some((next, changes))
    }
}

/// A message waiting for its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: String,
    /// Which of the server's targets (a hash of its URL: the URL itself may hold a secret).
    pub target: String,
    pub body: String,
    /// Posts tried so far, this one included.
    pub attempts: i64,
}

pub(super) const STATE: &str = "SELECT failing, last_run_at, revision, revision_passed,
    revision_failed FROM alert_states WHERE command_hash = ?1 AND branch = ?2 AND repository = ?3";
pub(super) const SAVE_STATE: &str = "INSERT INTO alert_states (command_hash, branch, repository,
    failing, last_run_at, revision, revision_passed, revision_failed)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
    ON CONFLICT (command_hash, branch, repository) DO UPDATE SET failing = excluded.failing,
    last_run_at = excluded.last_run_at, revision = excluded.revision,
    revision_passed = excluded.revision_passed, revision_failed = excluded.revision_failed";
pub(super) const QUEUE: &str =
    "INSERT INTO notifications (id, target, body, attempts, due) VALUES (?1, ?2, ?3, 0, ?4)";
/// Takes a message due for one of the targets: its `due` moves past the lease, so no other
/// server takes it while this one posts it.
pub(super) const CLAIM: &str = "UPDATE notifications SET due = ?3, attempts = attempts + 1
    WHERE id = (SELECT id FROM notifications WHERE target = ?1 AND due <= ?2 ORDER BY due LIMIT 1)
    AND due <= ?2
    RETURNING id, target, body, attempts";
pub(super) const POSTED: &str = "DELETE FROM notifications WHERE id = ?1";
pub(super) const RETRY_AT: &str = "UPDATE notifications SET due = ?2 WHERE id = ?1";

pub(super) fn state_from(row: &rusqlite::Row) -> rusqlite::Result<State> {
    Ok(State {
        failing: row.get::<_, i64>(0)? != 0,
        last_run_at: row.get(1)?,
        revision: row.get(2)?,
        revision_passed: row.get::<_, i64>(3)? != 0,
        revision_failed: row.get::<_, i64>(4)? != 0,
    })
}

impl Store {
    /// Compares a run with its command's state on its branch and keeps the new state; for each
    /// change, queues its `messages`. Returns the changes.
    pub fn observe(
        &mut self,
        run: &Observed,
        messages: &Messages,
    ) -> Result<Vec<Change>, StoreError> {
        let path = self.path.clone();
        let error = |e| sqlite_error(&path, e);
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        let key = params![run.command_hash, run.branch, run.repository];
        let state = transaction
            .query_row(STATE, key, state_from)
            .optional()
            .map_err(error)?
            .unwrap_or_default();
        let Some((next, changes)) = state.after(run) else {
            return Ok(Vec::new());
        };
        transaction
            .execute(
                SAVE_STATE,
                params![
                    run.command_hash,
                    run.branch,
                    run.repository,
                    i64::from(next.failing),
                    next.last_run_at,
                    next.revision,
                    i64::from(next.revision_passed),
                    i64::from(next.revision_failed)
                ],
            )
            .map_err(error)?;
        let now = epoch_millis(SystemTime::now());
        for change in &changes {
            for (target, body) in messages.of(*change) {
                let id = uuid::Uuid::new_v4().to_string();
                transaction
                    .execute(QUEUE, params![id, target, body, now])
                    .map_err(error)?;
            }
        }
        transaction.commit().map_err(error)?;
        Ok(changes)
    }

    /// Takes the next message due for `target`, leased until `until`.
    pub fn claim_notification(
        &mut self,
        target: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Option<Notification>, StoreError> {
        self.connection
            .query_row(
                CLAIM,
                params![target, epoch_millis(now), epoch_millis(until)],
                |row| {
                    Ok(Notification {
                        id: row.get(0)?,
                        target: row.get(1)?,
                        body: row.get(2)?,
                        attempts: row.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// A message was posted (or given up on): it goes.
    pub fn forget_notification(&mut self, id: &str) -> Result<(), StoreError> {
        self.connection
            .execute(POSTED, [id])
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// A message its target did not take is due again at `at`.
    pub fn retry_notification(&mut self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        self.connection
            .execute(RETRY_AT, params![id, epoch_millis(at)])
            .map(drop)
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(started: &str, revision: &str, failed: bool) -> Observed {
        Observed {
            command_hash: "h".into(),
            branch: "main".into(),
            repository: "team/app".into(),
            started: started.into(),
            revision: revision.into(),
            failed,
        }
    }

    #[test]
    fn a_command_turns_failing_and_back_and_one_revision_both_ways_is_flaky() {
        let mut state = State::default();
        let mut changes = Vec::new();
        for (started, revision, failed) in [
            ("t1", "r1", false),
            ("t2", "r2", true),
            ("t3", "r2", true),
            ("t4", "r2", false),
            ("t5", "r3", false),
            ("t6", "r3", true),
            ("t7", "r3", false),
        ] {
            let (next, turned) = state.after(&run(started, revision, failed)).unwrap();
            changes.push(turned);
            state = next;
        }
        use Change::*;
        assert_eq!(
            changes,
            [
                vec![],
                vec![Failing],
                vec![],
                vec![Passing, Flaky],
                vec![],
                vec![Failing, Flaky],
                vec![Passing],
            ]
        );
        assert_eq!(
            state.after(&run("t0", "r9", true)),
            None,
            "an older run changes nothing"
        );
    }
}
