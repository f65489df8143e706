//! The config keys: one line each, naming the key and the type of its value. The file, the
//! environment (`telemetry.sqlite.path` → `EARLYEXIT_TELEMETRY_SQLITE_PATH`, plus the
//! standard `OTEL_EXPORTER_OTLP_*` names) and `telemetry status` all go through this table.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::duration::{format_duration, parse_duration};
use crate::urls::percent_decode;

use super::choices::{
    AuthHeader, Backend, Compression, Detail, ExitCodes, MatchRecords, OtlpProtocol, Remote,
    SendWait,
};
use super::endpoint::{OtlpEndpoint, Url};
pub use super::value::{InvalidValue, Parse, Value};
use super::{Secret, TelemetrySettings};

impl Parse for bool {
    fn from_text(text: &str) -> Result<bool, InvalidValue> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(InvalidValue::new("true or false", text)),
        }
    }
}

impl Parse for u32 {
    fn from_text(text: &str) -> Result<u32, InvalidValue> {
        text.parse()
            .map_err(|_| InvalidValue::new("a whole number", text))
    }
}

impl Parse for NonZeroUsize {
    fn from_text(text: &str) -> Result<NonZeroUsize, InvalidValue> {
        text.parse()
            .map_err(|_| InvalidValue::new("a positive whole number", text))
    }
}

/// Megabytes of a file: a positive number.
impl Parse for f64 {
    fn from_text(text: &str) -> Result<f64, InvalidValue> {
        text.parse::<f64>()
            .ok()
            .filter(|number| number.is_finite() && *number > 0.0)
            .ok_or_else(|| InvalidValue::new("a positive number", text))
    }
}

impl Value for Duration {
    fn parse(text: &str) -> Result<Duration, InvalidValue> {
        parse_duration(text)
            .map_err(|_| InvalidValue::new("a duration such as 30s, 1.5m or 250ms", text))
    }

    fn show(&self) -> String {
        format_duration(*self)
    }
}

/// A path that must be given.
impl Value for PathBuf {
    fn parse(text: &str) -> Result<PathBuf, InvalidValue> {
        if text.is_empty() {
            return Err(InvalidValue::new("a path", text));
        }
        Ok(PathBuf::from(text))
    }

    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// An optional path: empty means none.
impl Value for Option<PathBuf> {
    fn parse(text: &str) -> Result<Option<PathBuf>, InvalidValue> {
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }

    fn show(&self) -> String {
        self.as_ref()
            .map(|path| path.display().to_string())
            .unwrap_or_default()
    }
}

/// An optional name (of an environment variable): empty means none.
impl Value for Option<String> {
    fn parse(text: &str) -> Result<Option<String>, InvalidValue> {
        Ok((!text.is_empty()).then(|| text.to_string()))
    }

    fn show(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

impl Value for Option<Secret> {
    fn parse(text: &str) -> Result<Option<Secret>, InvalidValue> {
        Ok((!text.is_empty()).then(|| Secret::new(text.to_string())))
    }

    fn show(&self) -> String {
        if self.is_some() { "[set]" } else { "" }.to_string()
    }
}

/// A signal's own setting: unset (empty) means the generic one.
macro_rules! optional {
    ($($type:ty),+) => {$(
        impl Value for Option<$type> {
            fn parse(text: &str) -> Result<Option<$type>, InvalidValue> {
                if text.trim().is_empty() {
                    return Ok(None);
                }
                <$type as Value>::parse(text).map(Some)
            }

            fn show(&self) -> String {
                self.as_ref().map(Value::show).unwrap_or_default()
            }
        }
    )+};
}

optional!(
    OtlpProtocol,
    Compression,
    Duration,
    bool,
    Vec<(String, Secret)>
);

/// `k1=v1,k2=v2` with percent-encoded values, as in `OTEL_EXPORTER_OTLP_HEADERS`; the values
/// may be credentials.
impl Value for Vec<(String, Secret)> {
    fn parse(text: &str) -> Result<Vec<(String, Secret)>, InvalidValue> {
        text.split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) => Ok((
                    name.trim().to_string(),
                    Secret::new(percent_decode(value.trim())),
                )),
                // The entry is not shown: a header's value is often a credential, and one
                // written without its name is all value.
                None => Err(InvalidValue::new(
                    "name=value pairs separated by commas",
                    "[REDACTED]",
                )),
            })
            .collect()
    }

