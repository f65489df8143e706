//! How a run ended: the one value that decides the exit code, the `--json` summary and the
//! telemetry record.
//!
//! May import: `config`, `matcher`.

use std::time::Duration;

use crate::config::ExitCodes;
use crate::matcher::MatchKind;

/// Exit codes that scripts rely on (README, "Exit codes").
pub mod exit_code {
    /// A run that succeeded, or a telemetry command that did its job.
    pub const SUCCESS: i32 = 0;
    /// An error pattern (PATTERN or `-e`) matched; in grep's mode, nothing matched.
    pub const ERROR_SEEN: i32 = 1;
    /// grep's mode: the pattern appeared.
    pub const GREP_FOUND: i32 = SUCCESS;
    /// grep's mode: the pattern did not appear.
    pub const GREP_NOT_FOUND: i32 = 1;
    pub const TIMEOUT: i32 = 2;
    pub const USAGE: i32 = 3;
    /// A telemetry command that could not do its job (the database, the endpoint, a file).
    pub const FAILED: i32 = 1;
    /// A lost run's: its earlyexit was killed, and a shell reports a SIGKILL as 128 + 9.
    pub const KILLED: i32 = 137;
}

/// The exit code of a run that ended by its patterns or by the command's own end, in `mode`
/// (a timeout, a signal to earlyexit and a usage error have theirs whatever the mode). One
/// table, the README's:
///
/// | what happened | status (the default) | grep |
/// |---|---|---|
/// | PATTERN matched (even fewer times than `-m`) | 1 | 0 |
/// | `-s` matched | 0 (1 if PATTERN matched before) | 0 |
/// | `-e` matched | 1 | 1 |
/// | a match, then the command failed on its own with n | n | as above |
/// | nothing matched, the command exited 0 (or pipe mode) | 0 | 1 |
/// | nothing matched, the command failed with n | n | 1 |
/// | nothing matched, the command died of signal s | 128+s | 128+s |
/// | no pattern given | the command's own code | the command's own code |
///
/// In the status mode the code follows from the outcome alone, so the two never disagree.
pub fn decided_exit_code(outcome: Outcome, reason: ExitReason, end: Ended, mode: ExitCodes) -> i32 {
    let own = end.command_exit_code.unwrap_or(exit_code::SUCCESS);
    match mode {
        ExitCodes::Status => match outcome {
            Outcome::Success | Outcome::StoppedOnSuccess => exit_code::SUCCESS,
            _ if end.failed_on_its_own() => own,
            _ => exit_code::ERROR_SEEN,
        },
        ExitCodes::Grep => match reason {
            ExitReason::Completed => own,
            ExitReason::SuccessPattern | ExitReason::Match => exit_code::GREP_FOUND,
            ExitReason::ErrorPattern => exit_code::GREP_NOT_FOUND,
            _ if died_of_signal(own) => own,
            _ => exit_code::GREP_NOT_FOUND,
        },
    }
}

/// How the command ended, as far as the outcome needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    /// The command's own status (128 + n for signal n); `None` in pipe mode.
    pub command_exit_code: Option<i32>,
    /// earlyexit stopped the command (its status is then earlyexit's doing).
    pub stopped_command: bool,
    /// PATTERN or `-e` matched at least once.
    pub error_seen: bool,
}

impl Ended {
    /// True when the command ended by itself with a failure.
    pub fn failed_on_its_own(self) -> bool {
        failed_on_its_own(self.command_exit_code, self.stopped_command)
    }
}

/// True when the command ended by itself with a failure (earlyexit's own SIGTERM is not one).
pub fn failed_on_its_own(command_exit_code: Option<i32>, stopped_command: bool) -> bool {
    !stopped_command && command_exit_code.is_some_and(|code| code != 0)
}

/// A command status of 128 + n is how a death by signal n is told (as shells tell it).
fn died_of_signal(status: i32) -> bool {
    (129..=128 + 64).contains(&status)
}

/// The run's one outcome, derived once ([`Outcome::of`]); the exit code, `--json`, the span's
/// status, `error.type` and `cicd.pipeline.task.run.result`, the stored row, `telemetry stats`
/// and the report all read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The command exited 0 and no error was seen.
    Success,
    /// The command failed, or an error pattern (PATTERN or `-e`) matched.
    Failure,
    /// `-s` matched: earlyexit found what it was told to wait for.
    StoppedOnSuccess,
    /// The overall, idle or first-output timeout ended the run.
    Timeout,
    /// SIGINT, SIGTERM or SIGHUP reached earlyexit, or its own output was closed.
    Cancelled,
    /// earlyexit itself was killed; the run was closed later from its start record.
    Lost,
    /// The command could not be started.
    Error,
}

