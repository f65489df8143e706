//! Where telemetry settings come from: defaults < config file < EARLYEXIT_* environment <
//! flags; bad config stops the run before the command starts; disabled means nothing written.

use crate::common::*;

#[test]
fn config_file_chooses_backend_and_paths_with_expansion() {
    let home = Home::new();
    home.write_config("telemetry:\n  backend: file\n  file:\n    path: ~/logs/${TEAM}.jsonl\n");
    let run = run(home.earlyexit(&["--", "true"]).env("TEAM", "qa"));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    assert!(home.dir.join("logs/qa.jsonl").exists());
    assert!(!home.db_path().exists());
}

#[test]
fn environment_beats_the_file_and_flags_beat_the_environment() {
    let home = Home::new();
    home.write_config("telemetry:\n  backend: file\n");
    run(home
        .earlyexit(&["--", "true"])
        .env("EARLYEXIT_TELEMETRY_BACKEND", "sqlite"));
    assert!(home.db_path().exists() && !home.jsonl_path().exists());
    std::fs::remove_dir_all(home.state_dir()).unwrap();
    home.write_config("telemetry:\n  backend: file\n");
    run(home
        .earlyexit(&["--telemetry-backend", "none", "--", "true"])
        .env("EARLYEXIT_TELEMETRY_BACKEND", "sqlite"));
    assert!(!home.db_path().exists() && !home.jsonl_path().exists());
}

#[test]
fn without_home_the_password_database_names_the_home() {
    let home = Home::new();
    let config = home.write_config("");
    let mut status = home.earlyexit(&["telemetry", "status", "--config"]);
    status.arg(&config).env_remove("HOME");
    let run = run(&mut status);
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    let user = nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap();
    let expected = user.map_or("/".into(), |user| user.dir);
    let line = format!(
        "writes to: {}",
        expected.join(".earlyexit/telemetry.db").display()
    );
    assert!(run.stdout_text().contains(&line), "{}", run.stdout_text());
}

#[test]
fn environment_variables_set_nested_keys() {
    let home = Home::new();
    let custom = home.dir.join("custom.db");
    run(home
        .earlyexit(&["--", "true"])
        .env("EARLYEXIT_TELEMETRY_SQLITE_PATH", &custom));
    assert!(custom.exists());
    assert!(!home.db_path().exists());
}

#[test]
fn earlyexit_config_and_the_config_flag_name_other_files() {
    let home = Home::new();
    home.write_config("telemetry:\n  backend: none\n");
    let other = home.dir.join("other.yaml");
    std::fs::write(&other, "telemetry:\n  sqlite:\n    path: ~/from-env.db\n").unwrap();
    let flagged = home.dir.join("flagged.yaml");
    std::fs::write(
        &flagged,
        "telemetry:\n  sqlite:\n    path: ~/from-flag.db\n",
    )
    .unwrap();
    run(home
        .earlyexit(&["--", "true"])
        .env("EARLYEXIT_CONFIG", &other));
    assert!(home.dir.join("from-env.db").exists());
    run(home
        .earlyexit(&["--config", flagged.to_str().unwrap(), "--", "true"])
        .env("EARLYEXIT_CONFIG", &other));
    assert!(home.dir.join("from-flag.db").exists());
}

/// Runs with a config file and expects the command to run and keep its exit code, with one
/// warning naming `names`: no telemetry setting stops a run.
fn assert_config_warning(config: &str, names: &[&str]) {
    let home = Home::new();
    let path = home.write_config(config);
    let marker = home.dir.join("ran");
    let run = run(&mut home.earlyexit(&[
        "--",
        "sh",
        "-c",
        &format!("touch {}; exit 4", marker.display()),
    ]));
    assert_eq!(run.code, 4, "{config:?}: {}", run.stderr_text());
    let stderr = run.stderr_text();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    for name in names {
        assert!(stderr.contains(name), "{stderr:?} does not name {name:?}");
    }
    assert!(marker.exists(), "the command did not run");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    assert_config_warning(
        "telemetry:\n  backend: sqlite\n  sqlite:\n    pth: x.db\n",
        &[":4:", "telemetry.sqlite.pth", "ignored"],
    );
    assert_config_warning(
        "telemetri:\n  backend: sqlite\n",
        &[":2:", "telemetri.backend"],
    );
}

#[test]
fn wrong_type_names_file_line_and_key() {
    assert_config_warning(
        "telemetry:\n  enabled: sometimes\n",
        &[
            ":2:",
            "telemetry.enabled",
            "sometimes",
            "the default true kept",
        ],
    );
    assert_config_warning(
        "telemetry:\n  sqlite:\n    retention_days: soon\n",
        &[":3:", "retention_days"],
    );
    assert_config_warning(
        "telemetry:\n  backend: carrier-pigeon\n",
        &[":2:", "carrier-pigeon"],
    );
}

#[test]
fn yaml_that_does_not_parse_names_file_and_line() {
    assert_config_warning(
        "telemetry:\n  backend: [sqlite\n",
        &["invalid YAML", "telemetry is off for this run"],
    );
}

