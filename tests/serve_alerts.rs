//! `serve --notify`: a loopback webhook gets one message when a command on a watched branch
//! turns failing, one when it passes again, one when a revision is flaky; a webhook that fails
//! gets the message again, and one that never answers holds up no runner.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::postgres::Postgres;
use crate::common::server::Server;
use crate::common::team::store_events;
use crate::common::Home;

/// A webhook on loopback: answers each post with the next status of `statuses` (then 200),
/// or never, and keeps the bodies it answered 2xx.
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Webhook {
    fn start(statuses: Vec<u16>, answers: bool) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                if !answers {
                    held.push(stream);
                    continue;
                }
                let status = statuses.next().unwrap_or(200);
                if status == 200 {
                    kept.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Webhook { url, bodies }
    }

    /// The messages once `count` have come (within 20 s) and no more for a second after.
    fn messages(&self, count: usize) -> Vec<serde_json::Value> {
        let until = Instant::now() + Duration::from_secs(20);
        while self.bodies.lock().unwrap().len() < count {
            assert!(Instant::now() < until, "{:?}", self.bodies.lock().unwrap());
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_secs(1));
        self.bodies.lock().unwrap().clone()
    }
}

/// A run of `command` on `branch` at `revision`, `minutes` after 10:00 on 1 December.
fn run(
    id: u32,
    command: &str,
    branch: &str,
    revision: &str,
    outcome: &str,
    minutes: u32,
) -> String {
    let reason = if outcome == "success" {
        "no_match"
    } else {
        "error_pattern"
    };
    let code = if outcome == "success" { 0 } else { 1 };
    format!(
        r#"{{"type":"execution","data":{{"execution_id":"0a-{id}","timestamp":"2026-12-01T10:{minutes:02}:00.000Z","command_hash":"h-{command}","command":"{command}","exit_code":{code},"exit_reason":"{reason}","outcome":"{outcome}","total_runtime":1,"match_count":0,"vcs_ref":"{branch}","vcs_revision":"{revision}","vcs_repository_url":"https://git.example/team/app","pipeline_run_url":"https://ci.example/runs/{id}"}}}}"#
    )
}

fn send(server: &Server, runs: &[String]) {
    store_events(server, runs.iter().cloned());
}

#[test]
fn a_command_turning_red_and_green_on_main_posts_one_message_each_and_flaky_one() {
    let home = Home::new();
    let webhook = Webhook::start(vec![], true);
    let server = Server::start(&home, &["--notify", &webhook.url]);
    // One request at a time, as runs end.
    for run in [
        run(1, "npm test", "main", "r1", "success", 0),
        run(2, "npm test", "main", "r2", "failure", 1),
        run(3, "npm test", "main", "r2", "failure", 2),
        run(4, "npm test", "feature/x", "r7", "success", 3),
        run(5, "npm test", "feature/x", "r8", "failure", 4),
        run(6, "npm test", "main", "r3", "success", 5),
        run(7, "npm test", "main", "r3", "success", 6),
    ] {
        send(&server, &[run]);
    }
    let messages = webhook.messages(2);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[0]["text"],
        "`npm test` is failing on main of https://git.example/team/app at r2 (https://ci.example/runs/2)"
    );
    assert_eq!(messages[0]["earlyexit"]["change"], "failing");
    assert_eq!(messages[0]["earlyexit"]["execution_id"], "0a-2");
    assert_eq!(messages[1]["earlyexit"]["change"], "passing");
    assert_eq!(messages[1]["earlyexit"]["revision"], "r3");
    // A rerun on one revision that passed then failed: failing, and flaky.
    send(&server, &[run(8, "npm test", "main", "r3", "failure", 7)]);
    let messages = webhook.messages(4);
    let changes: Vec<&str> = messages[2..]
        .iter()
        .map(|m| m["earlyexit"]["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["failing", "flaky"]);
    assert!(messages[3]["text"].as_str().unwrap().contains(
        "is flaky on main of https://git.example/team/app: revision r3 both passed and failed"
    ));
}

#[test]
fn a_webhook_that_fails_gets_the_message_again_and_one_that_hangs_holds_up_no_runner() {
    let home = Home::new();
    let failing_first = Webhook::start(vec![500], true);
    let hanging = Webhook::start(vec![], false);
    let server = Server::start(
        &home,
        &["--notify", &failing_first.url, "--notify", &hanging.url],
    );
    let started = Instant::now();
    send(&server, &[run(1, "make check", "main", "r1", "failure", 0)]);
    for n in 2..40 {
        send(&server, &[run(n, "make check", "main", "r1", "failure", n)]);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "40 requests took {:?} beside a webhook that never answers",
        started.elapsed()
    );
    let messages = failing_first.messages(1);
    assert_eq!(
        messages.len(),
        1,
        "posted again after its 500, once: {messages:?}"
    );
    assert_eq!(messages[0]["earlyexit"]["change"], "failing");
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn two_servers_on_one_postgres_post_one_message_per_change() {
    let postgres = Postgres::start();
    let home = Home::new();
    let webhook = Webhook::start(vec![], true);
    let first =
        Server::start_on_database(&home, &postgres.url("team"), &["--notify", &webhook.url]);
    let second = Server::start_on(
        &home,
        &first.database,
        "127.0.0.1:0",
        &["--notify", &webhook.url],
        first.write_key.clone(),
        first.read_key.clone(),
    );
    std::thread::scope(|scope| {
        for (n, server) in [&first, &second, &first, &second].into_iter().enumerate() {
            scope.spawn(move || {
                let n = n as u32;
                send(server, &[run(n, "cargo test", "main", "r1", "failure", n)]);
            });
        }
    });
    let messages = webhook.messages(1);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        postgres.psql("team", "SELECT count(*) FROM notifications"),
        "0",
        "posted and gone"
    );
}
