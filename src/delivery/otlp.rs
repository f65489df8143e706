//! The OTLP transport: spans to any OpenTelemetry Collector, over gRPC (tonic) or
//! HTTP/protobuf, through opentelemetry-otlp's own exporter. A run's span reaches it through
//! the outbox (see `telemetry::delivery`), already reduced to the remote detail level.
//!
//! The gRPC exporter needs a multi-thread tokio runtime: it is built inside one, each export
//! runs on it, and it lives as long as the sink. The HTTP exporter uses a blocking client and
//! needs no runtime. Retries are kept short (the SDK's default retries for up to 10 s; a CLI
//! has `otlp.timeout`, 2 s by default, for everything).

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::{
    Compression, Protocol, RetryPolicy, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::config::telemetry::{self as config, OtlpProtocol, OtlpSettings};
use crate::delivery::tls::{self, HttpClient, TlsError, Trust};
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
    /// The exporter, or why it could not be built (reported at every export).
    exporter: Result<opentelemetry_otlp::SpanExporter, Arc<OtlpError>>,
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

/// Kept back from the exporter's timeout for shutting down, so that a collector that never
/// answers costs no more than `otlp.timeout` in all.
const DEADLINE_MARGIN: Duration = Duration::from_millis(25);

/// An OTLP URL as messages show it.
pub fn destination(url: &str) -> String {
    format!("OTLP {}", redact_url(url))
}

fn export_timeout(settings: &OtlpSettings) -> Duration {
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

impl OtlpTransport {
    pub fn new(settings: &OtlpSettings) -> OtlpTransport {
        let url = settings.traces_url();
        let (exporter, runtime) = match settings.protocol {
            OtlpProtocol::Grpc => match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    let exporter = {
                        let _entered = runtime.enter();
                        grpc_exporter(settings, &url)
                    };
                    (exporter, Some(runtime))
                }
                Err(e) => (Err(OtlpError::Runtime(e)), None),
            },
            OtlpProtocol::HttpProtobuf => (http_exporter(settings, &url), None),
        };
        let exporter = exporter.map_err(Arc::new);
        OtlpTransport {
            exporter,
            runtime,
            url,
            timeout: settings.timeout,
        }
    }

    /// The traces URL without credentials or query string, for messages.
    pub fn display_url(&self) -> String {
        destination(&self.url)
    }

    /// The whole budget of one export.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Exports these spans as they are.
    pub async fn export_spans(&self, batch: Vec<SpanData>) -> Result<(), ExportError> {
        let failed = |problem| ExportError {
            url: self.url.clone(),
            problem,
        };
        let exporter = self
            .exporter
            .as_ref()
            .map_err(|e| failed(ExportProblem::Unusable(e.clone())))?;
        let result = match &self.runtime {
            // tonic's timeout covers a request, not the name lookup and the connection before
            // it (a link-local address with a zone, `[fe80::1%eth0]`, waited 5 s for a
            // resolver): the whole export gets the deadline.
            Some(runtime) => runtime.block_on(async {
                tokio::time::timeout(self.timeout, exporter.export(batch))
                    .await
                    .unwrap_or(Err(OTelSdkError::Timeout(self.timeout)))
            }),
            None => exporter.export(batch).await,
        };
        result.map_err(|e| failed(ExportProblem::Export(e)))
    }

    pub fn set_resource(&mut self, resource: &Resource) {
        if let Ok(exporter) = &mut self.exporter {
            exporter.set_resource(resource);
        }
    }
}

/// The timeout, the retry policy and the compression, then the exporter: the same for both
/// transports, whose builders are different types.
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

fn grpc_exporter(
    settings: &OtlpSettings,
    url: &str,
) -> Result<opentelemetry_otlp::SpanExporter, OtlpError> {
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
    let builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_channel(channel)
        .with_metadata(metadata);
    finish_exporter!(builder, settings)
}

fn http_exporter(
    settings: &OtlpSettings,
    url: &str,
) -> Result<opentelemetry_otlp::SpanExporter, OtlpError> {
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
    let builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(url)
        .with_protocol(Protocol::HttpBinary)
        .with_headers(headers);
    finish_exporter!(builder, settings)
}

impl Drop for OtlpTransport {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks; the channel's background task never ends.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
