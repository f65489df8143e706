//! earlyexit: run a command, show its output live, and stop it the moment an error pattern
//! appears or it hangs.

pub mod app;
pub mod ci_output;
pub mod cli;
pub mod commands;
pub mod config;
pub mod consent;
pub mod duration;
pub mod fault;
pub mod files;
pub mod matcher;
pub mod message;
pub mod observer;
pub mod outcome;
#[cfg(test)]
mod properties;
pub mod summary;
pub mod telemetry;
pub mod timestamp;
pub mod urls;
pub mod watch;
