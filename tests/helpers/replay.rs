//! Plays a recorded output (`tests/fixtures/failures/record.py`) back with its timing: each
//! chunk to the stream it came from, at the time it came. Then, standing for the rest of a
//! long suite, it stays silent for HOLD seconds (default 30) and exits with the recorded
//! status. The after-context tests wrap it, so that they need no Python.
//!
//!     replay FIXTURE.jsonl [HOLD]

use std::io::Write;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let fixture = args.next().expect("usage: replay FIXTURE.jsonl [HOLD]");
    let hold: f64 = args
        .next()
        .map_or(30.0, |h| h.parse().expect("HOLD is seconds"));
    let text = std::fs::read_to_string(&fixture).expect("the fixture is readable");
    let start = Instant::now();
    let mut status = 0;
    for line in text.lines() {
        let chunk: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let at = Duration::from_secs_f64(chunk["t"].as_f64().unwrap_or_default());
        std::thread::sleep(at.saturating_sub(start.elapsed()));
        if let Some(code) = chunk["exit"].as_i64() {
            status = code as i32;
            continue;
        }
        let data = chunk["data"].as_str().unwrap_or_default().as_bytes();
        let _ = if chunk["stream"] == "stderr" {
            std::io::stderr().write_all(data)
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(data).and_then(|()| out.flush())
        };
    }
    std::thread::sleep(Duration::from_secs_f64(hold));
    std::process::exit(status);
}
