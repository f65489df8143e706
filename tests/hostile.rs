//! What a hostile user or machine does to earlyexit: values out of range, unusable
//! certificates, endless inputs, a killed wrapper, signals during delivery, a full disk, a
//! careless umask, secrets in odd places. None of it may cost the command its exit code, the
//! user their data or their secrets, or make earlyexit crash, hang or grow without bound.

use crate::common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// What no command may need, whatever its input.
const MEMORY: u64 = 256 << 20;

/// The one line earlyexit wrote on stderr (the test fails if there are more).
fn one_line(run: &Run) -> String {
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn a_retention_of_a_hundred_years_keeps_the_exit_code_and_the_run() {
    let home = Home::new();
    let run = run(home
        .earlyexit(&["--", "sh", "-c", "exit 7"])
        .env("EARLYEXIT_TELEMETRY_SQLITE_RETENTION_DAYS", "36500"));
    assert_eq!(run.code, 7, "{}", run.stderr_text());
    assert_eq!(run.stderr_text(), "");
    assert_eq!(home.query("SELECT exit_code FROM executions"), [["7"]]);

    let refused = crate::common::run(
        home.earlyexit(&["--", "sh", "-c", "exit 7"])
            .env("EARLYEXIT_TELEMETRY_SQLITE_RETENTION_DAYS", "99999999"),
    );
    assert_eq!(refused.code, 7, "a setting never stops the command");
    assert!(
        one_line(&refused).contains("expected at most 36500, found '99999999'; the default"),
        "{}",
        refused.stderr_text()
    );
}

#[test]
fn periods_beyond_a_hundred_years_are_refused_in_one_line() {
    let home = Home::new();
    run(&mut home.earlyexit(&["--", "true"]));
    for args in [
        &["telemetry", "stats", "--since", "99999999999d"][..],
        &["telemetry", "report", "--since", "99999999999d", "-o", "-"],
        &["telemetry", "export", "--since", "99999999999d"],
        &["telemetry", "prune", "--older-than", "99999999999d"],
        &["-t", "99999999999d", "--", "true"],
    ] {
        let run = run(&mut home.earlyexit(args));
        assert_eq!(run.code, 3, "{args:?}: {}", run.stderr_text());
        assert!(
            one_line(&run).contains("'99999999999d': at most 36500d"),
            "{args:?}: {}",
            run.stderr_text()
        );
    }
    let everything = run(&mut home.earlyexit(&["telemetry", "stats", "--since", "36500d"]));
    assert_eq!(everything.code, 0, "{}", everything.stderr_text());
    assert!(
        everything.stdout_text().contains("runs: 1"),
        "{}",
        everything.stdout_text()
    );
}

/// A private CA with client certificates that TLS cannot use.
struct BadIdentities {
    dir: Home,
}

impl BadIdentities {
    fn new() -> BadIdentities {
        let dir = Home::new();
        let d = &dir.dir;
        let key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2";
        openssl(
            d,
            &format!("req -x509 {key} -keyout ca.key -out ca.pem -subj /CN=ca"),
        );
        openssl(
            d,
            &format!("req {key} -keyout client.key -out client.csr -subj /CN=c"),
        );
        // Without -extfile, `openssl x509 -req` makes an X.509 v1 certificate.
        openssl(
            d,
            "x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out v1.pem -days 2",
        );
        std::fs::write(d.join("v3.ext"), "basicConstraints=CA:FALSE\n").unwrap();
        openssl(
            d,
            "x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out v3.pem \
             -days 2 -extfile v3.ext",
        );
        openssl(
            d,
            "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key",
        );
        openssl(
            d,
            "pkey -in client.key -aes256 -passout pass:x -out encrypted.key",
        );
        std::fs::write(
            d.join("garbage.key"),
            "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        BadIdentities { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.dir.join(name).display().to_string()
    }
}

#[test]
#[ignore = "needs openssl: run tests/install-and-run.sh"]
fn a_client_certificate_tls_cannot_use_is_one_line_and_the_exit_code_stays() {
    let bad = BadIdentities::new();
    let https = format!("https://127.0.0.1:{}/", closed_port());
    let cases = [
        ("v1.pem", "client.key", "X.509 v1 certificate"),
        ("v3.pem", "other.key", "does not belong to the certificate"),
        ("v3.pem", "garbage.key", "garbage.key"),
        ("v3.pem", "encrypted.key", "the private key is encrypted"),
        ("/dev/zero", "client.key", "not a regular file"),
    ];
    for (certificate, key, reason) in cases {
        let certificate = match certificate {
            "/dev/zero" => certificate.to_string(),
            name => bad.path(name),
        };
        let home = Home::new();
        let configure = |command: &mut Command| {
            command
                .env("EARLYEXIT_TELEMETRY_ENDPOINT", &https)
                .env("EARLYEXIT_TELEMETRY_HTTP_CLIENT_CERT", &certificate)
                .env("EARLYEXIT_TELEMETRY_HTTP_CLIENT_KEY", bad.path(key));
        };
        let mut command =
            home.earlyexit(&["--telemetry-backend", "hybrid", "--", "sh", "-c", "exit 7"]);
        configure(&mut command);
        let run = run(limit_memory(&mut command, MEMORY));
        assert_eq!(run.code, 7, "{certificate} {key}: {}", run.stderr_text());
        let line = one_line(&run);
        assert!(line.contains(reason), "{certificate} {key}: {line}");
        for tool in [&["telemetry", "sync"][..], &["telemetry", "test-http"]] {
            let mut command = home.earlyexit(tool);
            configure(&mut command);
            let run = crate::common::run(&mut command);
            assert_eq!(run.code, 1, "{tool:?} {key}: {}", run.stderr_text());
            assert!(
                one_line(&run).contains(reason),
                "{tool:?}: {}",
                run.stderr_text()
            );
        }
    }
}

#[test]
fn the_command_and_its_children_die_with_a_killed_earlyexit() {
    let marker = std::env::temp_dir().join(format!("ee-killed-{}", std::process::id()));
    let mut child = earlyexit(&[
        "--",
        "sh",
        "-c",
        &format!("{SAY_GROUP} > {}; sleep 30 & sleep 30", marker.display()),
    ])
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let pgid = loop {
        if let Some(pid) = std::fs::read_to_string(&marker)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the command started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = std::fs::remove_file(&marker);
    // Both sleeps and the shell are running in the command's group.
    let give_up = Instant::now() + Duration::from_secs(5);
    while live_members(pgid).len() < 3 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let give_up = Instant::now() + Duration::from_secs(2);
    while !live_members(pgid).is_empty() && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    let survivors = live_members(pgid);
    kill_group(pgid);
    assert!(survivors.is_empty(), "still running: {survivors:?}");
}

/// Every live process whose environment carries `marker` (a command's, and whatever it
/// started, inherit it).
fn live_carriers(marker: &str) -> Vec<i32> {
    live_processes(|pid| {
        std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
            environ
                .split(|&byte| byte == 0)
                .any(|entry| entry == marker.as_bytes())
        })
    })
}

/// The guardian is there from the command's start: an earlyexit killed 5 ms, 50 ms or 1 s into
/// its run (before the command started, while it starts its children, long after) leaves no
/// process of the command behind, with telemetry on and off.
#[test]
fn a_killed_earlyexit_leaves_nothing_of_its_command_whenever_the_kill_comes() {
    let home = Home::new();
    for telemetry in [true, false] {
        for delay in [5, 50, 1000] {
            for attempt in 0..3 {
                let marker = format!(
                    "EE_KILLED_AT={}-{delay}-{attempt}-{telemetry}",
                    std::process::id()
                );
                let (name, value) = marker.split_once('=').unwrap();
                let script = "sleep 30 & sleep 30 & sh -c 'sleep 30' & wait";
                let mut command = if telemetry {
                    home.earlyexit(&["--", "sh", "-c", script])
                } else {
                    home.earlyexit(&["--no-telemetry", "--", "sh", "-c", script])
                };
                let mut child = command
                    .env(name, value)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                std::thread::sleep(Duration::from_millis(delay));
                kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
                child.wait().unwrap();
                let give_up = Instant::now() + Duration::from_secs(3);
                while !live_carriers(&marker).is_empty() && Instant::now() < give_up {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let survivors = live_carriers(&marker);
                for pid in &survivors {
                    let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
                }
                assert!(
                    survivors.is_empty(),
                    "killed after {delay} ms (telemetry {telemetry}): still running {survivors:?}"
                );
            }
        }
    }
}

#[test]
fn a_command_stopped_at_once_is_not_held_up_by_its_guardian() {
    // The guardian leads the group the run stops at once: it must die of the group's SIGTERM
    // like the command, not wait for the SIGKILL after the grace.
    for _ in 0..20 {
        let run = run(&mut earlyexit(&[
            "-A",
            "0",
            "-k",
            "5",
            "Error",
            "--",
            "sh",
            "-c",
            "echo Error; sleep 9",
        ]));
        assert_eq!(run.code, 1);
        assert!(run.elapsed < Duration::from_secs(2), "{:?}", run.elapsed);
    }
}

#[test]
fn a_command_that_ends_leaves_its_background_children_running() {
    let marker = std::env::temp_dir().join(format!("ee-daemon-{}", std::process::id()));
    let run = run(&mut earlyexit(&[
        "--",
        "sh",
        "-c",
        &format!("sleep 30 & echo $! > {}", marker.display()),
    ]));
    assert_eq!(run.code, 0);
    let daemon: i32 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = std::fs::remove_file(&marker);
    std::thread::sleep(Duration::from_millis(200));
    let alive = !is_dead(daemon);
    let _ = kill(Pid::from_raw(daemon), Signal::SIGKILL);
    assert!(
        alive,
        "the released guardian does not kill what the command left running"
    );
}

#[test]
fn signals_during_delivery_end_the_wait_and_keep_the_run_in_the_outbox() {
    let endpoint = SilentServer::start();
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let home = Home::new();
        let mut child = home
            .earlyexit(&["--telemetry-backend", "hybrid", "--", "sh", "-c", "exit 5"])
            .env("EARLYEXIT_TELEMETRY_ENDPOINT", &endpoint.url)
            .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "30")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command has ended and the run is waiting on the endpoint.
        std::thread::sleep(Duration::from_millis(700));
        let signalled = Instant::now();
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait().unwrap();
        let waited = signalled.elapsed();
        assert_eq!(status.code(), Some(5), "{signal}: the command's code");
        assert!(waited < Duration::from_secs(1), "{signal}: {waited:?}");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(
            stderr.contains("interrupted; the run waits in the outbox"),
            "{stderr}"
        );
        assert_eq!(home.query("SELECT count(*) FROM outbox"), [["1"]]);
        assert_eq!(home.query("SELECT exit_code FROM executions"), [["5"]]);
    }
}

