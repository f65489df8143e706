//! Every telemetry choice as a type. One spelling set serves the config file, the
//! environment and the flags: clap's `ValueEnum` names them, and `FromStr`/`Display` (and the
//! config's [`Value`], and serde's `Serialize`) are derived from it by `choice!`, so a new variant needs one line.

use std::fmt;

use super::value::{InvalidValue, Value};

/// `FromStr`, `Display` and [`Value`] for a `clap::ValueEnum`, all from its clap names.
macro_rules! choice {
    ($($choice:ty),+ $(,)?) => {$(
        impl std::str::FromStr for $choice {
            type Err = InvalidValue;

            fn from_str(text: &str) -> Result<Self, InvalidValue> {
                <Self as clap::ValueEnum>::from_str(text, true)
                    .map_err(|_| InvalidValue::new(one_of::<Self>(), text))
            }
        }

        impl fmt::Display for $choice {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let value = clap::ValueEnum::to_possible_value(self).expect("no variant is skipped");
                f.write_str(value.get_name())
            }
        }

        impl serde::Serialize for $choice {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl Value for $choice {
            fn parse(text: &str) -> Result<Self, InvalidValue> {
                text.parse()
            }

            fn show(&self) -> String {
                self.to_string()
            }
        }
    )+};
}

choice!(
    ExitCodes,
    Backend,
    AuthHeader,
    Remote,
    OtlpProtocol,
    Compression,
    Detail,
    MatchRecords
);

/// How much of a run a sink keeps (`TELEMETRY_BACKENDS.md`'s "Anonymization Levels").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Detail {
    /// The command hash, pattern, exit codes, timings and counts; no arguments, paths or output.
    Minimal,
    /// Also the command line, the working directory and the matched lines, scrubbed.
    Full,
}

/// How a run's exit code is chosen (README, "Exit codes"). It maps the run's outcome to a
/// number and never changes the outcome itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExitCodes {
    /// 0 only when the command succeeded and no error pattern matched (or `-s` ended the
    /// run); 1 when PATTERN or `-e` matched; the command's own code when it failed (128 + n
    /// when signal n ended it). The default, in CI or not. `ci` is its former name.
    #[default]
    #[value(alias = "ci")]
    Status,
    /// grep's: 0 when PATTERN (or `-s`) matched, 1 when nothing did or `-e` matched, for
    /// scripts that ask "did the pattern appear?".
    Grep,
}

/// `exit_codes` in the file or the environment; empty means not chosen (the default).
impl Value for Option<ExitCodes> {
    fn parse(text: &str) -> Result<Option<ExitCodes>, InvalidValue> {
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some)
    }

    fn show(&self) -> String {
        self.map(|mode| mode.to_string()).unwrap_or_default()
    }
}

/// "sqlite, file or none": the names a choice accepts, for its error message.
fn one_of<T: clap::ValueEnum>() -> String {
    let names: Vec<String> = T::value_variants()
        .iter()
        .filter_map(|variant| variant.to_possible_value())
        .map(|value| value.get_name().to_string())
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Where telemetry goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The local SQLite database (the default)
    Sqlite,
    /// JSON Lines in a local file
    File,
    /// The team's HTTP endpoint (the HTTP API of `TELEMETRY_BACKENDS.md`)
    Http,
    /// SQLite, plus the remote (HTTP or OTLP)
    Hybrid,
    /// An OpenTelemetry Collector (or any OTLP endpoint)
    Otlp,
    /// Record nothing
    None,
}

impl Backend {
    /// Keeps runs on this machine alone: what a run may fall back to when it must not send.
    pub fn is_local(self) -> bool {
        match self {
            Backend::Sqlite | Backend::File => true,
            Backend::Http | Backend::Hybrid | Backend::Otlp | Backend::None => false,
        }
    }

    /// Its local copy of a run, when it keeps one, is the SQLite database (the file
    /// backend's is JSON Lines).
    pub fn keeps_database(self) -> bool {
        match self {
            Backend::Sqlite | Backend::Hybrid => true,
            Backend::File | Backend::Http | Backend::Otlp | Backend::None => false,
        }
    }
}

/// How the API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthHeader {
    /// Authorization: Bearer KEY
    #[value(alias = "authorization")]
    Bearer,
    /// X-API-Key: KEY
    #[value(name = "x-api-key", alias = "api-key", alias = "api_key")]
    ApiKey,
}

impl AuthHeader {
    /// The header's name and value for this key.
    pub fn header(self, key: &str) -> (&'static str, String) {
        match self {
            AuthHeader::Bearer => ("Authorization", format!("Bearer {key}")),
            AuthHeader::ApiKey => ("X-API-Key", key.to_string()),
        }
    }
}

/// A remote destination: where hybrid mode and `--telemetry-remote` send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Remote {
    /// The team's HTTP endpoint
    Http,
    /// An OpenTelemetry Collector
    Otlp,
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OtlpProtocol {
    Grpc,
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    #[value(name = "http/json")]
    HttpJson,
}

/// Compression of rotated JSON Lines files and of OTLP exports. An empty value (`compression:`
/// in YAML) means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    #[value(alias = "")]
    None,
    Gzip,
}

/// How an OpenTelemetry Collector is told of each match (`telemetry.live.match_records`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MatchRecords {
    /// Span events on the run's span, sent when the run ends (the views of earlier releases)
    Events,
    /// Log records tied to the span, sent while the command runs (OpenTelemetry's direction)
    Logs,
    /// Both (the default)
    Both,
}

impl MatchRecords {
    /// True when each match is sent as a log record while the command runs.
    pub fn as_logs(self) -> bool {
        self != MatchRecords::Events
    }

    /// True when the span sent to a collector keeps its match events.
    pub fn as_span_events(self) -> bool {
        self != MatchRecords::Logs
    }
}

/// How a run's remote delivery waits. `TELEMETRY_BACKENDS.md` spells the choice as two
/// booleans, `http.async` and `http.fire_and_forget`; both are read into this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendWait {
    /// Deliver before earlyexit exits, within `http.timeout` (the default).
    Wait,
    /// Commit the run to the outbox and exit at once; one background sender delivers.
    Async,
    /// The same as `Async`, in the CI spelling of the design document.
    FireAndForget,
}

impl SendWait {
    /// True when the run hands delivery to the background sender.
    pub fn in_background(self) -> bool {
        self != SendWait::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_reads_back_what_it_shows() {
        for backend in <Backend as clap::ValueEnum>::value_variants() {
            assert_eq!(backend.to_string().parse::<Backend>().unwrap(), *backend);
        }
        assert_eq!("HTTP/PROTOBUF".parse(), Ok(OtlpProtocol::HttpProtobuf));
        assert_eq!("api_key".parse(), Ok(AuthHeader::ApiKey));
        assert_eq!(AuthHeader::ApiKey.to_string(), "x-api-key");
        assert_eq!("".parse(), Ok(Compression::None));
        assert_eq!(Detail::Minimal.to_string(), "minimal");
    }

    #[test]
    fn a_wrong_choice_lists_the_right_ones() {
        assert_eq!(
            "carrier-pigeon".parse::<Backend>().unwrap_err().to_string(),
            "expected sqlite, file, http, hybrid, otlp or none, found 'carrier-pigeon'"
        );
    }
}
