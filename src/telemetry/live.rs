//! A run while it runs, on a thread of its own: the running row in the local database, with
//! its lock file and a heartbeat, and the live records to a collector (what they carry is
//! `recording::live`'s).
//!
//! The output path only hands matches over: a rate limit and a bounded queue decide, in
//! nanoseconds, whether a match goes to this thread, and what does not is counted. Everything
//! else happens here: scrubbing, the database, the network.
//!
//! The thread starts only once the run has gone on for [`START_DELAY`]: a shorter run has
//! ended before a running row or a start record would be of use, and its matches go with its
//! span. Such a run starts the thread at its end only when there is work for it: runs of killed
//! earlyexits to close, or matches that go to a collector as log records alone. A longer run's
//! matches so far follow its start record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;

pub use super::live_plan::LivePlan;
use super::lost;
use crate::delivery::OtlpLogs;
use crate::export::{DeliveryReport, Milestone, LOCAL_DEADLINE};
use crate::observer::{KeptMatch, MatchEvent};
use crate::profile::Block;
use crate::rate_limit::RateLimit;
use crate::recording::attributes as attr;
use crate::recording::live::{self, LiveRecord};
use crate::recording::stored_span::StoredSpan;
use crate::recording::{detect, privacy, span};
use crate::store::{RunningLock, RunningRow, Store};

/// How long a run goes before it is recorded as running.
pub const START_DELAY: Duration = Duration::from_millis(100);
/// How often the running row says that the run is still going.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often a collector hears that the run is still going, when nothing else was sent: a
/// team server shows a run not heard of for `serve --lost-after` (2 minutes) as lost.
const REMOTE_HEARTBEAT: Duration = Duration::from_secs(30);
/// Matches waiting for this thread; past it (a collector that is slow to answer), a match is
/// counted as suppressed.
const QUEUE: usize = 256;
/// Runs of killed earlyexits that one run closes; the rest wait for the next one, or for
/// `telemetry sync`.
const CLOSED_PER_RUN: usize = 20;

enum Message {
    Matched(KeptMatch),
    /// The deciding match's failure block, complete as the run ends.
    Block {
        match_number: u64,
        block: Block,
    },
    Ended,
}

/// Why the thread starts.
enum Start {
    /// The run has gone on for [`START_DELAY`]: it is recorded as running.
    Live { pid: Option<u32> },
    /// The run ended before that, and has work for the thread (see [`Live::ended_early`]).
    EndedEarly {
        early: Vec<KeptMatch>,
        block: Option<(u64, Block)>,
    },
}

/// The run's side of the live thread.
pub struct Live {
    sender: SyncSender<Message>,
    limit: RateLimit,
    /// Matches not handed to the live thread.
    suppressed: u64,
    /// Every match of the run so far, for the heartbeat.
    matches: Arc<AtomicU64>,
    /// Set, under the lock, once the run has ended: after that no running row is written,
    /// since the run's record (which deletes it) may already be in.
    ended: Arc<Mutex<bool>>,
    finished: Receiver<()>,
}

impl Live {
    /// The run has gone on for [`START_DELAY`]: starts the thread that records it as running,
    /// with the matches kept so far (within the rate limit) of `match_count`. `None` if the
    /// thread cannot be started (the run goes on).
    pub fn go_live(
        plan: LivePlan,
        pid: Option<u32>,
        early: &[KeptMatch],
        match_count: u64,
    ) -> Option<Live> {
        let mut live = Live::start(plan, Start::Live { pid })?;
        live.matches.store(match_count, Ordering::Relaxed);
        // Those past the span's event limit were not kept to be sent.
        live.suppressed = match_count.saturating_sub(early.len() as u64);
        let now = Instant::now();
        for kept in early {
            live.hand_over(now, kept.clone());
        }
        Some(live)
    }

