//! The two kinds of endpoint a setting names: the HTTP API's URL and an OTLP endpoint, which
//! the specification lets a gRPC exporter write without a scheme.

use super::value::{InvalidValue, Value};
use crate::urls::redact_url;

/// An http:// or https:// URL; shown without its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url(String);

impl std::ops::Deref for Url {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Value for Option<Url> {
    fn parse(text: &str) -> Result<Option<Url>, InvalidValue> {
        if !(text.starts_with("http://") || text.starts_with("https://")) {
            return Err(InvalidValue::new(
                "an http:// or https:// URL",
                &redact_url(text),
            ));
        }
        Ok(Some(Url(text.to_string())))
    }

    fn show(&self) -> String {
        self.as_deref().map(redact_url).unwrap_or_default()
    }
}

/// An OTLP endpoint: an http:// or https:// URL, or, as the specification allows for gRPC,
/// `host:port` without a scheme (https unless `insecure`); shown without its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpEndpoint(String);

impl OtlpEndpoint {
    /// True when it names its scheme; HTTP exports need one.
    pub fn has_scheme(&self) -> bool {
        self.0.starts_with("http://") || self.0.starts_with("https://")
    }

    /// The URL to connect to.
    pub fn url(&self, insecure: bool) -> String {
        match (self.has_scheme(), insecure) {
            (true, _) => self.0.clone(),
            (false, true) => format!("http://{}", self.0),
            (false, false) => format!("https://{}", self.0),
        }
    }
}

impl Value for Option<OtlpEndpoint> {
    fn parse(text: &str) -> Result<Option<OtlpEndpoint>, InvalidValue> {
        let host_and_port = |text: &str| {
            !text.is_empty()
                && !text.contains("://")
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_:[]/%".contains(c))
        };
        match text {
            "" => Ok(None),
            url if OtlpEndpoint(url.into()).has_scheme() || host_and_port(url) => {
                Ok(Some(OtlpEndpoint(url.to_string())))
            }
            _ => Err(InvalidValue::new(
                "an http:// or https:// URL (or host:port for gRPC)",
                &redact_url(text),
            )),
        }
    }

    fn show(&self) -> String {
        self.as_ref()
            .map(|endpoint| redact_url(&endpoint.0))
            .unwrap_or_default()
    }
}
