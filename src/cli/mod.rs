//! The command line: clap definitions plus the one rule clap cannot express.
//!
//! The rule: the first positional word is always the pattern, and the first positional word
//! after it starts the command, whose arguments (options included) are never ours. Clap would
//! happily assign `make` to PATTERN in `earlyexit -- make test`, so `split_command_line`
//! cuts the command off before clap sees anything, using clap's own knowledge of which options
//! take a value.
//!
//! May import: `config`, `ci_output` (the CI systems `--ci` names) and the leaves.

mod generate;
mod settings;

pub use generate::Generate;

use std::ffi::OsString;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use crate::config::ExitCodes;
use crate::duration::parse_duration;
use crate::profile::ProfileChoice;

const EXAMPLES: &str = "\
Examples:
  earlyexit 'Error|FAIL' -- npm test          stop at the first error, once its context is out
                                              (up to 10 s or 100 lines; it ends at a 0.5 s pause)
  ee -t 10m -I 2m 'error' -- make            also stop after 10 min, or 2 min without output
  ee -A 0 -i 'panicked' -- cargo test        stop the moment a line says panicked
  ee -s 'Listening on' -e 'EADDRINUSE' -- npm start
                                              exit 0 once the server is up, 1 if the port is taken
  ee -t 30m -- ./deploy.sh                    no pattern: a timeout wrapper
  kubectl logs -f pod | ee 'OOMKilled'        pipe mode: watch standard input
  ee --json -q 'Error' -- make                one JSON summary on stdout, nothing else
  ee --json-file run.json 'Error' -- make     the output live, and the JSON summary in run.json

Exit codes: 0 the command succeeded and no error pattern matched (or -s matched),
            1 PATTERN or -e matched, n the command's own failing code (128+n for signal n),
            2 timeout, 3 usage error / bad regex / command not found, 130 SIGINT, 143 SIGTERM.
            --exit-codes grep: 0 when the pattern appeared, 1 when it did not.

Telemetry: every run is recorded, in ~/.earlyexit/telemetry.db unless configured otherwise.
  earlyexit telemetry status|stats|report|export|import|prune|clear|sync|test-http|send-test
  (earlyexit telemetry --help says what each does)";

