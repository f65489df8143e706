//! `earlyexit telemetry status|stats|export|prune|clear`: the tools around the SQLite database.
//! They read the same settings as a run (config file, environment, `--config`) and never
//! create a database that does not exist.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::config::telemetry::{AuthHeader, Backend, Remote, Secret};
use crate::config::{TelemetryFlags, TelemetrySettings};
use crate::duration::{format_duration, parse_duration};
use crate::outcome::exit_code;
use crate::telemetry::delivery::{Courier, DeliveryError, SenderLock, Transport};
use crate::telemetry::remote::{self, Endpoint, PostError};
use crate::telemetry::report::{self, percentile};
use crate::telemetry::store::{Store, StoreError, Table};

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
        since: Option<String>,
    },
    /// Write one self-contained HTML page: runs per day, time saved, failing commands, run
    /// times, patterns, time to first match, each chart with its table
    Report {
        /// Only runs that started within D (30d, 12h) or since a date (2026-11-01, RFC 3339)
        #[arg(long, value_name = "WHEN", default_value = "30d")]
        since: String,
        /// Where to write the page (`-` for stdout)
        #[arg(
            short = 'o',
            long = "output",
            value_name = "FILE",
            default_value = "earlyexit-report.html"
        )]
        output: PathBuf,
    },
    /// Print the recorded runs as JSON Lines in the HTTP API's event envelope
    Export {
        /// Only runs that started within D (7d, 12h) or since a date (2026-11-01, RFC 3339)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
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
    /// Check the HTTP endpoint: reachable? key accepted? how long?
    TestHttp(EndpointArgs),
    /// Send one synthetic execution, marked as a test, to the HTTP endpoint
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

impl EndpointArgs {
    fn resolve(&self, settings: &TelemetrySettings) -> Result<Endpoint, CommandError> {
        let url = self
            .endpoint
            .clone()
            .or_else(|| settings.http.endpoint.as_deref().map(str::to_string))
            .ok_or_else(|| {
                CommandError::Usage(
                    "no endpoint: give --endpoint URL or set EARLYEXIT_TELEMETRY_ENDPOINT".into(),
                )
            })?;
        let auth_header = self.auth_header.unwrap_or(settings.http.auth_header);
        let api_key = self
            .api_key
            .clone()
            .map(Secret::new)
            .or_else(|| settings.http.api_key.clone());
        Ok(Endpoint::new(
            &url,
            auth_header,
            api_key,
            settings.http.trust.clone(),
        ))
    }
}

/// A telemetry command that failed; `Display` is the one line shown.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("{0}")]
    Failed(String),
}

/// Runs `earlyexit telemetry ARGS...` and returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let argv = std::iter::once(OsString::from("earlyexit telemetry")).chain(args);
    let cli = match TelemetryCli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => {
            eprintln!("earlyexit: {}", crate::cli::first_line_of(&error));
            return exit_code::USAGE;
        }
        Err(help) => {
            print!("{}", help.render());
            return 0;
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let flags = TelemetryFlags {
        config: cli.config.clone(),
        ..TelemetryFlags::default()
    };
    let settings = match TelemetrySettings::resolve(&flags, &env) {
        Ok(settings) => {
            if let Some(warning) = &settings.unreadable_config {
                eprintln!("earlyexit: {warning}");
            }
            settings
        }
        Err(error) => {
            eprintln!("earlyexit: {error}");
            return exit_code::USAGE;
        }
    };
    let result = match cli.command {
        TelemetryCommand::Status { json } => status(&settings, json),
        TelemetryCommand::Stats { json, since } => stats(&settings, json, since.as_deref()),
        TelemetryCommand::Export { since } => export(&settings, since.as_deref()),
        TelemetryCommand::Report { since, output } => write_report(&settings, &since, &output),
        TelemetryCommand::Import { files } => import(&settings, &files),
        TelemetryCommand::Prune { older_than } => prune(&settings, older_than),
        TelemetryCommand::Clear { yes } => clear(&settings, yes),
        TelemetryCommand::Sync { background: false } => sync(&settings),
        TelemetryCommand::Sync { background: true } => sync_in_background(&settings),
        TelemetryCommand::TestHttp(endpoint) => test_http(&settings, &endpoint),
        TelemetryCommand::SendTest(endpoint) => send_test(&settings, &endpoint),
    };
    match result {
        Ok(()) => 0,
        Err(CommandError::Usage(message)) => {
            eprintln!("earlyexit: {message}");
            exit_code::USAGE
        }
        Err(error) => {
            eprintln!("earlyexit: {error}");
            1
        }
    }
}

