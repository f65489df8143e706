//! Telemetry, end to end: every run becomes one OpenTelemetry span with one `earlyexit.match`
//! event per match, exported to a fan-out over the configured sinks (`export`): on the thread
//! that ends it when every sink is local, on the SDK's batch thread when one sends over the
//! network (`processor`).
//!
//! [`Telemetry`] is a [`RunObserver`](crate::observer::RunObserver). While the command runs it
//! only stores what it is told (the match lines are copied, nothing is scrubbed or written),
//! once the local database is open; everything else happens after the command has ended, so
//! telemetry never slows the output on its way to the terminal.
//! [`ContainedTelemetry`] wraps it so that a panic in telemetry never costs the run.
//!
//! While a run goes on, `live` keeps its running row and sends its live records; `lost` closes
//! the runs of earlyexits that were killed.
//!
//! May import: `recording` (the span), `export` (the sinks), `store` (the running row),
//! `delivery` (the live records' exporter), `config`, `observer`, `outcome` and the leaves.

mod contained;
mod live;
mod live_plan;
mod live_side;
mod lost;
mod processor;
mod run;
mod run_ids;

pub use contained::ContainedTelemetry;
pub use lost::close_abandoned;
pub use run::Telemetry;