    /// The run ended before it went live. The thread starts only when there is work for it:
    /// a lock file of another run (which may be one to close), or matches that no span
    /// carries to the collector (`match_records: logs`), sent as log records.
    pub fn ended_early(
        plan: LivePlan,
        early: &[KeptMatch],
        block: Option<(u64, Block)>,
    ) -> Option<Live> {
        let settings = &plan.settings;
        let logs_alone =
            settings.sends_live_records() && !settings.live.match_records.as_span_events();
        let records = logs_alone && !early.is_empty();
        if !records && !crate::store::any_locks(&settings.sqlite.path) {
            return None;
        }
        let early = if records { early.to_vec() } else { Vec::new() };
        Live::start(plan, Start::EndedEarly { early, block })
    }

    fn start(plan: LivePlan, start: Start) -> Option<Live> {
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        let (finished_sender, finished) = mpsc::channel();
        let matches = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(Mutex::new(false));
        let limit = RateLimit::new(plan.settings.live.max_records_per_second);
        let thread = LiveThread {
            plan,
            receiver,
            matches: Arc::clone(&matches),
            ended: Arc::clone(&ended),
        };
        std::thread::Builder::new()
            .name("earlyexit-live".into())
            .spawn(move || {
                thread.run(start);
                let _ = finished_sender.send(());
            })
            .ok()?;
        Some(Live {
            sender,
            limit,
            suppressed: 0,
            matches,
            ended,
            finished,
        })
    }

    /// Hands a match over, within the rate limit and while the queue has room.
    pub fn matched(&mut self, event: &MatchEvent<'_>) {
        self.matches.store(event.number, Ordering::Relaxed);
        self.hand_over(Instant::now(), event.kept());
    }

    fn hand_over(&mut self, now: Instant, kept: KeptMatch) {
        if !self.limit.allow(now) {
            self.suppressed += 1;
            return;
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.sender.try_send(Message::Matched(kept))
        {
            self.suppressed += 1;
        }
    }

    /// Hands the deciding match's failure block over; called as the run ends, before
    /// [`Live::ended`].
    pub fn block(&mut self, match_number: u64, block: &Block) {
        let _ = self.sender.try_send(Message::Block {
            match_number,
            block: block.clone(),
        });
    }

    /// Matches that were not sent live.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// The run has ended: from now on no running row is written. Called before the run's
    /// span ends; again is harmless.
    pub fn ended(&mut self) {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        if !*ended {
            *ended = true;
            // Only a wake-up: a thread busy with a full queue sees the flag when it is done.
            let _ = self.sender.try_send(Message::Ended);
        }
    }

    /// Waits until the live thread is done, or until `until`: what it has not done by then
    /// (a collector slow to take the last records) is given up, and a lock file left behind
    /// is cleared by the next run.
    pub fn wait(mut self, until: Instant) {
        self.ended();
        let Live {
            sender, finished, ..
        } = self;
        drop(sender);
        let _ = finished.recv_timeout(until.saturating_duration_since(Instant::now()));
    }
}

struct LiveThread {
    plan: LivePlan,
    receiver: Receiver<Message>,
    matches: Arc<AtomicU64>,
    ended: Arc<Mutex<bool>>,
}

impl LiveThread {
    fn has_ended(&self) -> bool {
        *self.ended.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(self, start: Start) {
        // What killed earlyexits left, closed before this run's own row joins them.
        let closed =
            lost::close_abandoned(&self.plan.settings, &self.plan.resource, CLOSED_PER_RUN);
        drop(closed);
        let pid = match start {
            Start::Live { pid } => pid,
            Start::EndedEarly { early, block } => return self.send_matches_alone(early, block),
        };
        let Some(mut running) = Running::begin(&self.plan, pid, &self.ended) else {
            return;
        };
        while !self.has_ended() {
            match self.receiver.recv_timeout(HEARTBEAT) {
                Ok(Message::Matched(kept)) => {
                    let mut batch = vec![kept];
                    while let Ok(message) = self.receiver.try_recv() {
                        if let Message::Matched(kept) = message {
                            batch.push(kept);
                        }
                    }
                    running.matched(batch, self.matches.load(Ordering::Relaxed));
                }
                Ok(Message::Block {
                    match_number,
                    block,
                }) => running.block(match_number, &block),
                Ok(Message::Ended) => {}
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    running.heartbeat(self.matches.load(Ordering::Relaxed), false)
                }
            }
        }
        // The matches handed over before the end, their block, then the end.
        let mut last = Vec::new();
        let mut block = None;
        for message in self.receiver.try_iter() {
            match message {
                Message::Matched(kept) => last.push(kept),
                Message::Block {
                    match_number,
                    block: complete,
                } => block = Some((match_number, complete)),
                Message::Ended => {}
            }
        }
        running.matched(last, self.matches.load(Ordering::Relaxed));
        if let Some((match_number, block)) = block {
            running.block(match_number, &block);
        }
        running.end(&self.plan.report);
    }
}

impl LiveThread {
    /// A run that ended before it went live sends its matches with its span, except where
    /// the span carries none (`match_records: logs`): then as log records, now.
    fn send_matches_alone(&self, early: Vec<KeptMatch>, block: Option<(u64, Block)>) {
        let settings = &self.plan.settings;
        if early.is_empty() {
            return;
        }
        let records: Vec<LiveRecord> = early
            .iter()
            .map(|kept| self.plan.match_record(kept, self.plan.line(kept)))
            .chain(block.map(|(number, block)| self.plan.block_record(number, &block)))
            .collect();
        let _ =
            OtlpLogs::new(&settings.otlp, &self.plan.resource).send(&self.plan.context, &records);
    }
}

/// A run that has gone live: its span so far, its row and lock, its collector.
struct Running<'a> {
    plan: &'a LivePlan,
    span: SpanData,
    /// `None` while the row could not be written (a database busy past its timeout, when many
    /// runs start at once): each heartbeat tries again, so that a run that goes on is always
    /// found and closed if its earlyexit is killed.
    row: Option<(Store, RunningLock)>,
    /// The database, opened for the row before the end's lock is taken (opening can wait for
    /// a busy database, and the run's end waits for that lock), until the row is written.
    opened: Option<Store>,
    ended: &'a Mutex<bool>,
    logs: Option<OtlpLogs>,
    /// When the collector was last sent a record.
    last_sent: Instant,
    match_logs: bool,
}

