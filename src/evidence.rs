//! What a run leaves to show what happened: its first matches, the lines after the deciding
//! one (and what the context's line cap cut of them), and the last lines of its output.
//! `--json`, the CI annotations, the job summary and JUnit read it, so that a failure travels
//! with its context and a failure without a match (a timeout, a command that failed on its
//! own) with the output's last lines.
//!
//! [`EvidenceRecorder`] sees it all as an observer in front of telemetry's: the wrapper
//! reports each match, context line and chunk of output to it as to any observer.
//!
//! May import: `config`, `matcher`, `observer`, `outcome`, `recording` (privacy) and the
//! leaves.

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::config::Settings;
use crate::matcher::MatchKind;
use crate::observer::{kept_line, KeptMatch, MatchEvent, RunObserver, RunStart, StreamName};
use crate::outcome::{ExitReason, Outcome, RunEnd};
use crate::profile::block::repository_root;
use crate::profile::{Block, Profile};
use crate::recording::privacy::{self, Detail};

/// Matches kept; `match_count` counts them all.
const MAX_MATCHES: usize = 100;
/// Lines of after-context kept at most, whatever `--delay-exit-after-lines` shows: each is cut
/// to `MAX_KEPT_LINE_BYTES`, so the context holds at most 1 MiB.
const MAX_CONTEXT_LINES: u64 = 1000;
/// Lines of the output's tail kept for a run that failed without a deciding match.
pub const TAIL_LINES: usize = 30;
/// Bytes of output the tail is cut from: enough for [`TAIL_LINES`] lines of a build log.
const TAIL_BYTES: usize = 16 * 1024;
/// Lines kept before a match that may decide the run, where its block may start.
const BEFORE_LINES: usize = 100;

/// One line of output as kept: the stream and the line's first bytes.
pub type KeptLine = (StreamName, Vec<u8>);

/// Keeps the evidence of a run and passes every event on to `inner`.
pub struct EvidenceRecorder<'a> {
    inner: &'a mut dyn RunObserver,
    evidence: Evidence,
    tail: Tail,
    /// Lines of after-context to keep: as many as are shown, within [`MAX_CONTEXT_LINES`].
    context_lines: usize,
    /// The profile that applies: keep the lines before the matches that may decide the run,
    /// and make the deciding one's block at the end.
    profile: Option<&'static Profile>,
    max_count: u64,
    /// The working directory and the repository's top, which the block's path is made
    /// relative to.
    places: (PathBuf, Option<PathBuf>),
}

impl<'a> EvidenceRecorder<'a> {
    /// `env` gives `GITHUB_WORKSPACE`, the repository a block's path is relative to.
    pub fn new(
        settings: &Settings,
        env: &dyn Fn(&str) -> Option<String>,
        inner: &'a mut dyn RunObserver,
    ) -> EvidenceRecorder<'a> {
        let context_lines = settings.delay_exit_lines.min(MAX_CONTEXT_LINES);
        let profile = settings.profile.as_ref().map(|applied| applied.profile);
        let directory = std::env::current_dir().unwrap_or_default();
        let root = profile.and_then(|_| repository_root(&directory, env));
        EvidenceRecorder {
            inner,
            evidence: Evidence::default(),
            tail: Tail::default(),
            context_lines: usize::try_from(context_lines).unwrap_or(usize::MAX),
            profile,
            max_count: settings.patterns.max_count,
            places: (directory, root),
        }
    }

    /// What was kept; the tail is made when the run ends (`on_end`).
    pub fn into_evidence(self) -> Evidence {
        self.evidence
    }
}

/// What [`EvidenceRecorder`] kept of a run.
#[derive(Debug, Default)]
pub struct Evidence {
    /// The first matches, in order.
    pub matches: Vec<KeptMatch>,
    /// The first lines after the deciding match, on any stream.
    pub context: Vec<KeptLine>,
    /// The last lines of output, on any stream, in the order they ended.
    pub tail: Vec<KeptLine>,
    /// The output shown on our stdout ended without a newline: whatever earlyexit prints there
    /// next must start a line of its own.
    pub stdout_mid_line: bool,
    /// With a profile, the lines that came before the matches that may decide the run (the
    /// first of each kind, and PATTERN's `-m`th), by match number: where a block may start.
    pub before: Vec<(u64, Vec<KeptLine>)>,
    /// With a profile, the deciding match's failure block (its lines without escape codes,
    /// not yet scrubbed) and the match's number.
    pub block: Option<(u64, Block)>,
}

