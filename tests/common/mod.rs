//! Helpers shared by the integration tests: run the real binary, read what it printed, and
//! check that no process of a run's group survived.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// What a finished run of earlyexit showed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// The `--json` summary.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout_text()))
    }
    /// The first line of stdout as a pid (tests print `$$` first).
    pub fn first_line_pid(&self) -> i32 {
        let text = self.stdout_text();
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {text:?}"))
    }
}

/// The earlyexit binary with these arguments, stdin closed, telemetry off (the telemetry
/// tests use [`Home`] instead).
pub fn earlyexit(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_earlyexit"));
    command
        .args(args)
        .stdin(Stdio::null())
        .env("EARLYEXIT_NO_TELEMETRY", "1");
    command
}

/// Runs to the end and collects everything.
pub fn run(command: &mut Command) -> Run {
    let start = Instant::now();
    let output = command.output().expect("earlyexit runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: output.stderr,
        elapsed: start.elapsed(),
    }
}

/// Runs `earlyexit args` with `input` on its stdin (pipe mode).
pub fn run_with_input(args: &[&str], input: &[u8]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_earlyexit"))
        .args(args)
        .env("EARLYEXIT_NO_TELEMETRY", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("earlyexit runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    let _ = writer.join();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: output.stderr,
        elapsed: start.elapsed(),
    }
}

/// True when no process of the group exists any more (allowing a moment for the kernel).
pub fn group_is_gone(pgid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        if killpg(Pid::from_raw(pgid), None) == Err(Errno::ESRCH) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills what a test deliberately left running.
pub fn kill_group(pgid: i32) {
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
}
