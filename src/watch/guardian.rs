//! The command must not outlive earlyexit, even when earlyexit is killed with SIGKILL or by
//! the kernel's OOM killer and has no chance to stop it.
//!
//! A parent-death signal would reach only the command itself, not what it started (`npm test`
//! → `node`). So a small process, the guardian, leads the process group that the command then
//! starts in, and waits on a pipe whose only writer is earlyexit: end of file means earlyexit
//! is gone, and it kills the whole group, itself included; a byte means earlyexit is done with
//! the group, and it leaves quietly. A CI runner's kill of earlyexit's own group misses the
//! command's group but not the guardian's end of file.
//!
//! The guardian is there before the command's first instruction, since a kill can come at any
//! time: the group exists, watched, before the command starts in it. (Were the command to lead
//! its own group, the guardian would learn the group only once earlyexit runs again after the
//! command's `exec`, which on a busy machine is milliseconds later; a test kills earlyexit 5 ms
//! into its run.) So the command's process group is not its pid.
//!
//! It must also cost a short run about nothing. Neither an executable started again (0.16 ms,
//! and a second program to install) nor a fork (its copy-on-write faults cost each run with
//! telemetry 0.4 ms) is that. On Linux it is a `clone` that shares earlyexit's memory, as
//! `posix_spawn` makes its child: nothing is copied, and the guardian runs a few system calls
//! on a stack of its own. Sharing memory, it calls only async-signal-safe functions whose
//! arguments it cannot get wrong, so that it never writes even `errno` while earlyexit runs.
//! Elsewhere it is a fork that does the same.
//!
//! If the guardian cannot start, the run goes on without it and says so in one line.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::WatchError;

/// The guardian's stack: it calls a handful of libc's system-call wrappers, nothing more.
#[cfg(target_os = "linux")]
const STACK: usize = 64 * 1024;

/// The guardian of the command's process group, and its leader.
pub struct Guardian {
    /// The pipe's write end, for the release byte.
    release: OwnedFd,
    /// The guardian, reaped by [`reap_released`].
    pid: Pid,
}

/// What the guardian is told.
#[derive(Clone, Copy)]
struct Watch {
    /// The pipe's read end.
    pipe: RawFd,
    /// The pipe's write end, which the guardian must not hold: its end of file is earlyexit's
    /// end.
    release: RawFd,
}

impl Guardian {
    /// Starts a guardian, the leader of a new process group for the command to start in.
    pub fn start() -> Result<Guardian, WatchError> {
        let (read, write) = std::io::pipe()?;
        let watch = Watch {
            pipe: read.as_raw_fd(),
            release: write.as_raw_fd(),
        };
        // Until the guardian has set its own signal dispositions, a signal would run one of
        // earlyexit's handlers on earlyexit's memory: it starts with every signal blocked.
        let all = SigSet::all();
        let mut previous = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&all), Some(&mut previous))
            .map_err(std::io::Error::from)?;
        let started = start_process(watch);
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
        let pid = started?;
        // The guardian makes its group itself, first thing; made here too, so that the group
        // exists before the command starts in it, however the two are scheduled.
        let _ = nix::unistd::setpgid(pid, pid);
        drop(read);
        Ok(Guardian {
            release: write.into(),
            pid,
        })
    }

    /// The process group the command is to start in.
    pub fn group(&self) -> Pid {
        self.pid
    }

    /// earlyexit is done with the group: the guardian leaves without touching it. It is
    /// reaped by [`reap_released`], by when it has long exited: waiting for it here would cost
    /// every run two context switches.
    pub fn release(self) {
        let _ = nix::unistd::write(&self.release, b"r");
        RELEASED.store(self.pid.as_raw(), Ordering::Relaxed);
    }
}

/// The guardian released last, not yet reaped.
static RELEASED: AtomicI32 = AtomicI32::new(0);

/// Reaps the released guardian, before earlyexit exits: left to init, it would be a zombie
/// wherever init does not reap (a container's first process often does not), one per run. It
/// exited on its byte, or died with its group (whose reaping may have taken it already).
pub fn reap_released() {
    let pid = RELEASED.swap(0, Ordering::Relaxed);
    if pid > 0 {
        let _ = waitpid(Pid::from_raw(pid), None);
    }
}

/// Makes the guardian process, sharing earlyexit's memory.
#[cfg(target_os = "linux")]
fn start_process(watch: Watch) -> std::io::Result<Pid> {
    // SAFETY: a fresh anonymous mapping; it is never unmapped, since the guardian may run on
    // it after earlyexit's last line (it is a few pages, once per run).
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // What it watches sits at the stack's far end, away from where the stack grows down from.
    let watch_at = stack.cast::<Watch>();
    // SAFETY: the mapping is writable, page-aligned and larger than `Watch`.
    unsafe { watch_at.write(watch) };
    // SAFETY: the stack's top is inside the mapping and 16-byte aligned; `guard_entry` calls
    // only async-signal-safe functions and never returns into earlyexit's code.
    let pid = unsafe {
        libc::clone(
            guard_entry,
            stack.cast::<u8>().add(STACK).cast(),
            libc::CLONE_VM | libc::SIGCHLD,
            watch_at.cast(),
        )
    };
    if pid < 0 {
        let error = std::io::Error::last_os_error();
        // SAFETY: no guardian runs on the mapping.
        unsafe { libc::munmap(stack, STACK) };
        return Err(error);
    }
    Ok(Pid::from_raw(pid))
}

#[cfg(target_os = "linux")]
extern "C" fn guard_entry(watch: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `start_process` wrote a `Watch` there and never frees it.
    guard(unsafe { *watch.cast::<Watch>() })
}

/// Forks the guardian where `clone` is not available.
#[cfg(not(target_os = "linux"))]
fn start_process(watch: Watch) -> std::io::Result<Pid> {
    // SAFETY: the child calls only async-signal-safe functions, then exits.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            guard(watch);
            unreachable!("guard exits")
        }
        nix::unistd::ForkResult::Parent { child } => Ok(child),
    }
}

/// The guardian's whole life: lead a new process group; with the signal dispositions a fresh
/// process has, wait on the pipe; at its end, kill the group. Never returns.
///
/// The other descriptors it shares with earlyexit at its start it holds no longer than
/// earlyexit does, and closing them one by one could fail, which would write `errno`.
fn guard(watch: Watch) -> libc::c_int {
    // SAFETY: every call below is async-signal-safe, with arguments that cannot fail: a
    // process that leads no session making its own group, signals 1 to 31 but the two that
    // cannot be caught, descriptors open in this process, its own group. `read` is the raw
    // system call, since libc's wrapper, a cancellation point, would write to the cancellation
    // state of the earlyexit thread that made the guardian.
    unsafe {
        // Before anything else: its kill of the group must never reach earlyexit's own.
        libc::setpgid(0, 0);
        for signal in 1..32 {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
        libc::close(watch.release);
        let mut unblocked: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblocked);
        libc::sigprocmask(libc::SIG_SETMASK, &unblocked, std::ptr::null_mut());
        let mut byte = 0u8;
        // No handler is set, so no signal interrupts the read: each either ends the guardian
        // or is ignored.
        let buffer = (&mut byte as *mut u8).cast::<libc::c_void>();
        #[cfg(target_os = "linux")]
        let read = libc::syscall(libc::SYS_read, watch.pipe, buffer, 1usize);
        #[cfg(not(target_os = "linux"))]
        let read = libc::read(watch.pipe, buffer, 1);
        if read == 0 {
            libc::kill(0, libc::SIGKILL);
        }
        libc::_exit(0)
    }
}