/// Everything the user can say on the command line for a run.
#[derive(Parser, Debug, Clone, Default)]
#[command(
    name = "earlyexit",
    version,
    about = "Run a command, show its output live, and stop it the moment a pattern appears or it hangs.",
    override_usage = "earlyexit [OPTIONS] PATTERN [--] COMMAND [ARGS...]\n       \
                      earlyexit [OPTIONS] -- COMMAND [ARGS...]\n       \
                      COMMAND | earlyexit [OPTIONS] PATTERN",
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Regular expression of an error to watch for (always the first positional word): a
    /// match makes the run a failure
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,

    /// The command to run, with its arguments; without it, standard input is watched
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,

    /// Give the pattern as an option (for a pattern such as `telemetry` or `-x`)
    #[arg(
        long = "pattern",
        value_name = "P",
        conflicts_with = "pattern",
        allow_hyphen_values = true
    )]
    pub pattern_option: Option<String>,

    /// Stop after D in all (30, 30s, 1.5m, 2h, 1d; 0 is off)
    #[arg(short = 't', long = "timeout", value_name = "D", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Stop when there has been no output for D
    #[arg(short = 'I', long = "idle-timeout", value_name = "D", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// Stop when there is no first output within D
    #[arg(short = 'F', long = "first-output-timeout", value_name = "D", value_parser = parse_duration)]
    pub first_output_timeout: Option<Duration>,

    /// After the deciding match keep passing output for D [default: 10s with a command, 0 in pipe mode]
    #[arg(short = 'A', long = "delay-exit", value_name = "D", value_parser = parse_duration)]
    pub delay_exit: Option<Duration>,

    /// ... or for N lines, whichever comes first [default: 100]
    #[arg(long = "delay-exit-after-lines", value_name = "N")]
    pub delay_exit_after_lines: Option<u64>,

    /// ... but stop as soon as the output pauses for D after the match: its stack trace is
    /// over [default: 0.5s; 0 waits out -A]
    #[arg(long = "context-pause", value_name = "D", value_parser = parse_duration)]
    pub context_pause: Option<Duration>,

    /// Ignore case in every pattern
    #[arg(short = 'i', long = "ignore-case")]
    pub ignore_case: bool,

    /// Invert: a line that does NOT match PATTERN counts as a match
    #[arg(short = 'v', long = "invert-match")]
    pub invert_match: bool,

    /// PATTERN must match whole words
    #[arg(short = 'w', long = "word-regexp")]
    pub word_regexp: bool,

    /// PATTERN must match whole lines
    #[arg(short = 'x', long = "line-regexp")]
    pub line_regexp: bool,

    /// Stop at the Nth match
    #[arg(short = 'm', long = "max-count", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_count: u64,

    /// Lines matching P never count as matches (repeatable)
    #[arg(short = 'X', long = "exclude", value_name = "P")]
    pub exclude: Vec<String>,

    /// The first line matching P ends the run with exit code 0 (unless the command then fails)
    #[arg(short = 's', long = "success-pattern", value_name = "P")]
    pub success_pattern: Option<String>,

    /// The first line matching P ends the run with exit code 1
    #[arg(short = 'e', long = "error-pattern", value_name = "P")]
    pub error_pattern: Option<String>,

    /// Watch only the command's stdout (both streams are always passed through)
    #[arg(long = "stdout", conflicts_with = "stderr_only")]
    pub stdout_only: bool,

    /// Watch only the command's stderr (both streams are always passed through)
    #[arg(long = "stderr")]
    pub stderr_only: bool,

    /// Print nothing: neither the command's output nor earlyexit's messages
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Print one JSON summary on stdout at the end instead of the command's output
    #[arg(long = "json")]
    pub json: bool,

    /// Write the JSON summary to PATH at the end; the command's output still passes through
    #[arg(long = "json-file", value_name = "PATH")]
    pub json_file: Option<std::path::PathBuf>,

    /// Write the run as a JUnit XML report to FILE (for GitLab, Jenkins and other CI systems)
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,

    /// How the exit code is chosen: status (0 only when the command succeeded and no error
    /// pattern matched) or grep (0 when the pattern appeared) [default: status]
    #[arg(long = "exit-codes", value_name = "MODE")]
    pub exit_codes: Option<ExitCodes>,

    /// The same as --exit-codes status (the default), for scripts written for older versions
    #[arg(long = "unix-exit-codes", conflicts_with = "exit_codes", hide = true)]
    pub unix_exit_codes: bool,

    /// Grace between SIGTERM and SIGKILL of the command's process group
    #[arg(short = 'k', long = "kill-after", value_name = "D", value_parser = parse_duration,
          default_value = "2s")]
    pub kill_after: Duration,

    /// Give the command a pseudo-terminal as stdout, so it prints each line at once
    #[arg(long = "pty")]
    pub pty: bool,

    /// Where this run's telemetry goes
    #[arg(
        long = "telemetry-backend",
        value_name = "BACKEND",
        help_heading = "Telemetry"
    )]
    pub telemetry_backend: Option<crate::config::telemetry::Backend>,

    /// Record nothing for this run
    #[arg(long = "no-telemetry", help_heading = "Telemetry")]
    pub no_telemetry: bool,

    /// Also send this run to the HTTP endpoint, whatever the backend
    #[arg(long = "telemetry-remote", help_heading = "Telemetry")]
    pub telemetry_remote: bool,

    /// Print on stderr, as JSON lines, what telemetry would write, and write nothing
    #[arg(long = "telemetry-dry-run", help_heading = "Telemetry")]
    pub telemetry_dry_run: bool,

    /// Read this config file instead of ~/.earlyexit/config.yaml (or $EARLYEXIT_CONFIG)
    #[arg(long = "config", value_name = "PATH", help_heading = "Telemetry")]
    pub config: Option<std::path::PathBuf>,

    /// The tool profile: a name from --list-profiles, or none [default: recognised from the command]
    #[arg(long = "profile", value_name = "NAME", value_parser = parse_profile)]
    pub profile: Option<ProfileChoice>,

    /// List the tool profiles and their rules, and exit
    #[arg(long = "list-profiles", exclusive = true)]
    pub list_profiles: bool,

    /// Print a shell completion script or the man page, and exit
    #[arg(long = "generate", value_name = "KIND", exclusive = true)]
    pub generate: Option<Generate>,
}

