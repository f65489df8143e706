//! The HTTP backend's receiver in the client tests: `earlyexit serve` on a SQLite team
//! database that takes the tests' key, behind a front on loopback that records every request
//! as it came off the wire and can inject the faults a client must survive (failed first
//! answers, slow answers).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::server::{add_key, Server};
use super::{query_rows, Home};

/// The key the tests' runners send; the receiver's write key.
pub const RECEIVER_KEY: &str = "test-key-9f8e7d6c";

/// What the front does to requests before the server sees them.
#[derive(Clone, Default)]
pub struct Faults {
    /// Answer the first this many requests with `fail_status`, without passing them on.
    pub fail_first: usize,
    pub fail_status: u16,
    /// The failed answers' `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// Hold each answer this long after the server gave it (the run is stored by then).
    pub delay: Duration,
}

pub struct Receiver {
    /// `http://127.0.0.1:PORT/api/v1/events`, through the front.
    pub url: String,
    /// The server's SQLite database.
    pub db: PathBuf,
    /// Every request, one JSON line each: method, path, headers (lowercase names), body.
    pub record: PathBuf,
    /// `http://127.0.0.1:PORT` of the server itself, without the front: for gRPC, which the
    /// front does not speak.
    pub direct: String,
    _server: Server,
    _front: Front,
}

impl Receiver {
    /// On a free port, with extra options for `earlyexit serve`.
    pub fn start(home: &Home, serve_options: &[&str]) -> Receiver {
        Receiver::start_with(home, 0, serve_options, Faults::default())
    }

    /// The front on the given port (one a test found closed before), the server anywhere.
    pub fn start_on(home: &Home, port: u16, serve_options: &[&str]) -> Receiver {
        Receiver::start_with(home, port, serve_options, Faults::default())
    }

    pub fn start_faulty(home: &Home, faults: Faults) -> Receiver {
        Receiver::start_with(home, 0, &[], faults)
    }

    fn start_with(home: &Home, port: u16, serve_options: &[&str], faults: Faults) -> Receiver {
        static RECEIVERS: AtomicUsize = AtomicUsize::new(0);
        let number = RECEIVERS.fetch_add(1, Ordering::Relaxed);
        let db = home.dir.join(format!("receiver-{number}.db"));
        let record = home.dir.join(format!("requests-{number}.jsonl"));
        let database = db.to_str().unwrap();
        let mut import = home
            .earlyexit(&[
                "serve",
                "--database",
                database,
                "keys",
                "add",
                "runners",
                "--from-stdin",
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(import.stdin.take().unwrap(), "{RECEIVER_KEY}").unwrap();
        assert!(import.wait().unwrap().success(), "the receiver's key");
        let read_key = add_key(home, database, "dashboard", "read");
        let server = Server::start_on(
            home,
            database,
            "127.0.0.1:0",
            serve_options,
            RECEIVER_KEY.to_string(),
            read_key,
        );
        let upstream: SocketAddr = server.url.strip_prefix("http://").unwrap().parse().unwrap();
        let direct = server.url.clone();
        let front = Front::start(port, upstream, faults, record.clone());
        Receiver {
            url: format!("http://127.0.0.1:{}/api/v1/events", front.port),
            db,
            record,
            direct,
            _server: server,
            _front: front,
        }
    }

    /// Every request received so far.
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
        self.query("SELECT count(*) FROM executions")[0][0]
            .parse()
            .unwrap()
    }
}

/// A thread that accepts connections, one request each, and a thread per connection.
struct Front {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Front {
    fn start(port: u16, upstream: SocketAddr, faults: Faults, record: PathBuf) -> Front {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("the front's port");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let failures_left = Arc::new(AtomicUsize::new(faults.fail_first));
        let stopping = Arc::clone(&stop);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let (faults, record) = (faults.clone(), record.clone());
                let failures_left = Arc::clone(&failures_left);
                std::thread::spawn(move || {
                    let _ = pass(client, upstream, &faults, &failures_left, &record);
                });
            }
        });
        Front { port, stop }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A request as it came: its head (request line and headers) and its body.
struct Request {
    head: String,
    body: Vec<u8>,
}

impl Request {
    fn read(client: &mut TcpStream) -> std::io::Result<Request> {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 8192];
        let head_end = loop {
            if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let read = client.read(&mut buffer)?;
            if read == 0 || bytes.len() > 1 << 16 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            bytes.extend_from_slice(&buffer[..read]);
        };
        let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
        let mut body = bytes.split_off(head_end);
        let length: usize = Request::header_in(&head, "content-length")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        while body.len() < length {
            let read = client.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            body.extend_from_slice(&buffer[..read]);
        }
        Ok(Request { head, body })
    }

    fn header_in<'a>(head: &'a str, name: &str) -> Option<&'a str> {
        head.lines().skip(1).find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn to_json(&self) -> serde_json::Value {
        let mut first = self.head.lines().next().unwrap_or("").split(' ');
        let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        let headers: serde_json::Map<String, serde_json::Value> = self
            .head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(field, value)| (field.to_ascii_lowercase(), value.trim().into()))
            .collect();
        serde_json::json!({
            "method": method,
            "path": path,
            "headers": headers,
            "body": String::from_utf8_lossy(&self.body),
        })
    }

    /// The request to pass on, on a connection of its own that the server closes after its
    /// answer: the answer is then everything read.
    fn for_upstream(&self) -> Vec<u8> {
        let mut head: Vec<&str> = self
            .head
            .trim_end()
            .lines()
            .filter(|line| {
                !line
                    .split_once(':')
                    .is_some_and(|(field, _)| field.eq_ignore_ascii_case("connection"))
            })
            .collect();
        head.push("Connection: close");
        let mut bytes = (head.join("\r\n") + "\r\n\r\n").into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// One request: recorded, then failed, or passed on and answered (after the delay).
fn pass(
    mut client: TcpStream,
    upstream: SocketAddr,
    faults: &Faults,
    failures_left: &AtomicUsize,
    record: &Path,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = Request::read(&mut client)?;
    // One write of the whole line: requests that come together append whole lines.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(record)?
        .write_all(format!("{}\n", request.to_json()).as_bytes())?;
    let failing = failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if failing {
        let body = r#"{"status":"error","error":"injected failure"}"#;
        let retry_after = faults
            .retry_after
            .map(|seconds| format!("Retry-After: {seconds}\r\n"))
            .unwrap_or_default();
        return write!(
            client,
            "HTTP/1.1 {} Injected\r\nContent-Type: application/json\r\n{retry_after}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            faults.fail_status,
            body.len()
        );
    }
    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(Duration::from_secs(30)))?;
    // A server that answers before reading the whole body (413) may close early: its answer
    // is still there to read.
    let _ = server.write_all(&request.for_upstream());
    let mut answer = Vec::new();
    let _ = server.read_to_end(&mut answer);
    std::thread::sleep(faults.delay);
    client.write_all(&answer)
}
