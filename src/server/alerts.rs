//! `serve --notify URL`: a message to a webhook when a command on a watched branch
//! (`--notify-branch`, `main` unless named) turns from passing to failing, back to passing, or
//! becomes flaky (one revision both passed and failed).
//!
//! The body is JSON that Slack's incoming webhooks (and Mattermost's, and Teams' workflows)
//! post as it is, its `text`, with the same facts under `earlyexit` for any other receiver.
//!
//! Ingest never waits for any of it: a stored run's facts go to a bounded queue (a run that
//! finds it full is not compared, and the next run of its command is); a task compares them
//! with the store's states, which queues the messages in the same transaction; another posts
//! them, each at most [`ATTEMPTS`] times, 1, 2, 4… s apart. Servers sharing a store post one
//! message per change: the state is changed under its row's lock.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::routes::App;
use crate::outcome::Outcome;
use crate::recording::record::RunRecord;
use crate::store::{Change, Observed};

/// Runs waiting to be compared; past it a run is not (the next one of its command is).
const QUEUE: usize = 10_000;
/// Posts of one message before it is given up.
const ATTEMPTS: i64 = 5;
/// How long a post may take, and how long a message is held by the server posting it.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
const LEASE: Duration = Duration::from_secs(30);
/// How often the messages due are looked for.
const POST_EVERY: Duration = Duration::from_secs(1);

/// A webhook, and the name the store keeps its messages under: a hash, since a webhook's URL
/// is often its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: String,
    id: String,
}

impl Target {
    pub fn new(url: &str) -> Result<Target, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "--notify '{}' is not an http:// or https:// URL",
                crate::urls::redact_url(url)
            ));
        }
        let id = Sha256::digest(url.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Target {
            url: url.to_string(),
            id,
        })
    }
}

/// What the alerts watch and where they post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    pub targets: Vec<Target>,
    pub branches: Vec<String>,
}

/// A stored run on a watched branch: what is compared, and what a message says of it.
pub struct Seen {
    observed: Observed,
    command: String,
    execution_id: String,
    run_url: Option<String>,
}

/// The ingest side: hands stored runs to the comparing task.
pub struct Alerts {
    settings: AlertSettings,
    queue: mpsc::Sender<Seen>,
}

impl Alerts {
    /// The alerts, and the receiving end of their queue; `None` without a target.
    pub fn new(settings: AlertSettings) -> Option<(Alerts, mpsc::Receiver<Seen>)> {
        if settings.targets.is_empty() {
            return None;
        }
        let (queue, receiver) = mpsc::channel(QUEUE);
        Some((Alerts { settings, queue }, receiver))
    }

    /// The runs of a request that are on a watched branch, before they are stored.
    pub fn watched(&self, runs: &[RunRecord]) -> Vec<Seen> {
        runs.iter()
            .filter_map(|run| {
                let e = &run.execution;
                let branch = e.vcs_ref.as_deref()?;
                if !self.settings.branches.iter().any(|b| b == branch) {
                    return None;
                }
                let outcome = e.outcome.as_deref()?.parse::<Outcome>().ok()?;
                Some(Seen {
                    observed: Observed {
                        command_hash: e.command_hash.clone(),
                        branch: branch.to_string(),
                        repository: e.vcs_repository_url.clone().unwrap_or_default(),
                        started: e.timestamp.clone(),
                        revision: e.vcs_revision.clone().unwrap_or_default(),
                        failed: outcome.is_failed(),
                    },
                    command: e
                        .command
                        .clone()
                        .or_else(|| e.executable.clone())
                        .unwrap_or_else(|| e.command_hash.chars().take(12).collect()),
                    execution_id: e.execution_id.clone(),
                    run_url: e.pipeline_run_url.clone(),
                })
            })
            .collect()
    }

    /// Queues stored runs to be compared, without waiting: a full queue drops them.
    pub fn stored(&self, seen: Vec<Seen>) {
        for run in seen {
            if self.queue.try_send(run).is_err() {
                break;
            }
        }
    }
}

