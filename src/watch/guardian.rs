//! The command must not outlive earlyexit, even when earlyexit is killed with SIGKILL or by
//! the kernel's OOM killer and has no chance to stop it.
//!
//! A parent-death signal would reach only the command itself, not what it started (`npm test`
//! → `node`). So a small process, the guardian, joins the command's process group and waits on
//! a pipe whose only writer is earlyexit: end of file means earlyexit is gone, and it kills the
//! whole group, itself included; a byte means earlyexit is done with the group, and it leaves
//! quietly. It is plain POSIX, so it works wherever earlyexit does, and a CI runner's kill of
//! earlyexit's own group misses the command's group but not the guardian's end of file.
//!
//! The guardian is earlyexit's own executable started again (as `posix_spawn` starts the
//! command, without copying earlyexit), under the name [`GUARDIAN`]; it joins the group before
//! it runs, with default signal dispositions, so the group's SIGTERM ends it like the command.
//! A forked copy of earlyexit cost each run with telemetry 0.4 ms: every page that earlyexit
//! and its telemetry thread wrote afterwards was copied once more while the copy shared it.
//! If the guardian cannot start, the run goes on without it and says so in one line.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use nix::libc;
use nix::unistd::Pid;

use super::WatchError;

/// The name (`argv[0]`) under which earlyexit's executable runs as a guardian.
pub const GUARDIAN: &str = "earlyexit-guardian";

/// A guardian in the command's process group.
pub struct Guardian {
    /// The pipe's write end, for the release byte.
    release: OwnedFd,
    /// The guardian itself, reaped by [`Guardian::release`]: left to init once earlyexit exits,
    /// it would be a zombie wherever init does not reap (a container's first process often
    /// does not), one per run.
    process: std::process::Child,
}

impl Guardian {
    /// Starts the guardian of the process group `group`, in that group.
    pub fn start(group: Pid) -> Result<Guardian, WatchError> {
        use std::os::unix::process::CommandExt;
        let (read, write) = std::io::pipe()?;
        let process = Command::new(guardian_program()?)
            .arg0(GUARDIAN)
            .arg(group.as_raw().to_string())
            .process_group(group.as_raw())
            .env_clear()
            .stdin(Stdio::from(OwnedFd::from(read)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Guardian {
            release: write.into(),
            process,
        })
    }

    /// earlyexit is done with the group: the guardian leaves without touching it, and is
    /// reaped. It exits on the byte, or has already died with its group (a stop), so the wait
    /// is short either way.
    pub fn release(mut self) {
        let _ = nix::unistd::write(&self.release, b"r");
        let _ = self.process.wait();
    }
}

/// The guardian's program: `earlyexit-guardian` beside earlyexit (installed with it), which
/// starts in a fraction of earlyexit's time; else earlyexit's own executable, named so (on
/// Linux `/proc/self/exe`, which still starts when the file was replaced during the run).
fn guardian_program() -> std::io::Result<std::path::PathBuf> {
    let own = std::env::current_exe()?;
    let beside = own.with_file_name(GUARDIAN);
    if beside.is_file() {
        return Ok(beside);
    }
    if cfg!(target_os = "linux") {
        Ok(std::path::PathBuf::from("/proc/self/exe"))
    } else {
        Ok(own)
    }
}

/// Whether these arguments start a guardian rather than a run.
pub fn is_guardian(args: &[OsString]) -> bool {
    args.first()
        .is_some_and(|name| name.to_str() == Some(GUARDIAN))
}

/// The guardian's whole life: wait on standard input; at its end, kill the group named by the
/// first argument. Returns the exit code.
pub fn guard(args: &[OsString]) -> i32 {
    let Some(group) = args
        .get(1)
        .and_then(|group| group.to_str()?.parse::<i32>().ok())
        .filter(|&group| group > 1)
    else {
        return 3;
    };
    let mut release = [0u8; 1];
    loop {
        match nix::unistd::read(std::io::stdin(), &mut release) {
            Err(nix::errno::Errno::EINTR) => {}
            Ok(0) => {
                // SAFETY: kill only reads its arguments.
                unsafe { libc::kill(-group, libc::SIGKILL) };
                return 0;
            }
            _ => return 0,
        }
    }
}
