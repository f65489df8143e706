//! The team store on PostgreSQL (`earlyexit serve --database postgres://…`): the tables of the
//! SQLite store (`executions`, `match_events`, `running`, `api_keys`) and the same reads, so the
//! report and the figures are the same whichever store a team runs. Migrations are versioned in
//! `earlyexit_schema` and applied at start-up, once, under an advisory lock (several servers
//! may start together). A run is kept once: `ON CONFLICT DO NOTHING` on its execution id and on
//! its trace and span ids, one transaction per request.
//!
//! A small pool of connections, each made again when PostgreSQL went away: a restart of the
//! database costs the requests in flight a 503, never the server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

mod schema;

use crate::numbers::percentile;
use crate::recording::record::RunRecord;
use crate::store::queries::{
    outcome_of, over_period, time_bound, BY_EXIT_REASON, BY_OUTCOME, BY_PROJECT_TYPE, REPORT_RUNS,
    RUN_TIMINGS, TOP_COMMANDS, TOP_PATTERNS,
};
use crate::store::rows::EXECUTION_COLUMNS;
use crate::store::{ReportRun, RunTiming, RunningRow, Stats, StoreError, Tally};
use schema::MIGRATIONS;

/// Connections kept open to the database.
const POOL: usize = 4;
/// How long a connection may take to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Runs per insert statement: 32 parameters each, within PostgreSQL's 65,535.
const RUNS_PER_STATEMENT: usize = 1000;

/// The team store on PostgreSQL.
pub struct PgStore {
    config: tokio_postgres::Config,
    /// Where it is, for messages: without credentials.
    shown: String,
    pool: Vec<tokio::sync::Mutex<Option<Client>>>,
    next: AtomicUsize,
}

fn pg_error(shown: &str, error: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres {
        database: shown.to_string(),
        message: crate::urls::redact_urls_in(&error.to_string()),
    }
}

/// SQLite's placeholders (`?1`) as PostgreSQL's (`$1`).
fn numbered(sql: &str) -> String {
    sql.replace('?', "$")
}

