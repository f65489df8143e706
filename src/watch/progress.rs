//! What the run loop keeps per stream ([`Input`]) and for the whole run ([`Progress`]): the
//! line counts, the matches and the decision, fed line by line through [`StreamLines`].

use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use regex::bytes::Regex;

use super::lines::{LineHandler, LineSplitter};
use super::output;
use crate::matcher::{MatchKind, Matcher};
use crate::observer::{MatchEvent, RunObserver, StreamName};
use crate::outcome::{ExitReason, Statistics};
use crate::secret_blocks::PrivateKeyBlock;

/// A match that decides the run; the run goes on for the delay, then stops.
#[derive(Debug)]
pub(super) struct Decision {
    pub(super) reason: ExitReason,
    pub(super) at: Instant,
    pub(super) lines_left: u64,
    /// When the after-context reached its line cap: from then on lines are counted, not
    /// shown, until the output pauses, so that earlyexit can say how much it cut.
    pub(super) capped_at: Option<Instant>,
    /// The profile's detail is not over yet ([`HeldContext`]): a pause does not end the context.
    pub(super) holding: bool,
}

/// A profile's hold (`profile::Hold`), compiled: from a deciding or context line that matches
/// `from`, the context goes on past pauses until a line matches `until`.
pub(super) struct HeldContext {
    pub(super) from: Regex,
    pub(super) until: Regex,
}

/// One stream we read: the command's stdout or stderr, or our stdin.
pub(super) struct Input {
    pub(super) name: StreamName,
    pub(super) fd: OwnedFd,
    pub(super) forward: bool,
    pub(super) watched: bool,
    pub(super) open: bool,
    pub(super) splitter: LineSplitter,
    pub(super) line_number: u64,
    pub(super) private_key: PrivateKeyBlock,
}

impl Input {
    pub(super) fn new(name: StreamName, fd: OwnedFd, forward: bool, watched: bool) -> Input {
        Input {
            name,
            fd,
            forward,
            watched,
            open: true,
            splitter: LineSplitter::default(),
            line_number: 0,
            private_key: PrivateKeyBlock::default(),
        }
    }

    /// Our stream that mirrors this one: the command's stderr goes to our stderr.
    pub(super) fn write_through(&self, bytes: &[u8]) -> io::Result<()> {
        match self.name {
            StreamName::Stderr => output::write_all(io::stderr().as_fd(), bytes),
            StreamName::Stdout | StreamName::Stdin => {
                output::write_all(io::stdout().as_fd(), bytes)
            }
        }
    }
}

/// What the line handler updates: counters, the decision and the observer.
pub(super) struct Progress<'a> {
    pub(super) start: Instant,
    pub(super) last_output: Instant,
    pub(super) matcher: &'a Matcher,
    pub(super) observer: &'a mut dyn RunObserver,
    pub(super) max_count: u64,
    pub(super) delay_exit: Duration,
    pub(super) delay_exit_lines: u64,
    pub(super) match_count: u64,
    pub(super) pattern_matches: u64,
    pub(super) decision: Option<Decision>,
    pub(super) statistics: Statistics,
    /// Fold the after-context into a collapsible section (GitLab CI).
    pub(super) fold_context: bool,
    /// Where in the current chunk the deciding line ends, when the section opens there.
    pub(super) fold_at: Option<usize>,
    /// Where in the current chunk the shown after-context ends, when it reached its cap there.
    pub(super) mute_at: Option<usize>,
    pub(super) held: Option<HeldContext>,
    /// The context pause (`None`: the delay is waited out).
    pub(super) context_pause: Option<Duration>,
    /// How long the output had been quiet before the chunk being read.
    pub(super) quiet_before_chunk: Duration,
}

