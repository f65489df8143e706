//! Telemetry settings: defaults < config file < `EARLYEXIT_*` environment < flags, with a record
//! of where each value in force came from (shown by `earlyexit telemetry status`).
//!
//! Every setting is one row of `KEYS`: its dotted name in the file, the environment variable
//! derived from that name (`telemetry.sqlite.path` → `EARLYEXIT_TELEMETRY_SQLITE_PATH`), how to
//! parse it and how to show it. File and environment values go through the same parser.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::duration::{format_duration, parse_duration};
use crate::telemetry::privacy::Detail;
use crate::telemetry::remote::redact_url;
use crate::telemetry::tls::Trust;

use super::file::{self, FileError};

/// Where telemetry goes. Its spellings are clap's (`sqlite`, `file`, `http`, `hybrid`,
/// `otlp`, `none`), for the flag, the file and the environment alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The local SQLite database (the default)
    Sqlite,
    /// JSON Lines in a local file
    File,
    /// The team's HTTP endpoint (the seed's API)
    Http,
    /// SQLite, plus the remote (HTTP or OTLP)
    Hybrid,
    /// An OpenTelemetry Collector (or any OTLP endpoint)
    Otlp,
    /// Record nothing
    None,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::File => "file",
            Backend::Http => "http",
            Backend::Hybrid => "hybrid",
            Backend::Otlp => "otlp",
            Backend::None => "none",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(text: &str) -> Result<Backend, String> {
        <Backend as clap::ValueEnum>::from_str(text, false).map_err(|_| {
            format!("unknown backend '{text}' (expected sqlite, file, http, hybrid, otlp or none)")
        })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that must never be shown: its `Debug` and `Display` say only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// How the API key is sent. One spelling set for the config, the environment and
/// `--auth-header`.
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

impl std::str::FromStr for AuthHeader {
    type Err = String;

    fn from_str(text: &str) -> Result<AuthHeader, String> {
        <AuthHeader as clap::ValueEnum>::from_str(text, true)
            .map_err(|_| format!("expected bearer or x-api-key, found '{text}'"))
    }
}

impl fmt::Display for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = clap::ValueEnum::to_possible_value(self).expect("no variant is skipped");
        f.write_str(value.get_name())
    }
}

/// The seed's `http:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    pub endpoint: Option<String>,
    pub api_key: Option<Secret>,
    /// The environment variable that holds the key (`api_key_env`).
    pub api_key_env: Option<String>,
    pub auth_header: AuthHeader,
    /// Executions per request when a backlog is sent.
    pub batch_size: usize,
    /// How often the batch processor flushes while a run is still going.
    pub flush_interval: Duration,
    /// The whole delivery budget after the command has ended.
    pub timeout: Duration,
    pub retry_attempts: u32,
    /// Commit the run to the outbox and exit at once; one background sender delivers.
    pub asynchronous: bool,
    /// The seed's CI spelling of the same: identical to `asynchronous`.
    pub fire_and_forget: bool,
    /// The seed's "require explicit opt-in": ask once, on a terminal, before the first remote
    /// send; until the user agrees, remote sending is off (and a line says so).
    pub opt_in: bool,
    /// A private CA and a client certificate for an https endpoint.
    pub trust: Trust,
}

/// The seed's `hybrid:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridSettings {
    pub local: bool,
    pub remote: bool,
    pub local_primary: bool,
    /// Which remote hybrid mode (and `--telemetry-remote`) sends to.
    pub remote_backend: Remote,
}

/// A remote destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    Http,
    Otlp,
}

impl Remote {
    pub const ALL: [Remote; 2] = [Remote::Http, Remote::Otlp];

    pub fn as_str(self) -> &'static str {
        match self {
            Remote::Http => "http",
            Remote::Otlp => "otlp",
        }
    }
}

impl std::str::FromStr for Remote {
    type Err = String;

