//! The command's bytes reach our stdout and stderr unchanged, in order, and in real time;
//! memory stays bounded.

use crate::common::*;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn binary_and_invalid_utf8_pass_through_byte_for_byte() {
    let script = r"printf '\377\376\000bin\r\nno newline'; printf '\200\201 err\n' >&2";
    let run = run(&mut earlyexit(&["NEVER", "--", "sh", "-c", script]));
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, b"\xff\xfe\x00bin\r\nno newline");
    assert_eq!(run.stderr, b"\x80\x81 err\n");
}

#[test]
fn invalid_utf8_lines_are_still_matched() {
    let run = run_with_input(&["--json", "fail"], b"\xff\xfe fail\n");
    assert_eq!(run.json()["exit_reason"], "match");
}

#[test]
fn many_lines_keep_their_order_on_each_stream() {
    let script = "i=0; while [ $i -lt 2000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done";
    let run = run(&mut earlyexit(&["NEVER", "--", "sh", "-c", script]));
    let expected_out: String = (0..2000).map(|i| format!("out{i}\n")).collect();
    let expected_err: String = (0..2000).map(|i| format!("err{i}\n")).collect();
    assert_eq!(run.stdout_text(), expected_out);
    assert_eq!(run.stderr_text(), expected_err);
}

/// Spawns earlyexit and returns a channel that receives its stdout as it arrives.
fn live_stdout(args: &[&str]) -> (std::process::Child, mpsc::Receiver<Vec<u8>>) {
    let mut child = earlyexit(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

#[test]
fn a_partial_line_appears_without_waiting_for_its_newline() {
    let (mut child, output) =
        live_stdout(&["NEVER", "--", "sh", "-c", "printf 'Password: '; sleep 30"]);
    let chunk = output
        .recv_timeout(Duration::from_secs(3))
        .expect("the prompt arrived");
    assert_eq!(chunk, b"Password: ");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn each_line_is_forwarded_as_soon_as_it_is_complete() {
    let (mut child, output) = live_stdout(&[
        "NEVER",
        "--",
        "sh",
        "-c",
        "echo first; sleep 30; echo second",
    ]);
    let start = Instant::now();
    assert_eq!(
        output.recv_timeout(Duration::from_secs(3)).unwrap(),
        b"first\n"
    );
    assert!(start.elapsed() < Duration::from_secs(3));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
#[ignore = "needs python3: run tests/install-and-run.sh"]
fn child_gets_unbuffering_variables_so_python_prints_at_once() {
    let script = "import time; print('ready'); time.sleep(30)";
    let run = run(&mut earlyexit(&[
        "-A", "0", "ready", "--", "python3", "-c", script,
    ]));
    assert_eq!(run.code, 1);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "python's output was buffered: {:?}",
        run.elapsed
    );
}

#[test]
fn pty_makes_stdout_a_terminal_and_keeps_stderr_a_pipe() {
    let script = "[ -t 1 ] && echo stdout-is-a-tty; [ -t 2 ] || echo stderr-is-a-pipe >&2; printf 'a\\nb\\n'";
    let run = run(&mut earlyexit(&[
        "--pty", "NEVER", "--", "sh", "-c", script,
    ]));
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout, b"stdout-is-a-tty\na\nb\n",
        "newlines must not become CRLF"
    );
    assert_eq!(run.stderr_text(), "stderr-is-a-pipe\n");
}

#[test]
fn pty_gets_line_buffered_output_from_programs_that_buffer_pipes() {
    // perl block-buffers a pipe but line-buffers a terminal.
    let script = "$| = 0; print \"ready\\n\"; sleep 30";
    let with_pty = run(&mut earlyexit(&[
        "--pty", "-A", "0", "-t", "4", "ready", "--", "perl", "-e", script,
    ]));
    assert_eq!(with_pty.code, 1, "{}", with_pty.stderr_text());
    assert!(with_pty.elapsed < Duration::from_secs(3));
    let without = run(&mut earlyexit(&[
        "-A", "0", "-t", "1", "ready", "--", "perl", "-e", script,
    ]));
    assert_eq!(without.code, 2, "perl was expected to buffer into a pipe");
}

#[test]
fn pty_output_that_ends_with_the_command_is_not_lost() {
    let run = run(&mut earlyexit(&[
        "--pty",
        "NEVER",
        "--",
        "sh",
        "-c",
        "seq 1 5000",
    ]));
    let expected: String = (1..=5000).map(|i| format!("{i}\n")).collect();
    assert_eq!(run.stdout_text(), expected);
}

#[test]
fn a_gigabyte_without_newline_passes_through_in_bounded_memory() {
    const SIZE: u64 = 1 << 30;
    // Within 64 MiB of data (RLIMIT_DATA): past it an allocation fails and earlyexit aborts. A
    // peak resident size from wait4 would include the test binary's own peak at the spawn.
    let mut command = earlyexit(&["NEVER", "--", "head", "-c", &SIZE.to_string(), "/dev/zero"]);
    let mut child = limit_memory(&mut command, 64 << 20)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let mut all_zero = true;
    loop {
        let n = stdout.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        all_zero &= buffer[..n].iter().all(|&b| b == 0);
        total += n as u64;
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(total, SIZE);
    assert!(all_zero);
}

#[test]
fn a_reader_that_goes_away_ends_the_run_with_141_and_stops_the_command() {
    let mut child = earlyexit(&[
        "NEVER",
        "--",
        "sh",
        "-c",
        concat!(say_group!(), "; exec yes"),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let n = stdout.read(&mut first).unwrap();
    let pgid: i32 = String::from_utf8_lossy(&first[..n])
        .lines()
        .next()
        .and_then(|line| line.trim().parse().ok())
        .expect("the command's group comes first");
    drop(stdout);
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(141),
        "as if SIGPIPE had ended earlyexit"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(group_is_gone(pgid), "the command outlived its reader");
}

#[test]
fn started_with_standard_descriptors_closed_the_command_gets_dev_null() {
    // As Rust's runtime would: a closed stdin or stdout becomes /dev/null, which the command
    // inherits, instead of a descriptor that our own pipes then take.
    let script = r#"exec "$0" NEVER -- sh -c 'cat; echo out' <&- >&-"#;
    let mut sh = Command::new("sh");
    for marker in CI_MARKERS {
        sh.env_remove(marker);
    }
    let run = run(sh
        .args(["-c", script, env!("CARGO_BIN_EXE_earlyexit")])
        .env("EARLYEXIT_NO_TELEMETRY", "1"));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    assert_eq!(
        run.stderr_text(),
        "",
        "cat read /dev/null and echo wrote to it"
    );
}
