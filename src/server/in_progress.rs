//! What runs now, as the team's page and `/api/v1/report` show it: each run in progress with
//! its command, branch and where it runs (the CI job, with a link to it, or a machine), from the
//! span its start record carried; and the runs whose runner stopped sending, as lost.
//!
//! A runner sends a record at a run's start, at each match and every
//! `telemetry::live`'s heartbeat (30 s) while it runs, so a run heard of within
//! `serve --lost-after` (2 minutes by default) is in progress, and one not heard of since is
//! lost: its earlyexit was killed, or its machine went away, before it could send the run.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::analysis::report::escape;
use crate::recording::privacy::Detail;
use crate::recording::record::RunRecord;
use crate::recording::stored_span::StoredSpan;
use crate::store::{RunningNow, RunningRow};

/// Runs listed on the page, of each kind.
pub const LISTED: usize = 50;

/// One run in progress (or lost), as the page lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunNow {
    pub execution_id: String,
    /// The command line at full detail, else the executable.
    pub command: String,
    pub branch: Option<String>,
    pub repository: Option<String>,
    /// The CI system and job, or `local`.
    pub runs_on: String,
    /// The CI job's page, at full detail.
    pub url: Option<String>,
    pub started: String,
    pub last_heard: String,
    pub matches: u64,
    pub lost: bool,
}

impl RunNow {
    fn of(row: &RunningRow, lost_before: SystemTime) -> RunNow {
        let record = StoredSpan::from_json(&row.span)
            .ok()
            .and_then(|span| span.into_span_data().ok())
            .and_then(|span| RunRecord::from_span(&span, Detail::Full))
            .map(|run| run.execution)
            .unwrap_or_default();
        let runs_on = match (&record.ci_system, &record.task_name, &record.pipeline_name) {
            (Some(ci), Some(job), _) | (Some(ci), None, Some(job)) => format!("{ci}: {job}"),
            (Some(ci), None, None) => ci.clone(),
            (None, ..) => "local".to_string(),
        };
        RunNow {
            execution_id: row.execution_id.clone(),
            command: record
                .command
                .or(record.executable)
                .unwrap_or_else(|| "(unknown)".to_string()),
            branch: record.vcs_ref,
            repository: record.vcs_repository_url,
            runs_on,
            url: record.pipeline_run_url,
            started: row.started.clone(),
            last_heard: crate::timestamp::seconds(row.last_seen),
            matches: row.match_count,
            lost: row.last_seen < lost_before,
        }
    }
}

/// The runs in progress and the lost ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunsNow {
    pub in_progress: i64,
    pub lost: i64,
    /// How long a run may go unheard of before it is lost, in seconds.
    pub lost_after_seconds: u64,
    pub runs: Vec<RunNow>,
}

impl RunsNow {
    pub fn new(now: RunningNow, lost_before: SystemTime, lost_after: Duration) -> RunsNow {
        RunsNow {
            in_progress: now.in_progress,
            lost: now.lost,
            lost_after_seconds: lost_after.as_secs(),
            runs: now
                .rows
                .iter()
                .map(|row| RunNow::of(row, lost_before))
                .collect(),
        }
    }

    /// The page's section: the counts, then a table of each kind.
    pub fn html(&self) -> String {
        let lost_after = humantime::format_duration(Duration::from_secs(self.lost_after_seconds));
        let mut html = format!(
            "<section id=\"running\"><h2>Runs in progress</h2><p>{} run(s) in progress now.</p>\n",
            self.in_progress
        );
        html += &self.table(false);
        if self.lost > 0 {
            html += &format!(
                "<p>{} run(s) lost: no word from their runner for over {lost_after} \
                 (its earlyexit was killed, or its machine went away).</p>\n",
                self.lost
            );
            html += &self.table(true);
        }
        html + "</section>\n"
    }

    fn table(&self, lost: bool) -> String {
        let rows: String = self
            .runs
            .iter()
            .filter(|run| run.lost == lost)
            .map(|run| {
                let runs_on = match &run.url {
                    Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                        format!("<a href=\"{}\">{}</a>", escape(url), escape(&run.runs_on))
                    }
                    _ => escape(&run.runs_on),
                };
                format!(
                    "<tr><td class=\"text\"><code>{}</code></td><td class=\"text\">{}</td>\
                     <td class=\"text\">{runs_on}</td><td class=\"text\">{}</td>\
                     <td class=\"text\">{}</td><td>{}</td></tr>",
                    escape(&run.command),
                    escape(run.branch.as_deref().unwrap_or("(no branch)")),
                    escape(&run.started),
                    escape(&run.last_heard),
                    run.matches,
                )
            })
            .collect();
        if rows.is_empty() {
            return String::new();
        }
        let id = if lost { "lost-runs" } else { "running-runs" };
        format!(
            "<table id=\"{id}\"><thead><tr><th scope=\"col\">command</th><th scope=\"col\">branch</th>\
             <th scope=\"col\">runs on</th><th scope=\"col\">started</th>\
             <th scope=\"col\">last heard</th><th scope=\"col\">matches</th></tr></thead>\
             <tbody>{rows}</tbody></table>\n"
        )
    }
}
