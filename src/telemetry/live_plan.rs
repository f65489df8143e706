//! What a run's live thread needs of it, all known before the command starts, and the live
//! records made from that.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::SpanContext;
use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use crate::config::TelemetrySettings;
use crate::export::DeliveryReport;
use crate::observer::KeptMatch;
use crate::profile::Block;
use crate::recording::live::{self, LiveRecord};
use crate::recording::privacy;

/// What the live thread needs of the run, all known before the command starts.
pub struct LivePlan {
    pub settings: TelemetrySettings,
    pub execution_id: String,
    pub context: SpanContext,
    pub parent: SpanContext,
    pub name: String,
    pub start_attributes: Vec<KeyValue>,
    pub command_line: Option<String>,
    pub command_words: Vec<String>,
    pub working_directory: PathBuf,
    pub started_at: SystemTime,
    pub resource: Resource,
    /// The run's delivery: the lock file goes once the record is kept.
    pub report: Arc<DeliveryReport>,
}

impl LivePlan {
    /// True when the run has anything to do live: a database for the running row (the SQLite
    /// sink's, or a remote's outbox, which a collector as the remote has too).
    pub fn wanted(settings: &TelemetrySettings) -> bool {
        settings.live.enabled && !settings.dry_run && uses_database(settings)
    }
}

impl LivePlan {
    /// A match's line as the run keeps it (scrubbed unless `scrub_pii` is off).
    pub(super) fn line(&self, kept: &KeptMatch) -> String {
        privacy::scrub_matched_line(self.settings.scrub_pii, kept)
    }

    pub(super) fn block_record(&self, match_number: u64, block: &Block) -> LiveRecord {
        live::block_record(
            &self.execution_id,
            match_number,
            block,
            privacy::scrub_if(self.settings.scrub_pii, &block.lines.join("\n")),
            self.settings.remote_detail,
        )
    }

    pub(super) fn match_record(&self, kept: &KeptMatch, line: String) -> LiveRecord {
        live::match_record(
            &self.execution_id,
            self.started_at,
            kept,
            line,
            self.settings.remote_detail,
        )
    }
}

/// The SQLite database is written: by the SQLite sink, or as a remote's outbox.
fn uses_database(settings: &TelemetrySettings) -> bool {
    settings.remote().is_some() || (settings.writes_locally() && settings.backend.keeps_database())
}