    fn show(&self) -> String {
        let names: Vec<String> = self
            .iter()
            .map(|(name, _)| format!("{name}=[REDACTED]"))
            .collect();
        names.join(",")
    }
}

/// `hybrid.local_primary`, `TELEMETRY_BACKENDS.md`'s "local is the source of truth": always so, since the
/// local database is written first and the outbox in it keeps what the remote has not taken.
/// `false` would promise what earlyexit does not do, so it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalPrimary;

impl Value for LocalPrimary {
    fn parse(text: &str) -> Result<LocalPrimary, InvalidValue> {
        match bool::from_text(text) {
            Ok(true) => Ok(LocalPrimary),
            _ => Err(InvalidValue::new(
                "true (the local database is always the source of truth)",
                text,
            )),
        }
    }

    fn show(&self) -> String {
        "true".into()
    }
}

type Apply = fn(&mut TelemetrySettings, &str) -> Result<(), InvalidValue>;
type Show = fn(&TelemetrySettings) -> String;

/// One setting: its name in the file, its parser and its display.
pub struct Key {
    pub name: &'static str,
    pub apply: Apply,
    pub show: Show,
}

/// `key!("telemetry.sqlite.path", sqlite.path: PathBuf)`: the key, the field it sets and the
/// field's type, whose [`Value`] parses and shows it.
macro_rules! key {
    ($name:literal, $($field:ident).+ : $type:ty) => {
        Key {
            name: $name,
            apply: |settings, text| {
                settings.$($field).+ = <$type as Value>::parse(text)?;
                Ok(())
            },
            show: |settings| <$type as Value>::show(&settings.$($field).+),
        }
    };
    ($name:literal, $($field:ident).+ : $type:ty, at most $max:expr) => {
        Key {
            name: $name,
            apply: |settings, text| {
                let value = <$type as Value>::parse(text)?;
                let max: $type = $max;
                if value > max {
                    return Err(InvalidValue::new(format!("at most {}", max.show()), text));
                }
                settings.$($field).+ = value;
                Ok(())
            },
            show: |settings| <$type as Value>::show(&settings.$($field).+),
        }
    };
}

/// One of the two booleans that choose [`SendWait`]: `true` chooses its mode, `false` undoes it.
const fn send_wait_key(name: &'static str, wait: SendWait) -> Key {
    let (apply, show): (Apply, Show) = match wait {
        SendWait::Async => (
            |settings, text| {
                settings.http.send_wait = chosen(settings.http.send_wait, SendWait::Async, text)?;
                Ok(())
            },
            |settings| (settings.http.send_wait == SendWait::Async).show(),
        ),
        _ => (
            |settings, text| {
                let wait = SendWait::FireAndForget;
                settings.http.send_wait = chosen(settings.http.send_wait, wait, text)?;
                Ok(())
            },
            |settings| (settings.http.send_wait == SendWait::FireAndForget).show(),
        ),
    };
    Key { name, apply, show }
}

/// `current` after a boolean key for `wait` said `text`.
fn chosen(current: SendWait, wait: SendWait, text: &str) -> Result<SendWait, InvalidValue> {
    Ok(match bool::parse(text)? {
        true => wait,
        false if current == wait => SendWait::Wait,
        false => current,
    })
}

/// The upper bounds. Past them a value is a typo, or it would overflow a deadline, a date or
/// an allocation: 100 years of runs, a terabyte per JSON Lines file, a batch that still fits
/// one request, an hour for any network step.
const DAYS_KEPT: u32 = 36_500;
const ROTATE_MB: f64 = 1_000_000.0;
const BATCH: NonZeroUsize = NonZeroUsize::MIN.saturating_add(9_999);
const NETWORK_WAIT: Duration = Duration::from_secs(3600);
const RETRIES: u32 = 100;
/// More live records a second than a person or a collector's view can follow.
const RECORDS_PER_SECOND: u32 = 10_000;

