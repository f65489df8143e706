//! What earlyexit says before a run about where its telemetry goes: `TELEMETRY_BACKENDS.md`'s opt-in flow for
//! a remote backend without an endpoint, the question that `http.opt_in: true` asks once, the
//! line that says why a configured remote does not send, and the one-line hint in CI.
//!
//! What counts as consent: configuring a remote (an endpoint, the otlp or hybrid backend,
//! `--telemetry-remote`) is itself the user's act, so it sends. `http.opt_in: true` asks for
//! more: an explicit "yes" on a terminal, remembered per destination in `remote-consent` next
//! to the database. Remote sending is never off without a line that says so.
//!
//! May import: `config`, `delivery` (whether an endpoint answers), `recording` and the leaves.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use crate::config::telemetry::{Backend, Declined, Remote, RemoteOff, TelemetrySettings};

/// `TELEMETRY_BACKENDS.md`'s explanation, shown when remote telemetry is asked for but not configured.
const EXPLANATION: &str = "\
⚠️  Remote telemetry not yet configured.

Remote telemetry sends execution data to a server.
This is useful for CI/CD and team analytics but requires
sending data outside your machine.

Data sent:
  ✓ Command hash (anonymized)
  ✓ Pattern and exit code
  ✓ Timing metrics
  ✗ NO actual commands or output

Configure remote endpoint:
  export EARLYEXIT_TELEMETRY_ENDPOINT=https://...
  export EARLYEXIT_TELEMETRY_API_KEY=...

Or use local-only telemetry:
  earlyexit --telemetry-backend sqlite 'Error' npm test
";

/// Where the destinations the user agreed to are remembered, one a line.
fn consent_file(settings: &TelemetrySettings) -> PathBuf {
    settings.sqlite.path.with_file_name("remote-consent")
}

/// Where the configured remote sends, as the user is shown it (never with credentials).
fn destination(settings: &TelemetrySettings, remote: Remote) -> String {
    crate::delivery::destination(settings, remote).unwrap_or_default()
}

fn has_agreed(settings: &TelemetrySettings, destination: &str) -> bool {
    crate::files::read_small(&consent_file(settings)).is_ok_and(|bytes| {
        String::from_utf8_lossy(&bytes)
            .lines()
            .any(|line| line == destination)
    })
}

fn remember_agreement(settings: &TelemetrySettings, destination: &str) -> std::io::Result<()> {
    let path = consent_file(settings);
    if let Some(parent) = path.parent() {
        crate::files::private_directory(parent)?;
    }
    let mut file = crate::files::append_private(&path)?;
    writeln!(file, "{destination}")
}

/// Settles `http.opt_in: true`: asks once on a terminal before the first remote send to a
/// destination; without a terminal, or on "no", remote sending stays off for this run.
fn settle_opt_in(settings: &mut TelemetrySettings) {
    let Some(remote) = settings.remote() else {
        return;
    };
    let destination = destination(settings, remote);
    if !settings.http.opt_in || has_agreed(settings, &destination) {
        return;
    }
    if std::io::stdin().is_terminal() {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "earlyexit: send telemetry (command hash, pattern, exit code, timings; no commands or \
             output) to {destination}, now and from now on? [y/N] "
        );
        let _ = stderr.flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
            let _ = remember_agreement(settings, &destination);
            return;
        }
    }
    settings.remote_off = Some(RemoteOff::NoConsent);
}

/// The one line that says why a configured remote does not send, and how to turn it on.
pub fn remote_off_line(settings: &TelemetrySettings) -> Option<String> {
    let remote = settings.configured_remote()?;
    if !settings.is_active() {
        return None;
    }
    let destination = destination(settings, remote);
    match settings.remote_off? {
        RemoteOff::DoNotTrack => Some(format!(
            "remote telemetry to {destination} is off because DO_NOT_TRACK is set; unset it to send"
        )),
        RemoteOff::NoConsent => Some(format!(
            "remote telemetry to {destination} is off until you agree (http.opt_in): run \
             earlyexit once on a terminal and answer yes, or set telemetry.http.opt_in: false"
        )),
    }
}

/// The step the application takes once a run's settings are resolved (after `Cli::settings`,
/// or `TelemetrySettings::resolve` for the telemetry commands): what the user agreed to.
///
/// When a remote backend has no endpoint, it runs `TELEMETRY_BACKENDS.md`'s opt-in flow. On a terminal it
/// asks whether to continue without telemetry (yes: telemetry is off for this run; no:
/// [`Declined`]). Without a terminal it never waits: the run continues with local
/// telemetry only. With a destination, it settles `http.opt_in`: asked once on a terminal.
pub fn settle(settings: &mut TelemetrySettings, quiet: bool) -> Result<(), Declined> {
    let http_without_endpoint =
        settings.remote() == Some(Remote::Http) && settings.http.endpoint.is_none();
    if !settings.is_active() {
        return Ok(());
    }
    if !http_without_endpoint {
        settle_opt_in(settings);
        return Ok(());
    }
    let mut stderr = std::io::stderr().lock();
    if !quiet {
        let _ = writeln!(stderr, "{EXPLANATION}");
    }
    if std::io::stdin().is_terminal() {
        let _ = write!(stderr, "Continue without telemetry? [y/N] ");
        let _ = stderr.flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        return match answer.trim() {
            "y" | "Y" | "yes" | "Yes" | "YES" => {
                settings.enabled = false;
                Ok(())
            }
            _ => Err(Declined),
        };
    }
    if !quiet {
        let _ = writeln!(
            stderr,
            "earlyexit: no terminal to ask on: continuing with local telemetry only"
        );
    }
    settings.remote_once = false;
    if !settings.backend.is_local() {
        settings.backend = Backend::Sqlite;
    }
    Ok(())
}

/// In CI, a local backend keeps the runs on a runner that is about to disappear: say once per
/// runner (a marker beside the database remembers it) that the http and otlp backends exist.
pub fn ci_hint(
    settings: &TelemetrySettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let local_only =
        settings.is_active() && settings.writes_locally() && !settings.sends_remotely();
    if !settings.ci_hint || !local_only || settings.remote_off.is_some() {
        return None;
    }
    crate::recording::ci::ci_run(env)?;
    let marker = settings.sqlite.path.with_file_name("ci-hint-said");
    if marker.exists() {
        return None;
    }
    let remembered = marker
        .parent()
        .map_or(Ok(()), crate::files::private_directory)
        .and_then(|()| crate::files::create_private(&marker).map(drop));
    let said_where = if remembered.is_ok() {
        "said once on this runner"
    } else {
        "said on every run: the marker could not be written"
    };
    Some(format!(
        "CI detected: telemetry stays on this runner; to collect it, set \
         EARLYEXIT_TELEMETRY_BACKEND=http and EARLYEXIT_TELEMETRY_ENDPOINT (a team server), or \
         EARLYEXIT_TELEMETRY_BACKEND=otlp and OTEL_EXPORTER_OTLP_ENDPOINT (a collector) \
         ({said_where}; EARLYEXIT_TELEMETRY_CI_HINT=false hides it)"
    ))
}