impl Outcome {
    /// Every outcome, in the order in which tables and charts list them.
    pub const ALL: [Outcome; 7] = [
        Outcome::Success,
        Outcome::StoppedOnSuccess,
        Outcome::Failure,
        Outcome::Timeout,
        Outcome::Cancelled,
        Outcome::Lost,
        Outcome::Error,
    ];

    /// The one derivation, from why the run ended and how the command did; never from the
    /// exit-code mode, which only maps the outcome to a number. A command that ended by
    /// itself with a failure is a failure whatever matched before, and an error seen
    /// (PATTERN or `-e`) is a failure even when `-s` matched after it.
    pub fn of(reason: ExitReason, end: Ended) -> Outcome {
        match reason {
            ExitReason::Timeout | ExitReason::IdleTimeout | ExitReason::FirstOutputTimeout => {
                Outcome::Timeout
            }
            ExitReason::Interrupted => Outcome::Cancelled,
            ExitReason::Error => Outcome::Error,
            ExitReason::Lost => Outcome::Lost,
            _ if end.failed_on_its_own() || end.error_seen => Outcome::Failure,
            ExitReason::ErrorPattern | ExitReason::Match => Outcome::Failure,
            ExitReason::SuccessPattern => Outcome::StoppedOnSuccess,
            ExitReason::NoMatch | ExitReason::Completed => Outcome::Success,
        }
    }

    /// The outcome of a run recorded by any version of earlyexit or any client, by today's
    /// rule. Earlier builds stored a PATTERN match in grep's mode as `stopped_on_success`, and
    /// a run that saw fewer matches than `-m` as `success` (its reason `no_match`). `store::schema` applies the
    /// same rule to stored rows.
    pub fn settled(stored: Outcome, reason: Option<ExitReason>, match_count: i64) -> Outcome {
        match (stored, reason) {
            (Outcome::StoppedOnSuccess, Some(ExitReason::Match)) => Outcome::Failure,
            (Outcome::Success, Some(ExitReason::NoMatch)) if match_count > 0 => Outcome::Failure,
            (stored, _) => stored,
        }
    }

    /// The outcome of a record that carries none (an earlier version, another client of the
    /// HTTP API), from what it says: its reason by the rules above, and without a reason a
    /// non-zero exit code is a failure. `store::schema`'s `legacy_outcome` is the same rule
    /// over stored rows.
    pub fn of_record(
        reason: Option<ExitReason>,
        exit_code: i64,
        command_exit_code: Option<i64>,
        match_count: i64,
    ) -> Outcome {
        let command_failed = command_exit_code.unwrap_or(0) != 0;
        match reason {
            Some(
                ExitReason::Timeout | ExitReason::IdleTimeout | ExitReason::FirstOutputTimeout,
            ) => Outcome::Timeout,
            Some(ExitReason::Interrupted) => Outcome::Cancelled,
            Some(ExitReason::Error) => Outcome::Error,
            Some(ExitReason::Lost) => Outcome::Lost,
            Some(ExitReason::ErrorPattern | ExitReason::Match) => Outcome::Failure,
            Some(ExitReason::NoMatch) if match_count > 0 => Outcome::Failure,
            Some(_) if command_failed => Outcome::Failure,
            Some(ExitReason::SuccessPattern) => Outcome::StoppedOnSuccess,
            Some(_) => Outcome::Success,
            None if exit_code != 0 || command_failed => Outcome::Failure,
            None => Outcome::Success,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::StoppedOnSuccess => "stopped_on_success",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::Lost => "lost",
            Outcome::Error => "error",
        }
    }