/// The message for a change, as the webhook's JSON body.
fn body(change: Change, seen: &Seen) -> String {
    let o = &seen.observed;
    let place = match o.repository.as_str() {
        "" => format!("on {}", o.branch),
        repository => format!("on {} of {repository}", o.branch),
    };
    let (word, text) = match change {
        Change::Failing => ("failing", format!("`{}` is failing {place}", seen.command)),
        Change::Passing => (
            "passing",
            format!("`{}` passes again {place}", seen.command),
        ),
        Change::Flaky => (
            "flaky",
            format!(
                "`{}` is flaky {place}: revision {} both passed and failed",
                seen.command, o.revision
            ),
        ),
    };
    let revision = match o.revision.as_str() {
        "" => String::new(),
        revision => format!(" at {revision}"),
    };
    let link = seen
        .run_url
        .as_deref()
        .map(|url| format!(" ({url})"))
        .unwrap_or_default();
    json!({
        "text": format!("{text}{revision}{link}"),
        "earlyexit": {
            "change": word,
            "command": seen.command,
            "branch": o.branch,
            "repository": o.repository,
            "revision": o.revision,
            "started": o.started,
            "execution_id": seen.execution_id,
            "run_url": seen.run_url,
        }
    })
    .to_string()
}

/// Compares each stored run as it comes; a store that fails costs that run's comparison.
pub async fn compare(app: Arc<App>, mut runs: mpsc::Receiver<Seen>, targets: Vec<Target>) {
    while let Some(seen) = runs.recv().await {
        let messages = |change: Change| -> Vec<(String, String)> {
            let text = body(change, &seen);
            targets
                .iter()
                .map(|t| (t.id.clone(), text.clone()))
                .collect()
        };
        if let Err(error) = app.store.observe(&seen.observed, &messages).await {
            super::log_line(&json!({"event": "alert", "error": error.to_string()}));
        }
    }
}

/// Posts the messages due, target by target, for as long as the server runs.
pub async fn post(app: Arc<App>, targets: Vec<Target>) {
    let tls = crate::delivery::tls::Trust::default().ureq_config().ok();
    let agent = crate::delivery::tls::agent(POST_TIMEOUT, tls.as_ref());
    loop {
        for (number, target) in targets.iter().enumerate() {
            while let Ok(Some(message)) = {
                let now = SystemTime::now();
                app.store
                    .claim_notification(&target.id, now, now + LEASE)
                    .await
            } {
                let (agent, url, body) = (agent.clone(), target.url.clone(), message.body);
                let posted = tokio::task::spawn_blocking(move || {
                    agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(body.as_bytes())
                        .map(|response| response.status().as_u16())
                })
                .await;
                let status = match posted {
                    Ok(Ok(status)) if (200..300).contains(&status) => None,
                    Ok(Ok(status)) => Some(format!("status {status}")),
                    Ok(Err(error)) => Some(crate::urls::redact_urls_in(&error.to_string())),
                    Err(_) => Some("the posting thread failed".to_string()),
                };
                let done = match &status {
                    None => true,
                    Some(why) => {
                        let gave_up = message.attempts >= ATTEMPTS;
                        super::log_line(&json!({
                            "event": "notify",
                            "target": number + 1,
                            "attempt": message.attempts,
                            "error": why,
                            "gave_up": gave_up,
                        }));
                        gave_up
                    }
                };
                let _ = match done {
                    true => app.store.forget_notification(&message.id).await,
                    false => {
                        let wait = Duration::from_secs(1 << message.attempts.clamp(0, 10));
                        let at = SystemTime::now() + wait;
                        app.store.retry_notification(&message.id, at).await
                    }
                };
                if status.is_some() {
                    break;
                }
            }
        }
        tokio::time::sleep(POST_EVERY).await;
    }
}
