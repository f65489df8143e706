//! Spawning the command in its own process group, and ending that whole group.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{killpg, Signal};
use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::guardian::Guardian;
use super::signals::SignalWatcher;
use super::WatchError;

/// Variables that make common runtimes flush each line even when writing to a pipe. A value the
/// user already set wins.
const UNBUFFERING_ENVIRONMENT: &[(&str, &str)] = &[("PYTHONUNBUFFERED", "1")];

/// What the command's environment gets beyond ours, and loses.
pub struct Environment {
    pub added: Vec<(String, String)>,
    /// earlyexit's own credentials.
    pub removed: Vec<OsString>,
}

/// A running command, in a process group of its own: its guardian's, or led by the command
/// when the guardian could not start.
pub struct Child {
    pub pid: Pid,
    group: Pid,
    /// The command's status once it has been reaped (its exit code, or 128 + signal).
    pub status: Option<i32>,
    guardian: Option<Guardian>,
}

/// A command just spawned, with our ends of its output.
pub struct Spawned {
    pub child: Child,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Spawns `program` in a new process group, which its guardian leads.
pub fn spawn(
    program: &OsString,
    args: &[OsString],
    pty: bool,
    environment: &Environment,
) -> Result<Spawned, WatchError> {
    become_subreaper();
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::inherit())
        .stderr(Stdio::piped());
    for (name, value) in UNBUFFERING_ENVIRONMENT {
        if std::env::var_os(name).is_none() {
            command.env(name, value);
        }
    }
    for name in &environment.removed {
        command.env_remove(name);
    }
    command.envs(environment.added.iter().map(|(k, v)| (k, v)));
    // Before the pty's slave end is open here, which the guardian would hold open.
    let guardian = Guardian::start()
        .map_err(|error| {
            crate::message::say(format_args!(
                "cannot start the guardian ({error}): if earlyexit is killed, the command may outlive it"
            ))
        })
        .ok();
    command.process_group(
        guardian
            .as_ref()
            .map_or(0, |guardian| guardian.group().as_raw()),
    );
    let (mut child, pty_master) = match start(&mut command, program, pty) {
        Ok(started) => started,
        Err(error) => {
            if let Some(guardian) = guardian {
                guardian.release();
            }
            return Err(error);
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    // Our copy of the pty's slave end lives in `command`; it must close, or the master never
    // reports end of input.
    drop(command);
    let stdout: OwnedFd = match pty_master {
        Some(master) => master,
        None => child.stdout.take().expect("stdout was piped").into(),
    };
    let stderr: OwnedFd = child.stderr.take().expect("stderr was piped").into();
    set_nonblocking(&stdout)?;
    set_nonblocking(&stderr)?;
    Ok(Spawned {
        child: Child {
            pid,
            group: guardian.as_ref().map_or(pid, Guardian::group),
            status: None,
            guardian,
        },
        stdout,
        stderr,
    })
}

/// Starts the command, its output on a pty (whose master end is returned) or a pipe.
fn start(
    command: &mut Command,
    program: &OsString,
    pty: bool,
) -> Result<(std::process::Child, Option<OwnedFd>), WatchError> {
    let pty_master = if pty {
        let (master, slave) = open_pty().map_err(WatchError::Setup)?;
        command.stdout(Stdio::from(slave));
        Some(master)
    } else {
        command.stdout(Stdio::piped());
        None
    };
    let child = command.spawn().map_err(|source| WatchError::Spawn {
        program: program.to_string_lossy().into_owned(),
        source,
    })?;
    Ok((child, pty_master))
}

impl Child {
    /// Reaps whatever of the group has exited, without waiting. Returns true once the command
    /// itself has been reaped.
    pub fn reap(&mut self) -> bool {
        loop {
            match waitpid(
                Pid::from_raw(-self.group.as_raw()),
                Some(WaitPidFlag::WNOHANG),
            ) {
                Ok(WaitStatus::Exited(pid, code)) => self.record(pid, code),
                Ok(WaitStatus::Signaled(pid, signal, _)) => self.record(pid, 128 + signal as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.status.is_some()
    }

    fn record(&mut self, pid: Pid, status: i32) {
        if pid == self.pid {
            self.status = Some(status);
        }
    }

    /// True while any process of the group exists (zombies included).
    fn group_alive(&self) -> bool {
        killpg(self.group, None) != Err(Errno::ESRCH)
    }

    /// earlyexit is done with the group: its guardian leaves without touching it, and what
    /// the command started in the background keeps running, as it would without earlyexit.
    pub fn release(&mut self) {
        if let Some(guardian) = self.guardian.take() {
            guardian.release();
        }
    }

    /// Sends SIGTERM to the whole group, then SIGKILL after `grace` (or at once when another
    /// terminating signal arrives meanwhile), and reaps what it can. Never waits on the pipes.
    pub fn terminate_group(&mut self, grace: Duration, signals: &mut SignalWatcher) {
        let _ = killpg(self.group, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        loop {
            self.reap();
            if !self.group_alive() {
                return;
            }
            let now = Instant::now();
            if now >= deadline || signals.take_terminating().is_some() {
                break;
            }
            signals.wait(Some((deadline - now).min(Duration::from_millis(20))));
        }
        let _ = killpg(self.group, Signal::SIGKILL);
        // SIGKILL cannot be caught; the members vanish as soon as the kernel gets to them.
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            self.reap();
            if !self.group_alive() {
                return;
            }
            signals.wait(Some(Duration::from_millis(5)));
        }
    }
}

/// Orphaned grandchildren are re-parented to us instead of init, so that we can reap them and
/// no zombie of the group lingers after a stop.
fn become_subreaper() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), WatchError> {
    let flags = fcntl(fd.as_fd(), FcntlArg::F_GETFL).map_err(|e| WatchError::Setup(e.into()))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags)).map_err(|e| WatchError::Setup(e.into()))?;
    Ok(())
}

/// Opens a pseudo-terminal whose output processing is off, so that the bytes the command writes
/// arrive unchanged (no `\n` → `\r\n`), sized like our own terminal when there is one.
fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    let size = terminal_size().unwrap_or(nix::pty::Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let pty = nix::pty::openpty(&size, None)?;
    let mut attributes = tcgetattr(&pty.slave)?;
    attributes.output_flags.remove(OutputFlags::OPOST);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &attributes)?;
    Ok((pty.master, pty.slave))
}

fn terminal_size() -> Option<nix::pty::Winsize> {
    let mut size = std::mem::MaybeUninit::<nix::pty::Winsize>::zeroed();
    for fd in [io::stdout().as_raw_fd(), io::stderr().as_raw_fd()] {
        // SAFETY: TIOCGWINSZ writes a `struct winsize` into the pointer and nothing else.
        if unsafe { nix::libc::ioctl(fd, nix::libc::TIOCGWINSZ, size.as_mut_ptr()) } == 0 {
            // SAFETY: the ioctl succeeded, so the struct is initialised.
            return Some(unsafe { size.assume_init() });
        }
    }
    None
}
