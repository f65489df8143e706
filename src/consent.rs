//! What earlyexit says before a run about where its telemetry goes: the seed's opt-in flow for
//! a remote backend without an endpoint, and the one-line hint in CI.

use std::io::{BufRead, IsTerminal, Write};

use crate::config::telemetry::{Backend, Remote, TelemetrySettings};
use crate::telemetry::detect;

/// The seed's explanation, shown when remote telemetry is asked for but not configured.
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

/// The user declined to run without telemetry.
#[derive(Debug)]
pub struct Declined;

/// Runs the opt-in flow when a remote backend has no endpoint. On a terminal it asks whether
/// to continue without telemetry (yes: telemetry is off for this run; no: `Declined`). Without
/// a terminal it never waits: the run continues with local telemetry only.
pub fn settle_remote(settings: &mut TelemetrySettings, quiet: bool) -> Result<(), Declined> {
    let http_without_endpoint =
        settings.remote() == Some(Remote::Http) && settings.http.endpoint.is_none();
    if !settings.is_active() || !http_without_endpoint {
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
    if settings.backend != Backend::File {
        settings.backend = Backend::Sqlite;
    }
    Ok(())
}

/// In CI, a local backend keeps the runs on a runner that is about to disappear: say once
/// that the http backend exists.
pub fn ci_hint(
    settings: &TelemetrySettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let local_only =
        settings.is_active() && settings.writes_locally() && !settings.sends_remotely();
    if !settings.ci_hint || !local_only {
        return None;
    }
    detect::ci_run(env)?;
    Some(
        "CI detected: telemetry stays on this runner; set EARLYEXIT_TELEMETRY_BACKEND=http and \
         EARLYEXIT_TELEMETRY_ENDPOINT to collect it (EARLYEXIT_TELEMETRY_CI_HINT=false hides this)"
            .to_string(),
    )
}
