//! GitLab CI: the after-context in a collapsible section of the job log, so the log opens on
//! the deciding line with its trace folded under it. The markers are GitLab's
//! (`section_start:<unix time>:<name>[collapsed=true]`), written to the stream of the match.

use std::time::SystemTime;

/// The section's name in the log.
const SECTION: &str = "earlyexit_context";

pub fn is_active(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("GITLAB_CI").as_deref() == Some("true")
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Opens the section, right after the deciding line.
pub fn section_start() -> Vec<u8> {
    format!(
        "\x1b[0Ksection_start:{}:{SECTION}[collapsed=true]\r\x1b[0Kearlyexit: after-context of the match\n",
        unix_seconds()
    )
    .into_bytes()
}

/// Closes it, when the run stops.
pub fn section_end() -> Vec<u8> {
    format!("\x1b[0Ksection_end:{}:{SECTION}\r\x1b[0K\n", unix_seconds()).into_bytes()
}