/// A tmpfs of `size` mounted at `dir` (root only: CI runs as root), unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        SmallDisk {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// How many times each run reached the receiver, from its record of every request.
fn deliveries_per_run(receiver: &Receiver) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for request in receiver.requests() {
        let body: serde_json::Value = match &request["body"] {
            serde_json::Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
            other => other.clone(),
        };
        for event in body["events"].as_array().into_iter().flatten() {
            if event["type"] == "execution" {
                let id = event["data"]["execution_id"].as_str().unwrap().to_string();
                *counts.entry(id).or_insert(0) += 1;
            }
        }
    }
    counts
}

#[test]
#[ignore = "needs root (it mounts a tmpfs): run tests/install-and-run.sh"]
fn a_run_sent_while_the_disk_filled_up_is_not_sent_again() {
    let home = Home::new();
    let disk = SmallDisk::mount(&home.state_dir(), "1m");
    let receiver = Receiver::start_faulty(
        &home,
        Faults {
            delay: Duration::from_millis(1500),
            ..Faults::default()
        },
    );
    let hybrid = |args: &[&str]| {
        let mut command = home.earlyexit(args);
        command
            .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
            .env("EARLYEXIT_TELEMETRY_ENDPOINT", &receiver.url)
            .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY)
            .env("EARLYEXIT_TELEMETRY_HTTP_TIMEOUT", "2");
        command
    };
    assert_eq!(run(&mut hybrid(&["--", "true"])).code, 0);
    // The next run's request is held by the receiver while the disk fills: the remote accepts
    // it, and deleting its outbox row then finds no room.
    let sending = hybrid(&["--", "true"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let filler = disk.fill();
    let output = sending.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    std::fs::remove_file(filler).unwrap();
    // Past the claim's lease (the timeout plus 2 s), any row left would be sent again.
    std::thread::sleep(Duration::from_secs(4));
    let sync = run(&mut hybrid(&["telemetry", "sync"]));
    assert_eq!(sync.code, 0, "{}", sync.stderr_text());
    let counts = deliveries_per_run(&receiver);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "sent twice: {counts:?}");
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["0"]]);
    drop(receiver);
}

