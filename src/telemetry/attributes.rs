//! The names of the span's attributes and events: the contract with every backend, so they live
//! here once. The `process.*` and `cicd.*` names are OpenTelemetry semantic conventions.

pub const EXECUTION_ID: &str = "earlyexit.execution_id";
pub const COMMAND_HASH: &str = "earlyexit.command_hash";
pub const PATTERN: &str = "earlyexit.pattern";
pub const EXIT_CODE: &str = "earlyexit.exit_code";
pub const EXIT_REASON: &str = "earlyexit.exit_reason";
pub const MATCH_COUNT: &str = "earlyexit.match_count";
pub const TOTAL_RUNTIME: &str = "earlyexit.total_runtime";
pub const TIME_TO_FIRST_OUTPUT: &str = "earlyexit.time_to_first_output";
pub const TIME_TO_FIRST_MATCH: &str = "earlyexit.time_to_first_match";
pub const LINES_PROCESSED: &str = "earlyexit.lines_processed";
pub const BYTES_PROCESSED: &str = "earlyexit.bytes_processed";
pub const PROJECT_TYPE: &str = "earlyexit.project_type";
pub const COMMAND_CATEGORY: &str = "earlyexit.command_category";

pub const PROCESS_EXIT_CODE: &str = "process.exit.code";
pub const PROCESS_EXECUTABLE_NAME: &str = "process.executable.name";
pub const PROCESS_PID: &str = "process.pid";
/// Full detail only, scrubbed.
pub const PROCESS_COMMAND_ARGS: &str = "process.command_args";
/// Full detail only, scrubbed.
pub const PROCESS_WORKING_DIRECTORY: &str = "process.working_directory";

pub const CICD_SYSTEM: &str = "cicd.system";
pub const CICD_PIPELINE_NAME: &str = "cicd.pipeline.name";
pub const CICD_PIPELINE_RUN_ID: &str = "cicd.pipeline.run.id";

/// The event recorded for each matching line.
pub const MATCH_EVENT: &str = "earlyexit.match";
pub const MATCH_NUMBER: &str = "earlyexit.match.number";
pub const MATCH_OFFSET: &str = "earlyexit.match.offset";
pub const MATCH_STREAM: &str = "earlyexit.match.stream";
pub const MATCH_LINE_NUMBER: &str = "earlyexit.match.line_number";
/// `pattern`, `success` or `error`: which pattern the line matched.
pub const MATCH_KIND: &str = "earlyexit.match.kind";
/// Full detail only, scrubbed, at most [`MAX_MATCH_LINE_BYTES`].
pub const MATCH_LINE: &str = "earlyexit.match.line";

/// The longest matched line kept in telemetry.
pub const MAX_MATCH_LINE_BYTES: usize = 1024;

/// The attributes that only full detail keeps.
pub const FULL_DETAIL_ONLY: &[&str] =
    &[PROCESS_COMMAND_ARGS, PROCESS_WORKING_DIRECTORY, MATCH_LINE];