    fn from_str(text: &str) -> Result<Remote, String> {
        Remote::ALL
            .into_iter()
            .find(|remote| remote.as_str() == text)
            .ok_or_else(|| format!("expected http or otlp, found '{text}'"))
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

/// The `otlp:` section, overlaid by the standard `OTEL_EXPORTER_OTLP_*` variables.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// The base endpoint (like `OTEL_EXPORTER_OTLP_ENDPOINT`): `/v1/traces` is appended for
    /// HTTP/protobuf.
    pub endpoint: Option<String>,
    /// The traces endpoint, used as it is (like `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub traces_endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    /// Headers sent with every export; values may be credentials.
    pub headers: Vec<(String, Secret)>,
    pub timeout: Duration,
    pub gzip: bool,
    /// A private CA (`certificate`) and a client certificate and key (`client_certificate`,
    /// `client_key`) for https endpoints.
    pub trust: Trust,
    /// `OTEL_TRACES_EXPORTER=none`: nothing goes to a collector.
    pub disabled: bool,
}

impl OtlpSettings {
    /// The URL spans are sent to.
    pub fn traces_url(&self) -> String {
        if let Some(url) = &self.traces_endpoint {
            return url.clone();
        }
        match (self.protocol, &self.endpoint) {
            (OtlpProtocol::Grpc, Some(base)) => base.clone(),
            (OtlpProtocol::Grpc, None) => "http://localhost:4317".into(),
            (OtlpProtocol::HttpProtobuf, Some(base)) => {
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            (OtlpProtocol::HttpProtobuf, None) => "http://localhost:4318/v1/traces".into(),
        }
    }
}

/// `k1=v1,k2=v2` with percent-encoded values, as in `OTEL_EXPORTER_OTLP_HEADERS`.
fn parse_headers(text: &str) -> Result<Vec<(String, Secret)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                format!(
                    "expected name=value pairs separated by commas, found '{}'",
                    pair.split('=').next().unwrap_or("")
                )
            })?;
            Ok((
                name.trim().to_string(),
                Secret(percent_decode(value.trim())),
            ))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compression of rotated JSON Lines files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// Where the value of a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File { path: PathBuf, line: usize },
    Environment(String),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Environment(name) => write!(f, "${name}"),
            Origin::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqliteSettings {
    pub path: PathBuf,
    pub wal_mode: bool,
    pub retention_days: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileSettings {
    pub path: PathBuf,
    /// Rotate before the file would grow past this many megabytes (10^6 bytes).
    pub rotate_size_mb: f64,
    pub compression: Compression,
}

/// Every resolved telemetry choice.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    pub enabled: bool,
    pub backend: Backend,
    pub sqlite: SqliteSettings,
    pub file: FileSettings,
    /// Keep only the minimal detail in local sinks too.
    pub anonymize: bool,
    pub scrub_pii: bool,
    pub debug: bool,
    pub http: HttpSettings,
    pub hybrid: HybridSettings,
    pub otlp: OtlpSettings,
    /// Remote sinks send full (scrubbed) detail instead of the minimal set.
    pub remote_detail_full: bool,
    /// `--telemetry-remote`: this run also sends to the HTTP endpoint.
    pub remote_once: bool,
    /// Why remote sending is off although a remote is configured: `DO_NOT_TRACK`, or no
    /// consent yet where `http.opt_in` asks for it. Said in one line at the start of a run.
    pub remote_off: Option<RemoteOff>,
    /// In CI with a local backend, say once that the http backend exists.
    pub ci_hint: bool,
    /// Print what would be written instead of writing it.
    pub dry_run: bool,
    /// `OTEL_TRACES_EXPORTER=console`: also print each span on stderr.
    pub console: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Why the config file could not be read, when telemetry is off for that reason.
    pub unreadable_config: Option<String>,
    origins: Vec<(&'static str, Origin)>,
}

/// Why remote sending is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteOff {
    /// `DO_NOT_TRACK` is set (to anything but empty or 0).
    DoNotTrack,
    /// `http.opt_in: true` and the user has not agreed yet.
    NoConsent,
}

/// The telemetry options given on the command line.
#[derive(Debug, Clone, Default)]
pub struct TelemetryFlags {
    pub config: Option<PathBuf>,
    pub backend: Option<Backend>,
    pub no_telemetry: bool,
    pub dry_run: bool,
    pub remote: bool,
}

/// A setting that cannot be used; `Display` is the one line the user sees.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Value { origin: String, message: String },
}

type Apply = fn(&mut TelemetrySettings, &str) -> Result<(), String>;
type Show = fn(&TelemetrySettings) -> String;

/// One setting: its name in the file, its parser and its display.
struct Key {
    name: &'static str,
    apply: Apply,
    show: Show,
}

