//! The run loop reports start, each match and the end to its observer (the seam telemetry uses).

use std::ffi::OsString;
use std::time::Duration;

use earlyexit::cli::{self, Invocation};
use earlyexit::config::Settings;
use earlyexit::matcher::{MatchKind, Matcher};
use earlyexit::observer::{MatchEvent, RunObserver, RunStart, StreamName};
use earlyexit::outcome::{ExitReason, RunEnd};
use earlyexit::watch;

#[derive(Default)]
struct Recorder {
    started: Option<(String, Option<u32>)>,
    matches: Vec<(u64, MatchKind, Duration, StreamName, u64, Vec<u8>)>,
    ended: Option<RunEnd>,
    saw_environment: Option<String>,
}

impl RunObserver for Recorder {
    fn child_environment(&mut self) -> Vec<(String, String)> {
        vec![("EARLYEXIT_TEST_MARK".into(), "from-observer".into())]
    }
    fn on_start(&mut self, start: &RunStart<'_>) {
        self.started = Some((start.execution_id.to_string(), start.pid));
    }
    fn on_match(&mut self, event: &MatchEvent<'_>) {
        let line = event.line.to_vec();
        if line.starts_with(b"mark=") {
            self.saw_environment = Some(String::from_utf8_lossy(&line[5..]).into_owned());
        }
        self.matches.push((
            event.number,
            event.kind,
            event.offset,
            event.stream,
            event.line_number,
            line,
        ));
    }
    fn on_end(&mut self, outcome: &RunEnd) {
        self.ended = Some(outcome.clone());
    }
}

fn settings(args: &[&str]) -> Settings {
    let args: Vec<OsString> = std::iter::once("earlyexit")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    match cli::parse(args).unwrap() {
        Invocation::Run(cli) => {
            // Outside CI, whatever runs the tests: the exit codes are grep's.
            let env = |name: &str| {
                (!crate::common::CI_MARKERS.contains(&name))
                    .then(|| std::env::var(name).ok())
                    .flatten()
            };
            cli.settings(&env)
        }
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn start_each_match_and_end_reach_the_observer() {
    let settings = settings(&[
        "-m", "2", "-A", "0", "-e", "FATAL", "Error", "--", "sh", "-c",
        "echo ok; echo mark=$EARLYEXIT_TEST_MARK >&2; echo Error one >&2; sleep 0.2; echo fine; echo Error two; sleep 30",
    ]);
    let matcher = Matcher::new(&settings.patterns).unwrap();
    let mut recorder = Recorder::default();
    let outcome = watch::run(&settings, &matcher, "id-1", &mut recorder).unwrap();

    let (execution_id, pid) = recorder.started.clone().unwrap();
    assert_eq!(execution_id, "id-1");
    assert!(pid.is_some());
    let summary: Vec<_> = recorder
        .matches
        .iter()
        .map(|(number, kind, _, stream, line, text)| {
            (
                *number,
                *kind,
                *stream,
                *line,
                String::from_utf8_lossy(text).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                1,
                MatchKind::Pattern,
                StreamName::Stderr,
                2,
                "Error one".to_string()
            ),
            (
                2,
                MatchKind::Pattern,
                StreamName::Stdout,
                3,
                "Error two".to_string()
            ),
        ]
    );
    assert!(
        recorder.matches[0].2 <= recorder.matches[1].2,
        "offsets grow"
    );
    let ended = recorder.ended.unwrap();
    assert_eq!(ended, outcome);
    assert_eq!(ended.reason, ExitReason::Match);
    assert_eq!(ended.match_count, 2);
    assert!(ended.stopped_command);
    assert_eq!(ended.pid, pid);
}

#[test]
fn the_observer_can_give_the_child_environment_variables() {
    let settings = settings(&[
        "-A",
        "0",
        "mark=",
        "--",
        "sh",
        "-c",
        "echo mark=$EARLYEXIT_TEST_MARK",
    ]);
    let matcher = Matcher::new(&settings.patterns).unwrap();
    let mut recorder = Recorder::default();
    watch::run(&settings, &matcher, "id-2", &mut recorder).unwrap();
    assert_eq!(recorder.saw_environment.as_deref(), Some("from-observer"));
}
