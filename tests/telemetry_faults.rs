//! A fault in telemetry never changes the command's output or exit code, and costs one
//! warning line: a locked, corrupt, read-only or unreachable database, and a full disk.

use crate::common::*;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// The same command with and without telemetry gives the same exit code and stdout; with
/// telemetry, stderr is exactly one warning line naming the sink.
fn assert_one_warning(home: &Home, configure: impl Fn(&mut Command), sink: &str, reason: &str) {
    let args = [
        "-A",
        "0",
        "Error",
        "--",
        "sh",
        "-c",
        "echo ok; echo Error; sleep 5",
    ];
    let mut baseline = home.earlyexit(&[&["--no-telemetry"][..], &args].concat());
    let expected = run(&mut baseline);
    let mut command = home.earlyexit(&args);
    configure(&mut command);
    let faulty = run(&mut command);
    assert_eq!(faulty.code, expected.code);
    assert_eq!(faulty.stdout, expected.stdout);
    let stderr = faulty.stderr_text();
    let warning = stderr
        .strip_prefix(&expected.stderr_text())
        .unwrap_or(&stderr);
    assert_eq!(warning.lines().count(), 1, "{stderr}");
    assert!(
        warning.starts_with(&format!("earlyexit: telemetry not recorded: {sink}: ")),
        "{warning}"
    );
    assert!(
        warning.to_lowercase().contains(reason),
        "{warning:?} does not say {reason:?}"
    );
    assert!(
        faulty.elapsed < Duration::from_secs(5),
        "{:?}",
        faulty.elapsed
    );
}

#[test]
fn locked_database() {
    let home = Home::new();
    run(&mut home.earlyexit(&["--", "true"]));
    let holder = home.db();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    assert_one_warning(&home, |_| {}, "sqlite", "locked");
    holder.execute_batch("COMMIT").unwrap();
}

#[test]
fn corrupt_database() {
    let home = Home::new();
    std::fs::create_dir_all(home.state_dir()).unwrap();
    std::fs::write(home.db_path(), vec![0x5a; 8192]).unwrap();
    assert_one_warning(&home, |_| {}, "sqlite", "not a database");
}

#[test]
fn read_only_database() {
    let home = Home::new();
    run(&mut home.earlyexit(&["--", "true"]));
    for entry in std::fs::read_dir(home.state_dir()).unwrap() {
        std::fs::set_permissions(
            entry.unwrap().path(),
            std::fs::Permissions::from_mode(0o444),
        )
        .unwrap();
    }
    std::fs::set_permissions(home.state_dir(), std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes anyway; run as an ordinary user then.
    let as_user = |command: &mut Command| {
        if nix::unistd::geteuid().is_root() {
            command.uid(65534).gid(65534);
        }
    };
    assert_one_warning(&home, as_user, "sqlite", "readonly");
    std::fs::set_permissions(home.state_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn database_directory_that_cannot_exist() {
    let home = Home::new();
    std::fs::write(home.dir.join("a-file"), "").unwrap();
    let path = home.dir.join("a-file/sub/telemetry.db");
    assert_one_warning(
        &home,
        |command| {
            command.env("EARLYEXIT_TELEMETRY_SQLITE_PATH", &path);
        },
        "sqlite",
        "cannot create",
    );
}

#[test]
fn full_disk_for_the_file_sink() {
    let home = Home::new();
    assert_one_warning(
        &home,
        |command| {
            command
                .env("EARLYEXIT_TELEMETRY_BACKEND", "file")
                .env("EARLYEXIT_TELEMETRY_FILE_PATH", "/dev/full");
        },
        "file",
        "no space left",
    );
}

/// Makes every write of `command` past `bytes` into a file fail as on a full disk: short,
/// then EFBIG (with SIGXFSZ ignored, as the limit would otherwise kill the process).
fn limit_file_size(command: &mut Command, bytes: u64) {
    // SAFETY: setrlimit and signal are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_FSIZE,
                bytes,
                bytes,
            )?;
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGXFSZ,
                nix::sys::signal::SigHandler::SigIgn,
            )?;
            Ok(())
        });
    }
}

#[test]
fn full_disk_for_the_sqlite_sink() {
    let home = Home::new();
    // A file size limit makes every write past 4 KiB fail as a full disk would (EFBIG).
    let limited = |command: &mut Command| limit_file_size(command, 4096);
    assert_one_warning(&home, limited, "sqlite", "disk");
}

