//! Telemetry: every run becomes one OpenTelemetry span with one `earlyexit.match` event per
//! match, exported through one batch span processor to a fan-out over the configured sinks.
//!
//! [`Telemetry`] is a [`RunObserver`](crate::observer::RunObserver). While the command runs it only stores what it is told
//! (the match lines are copied, nothing is scrubbed or written), and the exporter thread opens
//! the local database; everything else happens after the command has ended, so telemetry never
//! slows the output on its way to the terminal.

pub mod attributes;
mod contained;
pub mod delivery;
pub mod detect;
mod github_parent;
pub mod privacy;
pub mod record;
pub mod remote;
pub mod report;
mod run;
pub mod savings;
pub mod sinks;
pub(crate) mod span;
pub mod store;
pub mod stored_span;
pub mod tls;

pub use contained::ContainedTelemetry;
pub use run::Telemetry;
pub use span::{command_hash, resource};
