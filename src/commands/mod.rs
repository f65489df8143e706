//! `earlyexit telemetry …`: the tools around the recorded runs, one module per subcommand;
//! and `earlyexit serve` (`serve`), the team server's command line.
//! They read the same settings as a run (config file, environment, `--config`) and never
//! create a database that does not exist. A command that reports builds one serde value,
//! printed as text or, with `--json`, as one JSON object (`Shown`).
//!
//! May import: `cli`, `config`, `store`, `analysis`, `recording`, `delivery`, `telemetry`,
//! `server`, `outcome`, `since` and the leaves.

mod endpoint;
mod maintenance;
mod report;
pub mod serve;
mod stats;
mod status;
mod sync;
mod transfer;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::telemetry::AuthHeader;
use crate::config::{TelemetryFlags, TelemetrySettings};
use crate::delivery::http::PostError;
use crate::delivery::{DeliveryError, SendError};
use crate::duration::parse_duration;
use crate::outcome::exit_code;
use crate::since::{parse_since, InvalidSince};
use crate::store::{Store, StoreError};

#[derive(Parser, Debug)]
#[command(
    name = "earlyexit telemetry",
    about = "Inspect and manage the runs earlyexit has recorded"
)]
struct TelemetryCli {
    /// Read this config file instead of ~/.earlyexit/config.yaml (or $EARLYEXIT_CONFIG)
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: TelemetryCommand,
}

#[derive(Subcommand, Debug)]
enum TelemetryCommand {
    /// The backend in force, where data goes, which file or variable set each setting, row counts
    Status {
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Runs, matches, exit reasons, project types, run times, frequent patterns and commands
    Stats {
        /// Print one JSON object instead of text
        #[arg(long)]
        json: bool,
        /// Only runs that started within D (7d, 12h) or since a date (2026-11-01, RFC 3339)
        #[arg(long, value_name = "WHEN")]
        since: Option<Since>,
    },
    /// Write one self-contained HTML page: runs per day, time saved, failing commands, run
    /// times, patterns, time to first match, each chart with its table
    Report {
        /// Only runs that started within D (30d, 12h) or since a date (2026-11-01, RFC 3339)
        #[arg(long, value_name = "WHEN", default_value = "30d")]
        since: Since,
        /// Where to write the page (`-` for stdout; default earlyexit-report.html, readable
        /// only by you)
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Print the page's figures as one JSON object instead (its tables, each cell a
        /// number, text or null; to stdout unless -o names a file)
        #[arg(long)]
        json: bool,
        /// Only runs on this branch (or tag)
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
        /// Only runs of a repository whose URL contains this (`team/app`)
        #[arg(long, value_name = "PART")]
        repository: Option<String>,
        /// Only runs of a command that contains this (`cargo test`)
        #[arg(long, value_name = "PART")]
        command: Option<String>,
    },
    /// Print the recorded runs as JSON Lines in the HTTP API's event envelope
    Export {
        /// Only runs that started within D (7d, 12h) or since a date (2026-11-01, RFC 3339)
        #[arg(long, value_name = "WHEN")]
        since: Option<Since>,
    },
    /// Load `telemetry export` output (plain or gzip) into the local database, skipping runs it
    /// already has: merge a team's exports into one database
    Import {
        /// JSON Lines files written by `telemetry export` (`-` for stdin)
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Delete runs older than D
    Prune {
        /// Age of the oldest run to keep (30d, 12h)
        #[arg(long, value_name = "D", value_parser = parse_duration)]
        older_than: Duration,
    },
    /// Delete every recorded run (asks first)
    Clear {
        /// Do not ask
        #[arg(long)]
        yes: bool,
    },
    /// Send every run waiting in the outbox to its remote (HTTP endpoint or OTLP collector)
    Sync {
        /// Run as the background sender of `http.async` (its stdin holds the sender lock)
        #[arg(long, hide = true)]
        background: bool,
    },
    /// Check the remote (the HTTP endpoint, or the OTLP collector): reachable? key or headers
    /// accepted? how long?
    TestHttp(EndpointArgs),
    /// Send one synthetic run, marked as a test, to the remote (HTTP endpoint or OTLP collector)
    SendTest(EndpointArgs),
}

/// An endpoint given on the command line; each part falls back to the settings.
#[derive(clap::Args, Debug)]
struct EndpointArgs {
    /// The endpoint URL; without a path, /api/v1/events there [default: telemetry.http.endpoint
    /// / $EARLYEXIT_TELEMETRY_ENDPOINT]
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The API key [default: telemetry.http.api_key / $EARLYEXIT_TELEMETRY_API_KEY]
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// How the key is sent [default: telemetry.http.auth_header]
    #[arg(long, value_name = "HEADER", ignore_case = true)]
    auth_header: Option<AuthHeader>,
}

/// A telemetry command that failed; `Display` is the one line shown.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    /// The command was asked for something it cannot do as asked (exit 3).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    Import {
        path: PathBuf,
        problem: ImportProblem,
    },
    #[error("{}:{line}: not an event envelope ({{\"type\": …, \"data\": {{…}}}})", path.display())]
    NotAnEnvelope { path: PathBuf, line: usize },
    #[error("{}:{line}: a line longer than {} KiB; an export's lines are a run or a match", path.display(), limit / 1024)]
    LineTooLong {
        path: PathBuf,
        line: usize,
        limit: usize,
    },
    #[error("nothing imported: none of the {0} event(s) could be read (see the lines above)")]
    NothingImported(usize),
    #[error("no runs recorded yet ({} does not exist)", .0.display())]
    NoDatabase(PathBuf),
    #[error("{0}: reachable, but the key was not accepted")]
    KeyRefused(String),
    #[error("{0}")]
    Otlp(String),
    #[error("{}", joined(.0))]
    NotSent(Vec<SendError>),
    #[error("the background sender's lock: {0}")]
    SenderLock(std::io::Error),
}

