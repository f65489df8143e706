//! The run's side of its live thread: planned until the run has gone on for [`START_DELAY`],
//! then the thread; a run that ends before starts it only when there is work for it.

use std::time::Instant;

use super::live::{Live, START_DELAY};
use super::live_plan::LivePlan;
use crate::observer::{KeptMatch, MatchEvent};
use crate::profile::Block;

/// The run's side of its live thread.
pub enum LiveSide {
    /// No thread yet: it starts at `go_live_at`, or at the end if there is work for it.
    Planned {
        plan: Box<LivePlan>,
        pid: Option<u32>,
        go_live_at: Instant,
    },
    Going(Live),
    /// The run has ended; the thread, if one started, finishes its work.
    Ended(Option<Live>),
    /// The run ended before it went live, and a thread started then to close runs of killed
    /// earlyexits (through every sink) or to send its matches: waited for as the span is.
    EndedEarly(Live),
}

impl LiveSide {
    pub fn planned(plan: LivePlan) -> LiveSide {
        LiveSide::Planned {
            plan: Box::new(plan),
            pid: None,
            go_live_at: Instant::now() + START_DELAY,
        }
    }

    pub fn started(&mut self, started: Option<u32>) {
        if let LiveSide::Planned { pid, .. } = self {
            *pid = started;
        }
    }

    /// When the run goes live, while it has not.
    pub fn next_tick(&self) -> Option<Instant> {
        match self {
            LiveSide::Planned { go_live_at, .. } => Some(*go_live_at),
            LiveSide::Going(_) | LiveSide::Ended(_) | LiveSide::EndedEarly(_) => None,
        }
    }

    /// The run has gone on until [`Self::next_tick`]: it goes live, with the matches kept so
    /// far of `match_count`.
    pub fn go_live(&mut self, early: &[KeptMatch], match_count: u64) {
        let LiveSide::Planned { plan, pid, .. } = std::mem::replace(self, LiveSide::Ended(None))
        else {
            return;
        };
        if let Some(live) = Live::go_live(*plan, pid, early, match_count) {
            *self = LiveSide::Going(live);
        }
    }

    pub fn matched(&mut self, event: &MatchEvent<'_>) {
        if let LiveSide::Going(live) = self {
            live.matched(event);
        }
    }

    /// The run has ended, with these matches kept and the deciding match's block. Again is
    /// harmless.
    pub fn end(&mut self, early: &[KeptMatch], block: Option<&(u64, Block)>) {
        *self = match std::mem::replace(self, LiveSide::Ended(None)) {
            LiveSide::Planned { plan, .. } => {
                match Live::ended_early(*plan, early, block.cloned()) {
                    Some(live) => LiveSide::EndedEarly(live),
                    None => LiveSide::Ended(None),
                }
            }
            LiveSide::Going(mut live) => {
                if let Some((match_number, block)) = block {
                    live.block(*match_number, block);
                }
                live.ended();
                LiveSide::Ended(Some(live))
            }
            ended @ (LiveSide::Ended(_) | LiveSide::EndedEarly(_)) => ended,
        };
    }

    /// Matches that were not sent live.
    pub fn suppressed(&self) -> u64 {
        match self {
            LiveSide::Going(live) | LiveSide::Ended(Some(live)) | LiveSide::EndedEarly(live) => {
                live.suppressed()
            }
            LiveSide::Planned { .. } | LiveSide::Ended(None) => 0,
        }
    }

    /// Waits until the thread, if one started, is done, or until `live_until` (the live
    /// records' time), or `span_until` for the work of a run that ended early.
    pub fn wait(mut self, live_until: Instant, span_until: Instant) {
        self.end(&[], None);
        match self {
            LiveSide::Ended(Some(live)) => live.wait(live_until.min(span_until)),
            LiveSide::EndedEarly(live) => live.wait(span_until),
            LiveSide::Planned { .. } | LiveSide::Going(_) | LiveSide::Ended(None) => {}
        }
    }
}