fn open(settings: &TelemetrySettings) -> Result<Option<Store>, CommandError> {
    Ok(Store::open_existing(&settings.sqlite.path)?)
}

fn status(settings: &TelemetrySettings, as_json: bool) -> Result<(), CommandError> {
    let endpoint = Endpoint::from_settings(&settings.http).map(|e| e.display());
    let local = match settings.backend {
        Backend::File => Some(settings.file.path.display().to_string()),
        _ if settings.writes_locally() => Some(settings.sqlite.path.display().to_string()),
        _ => None,
    };
    let remote = match settings.remote() {
        Some(Remote::Http) => Some(
            endpoint
                .clone()
                .unwrap_or_else(|| "(no endpoint configured)".into()),
        ),
        Some(Remote::Otlp) => Some(format!(
            "OTLP {}",
            remote::redact_url(&settings.otlp.traces_url())
        )),
        None => None,
    };
    let destination = [local, remote]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" and ");
    let destination = (!destination.is_empty()).then_some(destination);
    let store = open(settings)?;
    let counts = match &store {
        Some(store) => Some((
            store.count(Table::Executions)?,
            store.count(Table::MatchEvents)?,
            store.schema_version()?,
            store.count(Table::Outbox)?,
        )),
        None => None,
    };
    let last_error = match &store {
        Some(store) => store.last_delivery_error()?,
        None => None,
    };
    let described = settings.describe();
    if as_json {
        let settings_json: serde_json::Map<String, serde_json::Value> = described
            .iter()
            .map(|(key, value, origin)| {
                (
                    key.to_string(),
                    json!({"value": value, "source": origin.to_string()}),
                )
            })
            .collect();
        let summary = json!({
            "enabled": settings.is_active(),
            "backend": settings.backend.to_string(),
            "destination": destination,
            "config_file": settings.config_file.as_ref().map(|p| p.display().to_string()),
            "database": {
                "path": settings.sqlite.path.display().to_string(),
                "exists": counts.is_some(),
                "executions": counts.map(|c| c.0),
                "match_events": counts.map(|c| c.1),
                "schema_version": counts.map(|c| c.2),
                "outbox": counts.map(|c| c.3),
                "last_delivery_error": last_error,
            },
            "settings": settings_json,
        });
        println!("{summary}");
        return Ok(());
    }
    let state = if settings.is_active() {
        "enabled"
    } else {
        "disabled"
    };
    println!(
        "telemetry: {state}, backend {}",
        settings.backend.to_string()
    );
    if let Some(destination) = &destination {
        println!("writes to: {destination}");
    }
    match counts {
        Some((runs, matches, schema, outbox)) => println!(
            "database: {} ({runs} runs, {matches} match events, schema {schema}, {outbox} waiting to be sent)",
            settings.sqlite.path.display()
        ),
        None => println!(
            "database: {} (not created yet)",
            settings.sqlite.path.display()
        ),
    }
    if let Some(error) = &last_error {
        println!("last delivery error: {error}");
    }
    match &settings.config_file {
        Some(path) => println!("config file: {}", path.display()),
        None => println!("config file: none read"),
    }
    println!("settings:");
    let width = described.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    let value_width = described.iter().map(|(_, v, _)| v.len()).max().unwrap_or(0);
    for (key, value, origin) in described {
        println!("  {key:width$}  {value:value_width$}  ({origin})");
    }
    Ok(())
}

