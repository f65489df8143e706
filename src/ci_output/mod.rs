//! What a run leaves for the CI system around it, from its one outcome: under GitHub Actions,
//! annotations, a job summary and step outputs ([`github`]); under GitLab CI, a collapsible
//! section around the after-context ([`gitlab`]); anywhere, a JUnit XML report with
//! `--junit FILE` ([`junit`]). None of it changes the exit code: a file that cannot be
//! written is one warning.

pub mod github;
pub mod gitlab;
pub mod junit;

use crate::config::{ExitCodes, Settings};
use crate::matcher::MatchKind;
use crate::observer::{KeptMatch, StreamName};
use crate::outcome::{ExitReason, RunEnd};

/// A finished run, as the CI reports read it.
pub struct Finished<'a> {
    pub settings: &'a Settings,
    pub end: &'a RunEnd,
    /// The first matches (`summary::MatchRecorder`).
    pub matches: &'a [KeptMatch],
    /// The first lines after the deciding match.
    pub context: &'a [(StreamName, Vec<u8>)],
    pub execution_id: &'a str,
    pub trace_id: Option<&'a str>,
}

impl Finished<'_> {
    /// The command line as the local sinks keep it (scrubbed), or `stdin` in pipe mode.
    pub fn command(&self) -> String {
        self.settings
            .command_line()
            .map_or_else(|| "stdin".to_string(), |line| self.text(line.as_bytes()))
    }

    /// A line of output as the local sinks keep it (`summary::kept_text`), or a word that
    /// says it is withheld.
    pub fn text(&self, bytes: &[u8]) -> String {
        crate::summary::kept_text(self.settings, bytes)
            .unwrap_or_else(|| "(withheld: telemetry.anonymize)".to_string())
    }

    /// The match that decided the run: the first of the deciding kind, or for PATTERN the
    /// `-m`th one.
    pub fn deciding_match(&self) -> Option<&KeptMatch> {
        let (kind, nth) = match self.end.reason {
            ExitReason::ErrorPattern => (MatchKind::Error, 1),
            ExitReason::SuccessPattern => (MatchKind::Success, 1),
            ExitReason::Match => (MatchKind::Pattern, self.settings.patterns.max_count),
            _ => return None,
        };
        let nth = usize::try_from(nth).unwrap_or(usize::MAX).max(1);
        self.matches.iter().filter(|m| m.kind == kind).nth(nth - 1)
    }

    /// True when a match of this kind means an error: `-e` always, PATTERN in CI mode.
    pub fn means_error(&self, kind: MatchKind) -> bool {
        match kind {
            MatchKind::Error => true,
            MatchKind::Pattern => self.settings.exit_codes == ExitCodes::Ci,
            MatchKind::Success => false,
        }
    }

    /// The trace's page, from the `telemetry.trace_url` template (`{trace_id}` replaced).
    pub fn trace_link(&self) -> Option<String> {
        let template = self.settings.telemetry.trace_url.as_deref()?;
        Some(template.replace("{trace_id}", self.trace_id?))
    }
}

/// Writes every report the environment asks for; returns the warnings to show.
pub fn publish(finished: &Finished<'_>, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(path) = &finished.settings.junit {
        if let Err(error) = junit::write(finished, path) {
            warnings.push(format!(
                "cannot write the JUnit report {}: {error}",
                path.display()
            ));
        }
    }
    if github::is_active(env) {
        warnings.extend(github::publish(finished, env));
    }
    warnings
}

/// The extensions of files a compiler, test runner or linter points at; a `name.ext:N` with
/// another extension is most likely a host and port (`db.example.com:5432`).
const SOURCE_EXTENSIONS: &[&str] = &[
    "c", "cc", "cjs", "clj", "cpp", "cs", "css", "cxx", "dart", "erl", "ex", "exs", "fs", "go",
    "gradle", "groovy", "h", "hpp", "hs", "html", "java", "jl", "js", "json", "jsx", "kt", "kts",
    "lua", "m", "mjs", "ml", "mm", "nim", "php", "pl", "proto", "ps1", "py", "r", "rb", "rs",
    "scala", "scss", "sh", "sql", "svelte", "swift", "tf", "toml", "ts", "tsx", "vue", "xml",
    "yaml", "yml", "zig",
];

/// Opens a report file for writing (`append`, or from empty). Non-blocking, so that a path
/// naming a FIFO without a reader is an error at once, not a wait with no end.
fn open_report(path: &std::path::Path, append: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

/// Where a line points in the source: the first `path:line[:column]` in it whose path ends in
/// a source file's extension (`src/lib.rs:9:27`, `test_config.py:4: KeyError`,
/// `(Order.java:18)`).
pub fn source_location(line: &str) -> Option<(String, u32, Option<u32>)> {
    static LOCATION: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let location = LOCATION.get_or_init(|| {
        regex::Regex::new(r"([A-Za-z0-9_./\\-]*[A-Za-z0-9_-]\.([A-Za-z][A-Za-z0-9]{0,9})):([0-9]{1,9})(?::([0-9]{1,9}))?")
            .expect("a valid pattern")
    });
    location.captures_iter(line).find_map(|found| {
        let extension = found[2].to_ascii_lowercase();
        if !SOURCE_EXTENSIONS.contains(&extension.as_str()) {
            return None;
        }
        let path = found[1].trim_start_matches("./").to_string();
        let number = found[3].parse().ok().filter(|n| *n > 0)?;
        let column = found.get(4).and_then(|c| c.as_str().parse().ok());
        Some((path, number, column))
    })
}

#[cfg(test)]
mod tests {
    use super::source_location;

    #[test]
    fn locations_in_real_tools_lines() {
        let cases = [
            (
                "thread 'x' panicked at src/lib.rs:9:27:",
                Some(("src/lib.rs", 9, Some(27))),
            ),
            (
                "test_config.py:4: KeyError",
                Some(("test_config.py", 4, None)),
            ),
            (
                "      at Object.toBe (cart.test.js:6:62)",
                Some(("cart.test.js", 6, Some(62))),
            ),
            (
                "    queue_test.go:10: Peek(0) = \"a\"",
                Some(("queue_test.go", 10, None)),
            ),
            (
                "\tat OrderService.main(OrderService.java:27)",
                Some(("OrderService.java", 27, None)),
            ),
            ("ERROR connecting to db:5432", None),
            ("ERROR connecting to db.example.com:5432", None),
            (
                "proxy.internal:8080 refused; see src/net.rs:12",
                Some(("src/net.rs", 12, None)),
            ),
            ("at 10:30:00 the build failed", None),
        ];
        for (line, expected) in cases {
            let found = source_location(line);
            let found = found.as_ref().map(|(p, l, c)| (p.as_str(), *l, *c));
            assert_eq!(found, expected, "{line}");
        }
    }
}