const KEYS: &[Key] = &[
    Key {
        name: "telemetry.enabled",
        apply: |s, v| set_bool(&mut s.enabled, v),
        show: |s| s.enabled.to_string(),
    },
    Key {
        name: "telemetry.backend",
        apply: |s, v| {
            s.backend = v.parse()?;
            Ok(())
        },
        show: |s| s.backend.as_str().into(),
    },
    Key {
        name: "telemetry.sqlite.path",
        apply: |s, v| set_path(&mut s.sqlite.path, v),
        show: |s| s.sqlite.path.display().to_string(),
    },
    Key {
        name: "telemetry.sqlite.wal_mode",
        apply: |s, v| set_bool(&mut s.sqlite.wal_mode, v),
        show: |s| s.sqlite.wal_mode.to_string(),
    },
    Key {
        name: "telemetry.sqlite.retention_days",
        apply: |s, v| {
            s.sqlite.retention_days = v
                .parse()
                .map_err(|_| format!("expected a whole number of days, found '{v}'"))?;
            Ok(())
        },
        show: |s| s.sqlite.retention_days.to_string(),
    },
    Key {
        name: "telemetry.file.path",
        apply: |s, v| set_path(&mut s.file.path, v),
        show: |s| s.file.path.display().to_string(),
    },
    Key {
        name: "telemetry.file.rotate_size_mb",
        apply: |s, v| {
            s.file.rotate_size_mb = v
                .parse::<f64>()
                .ok()
                .filter(|mb| mb.is_finite() && *mb > 0.0)
                .ok_or_else(|| format!("expected a positive number of megabytes, found '{v}'"))?;
            Ok(())
        },
        show: |s| s.file.rotate_size_mb.to_string(),
    },
    Key {
        name: "telemetry.file.compression",
        apply: |s, v| {
            s.file.compression = match v {
                "gzip" => Compression::Gzip,
                "none" | "" => Compression::None,
                other => {
                    return Err(format!(
                        "unknown compression '{other}' (expected gzip or none)"
                    ))
                }
            };
            Ok(())
        },
        show: |s| match s.file.compression {
            Compression::Gzip => "gzip".into(),
            Compression::None => "none".into(),
        },
    },
    Key {
        name: "telemetry.http.endpoint",
        apply: |s, v| {
            if !(v.starts_with("http://") || v.starts_with("https://")) {
                return Err(format!("expected an http:// or https:// URL, found '{v}'"));
            }
            s.http.endpoint = Some(v.to_string());
            Ok(())
        },
        show: |s| {
            s.http
                .endpoint
                .as_deref()
                .map(redact_url)
                .unwrap_or_default()
        },
    },
    Key {
        name: "telemetry.http.api_key",
        apply: |s, v| {
            s.http.api_key = (!v.is_empty()).then(|| Secret(v.to_string()));
            Ok(())
        },
        show: |s| {
            if s.http.api_key.is_some() {
                "[set]".into()
            } else {
                String::new()
            }
        },
    },
    Key {
        name: "telemetry.http.api_key_env",
        apply: |s, v| {
            s.http.api_key_env = (!v.is_empty()).then(|| v.to_string());
            Ok(())
        },
        show: |s| s.http.api_key_env.clone().unwrap_or_default(),
    },
    Key {
        name: "telemetry.http.auth_header",
        apply: |s, v| {
            s.http.auth_header = v.parse()?;
            Ok(())
        },
        show: |s| s.http.auth_header.to_string(),
    },
    Key {
        name: "telemetry.http.batch_size",
        apply: |s, v| {
            s.http.batch_size = v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("expected a positive whole number, found '{v}'"))?;
            Ok(())
        },
        show: |s| s.http.batch_size.to_string(),
    },
    Key {
        name: "telemetry.http.flush_interval",
        apply: |s, v| set_duration(&mut s.http.flush_interval, v),
        show: |s| format_duration(s.http.flush_interval),
    },
    Key {
        name: "telemetry.http.timeout",
        apply: |s, v| set_duration(&mut s.http.timeout, v),
        show: |s| format_duration(s.http.timeout),
    },
    Key {
        name: "telemetry.http.retry_attempts",
        apply: |s, v| {
            s.http.retry_attempts = v
                .parse()
                .map_err(|_| format!("expected a whole number, found '{v}'"))?;
            Ok(())
        },
        show: |s| s.http.retry_attempts.to_string(),
    },
    Key {
        name: "telemetry.http.async",
        apply: |s, v| set_bool(&mut s.http.asynchronous, v),
        show: |s| s.http.asynchronous.to_string(),
    },
    Key {
        name: "telemetry.http.fire_and_forget",
        apply: |s, v| set_bool(&mut s.http.fire_and_forget, v),
        show: |s| s.http.fire_and_forget.to_string(),
    },
    Key {
        name: "telemetry.http.opt_in",
        apply: |s, v| set_bool(&mut s.http.opt_in, v),
        show: |s| s.http.opt_in.to_string(),
    },
    Key {
        name: "telemetry.http.ca_file",
        apply: |s, v| set_file(&mut s.http.trust.ca_file, v),
        show: |s| show_file(&s.http.trust.ca_file),
    },
    Key {
        name: "telemetry.http.client_cert",
        apply: |s, v| set_file(&mut s.http.trust.client_cert, v),
        show: |s| show_file(&s.http.trust.client_cert),
    },
    Key {
        name: "telemetry.http.client_key",
        apply: |s, v| set_file(&mut s.http.trust.client_key, v),
        show: |s| show_file(&s.http.trust.client_key),
    },
    Key {
        name: "telemetry.hybrid.local",
        apply: |s, v| set_bool(&mut s.hybrid.local, v),
        show: |s| s.hybrid.local.to_string(),
    },
    Key {
        name: "telemetry.hybrid.remote",
        apply: |s, v| set_bool(&mut s.hybrid.remote, v),
        show: |s| s.hybrid.remote.to_string(),
    },
    Key {
        name: "telemetry.hybrid.local_primary",
        apply: |s, v| set_bool(&mut s.hybrid.local_primary, v),
        show: |s| s.hybrid.local_primary.to_string(),
    },
    Key {
        name: "telemetry.hybrid.remote_backend",
        apply: |s, v| {
            s.hybrid.remote_backend = v.parse()?;
            Ok(())
        },
        show: |s| s.hybrid.remote_backend.as_str().into(),
    },
    Key {
        name: "telemetry.otlp.endpoint",
        apply: |s, v| set_url(&mut s.otlp.endpoint, v),
        show: |s| {
            s.otlp
                .endpoint
                .as_deref()
                .map(redact_url)
                .unwrap_or_default()
        },
    },
    Key {
        name: "telemetry.otlp.traces_endpoint",
        apply: |s, v| set_url(&mut s.otlp.traces_endpoint, v),
        show: |s| {
            s.otlp
                .traces_endpoint
                .as_deref()
                .map(redact_url)
                .unwrap_or_default()
        },
    },
    Key {
        name: "telemetry.otlp.protocol",
        apply: |s, v| {
            s.otlp.protocol = match v {
                "grpc" => OtlpProtocol::Grpc,
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                _ => return Err(format!("expected grpc or http/protobuf, found '{v}'")),
            };
            Ok(())
        },
        show: |s| match s.otlp.protocol {
            OtlpProtocol::Grpc => "grpc".into(),
            OtlpProtocol::HttpProtobuf => "http/protobuf".into(),
        },
    },
    Key {
        name: "telemetry.otlp.headers",
        apply: |s, v| {
            s.otlp.headers = parse_headers(v)?;
            Ok(())
        },
        show: |s| {
            s.otlp
                .headers
                .iter()
                .map(|(name, _)| format!("{name}=[REDACTED]"))
                .collect::<Vec<_>>()
                .join(",")
        },
    },
    Key {
        name: "telemetry.otlp.timeout",
        apply: |s, v| set_duration(&mut s.otlp.timeout, v),
        show: |s| format_duration(s.otlp.timeout),
    },
    Key {
        name: "telemetry.otlp.compression",
        apply: |s, v| {
            s.otlp.gzip = match v {
                "gzip" => true,
                "none" | "" => false,
                _ => return Err(format!("expected gzip or none, found '{v}'")),
            };
            Ok(())
        },
        show: |s| {
            if s.otlp.gzip {
                "gzip".into()
            } else {
                "none".into()
            }
        },
    },
    Key {
        name: "telemetry.otlp.certificate",
        apply: |s, v| set_file(&mut s.otlp.trust.ca_file, v),
        show: |s| show_file(&s.otlp.trust.ca_file),
    },
    Key {
        name: "telemetry.otlp.client_certificate",
        apply: |s, v| set_file(&mut s.otlp.trust.client_cert, v),
        show: |s| show_file(&s.otlp.trust.client_cert),
    },
    Key {
        name: "telemetry.otlp.client_key",
        apply: |s, v| set_file(&mut s.otlp.trust.client_key, v),
        show: |s| show_file(&s.otlp.trust.client_key),
    },
    Key {
        name: "telemetry.remote_detail",
        apply: |s, v| {
            s.remote_detail_full = match v {
                "full" => true,
                "minimal" => false,
                _ => return Err(format!("expected minimal or full, found '{v}'")),
            };
            Ok(())
        },
        show: |s| {
            if s.remote_detail_full {
                "full".into()
            } else {
                "minimal".into()
            }
        },
    },
    Key {
        name: "telemetry.ci_hint",
        apply: |s, v| set_bool(&mut s.ci_hint, v),
        show: |s| s.ci_hint.to_string(),
    },
    Key {
        name: "telemetry.anonymize",
        apply: |s, v| set_bool(&mut s.anonymize, v),
        show: |s| s.anonymize.to_string(),
    },
    Key {
        name: "telemetry.scrub_pii",
        apply: |s, v| set_bool(&mut s.scrub_pii, v),
        show: |s| s.scrub_pii.to_string(),
    },
    Key {
        name: "telemetry.debug",
        apply: |s, v| set_bool(&mut s.debug, v),
        show: |s| s.debug.to_string(),
    },
];

