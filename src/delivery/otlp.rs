//! The OTLP transport: spans to any OpenTelemetry Collector, over gRPC (tonic) or
//! HTTP/protobuf, through opentelemetry-otlp's own exporter; and [`OtlpLogs`], the live
//! records' log exporter, built the same way. A run's span reaches it through
//! the outbox (see `telemetry::delivery`), already reduced to the remote detail level.
//!
//! The gRPC exporter needs a multi-thread tokio runtime: it is built inside one, each export
//! runs on it, and it lives as long as the sink. The HTTP exporter uses a blocking client and
//! needs no runtime. Retries are kept short (the SDK's default retries for up to 10 s; a CLI
//! has `otlp.timeout`, 2 s by default, for everything).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::trace::SpanContext;
use opentelemetry::{Array, InstrumentationScope, Value};

use opentelemetry_otlp::{
    Compression, Protocol, RetryPolicy, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::config::telemetry::{self as config, OtlpExport, OtlpProtocol, OtlpSettings, Signal};
use crate::delivery::tls::{self, HttpClient, TlsError, Trust};
use crate::recording::live::LiveRecord;
use crate::recording::span;
use crate::urls::{redact_url, redact_urls_in};

use super::quick_ack;

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("cannot start the gRPC runtime: {0}")]
    Runtime(std::io::Error),
    #[error("invalid OTLP header name '{0}'")]
    HeaderName(String),
    #[error("invalid value for OTLP header '{0}'")]
    HeaderValue(String),
    #[error("invalid OTLP endpoint '{url}': {source}")]
    Endpoint {
        url: String,
        source: tonic::transport::Error,
    },
    #[error(transparent)]
    Trust(#[from] TlsError),
    #[error("TLS: {0}")]
    Tls(tonic::transport::Error),
    #[error(transparent)]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// An export that did not reach the collector; `Display` starts with its redacted URL, and
/// no URL in the exporter's own text keeps its credentials or query (opentelemetry-otlp
/// quotes an invalid endpoint whole).
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", redact_url(url), redact_urls_in(&problem.to_string().replace(url.as_str(), &redact_url(url))))]
pub struct ExportError {
    url: String,
    problem: ExportProblem,
}

#[derive(Debug, thiserror::Error)]
enum ExportProblem {
    #[error(transparent)]
    Unusable(Arc<OtlpError>),
    #[error(transparent)]
    Export(OTelSdkError),
}

pub struct OtlpTransport {
    spans: Exporting<opentelemetry_otlp::SpanExporter>,
    /// Whether a span keeps its match events: not when they went as live log records alone
    /// (`telemetry.live.match_records: logs`).
    pub match_events: bool,
}

/// An opentelemetry-otlp exporter (of spans, or of the live records' logs), or why it could
/// not be built (reported at every export), and what it runs on.
struct Exporting<E> {
    exporter: Result<E, Arc<OtlpError>>,
    /// For gRPC: the runtime the exporter was built in and runs on.
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    timeout: Duration,
}

impl std::fmt::Debug for OtlpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpTransport")
            .field("url", &self.display_url())
            .finish()
    }
}

/// The builders of one kind of exporter, over gRPC and over HTTP (see `builders!`).
struct Builders<E> {
    grpc: fn(GrpcParts, &OtlpExport) -> Result<E, OtlpError>,
    http: fn(HttpParts, &OtlpExport) -> Result<E, OtlpError>,
}

/// What a gRPC exporter is built on: the channel and the metadata (the configured headers).
struct GrpcParts {
    channel: tonic::transport::Channel,
    metadata: tonic::metadata::MetadataMap,
}

/// What an HTTP exporter is built on: the blocking client, the headers and the URL.
struct HttpParts {
    client: HttpClient,
    headers: HashMap<String, String>,
    url: String,
}