/// A home or config the run cannot read: the command runs as without telemetry, and one line
/// says why telemetry is off.
fn assert_runs_with_telemetry_off(home: &Home, reason: &str) {
    let marker = home.dir.join("ran");
    let run = run(&mut home.earlyexit(&["--", "touch", marker.to_str().unwrap()]));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    assert!(marker.exists(), "the command ran");
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("earlyexit: config file ")
            && stderr.contains(reason)
            && stderr.contains("telemetry is off for this run"),
        "{stderr}"
    );
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn a_home_whose_earlyexit_directory_is_a_file_still_runs_the_command() {
    let home = Home::new();
    std::fs::write(home.state_dir(), "not a directory").unwrap();
    assert_runs_with_telemetry_off(&home, "Not a directory");
}

#[test]
fn a_config_that_links_to_an_endless_device_or_a_fifo_is_not_read() {
    let home = Home::new();
    std::fs::create_dir_all(home.state_dir()).unwrap();
    let config = home.state_dir().join("config.yaml");
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    assert_runs_with_telemetry_off(&home, "not a regular file");
    std::fs::remove_file(&config).unwrap();
    nix::unistd::mkfifo(&config, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert_runs_with_telemetry_off(&home, "not a regular file");
}

#[test]
fn a_config_over_one_mebibyte_is_not_read() {
    let home = Home::new();
    home.write_config(&format!("# {}\n", "x".repeat(1 << 20)));
    assert_runs_with_telemetry_off(&home, "larger than 1 MiB");
}

#[test]
fn a_record_cut_short_by_a_full_disk_is_cut_back_to_the_last_whole_line() {
    let home = Home::new();
    let limited = |command: &mut Command| limit_file_size(command, 6000);
    let args = [
        "--telemetry-backend",
        "file",
        "-A",
        "0",
        "-m",
        "20",
        "E",
        "--",
        "sh",
        "-c",
    ];
    let script = "for i in $(seq 20); do echo E$i; done";
    let mut whole_runs = 0;
    loop {
        let mut command = home.earlyexit(&[&args[..], &[script]].concat());
        limited(&mut command);
        let run = run(&mut command);
        assert_eq!(run.code, 1);
        if run.stderr_text().contains("telemetry") {
            assert!(
                run.stderr_text().contains("telemetry not recorded: file:"),
                "{}",
                run.stderr_text()
            );
            break;
        }
        whole_runs += 1;
        assert!(whole_runs < 20, "the limit was never reached");
    }
    let text = std::fs::read_to_string(home.jsonl_path()).unwrap();
    assert!(text.ends_with('\n'), "the file ends on a whole line");
    assert_eq!(text.lines().count(), whole_runs * 21);
    // Room again: the next record starts on a line of its own.
    run(&mut home.earlyexit(&[&args[..], &["echo E"]].concat()));
    let text = std::fs::read_to_string(home.jsonl_path()).unwrap();
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every line is whole JSON");
    }
    assert_eq!(text.lines().count(), whole_runs * 21 + 2);
    assert!(whole_runs >= 1);
}

#[test]
fn a_full_disk_under_the_outbox_still_sends_the_run_directly_and_says_why_when_that_fails() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let mut command = home.earlyexit(&["--telemetry-backend", "http", "--", "true"]);
    command
        .env("EARLYEXIT_TELEMETRY_ENDPOINT", &receiver.url)
        .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY);
    limit_file_size(&mut command, 4096);
    let sent = run(&mut command);
    assert_eq!(sent.code, 0);
    assert_eq!(sent.stderr_text(), "", "delivered without the outbox");
    assert_eq!(receiver.execution_count(), 1);

    let refused = format!("http://127.0.0.1:{}/api/v1/events", closed_port());
    let mut command = home.earlyexit(&["--telemetry-backend", "http", "--", "true"]);
    command.env("EARLYEXIT_TELEMETRY_ENDPOINT", &refused);
    limit_file_size(&mut command, 4096);
    let lost = run(&mut command);
    assert_eq!(lost.code, 0);
    let stderr = lost.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("earlyexit: telemetry not recorded: http: ")
            && stderr.contains("(not kept: the outbox: "),
        "{stderr}"
    );
}
