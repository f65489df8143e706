//! The one background sender per database that `http.async` and `fire_and_forget` hand a run's
//! delivery to: `earlyexit telemetry sync --background`, started with the database's sender
//! lock as its standard input.

use std::fs::{File, TryLockError};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The lock that one background sender of this database holds while it runs.
fn sender_lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".sender-lock");
    PathBuf::from(name)
}

/// Starts `earlyexit telemetry sync --background` for this database unless a sender holds
/// its lock already (then that sender will find the rows just committed). The lock is taken
/// here and handed over as the sender's standard input, so that between the check and the
/// sender's start no second run can start another. Returns whether a sender was started.
pub fn start_background_sender(database: &Path, config: Option<&Path>) -> io::Result<bool> {
    let lock = crate::files::append_private(&sender_lock_path(database))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(false),
        Err(TryLockError::Error(error)) => return Err(error),
    }
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["telemetry", "sync", "--background"]);
    if let Some(config) = config {
        command.arg("--config").arg(std::path::absolute(config)?);
    }
    command
        // A sender that outlives the run must not keep its working directory busy.
        .current_dir("/")
        .stdin(Stdio::from(lock))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's foreground group: a Ctrl-C meant for the next command in the
        // shell does not stop the delivery of this one.
        .process_group(0)
        .spawn()?;
    Ok(true)
}

/// The background sender's side of the lock: its standard input.
pub struct SenderLock(File);

impl SenderLock {
    /// The lock this process was started with.
    pub fn inherited() -> io::Result<SenderLock> {
        use std::os::fd::AsFd;
        Ok(SenderLock(File::from(
            io::stdin().as_fd().try_clone_to_owned()?,
        )))
    }

    /// Lets go of the lock; the caller then looks for rows committed by runs that found it
    /// held, and takes it again with [`SenderLock::retake`] if there are any.
    pub fn release(&self) -> io::Result<()> {
        self.0.unlock()
    }

    /// Takes the lock again; false when another sender has it now.
    pub fn retake(&self) -> io::Result<bool> {
        match self.0.try_lock() {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(error)) => Err(error),
        }
    }
}
