//! Telemetry settings: defaults < config file < `EARLYEXIT_*` environment < flags, with a record
//! of where each value in force came from (shown by `earlyexit telemetry status`).
//!
//! [`choices`] holds every choice as a type, [`keys`] the one-line-per-key table that the
//! file, the environment and `telemetry status` share, and `resolve` the order in which they
//! apply. Nothing changes a [`TelemetrySettings`] once it is resolved.

pub mod choices;
mod endpoint;
pub mod keys;
mod otlp;
mod resolve;
mod sdk;
pub mod value;

use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use choices::{
    AuthHeader, Backend, Compression, Detail, ExitCodes, MatchRecords, OtlpProtocol, Remote,
    SendWait,
};
pub use endpoint::{OtlpEndpoint, Url};
use keys::{LocalPrimary, KEYS};
pub use otlp::{
    OtlpExport, OtlpSettings, Signal, SignalSettings, MAX_SPAN_EVENTS, UNLIMITED_EXPORT,
};
pub use resolve::{Declined, ValueProblem};

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

/// What a TLS client checks of the server's certificate. Every transport of a run checks
/// both; PostgreSQL's `sslmode` may ask for less (`store::postgres::target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerCheck {
    /// Encryption only: any certificate (libpq's `prefer` and `require`).
    Nothing,
    /// A chain to a trusted CA, whatever host it names (`verify-ca`).
    Chain,
    /// A chain to a trusted CA, for the host connected to.
    ChainAndName,
}

/// What a transport trusts and presents, as configured (the TLS that uses it is
/// `delivery::tls`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// A PEM file of CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// A PEM file with the client certificate (and its chain), for mTLS.
    pub client_cert: Option<PathBuf>,
    /// The PEM file of the client certificate's private key.
    pub client_key: Option<PathBuf>,
}

/// `TELEMETRY_BACKENDS.md`'s `http:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    pub endpoint: Option<Url>,
    pub api_key: Option<Secret>,
    /// The environment variable that holds the key (`api_key_env`).
    pub api_key_env: Option<String>,
    pub auth_header: AuthHeader,
    /// Executions per request when a backlog is sent.
    pub batch_size: NonZeroUsize,
    /// How often the batch processor flushes while a run is still going.
    pub flush_interval: Duration,
    /// The whole delivery budget after the command has ended.
    pub timeout: Duration,
    pub retry_attempts: u32,
    /// Whether a run waits for its delivery (`http.async`, `http.fire_and_forget`).
    pub send_wait: SendWait,
    /// `TELEMETRY_BACKENDS.md`'s "require explicit opt-in": ask once, on a terminal, before the first remote
    /// send; until the user agrees, remote sending is off (and a line says so).
    pub opt_in: bool,
    /// A private CA and a client certificate for an https endpoint.
    pub trust: Trust,
}

/// `TELEMETRY_BACKENDS.md`'s `hybrid:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridSettings {
    pub local: bool,
    pub remote: bool,
    /// Always so; the key is accepted for `TELEMETRY_BACKENDS.md`'s configs (see [`LocalPrimary`]).
    pub local_primary: LocalPrimary,
    /// Which remote hybrid mode (and `--telemetry-remote`) sends to.
    pub remote_backend: Remote,
}

