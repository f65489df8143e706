//! `earlyexit serve` as the tests start it: a team database in a home of its own, a write key
//! and a read key, a free loopback port. Stopped with SIGTERM on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use nix::sys::resource::Resource;

use super::Home;

pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The `--database`: a SQLite file, or a PostgreSQL URL.
    pub database: String,
    pub write_key: String,
    pub read_key: String,
    /// What the server logged (one JSON line per request), once it has stopped.
    pub log: std::path::PathBuf,
}

fn serve(home: &Home, args: &[&str]) -> Command {
    let mut command = home.earlyexit(&[&["serve"][..], args].concat());
    command.stdin(Stdio::null());
    command
}

/// Creates a key and returns it.
pub fn add_key(home: &Home, database: &str, name: &str, role: &str) -> String {
    add_key_with(home, database, name, role, &[])
}

/// Creates a key, with these variables set, and returns it.
fn add_key_with(
    home: &Home,
    database: &str,
    name: &str,
    role: &str,
    env: &[(&str, &str)],
) -> String {
    let output = serve(
        home,
        &["--database", database, "keys", "add", name, "--role", role],
    )
    .envs(env.iter().copied())
    .output()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

impl Server {
    /// On a SQLite team database in the home.
    pub fn start(home: &Home, extra: &[&str]) -> Server {
        let database = home.dir.join("team.db");
        Server::start_on_database(home, database.to_str().unwrap(), extra)
    }

    /// On this database (a path or a PostgreSQL URL), with a write and a read key made there.
    pub fn start_on_database(home: &Home, database: &str, extra: &[&str]) -> Server {
        let write_key = add_key(home, database, "runners", "write");
        let read_key = add_key(home, database, "dashboard", "read");
        Server::start_on(home, database, "127.0.0.1:0", extra, write_key, read_key)
    }

    /// On this database, with these variables set for the server and for making its keys
    /// (`PGPASSWORD`, say).
    pub fn start_with_env(home: &Home, database: &str, env: &[(&str, &str)]) -> Server {
        let keys = (
            add_key_with(home, database, "runners", "write", env),
            add_key_with(home, database, "dashboard", "read", env),
        );
        Server::launch(home, database, "127.0.0.1:0", &[], keys, |command| {
            command.envs(env.iter().copied());
        })
    }

    pub fn start_on(
        home: &Home,
        database: &str,
        listen: &str,
        extra: &[&str],
        write_key: String,
        read_key: String,
    ) -> Server {
        Server::launch(home, database, listen, extra, (write_key, read_key), |_| {})
    }

    /// On a SQLite team database, with `configure` applied to the server's command (a limit,
    /// where its log goes).
    pub fn start_configured(home: &Home, configure: impl FnOnce(&mut Command)) -> Server {
        let database = home.dir.join("team.db");
        let database = database.to_str().unwrap();
        let keys = (
            add_key(home, database, "runners", "write"),
            add_key(home, database, "dashboard", "read"),
        );
        Server::launch(home, database, "127.0.0.1:0", &[], keys, configure)
    }

    /// On a SQLite team database, under a resource limit: open files, or the size of every
    /// file it writes (with SIGXFSZ ignored, so that a write past it fails as on a full disk).
    /// Only the soft limit is set, so that a test may lift it on the running server.
    pub fn start_limited(home: &Home, resource: Resource, limit: u64) -> Server {
        Server::start_configured(home, |command| {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit and signal are async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    let (_, hard) = nix::sys::resource::getrlimit(resource)?;
                    nix::sys::resource::setrlimit(resource, limit, hard)?;
                    nix::sys::signal::signal(
                        nix::sys::signal::Signal::SIGXFSZ,
                        nix::sys::signal::SigHandler::SigIgn,
                    )?;
                    Ok(())
                });
            }
        })
    }

    fn launch(
        home: &Home,
        database: &str,
        listen: &str,
        extra: &[&str],
        (write_key, read_key): (String, String),
        configure: impl FnOnce(&mut Command),
    ) -> Server {
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let number = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = home.dir.join(format!("serve-{number}.log"));
        let mut command = serve(
            home,
            &[&["--listen", listen, "--database", database][..], extra].concat(),
        );
        command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        configure(&mut command);
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the server says where it listens: {line:?}"))
            .to_string();
        Server {
            child,
            url,
            database: database.to_string(),
            write_key,
            read_key,
            log,
        }
    }

    /// Points a runner's command at this server's events API, with the write key.
    pub fn sends_here<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env(
                "EARLYEXIT_TELEMETRY_ENDPOINT",
                format!("{}/api/v1/events", self.url),
            )
            .env("EARLYEXIT_TELEMETRY_API_KEY", &self.write_key)
    }

    /// Points a runner's command at this server over OTLP (`http/protobuf` or `grpc`), with
    /// the write key.
    pub fn sends_otlp_here<'c>(&self, command: &'c mut Command, protocol: &str) -> &'c mut Command {
        command
            .env("EARLYEXIT_TELEMETRY_BACKEND", "otlp")
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &self.url)
            .env(
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("x-api-key={}", self.write_key),
            )
    }

    /// SIGTERM, then waits for the server to end.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        self.child.wait().unwrap()
    }

    /// Another server on this one's database and keys, on a free port.
    pub fn another(&self, home: &Home) -> Server {
        Server::start_on(
            home,
            &self.database,
            "127.0.0.1:0",
            &[],
            self.write_key.clone(),
            self.read_key.clone(),
        )
    }

    /// A server on this (stopped) one's database and keys, with these variables set.
    pub fn restarted(&self, home: &Home, env: &[(&str, &str)]) -> Server {
        let keys = (self.write_key.clone(), self.read_key.clone());
        Server::launch(home, &self.database, "127.0.0.1:0", &[], keys, |command| {
            command.envs(env.iter().copied());
        })
    }

    /// SIGKILL, as a crash or the OOM killer would end it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Rows of a query on a SQLite team database.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        super::query_rows(std::path::Path::new(&self.database), sql)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