/// The lines that show why a run ended as it did.
pub enum Shown<'a> {
    /// The deciding match, with the lines that followed it.
    Match(&'a KeptMatch, &'a [KeptLine]),
    /// A run that failed without a deciding match: its output's last lines.
    Tail(&'a [KeptLine]),
    /// A run that went as it should: nothing to show.
    Nothing,
}

impl Evidence {
    /// The match that decided the run: the first of the deciding kind, or for PATTERN the
    /// `-m`th one. When PATTERN matched fewer times than `-m`, or before `-s` matched, the run
    /// failed on its first PATTERN match.
    pub fn deciding_match(&self, end: &RunEnd, max_count: u64) -> Option<&KeptMatch> {
        self.stopped_on(end, max_count).or_else(|| {
            (end.outcome == Outcome::Failure && end.reason != ExitReason::Completed)
                .then(|| self.of_kind(MatchKind::Pattern).next())
                .flatten()
        })
    }

    /// The match after which the run went on for its context, then stopped.
    fn stopped_on(&self, end: &RunEnd, max_count: u64) -> Option<&KeptMatch> {
        match end.reason {
            ExitReason::ErrorPattern => self.of_kind(MatchKind::Error).next(),
            ExitReason::SuccessPattern if end.outcome != Outcome::Failure => {
                self.of_kind(MatchKind::Success).next()
            }
            ExitReason::Match => {
                let nth = usize::try_from(max_count).unwrap_or(usize::MAX).max(1);
                self.of_kind(MatchKind::Pattern).nth(nth - 1)
            }
            _ => None,
        }
    }

    fn of_kind(&self, kind: MatchKind) -> impl Iterator<Item = &KeptMatch> {
        self.matches.iter().filter(move |m| m.kind == kind)
    }

    /// What to show of the run: the deciding match and the context that followed it, or for
    /// a run that failed without a match, or whose first match did not stop it (fewer
    /// matches than `-m`, `-s` after PATTERN), the output's last lines.
    pub fn shown(&self, end: &RunEnd, max_count: u64) -> Shown<'_> {
        let failed = end.outcome.is_error();
        let Some(found) = self.deciding_match(end, max_count) else {
            return if failed && !self.tail.is_empty() {
                Shown::Tail(&self.tail)
            } else {
                Shown::Nothing
            };
        };
        let stopped_on = self.stopped_on(end, max_count).map(|m| m.number);
        if stopped_on == Some(found.number) {
            Shown::Match(found, &self.context)
        } else if failed && !self.tail.is_empty() {
            Shown::Tail(&self.tail)
        } else {
            Shown::Match(found, &[])
        }
    }

    /// The deciding match's block by the profile's rules: the lines before it that belong
    /// to it and the context after it, on its stream (a block is written by one writer: the
    /// other stream's lines in between, libtest's `... FAILED` among a panic's lines, are not
    /// part of it) unless it starts on the other stream just after the match, with its
    /// location relative to the repository.
    fn failure_block(
        &self,
        profile: &Profile,
        end: &RunEnd,
        max_count: u64,
        (directory, root): &(PathBuf, Option<PathBuf>),
    ) -> Option<(u64, Block)> {
        let Shown::Match(found, context) = self.shown(end, max_count) else {
            return None;
        };
        let texts = |lines: &[KeptLine], on_its_stream: bool| -> Vec<String> {
            lines
                .iter()
                .filter(|(stream, _)| (*stream == found.stream) == on_its_stream)
                .map(|(_, line)| plain_text(line))
                .collect()
        };
        let before = self
            .before
            .iter()
            .find(|(number, _)| *number == found.number)
            .map_or_else(Vec::new, |(_, lines)| texts(lines, true));
        let mut block = profile.block(
            &before,
            &plain_text(&found.line),
            &texts(context, true),
            &texts(context, false),
        );
        block.location = block
            .location
            .map(|location| location.relative_to(root.as_deref(), directory));
        Some((found.number, block))
    }
}

/// A line without the terminal's escape sequences, as text.
pub fn plain_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&anstream::adapter::strip_bytes(bytes).into_vec()).into_owned()
}

