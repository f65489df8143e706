//! The order in which telemetry settings apply: defaults, the config file, `EARLYEXIT_*` and
//! the standard OpenTelemetry variables, then the flags. Each value goes through its key's
//! [`Value`](super::keys::Value) parser, after `${VAR}` and `~` expansion.

use std::path::{Path, PathBuf};

use super::keys::{self, environment_aliases, environment_variable, InvalidValue, Key, KEYS};
use super::{Origin, RemoteOff, Secret, TelemetryFlags, TelemetrySettings};
use crate::config::file::{self, FileError, FileProblem};

/// Why a value from the file or the environment cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ValueProblem {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error("${{{0}}} is not set (write ${{{0}:-default}} for a fallback)")]
    Unset(String),
    #[error("unclosed '${{' in '{0}' (write ${{NAME}} or ${{NAME:-default}})")]
    Unclosed(String),
}

/// The user answered no to running without the remote telemetry asked for.
#[derive(Debug, thiserror::Error)]
#[error("remote telemetry is not configured; nothing was run")]
pub struct Declined;

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl TelemetrySettings {
    /// Resolves the settings. `env` looks up an environment variable (a closure, so that tests
    /// need not touch the process environment). Consent to a remote is settled after this,
    /// by `consent::settle`, the application's next step.
    ///
    /// No setting stops a run: a value that cannot be used (a typo in the file, an empty
    /// `${{ vars.X }}` in CI, an OpenTelemetry variable earlyexit does not support) keeps
    /// what was there before it, and one line in [`TelemetrySettings::warnings`] names it.
    /// The OpenTelemetry specification asks the same of `OTEL_*` variables, and an empty one
    /// is unset.
    pub fn resolve(flags: &TelemetryFlags, env: Env) -> TelemetrySettings {
        let home = home_directory(env);
        let mut settings = TelemetrySettings::defaults(&home);
        if let Some((path, explicit)) = settings.config_location(flags, &home, env) {
            settings.apply_file(path, explicit, &home, env);
        }
        settings.apply_environment(&home, env);
        settings.apply_flags(flags);
        settings.check_otlp();
        settings
    }

    fn apply_file(&mut self, path: PathBuf, explicit: bool, home: &Path, env: Env) {
        let text = match read_config(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => return,
            // A file that cannot be read (not there although named, not text, a home without
            // permission) is a fault of the machine, not of the run: the command runs, with
            // telemetry off, since the file may have said where it must not go.
            Err(source) => {
                self.enabled = false;
                self.warn(format!(
                    "config file {}: {source}; telemetry is off for this run",
                    path.display()
                ));
                return;
            }
        };
        let entries = match file::parse(&path, &text) {
            Ok(entries) => entries,
            Err(error) => {
                self.enabled = false;
                self.warn(format!("{error}; telemetry is off for this run"));
                return;
            }
        };
        for entry in entries {
            let at_line = |problem| FileError {
                path: path.clone(),
                line: entry.line,
                problem,
            };
            let Some(key) = keys::key(&entry.key) else {
                let error = at_line(FileProblem::UnknownKey(entry.key.clone()));
                self.warn(format!("{error}; ignored"));
                continue;
            };
            if let Err(problem) = self.apply(key, &entry.value, home, env) {
                let error = at_line(FileProblem::Value(entry.key.clone(), problem));
                self.warn(format!("{error}; {} kept", self.kept(key)));
                continue;
            }
            let origin = Origin::File {
                path: path.clone(),
                line: entry.line,
            };
            self.set_origin(key.name, origin);
        }
        self.config_file = Some(path);
    }

    fn apply_environment(&mut self, home: &Path, env: Env) {
        let derived = KEYS.iter().map(|key| (environment_variable(key.name), key));
        for (variable, key) in derived.chain(environment_aliases()) {
            let Some(value) = env(&variable) else {
                continue;
            };
            if variable.starts_with("OTEL_") && value.trim().is_empty() {
                continue;
            }
            let value = keys::from_standard_units(&variable, value);
            if let Err(problem) = self.apply(key, &value, home, env) {
                self.warn(format!("{variable}: {problem}; {} kept", self.kept(key)));
                continue;
            }
            self.set_origin(key.name, Origin::Environment(variable));
        }
        let disabled_by = [
            ("EARLYEXIT_NO_TELEMETRY", says_yes as fn(&str) -> bool),
            // The OpenTelemetry specification: only `true`, in any case, disables.
            ("OTEL_SDK_DISABLED", |value| {
                value.trim().eq_ignore_ascii_case("true")
            }),
        ];
        for (variable, disables) in disabled_by {
            if env(variable).is_some_and(|value| disables(&value)) {
                self.enabled = false;
                self.set_origin("telemetry.enabled", Origin::Environment(variable.into()));
            }
        }
        if env("DO_NOT_TRACK").is_some_and(|value| says_yes(&value)) {
            self.remote_off = Some(RemoteOff::DoNotTrack);
        }
        self.apply_sdk_variables(env);
        // `api_key_env` names the variable that holds the key, when no key was given.
        if self.http.api_key.is_none() {
            if let Some(variable) = &self.http.api_key_env {
                self.http.api_key = env(variable).filter(|v| !v.is_empty()).map(Secret::new);
            }
        }
    }

    /// One line for [`TelemetrySettings::warnings`].
    pub(super) fn warn(&mut self, line: String) {
        self.warnings.push(line);
    }

    /// What a key keeps when a value for it cannot be used: its value so far, and where that
    /// came from.
    fn kept(&self, key: &Key) -> String {
        let value = (key.show)(self);
        let value = if value.is_empty() {
            "(none)".into()
        } else {
            value
        };
        match self.origin_of(key.name) {
            Origin::Default => format!("the default {value}"),
            origin => format!("{value} from {origin}"),
        }
    }

    fn apply_flags(&mut self, flags: &TelemetryFlags) {
        if let Some(backend) = flags.backend {
            self.backend = backend;
            self.set_origin("telemetry.backend", Origin::Flag("--telemetry-backend"));
        }
        if flags.no_telemetry {
            self.enabled = false;
            self.set_origin("telemetry.enabled", Origin::Flag("--no-telemetry"));
        }
        self.dry_run = flags.dry_run;
        self.remote_once = flags.remote;
    }

    fn apply(&mut self, key: &Key, text: &str, home: &Path, env: Env) -> Result<(), ValueProblem> {
        (key.apply)(self, &expand(text, home, env)?)?;
        Ok(())
    }
}

