//! One [`Settings`] value holds every resolved choice for a run, so that the rest of the
//! program never looks at flags, defaults or the environment again.

pub mod file;
pub mod telemetry;

use std::ffi::OsString;
use std::time::Duration;

use crate::cli::Cli;
pub use telemetry::{ConfigError, ExitCodes, TelemetryFlags, TelemetrySettings};

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
    pub watched: WatchedStreams,
    pub output: OutputMode,
    pub exit_codes: ExitCodes,
    pub kill_after: Duration,
    pub pty: bool,
    pub telemetry: TelemetrySettings,
}

impl Settings {
    /// Resolves every setting of a run: the command line, and for telemetry also the config
    /// file, the environment (`env` looks a variable up) and the user's consent to a remote,
    /// which may ask on a terminal. Pipe mode stops at once after a match unless `-A` says
    /// otherwise. Nothing changes the result afterwards.
    pub fn resolve(
        cli: &Cli,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let flags = TelemetryFlags {
            config: cli.config.clone(),
            backend: cli.telemetry_backend,
            no_telemetry: cli.no_telemetry,
            dry_run: cli.telemetry_dry_run,
            remote: cli.telemetry_remote,
        };
        let output = if cli.json {
            OutputMode::Json
        } else if cli.quiet {
            OutputMode::Quiet
        } else {
            OutputMode::PassThrough
        };
        let telemetry = TelemetrySettings::resolve(&flags, env)?;
        let telemetry = crate::consent::settle(telemetry, output == OutputMode::Quiet)?;
        // A green step that hid a failure is the worst a CI tool can do: in CI, CI's codes.
        let exit_codes = cli.exit_codes().or(telemetry.exit_codes).unwrap_or(
            match crate::telemetry::detect::ci_run(env) {
                Some(_) => ExitCodes::Ci,
                None => ExitCodes::Grep,
            },
        );
        let mut command = cli.command.iter().cloned();
        let source = match command.next() {
            Some(program) => Source::Command {
                program,
                args: command.collect(),
            },
            None => Source::Stdin,
        };
        let default_delay = match source {
            Source::Command { .. } => DEFAULT_DELAY_EXIT_COMMAND,
            Source::Stdin => Duration::ZERO,
        };
        let off_when_zero = |d: Option<Duration>| d.filter(|d| !d.is_zero());
        Ok(Settings {
            source,
            patterns: PatternSettings {
                pattern: cli.pattern.clone(),
                success: cli.success_pattern.clone(),
                error: cli.error_pattern.clone(),
                excludes: cli.exclude.clone(),
                ignore_case: cli.ignore_case,
                invert: cli.invert_match,
                whole_word: cli.word_regexp,
                whole_line: cli.line_regexp,
                max_count: cli.max_count,
            },
            timeouts: Timeouts {
                overall: off_when_zero(cli.timeout),
                idle: off_when_zero(cli.idle_timeout),
                first_output: off_when_zero(cli.first_output_timeout),
            },
            delay_exit: cli.delay_exit.unwrap_or(default_delay),
            delay_exit_lines: cli
                .delay_exit_after_lines
                .unwrap_or(DEFAULT_DELAY_EXIT_LINES),
            context_pause: off_when_zero(Some(cli.context_pause.unwrap_or(DEFAULT_CONTEXT_PAUSE))),
            fold_context: crate::ci_output::gitlab::is_active(env),
            junit: cli.junit.clone(),
            watched: if cli.stdout_only {
                WatchedStreams::StdoutOnly
            } else if cli.stderr_only {
                WatchedStreams::StderrOnly
            } else {
                WatchedStreams::Both
            },
            output,
            exit_codes,
            kill_after: cli.kill_after,
            pty: cli.pty,
            telemetry,
        })
    }

    /// The command line as one display string (arguments are not quoted).
    pub fn command_line(&self) -> Option<String> {
        match &self.source {
            Source::Command { program, args } => Some(
                std::iter::once(program)
                    .chain(args)
                    .map(|word| word.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Source::Stdin => None,
        }
    }
}