#[rustfmt::skip]
pub const KEYS: &[Key] = &[
    key!("telemetry.enabled", enabled: bool),
    key!("telemetry.backend", backend: Backend),
    key!("telemetry.sqlite.path", sqlite.path: PathBuf),
    key!("telemetry.sqlite.wal_mode", sqlite.wal_mode: bool),
    key!("telemetry.sqlite.retention_days", sqlite.retention_days: u32, at most DAYS_KEPT),
    key!("telemetry.file.path", file.path: PathBuf),
    key!("telemetry.file.rotate_size_mb", file.rotate_size_mb: f64, at most ROTATE_MB),
    key!("telemetry.file.compression", file.compression: Compression),
    key!("telemetry.http.endpoint", http.endpoint: Option<Url>),
    key!("telemetry.http.api_key", http.api_key: Option<Secret>),
    key!("telemetry.http.api_key_env", http.api_key_env: Option<String>),
    key!("telemetry.http.auth_header", http.auth_header: AuthHeader),
    key!("telemetry.http.batch_size", http.batch_size: NonZeroUsize, at most BATCH),
    key!("telemetry.http.flush_interval", http.flush_interval: Duration, at most NETWORK_WAIT),
    key!("telemetry.http.timeout", http.timeout: Duration, at most NETWORK_WAIT),
    key!("telemetry.http.retry_attempts", http.retry_attempts: u32, at most RETRIES),
    send_wait_key("telemetry.http.async", SendWait::Async),
    send_wait_key("telemetry.http.fire_and_forget", SendWait::FireAndForget),
    key!("telemetry.http.opt_in", http.opt_in: bool),
    key!("telemetry.http.ca_file", http.trust.ca_file: Option<PathBuf>),
    key!("telemetry.http.client_cert", http.trust.client_cert: Option<PathBuf>),
    key!("telemetry.http.client_key", http.trust.client_key: Option<PathBuf>),
    key!("telemetry.hybrid.local", hybrid.local: bool),
    key!("telemetry.hybrid.remote", hybrid.remote: bool),
    key!("telemetry.hybrid.local_primary", hybrid.local_primary: LocalPrimary),
    key!("telemetry.hybrid.remote_backend", hybrid.remote_backend: Remote),
    key!("telemetry.otlp.endpoint", otlp.endpoint: Option<OtlpEndpoint>),
    key!("telemetry.otlp.protocol", otlp.protocol: OtlpProtocol),
    key!("telemetry.otlp.headers", otlp.headers: Vec<(String, Secret)>),
    key!("telemetry.otlp.timeout", otlp.timeout: Duration, at most NETWORK_WAIT),
    key!("telemetry.otlp.compression", otlp.compression: Compression),
    key!("telemetry.otlp.certificate", otlp.trust.ca_file: Option<PathBuf>),
    key!("telemetry.otlp.client_certificate", otlp.trust.client_cert: Option<PathBuf>),
    key!("telemetry.otlp.client_key", otlp.trust.client_key: Option<PathBuf>),
    key!("telemetry.otlp.insecure", otlp.insecure: bool),
    key!("telemetry.otlp.traces_endpoint", otlp.traces.endpoint: Option<OtlpEndpoint>),
    key!("telemetry.otlp.traces_protocol", otlp.traces.protocol: Option<OtlpProtocol>),
    key!("telemetry.otlp.traces_headers", otlp.traces.headers: Option<Vec<(String, Secret)>>),
    key!("telemetry.otlp.traces_timeout", otlp.traces.timeout: Option<Duration>, at most Some(NETWORK_WAIT)),
    key!("telemetry.otlp.traces_compression", otlp.traces.compression: Option<Compression>),
    key!("telemetry.otlp.traces_certificate", otlp.traces.ca_file: Option<PathBuf>),
    key!("telemetry.otlp.traces_client_certificate", otlp.traces.client_cert: Option<PathBuf>),
    key!("telemetry.otlp.traces_client_key", otlp.traces.client_key: Option<PathBuf>),
    key!("telemetry.otlp.traces_insecure", otlp.traces.insecure: Option<bool>),
    key!("telemetry.otlp.logs_endpoint", otlp.logs.endpoint: Option<OtlpEndpoint>),
    key!("telemetry.otlp.logs_protocol", otlp.logs.protocol: Option<OtlpProtocol>),
    key!("telemetry.otlp.logs_headers", otlp.logs.headers: Option<Vec<(String, Secret)>>),
    key!("telemetry.otlp.logs_timeout", otlp.logs.timeout: Option<Duration>, at most Some(NETWORK_WAIT)),
    key!("telemetry.otlp.logs_compression", otlp.logs.compression: Option<Compression>),
    key!("telemetry.otlp.logs_certificate", otlp.logs.ca_file: Option<PathBuf>),
    key!("telemetry.otlp.logs_client_certificate", otlp.logs.client_cert: Option<PathBuf>),
    key!("telemetry.otlp.logs_client_key", otlp.logs.client_key: Option<PathBuf>),
    key!("telemetry.otlp.logs_insecure", otlp.logs.insecure: Option<bool>),
    key!("telemetry.live.enabled", live.enabled: bool),
    key!("telemetry.live.match_records", live.match_records: MatchRecords),
    key!("telemetry.live.max_records_per_second", live.max_records_per_second: u32, at most RECORDS_PER_SECOND),
    key!("telemetry.remote_detail", remote_detail: Detail),
    key!("telemetry.ci_hint", ci_hint: bool),
    key!("telemetry.trace_url", trace_url: Option<String>),
    key!("telemetry.keep_credentials", keep_credentials: bool),
    key!("exit_codes", exit_codes: Option<ExitCodes>),
    key!("telemetry.anonymize", anonymize: bool),
    key!("telemetry.scrub_pii", scrub_pii: bool),
    key!("telemetry.debug", debug: bool),
];

