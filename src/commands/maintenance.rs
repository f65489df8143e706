//! `telemetry prune` and `telemetry clear`: deleting recorded runs.

use std::io::{BufRead, IsTerminal};
use std::time::{Duration, SystemTime};

use super::{open_or_say, CommandError};
use crate::config::TelemetrySettings;
use crate::duration::format_duration;
use crate::store::{Table, FORGET_BATCH};

pub fn prune(settings: &TelemetrySettings, older_than: Duration) -> Result<(), CommandError> {
    let Some(mut store) = open_or_say(settings, "prune")? else {
        return Ok(());
    };
    let cutoff = crate::timestamp::before(SystemTime::now(), older_than);
    if !store.is_team()? {
        let removed = store.prune_before(cutoff)?;
        println!(
            "removed {removed} run(s) older than {}",
            format_duration(older_than)
        );
        return Ok(());
    }
    // A team database's kept figures are whole days: the runs of whole days go, with them.
    let cutoff = crate::timestamp::start_of_day(cutoff);
    let mut removed = 0;
    loop {
        let fold = Box::<crate::analysis::rollup::StoreFold>::default();
        let batch = store.forget_before(cutoff, FORGET_BATCH, fold)?;
        removed += batch;
        if batch < FORGET_BATCH {
            break;
        }
    }
    println!(
        "removed {removed} run(s) of the days before {} (the team report's figures with them)",
        crate::timestamp::day(&crate::timestamp::millis(cutoff))
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