/// Without HOME (a cron job, a service), the password database names the home, as it does
/// for the shell; `/` is the last resort.
fn home_directory(env: Env) -> PathBuf {
    env("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
        .unwrap_or_else(|| PathBuf::from("/"))
}

impl TelemetrySettings {
    /// The config file to read, and whether it was named on purpose (`--config`,
    /// `EARLYEXIT_CONFIG`) rather than the default one in `~/.earlyexit`; none when
    /// `EARLYEXIT_CONFIG` cannot be expanded (said in a warning).
    fn config_location(
        &mut self,
        flags: &TelemetryFlags,
        home: &Path,
        env: Env,
    ) -> Option<(PathBuf, bool)> {
        match (&flags.config, env("EARLYEXIT_CONFIG")) {
            (Some(path), _) => Some((path.clone(), true)),
            (None, Some(path)) if !path.is_empty() => match expand(&path, home, env) {
                Ok(path) => Some((PathBuf::from(path), true)),
                Err(problem) => {
                    self.warn(format!(
                        "EARLYEXIT_CONFIG: {problem}; no config file is read"
                    ));
                    None
                }
            },
            _ => Some((home.join(".earlyexit").join("config.yaml"), false)),
        }
    }
}

/// An opt-out variable as people write them: set to anything but empty, `0`, `false`, `no`
/// or `off` means yes (`EARLYEXIT_NO_TELEMETRY=Y`, `=2`, `=please`).
fn says_yes(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no" | "off"
    )
}

