//! `telemetry prune` and `telemetry clear`: deleting recorded runs.

use std::io::{BufRead, IsTerminal};
use std::time::{Duration, SystemTime};

use super::{open_or_say, CommandError};
use crate::config::TelemetrySettings;
use crate::duration::format_duration;
use crate::store::Table;

pub fn prune(settings: &TelemetrySettings, older_than: Duration) -> Result<(), CommandError> {
    let Some(mut store) = open_or_say(settings, "prune")? else {
        return Ok(());
    };
    let removed = store.prune_before(crate::timestamp::before(SystemTime::now(), older_than))?;
    println!(
        "removed {removed} run(s) older than {}",
        format_duration(older_than)
    );
    Ok(())
}

pub fn clear(settings: &TelemetrySettings, yes: bool) -> Result<(), CommandError> {
    let Some(mut store) = open_or_say(settings, "clear")? else {
        return Ok(());
    };
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CommandError::Usage(
                "telemetry clear needs --yes when there is no terminal to ask on".into(),
            ));
        }
        let runs = store.count(Table::Executions)?;
        eprint!(
            "Delete all {runs} recorded runs from {}? [y/N] ",
            store.path().display()
        );
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            println!("nothing deleted");
            return Ok(());
        }
    }
    let removed = store.clear()?;
    println!("deleted {removed} run(s) from {}", store.path().display());
    Ok(())
}
