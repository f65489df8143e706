//! The seam between the wrapper and whoever wants to know about a run (telemetry, tests).
//!
//! The wrapper knows nothing about sinks: it reports the start, each match and the end here.
//! Implementations must return quickly: they run on the thread that forwards the command's
//! output, so anything slow belongs on a thread of their own.
//!
//! May import: `config`, `matcher`, `outcome` and the leaves.

use std::time::{Duration, SystemTime};

use crate::config::Settings;
use crate::matcher::MatchKind;
use crate::outcome::RunEnd;

/// The stream a line came from; the names are the telemetry's `earlyexit.match.stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamName {
    Stdout,
    Stderr,
    Stdin,
}

impl StreamName {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
            StreamName::Stdin => "stdin",
        }
    }
}

/// The beginning of a run, reported once the command has been spawned.
#[derive(Debug)]
pub struct RunStart<'a> {
    pub execution_id: &'a str,
    pub started_at: SystemTime,
    pub settings: &'a Settings,
    pub pid: Option<u32>,
}

/// One line that matched a pattern.
#[derive(Debug)]
pub struct MatchEvent<'a> {
    /// 1 for the first match of the run.
    pub number: u64,
    pub kind: MatchKind,
    /// Time since the start of the run.
    pub offset: Duration,
    pub stream: StreamName,
    /// 1-based line number within its stream.
    pub line_number: u64,
    /// The line without its terminator, at most the line buffer's size.
    pub line: &'a [u8],
    /// The output of this stream read with the line and before it, not yet reported to
    /// [`RunObserver::on_output`]: with what was, the lines that led up to this one.
    pub preceding: &'a [u8],
    /// The line is part of a private key block (`secret_blocks`): telemetry keeps none of it.
    pub in_private_key: bool,
}

/// The longest part of a matched line that an observer keeps: 1 KiB, for telemetry's
/// `earlyexit.match.line` and for `--json`.
pub const MAX_KEPT_LINE_BYTES: usize = 1024;

/// A match as an observer keeps it until the run ends: the event, its line cut to
/// [`MAX_KEPT_LINE_BYTES`] and owned.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptMatch {
    pub number: u64,
    pub kind: MatchKind,
    pub offset: Duration,
    pub stream: StreamName,
    pub line_number: u64,
    pub line: Vec<u8>,
    pub in_private_key: bool,
}

/// A line as an observer keeps it past its buffer: its first [`MAX_KEPT_LINE_BYTES`], owned.
pub fn kept_line(line: &[u8]) -> Vec<u8> {
    line[..line.len().min(MAX_KEPT_LINE_BYTES)].to_vec()
}

impl MatchEvent<'_> {
    /// The event, to keep past the line's buffer.
    pub fn kept(&self) -> KeptMatch {
        KeptMatch {
            number: self.number,
            kind: self.kind,
            offset: self.offset,
            stream: self.stream,
            line_number: self.line_number,
            line: kept_line(self.line),
            in_private_key: self.in_private_key,
        }
    }
}

/// Receives the events of one run.
pub trait RunObserver {
    /// Extra environment variables for the child (for example `TRACEPARENT`).
    fn child_environment(&mut self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn on_start(&mut self, start: &RunStart<'_>);
    fn on_match(&mut self, event: &MatchEvent<'_>);
    /// A line of the after-context: every line that follows the deciding match, on any
    /// stream, until the run stops (a matching one is also reported to `on_match`).
    fn on_context_line(&mut self, _stream: StreamName, _line: &[u8]) {}
    /// Output as it was shown (or, with `--json` or `-q`, as it would have been): every
    /// chunk of every stream, in the order read, up to where earlyexit stopped showing it.
    fn on_output(&mut self, _stream: StreamName, _bytes: &[u8]) {}
    /// The deciding match's failure block (with a tool profile), just before [`Self::on_end`].
    fn on_block(&mut self, _match_number: u64, _block: &crate::profile::Block) {}
    /// When the observer has something to do whatever the output (telemetry: record a run
    /// that goes on as running), for [`Self::on_tick`] at or after that moment.
    fn next_tick(&self) -> Option<std::time::Instant> {
        None
    }
    fn on_tick(&mut self) {}
    fn on_end(&mut self, outcome: &RunEnd);
}

/// An observer that ignores everything, for runs without telemetry.
pub struct NoObserver;

impl RunObserver for NoObserver {
    fn on_start(&mut self, _: &RunStart<'_>) {}
    fn on_match(&mut self, _: &MatchEvent<'_>) {}
    fn on_end(&mut self, _: &RunEnd) {}
}