fn stats(
    settings: &TelemetrySettings,
    as_json: bool,
    since: Option<&str>,
) -> Result<(), CommandError> {
    let since = since.map(parse_since).transpose()?;
    let Some(store) = open(settings)? else {
        if as_json {
            println!(
                "{}",
                json!({"runs": 0, "database": settings.sqlite.path.display().to_string()})
            );
        } else {
            println!(
                "no runs recorded yet ({} does not exist)",
                settings.sqlite.path.display()
            );
        }
        return Ok(());
    };
    let by_reason = store.tally(
        "SELECT exit_reason, count(*) AS n FROM runs GROUP BY 1 ORDER BY n DESC, 1",
        since,
    )?;
    let runs: i64 = by_reason.iter().map(|(_, n)| n).sum();
    let matches = store.match_events_count(since)?;
    let by_project = store.tally(
        "SELECT project_type, count(*) AS n FROM runs GROUP BY 1 ORDER BY n DESC, 1",
        since,
    )?;
    let patterns = store.tally(
        "SELECT pattern, count(*) AS n FROM runs WHERE pattern IS NOT NULL
         GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10",
        since,
    )?;
    let commands = store.tally(
        "SELECT coalesce(max(command), executable || ' (' || substr(command_hash, 1, 12) || ')'), count(*) AS n
         FROM runs GROUP BY command_hash ORDER BY n DESC, 1 LIMIT 10",
        since,
    )?;
    let runtimes = store.runtimes(since)?;
    let (p50, p95) = (percentile(&runtimes, 0.50), percentile(&runtimes, 0.95));
    let savings = crate::telemetry::savings::estimate(&store.run_timings(since)?);
    if as_json {
        let pairs = |rows: &[(String, i64)]| -> Vec<serde_json::Value> {
            rows.iter()
                .map(|(label, n)| json!({"value": label, "count": n}))
                .collect()
        };
        println!(
            "{}",
            json!({
                "runs": runs,
                "match_events": matches,
                "by_exit_reason": pairs(&by_reason),
                "by_project_type": pairs(&by_project),
                "runtime_p50": p50,
                "runtime_p95": p95,
                "top_patterns": pairs(&patterns),
                "top_commands": pairs(&commands),
                "time_saved": savings,
            })
        );
        return Ok(());
    }
    let list = |rows: &[(String, i64)]| {
        rows.iter()
            .map(|(label, n)| format!("{label} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let seconds = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |s| format!("{s:.2}s"));
    println!("runs: {runs}, match events: {matches}");
    println!("by exit reason: {}", list(&by_reason));
    println!("by project type: {}", list(&by_project));
    println!("run time: p50 {}, p95 {}", seconds(p50), seconds(p95));
    println!("most frequent patterns:");
    for (pattern, n) in &patterns {
        println!("  {n:6}  {pattern}");
    }
    println!("most frequent commands:");
    for (command, n) in &commands {
        println!("  {n:6}  {command}");
    }
    print_savings(&savings);
    Ok(())
}

/// The time-saved lines of `stats`: the total, what it rests on, and each command.
fn print_savings(savings: &crate::telemetry::savings::Savings) {
    println!(
        "time saved: {:.2}s by {} run(s) stopped early ({} more without an estimate: fewer than {} runs of the command ended on their own); hangs stopped: {} ({:.2}s allowed)",
        savings.saved_seconds,
        savings.estimated_runs,
        savings.unknown_runs,
        crate::telemetry::savings::MIN_COMPLETE_RUNS,
        savings.hangs_stopped,
        savings.hang_seconds,
    );
    if savings.by_command.is_empty() {
        return;
    }
    println!("time saved by command:");
    for command in &savings.by_command {
        let saved = command
            .saved_seconds
            .map_or_else(|| "unknown".to_string(), |s| format!("{s:.2}s"));
        let baseline = command
            .complete_median_seconds
            .map_or_else(String::new, |m| format!(", median {m:.2}s"));
        println!(
            "  {saved:>9}  {} ({} stopped early, {} hang(s); {} complete run(s){baseline})",
            command.command, command.stopped_runs, command.hangs_stopped, command.complete_runs
        );
    }
}

/// `7d` means the last seven days; `2026-11-01` or an RFC 3339 time means since then.
fn parse_since(text: &str) -> Result<SystemTime, CommandError> {
    if let Ok(age) = parse_duration(text) {
        return Ok(SystemTime::now() - age);
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    humantime::parse_rfc3339_weak(&full)
        .or_else(|_| humantime::parse_rfc3339(&full))
        .map_err(|_| {
            CommandError::Usage(format!(
                "invalid --since '{text}': expected a duration (7d) or a date (2026-11-01)"
            ))
        })
}

fn write_report(
    settings: &TelemetrySettings,
    since: &str,
    output: &std::path::Path,
) -> Result<(), CommandError> {
    let start = parse_since(since)?;
    let Some(store) = open(settings)? else {
        return Err(CommandError::Failed(format!(
            "no runs recorded yet ({} does not exist)",
            settings.sqlite.path.display()
        )));
    };
    let runs = store.report_runs(Some(start))?;
    let timings = store.run_timings(Some(start))?;
    let period = format!(
        "since {} (--since {since})",
        humantime::format_rfc3339_seconds(start)
    );
    let database = settings.sqlite.path.display().to_string();
    let page = report::render(
        &report::Scope {
            database: &database,
            period: &period,
        },
        &runs,
        &timings,
    );
    if output.as_os_str() == "-" {
        let _ = std::io::stdout().lock().write_all(page.as_bytes());
        return Ok(());
    }
    std::fs::write(output, page)
        .map_err(|e| CommandError::Failed(format!("{}: {e}", output.display())))?;
    println!("wrote {} ({} runs {period})", output.display(), runs.len());
    Ok(())
}

fn export(settings: &TelemetrySettings, since: Option<&str>) -> Result<(), CommandError> {
    let since = since.map(parse_since).transpose()?;
    let Some(store) = open(settings)? else {
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    for run in store.runs_since(since)? {
        for envelope in run.envelopes() {
            if writeln!(out, "{envelope}").is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The envelopes of one export file, plain or gzip (by its first two bytes), each line one
/// JSON object; a line that is not names the file and line.
fn read_export(path: &std::path::Path) -> Result<Vec<serde_json::Value>, CommandError> {
    use std::io::Read;
    let failed = |message: String| CommandError::Failed(format!("{}: {message}", path.display()));
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut bytes))
    }
    .map_err(|e| failed(e.to_string()))?;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .map_err(|e| failed(format!("not a readable gzip file: {e}")))?;
        text
    } else {
        String::from_utf8(bytes).map_err(|_| failed("not UTF-8 text".into()))?
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .filter(|envelope| envelope["type"].is_string() && envelope["data"].is_object())
                .ok_or_else(|| {
                    CommandError::Failed(format!(
                        "{}:{}: not an event envelope ({{\"type\": …, \"data\": {{…}}}})",
                        path.display(),
                        index + 1
                    ))
                })
        })
        .collect()
}

fn import(settings: &TelemetrySettings, files: &[PathBuf]) -> Result<(), CommandError> {
    let mut envelopes = Vec::new();
    for path in files {
        envelopes.extend(read_export(path)?);
    }
    let read = crate::telemetry::record::RunRecord::from_envelopes(&envelopes);
    for warning in &read.warnings {
        eprintln!("earlyexit: import: {warning}");
    }
    let mut store = Store::open(&settings.sqlite.path, settings.sqlite.wal_mode)?;
    let added = store.insert(&read.runs)?;
    println!(
        "imported {added} run(s) into {} ({} already there)",
        settings.sqlite.path.display(),
        read.runs.len() - added
    );
    Ok(())
}

fn prune(settings: &TelemetrySettings, older_than: Duration) -> Result<(), CommandError> {
    let Some(mut store) = open(settings)? else {
        println!(
            "nothing to prune ({} does not exist)",
            settings.sqlite.path.display()
        );
        return Ok(());
    };
    let removed = store.prune_before(SystemTime::now() - older_than)?;
    println!(
        "removed {removed} run(s) older than {}",
        format_duration(older_than)
    );
    Ok(())
}

fn clear(settings: &TelemetrySettings, yes: bool) -> Result<(), CommandError> {
    let Some(mut store) = open(settings)? else {
        println!(
            "nothing to clear ({} does not exist)",
            settings.sqlite.path.display()
        );
        return Ok(());
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CommandError::Usage(
                "telemetry clear needs --yes when there is no terminal to ask on".into(),
            ));
        }
        let runs = store.count(Table::Executions)?;
        eprint!(
            "Delete all {runs} recorded runs from {}? [y/N] ",
            store.path().display()
        );
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            println!("nothing deleted");
            return Ok(());
        }
    }
    let removed = store.clear()?;
    println!("deleted {removed} run(s) from {}", store.path().display());
    Ok(())
}

