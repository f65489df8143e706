//! Retention on PostgreSQL (see `store::retention`): the same batches, each in one transaction
//! under the fold's advisory lock, so that no fold of the same runs runs beside it.

use std::time::SystemTime;

use tokio_postgres::types::ToSql;

use super::report::{add_revisions, FOLD_LOCK};
use super::{numbered, pg_error, PgStore};
use crate::store::report::{Fold, StoredRevision, REVISION_TABLES};
use crate::store::retention::{
    key_values, oldest_runs_sql, taken_off, FORGET_GROUPS, FORGET_RUNNING,
};
use crate::store::{ReportRun, StoreError};

/// Deletes the revisions among `rows` of `table` that have no runs left.
async fn forget_empty_revisions(
    transaction: &tokio_postgres::Transaction<'_>,
    table: (&str, &str),
    rows: &[StoredRevision],
) -> Result<(), tokio_postgres::Error> {
    let (name, key) = table;
    let width = key.split(", ").count();
    let columns: Vec<Vec<&str>> = (0..width)
        .map(|i| rows.iter().map(|r| key_values(table, r)[i]).collect())
        .collect();
    let arrays: Vec<String> = (1..=width).map(|i| format!("${i}::text[]")).collect();
    let sql = format!(
        "DELETE FROM {name} WHERE passed <= 0 AND failed <= 0
         AND ({key}) IN (SELECT * FROM UNNEST({}))",
        arrays.join(", ")
    );
    let parameters: Vec<&(dyn ToSql + Sync)> = columns
        .iter()
        .map(|column| column as &(dyn ToSql + Sync))
        .collect();
    transaction.execute(&sql, &parameters).await.map(drop)
}

impl PgStore {
    /// As the SQLite store's `forget_before`.
    pub async fn forget_before(
        &self,
        cutoff: SystemTime,
        limit: usize,
        fold: Box<dyn Fold>,
    ) -> Result<usize, StoreError> {
        let error = |e| pg_error(&self.shown, e);
        let cut = crate::timestamp::millis(cutoff);
        let cut_day = crate::timestamp::day(&cut).to_string();
        let mut guard = self.connection().await?;
        let client = &mut guard.as_mut().expect("made by connection()").client;
        let transaction = client.transaction().await.map_err(error)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&FOLD_LOCK])
            .await
            .map_err(error)?;
        let runs = transaction
            .query(&numbered(&oldest_runs_sql()), &[&cut, &(limit as i64)])
            .await
            .map_err(error)?
            .iter()
            .map(|row| self.report_run(row))
            .collect::<Result<Vec<ReportRun>, _>>()?;
        let ids: Vec<&String> = runs.iter().map(|run| &run.execution_id).collect();
        let days: Vec<&str> = runs
            .iter()
            .map(|run| crate::timestamp::day(&run.timestamp))
            .collect();
        let waiting: std::collections::HashSet<String> = transaction
            .query(
                "DELETE FROM unfolded
                 WHERE (day, execution_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
                 RETURNING execution_id",
                &[&days, &ids],
            )
            .await
            .map_err(error)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        transaction
            .execute(
                "DELETE FROM executions WHERE execution_id = ANY($1)",
                &[&ids],
            )
            .await
            .map_err(error)?;
        let folded: Vec<ReportRun> = runs
            .iter()
            .filter(|run| !waiting.contains(&run.execution_id))
            .cloned()
            .collect();
        let [whole, by_group] =
            taken_off(&folded, fold).map_err(|message| StoreError::Figures {
                database: self.shown.clone(),
                message,
            })?;
        add_revisions(&transaction, [&whole, &by_group])
            .await
            .map_err(error)?;
        for (table, rows) in REVISION_TABLES.into_iter().zip([&whole, &by_group]) {
            forget_empty_revisions(&transaction, table, rows)
                .await
                .map_err(error)?;
        }
        transaction
            .execute(&numbered(FORGET_GROUPS), &[&cut_day])
            .await
            .map_err(error)?;
        transaction
            .execute(&numbered(FORGET_RUNNING), &[&cut])
            .await
            .map_err(error)?;
        transaction.commit().await.map_err(error)?;
        Ok(runs.len())
    }
}