/// Why a file given to `telemetry import` cannot be read.
#[derive(Debug, thiserror::Error)]
enum ImportProblem {
    #[error(transparent)]
    Read(std::io::Error),
    #[error("not a readable gzip file: {0}")]
    Gzip(std::io::Error),
    #[error("not UTF-8 text")]
    NotText,
    #[error("more than {} GiB of text", .0 >> 30)]
    TooLarge(u64),
}

fn joined(errors: &[SendError]) -> String {
    let messages: Vec<String> = errors.iter().map(SendError::to_string).collect();
    messages.join("; ")
}

impl CommandError {
    fn exit_code(&self) -> i32 {
        match self {
            CommandError::Usage(_) => exit_code::USAGE,
            _ => exit_code::FAILED,
        }
    }
}

/// What a command found: text for a person, or with `--json` the same value as one object.
trait Shown: serde::Serialize {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()>;

    /// Prints it; a reader that went away ends the output, not the command.
    fn print(&self, as_json: bool) {
        let mut out = std::io::stdout().lock();
        let _ = if as_json {
            serde_json::to_writer(&mut out, self)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        } else {
            self.write_text(&mut out)
        };
    }
}

/// The clap definition of `earlyexit telemetry`, for the completions and the man page.
pub fn definition() -> clap::Command {
    TelemetryCli::command()
}

/// Runs `earlyexit telemetry ARGS...` and returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    if args.is_empty() {
        // `earlyexit telemetry` alone: what the tools are, not an error.
        print!("{}", TelemetryCli::command().render_help());
        return exit_code::SUCCESS;
    }
    let argv = std::iter::once(OsString::from("earlyexit telemetry")).chain(args);
    let cli = match TelemetryCli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => {
            crate::message::say(crate::cli::first_line_of(&error));
            return exit_code::USAGE;
        }
        Err(help) => {
            print!("{}", help.render());
            return exit_code::SUCCESS;
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let flags = TelemetryFlags {
        config: cli.config.clone(),
        ..TelemetryFlags::default()
    };
    let settings = TelemetrySettings::resolve(&flags, &env);
    for warning in &settings.warnings {
        crate::message::say(warning);
    }
    match run(cli.command, &settings) {
        Ok(()) => exit_code::SUCCESS,
        Err(error) => {
            crate::message::say(&error);
            error.exit_code()
        }
    }
}

fn run(command: TelemetryCommand, settings: &TelemetrySettings) -> Result<(), CommandError> {
    match command {
        TelemetryCommand::Status { json } => status::status(settings)?.print(json),
        TelemetryCommand::Stats { json, since } => {
            stats::stats(settings, since.map(|s| s.start))?.print(json)
        }
        TelemetryCommand::Export { since } => transfer::export(settings, since.map(|s| s.start))?,
        TelemetryCommand::Report {
            since,
            output,
            json,
            branch,
            repository,
            command,
        } => {
            let filter = crate::analysis::report::Filter {
                branch,
                repository,
                command,
                ..Default::default()
            };
            report::write_report(settings, &since, &filter, output.as_deref(), json)?
        }
        TelemetryCommand::Import { files } => transfer::import(settings, &files)?,
        TelemetryCommand::Prune { older_than } => maintenance::prune(settings, older_than)?,
        TelemetryCommand::Clear { yes } => maintenance::clear(settings, yes)?,
        TelemetryCommand::Sync { background: false } => sync::sync(settings)?,
        TelemetryCommand::Sync { background: true } => sync::sync_in_background(settings)?,
        TelemetryCommand::TestHttp(endpoint) => endpoint::test_http(settings, &endpoint)?,
        TelemetryCommand::SendTest(endpoint) => endpoint::send_test(settings, &endpoint)?,
    }
    Ok(())
}

fn open(settings: &TelemetrySettings) -> Result<Option<Store>, CommandError> {
    Ok(Store::open_existing(&settings.sqlite.path)?)
}

/// Closes the runs of killed earlyexits as lost (see `telemetry::close_abandoned`), says how
/// many, and returns how many.
fn close_lost(settings: &TelemetrySettings) -> usize {
    let resource = crate::recording::resource(settings);
    let closed = crate::telemetry::close_abandoned(settings, &resource, usize::MAX);
    if closed.closed > 0 {
        crate::message::say(format!(
            "closed {} run(s) whose earlyexit was killed, as lost",
            closed.closed
        ));
    }
    for failure in closed.failures {
        crate::message::say(format!("closing runs of killed earlyexits: {failure}"));
    }
    closed.closed
}

/// The database, or `None` after saying there is nothing to `verb` without one.
fn open_or_say(settings: &TelemetrySettings, verb: &str) -> Result<Option<Store>, CommandError> {
    let store = open(settings)?;
    if store.is_none() {
        let path = settings.sqlite.path.display();
        println!("nothing to {verb} ({path} does not exist)");
    }
    Ok(store)
}

/// The start of a period, and the `--since` text that named it.
#[derive(Debug, Clone)]
struct Since {
    start: SystemTime,
    text: String,
}

impl std::str::FromStr for Since {
    type Err = InvalidSince;

    fn from_str(text: &str) -> Result<Since, InvalidSince> {
        Ok(Since {
            start: parse_since(text)?,
            text: text.to_string(),
        })
    }
}
