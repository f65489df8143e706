//! The wrapper: runs the command (or reads standard input), passes its output through, matches
//! it line by line, and decides when and how the run ends.
//!
//! Everything happens on one thread around one `poll`: the command's two streams, a self-pipe
//! for signals, and the nearest timer. One thread means the order of events is the order in
//! which they are handled, so a match, a timeout and a signal can never race each other.
//!
//! May import: `config`, `matcher`, `observer`, `outcome`, `ci_output` (GitLab's folded
//! sections) and the leaves.

mod child;
pub mod guardian;
mod lines;
mod output;
mod progress;
mod signals;

use std::io;
use std::ops::ControlFlow;
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

pub use lines::MAX_LINE_BYTES;

use crate::ci_output::gitlab;
use crate::config::{OutputMode, Settings, Source, WatchedStreams, DEFAULT_CONTEXT_PAUSE};
use crate::matcher::Matcher;
use crate::observer::{RunObserver, RunStart, StreamName};
use crate::outcome::{exit_code, Ended, ExitReason, Outcome, RunEnd, Statistics};
use child::Child;
use progress::{Input, Progress, StreamLines};
use signals::{poll_timeout, SignalWatcher};

/// Bytes read from a stream at a time.
const READ_CHUNK: usize = 128 * 1024;
/// How long output still arriving after the command exited is read (a grandchild may hold the
/// pipe open for ever; we never wait for its end of file).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);
/// The exit code when our own stdout is closed under us, as if SIGPIPE had ended us.
const BROKEN_PIPE_EXIT: i32 = 128 + 13;

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{}", spawn_message(program, source))]
    Spawn { program: String, source: io::Error },
    #[error("cannot set up the run: {0}")]
    Setup(#[from] io::Error),
}

fn spawn_message(program: &str, source: &io::Error) -> String {
    match source.kind() {
        io::ErrorKind::NotFound => format!("command not found: {program}"),
        io::ErrorKind::PermissionDenied => {
            format!("cannot execute '{program}': permission denied")
        }
        _ => format!("cannot run '{program}': {source}"),
    }
}

/// Runs one watch to its end and reports it to `observer`.
pub fn run(
    settings: &Settings,
    matcher: &Matcher,
    execution_id: &str,
    observer: &mut dyn RunObserver,
) -> Result<RunEnd, WatchError> {
    let signals = SignalWatcher::install()?;
    let started_at = SystemTime::now();
    let start = Instant::now();
    let forward = settings.output == OutputMode::PassThrough;
    let watches = |name: StreamName| {
        !matches!(
            (settings.watched, name),
            (WatchedStreams::StdoutOnly, StreamName::Stderr)
                | (WatchedStreams::StderrOnly, StreamName::Stdout)
        )
    };
    let (child, inputs) = match &settings.source {
        Source::Command { program, args } => {
            let mut added = observer.child_environment();
            if let Some(profile) = &settings.profile {
                added.extend(profile.variables.iter().cloned());
            }
            let environment = child::Environment {
                added,
                removed: settings
                    .telemetry
                    .credential_variables(std::env::vars_os().map(|(name, _)| name)),
            };
            let spawned = child::spawn(program, args, settings.pty, &environment)?;
            let inputs = vec![
                Input::new(
                    StreamName::Stdout,
                    spawned.stdout,
                    forward,
                    watches(StreamName::Stdout),
                ),
                Input::new(
                    StreamName::Stderr,
                    spawned.stderr,
                    forward,
                    watches(StreamName::Stderr),
                ),
            ];
            (Some(spawned.child), inputs)
        }
        Source::Stdin => {
            let stdin = io::stdin().as_fd().try_clone_to_owned()?;
            (
                None,
                vec![Input::new(StreamName::Stdin, stdin, forward, true)],
            )
        }
    };
    observer.on_start(&RunStart {
        execution_id,
        started_at,
        settings,
        pid: child.as_ref().map(|c| c.pid.as_raw() as u32),
    });
    let mut runner = Runner {
        settings,
        signals,
        child,
        inputs,
        progress: Progress {
            start,
            last_output: start,
            matcher,
            observer,
            max_count: settings.patterns.max_count,
            delay_exit: settings.delay_exit,
            delay_exit_lines: settings.delay_exit_lines,
            match_count: 0,
            pattern_matches: 0,
            decision: None,
            statistics: Statistics::default(),
            fold_context: settings.fold_context,
            fold_at: None,
            mute_at: None,
            held: held_context(settings),
            context_pause: settings.context_pause,
            quiet_before_chunk: Duration::ZERO,
        },
        stop: None,
        folded_on: None,
        buffer: vec![0; READ_CHUNK],
    };
    runner.run_loop();
    let outcome = runner.finish();
    runner.progress.observer.on_end(&outcome);
    Ok(outcome)
}

/// The longest a cancelled run's command gets to stop before SIGKILL, whatever `-k` says. A CI
/// runner that cancels a job kills earlyexit 2.5 s after SIGTERM (GitHub Actions: SIGINT,
/// SIGTERM 7.5 s later, SIGKILL 2.5 s after that); the run must be recorded before, so the
/// command gets at most 1 s and the record the rest.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// Why earlyexit ended the run before the input did.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// A match decided the run and its context (delay) is over.
    Decided,
    Timeout(ExitReason),
    Signal(i32),
    BrokenPipe,
}

