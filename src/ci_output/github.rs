//! GitHub Actions: an `::error` annotation for each error pattern that matched (the deciding
//! one with its context) or, for a run that failed without one, with the output's last lines;
//! a Markdown job summary appended to `$GITHUB_STEP_SUMMARY`; and `outcome`, `exit_code`,
//! `command_exit_code`, `trace_id` and `execution_id` in `$GITHUB_OUTPUT` for the steps that
//! follow. Workflow commands follow GitHub's documented format: each alone on a line that
//! starts with `::`, properties and message escaped as the Actions toolkit does.

use std::io::Write as _;
use std::path::Path;

use super::{source_location, Finished};
use crate::config::OutputMode;
use crate::evidence::Shown;
use crate::outcome::Outcome;
use crate::profile::Location;

/// Annotations printed for one run, at most; GitHub shows ten per step anyway.
pub const MAX_ANNOTATIONS: usize = 10;
/// Lines of context (or of the tail) in an annotation's message: GitHub shows an annotation
/// in a small box beside the code.
const ANNOTATION_LINES: usize = 20;

pub fn is_active(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("GITHUB_ACTIONS").as_deref() == Some("true")
}

/// Prints the annotations (unless `--json` or `-q` own stdout) and writes the summary and the
/// outputs; returns the warnings.
pub fn publish(finished: &Finished<'_>, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    if finished.settings.output == OutputMode::PassThrough {
        let text = annotations(finished, env("GITHUB_WORKSPACE").as_deref());
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

/// The workflow commands for a run, each on a line of its own (after a newline, when the
/// command's output left our stdout in the middle of a line): one `::error` per match of
/// PATTERN or `-e`, with the file and line the matched line points at, the deciding one with
/// its context as the message; or, for a failure without a match, a timeout or a command that
/// could not start, one `::error` with the output's last lines. A `-s` match makes none.
pub fn annotations(finished: &Finished<'_>, workspace: Option<&str>) -> String {
    let deciding = match finished.shown() {
        Shown::Match(found, _) => Some(found.number),
        _ => None,
    };
    let mut commands: Vec<String> = finished
        .evidence
        .matches
        .iter()
        .filter(|found| Finished::means_error(found.kind))
        .take(MAX_ANNOTATIONS)
        .map(|found| {
            let line = finished.text(&found.line);
            let (message, at) = if deciding == Some(found.number) {
                (finished.detail(), finished.location())
            } else {
                (vec![line.clone()], source_location(&line))
            };
            let title = format!(
                "earlyexit: {} ({} line {})",
                finished.end.headline(),
                found.stream.as_str(),
                found.line_number
            );
            workflow_command(location(at, workspace), &title, &message)
        })
        .collect();
    if commands.is_empty() && finished.end.outcome.is_failed() {
        let mut message = finished.detail();
        if message.is_empty() {
            message.push("(no output)".to_string());
        }
        let title = format!("earlyexit: {}", finished.end.headline());
        let at = message.iter().rev().find_map(|line| source_location(line));
        commands.push(workflow_command(location(at, workspace), &title, &message));
    }
    let newline = if finished.evidence.stdout_mid_line && !commands.is_empty() {
        "\n"
    } else {
        ""
    };
    format!("{newline}{}", commands.concat())
}

/// `file=…,line=…[,col=…]` for a source location, the path relative to the workspace.
fn location(at: Option<Location>, workspace: Option<&str>) -> Option<Vec<String>> {
    let at = at?;
    let path = workspace
        .and_then(|w| {
            at.file
                .strip_prefix(&format!("{}/", w.trim_end_matches('/')))
        })
        .map_or(at.file.clone(), str::to_string);
    let mut properties = vec![
        format!("file={}", property(&path)),
        format!("line={}", at.line),
    ];
    if let Some(column) = at.column {
        properties.push(format!("col={column}"));
    }
    Some(properties)
}

/// One `::error` line: the location (if any) and title as properties, the lines (the first
/// [`ANNOTATION_LINES`] and the first line) as the message.
fn workflow_command(location: Option<Vec<String>>, title: &str, lines: &[String]) -> String {
    let mut properties = location.unwrap_or_default();
    properties.push(format!("title={}", property(title)));
    let shown = lines.len().min(ANNOTATION_LINES + 1);
    let mut message = lines[..shown].join("\n");
    if lines.len() > shown {
        message.push_str(&format!("\n… {} more line(s)", lines.len() - shown));
    }
    format!("::error {}::{}\n", properties.join(","), data(&message))
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

/// The job summary: the outcome, the command, the deciding line with its context (or the
/// output's last lines), the duration and the trace.
pub fn summary(finished: &Finished<'_>) -> String {
    let end = finished.end;
    let mark = match end.outcome {
        Outcome::Success | Outcome::StoppedOnSuccess => "✅",
        Outcome::Cancelled => "⏹️",
        _ => "❌",
    };
    let mut out = format!(
        "### {mark} earlyexit: {} — {}\n\n{}\n\n",
        end.outcome.label(),
        html(&finished.end.headline()),
        code_span(&finished.command())
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
    let heading = match (finished.error, finished.shown()) {
        (Some(_), _) => Some("The command could not start:".to_string()),
        (None, Shown::Match(found, _)) => Some(format!(
            "Matched on {}, line {}, after {:.1} s:",
            found.stream.as_str(),
            found.line_number,
            found.offset.as_secs_f64()
        )),
        (None, Shown::Tail(lines)) => Some(format!("The last {} line(s) of output:", lines.len())),
        (None, Shown::Nothing) => None,
    };
    if let Some(heading) = heading {
        out.push_str(&format!("{heading}\n\n"));
        out.push_str(&fenced(&finished.detail().join("\n")));
    }
    if let Some((line, _)) = crate::evidence::context_cut(finished.settings, end) {
        out.push_str(&format!("{}\n\n", html(&line)));
    }
    out
}

/// Inline code that Markdown leaves alone: delimited by one backtick more than the longest
/// run inside, padded with a space when the text starts or ends with one (CommonMark, "Code
/// spans"). A code span shows a line break as a space, and a blank line would end it.
fn code_span(text: &str) -> String {
    let text = text.replace(['\r', '\n'], " ");
    let text = text.as_str();
    let longest = text
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    let ticks = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
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
        assert_eq!(code_span("sh -c '*all*'"), "`sh -c '*all*'`");
        assert_eq!(code_span("a `b` c"), "``a `b` c``");
        assert_eq!(code_span("`x"), "`` `x ``");
    }
}