impl RunObserver for EvidenceRecorder<'_> {
    fn child_environment(&mut self) -> Vec<(String, String)> {
        self.inner.child_environment()
    }

    fn on_start(&mut self, start: &RunStart<'_>) {
        self.inner.on_start(start);
    }

    fn on_match(&mut self, event: &MatchEvent<'_>) {
        if self.profile.is_some() {
            let seen = self.evidence.of_kind(event.kind).count() as u64;
            if seen == 0 || (event.kind == MatchKind::Pattern && seen + 1 == self.max_count) {
                let before = self
                    .tail
                    .lines_before(event.stream, event.preceding, BEFORE_LINES);
                self.evidence.before.push((event.number, before));
            }
        }
        if self.evidence.matches.len() < MAX_MATCHES {
            self.evidence.matches.push(event.kept());
        }
        self.inner.on_match(event);
    }

    fn next_tick(&self) -> Option<std::time::Instant> {
        self.inner.next_tick()
    }

    fn on_tick(&mut self) {
        self.inner.on_tick();
    }

    fn on_context_line(&mut self, stream: StreamName, line: &[u8]) {
        if self.evidence.context.len() < self.context_lines {
            self.evidence.context.push((stream, kept_line(line)));
        }
        self.inner.on_context_line(stream, line);
    }

    fn on_output(&mut self, stream: StreamName, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            if stream != StreamName::Stderr {
                self.evidence.stdout_mid_line = last != b'\n';
            }
            self.tail.push(stream, bytes);
        }
        self.inner.on_output(stream, bytes);
    }

    fn on_end(&mut self, outcome: &RunEnd) {
        self.evidence.tail = self.tail.lines();
        if let Some(profile) = self.profile {
            self.evidence.block =
                self.evidence
                    .failure_block(profile, outcome, self.max_count, &self.places);
            if let Some((number, block)) = &self.evidence.block {
                self.inner.on_block(*number, block);
            }
        }
        self.inner.on_end(outcome);
    }
}

/// The last [`TAIL_BYTES`] of output, in the order read, with the stream of each run of bytes.
#[derive(Debug, Default)]
struct Tail {
    bytes: VecDeque<u8>,
    /// Consecutive bytes of one stream, oldest first; their lengths add up to `bytes.len()`.
    runs: VecDeque<(StreamName, usize)>,
    /// The oldest bytes were dropped, so each stream's first line here may be cut.
    cut: bool,
}

impl Tail {
    fn push(&mut self, stream: StreamName, chunk: &[u8]) {
        let chunk = &chunk[chunk.len().saturating_sub(TAIL_BYTES)..];
        match self.runs.back_mut() {
            Some((last, length)) if *last == stream => *length += chunk.len(),
            _ => self.runs.push_back((stream, chunk.len())),
        }
        self.bytes.extend(chunk);
        let mut excess = self.bytes.len().saturating_sub(TAIL_BYTES);
        if excess > 0 {
            self.cut = true;
            self.bytes.drain(..excess);
        }
        while let Some((_, length)) = self.runs.front_mut() {
            if excess < *length {
                *length -= excess;
                break;
            }
            excess -= *length;
            self.runs.pop_front();
        }
    }

    /// The last [`TAIL_LINES`] lines, each on its stream, in the order they ended (a line
    /// still open at the end counts as ended there).
    fn lines(&self) -> Vec<KeptLine> {
        self.last_lines(None, TAIL_LINES, true)
    }

    /// The last `count` complete lines before a line of `stream`, of which `preceding` are
    /// the bytes read with it and not yet in the tail.
    fn lines_before(&self, stream: StreamName, preceding: &[u8], count: usize) -> Vec<KeptLine> {
        let preceding = &preceding[preceding.len().saturating_sub(TAIL_BYTES)..];
        self.last_lines(Some((stream, preceding)), count, false)
    }

