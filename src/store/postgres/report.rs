//! The kept report figures on PostgreSQL (see `store::report`): the same tables and the same
//! statements, with a batch's rows sent as arrays. Servers on one database fold one at a
//! time, under an advisory lock held by the fold's transaction.

use std::time::SystemTime;

use tokio_postgres::Row;

use super::{pg_error, PgStore};
use crate::store::queries::{
    first_failure_after_sql, last_success_sql, outcome_of, time_bound, REPORT_SELECT,
};
use crate::store::report::{
    add_revisions_sql, latest_failed_sql, Fold, StoredGroup, StoredRevision, ALL_GROUPS,
    FLAKY_REVISIONS, FLAKY_REVISIONS_BY_GROUP, GROUP_CONFLICT, REVISION_TABLES,
};
use crate::store::{ReportRun, StoreError, Streak};

/// The advisory lock a fold holds (the migrations hold another).
pub(super) const FOLD_LOCK: i64 = 7_272_728;

fn group_from(row: &Row) -> StoredGroup {
    StoredGroup {
        day: row.get(0),
        dims: row.get(1),
        figures: row.get(2),
    }
}

/// Adds each table's rows (in `REVISION_TABLES`' order) to what it keeps: a fold's tallies,
/// or retention's taken off.
pub(super) async fn add_revisions(
    transaction: &tokio_postgres::Transaction<'_>,
    tables: [&[StoredRevision]; 2],
) -> Result<(), tokio_postgres::Error> {
    for (table, rows) in REVISION_TABLES.into_iter().zip(tables) {
        let text =
            |f: fn(&StoredRevision) -> &String| -> Vec<&String> { rows.iter().map(f).collect() };
        let count = |f: fn(&StoredRevision) -> i64| -> Vec<i64> { rows.iter().map(f).collect() };
        let values = "SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
            $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])";
        transaction
            .execute(
                &add_revisions_sql(table, values),
                &[
                    &text(|r| &r.command_hash),
                    &text(|r| &r.revision),
                    &text(|r| &r.branch),
                    &text(|r| &r.repository),
                    &text(|r| &r.ci_system),
                    &text(|r| &r.label),
                    &count(|r| r.passed),
                    &count(|r| r.failed),
                    &text(|r| &r.last_day),
                ],
            )
            .await?;
    }
    Ok(())
}

impl PgStore {
    /// A row of `REPORT_SELECT` as the value.
    pub(super) fn report_run(&self, r: &Row) -> Result<ReportRun, StoreError> {
        Ok(ReportRun {
            execution_id: r.get(0),
            command_hash: r.get(1),
            label: r.get(2),
            timestamp: r.get(3),
            outcome: outcome_of(&r.get::<_, String>(4)).map_err(|e| StoreError::Postgres {
                database: self.shown.clone(),
                message: e.to_string(),
            })?,
            runtime: r.get(5),
            time_to_first_match: r.get(6),
            pattern: r.get(7),
            match_count: r.get(8),
            branch: r.get(9),
            repository: r.get(10),
            revision: r.get(11),
            ci_system: r.get(12),
            first_line: r.get(13),
            exit_reason: r.get::<_, String>(14).parse().ok(),
            stopped_command: r.get(15),
            project_type: r.get(16),
            run_url: r.get(17),
        })
    }