fn parse_profile(name: &str) -> Result<ProfileChoice, crate::profile::UnknownProfile> {
    name.parse()
}

impl Cli {
    /// The exit code mode the flags chose, if they chose one.
    pub fn exit_codes(&self) -> Option<ExitCodes> {
        self.exit_codes
            .or(self.unix_exit_codes.then_some(ExitCodes::Status))
    }
}

/// What the user asked for, once the command line is understood.
#[derive(Debug)]
pub enum Invocation {
    /// Watch a command or standard input.
    Run(Box<Cli>),
    /// `earlyexit telemetry ...`: the words after `telemetry`.
    Telemetry(Vec<OsString>),
    /// `earlyexit serve ...`: the words after `serve`.
    Serve(Vec<OsString>),
    /// `--generate KIND`.
    Generate(Generate),
    /// `--list-profiles`.
    ListProfiles,
}

/// A command line that cannot be run; `Display` is the one line shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(String),
    /// `--help` or `--version`: not an error, but the run ends here with this text on stdout.
    #[error("{0}")]
    Informational(String),
}

/// Parses the process arguments (`args[0]` is the program name).
pub fn parse(args: Vec<OsString>) -> Result<Invocation, CliError> {
    // `earlyexit help` alone asks for help; watching standard input for the word "help" is
    // `earlyexit --pattern help`.
    if args.len() == 2 && args[1] == "help" {
        return Err(CliError::Informational(
            Cli::command().render_help().to_string(),
        ));
    }
    let split = split_command_line(&args);
    match split.tool {
        Some(Tool::Telemetry) => return Ok(Invocation::Telemetry(split.command)),
        Some(Tool::Serve) => return Ok(Invocation::Serve(split.command)),
        None => {}
    }
    let mut cli = Cli::try_parse_from(&split.ours).map_err(|error| match error.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            CliError::Informational(error.render().to_string())
        }
        _ => CliError::Invalid(first_line_of(&error)),
    })?;
    if let Some(kind) = cli.generate {
        return Ok(Invocation::Generate(kind));
    }
    if cli.list_profiles {
        return Ok(Invocation::ListProfiles);
    }
    cli.command = split.command;
    if let Some(pattern) = cli.pattern_option.take() {
        cli.pattern = Some(pattern);
    }
    Ok(Invocation::Run(Box::new(cli)))
}

/// Clap's errors are several lines with usage; we promise one line that names the problem,
/// with clap's suggestion when it has one (`--timout`: a similar argument exists).
pub(crate) fn first_line_of(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let line = rendered
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let tip = rendered
        .lines()
        .find_map(|line| line.trim().strip_prefix("tip: "))
        .map(|tip| format!("{tip}; "))
        .unwrap_or_default();
    format!("{line} ({tip}see 'earlyexit --help')")
}

#[derive(Debug, Default, PartialEq)]
struct SplitArgs {
    /// Program name, our options and the pattern: what clap parses.
    ours: Vec<OsString>,
    /// The command and its arguments, untouched.
    command: Vec<OsString>,
    /// The first positional named a tool (`telemetry`, `serve`).
    tool: Option<Tool>,
}

/// The tools a first word starts instead of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Telemetry,
    Serve,
}