    /// The last `count` lines of the tail and `more` after it; with `open_lines`, lines still
    /// without their newline at the end count too.
    fn last_lines(
        &self,
        more: Option<(StreamName, &[u8])>,
        count: usize,
        open_lines: bool,
    ) -> Vec<KeptLine> {
        let mut lines = Vec::new();
        let mut open: Vec<(StreamName, Vec<u8>, bool)> = Vec::new();
        let (more_stream, more_bytes) = more.unwrap_or((StreamName::Stdout, &[]));
        let mut bytes = self.bytes.iter().copied().chain(more_bytes.iter().copied());
        let runs = self
            .runs
            .iter()
            .copied()
            .chain((!more_bytes.is_empty()).then_some((more_stream, more_bytes.len())));
        for (stream, length) in runs {
            let index = match open.iter().position(|(s, _, _)| *s == stream) {
                Some(index) => index,
                None => {
                    open.push((stream, Vec::new(), self.cut));
                    open.len() - 1
                }
            };
            let (_, line, partial) = &mut open[index];
            for byte in bytes.by_ref().take(length) {
                if byte == b'\n' {
                    if !std::mem::take(partial) {
                        let text = line.strip_suffix(b"\r").unwrap_or(line);
                        lines.push((stream, kept_line(text)));
                    }
                    line.clear();
                } else {
                    line.push(byte);
                }
            }
        }
        for (stream, line, partial) in open.into_iter().filter(|_| open_lines) {
            if !line.is_empty() && !partial {
                lines.push((stream, kept_line(&line)));
            }
        }
        let start = lines.len().saturating_sub(count);
        lines.split_off(start)
    }
}

/// A line of output as the local sinks keep it, without the terminal's escape sequences:
/// scrubbed (unless `scrub_pii: false`), and withheld (`None`) when they keep minimal detail
/// (`telemetry.anonymize`). `--json` and the CI reports show lines this way.
pub fn kept_text(settings: &Settings, bytes: &[u8]) -> Option<String> {
    (settings.telemetry.local_detail() == Detail::Full)
        .then(|| privacy::scrub_if(settings.telemetry.scrub_pii, &plain_text(bytes)))
}

/// What the after-context's line cap cut, as one line (stderr) and as `--json`'s
/// `context_cut`; nothing when it cut nothing.
pub fn context_cut(settings: &Settings, end: &RunEnd) -> Option<(String, serde_json::Value)> {
    let cut = end.statistics.context_lines_not_shown;
    (cut > 0).then(|| {
        let shown = settings.delay_exit_lines;
        (
            format!(
                "{cut} more line(s) after the match were not shown: the context stops after \
                 {shown} line(s) (--delay-exit-after-lines {shown}; raise it to see more)"
            ),
            serde_json::json!({
                "lines_not_shown": cut,
                "lines_shown": shown,
                "option": "--delay-exit-after-lines",
            }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[KeptLine]) -> Vec<(&'static str, String)> {
        lines
            .iter()
            .map(|(s, l)| (s.as_str(), String::from_utf8_lossy(l).into_owned()))
            .collect()
    }

    #[test]
    fn the_tail_keeps_each_streams_lines_whole_and_in_order() {
        let mut tail = Tail::default();
        tail.push(StreamName::Stdout, b"one\ntw");
        tail.push(StreamName::Stderr, b"err 1\r\nerr");
        tail.push(StreamName::Stdout, b"o\nthree");
        tail.push(StreamName::Stderr, b" 2\n");
        assert_eq!(
            texts(&tail.lines()),
            [
                ("stdout", "one".to_string()),
                ("stderr", "err 1".to_string()),
                ("stdout", "two".to_string()),
                ("stderr", "err 2".to_string()),
                ("stdout", "three".to_string()),
            ]
        );
    }

    #[test]
    fn the_tail_is_bounded_and_drops_the_line_it_cut() {
        let mut tail = Tail::default();
        for number in 0..10_000 {
            tail.push(StreamName::Stdout, format!("line {number}\n").as_bytes());
        }
        tail.push(StreamName::Stdout, &vec![b'x'; 3 * TAIL_BYTES]);
        tail.push(StreamName::Stdout, b"\nlast\n");
        assert!(tail.bytes.len() <= TAIL_BYTES);
        assert_eq!(texts(&tail.lines()), [("stdout", "last".to_string())]);

        let mut tail = Tail::default();
        for number in 0..10_000 {
            tail.push(StreamName::Stderr, format!("line {number}\n").as_bytes());
        }
        let lines = texts(&tail.lines());
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.last().unwrap().1, "line 9999");
        assert_eq!(lines[0].1, format!("line {}", 10_000 - TAIL_LINES));
    }
}