/// The key of this name.
pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

/// The environment variable that sets a key: `telemetry.sqlite.path` →
/// `EARLYEXIT_TELEMETRY_SQLITE_PATH`.
pub fn environment_variable(key: &str) -> String {
    format!("EARLYEXIT_{}", key.to_ascii_uppercase().replace('.', "_"))
}

/// Other names for keys, which win over the derived ones: `TELEMETRY_BACKENDS.md`'s shorter
/// names and the standard OpenTelemetry variables (`OTEL_EXPORTER_OTLP_` + suffix, then each
/// signal's `OTEL_EXPORTER_OTLP_TRACES_` and `…_LOGS_` + suffix).
pub fn environment_aliases() -> impl Iterator<Item = (String, &'static Key)> {
    const NAMED: [(&str, &str); 2] = [
        ("EARLYEXIT_TELEMETRY_ENDPOINT", "telemetry.http.endpoint"),
        ("EARLYEXIT_TELEMETRY_API_KEY", "telemetry.http.api_key"),
    ];
    const OTLP: [(&str, &str); 9] = [
        ("ENDPOINT", "endpoint"),
        ("PROTOCOL", "protocol"),
        ("HEADERS", "headers"),
        ("TIMEOUT", "timeout"),
        ("COMPRESSION", "compression"),
        ("CERTIFICATE", "certificate"),
        ("CLIENT_CERTIFICATE", "client_certificate"),
        ("CLIENT_KEY", "client_key"),
        ("INSECURE", "insecure"),
    ];
    let named = NAMED
        .into_iter()
        .map(|(variable, name)| (variable.to_string(), name.to_string()));
    // The generic variables first: each signal's own, read after them, win.
    let otlp = [
        ("OTEL_EXPORTER_OTLP_", ""),
        ("OTEL_EXPORTER_OTLP_TRACES_", "traces_"),
        ("OTEL_EXPORTER_OTLP_LOGS_", "logs_"),
    ]
    .into_iter()
    .flat_map(|(prefix, signal)| {
        OTLP.into_iter().map(move |(suffix, name)| {
            (
                format!("{prefix}{suffix}"),
                format!("telemetry.otlp.{signal}{name}"),
            )
        })
    });
    named
        .chain(otlp)
        .filter_map(|(variable, name)| key(&name).map(|key| (variable, key)))
}