fn set_bool(target: &mut bool, value: &str) -> Result<(), String> {
    *target =
        parse_bool(value).ok_or_else(|| format!("expected true or false, found '{value}'"))?;
    Ok(())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
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

fn set_duration(target: &mut Duration, value: &str) -> Result<(), String> {
    *target = parse_duration(value).map_err(|e| e.to_string())?;
    Ok(())
}

fn set_url(target: &mut Option<String>, value: &str) -> Result<(), String> {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(format!(
            "expected an http:// or https:// URL, found '{value}'"
        ));
    }
    *target = Some(value.to_string());
    Ok(())
}

/// An optional file: empty means none.
fn set_file(target: &mut Option<PathBuf>, value: &str) -> Result<(), String> {
    *target = (!value.is_empty()).then(|| PathBuf::from(value));
    Ok(())
}

fn show_file(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

fn set_path(target: &mut PathBuf, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("expected a path, found nothing".into());
    }
    *target = PathBuf::from(value);
    Ok(())
}

/// The environment variable that sets a key: `telemetry.sqlite.path` →
/// `EARLYEXIT_TELEMETRY_SQLITE_PATH`.
pub fn environment_variable(key: &str) -> String {
    format!("EARLYEXIT_{}", key.to_ascii_uppercase().replace('.', "_"))
}

