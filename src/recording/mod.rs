//! What a run is and how it becomes a span and a flat record: the attribute names (the
//! contract with every backend), the span's attributes, parent and resource, the privacy
//! rules (detail levels, scrubbing), CI detection, the one conversion from a span to the flat
//! execution record that the SQLite, file and HTTP sinks share (and the values a received
//! one may hold: `checks`), the span as the OTLP outbox
//! keeps it, and the live records of a run in progress (`live`).
//!
//! May import: `config`, `outcome`, `observer`, `matcher` and the leaves. Nothing here
//! exports, sends or stores.

pub mod attributes;
pub mod checks;
pub mod ci;
pub mod detect;
pub mod envelopes;
mod github_parent;
pub mod live;
pub mod privacy;
pub mod record;
pub(crate) mod span;
pub mod stored_span;

pub use span::{command_hash, resource, scope};
