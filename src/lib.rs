//! earlyexit: run a command, show its output live, and stop it the moment an error pattern
//! appears or it hangs; record every run as an OpenTelemetry span.
//!
//! # Code map
//!
//! The rooms, from the ground floor up. Every import points down (a test,
//! `tests/layering.rs`, keeps it so: no module imports one that imports it).
//!
//! | room | what it does |
//! |---|---|
//! | [`config`] | the resolved settings of a run ([`config::Settings`]) and of telemetry: keys, file, environment. Knows nothing above it. |
//! | [`outcome`], [`observer`], [`matcher`], [`duration`], [`timestamp`], [`urls`], [`files`], [`message`], [`numbers`], [`rate_limit`] | small leaves: the run's one outcome and exit codes, the seam the wrapper reports through, the patterns, and helpers |
//! | [`watch`] | the wrapper: spawns the command, passes its output through, matches lines, keeps the timers, stops the process group |
//! | [`recording`] | what a run is as telemetry: the span's attributes, privacy, CI detection, the flat record the sinks share |
//! | [`store`] | the local SQLite database: runs, matches, the outbox, queries |
//! | [`delivery`] | sending to a remote: the outbox sender, the HTTP API and OTLP transports side by side, TLS |
//! | [`export`] | the sinks behind the batch span processor: SQLite, JSON Lines, console, dry run, the remote (through `delivery`) |
//! | [`telemetry`] | the pipeline end to end: a run's span recorded and handed to the sinks; the live thread of a run in progress; closing the runs of killed earlyexits |
//! | [`analysis`] | what the stored runs say: time saved, the HTML report |
//! | [`ci_output`], [`summary`] | what a run leaves for CI (annotations, job summary, JUnit) and for tools (`--json`) |
//! | [`server`] | `earlyexit serve`: the team server, which takes every runner's runs into one store and serves the team's report |
//! | [`cli`], [`consent`], [`commands`], [`app`] | the edge: the command line, consent to a remote, `earlyexit telemetry …`, and `main` |
//!
//! What flows: `cli` resolves `config::Settings`; `app` runs `watch` with observers
//! (`summary` for `--json`, `telemetry` for the span); `watch` ends in an
//! `outcome::RunEnd`; `telemetry` turns it into a span, which `export` writes to the `store`
//! and hands to `delivery` through the outbox. While the command runs, `telemetry`'s live
//! thread keeps a running row in the `store` and sends live records through `delivery`. The `commands` read the `store` and `analysis`.
//!
//! Where to start: a new flag, in `cli` and `config`; how output is read or a process
//! stopped, `watch`; what a span carries, `recording::attributes` and `recording::span`; a new
//! backend, `export` (and `delivery` when it sends); a new chart, `analysis::report`; the
//! outcome or an exit code, `outcome`. `docs/TELEMETRY_BACKENDS.md` is the design document the
//! config keys, environment variables and HTTP API come from.

pub mod analysis;
pub mod app;
pub mod ci_output;
pub mod cli;
pub mod commands;
pub mod config;
pub mod consent;
pub mod delivery;
pub mod duration;
pub mod evidence;
pub mod export;
pub mod fault;
pub mod files;
pub mod matcher;
pub mod message;
pub mod numbers;
pub mod observer;
pub mod outcome;
pub mod profile;
#[cfg(test)]
mod properties;
pub mod rate_limit;
pub mod recording;
pub mod secret_blocks;
pub mod server;
pub mod store;
pub mod summary;
pub mod telemetry;
pub mod timestamp;
pub mod urls;
pub mod watch;