struct Runner<'a> {
    settings: &'a Settings,
    signals: SignalWatcher,
    child: Option<Child>,
    inputs: Vec<Input>,
    progress: Progress<'a>,
    stop: Option<Stop>,
    buffer: Vec<u8>,
    /// The input whose output holds an open collapsible section.
    folded_on: Option<usize>,
}

impl Runner<'_> {
    fn run_loop(&mut self) {
        while self.stop.is_none() {
            if let Some(signal) = self.signals.take_terminating() {
                self.stop = Some(Stop::Signal(signal));
                break;
            }
            let inputs_open = self.inputs.iter().any(|input| input.open);
            let command_done = self.child.as_ref().is_some_and(|c| c.status.is_some());
            if command_done {
                self.drain_after_exit();
                break;
            }
            if !inputs_open && self.child.is_none() {
                break;
            }
            self.wait_and_read();
            self.check_timers();
        }
    }

    fn wait_and_read(&mut self) {
        let next = self
            .next_deadline()
            .into_iter()
            .chain(self.progress.observer.next_tick())
            .min();
        let timeout = match next {
            Some(deadline) => poll_timeout(deadline.saturating_duration_since(Instant::now())),
            None => PollTimeout::NONE,
        };
        let mut fds = vec![PollFd::new(self.signals.fd(), PollFlags::POLLIN)];
        let open: Vec<usize> = (0..self.inputs.len())
            .filter(|&i| self.inputs[i].open)
            .collect();
        fds.extend(
            open.iter()
                .map(|&i| PollFd::new(self.inputs[i].fd.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, timeout) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            self.signals.drain();
            if let Some(child) = &mut self.child {
                child.reap();
            }
        }
        for (&input, _) in open.iter().zip(&ready[1..]).filter(|(_, &ready)| ready) {
            if self.stop.is_some() {
                break;
            }
            self.read_once(input);
        }
    }

    /// Reads one chunk from an input; returns false when nothing was there.
    fn read_once(&mut self, index: usize) -> bool {
        let input = &mut self.inputs[index];
        let count = match nix::unistd::read(&input.fd, &mut self.buffer) {
            Ok(0) | Err(Errno::EIO) => {
                input.open = false;
                input.splitter.finish(&mut StreamLines {
                    progress: &mut self.progress,
                    stream: input.name,
                    watched: input.watched,
                    line_number: &mut input.line_number,
                    private_key: &mut input.private_key,
                    chunk: &[],
                });
                return false;
            }
            Ok(count) => count,
            Err(Errno::EAGAIN | Errno::EINTR) => return false,
            Err(_) => {
                input.open = false;
                return false;
            }
        };
        let now = Instant::now();
        let statistics = &mut self.progress.statistics;
        statistics.bytes_processed += count as u64;
        statistics
            .time_to_first_output
            .get_or_insert(now - self.progress.start);
        self.progress.quiet_before_chunk = now.saturating_duration_since(self.progress.last_output);
        self.progress.last_output = now;
        let chunk = &self.buffer[..count];
        let muted_before = self.progress.is_muted();
        let flow = input.splitter.feed(
            chunk,
            &mut StreamLines {
                progress: &mut self.progress,
                stream: input.name,
                watched: input.watched,
                line_number: &mut input.line_number,
                private_key: &mut input.private_key,
                chunk,
            },
        );
        let end = match flow {
            ControlFlow::Continue(()) => count,
            ControlFlow::Break(end) => {
                self.stop = Some(Stop::Decided);
                end
            }
        };
        let end = match (muted_before, self.progress.mute_at.take()) {
            (true, _) => 0,
            (false, Some(at)) => at.min(end),
            (false, None) => end,
        };
        self.progress.observer.on_output(input.name, &chunk[..end]);
        if input.forward {
            let written = match self.progress.fold_at.take().filter(|at| *at <= end) {
                Some(at) => {
                    self.folded_on = Some(index);
                    input
                        .write_through(&chunk[..at])
                        .and_then(|()| input.write_through(&gitlab::section_start()))
                        .and_then(|()| input.write_through(&chunk[at..end]))
                }
                None => input.write_through(&chunk[..end]),
            };
            if let Err(error) = written {
                if error.kind() == io::ErrorKind::BrokenPipe {
                    self.stop.get_or_insert(Stop::BrokenPipe);
                }
            }
        }
        true
    }

    /// The command has exited: pass on what it wrote before, without waiting for end of file.
    fn drain_after_exit(&mut self) {
        let give_up = Instant::now() + DRAIN_AFTER_EXIT;
        for index in 0..self.inputs.len() {
            while self.inputs[index].open && self.stop.is_none() && Instant::now() < give_up {
                if !self.read_once(index) {
                    break;
                }
            }
        }
    }

    /// Every timer that can end the run, with the stop it causes, in the order in which they
    /// win when several have expired at once: a decided match first, then the timeouts.
    fn deadlines(&self) -> [(Option<Instant>, Stop); 4] {
        let progress = &self.progress;
        let timeouts = &self.settings.timeouts;
        let first_output = timeouts
            .first_output
            .filter(|_| progress.statistics.time_to_first_output.is_none());
        [
            (
                progress.decision.as_ref().map(|d| {
                    let waited_out = d.at + progress.delay_exit;
                    // Past the line cap, only counting goes on: it ends at a pause even when
                    // `--context-pause 0` waits out the delay for the lines shown.
                    let pause = match d.capped_at {
                        Some(_) => {
                            Some(self.settings.context_pause.unwrap_or(DEFAULT_CONTEXT_PAUSE))
                        }
                        None if d.holding => None,
                        None => self.settings.context_pause,
                    };
                    let since = d.capped_at.unwrap_or(d.at).max(progress.last_output);
                    pause.map_or(waited_out, |pause| (since + pause).min(waited_out))
                }),
                Stop::Decided,
            ),
            (
                timeouts.overall.map(|t| progress.start + t),
                Stop::Timeout(ExitReason::Timeout),
            ),
            (
                first_output.map(|t| progress.start + t),
                Stop::Timeout(ExitReason::FirstOutputTimeout),
            ),
            (
                timeouts.idle.map(|t| progress.last_output + t),
                Stop::Timeout(ExitReason::IdleTimeout),
            ),
        ]
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines()
            .into_iter()
            .filter_map(|(deadline, _)| deadline)
            .min()
    }

    fn check_timers(&mut self) {
        if self.stop.is_some() {
            return;
        }
        let now = Instant::now();
        if self
            .progress
            .observer
            .next_tick()
            .is_some_and(|tick| now >= tick)
        {
            self.progress.observer.on_tick();
        }
        self.stop = self
            .deadlines()
            .into_iter()
            .find(|(deadline, _)| deadline.is_some_and(|d| now >= d))
            .map(|(_, stop)| stop);
    }

    /// Ends the command if we stopped it, and turns the run into its [`RunEnd`].
    fn finish(&mut self) -> RunEnd {
        let mut stopped_command = false;
        if let Some(child) = &mut self.child {
            child.reap();
            let decided = self.progress.decision.is_some();
            if self.stop.is_some() || decided {
                stopped_command = child.status.is_none();
                let grace = match self.stop {
                    Some(Stop::Signal(_)) => self.settings.kill_after.min(CANCEL_GRACE),
                    _ => self.settings.kill_after,
                };
                child.terminate_group(grace, &mut self.signals);
            }
            child.release();
        }
        if let Some(index) = self.folded_on.take() {
            let _ = self.inputs[index].write_through(&gitlab::section_end());
        }
        let command_exit_code = self.child.as_ref().and_then(|c| c.status);
        if let (Some(d), Some(pause)) = (&self.progress.decision, self.settings.context_pause) {
            // Still held when the delay ran out: it waited past the pause for nothing more.
            if d.holding && self.progress.last_output.elapsed() > pause {
                self.progress.statistics.waited_for_detail = true;
            }
        }
        let decision = self.progress.decision.as_ref().map(|d| d.reason);
        let (reason, code) = match (self.stop, decision) {
            (Some(Stop::Signal(signal)), _) => (ExitReason::Interrupted, Some(128 + signal)),
            (Some(Stop::BrokenPipe), _) => (ExitReason::Interrupted, Some(BROKEN_PIPE_EXIT)),
            (Some(Stop::Timeout(reason)), _) => (reason, Some(exit_code::TIMEOUT)),
            (_, Some(reason)) => (reason, None),
            // Fewer matches than `-m` asked for still saw the error.
            (_, None) if self.progress.pattern_matches > 0 => (ExitReason::Match, None),
            (_, None) if self.progress.matcher.is_active() => (ExitReason::NoMatch, None),
            (_, None) => (ExitReason::Completed, None),
        };
        let ended = Ended {
            command_exit_code,
            stopped_command,
            error_seen: self.progress.pattern_matches > 0 || reason == ExitReason::ErrorPattern,
        };
        let outcome = Outcome::of(reason, ended);
        let code = code.unwrap_or_else(|| {
            crate::outcome::decided_exit_code(outcome, reason, ended, self.settings.exit_codes)
        });
        let progress = &self.progress;
        RunEnd {
            exit_code: code,
            outcome,
            reason,
            command_exit_code,
            pid: self.child.as_ref().map(|c| c.pid.as_raw() as u32),
            match_count: progress.match_count,
            duration: progress.start.elapsed(),
            statistics: progress.statistics.clone(),
            stopped_command,
        }
    }
}

/// The tool profile's hold, compiled; none without a profile or a hold.
fn held_context(settings: &Settings) -> Option<progress::HeldContext> {
    let hold = settings.profile.as_ref()?.profile.block.hold?;
    let compile = |pattern: &str| regex::bytes::Regex::new(pattern).ok();
    Some(progress::HeldContext {
        from: compile(hold.from)?,
        until: compile(hold.until)?,
    })
}
