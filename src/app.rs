//! The edge of the program: turns the command line into a run, prints what the user sees of
//! earlyexit itself (errors, stop messages, the `--json` summary) and picks the exit code.
//!
//! May import: `cli`, `config`, `consent`, `matcher`, `watch`, `telemetry`, `evidence`,
//! `summary`, `ci_output`, `commands`, `outcome` and the leaves: it is the top.

use std::ffi::OsString;
use std::time::Duration;

use nix::sys::signal::{signal, SigHandler, Signal};
use serde_json::json;

use crate::ci_output;
use crate::cli::{self, Cli, CliError, Invocation};
use crate::commands;
use crate::config::{OutputMode, Settings};
use crate::consent;
use crate::duration::format_duration;
use crate::evidence::{context_cut, Evidence, EvidenceRecorder};
use crate::matcher::Matcher;
use crate::outcome::{exit_code, ExitReason, Outcome, RunEnd, Statistics};
use crate::summary::summary;
use crate::telemetry::ContainedTelemetry;
use crate::watch;

/// Runs earlyexit with these arguments and returns the process exit code.
///
/// Rust's start-up has already opened /dev/null on any of fds 0 to 2 that was closed (so a
/// pipe we create never lands on them) and ignores SIGPIPE, so that during a run a closed
/// stdout is an error we handle (stop the command, exit 141) rather than a signal that kills
/// us with the command still running.
pub fn main(args: Vec<OsString>) -> i32 {
    std::panic::set_hook(Box::new(say_panic_in_one_line));
    match cli::parse(args) {
        Ok(Invocation::Run(cli)) => run(&cli),
        Ok(Invocation::Telemetry(args)) => {
            end_by_sigpipe_when_the_reader_goes();
            commands::main(args)
        }
        Ok(Invocation::Serve(args)) => commands::serve::main(args),
        Ok(Invocation::ListProfiles) => {
            end_by_sigpipe_when_the_reader_goes();
            print!("{}", crate::profile::list());
            0
        }
        Ok(Invocation::Generate(kind)) => {
            end_by_sigpipe_when_the_reader_goes();
            let page = kind.render(commands::definition(), commands::serve::definition());
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), &page);
            0
        }
        Err(CliError::Informational(text)) => {
            end_by_sigpipe_when_the_reader_goes();
            print!("{text}");
            0
        }
        Err(CliError::Invalid(message)) => {
            crate::message::say(&message);
            exit_code::USAGE
        }
    }
}

