//! A run's rows: the columns of `executions` and `match_events`, written and read back.

use rusqlite::{params, Transaction};

use super::running::DELETE_RUNNING;
use crate::recording::record::{ExecutionRecord, RunRecord};

pub const EXECUTION_COLUMNS: &str = "execution_id, timestamp, trace_id, span_id, parent_span_id, command_hash, \
    executable, pattern, exit_code, exit_reason, command_exit_code, total_runtime, time_to_first_output, \
    time_to_first_match, match_count, lines_processed, bytes_processed, project_type, command_category, \
    ci_system, pipeline_name, pipeline_run_id, anonymized, command, working_directory, \
    pipeline_run_url, vcs_ref, vcs_revision, vcs_repository_url, stopped_command, outcome, task_name";

pub fn execution_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        execution_id: row.get(0)?,
        timestamp: row.get(1)?,
        trace_id: row.get(2)?,
        span_id: row.get(3)?,
        parent_span_id: row.get(4)?,
        command_hash: row.get(5)?,
        executable: row.get(6)?,
        pattern: row.get(7)?,
        exit_code: row.get(8)?,
        exit_reason: row.get(9)?,
        command_exit_code: row.get(10)?,
        total_runtime: row.get(11)?,
        time_to_first_output: row.get(12)?,
        time_to_first_match: row.get(13)?,
        match_count: row.get(14)?,
        lines_processed: row.get(15)?,
        bytes_processed: row.get(16)?,
        project_type: row.get(17)?,
        command_category: row.get(18)?,
        ci_system: row.get(19)?,
        pipeline_name: row.get(20)?,
        pipeline_run_id: row.get(21)?,
        anonymized: row.get(22)?,
        command: row.get(23)?,
        working_directory: row.get(24)?,
        pipeline_run_url: row.get(25)?,
        vcs_ref: row.get(26)?,
        vcs_revision: row.get(27)?,
        vcs_repository_url: row.get(28)?,
        stopped_command: row.get(29)?,
        outcome: row.get(30)?,
        task_name: row.get(31)?,
    })
}

pub fn insert_execution_sql() -> String {
    format!(
        "INSERT OR IGNORE INTO executions ({EXECUTION_COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
         ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)"
    )
}

/// A new run goes after the last row of `executions` and of its time index, and into the key
/// index somewhere below its root; a match goes after the last row of `match_events`. Each
/// lookup here reads that path of pages.
pub const WARM_INSERT_PAGES: &str = "SELECT (SELECT max(rowid) FROM executions),
    (SELECT max(timestamp) FROM executions),
    (SELECT 1 FROM executions WHERE execution_id = ''),
    (SELECT max(id) FROM match_events)";

pub const INSERT_MATCH: &str = "INSERT OR IGNORE INTO match_events
    (execution_id, match_number, timestamp_offset, stream_source, line_number, match_kind, line_content)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

pub fn insert_runs(transaction: &Transaction<'_>, runs: &[RunRecord]) -> rusqlite::Result<usize> {
    let mut new_runs = 0;
    let mut execution = transaction.prepare_cached(&insert_execution_sql())?;
    let mut event = transaction.prepare_cached(INSERT_MATCH)?;
    let mut no_longer_running = transaction.prepare_cached(DELETE_RUNNING)?;
    for run in runs {
        let e = &run.execution;
        no_longer_running.execute([&e.execution_id])?;
        let inserted = execution.execute(params![
            e.execution_id,
            e.timestamp,
            e.trace_id,
            e.span_id,
            e.parent_span_id,
            e.command_hash,
            e.executable,
            e.pattern,
            e.exit_code,
            e.exit_reason,
            e.command_exit_code,
            e.total_runtime,
            e.time_to_first_output,
            e.time_to_first_match,
            e.match_count,
            e.lines_processed,
            e.bytes_processed,
            e.project_type,
            e.command_category,
            e.ci_system,
            e.pipeline_name,
            e.pipeline_run_id,
            e.anonymized,
            e.command,
            e.working_directory,
            e.pipeline_run_url,
            e.vcs_ref,
            e.vcs_revision,
            e.vcs_repository_url,
            e.stopped_command,
            e.outcome,
            e.task_name,
        ])?;
        if inserted == 0 {
            continue;
        }
        new_runs += 1;
        for m in &run.matches {
            event.execute(params![
                m.execution_id,
                m.match_number,
                m.timestamp_offset,
                m.stream_source,
                m.line_number,
                m.match_kind,
                m.line_content,
            ])?;
        }
    }
    Ok(new_runs)
}
