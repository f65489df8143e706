//! The reference HTTP receiver (`examples/http_receiver.rs`) as the tests start it.

use std::process::{Command, Stdio};

use super::{example, query_rows, Home};

/// The reference HTTP receiver (`examples/http_receiver.rs`) on a free loopback port, with its
/// own database and a record of every request. Killed on drop.
pub struct Receiver {
    child: std::process::Child,
    pub url: String,
    pub db: std::path::PathBuf,
    pub record: std::path::PathBuf,
}

/// The key the tests' receivers accept.
pub const RECEIVER_KEY: &str = "test-key-9f8e7d6c";

impl Receiver {
    fn binary() -> std::path::PathBuf {
        example("http_receiver")
    }

    /// Starts on a free port (`port` 0) or on the given one, with extra options.
    pub fn start_on(home: &Home, port: u16, extra: &[&str]) -> Receiver {
        let db = home.dir.join(format!("receiver-{port}.db"));
        let record = home.dir.join(format!("requests-{port}.jsonl"));
        let mut child = Command::new(Self::binary())
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--db",
                db.to_str().unwrap(),
            ])
            .args(["--record", record.to_str().unwrap()])
            .args(extra)
            .env("EARLYEXIT_RECEIVER_API_KEY", RECEIVER_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the receiver starts");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .expect("the receiver says where it listens")
            .to_string();
        Receiver {
            child,
            url,
            db,
            record,
        }
    }

    pub fn start(home: &Home, extra: &[&str]) -> Receiver {
        Self::start_on(home, 0, extra)
    }

    /// Every request received so far: method, path, headers (lowercase names), body.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Rows of a query on the receiver's database, as strings.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        query_rows(&self.db, sql)
    }

    pub fn execution_count(&self) -> usize {
        let connection = rusqlite::Connection::open(&self.db).unwrap();
        connection
            .query_row("SELECT count(*) FROM executions", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap() as usize
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