    /// What a person reads in stats and the report.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Success => "succeeded",
            Outcome::StoppedOnSuccess => "stopped on success",
            Outcome::Failure => "failed",
            Outcome::Timeout => "timed out",
            Outcome::Cancelled => "cancelled",
            Outcome::Lost => "lost",
            Outcome::Error => "could not start",
        }
    }

    /// The value of `cicd.pipeline.task.run.result` (semantic conventions, CICD).
    pub fn task_run_result(self) -> &'static str {
        match self {
            Outcome::Success | Outcome::StoppedOnSuccess => "success",
            Outcome::Failure => "failure",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancellation",
            Outcome::Lost | Outcome::Error => "error",
        }
    }

    /// True when the span's status is Error: the run did not do what it was for.
    pub fn is_error(self) -> bool {
        !matches!(self, Outcome::Success | Outcome::StoppedOnSuccess)
    }

    /// True when the run counts as failed in every count of failures (stats, the report, the
    /// CI summary): a failure, a timeout, a lost run or one that could not start. A cancelled
    /// run was ended by someone, not by the command.
    pub fn is_failed(self) -> bool {
        self.is_error() && self != Outcome::Cancelled
    }

    /// `error.type` (semantic conventions): the class of error, low in cardinality. A command
    /// that failed on its own gives its exit code, as the CLI conventions ask.
    pub fn error_type(self, end: &RunEnd) -> Option<String> {
        if !self.is_error() {
            return None;
        }
        let on_its_own = end.failed_on_its_own();
        Some(match (self, end.command_exit_code) {
            (Outcome::Failure, Some(code)) if on_its_own => code.to_string(),
            (Outcome::Failure | Outcome::Timeout, _) => end.reason.as_str().to_string(),
            (other, _) => other.as_str().to_string(),
        })
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Outcome, UnknownName> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_string()))
    }
}

/// A stored name that no outcome or exit reason has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name '{0}'")]
pub struct UnknownName(pub String);

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
    /// earlyexit itself was killed; a later run closed the run from its running record.
    Lost,
}

impl ExitReason {
    /// Every reason.
    pub const ALL: [ExitReason; 11] = [
        ExitReason::Match,
        ExitReason::NoMatch,
        ExitReason::Completed,
        ExitReason::SuccessPattern,
        ExitReason::ErrorPattern,
        ExitReason::Timeout,
        ExitReason::IdleTimeout,
        ExitReason::FirstOutputTimeout,
        ExitReason::Interrupted,
        ExitReason::Error,
        ExitReason::Lost,
    ];

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
            ExitReason::Lost => "lost",
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

impl std::str::FromStr for ExitReason {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<ExitReason, UnknownName> {
        ExitReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == name)
            .ok_or_else(|| UnknownName(name.to_string()))
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
    /// Lines that followed the after-context's line cap (`--delay-exit-after-lines`) before
    /// the output paused, and were not shown.
    pub context_lines_not_shown: u64,
    /// A tool profile held the context open past a pause, because the failure's detail was
    /// not over (`profile::Hold`).
    pub waited_for_detail: bool,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// What earlyexit exits with (in the run's `--exit-codes` mode).
    pub exit_code: i32,
    pub outcome: Outcome,
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

impl RunEnd {
    /// True when the command ended by itself with a failure.
    pub fn failed_on_its_own(&self) -> bool {
        failed_on_its_own(self.command_exit_code, self.stopped_command)
    }

    /// What happened, in a few words: the span's status description, and the title of the CI
    /// annotations, job summary and JUnit failure.
    pub fn headline(&self) -> String {
        let seconds = self.duration.as_secs_f64();
        match (self.reason, self.command_exit_code) {
            (_, Some(code)) if self.failed_on_its_own() => format!("command exited with {code}"),
            (ExitReason::ErrorPattern, _) => "error pattern matched".to_string(),
            (ExitReason::SuccessPattern, _) if self.outcome == Outcome::Failure => {
                "pattern matched before the success pattern".to_string()
            }
            (ExitReason::SuccessPattern, _) => "success pattern matched".to_string(),
            (ExitReason::Match, _) => "pattern matched".to_string(),
            (
                reason @ (ExitReason::Timeout
                | ExitReason::IdleTimeout
                | ExitReason::FirstOutputTimeout),
                _,
            ) => format!("{} after {seconds:.1}s", reason.as_str()),
            (ExitReason::Interrupted, _) => format!("cancelled after {seconds:.1}s"),
            (ExitReason::Error, _) => "the command could not start".to_string(),
            (ExitReason::Lost, _) => format!("earlyexit was killed; last seen after {seconds:.1}s"),
            (ExitReason::NoMatch | ExitReason::Completed, _) => "command succeeded".to_string(),
        }
    }
}