/// The config file's text: a small regular file (see [`crate::files::read_small`]).
fn read_config(path: &Path) -> std::io::Result<String> {
    // InvalidData, as `read_to_string` said it.
    String::from_utf8(crate::files::read_small(path)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Expands `${VAR}` and `${VAR:-default}` anywhere, and a leading `~`. Unlike a shell, an
/// unset variable without a default is an error that names it: an empty expansion turned
/// `${UNSET}/x/t.db` into a directory at the filesystem root. An unclosed `${` is an error too.
fn expand(value: &str, home: &Path, env: Env) -> Result<String, ValueProblem> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(length) = rest[start + 2..].find('}') else {
            return Err(ValueProblem::Unclosed(value.to_string()));
        };
        out.push_str(&rest[..start]);
        let inside = &rest[start + 2..start + 2 + length];
        let (name, default) = match inside.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inside, None),
        };
        match (env(name), default) {
            (Some(found), Some(default)) if found.is_empty() => out.push_str(default),
            (Some(found), _) => out.push_str(&found),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(ValueProblem::Unset(name.to_string())),
        }
        rest = &rest[start + 3 + length..];
    }
    out.push_str(rest);
    if out == "~" {
        return Ok(home.display().to_string());
    }
    Ok(match out.strip_prefix("~/") {
        Some(tail) => home.join(tail).display().to_string(),
        None => out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::telemetry::{Backend, OtlpProtocol, Signal};
    use std::collections::HashMap;
    use std::time::Duration;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn expansion_of_home_and_variables() {
        let env = env_of(&[("TEAM", "qa")]);
        let home = Path::new("/home/u");
        assert_eq!(
            expand("~/x/${TEAM}.db", home, &env).unwrap(),
            "/home/u/x/qa.db"
        );
        assert_eq!(expand("${MISSING:-/tmp}/x", home, &env).unwrap(), "/tmp/x");
        assert_eq!(expand("${TEAM:-none}", home, &env).unwrap(), "qa");
        assert_eq!(
            expand("${MISSING}/x", home, &env).unwrap_err().to_string(),
            "${MISSING} is not set (write ${MISSING:-default} for a fallback)"
        );
        assert!(expand("a${unclosed", home, &env)
            .unwrap_err()
            .to_string()
            .starts_with("unclosed '${'"));
    }

    #[test]
    fn flags_beat_environment_beats_defaults() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("EARLYEXIT_TELEMETRY_BACKEND", "file"),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env);
        assert_eq!(settings.backend, Backend::File);
        let flags = TelemetryFlags {
            backend: Some(Backend::None),
            ..TelemetryFlags::default()
        };
        let settings = TelemetrySettings::resolve(&flags, &env);
        assert_eq!(settings.backend, Backend::None);
        let origin = settings
            .describe()
            .into_iter()
            .find(|(k, _, _)| *k == "telemetry.backend")
            .unwrap()
            .2;
        assert_eq!(origin, Origin::Flag("--telemetry-backend"));
    }

    #[test]
    fn standard_otlp_variables_map_onto_the_otlp_section() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x-team=qa"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env);
        let otlp = &settings.otlp;
        let traces = otlp.export(Signal::Traces);
        let logs = otlp.export(Signal::Logs);
        assert_eq!(
            (traces.protocol, logs.protocol),
            (OtlpProtocol::HttpProtobuf, OtlpProtocol::Grpc),
            "the traces variable wins for traces alone"
        );
        assert_eq!(traces.url, "http://generic:4318/v1/traces");
        assert_eq!(logs.url, "http://generic:4318", "gRPC appends no path");
        assert_eq!(
            traces.timeout,
            Duration::from_millis(1500),
            "OTEL timeouts are milliseconds"
        );
        assert_eq!(traces.compression, super::super::Compression::Gzip);
        assert_eq!(logs.compression, super::super::Compression::None);
        assert_eq!(
            otlp.trust.ca_file.as_deref(),
            Some(Path::new("/etc/ca.pem"))
        );
        let headers: Vec<(&str, &str)> = otlp
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(headers, [("api-key", "a b"), ("x-team", "qa")]);
        let shown = settings
            .describe()
            .into_iter()
            .find(|(k, _, _)| *k == "telemetry.otlp.headers")
            .unwrap();
        assert_eq!(shown.1, "api-key=[REDACTED],x-team=[REDACTED]");
        assert_eq!(
            shown.2,
            Origin::Environment("OTEL_EXPORTER_OTLP_HEADERS".into())
        );
    }

    #[test]
    fn the_traces_endpoint_is_used_as_given_and_the_default_depends_on_the_protocol() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:9999/custom",
            ),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env);
        assert_eq!(settings.otlp.traces_url(), "http://traces:9999/custom");
        assert_eq!(
            settings.otlp.logs_url(),
            "http://generic:4317",
            "the logs follow the generic endpoint, not the traces' own"
        );
        let logs = TelemetrySettings::resolve(
            &TelemetryFlags::default(),
            &env_of(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4318/in")]),
        );
        assert_eq!(logs.otlp.logs_url(), "http://logs:4318/in");
        let defaults = TelemetrySettings::resolve(&TelemetryFlags::default(), &env_of(&[]));
        assert_eq!(defaults.otlp.traces_url(), "http://localhost:4317");
        let exporter_off = TelemetrySettings::resolve(
            &TelemetryFlags {
                backend: Some(Backend::Otlp),
                ..TelemetryFlags::default()
            },
            &env_of(&[("OTEL_TRACES_EXPORTER", "none")]),
        );
        assert!(!exporter_off.sends_remotely());
    }

    #[test]
    fn an_endpoint_without_a_scheme_serves_grpc_and_not_http() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env);
        assert_eq!(
            settings.otlp.traces_url(),
            "http://localhost:4318/v1/traces",
            "HTTP cannot use it"
        );
        assert_eq!(
            settings.otlp.logs_url(),
            "https://collector:4317",
            "gRPC can"
        );
        assert_eq!(settings.warnings.len(), 1, "{:?}", settings.warnings);
        assert!(settings.warnings[0].starts_with("$OTEL_EXPORTER_OTLP_ENDPOINT: "));
    }

    #[test]
    fn a_bad_environment_value_is_a_warning_that_names_the_variable_and_what_is_kept() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("EARLYEXIT_TELEMETRY_DEBUG", "maybe"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env);
        assert_eq!(
            settings.warnings,
            [
                "EARLYEXIT_TELEMETRY_DEBUG: expected true or false, found 'maybe'; the default false kept",
                "OTEL_EXPORTER_OTLP_TIMEOUT: expected a duration such as 30s, 1.5m or 250ms, found '-1'; the default 2s kept",
            ]
        );
        assert!(!settings.debug);
        assert_eq!(settings.otlp.timeout, Duration::from_secs(2));
    }

    #[test]
    fn api_key_env_names_the_variable_that_holds_the_key_unless_a_key_is_given() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("EARLYEXIT_TELEMETRY_HTTP_API_KEY_ENV", "TEAM_KEY"),
            ("TEAM_KEY", "from-team-key"),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env);
        assert_eq!(
            settings.http.api_key.as_ref().map(Secret::expose),
            Some("from-team-key")
        );
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("EARLYEXIT_TELEMETRY_HTTP_API_KEY_ENV", "TEAM_KEY"),
            ("TEAM_KEY", "from-team-key"),
            ("EARLYEXIT_TELEMETRY_API_KEY", "given"),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env);
        assert_eq!(
            settings.http.api_key.as_ref().map(Secret::expose),
            Some("given")
        );
    }
}