/// Other names for keys, which win over the derived ones: the seed's shorter names, and the
/// standard OpenTelemetry variables a user of any other OpenTelemetry tool already sets (the
/// traces-specific ones after the generic ones, so that they win).
const ENVIRONMENT_ALIASES: &[(&str, &str)] = &[
    ("EARLYEXIT_TELEMETRY_ENDPOINT", "telemetry.http.endpoint"),
    ("EARLYEXIT_TELEMETRY_API_KEY", "telemetry.http.api_key"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.otlp.endpoint"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "telemetry.otlp.protocol"),
    ("OTEL_EXPORTER_OTLP_HEADERS", "telemetry.otlp.headers"),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "telemetry.otlp.timeout"),
    (
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "telemetry.otlp.compression",
    ),
    (
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "telemetry.otlp.certificate",
    ),
    (
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        "telemetry.otlp.client_certificate",
    ),
    ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "telemetry.otlp.client_key"),
    (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "telemetry.otlp.traces_endpoint",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "telemetry.otlp.protocol",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "telemetry.otlp.headers",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "telemetry.otlp.timeout",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "telemetry.otlp.compression",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "telemetry.otlp.certificate",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        "telemetry.otlp.client_certificate",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
        "telemetry.otlp.client_key",
    ),
];

/// The OpenTelemetry variables give timeouts in milliseconds.
fn from_standard_units(variable: &str, value: String) -> String {
    if variable.starts_with("OTEL_")
        && variable.ends_with("_TIMEOUT")
        && value.chars().all(|c| c.is_ascii_digit())
    {
        format!("{value}ms")
    } else {
        value
    }
}

impl TelemetrySettings {
    /// Where this run sends remotely, if anywhere: the http or otlp backend, hybrid, or
    /// `--telemetry-remote` (both to `hybrid.remote_backend`), unless [`RemoteOff`] holds.
    pub fn remote(&self) -> Option<Remote> {
        self.configured_remote()
            .filter(|_| self.remote_off.is_none())
    }

