//! Unbuffered writes to our own stdout and stderr.
//!
//! `std::io::Stdout` holds a partial line until its newline; a prompt or a progress bar must
//! appear at once, so the command's bytes go straight to the descriptor.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Writes all of `bytes` to `fd`, waiting if the descriptor is non-blocking and full.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(written) => bytes = &bytes[written..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}
