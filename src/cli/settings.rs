//! The command line made into a run's [`Settings`]: every flag read once, with the defaults
//! that depend on the input (pipe mode, CI) decided here.

use std::time::Duration;

use super::Cli;
use crate::config::{
    OutputMode, PatternSettings, Settings, Source, TelemetryFlags, TelemetrySettings, Timeouts,
    WatchedStreams, DEFAULT_CONTEXT_PAUSE, DEFAULT_DELAY_EXIT_COMMAND, DEFAULT_DELAY_EXIT_LINES,
};
use crate::profile::{AppliedProfile, ProfileChoice};

impl Cli {
    /// Resolves every setting of a run: the command line, and for telemetry also the config
    /// file and the environment (`env` looks a variable up). Consent to a remote is the
    /// application's next step (`consent::settle`). Pipe mode stops at once after a match
    /// unless `-A` says otherwise.
    pub fn settings(&self, env: &dyn Fn(&str) -> Option<String>) -> Settings {
        let cli = self;
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
        let telemetry = TelemetrySettings::resolve(&flags, env);
        let exit_codes = cli
            .exit_codes()
            .or(telemetry.exit_codes)
            .unwrap_or_default();
        let mut command = cli.command.iter().cloned();
        let source = match command.next() {
            Some(program) => Source::Command {
                program,
                args: command.collect(),
            },
            None => Source::Stdin,
        };
        let profile = self.applied_profile(&source, env);
        let default_delay = match source {
            Source::Command { .. } => DEFAULT_DELAY_EXIT_COMMAND,
            Source::Stdin => Duration::ZERO,
        };
        let off_when_zero = |d: Option<Duration>| d.filter(|d| !d.is_zero());
        Settings {
            source,
            patterns: PatternSettings {
                pattern: cli
                    .pattern
                    .clone()
                    .or_else(|| profile.as_ref().map(|p| p.profile.pattern.to_string())),
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
            json_file: cli.json_file.clone(),
            profile,
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
        }
    }

    /// The profile of the run: the one `--profile` names, or the one that recognises the
    /// command (none in pipe mode, which runs nothing), with the variables it gives.
    fn applied_profile(
        &self,
        source: &Source,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<AppliedProfile> {
        let choice = self.profile.clone().unwrap_or_default();
        let (profile, variables) = match (source, choice) {
            (Source::Command { program, args }, choice) => {
                let directory = std::env::current_dir().unwrap_or_default();
                let profile = choice.resolve(program, args, &directory)?;
                (profile, profile.variables(env))
            }
            (Source::Stdin, ProfileChoice::Named(profile)) => (profile, Vec::new()),
            (Source::Stdin, _) => return None,
        };
        Some(AppliedProfile {
            profile,
            variables,
            pattern_added: self.pattern.is_none(),
        })
    }
}
