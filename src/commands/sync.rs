//! `telemetry sync`: sends what waits in the outbox, in the foreground or as the one
//! background sender of `http.async`.

use std::time::Duration;

use super::{close_lost, open, open_or_say, CommandError};
use crate::config::telemetry::Remote;
use crate::config::TelemetrySettings;
use crate::delivery::{Courier, Drained, SenderLock, Transport};
use crate::store::Store;

/// The remotes with something to send: those that have rows waiting, and the one configured.
fn remotes_to_sync(
    settings: &TelemetrySettings,
    store: &Store,
) -> Result<Vec<Remote>, CommandError> {
    let mut remotes = Vec::new();
    for &remote in <Remote as clap::ValueEnum>::value_variants() {
        let configured = match remote {
            Remote::Http => settings.http.endpoint.is_some(),
            Remote::Otlp => settings.remote() == Some(Remote::Otlp),
        };
        if configured || store.waiting(remote)? > 0 {
            remotes.push(remote);
        }
    }
    Ok(remotes)
}

/// The transport of one remote, with this process's resource for OTLP.
fn transport(settings: &TelemetrySettings, remote: Remote) -> Result<Transport, CommandError> {
    let mut transport = Transport::of(remote, settings)?;
    transport.set_resource(&crate::recording::resource(settings));
    Ok(transport)
}

/// Drains one remote's outbox: every batch no other sender holds, each within the timeout.
fn drain(
    settings: &TelemetrySettings,
    store: &mut Store,
    transport: &Transport,
) -> Result<Drained, CommandError> {
    let mut courier = Courier {
        store,
        transport,
        batch_size: settings.http.batch_size.get(),
        set_aside: 0,
    };
    Ok(futures_executor::block_on(courier.drain())?)
}

pub fn sync(settings: &TelemetrySettings) -> Result<(), CommandError> {
    close_lost(settings);
    let Some(mut store) = open_or_say(settings, "send")? else {
        return Ok(());
    };
    let remotes = remotes_to_sync(settings, &store)?;
    if remotes.is_empty() {
        println!("nothing to send: no remote is configured and the outbox is empty");
        return Ok(());
    }
    let mut failures = Vec::new();
    for remote in remotes {
        let transport = transport(settings, remote)?;
        let drained = drain(settings, &mut store, &transport)?;
        println!(
            "sent {} run(s) to {}; {} left",
            drained.sent,
            transport.destination(),
            drained.left
        );
        if drained.set_aside > 0 {
            crate::message::say(format!(
                "set aside {} run(s) that cannot be read or that the remote refuses for good (kept in outbox_aside with the reason; telemetry status counts them)",
                drained.set_aside
            ));
        }
        failures.extend(drained.error);
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(CommandError::NotSent(failures)),
    }
}

/// The background sender of `http.async`: drains every remote while it holds the sender lock
/// (its stdin), then lets go and looks once more, so that a run which committed a row while
/// the lock was held, and so started no sender of its own, is never left waiting. A failed
/// batch ends it: the rows wait for the next run or `telemetry sync`.
pub fn sync_in_background(settings: &TelemetrySettings) -> Result<(), CommandError> {
    let lock = SenderLock::inherited().map_err(CommandError::SenderLock)?;
    let Some(mut store) = open(settings)? else {
        return Ok(());
    };
    // Built once each, when a remote first has rows: the OTLP exporter starts a runtime.
    let mut transports: Vec<Transport> = Vec::new();
    loop {
        for remote in remotes_to_sync(settings, &store)? {
            let index = match transports.iter().position(|t| t.remote() == remote) {
                Some(index) => index,
                None => {
                    transports.push(transport(settings, remote)?);
                    transports.len() - 1
                }
            };
            let drained = drain(settings, &mut store, &transports[index])?;
            if let Some(error) = drained.error {
                return Err(CommandError::NotSent(vec![error]));
            }
        }
        // Runs started together commit over some milliseconds: waiting a moment for them
        // sends them in full batches, and lets them find this sender still running.
        std::thread::sleep(SENDER_LINGER);
        if unclaimed(&store)? > 0 {
            continue;
        }
        lock.release().map_err(CommandError::SenderLock)?;
        if unclaimed(&store)? == 0 || !lock.retake().map_err(CommandError::SenderLock)? {
            return Ok(());
        }
    }
}

/// How long the background sender waits, once the outbox is empty, for more runs to commit.
const SENDER_LINGER: Duration = Duration::from_millis(200);

/// Rows of every remote that no sender holds.
fn unclaimed(store: &Store) -> Result<i64, CommandError> {
    let mut waiting = 0;
    for &remote in <Remote as clap::ValueEnum>::value_variants() {
        waiting += store.unclaimed(remote)?;
    }
    Ok(waiting)
}
