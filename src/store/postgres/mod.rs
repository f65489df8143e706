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
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

mod alerts;
mod passfile;
mod report;
mod retention;
mod schema;
mod target;

pub use target::{PasswordSources, PgTarget};

use crate::recording::record::{ExecutionRecord, MatchRecord, RunRecord};
use crate::store::queries::{end_bound, time_bound, REPORT_RUNS};
use crate::store::rows::EXECUTION_COLUMNS;
use crate::store::running::{
    epoch_millis, RunningNow, FORGET_ENDED_RUNNING, RUNNING_COUNTS, RUNNING_NOW,
};
use crate::store::team::KEY_IN_FORCE;
use crate::store::{ReportRun, RunningRow, StoreError};
use schema::MIGRATIONS;

/// Connections kept open to the database.
const POOL: usize = 4;
/// How long a connection may take to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The team store on PostgreSQL.
pub struct PgStore {
    config: tokio_postgres::Config,
    /// Used as `sslmode` says: not at all for `disable`.
    tls: MakeRustlsConnect,
    /// Where it is, for messages: without credentials.
    shown: String,
    pool: Vec<tokio::sync::Mutex<Option<Connection>>>,
    next: AtomicUsize,
}

/// An open connection of the pool, with the insert statement once it was prepared on it.
struct Connection {
    client: Client,
    insert_runs: Option<Statement>,
}

fn pg_error(shown: &str, error: tokio_postgres::Error) -> StoreError {
    // The database's own words ("canceling statement due to statement timeout"): the error's
    // Display says only "db error".
    let message = match error.as_db_error() {
        Some(db) => db.message().to_string(),
        None => crate::message::with_causes(&error),
    };
    let database = shown.to_string();
    let message = crate::urls::redact_urls_in(&message);
    // SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the
    // batch holds what the store will never take.
    let refused = error
        .code()
        .is_some_and(|code| code.code().starts_with("22") || code.code().starts_with("23"));
    match refused {
        true => StoreError::Refused { database, message },
        false => StoreError::Postgres { database, message },
    }
}

/// SQLite's placeholders (`?1`) as PostgreSQL's (`$1`).
fn numbered(sql: &str) -> String {
    sql.replace('?', "$")
}

/// The statement of [`PgStore::insert`]: the runs that are new (`ON CONFLICT DO NOTHING` on
/// either key), the matches of those alone, and the batch's running rows gone. Its values come
/// column by column, as arrays, so the statement is the same for any batch and is prepared
/// once per connection (parsing and planning a statement of 50 rows of values cost more than
/// inserting them). A match's run is inserted by the same statement: its foreign key is checked
/// at the statement's end.
fn insert_runs_sql() -> String {
    format!(
        "WITH new AS (
            INSERT INTO executions ({EXECUTION_COLUMNS})
            SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::bigint[],
                $12::float8[], $13::float8[], $14::float8[], $15::bigint[], $16::bigint[],
                $17::bigint[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[],
                $23::bool[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[],
                $29::text[], $30::bool[], $31::text[], $32::text[])
            ON CONFLICT DO NOTHING RETURNING execution_id),
        matched AS (
            INSERT INTO match_events (execution_id, match_number, timestamp_offset,
                stream_source, line_number, match_kind, line_content)
            SELECT m.* FROM UNNEST($33::text[], $34::bigint[], $35::float8[], $36::text[],
                $37::bigint[], $38::text[], $39::text[])
                AS m (execution_id, match_number, timestamp_offset, stream_source, line_number,
                      match_kind, line_content)
            JOIN new USING (execution_id)
            ON CONFLICT DO NOTHING),
        ended AS (DELETE FROM running WHERE execution_id = ANY($1))
        SELECT count(*) FROM new"
    )
}

