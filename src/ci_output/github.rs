//! GitHub Actions: `::error`/`::warning` annotations for the deciding matches, a Markdown job
//! summary appended to `$GITHUB_STEP_SUMMARY`, and `outcome`, `exit_code`, `command_exit_code`,
//! `trace_id` and `execution_id` in `$GITHUB_OUTPUT` for the steps that follow.

use std::io::Write as _;
use std::path::Path;

use super::{source_location, Finished};
use crate::config::OutputMode;
use crate::outcome::Outcome;

/// Annotations printed for one run, at most; GitHub shows ten per step anyway.
pub const MAX_ANNOTATIONS: usize = 10;
/// Lines of after-context shown in the job summary.
const SUMMARY_CONTEXT_LINES: usize = 20;

pub fn is_active(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("GITHUB_ACTIONS").as_deref() == Some("true")
}

/// Prints the annotations (unless `--json` or `-q` own stdout) and writes the summary and the
/// outputs; returns the warnings.
pub fn publish(finished: &Finished<'_>, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    if finished.settings.output == OutputMode::PassThrough {
        let text: String = annotations(finished, env("GITHUB_WORKSPACE").as_deref()).concat();
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    let mut warnings = Vec::new();
    let files = [
        ("GITHUB_STEP_SUMMARY", summary(finished)),
        ("GITHUB_OUTPUT", outputs(finished)),
    ];
    for (variable, text) in files {
        let Some(path) = env(variable).filter(|p| !p.is_empty()) else {
            continue;
        };
        if let Err(error) = append(Path::new(&path), &text) {
            warnings.push(format!("cannot write {variable} ({path}): {error}"));
        }
    }
    warnings
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    super::open_report(path, true)?.write_all(text.as_bytes())
}

/// One workflow command per match that meant something, the errors first: `::error` for an
/// error pattern (and PATTERN in CI mode), `::warning` for the success pattern (and PATTERN in
/// grep mode), with the file and line the matched line points at.
pub fn annotations(finished: &Finished<'_>, workspace: Option<&str>) -> Vec<String> {
    let mut matches: Vec<_> = finished.matches.iter().collect();
    matches.sort_by_key(|m| !finished.means_error(m.kind));
    matches
        .into_iter()
        .take(MAX_ANNOTATIONS)
        .map(|found| {
            let level = if finished.means_error(found.kind) {
                "error"
            } else {
                "warning"
            };
            let line = finished.text(&found.line);
            let mut properties = Vec::new();
            if let Some((path, number, column)) = source_location(&line) {
                let path = workspace
                    .and_then(|w| path.strip_prefix(&format!("{}/", w.trim_end_matches('/'))))
                    .map_or(path.clone(), str::to_string);
                properties.push(format!("file={}", property(&path)));
                properties.push(format!("line={number}"));
                if let Some(column) = column {
                    properties.push(format!("col={column}"));
                }
            }
            let title = format!(
                "earlyexit: {} ({} line {})",
                finished.end.headline(),
                found.stream.as_str(),
                found.line_number
            );
            properties.push(format!("title={}", property(&title)));
            format!("::{level} {}::{}\n", properties.join(","), data(&line))
        })
        .collect()
}

/// A workflow command's message: `%`, CR and LF escaped, as GitHub's toolkit does.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property: also `:` and `,`.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The job summary: the outcome, the command, the deciding line with its context, the
/// duration and the trace.
pub fn summary(finished: &Finished<'_>) -> String {
    let end = finished.end;
    let mark = match end.outcome {
        Outcome::Success | Outcome::StoppedOnSuccess => "✅",
        Outcome::Cancelled => "⏹️",
        _ => "❌",
    };
    let mut out = format!(
        "### {mark} earlyexit: {} — {}\n\n<code>{}</code>\n\n",
        end.outcome.label(),
        html(&finished.end.headline()),
        html(&finished.command())
    );
    let trace = match (finished.trace_id, finished.trace_link()) {
        (Some(id), Some(link)) => format!("[`{id}`]({link})"),
        (Some(id), None) => format!("`{id}`"),
        (None, _) => "-".to_string(),
    };
    let own = end
        .command_exit_code
        .map_or_else(|| "-".to_string(), |c| c.to_string());
    out.push_str("| outcome | exit code | command's exit code | duration | trace |\n");
    out.push_str("|---|---|---|---|---|\n");
    out.push_str(&format!(
        "| `{}` | {} | {own} | {:.1} s | {trace} |\n\n",
        end.outcome,
        end.exit_code,
        end.duration.as_secs_f64()
    ));
    if let Some(found) = finished.deciding_match().or(finished.matches.first()) {
        out.push_str(&format!(
            "Matched on {}, line {}, after {:.1} s:\n\n",
            found.stream.as_str(),
            found.line_number,
            found.offset.as_secs_f64()
        ));
        let mut lines = vec![finished.text(&found.line)];
        lines.extend(
            finished
                .context
                .iter()
                .take(SUMMARY_CONTEXT_LINES)
                .map(|(_, line)| finished.text(line)),
        );
        out.push_str(&fenced(&lines.join("\n")));
    }
    out
}

/// A fenced code block that no backtick run inside can close.
fn fenced(text: &str) -> String {
    let longest = text
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{text}\n{fence}\n\n")
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "&#124;")
}

/// `$GITHUB_OUTPUT` lines; every value is a single line.
fn outputs(finished: &Finished<'_>) -> String {
    let end = finished.end;
    let mut out = format!(
        "outcome={}\nexit_code={}\nexecution_id={}\n",
        end.outcome, end.exit_code, finished.execution_id
    );
    if let Some(code) = end.command_exit_code {
        out.push_str(&format!("command_exit_code={code}\n"));
    }
    if let Some(trace_id) = finished.trace_id {
        out.push_str(&format!("trace_id={trace_id}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escapes() {
        assert_eq!(data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(fenced("a ``` b"), "````text\na ``` b\n````\n\n");
    }
}
