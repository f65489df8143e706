//! Helpers shared by the integration tests: run the real binary, read what it printed, and
//! check that no process of a run's group survived.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

pub mod collector;
pub mod http;
pub mod postgres;
pub mod receiver;
pub mod server;
pub mod silent;
pub mod team;
pub mod tls_front;

pub use collector::{run_otlp, Collector, DumpedSpan};
pub use receiver::{Faults, Receiver, RECEIVER_KEY};
pub use silent::SilentServer;
pub use tls_front::TlsFront;

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

/// The variables by which earlyexit detects a CI system, and then uses CI's exit codes: the
/// tests choose the mode themselves, so a CI job running them must not choose it for them.
pub const CI_MARKERS: [&str; 9] = [
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "JENKINS_URL",
    "CIRCLECI",
    "BUILDKITE",
    "TF_BUILD",
    "TRAVIS",
    "EARLYEXIT_EXIT_CODES",
];

/// The earlyexit binary with these arguments, stdin closed, telemetry off (the telemetry
/// tests use [`Home`] instead), outside CI.
pub fn earlyexit(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_earlyexit"));
    command
        .args(args)
        .stdin(Stdio::null())
        .env("EARLYEXIT_NO_TELEMETRY", "1");
    for marker in CI_MARKERS {
        command.env_remove(marker);
    }
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
    let mut command = earlyexit(args);
    let mut child = command
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

/// A shell command that prints the shell's process group: the command's, which its guardian
/// leads (so not `$$`).
macro_rules! say_group {
    () => {
        "cut -d' ' -f5 /proc/$$/stat"
    };
}
pub const SAY_GROUP: &str = say_group!();

/// Kills what a test deliberately left running.
pub fn kill_group(pgid: i32) {
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
}

/// A temporary HOME for telemetry tests: earlyexit runs in a clean environment (PATH and HOME
/// only, so that neither the developer's config nor CI's variables leak in) and writes to
/// `HOME/.earlyexit`. Removed on drop.
pub struct Home {
    pub dir: std::path::PathBuf,
}

impl Home {
    pub fn new() -> Home {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "earlyexit-home-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Home { dir }
    }

    /// earlyexit with these arguments, in this home, working directory = the home.
    pub fn earlyexit(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_earlyexit"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        command
    }

    pub fn state_dir(&self) -> std::path::PathBuf {
        self.dir.join(".earlyexit")
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.state_dir().join("telemetry.db")
    }

    pub fn jsonl_path(&self) -> std::path::PathBuf {
        self.state_dir().join("telemetry.jsonl")
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db_path()).expect("the database exists")
    }

    /// Writes `~/.earlyexit/config.yaml`.
    pub fn write_config(&self, text: &str) -> std::path::PathBuf {
        std::fs::create_dir_all(self.state_dir()).unwrap();
        let path = self.state_dir().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Rows of a query on the local database, as strings.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        query_rows(&self.db_path(), sql)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An example of this package (`examples/NAME.rs`): `cargo test` builds them with the tests;
/// a run of one test target (`--test tests`) builds it here.
pub fn example(name: &str) -> std::path::PathBuf {
    let earlyexit = std::path::Path::new(env!("CARGO_BIN_EXE_earlyexit"));
    let path = earlyexit.parent().unwrap().join("examples").join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", name])
            .status()
            .expect("cargo builds the example");
        assert!(status.success());
    }
    path
}

/// A loopback port that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A free loopback port below the kernel's ephemeral range, for a server that is stopped and
/// started again on the same port: in the gap, a port from the ephemeral range can be taken
/// by any outgoing connection (thousands of them under the load tests).
pub fn port_to_restart_on() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    // Each test process starts at its own place, and takes the next free port from there.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 10_000 + (std::process::id() % 5_000) as u16;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::SeqCst) % (low - base).max(1);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Rows of a query on a SQLite file, each value as a string (NULL as "NULL").
pub fn query_rows(path: &std::path::Path, sql: &str) -> Vec<Vec<String>> {
    use rusqlite::types::ValueRef;
    let connection = rusqlite::Connection::open(path).expect("the database exists");
    let mut statement = connection.prepare(sql).unwrap();
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => "NULL".to_string(),
                        ValueRef::Integer(n) => n.to_string(),
                        ValueRef::Real(f) => f.to_string(),
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        ValueRef::Blob(b) => format!("{b:?}"),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Runs `command` with a terminal on its stdin, types `answer`, and returns the exit code and
/// what it printed on stderr.
pub fn answer_on_terminal(command: &mut Command, answer: &str) -> (i32, String) {
    use std::io::Read;
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut child = command
        .stdin(Stdio::from(pty.slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    master.write_all(answer.as_bytes()).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), stderr)
}

/// Lets `command` hold at most `bytes` of data (RLIMIT_DATA: heap and private mappings): past
/// it an allocation fails and the process aborts. A peak resident size from wait4 cannot be
/// had here, because it includes the test binary's own size at the spawn.
pub fn limit_memory(command: &mut Command, bytes: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_DATA, bytes, bytes)
                .map_err(std::io::Error::from)
        });
    }
    command
}

/// Every process still running (not a zombie) that `keep` keeps, by pid.
pub fn live_processes(keep: impl Fn(i32) -> bool) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| keep(pid) && !is_dead(pid))
        .collect()
}

/// Every process of `pgid` that is still running. A killed command whose earlyexit is gone
/// is a zombie until the system's first process reaps it, which some never do promptly: a
/// zombie counts as gone.
pub fn live_members(pgid: i32) -> Vec<i32> {
    live_processes(|pid| group_of(pid) == Some(pgid))
}

/// The process group of a process, while it exists.
pub fn group_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp …; the name may hold spaces and parentheses.
    let (_, after_name) = stat.rsplit_once(") ")?;
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// True when `pid` is gone or a zombie (a zombie whose parent died waits for init to reap it,
/// which a container's init may never do).
pub fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Runs the openssl command with these words (none of which contains a space) in `dir`.
pub fn openssl(dir: &std::path::Path, words: &str) {
    let output = Command::new("openssl")
        .args(words.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("the openssl command runs");
    assert!(
        output.status.success(),
        "openssl {words}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Headless Chromium (Debian's package, which tests/install-and-run.sh installs) on `page`
/// with these extra flags; its stdout and stderr.
pub fn chromium(page: &std::path::Path, flags: &[&str]) -> (String, String) {
    chromium_url(&format!("file://{}", page.display()), flags)
}

/// Headless Chromium on a URL (`http://user:key@127.0.0.1:PORT/` for a page behind a key).
pub fn chromium_url(url: &str, flags: &[&str]) -> (String, String) {
    let profile = Home::new();
    let output = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.dir.display()))
        .args(flags)
        .arg(url)
        .output()
        .expect("chromium runs (apt-get install chromium)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
