//! The alerts' state and messages on PostgreSQL (see `store::alerts`): the same statements,
//! the command's row locked while a run is compared with it, so that two servers never both
//! see the change.

use std::time::SystemTime;

use super::{numbered, pg_error, PgStore};
use crate::store::alerts::{
    Change, Messages, Notification, Observed, State, CLAIM, POSTED, QUEUE, RETRY_AT, SAVE_STATE,
    STATE,
};
use crate::store::running::epoch_millis;
use crate::store::StoreError;

impl PgStore {
    /// As the SQLite store's `observe`.
    pub async fn observe(
        &self,
        run: &Observed,
        messages: &Messages,
    ) -> Result<Vec<Change>, StoreError> {
        let error = |e| pg_error(&self.shown, e);
        let mut guard = self.connection().await?;
        let client = &mut guard.as_mut().expect("made by connection()").client;
        let transaction = client.transaction().await.map_err(error)?;
        let key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&run.command_hash, &run.branch, &run.repository];
        // A row to lock, for a command not seen on this branch before.
        transaction
            .execute(
                "INSERT INTO alert_states VALUES ($1, $2, $3, 0, '', '', 0, 0)
                 ON CONFLICT DO NOTHING",
                &key,
            )
            .await
            .map_err(error)?;
        let row = transaction
            .query_one(&format!("{} FOR UPDATE", numbered(STATE)), &key)
            .await
            .map_err(error)?;
        let state = State {
            failing: row.get::<_, i64>(0) != 0,
            last_run_at: row.get(1),
            revision: row.get(2),
            revision_passed: row.get::<_, i64>(3) != 0,
            revision_failed: row.get::<_, i64>(4) != 0,
        };
        let Some((next, changes)) = state.after(run) else {
            return Ok(Vec::new());
        };
        transaction
            .execute(
                &numbered(SAVE_STATE),
                &[
                    &run.command_hash,
                    &run.branch,
                    &run.repository,
                    &i64::from(next.failing),
                    &next.last_run_at,
                    &next.revision,
                    &i64::from(next.revision_passed),
                    &i64::from(next.revision_failed),
                ],
            )
            .await
            .map_err(error)?;
        let now = epoch_millis(SystemTime::now());
        for change in &changes {
            for (target, body) in messages.of(*change) {
                let id = uuid::Uuid::new_v4().to_string();
                transaction
                    .execute(&numbered(QUEUE), &[&id, &target, &body, &now])
                    .await
                    .map_err(error)?;
            }
        }
        transaction.commit().await.map_err(error)?;
        Ok(changes)
    }

    /// As the SQLite store's `claim_notification`.
    pub async fn claim_notification(
        &self,
        target: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Option<Notification>, StoreError> {
        let rows = self
            .rows(CLAIM, &[&target, &epoch_millis(now), &epoch_millis(until)])
            .await?;
        Ok(rows.first().map(|row| Notification {
            id: row.get(0),
            target: row.get(1),
            body: row.get(2),
            attempts: row.get(3),
        }))
    }

    /// As the SQLite store's `forget_notification`.
    pub async fn forget_notification(&self, id: &str) -> Result<(), StoreError> {
        self.rows(POSTED, &[&id]).await.map(drop)
    }

    /// As the SQLite store's `retry_notification`.
    pub async fn retry_notification(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        self.rows(RETRY_AT, &[&id, &epoch_millis(at)])
            .await
            .map(drop)
    }
}
