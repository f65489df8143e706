//! Signals as events in the run loop: a self-pipe wakes `poll`, and a flag says which
//! terminating signal arrived. SIGCHLD only wakes the loop, which then reaps.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

/// The signals that end a run (exit code 128 + the signal).
const TERMINATING: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

pub struct SignalWatcher {
    wake: UnixStream,
    terminating: Arc<AtomicUsize>,
}

impl SignalWatcher {
    /// Installs the handlers. Must happen before the child is spawned, so that no SIGCHLD is
    /// missed.
    pub fn install() -> io::Result<SignalWatcher> {
        let (wake, wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let terminating = Arc::new(AtomicUsize::new(0));
        for signal in TERMINATING {
            signal_hook::flag::register_usize(signal, Arc::clone(&terminating), signal as usize)?;
            signal_hook::low_level::pipe::register(signal, wake_writer.try_clone()?)?;
        }
        signal_hook::low_level::pipe::register(SIGCHLD, wake_writer)?;
        Ok(SignalWatcher { wake, terminating })
    }

    /// The descriptor that becomes readable when any watched signal arrives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Empties the wake-up pipe after `poll` reported it readable.
    pub fn drain(&mut self) {
        let mut buffer = [0u8; 64];
        while matches!(self.wake.read(&mut buffer), Ok(n) if n > 0) {}
    }

    /// The terminating signal that arrived since the last call, if any.
    pub fn take_terminating(&self) -> Option<i32> {
        match self.terminating.swap(0, Ordering::SeqCst) {
            0 => None,
            signal => Some(signal as i32),
        }
    }

    /// Sleeps until a signal arrives or `timeout` passes.
    pub fn wait(&mut self, timeout: Option<Duration>) {
        let timeout = timeout.map_or(PollTimeout::NONE, poll_timeout);
        let mut fds = [PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, timeout).unwrap_or(0) > 0 {
            self.drain();
        }
    }
}

/// Rounds up, so that a deadline 0.3 ms away does not become a busy loop of zero timeouts.
pub fn poll_timeout(duration: Duration) -> PollTimeout {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    PollTimeout::try_from(millis.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
}