/// The OpenTelemetry variables give timeouts in milliseconds.
pub fn from_standard_units(variable: &str, value: String) -> String {
    if variable.starts_with("OTEL_")
        && variable.ends_with("_TIMEOUT")
        && value.chars().all(|c| c.is_ascii_digit())
    {
        format!("{value}ms")
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_follow_the_key_names() {
        assert_eq!(
            environment_variable("telemetry.sqlite.path"),
            "EARLYEXIT_TELEMETRY_SQLITE_PATH"
        );
        let aliases: Vec<(String, &str)> = environment_aliases()
            .map(|(variable, key)| (variable, key.name))
            .collect();
        assert!(aliases.contains(&(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into(),
            "telemetry.otlp.traces_endpoint"
        )));
        assert!(aliases.contains(&(
            "OTEL_EXPORTER_OTLP_CLIENT_KEY".into(),
            "telemetry.otlp.client_key"
        )));
        assert!(aliases.contains(&(
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT".into(),
            "telemetry.otlp.logs_endpoint"
        )));
        assert_eq!(aliases.len(), 29, "every alias names a key");
    }

    #[test]
    fn values_parse_as_their_types() {
        assert_eq!(
            bool::parse("maybe").unwrap_err().to_string(),
            "expected true or false, found 'maybe'"
        );
        assert!(NonZeroUsize::parse("0").is_err());
        assert!(f64::parse("-1").is_err());
        assert!(<Option<Url>>::parse("ftp://x").is_err());
        assert!(LocalPrimary::parse("false").is_err());
        let mut settings = TelemetrySettings::defaults(std::path::Path::new("/home/u"));
        let retention = key("telemetry.sqlite.retention_days").unwrap();
        assert!((retention.apply)(&mut settings, "36500").is_ok());
        assert_eq!(
            (retention.apply)(&mut settings, "36501")
                .unwrap_err()
                .to_string(),
            "expected at most 36500, found '36501'"
        );
        let timeout = key("telemetry.http.timeout").unwrap();
        assert!((timeout.apply)(&mut settings, "2h").is_err());
        let garbage = <Vec<(String, Secret)>>::parse("x=1,Bearer s3cret").unwrap_err();
        assert!(!garbage.to_string().contains("s3cret"), "{garbage}");
        let url = <Option<Url>>::parse("ftp://ci:s3cret@host/x").unwrap_err();
        assert!(!url.to_string().contains("s3cret"), "{url}");
        let headers = <Vec<(String, Secret)>>::parse("api-key=a%20b, x-team=qa").unwrap();
        assert_eq!(headers[0].1.expose(), "a b");
        assert_eq!(headers.show(), "api-key=[REDACTED],x-team=[REDACTED]");
    }
}

/// Every key takes any text: a value it refuses is an error, never a panic, and a value it
/// takes is one the rest of the program can show and use.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::{key, KEYS};
    use crate::config::TelemetrySettings;
    use crate::duration::MAX_DURATION;

    proptest! {
        #[test]
        fn every_setting_takes_any_text(input in crate::test_inputs::typed_text(), index in 0..KEYS.len()) {
            let mut settings = TelemetrySettings::defaults(std::path::Path::new("/home/u"));
            let chosen = &KEYS[index];
            if (chosen.apply)(&mut settings, &input).is_ok() {
                (chosen.show)(&settings);
                settings.describe();
                settings.http.timeout.checked_add(MAX_DURATION).expect("a timeout is bounded");
            }
            prop_assert!(key(chosen.name).is_some());
        }
    }
}