#[test]
fn a_named_config_file_that_is_missing_is_a_warning_and_telemetry_is_off() {
    let home = Home::new();
    let run = run(home
        .earlyexit(&["--", "true"])
        .env("EARLYEXIT_CONFIG", home.dir.join("nope.yaml")));
    assert_eq!(run.code, 0);
    let stderr = run.stderr_text();
    assert!(stderr.contains("nope.yaml"), "{stderr}");
    assert!(stderr.contains("telemetry is off for this run"), "{stderr}");
    assert!(!home.db_path().exists());
}

#[test]
fn a_bad_environment_value_is_a_warning_that_names_the_variable() {
    let home = Home::new();
    let run = run(home
        .earlyexit(&["--", "sh", "-c", "exit 5"])
        .env("EARLYEXIT_TELEMETRY_BACKEND", "carrier-pigeon"));
    assert_eq!(run.code, 5);
    assert_eq!(
        run.stderr_text(),
        "earlyexit: EARLYEXIT_TELEMETRY_BACKEND: expected sqlite, file, http, hybrid, otlp or \
         none, found 'carrier-pigeon'; the default sqlite kept\n"
    );
    assert_eq!(home.query("SELECT count(*) FROM executions"), [["1"]]);
}

/// Flags, environment variables and a config file that together should disable telemetry.
type DisablingCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn every_way_of_disabling_writes_nothing() {
    let cases: [DisablingCase; 8] = [
        (&["--no-telemetry"], &[], ""),
        (&[], &[("EARLYEXIT_NO_TELEMETRY", "1")], ""),
        (&[], &[("EARLYEXIT_NO_TELEMETRY", "Y")], ""),
        (&[], &[("EARLYEXIT_NO_TELEMETRY", "y")], ""),
        (&[], &[("EARLYEXIT_NO_TELEMETRY", "2")], ""),
        (&[], &[("OTEL_SDK_DISABLED", "true")], ""),
        (&[], &[], "telemetry:\n  enabled: false\n"),
        (&["--telemetry-backend", "none"], &[], ""),
    ];
    for (flags, env, config) in cases {
        let home = Home::new();
        if !config.is_empty() {
            home.write_config(config);
        }
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["--json", "-A", "0", "x", "--", "echo", "x"]);
        let mut command = home.earlyexit(&args);
        command.envs(env.iter().copied());
        let run = run(&mut command);
        assert_eq!(run.code, 1, "{flags:?} {env:?}: {}", run.stderr_text());
        assert!(run.json()["trace_id"].is_null());
        let left: Vec<_> = std::fs::read_dir(home.state_dir())
            .map(|d| {
                d.map(|e| e.unwrap().file_name())
                    .filter(|n| n != "config.yaml")
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            left.is_empty(),
            "{flags:?} {env:?} {config:?} left {left:?}"
        );
    }
}

#[test]
fn empty_zero_false_no_and_off_leave_telemetry_on() {
    for value in ["", "0", "false", "No", "OFF"] {
        let home = Home::new();
        run(home
            .earlyexit(&["--", "true"])
            .env("EARLYEXIT_NO_TELEMETRY", value));
        assert_eq!(
            home.query("SELECT count(*) FROM executions"),
            [["1"]],
            "EARLYEXIT_NO_TELEMETRY={value:?}"
        );
    }
}

#[test]
fn an_unset_variable_in_the_config_is_an_error_that_names_it() {
    assert_config_warning(
        "telemetry:\n  sqlite:\n    path: ${EARLYEXIT_TEST_UNSET}/x/t.db\n",
        &[
            ":3:",
            "telemetry.sqlite.path",
            "${EARLYEXIT_TEST_UNSET} is not set",
        ],
    );
    assert_config_warning(
        "telemetry:\n  sqlite:\n    path: ${EARLYEXIT_TEST_UNSET/t.db\n",
        &[":3:", "unclosed '${'"],
    );
}

#[test]
fn a_default_in_the_config_stands_in_for_an_unset_variable() {
    let home = Home::new();
    home.write_config(
        "telemetry:\n  sqlite:\n    path: ${EARLYEXIT_TEST_UNSET:-~/fallback}/t.db\n",
    );
    let run = run(&mut home.earlyexit(&["--", "true"]));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    assert!(home.dir.join("fallback/t.db").exists());
}

#[test]
fn a_config_that_is_not_utf8_is_one_line_and_the_run_goes_on_without_telemetry() {
    let home = Home::new();
    let path = home.write_config("telemetry:\n  backend: sqlite\n");
    std::fs::write(&path, b"telemetry:\n  backend: \xff\n").unwrap();
    let marker = home.dir.join("ran");
    let run = run(&mut home.earlyexit(&["--", "touch", marker.to_str().unwrap()]));
    assert_eq!(run.code, 0, "{}", run.stderr_text());
    assert!(marker.exists());
    assert_eq!(
        run.stderr_text(),
        format!(
            "earlyexit: config file {}: not UTF-8 text; telemetry is off for this run\n",
            path.display()
        )
    );
}