    /// As the SQLite store's `fold_pending`.
    pub async fn fold_pending(
        &self,
        limit: usize,
        mut fold: Box<dyn Fold>,
    ) -> Result<usize, StoreError> {
        let error = |e| pg_error(&self.shown, e);
        let mut guard = self.connection().await?;
        let client = &mut guard.as_mut().expect("made by connection()").client;
        let transaction = client.transaction().await.map_err(error)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&FOLD_LOCK])
            .await
            .map_err(error)?;
        let taken: Vec<String> = transaction
            .query(
                "DELETE FROM unfolded WHERE (day, execution_id) IN (
                    SELECT day, execution_id FROM unfolded ORDER BY day, execution_id LIMIT $1)
                 RETURNING execution_id",
                &[&(limit as i64)],
            )
            .await
            .map_err(error)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if taken.is_empty() {
            return Ok(0);
        }
        let runs = transaction
            .query(
                &format!("{REPORT_SELECT} WHERE e.execution_id = ANY($1)"),
                &[&taken],
            )
            .await
            .map_err(error)?
            .iter()
            .map(|row| self.report_run(row))
            .collect::<Result<Vec<_>, _>>()?;
        let (days, dims): (Vec<String>, Vec<String>) = fold.take(&runs).into_iter().unzip();
        let stored = transaction
            .query(
                "SELECT day, dims, figures FROM report_groups
                 WHERE (day, dims) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
                &[&days, &dims],
            )
            .await
            .map_err(error)?
            .iter()
            .map(group_from)
            .collect();
        let folded = fold.merge(stored).map_err(|message| StoreError::Figures {
            database: self.shown.clone(),
            message,
        })?;
        let column = |f: fn(&StoredGroup) -> &String| -> Vec<&String> {
            folded.groups.iter().map(f).collect()
        };
        transaction
            .execute(
                &format!(
                    "INSERT INTO report_groups (day, dims, figures)
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) {GROUP_CONFLICT}"
                ),
                &[
                    &column(|g| &g.day),
                    &column(|g| &g.dims),
                    &column(|g| &g.figures),
                ],
            )
            .await
            .map_err(error)?;
        add_revisions(
            &transaction,
            [&folded.revisions, &folded.revisions_by_group],
        )
        .await
        .map_err(error)?;
        transaction.commit().await.map_err(error)?;
        Ok(runs.len())
    }

    /// Every kept group, of every day.
    pub async fn report_groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        self.map_rows(ALL_GROUPS, &[], |row| Ok(group_from(&row)))
            .await
    }

    /// As the SQLite store's `flaky_revisions`.
    pub async fn flaky_revisions(
        &self,
        since_day: &str,
        branch: Option<&str>,
        repository: Option<&str>,
    ) -> Result<Vec<StoredRevision>, StoreError> {
        let revision_from = |row: Row| {
            Ok(StoredRevision {
                command_hash: row.get(0),
                revision: row.get(1),
                branch: row.get(2),
                repository: row.get(3),
                ci_system: row.get(4),
                label: row.get(5),
                passed: row.get(6),
                failed: row.get(7),
                last_day: row.get(8),
            })
        };
        if branch.is_none() && repository.is_none() {
            return self
                .map_rows(FLAKY_REVISIONS, &[&since_day], revision_from)
                .await;
        }
        self.map_rows(
            FLAKY_REVISIONS_BY_GROUP,
            &[&since_day, &branch, &repository],
            revision_from,
        )
        .await
    }

    /// As the SQLite store's `streak`.
    pub async fn streak(
        &self,
        hash: &str,
        branch: Option<&str>,
        repository: Option<&str>,
        in_ci: Option<bool>,
    ) -> Result<Streak, StoreError> {
        let rows = self
            .rows(&last_success_sql(), &[&hash, &branch, &repository, &in_ci])
            .await?;
        let last_success: Option<String> = rows.first().and_then(|row| row.get(0));
        let after = last_success.clone().unwrap_or_default();
        let rows = self
            .rows(
                &first_failure_after_sql(),
                &[&hash, &branch, &repository, &in_ci, &after],
            )
            .await?;
        Ok(Streak {
            last_success,
            failing_since: rows.first().map(|row| (row.get(0), row.get(1))),
        })
    }

    /// As the SQLite store's `latest_failed`.
    pub async fn latest_failed(
        &self,
        since: SystemTime,
        count: usize,
        skip: usize,
    ) -> Result<Vec<ReportRun>, StoreError> {
        let bound = time_bound(Some(since));
        let (count, skip) = (count as i64, skip as i64);
        self.map_rows(&latest_failed_sql(), &[&bound, &count, &skip], |row| {
            self.report_run(&row)
        })
        .await
    }
}
