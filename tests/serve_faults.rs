//! `earlyexit serve` when things go wrong around it: a store that cannot write, SIGTERM, a
//! database out of reach, idle connections, no file descriptors left, and the SQLite store's
//! upkeep.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::resource::Resource;

use crate::common::http::{agent, batch_body, events_body, get, post, raw_status, run_ids};
use crate::common::server::Server;
use crate::common::{run, Home};

/// A store that cannot take the run answers 503 with Retry-After; the runner keeps the run in
/// its outbox, and `telemetry sync` delivers it once the store is back.
#[test]
fn a_store_that_cannot_write_answers_503_and_the_outbox_keeps_the_run() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let blocker = rusqlite::Connection::open(&server.database).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let hybrid = |args: &[&str]| {
        let mut command = home.earlyexit(args);
        server
            .sends_here(&mut command)
            .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
            .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "4s");
        command
    };
    let first = run(&mut hybrid(&["--", "true"]));
    assert_eq!(first.code, 0);
    assert!(
        first.stderr_text().contains("503"),
        "{}",
        first.stderr_text()
    );
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["1"]]);
    blocker.execute_batch("ROLLBACK").unwrap();
    let sync = run(&mut hybrid(&["telemetry", "sync"]));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["1"]]);
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
}

/// SIGTERM: the request in flight finishes and is stored; then nothing listens.
#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    let body = events_body("0f-1");
    let (head, tail) = body.split_at(body.len() / 2);
    let request = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        server.write_key,
        body.len()
    );
    let in_flight = std::thread::spawn({
        let url = server.url.clone();
        let tail = tail.to_string();
        move || {
            raw_status(
                &url,
                request.as_bytes(),
                Duration::from_millis(800),
                tail.as_bytes(),
            )
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(in_flight.join().unwrap(), 200);
    assert_eq!(
        server.query("SELECT execution_id FROM executions"),
        [["0f-1"]]
    );
    let address = server.url.trim_start_matches("http://").to_string();
    assert!(
        TcpStream::connect(address).is_err(),
        "nothing listens after the shutdown"
    );
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("\"key\":\"runners\""), "{log}");
    assert!(
        !log.contains(&server.write_key),
        "the log never holds a key"
    );
}

/// A PostgreSQL that is not there stops the server at once, in one line that names the
/// database without its password.
#[test]
fn a_database_that_cannot_be_reached_is_one_line_without_its_password() {
    let home = Home::new();
    let url = format!(
        "postgres://earlyexit@127.0.0.1:{}/team",
        crate::common::closed_port()
    );
    let started = Instant::now();
    let serve = run(home
        .earlyexit(&["serve", "--database", &url, "--listen", "127.0.0.1:0"])
        .env("PGPASSWORD", "s3cr3t-pw"));
    assert_eq!(serve.code, 1);
    let stderr = serve.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("postgres://[REDACTED]@127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A connection that sends nothing is closed after the read timeout: idle clients do not
/// hold the server's connections.
#[test]
fn an_idle_connection_is_closed_after_the_read_timeout() {
    let home = Home::new();
    let server = Server::start(&home, &["--read-timeout", "1s"]);
    let mut idle = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let _ = idle.read_to_end(&mut buffer);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
}

/// Seconds of CPU a process has used (user and system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// A server out of file descriptors waits for one rather than spinning on the failed accept,
/// and serves again once connections close.
#[test]
fn a_server_out_of_file_descriptors_neither_spins_nor_stops() {
    let home = Home::new();
    let server = Server::start_limited(&home, Resource::RLIMIT_NOFILE, 48);
    let address = server.url.trim_start_matches("http://").to_string();
    let held: Vec<TcpStream> = (0..64)
        .filter_map(|_| TcpStream::connect(&address).ok())
        .collect();
    assert_eq!(
        held.len(),
        64,
        "the kernel queues what the server cannot take"
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_seconds(server.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(server.pid()) - before;
    assert!(
        used < 0.5,
        "{used} s of CPU in 2 s while out of descriptors"
    );
    drop(held);
    let (status, _) = get(&format!("{}/healthz", server.url), &[]);
    assert_eq!(status, 200);
}

/// The SQLite store samples its runs for the query planner when the server starts (and as
/// they grow): without the samples a month's figures over a million runs took 39 s.
#[test]
fn the_sqlite_store_keeps_statistics_for_its_planner() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    let (status, _) = post(
        &format!("{}/api/v1/events", server.url),
        &[
            ("X-API-Key", server.write_key.as_str()),
            ("Content-Type", "application/json"),
        ],
        events_body("0e-9").as_bytes(),
    );
    assert_eq!(status, 200);
    server.stop();
    let keys = (server.write_key.clone(), server.read_key.clone());
    let server = Server::start_on(&home, &server.database, "127.0.0.1:0", &[], keys.0, keys.1);
    let until = Instant::now() + Duration::from_secs(5);
    // The table appears with the first ANALYZE, which the server runs as it starts.
    let sampled = || {
        server.query("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'") == [["1"]]
            && server.query("SELECT count(*) > 0 FROM sqlite_stat1 WHERE tbl = 'executions'")
                == [["1"]]
    };
    while !sampled() {
        assert!(Instant::now() < until, "no statistics after 5 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The execution ids stored in a SQLite team database.
fn stored_ids(database: &str) -> std::collections::BTreeSet<String> {
    let connection = rusqlite::Connection::open(database).unwrap();
    let mut statement = connection
        .prepare("SELECT execution_id FROM executions")
        .unwrap();
    let ids = statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    ids
}

/// A full disk under the SQLite team store: each request that cannot be committed gets 503
/// with Retry-After and stores nothing, the server goes on answering, and once there is room
/// again the next request is stored. Every run answered 200 is in the database, and no other.
#[test]
fn a_full_disk_under_the_team_store_costs_503s_and_no_acknowledged_run() {
    let home = Home::new();
    // Every file the server writes (the database, its WAL) stops at 1 MiB, as a full disk.
    let mut server = Server::start_limited(&home, Resource::RLIMIT_FSIZE, 1 << 20);
    let bearer = format!("Bearer {}", server.write_key);
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for batch in 0..120 {
        let first = batch * 20;
        let mut response = agent()
            .post(&format!("{}/api/v1/events", server.url))
            .header("Authorization", &bearer)
            .header("Content-Type", "application/json")
            .send(batch_body(first, 20, 1000).as_bytes())
            .unwrap();
        match response.status().as_u16() {
            200 => acknowledged.extend(run_ids(first, 20)),
            503 => {
                assert!(
                    response.headers().get("retry-after").is_some(),
                    "503 without Retry-After"
                );
                let body = response.body_mut().read_to_string().unwrap();
                assert_eq!(body.trim().lines().count(), 1, "{body}");
                assert!(
                    !body.contains(home.dir.to_str().unwrap()),
                    "the store's path is the server's business: {body}"
                );
                refused += 1;
            }
            other => panic!("batch {batch}: status {other}"),
        }
        if refused >= 5 {
            break;
        }
    }
    assert!(refused >= 5, "the store never filled up");
    assert!(
        !acknowledged.is_empty(),
        "nothing was stored before the disk filled"
    );
    let (status, _) = get(&format!("{}/healthz", server.url), &[]);
    assert_eq!(status, 200, "the server goes on answering");
    let (status, body) = get(&format!("{}/readyz", server.url), &[]);
    assert_eq!(status, 503, "not ready while writes fail: {body}");
    assert!(!body.contains(home.dir.to_str().unwrap()), "{body}");
    // Room again: the soft limit is lifted to the hard one (this test's) on the running server.
    let mut unlimited = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut unlimited) },
        0
    );
    unlimited.rlim_cur = unlimited.rlim_max;
    // SAFETY: prlimit reads the struct it is given and writes nothing back (null).
    let lifted = unsafe {
        libc::prlimit(
            server.pid() as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &unlimited,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(lifted, 0, "{}", std::io::Error::last_os_error());
    let (status, body) = post(
        &format!("{}/api/v1/events", server.url),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        batch_body(100_000, 20, 1000).as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    acknowledged.extend(run_ids(100_000, 20));
    assert_eq!(
        get(&format!("{}/readyz", server.url), &[]).0,
        200,
        "ready again"
    );
    assert!(server.stop().success());
    let stored = stored_ids(&server.database);
    let expected: std::collections::BTreeSet<String> = acknowledged.into_iter().collect();
    assert_eq!(stored, expected, "exactly the acknowledged runs are stored");
}

/// A log that cannot be written (stderr on a full device) costs the log lines, never the
/// requests: the runs are answered and stored.
#[test]
fn a_server_whose_log_cannot_be_written_still_serves() {
    let home = Home::new();
    let mut server = Server::start_configured(&home, |command| {
        command.stderr(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        );
    });
    let bearer = format!("Bearer {}", server.write_key);
    for batch in 0..3 {
        let (status, body) = post(
            &format!("{}/api/v1/events", server.url),
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            batch_body(batch * 5, 5, 10).as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
    }
    assert!(server.stop().success());
    assert_eq!(stored_ids(&server.database).len(), 15);
}

/// An HTTP/2 connection that answers the server's pings but sends no request is closed once
/// no request has been in flight for the read timeout (hyper alone keeps it open for as long
/// as the pings are answered).
#[test]
fn an_http2_connection_without_requests_is_closed_after_the_read_timeout() {
    let home = Home::new();
    let server = Server::start(&home, &["--read-timeout", "1s"]);
    let mut stream = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The preface, then an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let opened = Instant::now();
    let frame = |stream: &mut TcpStream| -> std::io::Result<(u8, u8, Vec<u8>)> {
        let mut header = [0u8; 9];
        stream.read_exact(&mut header)?;
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload)?;
        Ok((header[3], header[4], payload))
    };
    loop {
        assert!(
            opened.elapsed() < Duration::from_secs(10),
            "still open after 10 s"
        );
        // A reply the server no longer takes (a broken pipe) means it has closed the
        // connection, as a read that finds its end does.
        let answered = match frame(&mut stream) {
            // SETTINGS: acknowledged.
            Ok((4, 0, _)) => stream.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]),
            // PING: answered with its payload.
            Ok((6, 0, payload)) => stream
                .write_all(&[0, 0, 8, 6, 1, 0, 0, 0, 0])
                .and_then(|()| stream.write_all(&payload)),
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        match answered {
            Ok(()) => {}
            Err(error) => {
                assert!(
                    !matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "still open after 10 s"
                );
                break;
            }
        }
    }
    assert!(
        opened.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        opened.elapsed()
    );
}
