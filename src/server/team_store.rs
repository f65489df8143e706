//! The team store behind the server: a SQLite file (the default: one server, nothing to set
//! up) or PostgreSQL (a team: several servers on one database). Both answer the same
//! questions; SQLite's blocking calls run on tokio's blocking threads, over four connections
//! (writes, reads, keys, folds) so that a report being read never holds up a runner's write.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::analysis::rollup::StoreFold;
use crate::recording::record::RunRecord;
use crate::store::{
    Change, Messages, Notification, Observed, PasswordSources, PgStore, PgTarget, ReportRun,
    RunningNow, RunningRow, Store, StoreError, StoredGroup, StoredKey, StoredRevision, Streak,
};

/// Which store, as `--database` (or `EARLYEXIT_DATABASE_URL`, `DATABASE_URL`) names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL (credentials are never shown), and the file
    /// that holds its password, if one was given.
    Postgres {
        url: String,
        password_file: Option<PathBuf>,
    },
}

impl Database {
    /// A PostgreSQL URL, or else a SQLite file's path.
    pub fn parse(text: &str, password_file: Option<PathBuf>) -> Database {
        if is_postgres_url(text) {
            Database::Postgres {
                url: text.to_string(),
                password_file,
            }
        } else {
            Database::Sqlite(PathBuf::from(text))
        }
    }

    /// What the report and the messages call it.
    pub fn shown(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres { url, .. } => crate::urls::redact_url(url),
        }
    }
}

pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The PostgreSQL store: the URL read as libpq would (the password from the environment or
/// a file when the URL has none), the TLS its `sslmode` asks for, and the schema brought up
/// to date.
async fn connect_postgres(
    url: &str,
    password_file: Option<&std::path::Path>,
    statement_timeout: Duration,
) -> Result<PgStore, StoreError> {
    let shown = crate::urls::redact_url(url);
    let refused = |message: String| StoreError::Postgres {
        database: shown.clone(),
        message,
    };
    let env = |name: &str| std::env::var(name).ok();
    let sources = PasswordSources {
        file: password_file,
        env: &env,
    };
    let target = PgTarget::parse(url, &sources).map_err(|e| refused(e.to_string()))?;
    let connector =
        crate::delivery::postgres_connector(&target.tls.trust, target.tls.server_check())
            .map_err(|e| refused(e.to_string()))?;
    PgStore::connect(target, connector, statement_timeout).await
}

pub enum TeamStore {
    Sqlite {
        writer: Arc<Mutex<Store>>,
        reader: Arc<Mutex<Store>>,
        keys: Arc<Mutex<Store>>,
        /// Folds runs into the report's kept figures, apart from `writer` so that a runner's
        /// write never waits for a fold's turn on the connection, only (briefly) for its lock.
        folder: Arc<Mutex<Store>>,
        /// How many runs there were when the planner's statistics were last taken.
        sampled_runs: Arc<AtomicU64>,
    },
    /// Boxed: the pool and its configuration are large, and a server has one store.
    Postgres(Box<PgStore>),
}

/// Runs `work` on one SQLite connection, on a blocking thread.
async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        work(&mut store.lock().unwrap_or_else(PoisonError::into_inner))
    })
    .await
    .unwrap_or(Err(StoreError::ThreadFailed))
}