/// The reports and the help end as any filter does when their reader goes away
/// (`earlyexit telemetry export | head`): killed by SIGPIPE, quietly, where `print!` would
/// panic on the failed write. Only a run, which must stop its command first, handles a closed
/// stdout itself (see [`main`]).
fn end_by_sigpipe_when_the_reader_goes() {
    // SAFETY: SIG_DFL installs no handler code, and no other thread exists yet.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

fn run(cli: &Cli) -> i32 {
    let env = |name: &str| std::env::var(name).ok();
    let mut settings = cli.settings(&env);
    let quiet = settings.output == OutputMode::Quiet;
    if let Err(error) = consent::settle(&mut settings.telemetry, quiet) {
        if !cli.quiet {
            crate::message::say(&error);
        }
        return exit_code::USAGE;
    }
    if cli.command.is_empty() && settings.patterns.is_empty() && cli.timeout.is_none() {
        return usage_error(
            &settings,
            "nothing to do: give a PATTERN, a COMMAND or both",
        );
    }
    let matcher = match Matcher::new(&settings.patterns) {
        Ok(matcher) => matcher,
        Err(error) => return usage_error(&settings, &error.to_string()),
    };
    let notices = [
        settings.profile.as_ref().map(|p| p.announcement()),
        consent::remote_off_line(&settings.telemetry),
        consent::ci_hint(&settings.telemetry, &env),
        variables_not_text(),
    ];
    let warnings = settings.telemetry.warnings.iter().cloned();
    for notice in warnings
        .chain(notices.into_iter().flatten())
        .filter(|_| !quiet)
    {
        crate::message::say(&notice);
    }
    let execution_id = uuid::Uuid::new_v4().to_string();
    let mut telemetry = ContainedTelemetry::start(&settings, &execution_id, &env);
    let mut recorder = EvidenceRecorder::new(&settings, &env, &mut telemetry);
    let result = watch::run(&settings, &matcher, &execution_id, &mut recorder);
    let evidence = recorder.into_evidence();
    let trace_id = telemetry.trace_id();
    let (end, error) = match result {
        Ok(end) => (end, None),
        Err(error) => {
            let message = error.to_string();
            telemetry.record_failure(&message);
            (could_not_start(), Some(message))
        }
    };
    let ids = (execution_id.as_str(), trace_id.as_deref());
    let finished = ci_output::Finished::new(&settings, &end, &evidence, error.as_deref(), ids);
    let mut warnings = report(&finished);
    warnings.extend(ci_output::publish(&finished, &env));
    let code = end.exit_code;
    if settings.output != OutputMode::Quiet {
        for warning in warnings {
            crate::message::say(&warning);
        }
    }
    let lines = telemetry.finish();
    if settings.output != OutputMode::Quiet {
        for line in lines {
            crate::message::say(&line);
        }
    }
    watch::guardian::reap_released();
    code
}

/// A panic is a bug of ours: one line that says where, not a backtrace note in the middle of
/// the command's output. Telemetry's panics are contained (`ContainedTelemetry`), so the run
/// goes on to its exit code.
fn say_panic_in_one_line(info: &std::panic::PanicHookInfo<'_>) {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let place = info
        .location()
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    let line = format!("earlyexit: internal error{place}: {message} (please report it)\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
}

/// Our variables whose value is not UTF-8: read as unset, as every setting must be text, but
/// said, so that a setting is never ignored without a word.
fn variables_not_text() -> Option<String> {
    let names: Vec<String> = std::env::vars_os()
        .filter(|(_, value)| value.to_str().is_none())
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("EARLYEXIT_") || name.starts_with("OTEL_"))
        .collect();
    (!names.is_empty()).then(|| format!("ignored {}: not UTF-8 text", names.join(", ")))
}

/// One line on stderr (unless `-q`), and with `--json` the summary as well, then exit code 3.
fn usage_error(settings: &Settings, message: &str) -> i32 {
    let end = could_not_start();
    let evidence = Evidence::default();
    let finished = ci_output::Finished::new(settings, &end, &evidence, Some(message), ("", None));
    for warning in report(&finished) {
        crate::message::say(&warning);
    }
    exit_code::USAGE
}

/// The end of a run whose command could not be started (exit code 3).
fn could_not_start() -> RunEnd {
    RunEnd {
        exit_code: exit_code::USAGE,
        outcome: Outcome::Error,
        reason: ExitReason::Error,
        command_exit_code: None,
        pid: None,
        match_count: 0,
        duration: Duration::ZERO,
        statistics: Statistics::default(),
        stopped_command: false,
    }
}

/// What the user sees of earlyexit at the end: the `--json` summary, or the stop message and
/// what the context's line cap cut (and a command that could not start, its error); and the
/// `--json-file`. Returns the warnings to show.
fn report(finished: &ci_output::Finished<'_>) -> Vec<String> {
    let settings = finished.settings;
    let end = finished.end;
    let json = (settings.output == OutputMode::Json || settings.json_file.is_some()).then(|| {
        let mut object = summary(finished);
        if let Some(error) = finished.error {
            object["error"] = json!(error);
        }
        object
    });
    if let (Some(error), false) = (finished.error, settings.output == OutputMode::Quiet) {
        crate::message::say(error);
    }
    match settings.output {
        OutputMode::Quiet => {}
        OutputMode::Json => println!("{}", json.as_ref().expect("made for --json")),
        OutputMode::PassThrough => {
            let waited = end.statistics.waited_for_detail.then(|| {
                let name = settings.profile.as_ref().map_or("", |p| p.profile.name);
                format!("waited past a pause for the end of the failure's detail (profile {name})")
            });
            let lines = [
                waited,
                stop_message(settings, end),
                context_cut(settings, end).map(|(line, _)| line),
            ];
            for line in lines.into_iter().flatten() {
                crate::message::say(&line);
            }
        }
    }
    let mut warnings = Vec::new();
    if let (Some(path), Some(json)) = (&settings.json_file, &json) {
        if let Err(error) = ci_output::write_report(path, &format!("{json}\n")) {
            warnings.push(format!(
                "cannot write the JSON summary {}: {error}",
                path.display()
            ));
        }
    }
    warnings
}

/// Why the output ended early, when earlyexit ended it; nothing when the command simply ran out.
fn stop_message(settings: &Settings, outcome: &RunEnd) -> Option<String> {
    let timeouts = &settings.timeouts;
    let shown = |d: Option<Duration>| d.map(format_duration).unwrap_or_default();
    let patterns = &settings.patterns;
    let quoted = |p: &Option<String>| {
        p.as_deref()
            .map(|p| format!(" '{}'", crate::message::shortened(p)))
            .unwrap_or_default()
    };
    let message = match outcome.reason {
        ExitReason::Timeout => format!("timed out after {}", shown(timeouts.overall)),
        ExitReason::IdleTimeout => format!("no output for {} (idle timeout)", shown(timeouts.idle)),
        ExitReason::FirstOutputTimeout => {
            format!(
                "no output within {} (first-output timeout)",
                shown(timeouts.first_output)
            )
        }
        ExitReason::Match if outcome.stopped_command => match &settings.profile {
            Some(applied) if applied.pattern_added => {
                format!("profile {}'s error pattern matched", applied.profile.name)
            }
            _ => format!("pattern{} matched", quoted(&patterns.pattern)),
        },
        ExitReason::SuccessPattern if outcome.stopped_command => {
            format!("success pattern{} matched", quoted(&patterns.success))
        }
        ExitReason::ErrorPattern if outcome.stopped_command => {
            format!("error pattern{} matched", quoted(&patterns.error))
        }
        _ => return None,
    };
    let ending = if outcome.stopped_command {
        "; stopped the command"
    } else {
        ""
    };
    Some(format!("{message}{ending}"))
}