/// The remotes with something to send: those that have rows waiting, and the one configured.
fn remotes_to_sync(
    settings: &TelemetrySettings,
    store: &Store,
) -> Result<Vec<Remote>, CommandError> {
    let mut remotes = Vec::new();
    for &remote in <Remote as clap::ValueEnum>::value_variants() {
        let configured = match remote {
            Remote::Http => settings.http.endpoint.is_some(),
            Remote::Otlp => settings.remote() == Some(Remote::Otlp),
        };
        if configured || store.waiting(remote)? > 0 {
            remotes.push(remote);
        }
    }
    Ok(remotes)
}

/// The transport of one remote, with this process's resource for OTLP.
fn transport(settings: &TelemetrySettings, remote: Remote) -> Result<Transport, CommandError> {
    let mut transport = Transport::of(remote, settings)?;
    transport.set_resource(&crate::telemetry::resource(&|name| {
        std::env::var(name).ok()
    }));
    Ok(transport)
}

/// Drains one remote's outbox: every batch no other sender holds, each within the timeout.
fn drain(
    settings: &TelemetrySettings,
    store: &mut Store,
    transport: &Transport,
) -> Result<crate::telemetry::delivery::Drained, CommandError> {
    let mut courier = Courier {
        store,
        transport,
        batch_size: settings.http.batch_size.get(),
    };
    Ok(futures_executor::block_on(courier.drain())?)
}