/// A run in progress whose end finds the disk full cannot keep its record; its running row
/// stays, and once there is room again it is closed as lost (with its match), not forgotten.
#[test]
#[ignore = "needs root (it mounts a tmpfs): run tests/install-and-run.sh"]
fn a_run_whose_end_finds_the_disk_full_is_closed_as_lost_once_there_is_room() {
    let home = Home::new();
    let disk = SmallDisk::mount(&home.state_dir(), "1m");
    assert_eq!(run(&mut home.earlyexit(&["--", "true"])).code, 0);
    let running = home
        .earlyexit(&[
            "-m",
            "5",
            "ERROR",
            "--",
            "sh",
            "-c",
            "echo ERROR; sleep 1.5",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while home.query("SELECT count(*) FROM running") != [["1"]] {
        assert!(std::time::Instant::now() < until, "no running row");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The heartbeat after the match has kept it in the row.
    std::thread::sleep(Duration::from_millis(300));
    let filler = disk.fill();
    let output = running.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "one match of five: grep's 1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.lines().count() <= 1, "{stderr}");
    std::fs::remove_file(filler).unwrap();
    let status = run(&mut home.earlyexit(&["telemetry", "status"]));
    assert!(
        status.stderr_text().contains("closed 1 run(s)"),
        "{}",
        status.stderr_text()
    );
    assert_eq!(
        home.query("SELECT outcome, match_count FROM executions WHERE outcome = 'lost'"),
        [["lost", "1"]]
    );
    assert_eq!(home.query("SELECT count(*) FROM running"), [["0"]]);
}

#[test]
fn endless_and_oversized_inputs_stop_with_one_line_and_bounded_memory() {
    let home = Home::new();
    let bomb = home.dir.join("bomb.gz");
    {
        let mut encoder = flate2::write::GzEncoder::new(
            std::fs::File::create(&bomb).unwrap(),
            flate2::Compression::fast(),
        );
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            std::io::Write::write_all(&mut encoder, &zeros).unwrap();
        }
        encoder.finish().unwrap();
    }
    let long_line = home.dir.join("line.jsonl");
    {
        let mut file = std::fs::File::create(&long_line).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            std::io::Write::write_all(&mut file, &chunk).unwrap();
        }
    }
    for input in [Path::new("/dev/zero"), &bomb, &long_line] {
        let mut import = home.earlyexit(&["telemetry", "import", input.to_str().unwrap()]);
        let run = run(limit_memory(&mut import, MEMORY));
        assert_eq!(run.code, 1, "{}: {}", input.display(), run.stderr_text());
        let line = one_line(&run);
        assert!(
            line.contains(&format!(
                "{}:1: a line longer than 1024 KiB",
                input.display()
            )),
            "{line}"
        );
    }
}

#[test]
fn an_import_of_nothing_readable_names_file_and_line_and_fails() {
    let home = Home::new();
    let file = home.dir.join("wrong.jsonl");
    std::fs::write(
        &file,
        "{\"type\":\"execution\",\"data\":{\"execution_id\":5}}\n{\"type\":\"match_event\",\"data\":{\"x\":1}}\n",
    )
    .unwrap();
    let run = run(&mut home.earlyexit(&["telemetry", "import", file.to_str().unwrap()]));
    assert_eq!(run.code, 1);
    let stderr = run.stderr_text();
    assert!(
        stderr.contains(&format!("import: {}:1: invalid execution", file.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("import: {}:2: ", file.display())),
        "{stderr}"
    );
    assert!(stderr.contains("nothing imported"), "{stderr}");
}

/// A loopback port whose connections never complete: its listen queue is full and nobody
/// accepts, so the kernel drops every further SYN and a `connect` waits, as it does for an
/// address nobody answers (the issue's `[fe80::1%eth0]`), without leaving the machine.
struct UnansweredPort {
    _listener: socket2::Socket,
    _queued: Vec<std::net::TcpStream>,
    port: u16,
}

impl UnansweredPort {
    fn open() -> UnansweredPort {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        listener.listen(0).unwrap();
        let port = listener.local_addr().unwrap().as_socket().unwrap().port();
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        // Fill the queue; the connects that no longer fit time out, which is the point.
        let queued = (0..4)
            .filter_map(|_| {
                std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()
            })
            .collect();
        UnansweredPort {
            _listener: listener,
            _queued: queued,
            port,
        }
    }
}

#[test]
fn a_grpc_endpoint_that_never_completes_a_connection_costs_the_timeout_and_no_more() {
    let home = Home::new();
    let unanswered = UnansweredPort::open();
    let endpoint = format!("http://127.0.0.1:{}/", unanswered.port);
    let configure = |command: &mut Command| {
        command
            .env("EARLYEXIT_TELEMETRY_BACKEND", "otlp")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    };
    let mut command = home.earlyexit(&["--", "sh", "-c", "exit 4"]);
    configure(&mut command);
    let run = run(&mut command);
    assert_eq!(run.code, 4);
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);
    assert_eq!(home.query("SELECT count(*) FROM outbox"), [["1"]]);
    let mut command = home.earlyexit(&["telemetry", "sync"]);
    configure(&mut command);
    let sync = crate::common::run(&mut command);
    assert!(sync.elapsed < Duration::from_secs(3), "{:?}", sync.elapsed);
}

/// The permissions of a path, without the file type.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Runs `command` with umask 022, as most shells have it.
fn with_open_umask(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: umask is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    command
}

#[test]
fn what_earlyexit_keeps_is_private_whatever_the_umask() {
    let home = Home::new();
    std::fs::create_dir(home.state_dir()).unwrap();
    std::fs::set_permissions(home.state_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let receiver = Receiver::start(&home, &[]);
    let hybrid = run(with_open_umask(
        home.earlyexit(&["--telemetry-backend", "hybrid", "--", "true"])
            .env("EARLYEXIT_TELEMETRY_ENDPOINT", &receiver.url)
            .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY),
    ));
    assert_eq!(hybrid.code, 0, "{}", hybrid.stderr_text());
    run(with_open_umask(&mut home.earlyexit(&[
        "--telemetry-backend",
        "file",
        "--",
        "true",
    ])));
    let report = run(with_open_umask(
        &mut home.earlyexit(&["telemetry", "report"]),
    ));
    assert_eq!(report.code, 0, "{}", report.stderr_text());
    assert_eq!(mode(&home.state_dir()), 0o700);
    for name in [
        "telemetry.db",
        "telemetry.db-wal",
        "telemetry.db-shm",
        "telemetry.db.delivered",
        "telemetry.jsonl",
    ] {
        assert_eq!(mode(&home.state_dir().join(name)), 0o600, "{name}");
    }
    assert_eq!(mode(&home.dir.join("earlyexit-report.html")), 0o600);
    let chosen = home.dir.join("shared.html");
    run(with_open_umask(&mut home.earlyexit(&[
        "telemetry",
        "report",
        "-o",
        chosen.to_str().unwrap(),
    ])));
    assert_eq!(
        mode(&chosen),
        0o644,
        "a path the user chose follows their umask"
    );
}

#[test]
fn the_command_does_not_see_earlyexits_credentials() {
    let home = Home::new();
    let credentials = [
        ("EARLYEXIT_TELEMETRY_API_KEY", "k1"),
        ("EARLYEXIT_API_KEY", "k2"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=k3"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=k4"),
        ("TEAM_KEY", "k5"),
    ];
    let shown = |keep: &str| {
        let mut command = home.earlyexit(&["--", "env"]);
        command
            .envs(credentials)
            .env("EARLYEXIT_TELEMETRY_HTTP_API_KEY_ENV", "TEAM_KEY")
            .env("EARLYEXIT_TELEMETRY_KEEP_CREDENTIALS", keep)
            .env("UNRELATED", "stays");
        run(&mut command).stdout_text()
    };
    let environment = shown("false");
    assert!(environment.contains("UNRELATED=stays"), "{environment}");
    for (name, _) in credentials {
        assert!(!environment.contains(&format!("{name}=")), "{name} leaked");
    }
    let kept = shown("true");
    for (name, value) in credentials {
        assert!(
            kept.contains(&format!("{name}={value}")),
            "{name} kept on request"
        );
    }
}

/// The secrets of the issues' findings, each inside a command a user could run.
const SECRET_COMMANDS: [(&str, &str); 16] = [
    ("deploy --secret-value Sv8x2qLmN", "Sv8x2qLmN"),
    ("notify --webhook-secret-value Wh3k9zPqR", "Wh3k9zPqR"),
    ("api --token-value Tk5v1mXyZ", "Tk5v1mXyZ"),
    ("psql --db-password-file pw-Fk2j8.txt", "pw-Fk2j8"),
    ("vault read -token hvs.AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnO"),
    ("aws configure set aws_secret_access_key wJalrXUtnFEMIK7MDENGbPxRfiCY", "wJalrXUtnFEMIK7MDENG"),
    ("gitlab-runner register --token x glrt-t1_AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrSt"),
    ("stripe listen whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8I"),
    ("npm config set npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "AbCdEfGhIjKlMnOpQrStUvWx"),
    ("curl -d key=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", "TwL2iGABf9DHoTf"),
    ("vault login s.Ox0Rx5JyyCkQo7KzL4s2pQfA", "Ox0Rx5JyyCkQo7KzL4s2pQfA"),
    ("curl https://b.s3.amazonaws.com/k?X-Amz-Date=1&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff0", "fe5f80f77d5fa3beca03"),
    ("sshpass -p Hunter2xyz ssh build@host", "Hunter2xyz"),
    ("docker login -u ci -p Hunter3xyz registry.example", "Hunter3xyz"),
    ("echo ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ghp_aaaaaaaaaaaaaaaa"),
    ("mysql -uroot -pHunter4xyz db", "Hunter4xyz"),
];

#[test]
fn secrets_in_each_form_never_reach_a_sink_a_dry_run_or_the_report() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    for (command, _) in SECRET_COMMANDS {
        // The secret as separate arguments, and again in the matched output.
        let words: Vec<&str> = command.split(' ').collect();
        let mut args = vec!["-A", "0", "."];
        args.extend(["--", "sh", "-c", "echo \"$*\"", "sh"]);
        args.extend(&words);
        let mut hybrid = home.earlyexit(&args);
        hybrid
            .env("EARLYEXIT_TELEMETRY_BACKEND", "hybrid")
            .env("EARLYEXIT_TELEMETRY_ENDPOINT", &receiver.url)
            .env("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY)
            .env("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full");
        assert_eq!(run(&mut hybrid).code, 1);
        let mut file = home.earlyexit(&args);
        file.env("EARLYEXIT_TELEMETRY_BACKEND", "file");
        run(&mut file);
        let mut dry = home.earlyexit(&[&["--telemetry-dry-run"], &args[..]].concat());
        dry.env("EARLYEXIT_TELEMETRY_BACKEND", "sqlite");
        let dry = run(&mut dry);
        let report = run(&mut home.earlyexit(&["telemetry", "report", "-o", "-"]));
        let kept = [
            (
                "sqlite",
                home.query("SELECT * FROM executions").concat().join(" "),
            ),
            (
                "matches",
                home.query("SELECT * FROM match_events").concat().join(" "),
            ),
            ("file", std::fs::read_to_string(home.jsonl_path()).unwrap()),
            ("dry run", dry.stderr_text()),
            ("report", report.stdout_text()),
            ("remote", std::fs::read_to_string(&receiver.record).unwrap()),
        ];
        for (_, secret) in SECRET_COMMANDS {
            for (sink, text) in &kept {
                assert!(!text.contains(secret), "{secret} in {sink}");
            }
        }
    }
}

#[test]
fn an_invalid_otlp_endpoint_is_never_shown_with_its_credentials() {
    let home = Home::new();
    let run = run(home
        .earlyexit(&["--", "true"])
        .env("EARLYEXIT_TELEMETRY_BACKEND", "otlp")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://ci:s3cret@[::1/v1/traces?token=t0ken",
        ));
    let line = one_line(&run);
    let stored = home
        .query("SELECT last_error FROM outbox")
        .concat()
        .join(" ");
    for text in [&line, &stored] {
        assert!(
            !text.contains("s3cret") && !text.contains("t0ken"),
            "{text}"
        );
        assert!(text.contains("[REDACTED]"), "{text}");
    }
}

#[test]
fn warning_lines_of_concurrent_runs_never_interleave() {
    let home = Home::new();
    let (reader, writer) = std::io::pipe().unwrap();
    let runs: Vec<_> = (0..24)
        .map(|_| {
            home.earlyexit(&["--", "true"])
                .env("EARLYEXIT_TELEMETRY_BACKEND", "http")
                .env(
                    "EARLYEXIT_TELEMETRY_ENDPOINT",
                    format!("http://127.0.0.1:{}/", closed_port()),
                )
                .env("EARLYEXIT_TELEMETRY_HTTP_RETRY_ATTEMPTS", "0")
                .env("EARLYEXIT_TELEMETRY_DEBUG", "true")
                .stderr(writer.try_clone().unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    drop(writer);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { reader }, &mut text).unwrap();
    for mut child in runs {
        child.wait().unwrap();
    }
    assert!(text.lines().count() >= 24, "{text}");
    for line in text.lines() {
        assert!(
            line.starts_with("earlyexit: ") && !line[11..].contains("earlyexit: "),
            "{line:?}"
        );
    }
}

#[test]
fn a_variable_that_is_not_text_is_said_and_a_long_pattern_is_shortened() {
    use std::os::unix::ffi::OsStrExt;
    let home = Home::new();
    let run = run(home.earlyexit(&["--", "true"]).env(
        "EARLYEXIT_TELEMETRY_BACKEND",
        std::ffi::OsStr::from_bytes(b"sq\xfflite"),
    ));
    assert_eq!(run.code, 0);
    assert_eq!(
        one_line(&run),
        "earlyexit: ignored EARLYEXIT_TELEMETRY_BACKEND: not UTF-8 text\n"
    );
    let pattern = format!("{}(", "a".repeat(119 * 1024));
    let refused = crate::common::run(&mut earlyexit(&[&pattern, "--", "true"]));
    assert_eq!(refused.code, 3);
    let line = one_line(&refused);
    assert!(line.len() < 1024, "{} bytes", line.len());
    assert!(line.contains("(121857 bytes)"), "{line}");
}

#[test]
fn a_panic_inside_telemetry_never_changes_the_exit_code() {
    for point in ["telemetry-start", "telemetry-end", "export"] {
        let home = Home::new();
        let run = run(home
            .earlyexit(&["--", "sh", "-c", "echo out; exit 7"])
            .env("EARLYEXIT_TEST_PANIC", point));
        assert_eq!(run.code, 7, "{point}: {}", run.stderr_text());
        assert_eq!(run.stdout_text(), "out\n");
        let stderr = run.stderr_text();
        assert!(
            stderr.starts_with("earlyexit: internal error at ")
                && stderr.contains(&format!("fault injected at {point}")),
            "{point}: {stderr}"
        );
        assert!(stderr.lines().count() <= 2, "{point}: {stderr}");
    }
}

/// A private key printed whole: its body lines name no secret one by one, and a pattern that
/// matches each of them makes each a match. None of it reaches a sink, the team server or the
/// report; the lines around it do.
const PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun
VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK
LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo
-----END RSA PRIVATE KEY-----";

fn private_key_run(home: &Home, flags: &[&str], env: &[(&str, &str)]) -> Run {
    // The pause lets a run to a collector go live: its matches go as log records too.
    let script = format!("echo before; sleep 0.2; printf '%s\\n' '{PRIVATE_KEY}'; echo after");
    let mut args = flags.to_vec();
    args.extend(["-m", "100", "-A", "0", ".", "--", "sh", "-c", &script]);
    let mut command = home.earlyexit(&args);
    command.env("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full");
    command.envs(env.iter().copied());
    run(&mut command)
}

/// Each line of the key, and none of them in `text`.
fn assert_no_key_line(place: &str, text: &str) {
    for line in PRIVATE_KEY.lines().skip(1).take(3) {
        assert!(!text.contains(&line[..24]), "a key line in {place}: {text}");
    }
}

#[test]
fn a_private_key_block_reaches_no_sink_the_team_server_or_the_report() {
    let home = Home::new();
    let receiver = Receiver::start(&home, &[]);
    let hybrid = private_key_run(
        &home,
        &[],
        &[
            ("EARLYEXIT_TELEMETRY_BACKEND", "hybrid"),
            ("EARLYEXIT_TELEMETRY_ENDPOINT", &receiver.url),
            ("EARLYEXIT_TELEMETRY_API_KEY", RECEIVER_KEY),
        ],
    );
    assert_eq!(hybrid.code, 1, "{}", hybrid.stderr_text());
    assert!(
        hybrid.stdout_text().contains(&PRIVATE_KEY[40..70]),
        "the terminal shows it"
    );
    private_key_run(&home, &[], &[("EARLYEXIT_TELEMETRY_BACKEND", "file")]);
    let dry = private_key_run(&home, &["--telemetry-dry-run"], &[]);
    let report = run(&mut home.earlyexit(&["telemetry", "report", "-o", "-"]));
    let lines = home.query("SELECT line_content FROM match_events ORDER BY id");
    assert_eq!(lines.len(), 7, "every line matched: {lines:?}");
    assert_eq!(lines[0], ["before"]);
    assert_eq!(lines[6], ["after"]);
    for (place, text) in [
        ("sqlite", lines.concat().join("\n")),
        ("file", std::fs::read_to_string(home.jsonl_path()).unwrap()),
        ("dry run", dry.stderr_text()),
        ("report", report.stdout_text()),
        (
            "remote request",
            std::fs::read_to_string(&receiver.record).unwrap(),
        ),
        (
            "team server",
            receiver
                .query("SELECT line_content FROM match_events")
                .concat()
                .join("\n"),
        ),
    ] {
        assert_no_key_line(place, &text);
    }
}

#[test]
#[ignore = "needs rotel (an OTLP collector) and PostgreSQL: run tests/install-and-run.sh"]
fn a_private_key_block_and_the_secret_forms_reach_neither_a_collector_nor_postgres() {
    let collector = crate::common::collector::Collector::start();
    let home = Home::new();
    let otlp = private_key_run(
        &home,
        &["--json"],
        &[
            ("EARLYEXIT_TELEMETRY_BACKEND", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.grpc),
        ],
    );
    let span = collector.span(otlp.json()["execution_id"].as_str().unwrap());
    assert_eq!(span.events.len(), 7, "{span:?}");
    let postgres = crate::common::postgres::Postgres::start();
    let server =
        crate::common::server::Server::start_on_database(&home, &postgres.url("team"), &[]);
    let to_server = [
        ("EARLYEXIT_TELEMETRY_BACKEND", "http"),
        (
            "EARLYEXIT_TELEMETRY_ENDPOINT",
            &format!("{}/api/v1/events", server.url),
        ),
        ("EARLYEXIT_TELEMETRY_API_KEY", &server.write_key),
    ];
    let sent = private_key_run(&home, &[], &to_server);
    assert_eq!(sent.code, 1, "{}", sent.stderr_text());
    for (command, _) in SECRET_COMMANDS {
        let mut args = vec!["-A", "0", ".", "--", "sh", "-c", "echo \"$*\"", "sh"];
        args.extend(command.split(' '));
        let mut run_it = home.earlyexit(&args);
        run_it
            .envs(to_server.iter().map(|(k, v)| (*k, *v)))
            .env("EARLYEXIT_TELEMETRY_REMOTE_DETAIL", "full");
        assert_eq!(run(&mut run_it).code, 1);
    }
    let stored = postgres.psql(
        "team",
        "SELECT e.command, m.line_content FROM executions e JOIN match_events m USING (execution_id)",
    );
    assert!(stored.contains("before"), "{stored}");
    let collected = collector.output.lock().unwrap().clone();
    for (place, text) in [("collector", &collected), ("postgres", &stored)] {
        assert_no_key_line(place, text);
        for (_, secret) in SECRET_COMMANDS {
            assert!(!text.contains(secret), "{secret} in {place}");
        }
    }
}
