//! earlyexit: run a command, show its output live, and stop it the moment an error pattern
//! appears or it hangs; record every run as an OpenTelemetry span.
//!
//! # Code map
//!
//! The rooms, from the ground floor up, each floor importing only from those below it (a
//! test, `tests/layering.rs`, keeps it so: no module imports one that imports it). A room is
//! public only where another target uses it: the executables (`app`), the integration tests
//! that drive the wrapper in-process (`cli`, `config`, `matcher`, `observer`, `outcome`,
//! `watch`) and the SQLite sink's benchmark (`export`, `recording`).
//!
//! | floor | room | what it does |
//! |---|---|---|
//! | 1 | `duration`, `timestamp`, `numbers`, `urls`, `files`, `message`, `rate_limit`, `secret_blocks`, `fault` | small leaves: durations as the user writes them, RFC 3339 times, the percentiles stats and the report share, URLs without credentials, bounded reads and private files, earlyexit's own one-line messages, a rate limit, private-key blocks across lines, and the faults that test builds inject |
//! | 1 | `profile` | the tool profiles: what `cargo test`, `pytest`, `go test`… print when they fail, and what to keep of it |
//! | 2 | `config`, `since` | the resolved settings of a run ([`config::Settings`]) and of telemetry: keys, file, environment; the start of a period as people write it (`7d`, `2026-11-01`) |
//! | 3 | `matcher` | the patterns, compiled once |
//! | 4 | `outcome` | the run's one outcome, its exit reason and exit codes |
//! | 5 | `observer` | the seam the wrapper reports through |
//! | 6 | `recording` | what a run is as telemetry: the span's attributes, privacy, CI detection, the flat record the sinks share |
//! | 7 | `store`, `evidence` | the databases: the local SQLite one (runs, matches, the outbox, the running rows) and the team store on SQLite or PostgreSQL; what a run leaves to show what happened (its first matches, the lines after, the last lines) |
//! | 8 | `delivery`, `analysis`, `summary` | sending to a remote (the outbox sender, the HTTP API and OTLP transports, TLS); what the stored runs say (figures, time saved, the HTML report); the `--json` summary |
//! | 9 | `export`, `ci_output`, `consent`, `server` | the sinks a run's span goes to; what a run leaves for CI (annotations, job summary, JUnit); consent to a remote; `earlyexit serve`, the team server |
//! | 10 | `watch`, `telemetry`, `cli` | the wrapper (spawns the command, passes its output through, matches lines, keeps the timers, stops the process group); a run's span end to end, its live records, the runs of killed earlyexits closed; the command line |
//! | 11 | `commands` | `earlyexit telemetry …` and `earlyexit serve` |
//! | 12 | `app` | the edge: a command line in, an exit code out |
//!
//! What flows: `cli` resolves `config::Settings`; `app` runs `watch` with observers
//! (`summary` for `--json`, `telemetry` for the span); `watch` ends in an
//! `outcome::RunEnd`; `telemetry` turns it into a span, which `export` writes to the `store`
//! and hands to `delivery` through the outbox. While the command runs, `telemetry`'s live
//! thread keeps a running row in the `store` and sends live records through `delivery`. The
//! `commands` read the `store` and `analysis`.
//!
//! Where to start: a new flag, in `cli` and `config`; how output is read or a process
//! stopped, `watch`; what a span carries, `recording::attributes` and `recording::span`; a new
//! backend, `export` (and `delivery` when it sends); a new chart, `analysis::report`; the
//! outcome or an exit code, `outcome`. `docs/TELEMETRY_BACKENDS.md` is the design document the
//! config keys, environment variables and HTTP API come from.

mod analysis;
pub mod app;
mod ci_output;
pub mod cli;
mod commands;
pub mod config;
mod consent;
mod delivery;
mod duration;
mod evidence;
pub mod export;
mod fault;
mod files;
pub mod matcher;
mod message;
mod numbers;
pub mod observer;
pub mod outcome;
mod profile;
mod rate_limit;
pub mod recording;
mod secret_blocks;
mod server;
mod since;
mod store;
mod summary;
mod telemetry;
#[cfg(test)]
mod test_inputs;
mod timestamp;
mod urls;
pub mod watch;
