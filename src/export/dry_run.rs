//! `--telemetry-dry-run`: prints on stderr, as JSON lines, exactly what a sink would write or
//! send, each marked with that sink's name, and writes and sends nothing. For the HTTP sink
//! that is the request: endpoint, authentication header with the key redacted, and body.

use std::io::Write;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::json;

use crate::delivery::http::{self, Endpoint};
use crate::recording::privacy::Detail;
use crate::recording::record::RunRecord;

#[derive(Debug)]
pub struct DryRunSink {
    stands_for: &'static str,
    detail: Detail,
    /// Set when standing in for the HTTP sink.
    endpoint: Option<Endpoint>,
}

impl DryRunSink {
    /// Stands in for the local sink named `stands_for`, at that sink's detail level.
    pub fn local(stands_for: &'static str, detail: Detail) -> DryRunSink {
        DryRunSink {
            stands_for,
            detail,
            endpoint: None,
        }
    }

    /// Stands in for the HTTP sink.
    pub fn http(endpoint: Endpoint, detail: Detail) -> DryRunSink {
        DryRunSink {
            stands_for: "http",
            detail,
            endpoint: Some(endpoint),
        }
    }

    pub fn stands_for(&self) -> &'static str {
        self.stands_for
    }

    fn lines(&self, runs: Vec<RunRecord>) -> Vec<serde_json::Value> {
        match &self.endpoint {
            None => runs
                .iter()
                .flat_map(RunRecord::envelopes)
                .map(|mut envelope| {
                    envelope["sink"] = self.stands_for.into();
                    envelope
                })
                .collect(),
            Some(endpoint) => {
                let events = runs.iter().flat_map(RunRecord::envelopes).collect();
                let headers: serde_json::Map<String, serde_json::Value> =
                    std::iter::once(("Content-Type".to_string(), "application/json".into()))
                        .chain(
                            endpoint
                                .redacted_header()
                                .map(|(name, value)| (name.to_string(), value.into())),
                        )
                        .collect();
                vec![json!({
                    "sink": "http",
                    "method": "POST",
                    "endpoint": endpoint.display(),
                    "headers": headers,
                    "body": http::request_body(events, self.detail == Detail::Minimal),
                })]
            }
        }
    }
}

impl SpanExporter for DryRunSink {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let runs = batch
            .iter()
            .filter_map(|span| RunRecord::from_span(span, self.detail))
            .collect();
        let mut out = String::new();
        for line in self.lines(runs) {
            out.push_str(&line.to_string());
            out.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
        Ok(())
    }
}