impl<E> Exporting<E> {
    /// The exporter of one signal as its settings say: over gRPC built inside a runtime of
    /// its own, over HTTP with the blocking client.
    fn new(settings: &OtlpExport, builders: Builders<E>) -> Exporting<E> {
        let url = settings.url.clone();
        let (exporter, runtime) = match settings.protocol {
            OtlpProtocol::Grpc => match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    let exporter = {
                        let _entered = runtime.enter();
                        grpc_parts(settings, &url)
                            .and_then(|parts| (builders.grpc)(parts, settings))
                    };
                    (exporter, Some(runtime))
                }
                Err(e) => (Err(OtlpError::Runtime(e)), None),
            },
            OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => (
                http_parts(settings, &url).and_then(|parts| (builders.http)(parts, settings)),
                None,
            ),
        };
        Exporting {
            exporter: exporter.map_err(Arc::new),
            runtime,
            url,
            timeout: settings.timeout,
        }
    }

    /// The exporter, or why there is none, as an export's error.
    fn exporter(&self) -> Result<&E, ExportError> {
        self.exporter
            .as_ref()
            .map_err(|e| self.failed(ExportProblem::Unusable(e.clone())))
    }

    fn failed(&self, problem: ExportProblem) -> ExportError {
        ExportError {
            url: self.url.clone(),
            problem,
        }
    }

    /// Runs one export of the exporter within the timeout. tonic's timeout covers a request,
    /// not the name lookup and the connection before it (a link-local address with a zone,
    /// `[fe80::1%eth0]`, waited 5 s for a resolver): the whole export gets the deadline.
    async fn run(&self, export: impl Future<Output = OTelSdkResult>) -> Result<(), ExportError> {
        let result = match &self.runtime {
            Some(runtime) => runtime.block_on(async {
                tokio::time::timeout(self.timeout, export)
                    .await
                    .unwrap_or(Err(OTelSdkError::Timeout(self.timeout)))
            }),
            None => export.await,
        };
        result.map_err(|e| self.failed(ExportProblem::Export(e)))
    }
}

impl<E> Drop for Exporting<E> {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks; the channel's background task never ends.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Kept back from the exporter's timeout for shutting down, so that a collector that never
/// answers costs no more than `otlp.timeout` in all.
const DEADLINE_MARGIN: Duration = Duration::from_millis(25);

/// An OTLP URL as messages show it.
pub fn destination(url: &str) -> String {
    format!("OTLP {}", redact_url(url))
}

fn export_timeout(settings: &OtlpExport) -> Duration {
    settings
        .timeout
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_millis(1))
}

fn retry_policy() -> RetryPolicy {
    RetryPolicy::recommended()
        .with_max_retries(2)
        .with_initial_delay(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(40))
        .with_max_jitter(Duration::from_millis(5))
}

/// The timeout, the retry policy and the compression, then the exporter: the same for both
/// transports and both signals, whose builders are different types.
macro_rules! finish_exporter {
    ($builder:expr, $settings:expr) => {{
        let mut builder = $builder
            .with_timeout(export_timeout($settings))
            .with_retry_policy(retry_policy());
        if $settings.compression == config::Compression::Gzip {
            builder = builder.with_compression(Compression::Gzip);
        }
        Ok(builder.build()?)
    }};
}

/// The [`Builders`] of an exporter type (`SpanExporter`, `LogExporter`): their builders share
/// the methods but no trait.
macro_rules! builders {
    ($exporter:ty) => {
        Builders {
            grpc: |parts, settings| {
                let builder = <$exporter>::builder()
                    .with_tonic()
                    .with_channel(parts.channel)
                    .with_metadata(parts.metadata);
                finish_exporter!(builder, settings)
            },
            http: |parts, settings| {
                let protocol = match settings.protocol {
                    OtlpProtocol::HttpJson => Protocol::HttpJson,
                    _ => Protocol::HttpBinary,
                };
                let builder = <$exporter>::builder()
                    .with_http()
                    .with_http_client(parts.client)
                    .with_endpoint(parts.url)
                    .with_protocol(protocol)
                    .with_headers(parts.headers);
                finish_exporter!(builder, settings)
            },
        }
    };
}

impl OtlpTransport {
    pub fn new(settings: &OtlpSettings) -> OtlpTransport {
        let builders = builders!(opentelemetry_otlp::SpanExporter);
        OtlpTransport {
            spans: Exporting::new(&settings.export(Signal::Traces), builders),
            match_events: true,
        }
    }

    /// The traces URL without credentials or query string, for messages.
    pub fn display_url(&self) -> String {
        destination(&self.spans.url)
    }

    /// The whole budget of one export.
    pub fn timeout(&self) -> Duration {
        self.spans.timeout
    }

    /// Exports these spans as they are.
    pub async fn export_spans(&self, batch: Vec<SpanData>) -> Result<(), ExportError> {
        let exporter = self.spans.exporter()?;
        self.spans.run(exporter.export(batch)).await
    }

    pub fn set_resource(&mut self, resource: &Resource) {
        if let Ok(exporter) = &mut self.spans.exporter {
            exporter.set_resource(resource);
        }
    }
}

