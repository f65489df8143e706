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
//! them (`notify`), each at most five times, 2, 4, 8… s apart. Servers sharing a store post one
//! message per change: the state is changed under its row's lock.

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::outcome::Outcome;
use crate::recording::record::RunRecord;
use crate::store::{Change, Observed};

/// Runs waiting to be compared; past it a run is not (the next one of its command is).
const QUEUE: usize = 10_000;

/// A webhook, and the name the store keeps its messages under: a hash, since a webhook's URL
/// is often its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub id: String,
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
    pub observed: Observed,
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
pub fn body(change: Change, seen: &Seen) -> String {
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
