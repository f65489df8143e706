//! `telemetry status`: the backend in force, where runs go, the database, and every setting
//! with where its value came from.

use std::io::Write;

use serde::Serialize;

use super::{close_lost, open, CommandError, Shown};
use crate::config::telemetry::Backend;
use crate::config::TelemetrySettings;
use crate::delivery;
use crate::store::Table;

#[derive(Serialize)]
pub struct Status {
    enabled: bool,
    backend: Backend,
    destination: Option<String>,
    config_file: Option<String>,
    database: Database,
    settings: InForce,
}

#[derive(Serialize)]
struct Database {
    path: String,
    exists: bool,
    executions: Option<i64>,
    match_events: Option<i64>,
    schema_version: Option<i64>,
    outbox: Option<i64>,
    /// Outbox rows set aside because they cannot be read.
    set_aside: Option<i64>,
    /// Runs in progress on this machine (after closing those of killed earlyexits).
    running: Option<i64>,
    /// Runs of killed earlyexits that this status closed as lost.
    closed_as_lost: usize,
    last_delivery_error: Option<String>,
}

#[derive(Serialize)]
struct Setting {
    value: String,
    source: String,
}

/// The settings in the order of the key table, shown as one JSON object.
struct InForce(Vec<(&'static str, Setting)>);

impl Serialize for InForce {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(key, setting)| (key, setting)))
    }
}

/// Where this run's telemetry goes: the local file or database, and the remote.
fn destination(settings: &TelemetrySettings) -> Option<String> {
    let local = match settings.backend {
        Backend::File => Some(settings.file.path.display().to_string()),
        _ if settings.writes_locally() => Some(settings.sqlite.path.display().to_string()),
        _ => None,
    };
    let remote = settings.remote().map(|remote| {
        delivery::destination(settings, remote).unwrap_or_else(|| "(no endpoint configured)".into())
    });
    let both: Vec<String> = [local, remote].into_iter().flatten().collect();
    (!both.is_empty()).then(|| both.join(" and "))
}

pub fn status(settings: &TelemetrySettings) -> Result<Status, CommandError> {
    let closed_as_lost = close_lost(settings);
    let store = open(settings)?;
    let database = Database {
        path: settings.sqlite.path.display().to_string(),
        exists: store.is_some(),
        executions: store
            .as_ref()
            .map(|s| s.count(Table::Executions))
            .transpose()?,
        match_events: store
            .as_ref()
            .map(|s| s.count(Table::MatchEvents))
            .transpose()?,
        schema_version: store.as_ref().map(|s| s.schema_version()).transpose()?,
        outbox: store.as_ref().map(|s| s.count(Table::Outbox)).transpose()?,
        set_aside: store.as_ref().map(|s| s.set_aside_count()).transpose()?,
        running: store.as_ref().map(|s| s.running_count()).transpose()?,
        closed_as_lost,
        last_delivery_error: match &store {
            Some(store) => store.last_delivery_error()?,
            None => None,
        },
    };
    let settings_in_force = InForce(
        settings
            .describe()
            .into_iter()
            .map(|(key, value, origin)| {
                let source = origin.to_string();
                (key, Setting { value, source })
            })
            .collect(),
    );
    Ok(Status {
        enabled: settings.is_active(),
        backend: settings.backend,
        destination: destination(settings),
        config_file: settings
            .config_file
            .as_ref()
            .map(|p| p.display().to_string()),
        database,
        settings: settings_in_force,
    })
}

impl Shown for Status {
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let state = if self.enabled { "enabled" } else { "disabled" };
        writeln!(out, "telemetry: {state}, backend {}", self.backend)?;
        if let Some(destination) = &self.destination {
            writeln!(out, "writes to: {destination}")?;
        }
        let database = &self.database;
        match (
            database.executions,
            database.match_events,
            database.schema_version,
            database.outbox,
        ) {
            (Some(runs), Some(matches), Some(schema), Some(outbox)) => {
                let aside = match database.set_aside {
                    Some(aside) if aside > 0 => {
                        format!(
                            ", {aside} set aside as unreadable or refused by the remote \
                             (table outbox_aside, with the reason)"
                        )
                    }
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "database: {} ({runs} runs, {matches} match events, schema {schema}, {outbox} waiting to be sent{aside})",
                    database.path
                )?
            }
            _ => writeln!(out, "database: {} (not created yet)", database.path)?,
        }
        if let Some(running) = database.running.filter(|&running| running > 0) {
            writeln!(out, "runs in progress: {running}")?;
        }
        if let Some(error) = &database.last_delivery_error {
            writeln!(out, "last delivery error: {error}")?;
        }
        match &self.config_file {
            Some(path) => writeln!(out, "config file: {path}")?,
            None => writeln!(out, "config file: none read")?,
        }
        writeln!(out, "settings:")?;
        let in_force = &self.settings.0;
        let width = in_force.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let value_width = in_force
            .iter()
            .map(|(_, s)| s.value.len())
            .max()
            .unwrap_or(0);
        for (key, setting) in in_force {
            let Setting { value, source } = setting;
            writeln!(out, "  {key:width$}  {value:value_width$}  ({source})")?;
        }
        Ok(())
    }
}
