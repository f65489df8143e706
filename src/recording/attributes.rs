//! The names of the span's attributes and events: the contract with every backend, so they live
//! here once. The `process.*`, `cicd.*` and `vcs.*` names come from the OpenTelemetry
//! semantic-conventions registry through its crate (registry version in [`SEMCONV_SCHEMA_URL`]);
//! the rest are earlyexit's own, in the `earlyexit.` namespace.

use opentelemetry_semantic_conventions::attribute as semconv;

/// The registry version the names follow.
pub const SEMCONV_SCHEMA_URL: &str = opentelemetry_semantic_conventions::SCHEMA_URL;

pub const EXECUTION_ID: &str = "earlyexit.execution_id";
pub const COMMAND_HASH: &str = "earlyexit.command_hash";
pub const PATTERN: &str = "earlyexit.pattern";
pub const EXIT_CODE: &str = "earlyexit.exit_code";
/// Why earlyexit ended the run, finer than the outcome (`idle_timeout`, `success_pattern` …).
pub const EXIT_REASON: &str = "earlyexit.exit_reason";
/// The run's one outcome (`success`, `failure`, `stopped_on_success`, `timeout`, `cancelled`,
/// `lost`, `error`): `cicd.pipeline.task.run.result` has no value for "stopped on success".
pub const OUTCOME: &str = "earlyexit.outcome";
pub use semconv::CICD_PIPELINE_TASK_RUN_RESULT;
pub use semconv::ERROR_TYPE;
pub const MATCH_COUNT: &str = "earlyexit.match_count";
/// True when earlyexit ended the command (a match, an error pattern, a timeout); false when
/// the command ended by itself. What the time-saved estimate rests on.
pub const STOPPED_COMMAND: &str = "earlyexit.stopped_command";
pub const TOTAL_RUNTIME: &str = "earlyexit.total_runtime";
pub const TIME_TO_FIRST_OUTPUT: &str = "earlyexit.time_to_first_output";
pub const TIME_TO_FIRST_MATCH: &str = "earlyexit.time_to_first_match";
pub const LINES_PROCESSED: &str = "earlyexit.lines_processed";
pub const BYTES_PROCESSED: &str = "earlyexit.bytes_processed";
pub const PROJECT_TYPE: &str = "earlyexit.project_type";
pub const COMMAND_CATEGORY: &str = "earlyexit.command_category";
/// The tool profile that applied (`earlyexit --list-profiles`), when one did.
pub const PROFILE: &str = "earlyexit.profile";
/// True on the synthetic run of `telemetry send-test`.
pub const TEST: &str = "earlyexit.test";

/// Full detail only, scrubbed.
pub use semconv::PROCESS_COMMAND_ARGS;
pub use semconv::PROCESS_EXECUTABLE_NAME;
pub use semconv::PROCESS_EXIT_CODE;
pub use semconv::PROCESS_PID;
/// Full detail only, scrubbed.
pub use semconv::PROCESS_WORKING_DIRECTORY;

/// The CI system's name: the registry has no attribute for it, so it is earlyexit's own.
pub const CI_SYSTEM: &str = "earlyexit.ci.system";
pub use semconv::CICD_PIPELINE_NAME;
pub use semconv::CICD_PIPELINE_RUN_ID;
/// Full detail only: it names the repository.
pub use semconv::CICD_PIPELINE_RUN_URL_FULL;
/// The CI job (GitHub's job id, GitLab's job name …).
pub use semconv::CICD_PIPELINE_TASK_NAME;
/// The job's own run (GitLab's `CI_JOB_ID`, Buildkite's, Azure's, Travis's job id).
pub use semconv::CICD_PIPELINE_TASK_RUN_ID;
/// Full detail only: it names the repository.
pub use semconv::CICD_PIPELINE_TASK_RUN_URL_FULL;
/// The runner or agent the job ran on. Full detail only: a machine's name.
pub use semconv::CICD_WORKER_NAME;
/// The pull or merge request being built.
pub use semconv::VCS_CHANGE_ID;
/// Full detail only: it names the repository's owner.
pub use semconv::VCS_OWNER_NAME;
/// `github`, `gitlab`, `bitbucket` or `gitea`, when the CI system says.
pub use semconv::VCS_PROVIDER_NAME;
/// Full detail only: the branch a pull or merge request goes into, free text.
pub use semconv::VCS_REF_BASE_NAME;
/// Full detail only: a branch name is free text.
pub use semconv::VCS_REF_HEAD_NAME;
pub use semconv::VCS_REF_HEAD_REVISION;
/// `branch` or `tag`.
pub use semconv::VCS_REF_HEAD_TYPE;
/// Full detail only: it names the repository.
pub use semconv::VCS_REPOSITORY_NAME;
/// Full detail only, credentials stripped.
pub use semconv::VCS_REPOSITORY_URL_FULL;

