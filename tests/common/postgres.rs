//! PostgreSQL for the team server's tests, as `tests/install-and-run.sh` provides it: `initdb`
//! in a temporary directory as an unprivileged user, the server on a free loopback port, and a
//! database made for the test. Stopped and removed on drop.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::port_to_restart_on;

/// PostgreSQL's programs: `$EARLYEXIT_TEST_POSTGRES_BIN`, which the install script sets.
fn program(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var("EARLYEXIT_TEST_POSTGRES_BIN")
            .expect("EARLYEXIT_TEST_POSTGRES_BIN names PostgreSQL's bin directory: run tests/install-and-run.sh"),
    )
    .join(name)
}

/// PostgreSQL refuses to run as root: then it runs as `postgres` (Debian's package makes that
/// user) or `nobody`.
fn unprivileged() -> Option<(u32, u32)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let user = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .or_else(|| nix::unistd::User::from_name("nobody").ok().flatten())
        .expect("a user to run PostgreSQL as");
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

fn as_owner(command: &mut Command, owner: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}

pub struct Postgres {
    child: Option<Child>,
    directory: PathBuf,
    owner: Option<(u32, u32)>,
    pub port: u16,
    /// How many times the server was started (each start logs to a file of its own).
    starts: usize,
    /// `-c name=value` settings besides the tests' own.
    settings: Vec<String>,
}

impl Postgres {
    /// A new cluster with a database `team`.
    pub fn start() -> Postgres {
        let mut postgres = Postgres::init();
        postgres.run();
        postgres.psql("postgres", "CREATE DATABASE team");
        postgres
    }

    /// A new cluster with a database `team` that serves TLS with the certificate of
    /// `tls_front::private_ca` in `ca` (for 127.0.0.1) and checks client certificates
    /// against that CA, after `sql` (roles, say) has run, with `hba` as its pg_hba.conf.
    pub fn start_tls(ca: &std::path::Path, sql: &str, hba: &str) -> Postgres {
        let mut postgres = Postgres::init();
        let tls = postgres.directory.join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        for file in ["server.pem", "server.key", "ca.pem"] {
            std::fs::copy(ca.join(file), tls.join(file)).unwrap();
            if let Some((uid, gid)) = postgres.owner {
                std::os::unix::fs::chown(tls.join(file), Some(uid), Some(gid)).unwrap();
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            tls.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        postgres.settings = [
            "ssl=on".to_string(),
            format!("ssl_cert_file={}", tls.join("server.pem").display()),
            format!("ssl_key_file={}", tls.join("server.key").display()),
            format!("ssl_ca_file={}", tls.join("ca.pem").display()),
        ]
        .into();
        postgres.run();
        postgres.psql("postgres", "CREATE DATABASE team");
        postgres.psql("postgres", sql);
        std::fs::write(postgres.directory.join("data/pg_hba.conf"), hba).unwrap();
        postgres.psql("postgres", "SELECT pg_reload_conf()");
        postgres
    }

    /// A new cluster, initialised but not started.
    fn init() -> Postgres {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let directory = std::env::temp_dir().join(format!(
            "earlyexit-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let owner = unprivileged();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&directory, Some(uid), Some(gid)).unwrap();
        }
        let status = as_owner(&mut Command::new(program("initdb")), owner)
            .args(["-D", directory.join("data").to_str().unwrap()])
            .args(["-A", "trust", "-U", "earlyexit", "-E", "UTF8", "--no-sync"])
            .current_dir(&directory)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        Postgres {
            child: None,
            directory,
            owner,
            port: port_to_restart_on(),
            starts: 0,
            settings: Vec::new(),
        }
    }

    /// Starts the server on its data directory and port, and waits until it answers.
    pub fn run(&mut self) {
        let child = as_owner(&mut Command::new(program("postgres")), self.owner)
            .args(["-D", self.directory.join("data").to_str().unwrap()])
            .args(["-p", &self.port.to_string()])
            .args(["-k", self.directory.to_str().unwrap()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200"])
            .args(self.settings.iter().flat_map(|setting| ["-c", setting]))
            .current_dir(&self.directory)
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.directory.join(format!("postgres-{}.log", self.starts)))
                    .unwrap(),
            )
            .spawn()
            .expect("postgres starts");
        self.starts += 1;
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(program("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "earlyexit",
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if Instant::now() > until {
                let log = std::fs::read_to_string(
                    self.directory
                        .join(format!("postgres-{}.log", self.starts - 1)),
                )
                .unwrap_or_default();
                panic!("PostgreSQL did not start within 60 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (a fast shutdown), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = child.wait();
        }
    }

    /// The URL of a database, as `earlyexit serve --database` takes it.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://earlyexit@127.0.0.1:{}/{database}", self.port)
    }

    /// psql on a database, to run `sql`.
    fn psql_command(&self, database: &str, sql: &str) -> Command {
        let mut command = Command::new(program("psql"));
        command
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "earlyexit",
            ])
            .args(["-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        command
    }

    /// Starts psql running `sql` (a transaction that holds a lock, say) and returns at once.
    pub fn psql_in_background(&self, database: &str, sql: &str) -> Child {
        self.psql_command(database, sql)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("psql runs")
    }

    /// Runs SQL with psql and returns its unaligned output, one row a line.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = self
            .psql_command(database, sql)
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}
