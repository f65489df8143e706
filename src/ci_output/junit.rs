//! `--junit FILE`: the run as a JUnit XML report, the format GitLab, Jenkins, Azure Pipelines
//! and most CI systems show as test results. One `testsuite` with one `testcase` per run,
//! valid against both common schemas (Jenkins' junit-4 and Windy Road's Ant schema): a
//! failure or a timeout is a `failure`, a cancelled run or one that could not start an `error`,
//! with the deciding line as the message and its after-context as the text (the output's last
//! lines for a failure without a match); `system-out` holds the same lines.

use std::path::Path;
use std::time::SystemTime;

use super::Finished;
use crate::evidence::Shown;
use crate::outcome::Outcome;

pub fn write(finished: &Finished<'_>, path: &Path) -> std::io::Result<()> {
    super::write_report(path, &render(finished))
}

pub fn render(finished: &Finished<'_>) -> String {
    let end = finished.end;
    let seconds = end.duration.as_secs_f64();
    let started = SystemTime::now()
        .checked_sub(end.duration)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let timestamp: String = crate::timestamp::seconds(started)
        .chars()
        .take(19)
        .collect();
    let (failures, errors) = match end.outcome {
        Outcome::Failure | Outcome::Timeout => (1, 0),
        Outcome::Cancelled | Outcome::Lost | Outcome::Error => (0, 1),
        Outcome::Success | Outcome::StoppedOnSuccess => (0, 0),
    };
    let command = finished.command();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuite name=\"earlyexit\" tests=\"1\" failures=\"{failures}\" errors=\"{errors}\" time=\"{seconds:.3}\" timestamp=\"{timestamp}\" hostname=\"{}\">\n",
        xml(&hostname())
    ));
    out.push_str(&format!(
        "  <properties>\n    <property name=\"outcome\" value=\"{}\"/>\n    <property name=\"exit_code\" value=\"{}\"/>\n    <property name=\"execution_id\" value=\"{}\"/>\n",
        end.outcome,
        end.exit_code,
        xml(finished.execution_id)
    ));
    if let Some(trace_id) = finished.trace_id {
        out.push_str(&format!(
            "    <property name=\"trace_id\" value=\"{}\"/>\n",
            xml(trace_id)
        ));
    }
    out.push_str("  </properties>\n");
    out.push_str(&format!(
        "  <testcase name=\"{}\" classname=\"earlyexit\" time=\"{seconds:.3}\"",
        xml(&command)
    ));
    let element = match (failures, errors) {
        (1, _) => Some("failure"),
        (_, 1) => Some("error"),
        _ => None,
    };
    match element {
        None => out.push_str("/>\n"),
        Some(element) => {
            let message = match (finished.error, finished.shown()) {
                (Some(error), _) => error.to_string(),
                (None, Shown::Match(found, _)) => finished.text(&found.line),
                (None, Shown::Tail(_) | Shown::Nothing) => finished.end.headline(),
            };
            let error_type = end.outcome.error_type(end).unwrap_or_default();
            let mut details = vec![finished.end.headline()];
            details.extend(finished.detail());
            out.push_str(&format!(
                ">\n    <{element} message=\"{}\" type=\"{}\">{}</{element}>\n  </testcase>\n",
                xml(&message),
                xml(&error_type),
                xml(&details.join("\n"))
            ));
        }
    }
    let shown = finished.detail();
    if shown.is_empty() {
        out.push_str("  <system-out/>\n");
    } else {
        out.push_str(&format!(
            "  <system-out>{}</system-out>\n",
            xml(&shown.join("\n"))
        ));
    }
    out.push_str("  <system-err/>\n</testsuite>\n");
    out
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Text as XML 1.0 allows it: the five entities escaped, and control characters that XML
/// cannot carry at all (a terminal's escape sequences) replaced.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