fn sync(settings: &TelemetrySettings) -> Result<(), CommandError> {
    let Some(mut store) = open(settings)? else {
        println!(
            "nothing to send ({} does not exist)",
            settings.sqlite.path.display()
        );
        return Ok(());
    };
    let remotes = remotes_to_sync(settings, &store)?;
    if remotes.is_empty() {
        println!("nothing to send: no remote is configured and the outbox is empty");
        return Ok(());
    }
    let mut failures = Vec::new();
    for remote in remotes {
        let transport = transport(settings, remote)?;
        let drained = drain(settings, &mut store, &transport)?;
        println!(
            "sent {} run(s) to {}; {} left",
            drained.sent,
            transport.destination(),
            drained.left
        );
        failures.extend(drained.error);
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(CommandError::Failed(failures.join("; "))),
    }
}

/// The background sender of `http.async`: drains every remote while it holds the sender lock
/// (its stdin), then lets go and looks once more, so that a run which committed a row while
/// the lock was held, and so started no sender of its own, is never left waiting. A failed
/// batch ends it: the rows wait for the next run or `telemetry sync`.
fn sync_in_background(settings: &TelemetrySettings) -> Result<(), CommandError> {
    let lock = SenderLock::inherited().map_err(|e| CommandError::Failed(e.to_string()))?;
    let Some(mut store) = open(settings)? else {
        return Ok(());
    };
    // Built once each, when a remote first has rows: the OTLP exporter starts a runtime.
    let mut transports: Vec<Transport> = Vec::new();
    loop {
        for remote in remotes_to_sync(settings, &store)? {
            let index = match transports.iter().position(|t| t.remote() == remote) {
                Some(index) => index,
                None => {
                    transports.push(transport(settings, remote)?);
                    transports.len() - 1
                }
            };
            let drained = drain(settings, &mut store, &transports[index])?;
            if let Some(error) = drained.error {
                return Err(CommandError::Failed(error));
            }
        }
        // Runs started together commit over some milliseconds: waiting a moment for them
        // sends them in full batches, and lets them find this sender still running.
        std::thread::sleep(SENDER_LINGER);
        if unclaimed(&store)? > 0 {
            continue;
        }
        lock.release()
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        if unclaimed(&store)? == 0
            || !lock
                .retake()
                .map_err(|e| CommandError::Failed(e.to_string()))?
        {
            return Ok(());
        }
    }
}

