//! The integration tests: one binary, one module per area (as ripgrep's `tests/tests.rs`).
//! Every test runs the real earlyexit binary against real peers; `common` has the helpers.

#[macro_use]
mod common;

mod after_context;
mod ci_native;
mod collector_config;
mod conventions;
mod corpus;
mod dashboards;
mod errors;
mod hostile;
mod layering;
mod live;
mod matching;
mod modes;
mod observer;
mod otel_environment;
mod otlp;
mod outcomes;
mod passthrough;
mod process_control;
mod remote;
mod serve;
mod serve_access;
mod serve_alerts;
mod serve_edges;
mod serve_faults;
mod serve_report;
mod serve_running;
mod team_page;
mod team_postgres;
mod team_postgres_tls;
mod team_report;
mod team_retention;
mod telemetry;
mod telemetry_commands;
mod telemetry_config;
mod telemetry_faults;