/// The live records' exporter: log records to the collector's logs endpoint, with the
/// logs' own settings where they are set and the generic ones elsewhere.
pub struct OtlpLogs {
    logs: Exporting<opentelemetry_otlp::LogExporter>,
    /// Makes the SDK's log records, whose constructor is the SDK's own; it has no processor
    /// and exports nothing itself.
    logger: SdkLogger,
    scope: InstrumentationScope,
}

impl OtlpLogs {
    pub fn new(settings: &OtlpSettings, resource: &Resource) -> OtlpLogs {
        let builders = builders!(opentelemetry_otlp::LogExporter);
        let mut logs = Exporting::new(&settings.export(Signal::Logs), builders);
        if let Ok(exporter) = &mut logs.exporter {
            exporter.set_resource(resource);
        }
        OtlpLogs {
            logs,
            logger: SdkLoggerProvider::builder().build().logger("earlyexit"),
            scope: span::scope(),
        }
    }

    /// Sends these records of the span `context` in one export, within the timeout.
    pub fn send(&self, context: &SpanContext, records: &[LiveRecord]) -> Result<(), ExportError> {
        let records: Vec<SdkLogRecord> = records
            .iter()
            .map(|live| {
                let mut record = self.logger.create_log_record();
                record.set_event_name(live.event_name);
                record.set_timestamp(live.time);
                record.set_observed_timestamp(SystemTime::now());
                record.set_severity_number(live.severity);
                record.set_severity_text(live.severity.name());
                if let Some(body) = &live.body {
                    record.set_body(AnyValue::String(body.clone().into()));
                }
                record.set_trace_context(
                    context.trace_id(),
                    context.span_id(),
                    Some(context.trace_flags()),
                );
                record.add_attributes(
                    live.attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), any_value(&kv.value))),
                );
                record
            })
            .collect();
        let batch: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            records.iter().map(|record| (record, &self.scope)).collect();
        let exporter = self.logs.exporter()?;
        futures_executor::block_on(self.logs.run(exporter.export(LogBatch::new(&batch))))
    }
}

/// An attribute's value as a log record carries it.
fn any_value(value: &Value) -> AnyValue {
    match value {
        Value::Bool(b) => AnyValue::Boolean(*b),
        Value::I64(i) => AnyValue::Int(*i),
        Value::F64(f) => AnyValue::Double(*f),
        Value::Array(Array::Bool(v)) => v.iter().copied().collect(),
        Value::Array(Array::I64(v)) => v.iter().copied().collect(),
        Value::Array(Array::F64(v)) => v.iter().copied().collect(),
        Value::Array(Array::String(v)) => v.iter().cloned().collect(),
        other => AnyValue::String(other.as_str().into_owned().into()),
    }
}

/// What a gRPC exporter for `url` is built on.
fn grpc_parts(settings: &OtlpExport, url: &str) -> Result<GrpcParts, OtlpError> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    for (name, value) in &settings.headers {
        let key = tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| OtlpError::HeaderName(name.clone()))?;
        let value = value
            .expose()
            .parse()
            .map_err(|_| OtlpError::HeaderValue(name.clone()))?;
        metadata.insert(key, value);
    }
    let mut endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
        .map_err(|source| OtlpError::Endpoint {
            url: redact_url(url),
            source,
        })?
        .timeout(export_timeout(settings))
        .connect_timeout(export_timeout(settings));
    if url.starts_with("https://") {
        // The trust policy of `tls`: the system's store (or SSL_CERT_FILE / SSL_CERT_DIR),
        // Mozilla's roots only where the system has none, the configured CA on top, and the
        // client certificate for mTLS.
        let trust = &settings.trust;
        let mut tls = tonic::transport::ClientTlsConfig::new().with_native_roots();
        if !Trust::system_has_roots() {
            tls = tls.with_webpki_roots();
        }
        if let Some(pem) = trust.ca_pem()? {
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        if let Some(identity) = trust.pem_identity()? {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                identity.certificate,
                identity.key,
            ));
        }
        endpoint = endpoint.tls_config(tls).map_err(OtlpError::Tls)?;
    }
    let channel = endpoint.connect_with_connector_lazy(quick_ack::Connector::new());
    Ok(GrpcParts { channel, metadata })
}

/// What an HTTP exporter for `url` is built on: the blocking client trusts as `tls` says.
fn http_parts(settings: &OtlpExport, url: &str) -> Result<HttpParts, OtlpError> {
    let tls = url
        .starts_with("https://")
        .then(|| settings.trust.ureq_config())
        .transpose()?;
    let client = HttpClient(tls::agent(export_timeout(settings), tls.as_ref()));
    let headers = settings
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().to_string()))
        .collect();
    Ok(HttpParts {
        client,
        headers,
        url: url.to_string(),
    })
}