/// How long the background sender waits, once the outbox is empty, for more runs to commit.
const SENDER_LINGER: Duration = Duration::from_millis(200);

/// Rows of every remote that no sender holds.
fn unclaimed(store: &Store) -> Result<i64, CommandError> {
    let mut waiting = 0;
    for &remote in <Remote as clap::ValueEnum>::value_variants() {
        waiting += store.unclaimed(remote)?;
    }
    Ok(waiting)
}

fn test_http(settings: &TelemetrySettings, args: &EndpointArgs) -> Result<(), CommandError> {
    let endpoint = args.resolve(settings)?;
    let body = remote::request_body(Vec::new(), true).to_string();
    let deadline = std::time::Instant::now() + settings.http.timeout;
    match remote::post(&endpoint, body.as_bytes(), deadline, 0) {
        Ok(accepted) => {
            println!(
                "{}: reachable, key accepted (HTTP {}) in {:.1} ms",
                endpoint.display(),
                accepted.status,
                accepted.elapsed.as_secs_f64() * 1000.0
            );
            Ok(())
        }
        Err(PostError::Rejected {
            status: 401 | 403,
            endpoint: url,
            ..
        }) => Err(CommandError::Failed(format!(
            "{url}: reachable, but the key was not accepted"
        ))),
        Err(error) => Err(error.into()),
    }
}

fn send_test(settings: &TelemetrySettings, args: &EndpointArgs) -> Result<(), CommandError> {
    let endpoint = args.resolve(settings)?;
    let execution_id = uuid::Uuid::new_v4().to_string();
    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let event = json!({
        "type": "execution",
        "data": {
            "execution_id": execution_id,
            "timestamp": now,
            "command_hash": crate::telemetry::command_hash("earlyexit telemetry send-test"),
            "pattern": "earlyexit-send-test",
            "exit_code": 0,
            "exit_reason": "test",
            "total_runtime": 0.0,
            "match_count": 0,
            "project_type": "unknown",
            "command_category": "test",
            "test": true,
        },
    });
    let body = remote::request_body(vec![event], true).to_string();
    let deadline = std::time::Instant::now() + settings.http.timeout;
    let accepted = remote::post(
        &endpoint,
        body.as_bytes(),
        deadline,
        settings.http.retry_attempts,
    )?;
    println!(
        "sent test execution {execution_id} to {} (HTTP {}, received {})",
        endpoint.display(),
        accepted.status,
        accepted
            .received
            .map_or_else(|| "?".to_string(), |r| r.to_string())
    );
    for warning in accepted.warnings {
        println!("warning: {warning}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_an_age_a_date_or_a_time() {
        let age = SystemTime::now()
            .duration_since(parse_since("7d").unwrap())
            .unwrap();
        assert!(
            // The wall clock may step a little between the two readings.
            age > Duration::from_secs(7 * 86400 - 1) && age < Duration::from_secs(7 * 86400 + 60),
            "{age:?}"
        );
        assert_eq!(
            parse_since("2026-11-01").unwrap(),
            humantime::parse_rfc3339("2026-11-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_since("2026-11-01T12:30:00Z").unwrap(),
            humantime::parse_rfc3339("2026-11-01T12:30:00Z").unwrap()
        );
        assert!(parse_since("yesterday").is_err());
    }
}