/// The `live:` section: what a run sends while it runs (see `telemetry::live`).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSettings {
    /// A running row and, for a collector, a start record and log records of the matches.
    pub enabled: bool,
    pub match_records: MatchRecords,
    /// At most this many match log records a second, per run; the rest are counted.
    pub max_records_per_second: u32,
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
    pub live: LiveSettings,
    /// What remote sinks send: minimal unless `remote_detail: full` (scrubbed).
    pub remote_detail: Detail,
    /// `--telemetry-remote`: this run also sends to the HTTP endpoint.
    pub remote_once: bool,
    /// Why remote sending is off although a remote is configured: `DO_NOT_TRACK`, or no
    /// consent yet where `http.opt_in` asks for it. Said in one line at the start of a run.
    pub remote_off: Option<RemoteOff>,
    /// In CI with a local backend, say once that the http backend exists.
    pub ci_hint: bool,
    /// `telemetry.trace_url`: a trace's page in the team's tracing UI, `{trace_id}` standing
    /// for the id; the CI job summary links to it.
    pub trace_url: Option<String>,
    /// `exit_codes`: the exit code mode for every run of a pipeline or a machine; none means
    /// the default (`status`).
    pub exit_codes: Option<ExitCodes>,
    /// Let the command see earlyexit's own credentials (`keep_credentials`); by default they
    /// are removed from its environment.
    pub keep_credentials: bool,
    /// Print what would be written instead of writing it.
    pub dry_run: bool,
    /// `OTEL_TRACES_EXPORTER=console`: also print each span on stderr.
    pub console: bool,
    /// Hand the command a TRACEPARENT and read one from the environment (W3C trace context,
    /// unless `OTEL_PROPAGATORS` leaves it out).
    pub propagate_trace_context: bool,
    /// The most match events a span carries (`OTEL_SPAN_EVENT_COUNT_LIMIT`, at most
    /// [`MAX_SPAN_EVENTS`]).
    pub span_event_limit: usize,
    /// The resource attributes the user gave (`OTEL_RESOURCE_ATTRIBUTES`, decoded, and
    /// `OTEL_SERVICE_NAME` as `service.name`, which wins).
    pub resource: Vec<(String, String)>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Settings that could not be used, one line each (see [`TelemetrySettings::resolve`]):
    /// said at the start of a run, unless `-q`.
    pub warnings: Vec<String>,
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
            backend if backend.is_local() && self.remote_once => Some(self.hybrid.remote_backend),
            _ => None,
        };
        remote.filter(|r| !(*r == Remote::Otlp && self.otlp.traces.disabled))
    }

    /// What local sinks keep: full detail unless `anonymize`.
    pub fn local_detail(&self) -> Detail {
        if self.anonymize {
            Detail::Minimal
        } else {
            Detail::Full
        }
    }

    /// True when live records go to a collector: the remote is one, and its logs are not
    /// off (`OTEL_LOGS_EXPORTER=none`).
    pub fn sends_live_records(&self) -> bool {
        self.remote() == Some(Remote::Otlp) && !self.otlp.logs.disabled
    }

    /// True when this run sends anywhere remote.
    pub fn sends_remotely(&self) -> bool {
        self.remote().is_some()
    }

    /// True when this run writes to a local sink.
    pub fn writes_locally(&self) -> bool {
        match self.backend {
            Backend::Hybrid => self.hybrid.local,
            backend => backend.is_local(),
        }
    }

    pub(crate) fn defaults(home: &Path) -> TelemetrySettings {
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
                batch_size: NonZeroUsize::new(10).expect("not zero"),
                flush_interval: Duration::from_secs(5),
                timeout: Duration::from_secs(2),
                retry_attempts: 3,
                send_wait: SendWait::Wait,
                opt_in: false,
                trust: Trust::default(),
            },
            hybrid: HybridSettings {
                local: true,
                remote: true,
                local_primary: LocalPrimary,
                remote_backend: Remote::Http,
            },
            otlp: OtlpSettings {
                endpoint: None,
                protocol: OtlpProtocol::Grpc,
                headers: Vec::new(),
                timeout: Duration::from_secs(2),
                compression: Compression::None,
                trust: Trust::default(),
                insecure: false,
                traces: SignalSettings::default(),
                logs: SignalSettings::default(),
            },
            live: LiveSettings {
                enabled: true,
                match_records: MatchRecords::Both,
                max_records_per_second: 20,
            },
            remote_detail: Detail::Minimal,
            remote_once: false,
            remote_off: None,
            ci_hint: true,
            trace_url: None,
            keep_credentials: false,
            exit_codes: None,
            dry_run: false,
            console: false,
            config_file: None,
            warnings: Vec::new(),
            propagate_trace_context: true,
            span_event_limit: MAX_SPAN_EVENTS,
            resource: Vec::new(),
            origins: Vec::new(),
        }
    }

    /// The variables among `names` that hold earlyexit's own credentials, which the command
    /// must not see unless `keep_credentials` says so: `EARLYEXIT_*API_KEY*`, the variable
    /// that `api_key_env` names, and the OTLP headers (`OTEL_EXPORTER_OTLP_*HEADERS`).
    pub fn credential_variables(
        &self,
        names: impl Iterator<Item = std::ffi::OsString>,
    ) -> Vec<std::ffi::OsString> {
        if self.keep_credentials {
            return Vec::new();
        }
        names
            .filter(|name| {
                let Some(name) = name.to_str() else {
                    return false;
                };
                (name.starts_with("EARLYEXIT_") && name.contains("API_KEY"))
                    || (name.starts_with("OTEL_EXPORTER_OTLP_") && name.ends_with("HEADERS"))
                    || self.http.api_key_env.as_deref() == Some(name)
            })
            .collect()
    }

    /// True when a run records anything at all.
    pub fn is_active(&self) -> bool {
        self.enabled && (self.backend != Backend::None || self.console)
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