/// The event recorded for each matching line: a span event, and the event name of its live
/// log record.
pub const MATCH_EVENT: &str = "earlyexit.match";
/// The event name of the live log record sent as a run starts.
pub const RUN_START_EVENT: &str = "earlyexit.run.start";
/// The event name of the live log record that says a run still goes, every 30 s while it runs
/// (a team server shows a run it has not heard of for a while as lost).
pub const RUN_HEARTBEAT_EVENT: &str = "earlyexit.run.heartbeat";
/// The event name of the live log record that carries the deciding match's failure block,
/// sent when the block is complete (as the run ends).
pub const FAILURE_BLOCK_EVENT: &str = "earlyexit.failure.block";
/// Match log records not sent while the run ran: past `telemetry.live.max_records_per_second`,
/// or while the sender was busy. Only present when some were.
pub const LIVE_RECORDS_SUPPRESSED: &str = "earlyexit.live.suppressed_records";
pub const MATCH_NUMBER: &str = "earlyexit.match.number";
pub const MATCH_OFFSET: &str = "earlyexit.match.offset";
/// `stdout` or `stderr`: the semantic conventions' name for the stream a line came from.
pub use semconv::LOG_IOSTREAM as MATCH_STREAM;
/// What earlier versions called [`MATCH_STREAM`]; read from spans they sent.
pub const MATCH_STREAM_BEFORE: &str = "earlyexit.match.stream";
pub const MATCH_LINE_NUMBER: &str = "earlyexit.match.line_number";
/// `pattern`, `success` or `error`: which pattern the line matched.
pub const MATCH_KIND: &str = "earlyexit.match.kind";
/// Full detail only, scrubbed, at most [`MAX_MATCH_LINE_BYTES`].
pub const MATCH_LINE: &str = "earlyexit.match.line";

/// The deciding match's failure block (a tool profile's rules), its lines joined, scrubbed,
/// at most [`MAX_MATCH_BLOCK_BYTES`]: on that match's event. Full detail only.
pub const MATCH_BLOCK: &str = "earlyexit.match.block";
/// The longest failure block kept in telemetry.
pub const MAX_MATCH_BLOCK_BYTES: usize = 8 * 1024;
/// Where the block points (semantic conventions, code): on the deciding match's event.
pub use semconv::CODE_COLUMN_NUMBER;
pub use semconv::CODE_FILE_PATH;
pub use semconv::CODE_LINE_NUMBER;

/// The longest matched line kept in telemetry.
pub const MAX_MATCH_LINE_BYTES: usize = crate::observer::MAX_KEPT_LINE_BYTES;

/// The attributes that only full detail keeps.
pub const FULL_DETAIL_ONLY: &[&str] = &[
    PROCESS_COMMAND_ARGS,
    PROCESS_WORKING_DIRECTORY,
    MATCH_LINE,
    MATCH_BLOCK,
    CODE_FILE_PATH,
    CICD_PIPELINE_RUN_URL_FULL,
    CICD_PIPELINE_TASK_RUN_URL_FULL,
    CICD_WORKER_NAME,
    VCS_REF_BASE_NAME,
    VCS_REF_HEAD_NAME,
    VCS_REPOSITORY_URL_FULL,
    VCS_REPOSITORY_NAME,
    VCS_OWNER_NAME,
];
