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
//! The guardian is forked right after the command: a fork copies the page tables, and every
//! page that earlyexit writes afterwards is copied once more while the guardian shares it.
//! Late in the run few such writes remain (forked before telemetry's thread started, it cost
//! 0.15 ms more per run; see benches/README.md). Signals are blocked across the fork, so that
//! the group's SIGTERM never finds the guardian with earlyexit's handlers: it dies of it, like
//! the command.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use nix::unistd::{ForkResult, Pid};

use super::WatchError;

/// A forked guardian in the command's process group.
pub struct Guardian {
    /// The pipe's write end, for the release byte.
    release: OwnedFd,
}

impl Guardian {
    /// Forks the guardian of the process group `group` and puts it into that group.
    pub fn start(group: Pid) -> Result<Guardian, WatchError> {
        let setup = |e: Errno| WatchError::Setup(e.into());
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(setup)?;
        let mut before = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut before),
        )
        .map_err(setup)?;
        // SAFETY: the child only makes async-signal-safe system calls and never returns.
        let forked = unsafe { nix::unistd::fork() };
        if let Ok(ForkResult::Child) = forked {
            guard(read.as_raw_fd(), group.as_raw(), &before);
        }
        if let Ok(ForkResult::Parent { child }) = forked {
            // From here too, so that the guardian is in the group before the run can stop it.
            let _ = nix::unistd::setpgid(child, group);
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&before), None);
        forked.map_err(setup)?;
        Ok(Guardian { release: write })
    }

    /// earlyexit is done with the group: the guardian leaves without touching it.
    pub fn release(self) {
        let _ = nix::unistd::write(&self.release, b"r");
    }
}

/// Reads exactly `buffer.len()` bytes from fd 0; false at end of file.
///
/// # Safety
/// Async-signal-safe; for the forked guardian only.
unsafe fn read_exactly(buffer: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buffer.len() {
        // SAFETY: the pointer and length describe the unread rest of `buffer`.
        let read =
            unsafe { libc::read(0, buffer[done..].as_mut_ptr().cast(), buffer.len() - done) };
        match read {
            0 => return false,
            -1 if Errno::last_raw() == libc::EINTR => {}
            -1 => return false,
            n => done += n as usize,
        }
    }
    true
}

/// The guardian's whole life, in a forked copy of a process with threads: system calls only.
fn guard(pipe: i32, group: i32, mask: &SigSet) -> ! {
    // SAFETY: each call is async-signal-safe; no memory is allocated and no lock taken.
    unsafe {
        // earlyexit's handlers would catch the group's SIGTERM; the guardian must die of it.
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGCHLD] {
            libc::signal(signal, libc::SIG_DFL);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, mask.as_ref(), std::ptr::null_mut());
        if libc::getpgid(0) != group && libc::setpgid(0, group) != 0 {
            // The command has already gone.
            libc::_exit(0);
        }
        libc::dup2(pipe, 0);
        close_from(1);
        let mut release = [0u8; 1];
        if !read_exactly(&mut release) {
            libc::kill(-group, libc::SIGKILL);
        }
        libc::_exit(0)
    }
}

/// Closes every descriptor from `first` on, so that nothing of earlyexit's stays open in the
/// guardian: not its output, a lock or the database. One system call where the kernel has it:
/// a loop of a thousand `close` calls competes with the run for the CPU.
///
/// # Safety
/// Async-signal-safe; for the forked guardian only.
unsafe fn close_from(first: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: close_range takes two descriptor numbers and flags, and touches no memory.
    if unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) } == 0 {
        return;
    }
    for fd in first..1024 {
        // SAFETY: closing a number that is not open is EBADF, nothing more.
        unsafe { libc::close(fd) };
    }
}
