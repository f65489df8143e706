//! One [`Settings`] value holds every resolved choice for a run, so that the rest of the
//! program never looks at flags, defaults or the environment again.
//!
//! May import: the leaves.

pub mod file;
pub mod telemetry;

use std::ffi::OsString;
use std::time::Duration;

pub use telemetry::{Declined, ExitCodes, TelemetryFlags, TelemetrySettings};

/// Lines of context after the deciding match, unless `--delay-exit-after-lines` says otherwise.
pub const DEFAULT_DELAY_EXIT_LINES: u64 = 100;
/// Time of context after the deciding match in command mode, unless `-A` says otherwise.
pub const DEFAULT_DELAY_EXIT_COMMAND: Duration = Duration::from_secs(10);

/// The pause in the output that ends the after-context, unless `--context-pause` says
/// otherwise. Real tools write a failure's whole block within a few milliseconds (cargo test,
/// pytest, jest, go test, a JVM stack trace: 7 ms at most, benches/README.md); the rest is a
/// margin for a loaded CI runner.
pub const DEFAULT_CONTEXT_PAUSE: Duration = Duration::from_millis(500);

/// Where the watched bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Run this program with these arguments.
    Command {
        program: OsString,
        args: Vec<OsString>,
    },
    /// Read standard input (pipe mode).
    Stdin,
}

/// Which of the command's streams are matched; both are always passed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchedStreams {
    Both,
    StdoutOnly,
    StderrOnly,
}

/// What earlyexit itself prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Pass the command's output through, with short messages of our own on stderr.
    PassThrough,
    /// Print nothing at all.
    Quiet,
    /// Print only the JSON summary at the end.
    Json,
}

/// The patterns and how they are to be matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatternSettings {
    pub pattern: Option<String>,
    pub success: Option<String>,
    pub error: Option<String>,
    pub excludes: Vec<String>,
    pub ignore_case: bool,
    pub invert: bool,
    pub whole_word: bool,
    pub whole_line: bool,
    pub max_count: u64,
}

impl PatternSettings {
    /// True when nothing is watched for and only the timeouts can end the run early.
    pub fn is_empty(&self) -> bool {
        self.pattern.is_none() && self.success.is_none() && self.error.is_none()
    }

    /// What the run watched for, as telemetry names it (`earlyexit.pattern`, the stored
    /// `pattern`): PATTERN as given, else the success and error patterns as flags
    /// (`-s 'Listening on' -e 'EADDRINUSE'`), so that stats and the report never show a blank.
    pub fn label(&self) -> Option<String> {
        if let Some(pattern) = &self.pattern {
            return Some(pattern.clone());
        }
        let flags: Vec<String> = [("-s", &self.success), ("-e", &self.error)]
            .into_iter()
            .filter_map(|(flag, pattern)| {
                let pattern = pattern.as_deref()?;
                Some(format!("{flag} '{}'", pattern.replace('\'', "'\\''")))
            })
            .collect();
        (!flags.is_empty()).then(|| flags.join(" "))
    }
}

/// The three ways a run can hang; `None` is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub overall: Option<Duration>,
    pub idle: Option<Duration>,
    pub first_output: Option<Duration>,
}

/// Every resolved choice for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub source: Source,
    pub patterns: PatternSettings,
    pub timeouts: Timeouts,
    pub delay_exit: Duration,
    pub delay_exit_lines: u64,
    /// The after-context ends once the output has paused this long; `None` waits out the delay.
    pub context_pause: Option<Duration>,
    /// Fold the after-context into a collapsible section of the job log (under GitLab CI).
    pub fold_context: bool,
    /// `--junit FILE`: write the run as a JUnit XML report there.
    pub junit: Option<std::path::PathBuf>,
    /// `--json-file PATH`: write the `--json` summary there, whatever the output mode.
    pub json_file: Option<std::path::PathBuf>,
    /// The tool profile that applies (`--profile`, or recognised from the command).
    pub profile: Option<crate::profile::AppliedProfile>,
    pub watched: WatchedStreams,
    pub output: OutputMode,
    pub exit_codes: ExitCodes,
    pub kill_after: Duration,
    pub pty: bool,
    pub telemetry: TelemetrySettings,
}

impl Settings {
    /// The command line as one string, its words joined by spaces as they are: what
    /// `earlyexit.command_hash` hashes, so runs of one command group together across versions.
    pub fn command_line(&self) -> Option<String> {
        self.joined_command(|word| word.to_string())
    }

    /// The command line as a shell would take it back (`sh -c 'echo "x"; exit 7'`): what the
    /// CI summary, JUnit and `--json` show.
    pub fn quoted_command_line(&self) -> Option<String> {
        self.joined_command(|word| match shlex::try_quote(word) {
            Ok(quoted) => quoted.into_owned(),
            // A NUL cannot be in an argument; a word with one is shown as it is.
            Err(_) => word.to_string(),
        })
    }

    fn joined_command(&self, show: impl Fn(&str) -> String) -> Option<String> {
        match &self.source {
            Source::Command { program, args } => Some(
                std::iter::once(program)
                    .chain(args)
                    .map(|word| show(&word.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Source::Stdin => None,
        }
    }
}