fn split_command_line(args: &[OsString]) -> SplitArgs {
    let spec = Cli::command();
    let takes_value = |arg: &clap::Arg| arg.get_action().takes_values();
    let long_with_value: Vec<&str> = spec
        .get_arguments()
        .filter(|arg| takes_value(arg))
        .filter_map(|arg| arg.get_long())
        .collect();
    let short_with_value: Vec<char> = spec
        .get_arguments()
        .filter(|arg| takes_value(arg))
        .filter_map(|arg| arg.get_short())
        .collect();

    let mut split = SplitArgs::default();
    let mut words = args.iter();
    if let Some(program) = words.next() {
        split.ours.push(program.clone());
    }
    let mut pattern_seen = false;
    while let Some(word) = words.next() {
        let text = word.to_string_lossy();
        if text == "--" {
            split.command.extend(words.cloned());
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            split.ours.push(word.clone());
            if long == "pattern" || long.starts_with("pattern=") {
                pattern_seen = true;
            }
            if !long.contains('=') && long_with_value.contains(&long) {
                split.ours.extend(words.next().cloned());
            }
            continue;
        }
        if text.len() > 1 && text.starts_with('-') {
            split.ours.push(word.clone());
            // In a cluster such as `-im3`, a value-taking flag swallows the rest of the word;
            // only when it is the last letter does it take the next word.
            for (index, letter) in text.char_indices().skip(1) {
                if short_with_value.contains(&letter) {
                    if index + letter.len_utf8() == text.len() {
                        split.ours.extend(words.next().cloned());
                    }
                    break;
                }
            }
            continue;
        }
        if !pattern_seen {
            let tool = match text.as_ref() {
                "telemetry" => Some(Tool::Telemetry),
                "serve" => Some(Tool::Serve),
                _ => None,
            };
            if split.ours.len() == 1 && tool.is_some() {
                split.tool = tool;
                split.command.extend(words.cloned());
                break;
            }
            pattern_seen = true;
            split.ours.push(word.clone());
            continue;
        }
        split.command.push(word.clone());
        split.command.extend(words.cloned());
        break;
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (Vec<String>, Vec<String>) {
        let args: Vec<OsString> = line.split(' ').map(OsString::from).collect();
        let split = split_command_line(&args);
        let strings = |v: Vec<OsString>| v.into_iter().map(|s| s.into_string().unwrap()).collect();
        (strings(split.ours), strings(split.command))
    }

    #[test]
    fn first_positional_is_the_pattern_even_when_it_looks_like_a_command() {
        assert_eq!(
            split("ee error make -j4"),
            (
                vec!["ee".into(), "error".into()],
                vec!["make".into(), "-j4".into()]
            )
        );
        assert_eq!(
            split("ee error -- make"),
            (vec!["ee".into(), "error".into()], vec!["make".into()])
        );
    }

    #[test]
    fn double_dash_first_means_no_pattern() {
        assert_eq!(
            split("ee -t 5 -- make test"),
            (
                vec!["ee".into(), "-t".into(), "5".into()],
                vec!["make".into(), "test".into()]
            )
        );
    }

    #[test]
    fn option_values_are_not_taken_for_the_pattern() {
        let (ours, command) = split("ee -X warn -m 2 -i Error cargo build -v");
        assert_eq!(ours, ["ee", "-X", "warn", "-m", "2", "-i", "Error"]);
        assert_eq!(command, ["cargo", "build", "-v"]);
        let (ours, command) = split("ee -im2 Error cargo");
        assert_eq!(ours, ["ee", "-im2", "Error"]);
        assert_eq!(command, ["cargo"]);
    }

    #[test]
    fn pattern_option_makes_the_first_positional_the_command() {
        let (ours, command) = split("ee --pattern telemetry make");
        assert_eq!(ours, ["ee", "--pattern", "telemetry"]);
        assert_eq!(command, ["make"]);
    }

    #[test]
    fn telemetry_word_starts_the_tools() {
        let args: Vec<OsString> = "ee telemetry stats --json"
            .split(' ')
            .map(OsString::from)
            .collect();
        let split = split_command_line(&args);
        assert_eq!(split.tool, Some(Tool::Telemetry));
        assert_eq!(split.command, ["stats", "--json"]);
    }

    #[test]
    fn unknown_option_is_a_one_line_error() {
        let err = parse(vec!["ee".into(), "--bogus".into(), "x".into()]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("--bogus"), "{message}");
        assert_eq!(message.lines().count(), 1);
    }
}
