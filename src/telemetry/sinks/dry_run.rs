//! `--telemetry-dry-run`: prints on stderr, as JSON lines, exactly the envelopes a sink would
//! write, each marked with that sink's name, and writes nothing.

use std::io::Write;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::telemetry::privacy::Detail;
use crate::telemetry::record::RunRecord;

#[derive(Debug)]
pub struct DryRunSink {
    stands_for: &'static str,
    detail: Detail,
}

impl DryRunSink {
    /// Stands in for the sink named `stands_for`, at that sink's detail level.
    pub fn new(stands_for: &'static str, detail: Detail) -> DryRunSink {
        DryRunSink { stands_for, detail }
    }

    pub fn stands_for(&self) -> &'static str {
        self.stands_for
    }
}

impl SpanExporter for DryRunSink {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = String::new();
        for run in batch
            .iter()
            .filter_map(|span| RunRecord::from_span(span, self.detail))
        {
            for mut envelope in run.envelopes() {
                envelope["sink"] = self.stands_for.into();
                out.push_str(&envelope.to_string());
                out.push('\n');
            }
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
        Ok(())
    }
}