impl PgStore {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let shown = crate::urls::redact_url(url);
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| pg_error(&shown, e))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        let store = PgStore {
            config,
            shown,
            pool: (0..POOL).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A connection of the pool, made (again) if it is not open.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, StoreError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut slot = None;
        for offset in 0..POOL {
            if let Ok(guard) = self.pool[(start + offset) % POOL].try_lock() {
                slot = Some(guard);
                break;
            }
        }
        let mut guard = match slot {
            Some(guard) => guard,
            None => self.pool[start % POOL].lock().await,
        };
        if guard.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = self
                .config
                .connect(NoTls)
                .await
                .map_err(|e| pg_error(&self.shown, e))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            *guard = Some(client);
        }
        Ok(guard)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().expect("made by client()");
        let error = |e| pg_error(&self.shown, e);
        let transaction = client.transaction().await.map_err(error)?;
        // One server migrates; the others wait here and find it done.
        transaction
            .execute("SELECT pg_advisory_xact_lock(7272727)", &[])
            .await
            .map_err(error)?;
        transaction
            .batch_execute("CREATE TABLE IF NOT EXISTS earlyexit_schema (version BIGINT NOT NULL)")
            .await
            .map_err(error)?;
        let version: i64 = transaction
            .query_opt("SELECT version FROM earlyexit_schema", &[])
            .await
            .map_err(error)?
            .map_or(0, |row| row.get(0));
        for migration in MIGRATIONS.iter().skip(version.max(0) as usize) {
            transaction.batch_execute(migration).await.map_err(error)?;
        }
        transaction
            .execute("DELETE FROM earlyexit_schema", &[])
            .await
            .map_err(error)?;
        transaction
            .execute(
                "INSERT INTO earlyexit_schema (version) VALUES ($1)",
                &[&(MIGRATIONS.len() as i64)],
            )
            .await
            .map_err(error)?;
        transaction.commit().await.map_err(error)
    }

    /// Stores runs in one transaction; returns how many were new. A run already stored, by
    /// execution id or by trace and span ids, is left as it is.
    pub async fn insert(&self, runs: &[RunRecord]) -> Result<usize, StoreError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().expect("made by client()");
        let error = |e| pg_error(&self.shown, e);
        let transaction = client.transaction().await.map_err(error)?;
        let mut new = Vec::new();
        for chunk in runs.chunks(RUNS_PER_STATEMENT) {
            let mut values = Vec::new();
            let mut parameters: Vec<&(dyn ToSql + Sync)> = Vec::new();
            for run in chunk {
                let e = &run.execution;
                let row: [&(dyn ToSql + Sync); 32] = [
                    &e.execution_id,
                    &e.timestamp,
                    &e.trace_id,
                    &e.span_id,
                    &e.parent_span_id,
                    &e.command_hash,
                    &e.executable,
                    &e.pattern,
                    &e.exit_code,
                    &e.exit_reason,
                    &e.command_exit_code,
                    &e.total_runtime,
                    &e.time_to_first_output,
                    &e.time_to_first_match,
                    &e.match_count,
                    &e.lines_processed,
                    &e.bytes_processed,
                    &e.project_type,
                    &e.command_category,
                    &e.ci_system,
                    &e.pipeline_name,
                    &e.pipeline_run_id,
                    &e.anonymized,
                    &e.command,
                    &e.working_directory,
                    &e.pipeline_run_url,
                    &e.vcs_ref,
                    &e.vcs_revision,
                    &e.vcs_repository_url,
                    &e.stopped_command,
                    &e.outcome,
                    &e.task_name,
                ];
                let first = parameters.len();
                let placeholders: Vec<String> =
                    (1..=row.len()).map(|i| format!("${}", first + i)).collect();
                values.push(format!("({})", placeholders.join(", ")));
                parameters.extend(row);
            }
            let sql = format!(
                "INSERT INTO executions ({EXECUTION_COLUMNS}) VALUES {} ON CONFLICT DO NOTHING RETURNING execution_id",
                values.join(", ")
            );
            for row in transaction.query(&sql, &parameters).await.map_err(error)? {
                new.push(row.get::<_, String>(0));
            }
        }
        let inserted = |id: &str| new.iter().any(|n| n == id);
        // Every match of the new runs in one statement, column by column.
        let matches: Vec<_> = runs
            .iter()
            .filter(|run| inserted(&run.execution.execution_id))
            .flat_map(|run| &run.matches)
            .collect();
        let numbers: Vec<i64> = matches.iter().map(|m| m.match_number).collect();
        let offsets: Vec<f64> = matches.iter().map(|m| m.timestamp_offset).collect();
        let lines: Vec<i64> = matches.iter().map(|m| m.line_number).collect();
        let contents: Vec<Option<&str>> =
            matches.iter().map(|m| m.line_content.as_deref()).collect();
        transaction
            .execute(
                "INSERT INTO match_events (execution_id, match_number, timestamp_offset,
                 stream_source, line_number, match_kind, line_content)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::float8[], $4::text[],
                                      $5::bigint[], $6::text[], $7::text[])
                 ON CONFLICT DO NOTHING",
                &[
                    &matches
                        .iter()
                        .map(|m| m.execution_id.as_str())
                        .collect::<Vec<_>>(),
                    &numbers,
                    &offsets,
                    &matches
                        .iter()
                        .map(|m| m.stream_source.as_str())
                        .collect::<Vec<_>>(),
                    &lines,
                    &matches
                        .iter()
                        .map(|m| m.match_kind.as_str())
                        .collect::<Vec<_>>(),
                    &contents,
                ],
            )
            .await
            .map_err(error)?;
        let ids: Vec<&str> = runs
            .iter()
            .map(|r| r.execution.execution_id.as_str())
            .collect();
        transaction
            .execute("DELETE FROM running WHERE execution_id = ANY($1)", &[&ids])
            .await
            .map_err(error)?;
        transaction.commit().await.map_err(error)?;
        Ok(new.len())
    }

    /// Runs that started, and the latest match heard of per run, in one transaction.
    pub async fn note_live(
        &self,
        started: &[RunningRow],
        matched: &[(String, u64)],
    ) -> Result<(), StoreError> {
        let mut guard = self.client().await?;
        let client = guard.as_mut().expect("made by client()");
        let error = |e| pg_error(&self.shown, e);
        let transaction = client.transaction().await.map_err(error)?;
        let now = crate::store::running::epoch_millis(SystemTime::now());
        for row in started {
            transaction
                .execute(
                    "INSERT INTO running (execution_id, trace_id, span_id, started, last_seen, span)
                     SELECT $1, $2, $3, $4, $5, $6
                     WHERE NOT EXISTS (SELECT 1 FROM executions WHERE execution_id = $1)
                     ON CONFLICT DO NOTHING",
                    &[&row.execution_id, &row.trace_id, &row.span_id, &row.started, &now, &row.span],
                )
                .await
                .map_err(error)?;
        }
        for (execution_id, number) in matched {
            transaction
                .execute(
                    "UPDATE running SET last_seen = $2, match_count = greatest(match_count, $3)
                     WHERE execution_id = $1",
                    &[execution_id, &now, &(*number as i64)],
                )
                .await
                .map_err(error)?;
        }
        transaction.commit().await.map_err(error)
    }

    async fn rows(
        &self,
        sql: &str,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.map_rows(sql, parameters, Ok).await
    }

    /// Every row of a query, each made into a value as it arrives: a report's million runs
    /// are never held twice, as rows and as values.
    async fn map_rows<T>(
        &self,
        sql: &str,
        parameters: &[&(dyn ToSql + Sync)],
        mut map: impl FnMut(Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        use futures_util::TryStreamExt;
        let error = |e| pg_error(&self.shown, e);
        let guard = self.client().await?;
        let client = guard.as_ref().expect("made by client()");
        let rows = client
            .query_raw(&numbered(sql), parameters.iter().copied())
            .await
            .map_err(error)?;
        futures_util::pin_mut!(rows);
        let mut mapped = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(error)? {
            mapped.push(map(row)?);
        }
        Ok(mapped)
    }

    /// A query over a period: with its start bound, or over every run.
    async fn rows_bound(&self, sql: &str, bound: &Option<String>) -> Result<Vec<Row>, StoreError> {
        match bound {
            Some(bound) => self.rows(sql, &[bound]).await,
            None => self.rows(sql, &[]).await,
        }
    }

    /// The database answers.
    pub async fn ready(&self) -> bool {
        self.rows("SELECT 1", &[]).await.is_ok()
    }

    pub async fn running_count(&self) -> Result<i64, StoreError> {
        Ok(self.rows("SELECT count(*) FROM running", &[]).await?[0].get(0))
    }

    /// Every key in force, as (hash, name, role).
    pub async fn keys_in_force(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = self
            .rows(
                "SELECT hash, name, role FROM api_keys WHERE revoked IS NULL",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Adds a key by its hash; false when the name is taken.
    pub async fn add_key(&self, name: &str, hash: &str, role: &str) -> Result<bool, StoreError> {
        let created = crate::timestamp::millis(SystemTime::now());
        let rows = self
            .rows(
                "INSERT INTO api_keys (name, hash, role, created) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING RETURNING name",
                &[&name, &hash, &role, &created],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Every key, revoked ones too, by name: (name, role, created, revoked).
    pub async fn keys(&self) -> Result<Vec<crate::store::StoredKey>, StoreError> {
        let rows = self
            .rows(
                "SELECT name, role, created, revoked FROM api_keys ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| crate::store::StoredKey {
                name: r.get(0),
                role: r.get(1),
                created: r.get(2),
                revoked: r.get(3),
            })
            .collect())
    }

    pub async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let revoked = crate::timestamp::millis(SystemTime::now());
        let rows = self
            .rows(
                "UPDATE api_keys SET revoked = ?2 WHERE name = ?1 AND revoked IS NULL RETURNING name",
                &[&name, &revoked],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn tally(&self, sql: &str, since: Option<SystemTime>) -> Result<Vec<Tally>, StoreError> {
        let (sql, bound) = over_period(sql, since);
        let rows = self.rows_bound(&sql, &bound).await?;
        Ok(rows
            .iter()
            .map(|r| Tally {
                value: r.get::<_, Option<String>>(0).unwrap_or_default(),
                count: r.get(1),
            })
            .collect())
    }

    /// The figures of `telemetry stats`, as the SQLite store gives them.
    pub async fn stats(&self, since: Option<SystemTime>) -> Result<Stats, StoreError> {
        let by_outcome = self.tally(BY_OUTCOME, since).await?;
        let (sql, bound) = over_period("SELECT total_runtime FROM runs ORDER BY 1", since);
        let runtimes: Vec<f64> = self
            .rows_bound(&sql, &bound)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let (sql, bound) = over_period(
            "SELECT count(*) FROM match_events JOIN runs USING (execution_id)",
            since,
        );
        let match_events: i64 = self.rows_bound(&sql, &bound).await?[0].get(0);
        Ok(Stats {
            runs: by_outcome.iter().map(|tally| tally.count).sum(),
            match_events,
            by_outcome,
            by_exit_reason: self.tally(BY_EXIT_REASON, since).await?,
            by_project_type: self.tally(BY_PROJECT_TYPE, since).await?,
            runtime_p50: percentile(&runtimes, 0.50),
            runtime_p95: percentile(&runtimes, 0.95),
            top_patterns: self.tally(TOP_PATTERNS, since).await?,
            top_commands: self.tally(TOP_COMMANDS, since).await?,
        })
    }

    /// What the time-saved estimate reads, as the SQLite store gives it.
    pub async fn run_timings(
        &self,
        since: Option<SystemTime>,
    ) -> Result<Vec<RunTiming>, StoreError> {
        let bound = time_bound(since);
        self.map_rows(RUN_TIMINGS, &[&bound], |r| {
            Ok(RunTiming {
                command_hash: r.get(0),
                label: r.get(1),
                exit_reason: r.get::<_, String>(2).parse().ok(),
                stopped_command: r.get(3),
                runtime: r.get(4),
                in_period: r.get(5),
                timestamp: r.get(6),
                execution_id: r.get(7),
            })
        })
        .await
    }

    /// The period's runs, oldest first, as the report reads them.
    pub async fn report_runs(
        &self,
        since: Option<SystemTime>,
    ) -> Result<Vec<ReportRun>, StoreError> {
        let bound = time_bound(since);
        self.map_rows(REPORT_RUNS, &[&bound], |r| {
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
            })
        })
        .await
    }
}
