//! The sender's side of the outbox: claim a batch, send it, delete or release it; a run's own
//! row first, then the backlog; and a batch the remote refuses for good, run by run.

use std::time::{Duration, Instant, SystemTime};

use super::{NotDelivered, SendError, Transport};
use crate::store::{Claim, Store, StoreError};

/// How long a claim outlives its sender's deadline, so that a sender that is merely slow to
/// record its result never sees its rows taken by another.
const CLAIM_MARGIN: Duration = Duration::from_secs(2);

/// What one claimed batch came to.
#[derive(Debug)]
pub enum BatchOutcome {
    /// Nothing was left to claim.
    Empty,
    Sent {
        execution_ids: Vec<String>,
        notes: Vec<String>,
        /// Runs the remote refused for good, each with why: set aside.
        refused: Vec<(String, String)>,
    },
    Failed {
        execution_ids: Vec<String>,
        error: SendError,
    },
}

/// Claims batches of one remote's outbox rows and sends them.
pub struct Courier<'a> {
    pub store: &'a mut Store,
    pub transport: &'a Transport,
    pub batch_size: usize,
    /// Rows set aside as unreadable so far (see [`Store::set_aside`]).
    pub set_aside: usize,
}

impl Courier<'_> {
    /// Claims up to a batch (`first` ahead of the rest), sends it by `deadline`, and deletes
    /// or releases it.
    pub async fn send_batch(
        &mut self,
        first: Option<&str>,
        deadline: Instant,
    ) -> Result<BatchOutcome, StoreError> {
        let lease = deadline.saturating_duration_since(Instant::now()) + CLAIM_MARGIN;
        let mut claim = self.store.claim(
            self.transport.remote(),
            first,
            self.batch_size,
            SystemTime::now() + lease,
        )?;
        if claim.rows.is_empty() {
            return Ok(BatchOutcome::Empty);
        }
        let read = self.transport.read(&claim.rows);
        let unreadable = read.unreadable;
        if !unreadable.is_empty() {
            self.store.set_aside(&claim, &unreadable)?;
            self.set_aside += unreadable.len();
            claim
                .rows
                .retain(|row| !unreadable.iter().any(|(id, _)| *id == row.execution_id));
            if claim.rows.is_empty() {
                return Ok(BatchOutcome::Sent {
                    execution_ids: Vec::new(),
                    notes: Vec::new(),
                    refused: Vec::new(),
                });
            }
        }
        let execution_ids: Vec<String> = claim.execution_ids().map(str::to_string).collect();
        match self
            .transport
            .send_read(read.payloads, read.runs, deadline)
            .await
        {
            Ok(notes) => {
                self.store.delivered(&claim)?;
                Ok(BatchOutcome::Sent {
                    execution_ids,
                    notes,
                    refused: Vec::new(),
                })
            }
            Err(error) if error.is_refusal() => self.one_by_one(claim, &error, deadline).await,
            Err(error) => {
                self.store.delivery_failed(&claim, &error.to_string())?;
                Ok(BatchOutcome::Failed {
                    execution_ids,
                    error,
                })
            }
        }
    }

    /// A batch the remote refused for good: each run goes alone, so that one the remote
    /// cannot take holds back none of the others. A run refused alone is set aside with the
    /// reason (`outbox_aside`, counted by `telemetry status`) and never sent again; one that
    /// fails otherwise waits for the next sender.
    async fn one_by_one(
        &mut self,
        claim: Claim,
        refusal: &SendError,
        deadline: Instant,
    ) -> Result<BatchOutcome, StoreError> {
        let mut sent = Vec::new();
        let mut refused = Vec::new();
        if claim.rows.len() == 1 {
            refused.push((claim.rows[0].execution_id.clone(), refusal.to_string()));
        } else {
            for row in &claim.rows {
                match self
                    .transport
                    .send(std::slice::from_ref(row), deadline)
                    .await
                {
                    Ok(_) => sent.push(row.execution_id.clone()),
                    Err(error) if error.is_refusal() => {
                        refused.push((row.execution_id.clone(), error.to_string()))
                    }
                    Err(_) => {}
                }
            }
        }
        self.store.delivered_rows(&claim, &sent)?;
        self.store.set_aside(&claim, &refused)?;
        self.store.delivery_failed(&claim, &refusal.to_string())?;
        self.set_aside += refused.len();
        Ok(BatchOutcome::Sent {
            execution_ids: sent,
            notes: Vec::new(),
            refused,
        })
    }

    /// A run's delivery: its own row first, then as much of the backlog as fits before
    /// `deadline`. Errs only when the run's own row failed (with the error and how many runs
    /// wait); a backlog batch that fails just stays for later.
    pub async fn deliver_run(
        &mut self,
        execution_id: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, NotDelivered> {
        let mut notes = Vec::new();
        let mut first = Some(execution_id);
        while Instant::now() < deadline {
            let batch = match self.send_batch(first, deadline).await {
                Ok(batch) => batch,
                // The run's own row has gone; the backlog waits for the next sender.
                Err(_) if first.is_none() => break,
                Err(error) => return Err(error.into()),
            };
            match batch {
                BatchOutcome::Empty => break,
                BatchOutcome::Sent {
                    notes: sent_notes,
                    refused,
                    ..
                } => {
                    notes.extend(sent_notes);
                    if first.is_some() {
                        if let Some((_, reason)) =
                            refused.into_iter().find(|(id, _)| id == execution_id)
                        {
                            return Err(NotDelivered::Refused { reason });
                        }
                    }
                }
                BatchOutcome::Failed {
                    execution_ids,
                    error,
                } => {
                    if first.is_some() && execution_ids.iter().any(|id| id == execution_id) {
                        let waiting = self.store.waiting(self.transport.remote()).unwrap_or(0);
                        return Err(NotDelivered::Kept {
                            source: error,
                            waiting,
                        });
                    }
                    break;
                }
            }
            first = None;
        }
        Ok(notes)
    }

    /// Sends everything that no other sender holds, batch after batch, each within the
    /// remote's timeout, until the outbox is empty or a batch fails.
    pub async fn drain(&mut self) -> Result<Drained, StoreError> {
        let mut sent = 0;
        let mut error = None;
        loop {
            let deadline = Instant::now() + self.transport.timeout();
            match self.send_batch(None, deadline).await? {
                BatchOutcome::Empty => break,
                BatchOutcome::Sent { execution_ids, .. } => sent += execution_ids.len(),
                BatchOutcome::Failed { error: e, .. } => {
                    error = Some(e);
                    break;
                }
            }
        }
        Ok(Drained {
            sent,
            left: self.store.waiting(self.transport.remote())?,
            set_aside: self.set_aside,
            error,
        })
    }
}

/// The result of draining one remote's outbox.
#[derive(Debug)]
pub struct Drained {
    pub sent: usize,
    pub left: i64,
    /// Rows that could not be read, moved to `outbox_aside`.
    pub set_aside: usize,
    pub error: Option<SendError>,
}
