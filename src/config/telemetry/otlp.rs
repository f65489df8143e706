//! The OTLP settings as the specification resolves them: the settings of both signals, each
//! signal's own over them, and one [`OtlpExport`] per signal with everything decided.

use std::path::PathBuf;
use std::time::Duration;

use super::{Compression, OtlpEndpoint, OtlpProtocol, Secret, Trust};

/// The `otlp:` section, overlaid by the standard `OTEL_EXPORTER_OTLP_*` variables: the
/// settings of both signals, and each signal's own (`OTEL_EXPORTER_OTLP_TRACES_*`,
/// `…_LOGS_*`), which win where they are set.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// The base endpoint (like `OTEL_EXPORTER_OTLP_ENDPOINT`): `/v1/traces` and `/v1/logs`
    /// are appended for HTTP.
    pub endpoint: Option<OtlpEndpoint>,
    pub protocol: OtlpProtocol,
    /// Headers sent with every export; values may be credentials.
    pub headers: Vec<(String, Secret)>,
    /// The budget of one export; zero means no limit of its own (see [`UNLIMITED_EXPORT`]).
    pub timeout: Duration,
    pub compression: Compression,
    /// A private CA (`certificate`) and a client certificate and key (`client_certificate`,
    /// `client_key`) for https endpoints.
    pub trust: Trust,
    /// A gRPC endpoint written without a scheme is plain http, not https
    /// (`OTEL_EXPORTER_OTLP_INSECURE`).
    pub insecure: bool,
    pub traces: SignalSettings,
    /// The live records' own settings.
    pub logs: SignalSettings,
}

/// One signal's own OTLP settings; each unset one is the generic one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignalSettings {
    /// Used as it is (like `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): nothing is appended.
    pub endpoint: Option<OtlpEndpoint>,
    pub protocol: Option<OtlpProtocol>,
    pub headers: Option<Vec<(String, Secret)>>,
    pub timeout: Option<Duration>,
    pub compression: Option<Compression>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub insecure: Option<bool>,
    /// `OTEL_TRACES_EXPORTER=none`, `OTEL_LOGS_EXPORTER=none`: nothing of this signal goes to
    /// a collector.
    pub disabled: bool,
}

/// Which OTLP signal an export carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
}

impl Signal {
    /// The path that HTTP exports append to the base endpoint.
    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }
}

/// The most match events one span carries, whatever `OTEL_SPAN_EVENT_COUNT_LIMIT` says.
pub const MAX_SPAN_EVENTS: usize = 1000;

/// How long an export may take when the timeout is zero ("no limit" in the specification):
/// earlyexit still ends, and this is its own bound on the wait at exit.
pub const UNLIMITED_EXPORT: Duration = Duration::from_secs(30);

/// One signal's export, everything resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpExport {
    pub url: String,
    pub protocol: OtlpProtocol,
    pub headers: Vec<(String, Secret)>,
    /// Never zero: zero became [`UNLIMITED_EXPORT`].
    pub timeout: Duration,
    pub compression: Compression,
    pub trust: Trust,
}

impl OtlpSettings {
    fn signal(&self, signal: Signal) -> &SignalSettings {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Logs => &self.logs,
        }
    }

    /// The protocol of `signal`: its own, else the generic one.
    pub fn protocol_of(&self, signal: Signal) -> OtlpProtocol {
        self.signal(signal).protocol.unwrap_or(self.protocol)
    }

    /// How `signal` is exported, as the specification resolves it: its own setting, else the
    /// generic one; its own endpoint as it is, the generic one with the signal's path for
    /// HTTP; a gRPC endpoint without a scheme is https unless insecure. An endpoint without a
    /// scheme is for gRPC only: over HTTP the signal goes to the default instead (said once
    /// when the settings are resolved).
    pub fn export(&self, signal: Signal) -> OtlpExport {
        let own = self.signal(signal);
        let protocol = self.protocol_of(signal);
        let insecure = own.insecure.unwrap_or(self.insecure);
        let usable =
            |endpoint: &&OtlpEndpoint| protocol == OtlpProtocol::Grpc || endpoint.has_scheme();
        let url = match (
            own.endpoint.as_ref().filter(usable),
            self.endpoint.as_ref().filter(usable),
            protocol,
        ) {
            (Some(endpoint), _, _) => endpoint.url(insecure),
            (None, Some(base), OtlpProtocol::Grpc) => base.url(insecure),
            (None, Some(base), _) => {
                format!(
                    "{}{}",
                    base.url(insecure).trim_end_matches('/'),
                    signal.path()
                )
            }
            (None, None, OtlpProtocol::Grpc) => "http://localhost:4317".into(),
            (None, None, _) => format!("http://localhost:4318{}", signal.path()),
        };
        let timeout = own.timeout.unwrap_or(self.timeout);
        OtlpExport {
            url,
            protocol,
            headers: own.headers.clone().unwrap_or_else(|| self.headers.clone()),
            timeout: if timeout.is_zero() {
                UNLIMITED_EXPORT
            } else {
                timeout
            },
            compression: own.compression.unwrap_or(self.compression),
            trust: Trust {
                ca_file: own.ca_file.clone().or_else(|| self.trust.ca_file.clone()),
                client_cert: own
                    .client_cert
                    .clone()
                    .or_else(|| self.trust.client_cert.clone()),
                client_key: own
                    .client_key
                    .clone()
                    .or_else(|| self.trust.client_key.clone()),
            },
        }
    }

    /// The URL spans are sent to.
    pub fn traces_url(&self) -> String {
        self.export(Signal::Traces).url
    }

    /// The URL the live records (log records) are sent to.
    pub fn logs_url(&self) -> String {
        self.export(Signal::Logs).url
    }
}
