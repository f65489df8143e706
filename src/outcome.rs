//! How a run ended: the one value that decides the exit code, the `--json` summary and the
//! telemetry record.

use std::time::Duration;

use crate::config::ExitCodes;
use crate::matcher::MatchKind;

/// Exit codes that scripts rely on (README, "Exit codes").
pub mod exit_code {
    /// A run that matched, or a telemetry command that did its job.
    pub const SUCCESS: i32 = 0;
    pub const MATCH: i32 = SUCCESS;
    pub const NO_MATCH: i32 = 1;
    /// In CI mode: an error pattern or PATTERN matched.
    pub const ERROR_SEEN: i32 = 1;
    pub const TIMEOUT: i32 = 2;
    pub const USAGE: i32 = 3;
    /// A telemetry command that could not do its job (the database, the endpoint, a file).
    pub const FAILED: i32 = 1;
}

/// The exit code of a run that ended by its patterns or by the command's own end, in `mode`
/// (a timeout, a signal and a usage error have theirs whatever the mode). One table:
///
/// | reason | grep | ci |
/// |---|---|---|
/// | PATTERN matched | 0 | 1 |
/// | `-s` matched | 0 | 0 |
/// | `-e` matched | 1 | 1 |
/// | nothing matched | 1 | the command's own code (0 in pipe mode) |
/// | no pattern given | the command's own code | the command's own code |
pub fn decided_exit_code(reason: ExitReason, command: Option<i32>, mode: ExitCodes) -> i32 {
    let own = command.unwrap_or(exit_code::SUCCESS);
    match (reason, mode) {
        (ExitReason::Completed, _) => own,
        (ExitReason::SuccessPattern, _) => exit_code::MATCH,
        (ExitReason::ErrorPattern, ExitCodes::Grep) => exit_code::NO_MATCH,
        (ExitReason::ErrorPattern, ExitCodes::Ci) => exit_code::ERROR_SEEN,
        (ExitReason::Match, ExitCodes::Grep) => exit_code::MATCH,
        (ExitReason::Match, ExitCodes::Ci) => exit_code::ERROR_SEEN,
        (ExitReason::NoMatch, ExitCodes::Grep) => exit_code::NO_MATCH,
        (ExitReason::NoMatch, ExitCodes::Ci) => own,
        (_, _) => own,
    }
}

/// Why the run ended; the names are those of `--json`'s `exit_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    Match,
    NoMatch,
    /// No pattern was given and the command ran to its end: the command's own status is used.
    Completed,
    SuccessPattern,
    ErrorPattern,
    Timeout,
    IdleTimeout,
    FirstOutputTimeout,
    /// SIGINT, SIGTERM, SIGHUP, or our own stdout closed (a broken pipe).
    Interrupted,
    Error,
}

impl ExitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Match => "match",
            ExitReason::NoMatch => "no_match",
            ExitReason::Completed => "completed",
            ExitReason::SuccessPattern => "success_pattern",
            ExitReason::ErrorPattern => "error_pattern",
            ExitReason::Timeout => "timeout",
            ExitReason::IdleTimeout => "idle_timeout",
            ExitReason::FirstOutputTimeout => "first_output_timeout",
            ExitReason::Interrupted => "interrupted",
            ExitReason::Error => "error",
        }
    }

    /// The reason a match of this kind gives when it decides the run.
    pub fn for_match(kind: MatchKind) -> ExitReason {
        match kind {
            MatchKind::Pattern => ExitReason::Match,
            MatchKind::Success => ExitReason::SuccessPattern,
            MatchKind::Error => ExitReason::ErrorPattern,
        }
    }

    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            ExitReason::Timeout | ExitReason::IdleTimeout | ExitReason::FirstOutputTimeout
        )
    }
}

/// Counters gathered while the output streamed past.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statistics {
    /// Complete lines seen on the watched streams.
    pub lines_processed: u64,
    /// Bytes read from all streams.
    pub bytes_processed: u64,
    pub time_to_first_output: Option<Duration>,
    pub time_to_first_match: Option<Duration>,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What earlyexit exits with (in the run's `--exit-codes` mode).
    pub exit_code: i32,
    pub reason: ExitReason,
    /// The command's own status: its exit code, or 128 + the signal that ended it. `None` in
    /// pipe mode, and when the process could not be reaped.
    pub command_exit_code: Option<i32>,
    /// The child's pid, if a command was run.
    pub pid: Option<u32>,
    pub match_count: u64,
    pub duration: Duration,
    pub statistics: Statistics,
    /// True when earlyexit stopped the command (match, timeout, signal) rather than it ending.
    pub stopped_command: bool,
}
