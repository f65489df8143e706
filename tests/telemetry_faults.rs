//! A fault in telemetry never changes the command's output or exit code, and costs one
//! warning line: a locked, corrupt, read-only or unreachable database, and a full disk.

mod common;
use common::*;

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

#[test]
fn full_disk_for_the_sqlite_sink() {
    let home = Home::new();
    // A file size limit makes every write past 4 KiB fail as a full disk would (EFBIG).
    let limited = |command: &mut Command| {
        // SAFETY: setrlimit and signal are async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_FSIZE,
                    4096,
                    4096,
                )?;
                nix::sys::signal::signal(
                    nix::sys::signal::Signal::SIGXFSZ,
                    nix::sys::signal::SigHandler::SigIgn,
                )?;
                Ok(())
            });
        }
    };
    assert_one_warning(&home, limited, "sqlite", "disk");
}