impl TeamStore {
    /// Opens (or creates) the store and brings its schema up to date. On PostgreSQL no
    /// statement runs longer than `statement_timeout`.
    pub async fn open(
        database: &Database,
        statement_timeout: Duration,
    ) -> Result<TeamStore, StoreError> {
        match database {
            Database::Sqlite(path) => {
                let path = path.clone();
                let open = move || -> Result<[Store; 4], StoreError> {
                    Ok([
                        Store::open_team(&path)?,
                        Store::open_team(&path)?,
                        Store::open_team(&path)?,
                        Store::open_team(&path)?,
                    ])
                };
                let [writer, reader, keys, folder] = tokio::task::spawn_blocking(open)
                    .await
                    .map_err(|_| StoreError::ThreadFailed)??;
                Ok(TeamStore::Sqlite {
                    writer: Arc::new(Mutex::new(writer)),
                    reader: Arc::new(Mutex::new(reader)),
                    keys: Arc::new(Mutex::new(keys)),
                    folder: Arc::new(Mutex::new(folder)),
                    sampled_runs: Arc::new(AtomicU64::new(0)),
                })
            }
            Database::Postgres { url, password_file } => Ok(TeamStore::Postgres(Box::new(
                connect_postgres(url, password_file.as_deref(), statement_timeout).await?,
            ))),
        }
    }

    /// Stores runs in one transaction, NUL in their text kept as `␀` (`RunRecord::without_nul`);
    /// returns how many were new.
    pub async fn insert(&self, runs: Vec<RunRecord>) -> Result<usize, StoreError> {
        let runs: Vec<RunRecord> = runs.into_iter().map(RunRecord::without_nul).collect();
        match self {
            TeamStore::Sqlite { writer, .. } => blocking(writer, move |s| s.insert(&runs)).await,
            TeamStore::Postgres(pg) => pg.insert(&runs).await,
        }
    }

    /// Runs that started and matches heard of, from live records.
    pub async fn note_live(
        &self,
        started: Vec<RunningRow>,
        matched: Vec<(String, u64)>,
    ) -> Result<(), StoreError> {
        match self {
            TeamStore::Sqlite { writer, .. } => {
                blocking(writer, move |s| s.note_live(&started, &matched)).await
            }
            TeamStore::Postgres(pg) => pg.note_live(&started, &matched).await,
        }
    }

    /// Every key in force, as (hash, name, role).
    /// Where command `hash` stands on the runs of `branch`, a repository `LIKE`
    /// `repository`, and in CI or not (`store::Streak`).
    pub async fn streak(
        &self,
        hash: &str,
        branch: Option<String>,
        repository: Option<String>,
        in_ci: Option<bool>,
    ) -> Result<Streak, StoreError> {
        match self {
            TeamStore::Sqlite { reader, .. } => {
                let hash = hash.to_string();
                blocking(reader, move |s| {
                    s.streak(&hash, branch.as_deref(), repository.as_deref(), in_ci)
                })
                .await
            }
            TeamStore::Postgres(pg) => {
                pg.streak(hash, branch.as_deref(), repository.as_deref(), in_ci)
                    .await
            }
        }
    }

    /// The name and role of the key in force with this hash, if there is one.
    pub async fn key_in_force(&self, hash: String) -> Result<Option<(String, String)>, StoreError> {
        match self {
            TeamStore::Sqlite { keys, .. } => blocking(keys, move |s| s.key_in_force(&hash)).await,
            TeamStore::Postgres(pg) => pg.key_in_force(&hash).await,
        }
    }

    pub async fn add_key(
        &self,
        name: String,
        hash: String,
        role: &'static str,
    ) -> Result<bool, StoreError> {
        match self {
            TeamStore::Sqlite { keys, .. } => {
                blocking(keys, move |s| s.add_key(&name, &hash, role)).await
            }
            TeamStore::Postgres(pg) => pg.add_key(&name, &hash, role).await,
        }
    }