impl<'a> Running<'a> {
    /// Writes the running row (unless the run has ended meanwhile) and sends the start
    /// record. `None` once the run has ended.
    fn begin(plan: &'a LivePlan, pid: Option<u32>, ended: &'a Mutex<bool>) -> Option<Running<'a>> {
        let settings = &plan.settings;
        let scrub = |text: &str| privacy::scrub_if(settings.scrub_pii, text);
        let mut attributes = plan.start_attributes.clone();
        attributes.push(KeyValue::new(
            attr::COMMAND_HASH,
            span::command_hash(plan.command_line.as_deref().unwrap_or_default()),
        ));
        if let Some(pid) = pid {
            attributes.push(KeyValue::new(attr::PROCESS_PID, i64::from(pid)));
        }
        let command_words = if settings.scrub_pii {
            privacy::scrub_args(&plan.command_words)
        } else {
            plan.command_words.clone()
        };
        attributes.extend(span::place_attributes(
            detect::project_type(&plan.working_directory),
            scrub(&plan.working_directory.display().to_string()),
            command_words,
        ));
        let span = live::span_at_start(
            plan.context.clone(),
            &plan.parent,
            plan.name.clone(),
            plan.started_at,
            attributes,
        );
        let to_collector = settings.sends_live_records();
        let logs = to_collector.then(|| OtlpLogs::new(&settings.otlp, &plan.resource));
        let mut running = Running {
            plan,
            span,
            row: None,
            opened: None,
            ended,
            logs,
            last_sent: Instant::now(),
            match_logs: to_collector && settings.live.match_records.as_logs(),
        };
        if !running.write_row() {
            return None;
        }
        running.send(vec![live::start_record(
            &running.span,
            settings.remote_detail,
        )]);
        Some(running)
    }

    /// Writes the running row unless it is there; false once the run has ended, after which
    /// no row may be written (the run's record, which deletes it, may already be in).
    fn write_row(&mut self) -> bool {
        if self.row.is_none() && self.opened.is_none() {
            let sqlite = &self.plan.settings.sqlite;
            self.opened = Store::open(&sqlite.path, sqlite.wal_mode).ok();
        }
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        if *ended {
            return false;
        }
        if self.row.is_none() {
            if let Some(store) = self.opened.take() {
                self.row = Running::new_row(self.plan, &self.span, store);
            }
        }
        true
    }

    /// The lock, then the row: a row is never without a lock file that can tell whether its
    /// earlyexit lives. Any failure leaves the run without a row for now.
    fn new_row(plan: &LivePlan, span: &SpanData, mut store: Store) -> Option<(Store, RunningLock)> {
        let lock = RunningLock::take(&plan.settings.sqlite.path, &plan.execution_id).ok()?;
        let row = RunningRow {
            execution_id: plan.execution_id.clone(),
            trace_id: span.span_context.trace_id().to_string(),
            span_id: span.span_context.span_id().to_string(),
            started: crate::timestamp::millis(plan.started_at),
            last_seen: SystemTime::now(),
            match_count: 0,
            span: StoredSpan::of(span).to_json(),
        };
        match store.start_running(&row) {
            Ok(()) => Some((store, lock)),
            Err(_) => {
                lock.release();
                None
            }
        }
    }

    /// A collector that is down costs this thread its timeout once, never the run: after
    /// a failed send the run's later records are not sent, so that the wait at exit is one
    /// timeout, not one per record still to go.
    fn send(&mut self, records: Vec<LiveRecord>) {
        if records.is_empty() {
            return;
        }
        self.last_sent = Instant::now();
        if let Some(logs) = &self.logs {
            if logs.send(&self.span.span_context, &records).is_err() {
                self.logs = None;
            }
        }
    }

    fn matched(&mut self, batch: Vec<KeptMatch>, match_count: u64) {
        if batch.is_empty() {
            return;
        }
        let mut records = Vec::new();
        for kept in &batch {
            let line = self.plan.line(kept);
            if self.match_logs {
                records.push(self.plan.match_record(kept, line.clone()));
            }
            if self.span.events.len() < self.plan.settings.span_event_limit {
                live::add_match(&mut self.span, kept, line);
            }
        }
        self.send(records);
        self.heartbeat(match_count, true);
    }

    /// Sends the failure block's record where the matches' records go.
    fn block(&mut self, match_number: u64, block: &Block) {
        if self.match_logs {
            self.send(vec![self.plan.block_record(match_number, block)]);
        }
    }

    /// Says the run is still going, with the span when it has new events; and to the
    /// collector, when it has heard nothing for [`REMOTE_HEARTBEAT`].
    fn heartbeat(&mut self, match_count: u64, with_span: bool) {
        if self.logs.is_some() && self.last_sent.elapsed() >= REMOTE_HEARTBEAT {
            let record = live::heartbeat_record(&self.plan.execution_id, match_count);
            self.send(vec![record]);
        }
        if self.row.is_none() && !self.write_row() {
            return;
        }
        if let Some((store, _)) = &mut self.row {
            let span = with_span.then(|| StoredSpan::of(&self.span).to_json());
            let _ = store.touch_running(
                &self.plan.execution_id,
                SystemTime::now(),
                match_count,
                span.as_deref(),
            );
        }
    }

    /// The run has ended: once its record is kept, which deletes the row, the lock file goes.
    /// A row still there means the record was not kept; the file stays so that a later run
    /// closes the run as lost.
    fn end(self, report: &DeliveryReport) {
        let Some((store, lock)) = self.row else {
            return;
        };
        report.wait_for(Milestone::Kept, LOCAL_DEADLINE);
        if let Ok(None) = store.running(&self.plan.execution_id) {
            lock.release();
        }
    }
}