    /// The remote the configuration asks for, whether or not it may send now.
    pub fn configured_remote(&self) -> Option<Remote> {
        let remote = match self.backend {
            Backend::Http => Some(Remote::Http),
            Backend::Otlp => Some(Remote::Otlp),
            Backend::Hybrid if self.hybrid.remote || self.remote_once => {
                Some(self.hybrid.remote_backend)
            }
            Backend::Sqlite | Backend::File if self.remote_once => Some(self.hybrid.remote_backend),
            _ => None,
        };
        remote.filter(|r| !(*r == Remote::Otlp && self.otlp.disabled))
    }

    /// What local sinks keep: full detail unless `anonymize`.
    pub fn local_detail(&self) -> Detail {
        if self.anonymize {
            Detail::Minimal
        } else {
            Detail::Full
        }
    }

    /// What remote sinks send: minimal detail unless `remote_detail: full`.
    pub fn remote_detail(&self) -> Detail {
        if self.remote_detail_full {
            Detail::Full
        } else {
            Detail::Minimal
        }
    }

    /// True when this run sends anywhere remote.
    pub fn sends_remotely(&self) -> bool {
        self.remote().is_some()
    }

    /// True when this run writes to a local sink.
    pub fn writes_locally(&self) -> bool {
        match self.backend {
            Backend::Sqlite | Backend::File => true,
            Backend::Hybrid => self.hybrid.local,
            Backend::Http | Backend::Otlp | Backend::None => false,
        }
    }

    fn defaults(home: &Path) -> TelemetrySettings {
        let dir = home.join(".earlyexit");
        TelemetrySettings {
            enabled: true,
            backend: Backend::Sqlite,
            sqlite: SqliteSettings {
                path: dir.join("telemetry.db"),
                wal_mode: true,
                retention_days: 90,
            },
            file: FileSettings {
                path: dir.join("telemetry.jsonl"),
                rotate_size_mb: 100.0,
                compression: Compression::None,
            },
            anonymize: false,
            scrub_pii: true,
            debug: false,
            http: HttpSettings {
                endpoint: None,
                api_key: None,
                api_key_env: None,
                auth_header: AuthHeader::Bearer,
                batch_size: 10,
                flush_interval: Duration::from_secs(5),
                timeout: Duration::from_secs(2),
                retry_attempts: 3,
                asynchronous: false,
                fire_and_forget: false,
                opt_in: false,
                trust: Trust::default(),
            },
            hybrid: HybridSettings {
                local: true,
                remote: true,
                local_primary: true,
                remote_backend: Remote::Http,
            },
            otlp: OtlpSettings {
                endpoint: None,
                traces_endpoint: None,
                protocol: OtlpProtocol::Grpc,
                headers: Vec::new(),
                timeout: Duration::from_secs(2),
                gzip: false,
                trust: Trust::default(),
                disabled: false,
            },
            remote_detail_full: false,
            remote_once: false,
            remote_off: None,
            ci_hint: true,
            dry_run: false,
            console: false,
            config_file: None,
            unreadable_config: None,
            origins: Vec::new(),
        }
    }