    pub async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        match self {
            TeamStore::Sqlite { keys, .. } => blocking(keys, |s| s.keys()).await,
            TeamStore::Postgres(pg) => pg.keys().await,
        }
    }

    pub async fn revoke_key(&self, name: String) -> Result<bool, StoreError> {
        match self {
            TeamStore::Sqlite { keys, .. } => blocking(keys, move |s| s.revoke_key(&name)).await,
            TeamStore::Postgres(pg) => pg.revoke_key(&name).await,
        }
    }

    /// Brings the query planner's statistics up to date when the runs have grown by a tenth
    /// since they were last taken: SQLite's, on the connection that writes (so that no other
    /// writer waits on it); PostgreSQL keeps its own.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        match self {
            TeamStore::Sqlite {
                writer,
                reader,
                sampled_runs,
                ..
            } => {
                let sampled = Arc::clone(sampled_runs);
                let taken = blocking(writer, move |s| {
                    let runs = s.runs_grown_to()?;
                    let before = sampled.load(Ordering::Relaxed);
                    if runs == 0 || runs.abs_diff(before) * 10 <= before {
                        return Ok(false);
                    }
                    s.refresh_statistics()?;
                    sampled.store(runs, Ordering::Relaxed);
                    Ok(true)
                })
                .await?;
                if taken {
                    blocking(reader, |s| s.reload_statistics()).await?;
                }
                Ok(())
            }
            TeamStore::Postgres(_) => Ok(()),
        }
    }

    /// The store answers.
    pub async fn ready(&self) -> bool {
        match self {
            TeamStore::Sqlite { reader, .. } => {
                blocking(reader, |s| s.schema_version()).await.is_ok()
            }
            TeamStore::Postgres(pg) => pg.ready().await,
        }
    }

    /// Whether a write can be committed: on SQLite a row is written (a full disk refuses it);
    /// PostgreSQL's own disk is its business, and its failed writes show in the requests.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        match self {
            TeamStore::Sqlite { writer, .. } => blocking(writer, |s| s.probe_write()).await,
            TeamStore::Postgres(_) => Ok(()),
        }
    }

    /// Every kept report group.
    pub async fn kept_groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        match self {
            TeamStore::Sqlite { reader, .. } => blocking(reader, |s| s.report_groups()).await,
            TeamStore::Postgres(pg) => pg.report_groups().await,
        }
    }

    /// Folds up to `limit` runs stored since the last fold into the kept report figures;
    /// returns how many.
    pub async fn fold_pending(&self, limit: usize) -> Result<usize, StoreError> {
        match self {
            TeamStore::Sqlite { folder, .. } => {
                blocking(folder, move |s| {
                    s.fold_pending(limit, Box::<StoreFold>::default())
                })
                .await
            }
            TeamStore::Postgres(pg) => pg.fold_pending(limit, Box::<StoreFold>::default()).await,
        }
    }

    /// Compares a run with its command's state on its branch (see `store::alerts`), queuing
    /// the messages of each change.
    pub async fn observe(
        &self,
        run: &Observed,
        messages: Messages,
    ) -> Result<Vec<Change>, StoreError> {
        match self {
            TeamStore::Sqlite { writer, .. } => {
                let run = run.clone();
                blocking(writer, move |s| s.observe(&run, &messages)).await
            }
            TeamStore::Postgres(pg) => pg.observe(run, &messages).await,
        }
    }

    /// The next message due for `target`, leased until `until`.
    pub async fn claim_notification(
        &self,
        target: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Option<Notification>, StoreError> {
        match self {
            TeamStore::Sqlite { writer, .. } => {
                let target = target.to_string();
                blocking(writer, move |s| s.claim_notification(&target, now, until)).await
            }
            TeamStore::Postgres(pg) => pg.claim_notification(target, now, until).await,
        }
    }

    /// A message posted, or given up on.
    pub async fn forget_notification(&self, id: &str) -> Result<(), StoreError> {
        match self {
            TeamStore::Sqlite { writer, .. } => {
                let id = id.to_string();
                blocking(writer, move |s| s.forget_notification(&id)).await
            }
            TeamStore::Postgres(pg) => pg.forget_notification(id).await,
        }
    }

    /// A message its target did not take, due again at `at`.
    pub async fn retry_notification(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        match self {
            TeamStore::Sqlite { writer, .. } => {
                let id = id.to_string();
                blocking(writer, move |s| s.retry_notification(&id, at)).await
            }
            TeamStore::Postgres(pg) => pg.retry_notification(id, at).await,
        }
    }

    /// Removes up to `limit` runs that started before `cutoff` (the start of a UTC day), and
    /// their part of the kept figures; returns how many went.
    pub async fn forget_before(
        &self,
        cutoff: SystemTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        match self {
            TeamStore::Sqlite { folder, .. } => {
                blocking(folder, move |s| {
                    s.forget_before(cutoff, limit, Box::<StoreFold>::default())
                })
                .await
            }
            TeamStore::Postgres(pg) => {
                pg.forget_before(cutoff, limit, Box::<StoreFold>::default())
                    .await
            }
        }
    }

    /// Every kept report group, and the revisions the flaky section may show on a page of
    /// the days since `since_day` (by group, when the page keeps a branch or a repository
    /// `LIKE` a pattern).
    pub async fn kept_figures(
        &self,
        since_day: String,
        branch: Option<String>,
        repository_like: Option<String>,
    ) -> Result<(Vec<StoredGroup>, Vec<StoredRevision>), StoreError> {
        Ok(match self {
            TeamStore::Sqlite { reader, .. } => {
                blocking(reader, move |s| {
                    let revisions = s.flaky_revisions(
                        &since_day,
                        branch.as_deref(),
                        repository_like.as_deref(),
                    )?;
                    Ok((s.report_groups()?, revisions))
                })
                .await?
            }
            TeamStore::Postgres(pg) => {
                let (branch, repository) = (branch.as_deref(), repository_like.as_deref());
                let revisions = pg.flaky_revisions(&since_day, branch, repository).await?;
                (pg.report_groups().await?, revisions)
            }
        })
    }

    /// The runs that started from `since` until `until`.
    pub async fn report_runs(
        &self,
        since: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<ReportRun>, StoreError> {
        match self {
            TeamStore::Sqlite { reader, .. } => {
                blocking(reader, move |s| s.report_runs(Some(since), Some(until))).await
            }
            TeamStore::Postgres(pg) => pg.report_runs(since, until).await,
        }
    }

    /// The failed runs since `since`, newest first: `count` after the first `skip`.
    pub async fn latest_failed(
        &self,
        since: SystemTime,
        count: usize,
        skip: usize,
    ) -> Result<Vec<ReportRun>, StoreError> {
        match self {
            TeamStore::Sqlite { reader, .. } => {
                blocking(reader, move |s| s.latest_failed(since, count, skip)).await
            }
            TeamStore::Postgres(pg) => pg.latest_failed(since, count, skip).await,
        }
    }

    /// Which of these execution ids the store holds.
    pub async fn held(&self, execution_ids: Vec<String>) -> Result<Vec<String>, StoreError> {
        match self {
            TeamStore::Sqlite { reader, .. } => {
                blocking(reader, move |s| s.held(&execution_ids)).await
            }
            TeamStore::Postgres(pg) => pg.held(&execution_ids).await,
        }
    }

    /// The runs in progress: heard of since `lost_before`, or lost; `limit` rows.
    pub async fn running_now(
        &self,
        lost_before: SystemTime,
        limit: usize,
    ) -> Result<RunningNow, StoreError> {
        match self {
            TeamStore::Sqlite { reader, .. } => {
                blocking(reader, move |s| s.running_now(lost_before, limit)).await
            }
            TeamStore::Postgres(pg) => pg.running_now(lost_before, limit).await,
        }
    }

    /// Deletes the running rows of runs that are stored, and of lost runs not heard of since
    /// `forgotten_before`.
    pub async fn forget_ended_running(
        &self,
        forgotten_before: SystemTime,
    ) -> Result<usize, StoreError> {
        match self {
            TeamStore::Sqlite { writer, .. } => {
                blocking(writer, move |s| s.forget_ended_running(forgotten_before)).await
            }
            TeamStore::Postgres(pg) => pg.forget_ended_running(forgotten_before).await,
        }
    }
}