impl PgStore {
    /// Connects and brings the schema up to date. No statement may run longer than
    /// `statement_timeout` (lock waits included): a request is never held by the database
    /// for longer than that.
    pub async fn connect(
        target: PgTarget,
        tls: MakeRustlsConnect,
        statement_timeout: Duration,
    ) -> Result<PgStore, StoreError> {
        let PgTarget {
            mut config, shown, ..
        } = target;
        config.connect_timeout(CONNECT_TIMEOUT);
        let timeout = format!("-c statement_timeout={}", statement_timeout.as_millis());
        let options = match config.get_options() {
            Some(given) => format!("{given} {timeout}"),
            None => timeout,
        };
        config.options(&options);
        let store = PgStore {
            config,
            tls,
            shown,
            pool: (0..POOL).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A connection of the pool, made (again) if it is not open.
    async fn connection(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<Connection>>, StoreError> {
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
        if guard.as_ref().is_none_or(|open| open.client.is_closed()) {
            let (client, connection) = self
                .config
                .connect(self.tls.clone())
                .await
                .map_err(|e| pg_error(&self.shown, e))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            *guard = Some(Connection {
                client,
                insert_runs: None,
            });
        }
        Ok(guard)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut guard = self.connection().await?;
        let client = &mut guard.as_mut().expect("made by connection()").client;
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

    /// Stores runs in one statement (so one transaction and one round trip); returns how many
    /// were new. A run already stored, by execution id or by trace and span ids, is left as it
    /// is, and so are its matches.
    pub async fn insert(&self, runs: &[RunRecord]) -> Result<usize, StoreError> {
        let error = |e| pg_error(&self.shown, e);
        let mut guard = self.connection().await?;
        let connection = guard.as_mut().expect("made by connection()");
        let statement = match &connection.insert_runs {
            Some(statement) => statement.clone(),
            None => {
                let statement = connection
                    .client
                    .prepare(&insert_runs_sql())
                    .await
                    .map_err(error)?;
                connection.insert_runs.insert(statement).clone()
            }
        };
        let executions: Vec<&ExecutionRecord> = runs.iter().map(|run| &run.execution).collect();
        let matches: Vec<&MatchRecord> = runs.iter().flat_map(|run| &run.matches).collect();
        macro_rules! columns {
            ($rows:ident: $($field:ident),*) => {
                [$(Box::new($rows.iter().map(|row| &row.$field).collect::<Vec<_>>())
                    as Box<dyn ToSql + Sync + Send + '_>),*]
            };
        }
        // In the order of EXECUTION_COLUMNS, then of the match columns.
        let execution_columns = columns!(executions: execution_id, timestamp, trace_id, span_id,
            parent_span_id, command_hash, executable, pattern, exit_code, exit_reason,
            command_exit_code, total_runtime, time_to_first_output, time_to_first_match,
            match_count, lines_processed, bytes_processed, project_type, command_category,
            ci_system, pipeline_name, pipeline_run_id, anonymized, command, working_directory,
            pipeline_run_url, vcs_ref, vcs_revision, vcs_repository_url, stopped_command, outcome,
            task_name);
        let match_columns = columns!(matches: execution_id, match_number, timestamp_offset,
            stream_source, line_number, match_kind, line_content);
        let parameters: Vec<&(dyn ToSql + Sync)> = execution_columns
            .iter()
            .chain(&match_columns)
            .map(|column| column.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let new: i64 = connection
            .client
            .query_one(&statement, &parameters)
            .await
            .map_err(error)?
            .get(0);
        Ok(new.unsigned_abs() as usize)
    }

    /// Runs that started, and the latest match heard of per run, in one transaction.
    pub async fn note_live(
        &self,
        started: &[RunningRow],
        matched: &[(String, u64)],
    ) -> Result<(), StoreError> {
        let mut guard = self.connection().await?;
        let client = &mut guard.as_mut().expect("made by connection()").client;
        let error = |e| pg_error(&self.shown, e);
        let transaction = client.transaction().await.map_err(error)?;
        let now = epoch_millis(SystemTime::now());
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
        let guard = self.connection().await?;
        let client = &guard.as_ref().expect("made by connection()").client;
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

    /// The database answers.
    pub async fn ready(&self) -> bool {
        self.rows("SELECT 1", &[]).await.is_ok()
    }

    /// Which of these execution ids the store holds.
    pub async fn held(&self, execution_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let rows = self
            .rows(
                "SELECT execution_id FROM executions WHERE execution_id = ANY($1)",
                &[&execution_ids],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// The runs in progress: heard of since `lost_before`, or lost; `limit` rows.
    pub async fn running_now(
        &self,
        lost_before: SystemTime,
        limit: usize,
    ) -> Result<RunningNow, StoreError> {
        let cut = epoch_millis(lost_before);
        let counts = &self.rows(RUNNING_COUNTS, &[&cut]).await?[0];
        let rows = self
            .map_rows(RUNNING_NOW, &[&(limit as i64)], |row| {
                let last_seen: i64 = row.get(4);
                let match_count: i64 = row.get(5);
                Ok(RunningRow {
                    execution_id: row.get(0),
                    trace_id: row.get(1),
                    span_id: row.get(2),
                    started: row.get(3),
                    last_seen: SystemTime::UNIX_EPOCH
                        + Duration::from_millis(last_seen.max(0) as u64),
                    match_count: match_count.max(0) as u64,
                    span: row.get(6),
                })
            })
            .await?;
        Ok(RunningNow {
            in_progress: counts.get(0),
            lost: counts.get(1),
            rows,
        })
    }

    /// As the SQLite store's `forget_ended_running`.
    pub async fn forget_ended_running(
        &self,
        forgotten_before: SystemTime,
    ) -> Result<usize, StoreError> {
        let guard = self.connection().await?;
        let client = &guard.as_ref().expect("made by connection()").client;
        let deleted = client
            .execute(
                &numbered(FORGET_ENDED_RUNNING),
                &[&epoch_millis(forgotten_before)],
            )
            .await
            .map_err(|e| pg_error(&self.shown, e))?;
        Ok(deleted as usize)
    }

    /// The name and role of the key in force with this hash, if there is one.
    pub async fn key_in_force(&self, hash: &str) -> Result<Option<(String, String)>, StoreError> {
        let rows = self.rows(KEY_IN_FORCE, &[&hash]).await?;
        Ok(rows.first().map(|r| (r.get(0), r.get(1))))
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

    /// The runs that started from `since` until `until`, in no order.
    pub async fn report_runs(
        &self,
        since: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<ReportRun>, StoreError> {
        let (since, until) = (time_bound(Some(since)), end_bound(Some(until)));
        self.map_rows(REPORT_RUNS, &[&since, &until], |row| self.report_run(&row))
            .await
    }
}