    /// Resolves the settings. `env` looks up an environment variable (a closure, so that tests
    /// need not touch the process environment).
    pub fn resolve(
        flags: &TelemetryFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TelemetrySettings, ConfigError> {
        // Without HOME (a cron job, a service), the password database names the home, as it
        // does for the shell; `/` is the last resort.
        let home = env("HOME")
            .filter(|home| !home.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir)
            .unwrap_or_else(|| PathBuf::from("/"));
        let expand = |value: &str| expand(value, &home, env);
        let mut settings = TelemetrySettings::defaults(&home);

        let (config_path, explicit) = match (&flags.config, env("EARLYEXIT_CONFIG")) {
            (Some(path), _) => (path.clone(), true),
            (None, Some(path)) if !path.is_empty() => {
                let path = expand(&path).map_err(|message| ConfigError::Value {
                    origin: "EARLYEXIT_CONFIG".into(),
                    message,
                })?;
                (PathBuf::from(path), true)
            }
            _ => (home.join(".earlyexit").join("config.yaml"), false),
        };
        match read_config(&config_path) {
            Ok(text) => {
                for entry in file::parse(&config_path, &text)? {
                    let file_error = |message: String| FileError {
                        path: config_path.clone(),
                        line: entry.line,
                        message: format!("{}: {message}", entry.key),
                    };
                    let key =
                        KEYS.iter()
                            .find(|k| k.name == entry.key)
                            .ok_or_else(|| FileError {
                                path: config_path.clone(),
                                line: entry.line,
                                message: format!("unknown key '{}'", entry.key),
                            })?;
                    (key.apply)(&mut settings, &expand(&entry.value).map_err(file_error)?)
                        .map_err(file_error)?;
                    settings.set_origin(
                        key.name,
                        Origin::File {
                            path: config_path.clone(),
                            line: entry.line,
                        },
                    );
                }
                settings.config_file = Some(config_path);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && !explicit => {}
            // A file named on purpose that is not there is a mistake to stop at; so is text
            // that is not UTF-8 (broken content, like invalid YAML).
            Err(source)
                if source.kind() == std::io::ErrorKind::NotFound
                    || source.kind() == std::io::ErrorKind::InvalidData =>
            {
                return Err(ConfigError::Read {
                    path: config_path,
                    source,
                })
            }
            // A home or a file that cannot be read is a fault of the machine, not of the run:
            // the command runs, with telemetry off and one line that says why.
            Err(source) => {
                settings.enabled = false;
                settings.unreadable_config = Some(format!(
                    "config file {}: {source}; telemetry is off for this run",
                    config_path.display()
                ));
            }
        }

        let variables = KEYS
            .iter()
            .map(|key| (environment_variable(key.name), key))
            .chain(ENVIRONMENT_ALIASES.iter().filter_map(|(variable, name)| {
                KEYS.iter()
                    .find(|k| k.name == *name)
                    .map(|key| (variable.to_string(), key))
            }));
        for (variable, key) in variables {
            if let Some(value) = env(&variable).map(|v| from_standard_units(&variable, v)) {
                let value_error = |message| ConfigError::Value {
                    origin: variable.clone(),
                    message,
                };
                (key.apply)(&mut settings, &expand(&value).map_err(value_error)?)
                    .map_err(value_error)?;
                settings.set_origin(key.name, Origin::Environment(variable));
            }
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
                settings.enabled = false;
                settings.set_origin("telemetry.enabled", Origin::Environment(variable.into()));
            }
        }
        if env("DO_NOT_TRACK").is_some_and(|value| says_yes(&value)) {
            settings.remote_off = Some(RemoteOff::DoNotTrack);
        }
        if let Some(exporters) = env("OTEL_TRACES_EXPORTER") {
            settings.apply_traces_exporters(&exporters);
        }

        if let Some(backend) = flags.backend {
            settings.backend = backend;
            settings.set_origin("telemetry.backend", Origin::Flag("--telemetry-backend"));
        }
        if flags.no_telemetry {
            settings.enabled = false;
            settings.set_origin("telemetry.enabled", Origin::Flag("--no-telemetry"));
        }
        if settings.http.api_key.is_none() {
            if let Some(variable) = &settings.http.api_key_env {
                settings.http.api_key = env(variable).filter(|v| !v.is_empty()).map(Secret);
            }
        }
        settings.dry_run = flags.dry_run;
        settings.remote_once = flags.remote;
        Ok(settings)
    }

    /// True when a run records anything at all.
    pub fn is_active(&self) -> bool {
        self.enabled && (self.backend != Backend::None || self.console)
    }

    /// `OTEL_TRACES_EXPORTER`, a comma-separated list as the SDKs read it: `otlp` sends to the
    /// collector (the backend becomes otlp, or hybrid's remote does, unless an earlyexit
    /// variable or the file chose the backend), `console` also prints each span on stderr,
    /// `none` sends nothing to a collector. Other exporters are not earlyexit's.
    fn apply_traces_exporters(&mut self, exporters: &str) {
        let origin = Origin::Environment("OTEL_TRACES_EXPORTER".into());
        for exporter in exporters.split(',').map(|e| e.trim().to_ascii_lowercase()) {
            match exporter.as_str() {
                "none" => self.otlp.disabled = true,
                "console" => self.console = true,
                "otlp" if self.origin_of("telemetry.backend") == Origin::Default => {
                    self.backend = Backend::Otlp;
                    self.set_origin("telemetry.backend", origin.clone());
                }
                "otlp" if self.backend == Backend::Hybrid => {
                    self.hybrid.remote_backend = Remote::Otlp;
                    self.set_origin("telemetry.hybrid.remote_backend", origin.clone());
                }
                _ => {}
            }
        }
    }

    fn origin_of(&self, key: &str) -> Origin {
        self.origins
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(Origin::Default, |(_, o)| o.clone())
    }

    fn set_origin(&mut self, key: &'static str, origin: Origin) {
        self.origins.retain(|(k, _)| *k != key);
        self.origins.push((key, origin));
    }

    /// Every setting with its value and where that value came from, in a stable order.
    pub fn describe(&self) -> Vec<(&'static str, String, Origin)> {
        KEYS.iter()
            .map(|key| (key.name, (key.show)(self), self.origin_of(key.name)))
            .collect()
    }
}

/// The largest config file read: a real one is a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The config file's text. It must be a regular file of at most [`MAX_CONFIG_BYTES`], opened
/// without blocking: a link to a FIFO would otherwise wait forever, one to `/dev/zero` would
/// grow without bound.
fn read_config(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let too_large = || std::io::Error::other("larger than 1 MiB");
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

/// Expands `${VAR}` and `${VAR:-default}` anywhere, and a leading `~`. Unlike a shell, an
/// unset variable without a default is an error that names it: an empty expansion turned
/// `${UNSET}/x/t.db` into a directory at the filesystem root. An unclosed `${` is an error too.
fn expand(
    value: &str,
    home: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(length) = rest[start + 2..].find('}') else {
            return Err(format!(
                "unclosed '${{' in '{value}' (write ${{NAME}} or ${{NAME:-default}})"
            ));
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
            (None, None) => {
                return Err(format!(
                    "${{{name}}} is not set (write ${{{name}:-default}} for a fallback)"
                ))
            }
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
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn environment_variables_follow_the_key_names() {
        assert_eq!(
            environment_variable("telemetry.backend"),
            "EARLYEXIT_TELEMETRY_BACKEND"
        );
        assert_eq!(
            environment_variable("telemetry.sqlite.path"),
            "EARLYEXIT_TELEMETRY_SQLITE_PATH"
        );
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
            expand("${MISSING}/x", home, &env).unwrap_err(),
            "${MISSING} is not set (write ${MISSING:-default} for a fallback)"
        );
        assert!(expand("a${unclosed", home, &env)
            .unwrap_err()
            .starts_with("unclosed '${'"));
    }

    #[test]
    fn flags_beat_environment_beats_defaults() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("EARLYEXIT_TELEMETRY_BACKEND", "file"),
        ]);
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env).unwrap();
        assert_eq!(settings.backend, Backend::File);
        let flags = TelemetryFlags {
            backend: Some(Backend::None),
            ..TelemetryFlags::default()
        };
        let settings = TelemetrySettings::resolve(&flags, &env).unwrap();
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
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env).unwrap();
        let otlp = &settings.otlp;
        assert_eq!(
            otlp.protocol,
            OtlpProtocol::HttpProtobuf,
            "the traces variable wins"
        );
        assert_eq!(otlp.traces_url(), "http://generic:4318/v1/traces");
        assert_eq!(
            otlp.timeout,
            Duration::from_millis(1500),
            "OTEL timeouts are milliseconds"
        );
        assert!(otlp.gzip);
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
        let settings = TelemetrySettings::resolve(&TelemetryFlags::default(), &env).unwrap();
        assert_eq!(settings.otlp.traces_url(), "http://traces:9999/custom");
        let defaults =
            TelemetrySettings::resolve(&TelemetryFlags::default(), &env_of(&[])).unwrap();
        assert_eq!(defaults.otlp.traces_url(), "http://localhost:4317");
        let exporter_off = TelemetrySettings::resolve(
            &TelemetryFlags {
                backend: Some(Backend::Otlp),
                ..TelemetryFlags::default()
            },
            &env_of(&[("OTEL_TRACES_EXPORTER", "none")]),
        )
        .unwrap();
        assert!(!exporter_off.sends_remotely());
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let env = env_of(&[
            ("HOME", "/nonexistent-home"),
            ("EARLYEXIT_TELEMETRY_DEBUG", "maybe"),
        ]);
        let message = TelemetrySettings::resolve(&TelemetryFlags::default(), &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "EARLYEXIT_TELEMETRY_DEBUG: expected true or false, found 'maybe'"
        );
    }
}