impl Progress<'_> {
    /// True once the after-context has reached its line cap: output is read and counted, not
    /// shown.
    pub(super) fn is_muted(&self) -> bool {
        self.decision
            .as_ref()
            .is_some_and(|d| d.capped_at.is_some())
    }

    /// Records a match; returns true when it is the deciding one and no context follows it.
    pub(super) fn record_match(
        &mut self,
        kind: MatchKind,
        stream: StreamName,
        line_number: u64,
        (line, preceding): (&[u8], &[u8]),
        in_private_key: bool,
    ) -> bool {
        let now = Instant::now();
        let offset = now - self.start;
        self.match_count += 1;
        self.statistics.time_to_first_match.get_or_insert(offset);
        self.observer.on_match(&MatchEvent {
            number: self.match_count,
            kind,
            offset,
            stream,
            line_number,
            line,
            preceding,
            in_private_key,
        });
        if self.decision.is_some() {
            return false;
        }
        if kind == MatchKind::Pattern {
            self.pattern_matches += 1;
            if self.pattern_matches < self.max_count {
                return false;
            }
        }
        self.decision = Some(Decision {
            reason: ExitReason::for_match(kind),
            at: now,
            lines_left: self.delay_exit_lines,
            capped_at: None,
            holding: self
                .held
                .as_ref()
                .is_some_and(|held| held.from.is_match(&crate::matcher::visible(line))),
        });
        self.delay_exit.is_zero() || self.delay_exit_lines == 0
    }
}

/// Feeds one stream's lines into [`Progress`].
pub(super) struct StreamLines<'p, 'a> {
    pub(super) progress: &'p mut Progress<'a>,
    pub(super) stream: StreamName,
    pub(super) watched: bool,
    pub(super) line_number: &'p mut u64,
    pub(super) private_key: &'p mut PrivateKeyBlock,
    /// The chunk the lines come from (empty for the last line at the end of the input).
    pub(super) chunk: &'p [u8],
}

impl LineHandler for StreamLines<'_, '_> {
    fn wants_lines(&mut self, block: &[u8]) -> bool {
        self.progress.decision.is_some()
            || (self.watched
                && (self.progress.matcher.may_match_any(block)
                    || self.private_key.may_change(block)))
    }

    fn skipped_lines(&mut self, count: u64) {
        *self.line_number += count;
        if self.watched {
            self.progress.statistics.lines_processed += count;
        }
    }

    fn line(&mut self, line: &[u8], end: usize) -> ControlFlow<()> {
        *self.line_number += 1;
        if self.progress.is_muted() {
            self.progress.statistics.context_lines_not_shown += 1;
            return ControlFlow::Continue(());
        }
        let decided_before = self.progress.decision.is_some();
        let mut stop_now = false;
        if self.watched {
            self.progress.statistics.lines_processed += 1;
            let in_private_key = self.private_key.line(line);
            if let Some(kind) = self.progress.matcher.classify(line) {
                // The chunk's bytes before this line: up to the newline before the line's own.
                let own = end.min(self.chunk.len()).saturating_sub(1);
                let preceding = memchr::memrchr(b'\n', &self.chunk[..own])
                    .map_or(&self.chunk[..0], |newline| &self.chunk[..=newline]);
                stop_now = self.progress.record_match(
                    kind,
                    self.stream,
                    *self.line_number,
                    (line, preceding),
                    in_private_key,
                );
            }
        }
        if decided_before {
            self.progress.observer.on_context_line(self.stream, line);
            let paused = self
                .progress
                .context_pause
                .is_some_and(|pause| self.progress.quiet_before_chunk > pause);
            if let (Some(decision), Some(held)) = (&mut self.progress.decision, &self.progress.held)
            {
                if decision.holding {
                    self.progress.statistics.waited_for_detail |= paused;
                    decision.holding = !held.until.is_match(&crate::matcher::visible(line));
                } else {
                    // The detail can follow the deciding line from the other stream (libtest's
                    // `FAILED` on stdout, the panic on stderr): the hold starts there.
                    decision.holding = held.from.is_match(&crate::matcher::visible(line));
                }
            }
            if let Some(decision) = &mut self.progress.decision {
                decision.lines_left = decision.lines_left.saturating_sub(1);
                if decision.lines_left == 0 {
                    decision.capped_at = Some(Instant::now());
                    self.progress.mute_at = Some(end);
                }
            }
        }
        if !decided_before && self.progress.decision.is_some() && self.progress.fold_context {
            self.progress.fold_at = (!stop_now).then_some(end);
        }
        if stop_now {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}
