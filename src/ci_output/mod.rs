//! What a run leaves for the CI system around it, from its one outcome: under GitHub Actions,
//! annotations, a job summary and step outputs ([`github`]); under GitLab CI, a collapsible
//! section around the after-context ([`gitlab`]); anywhere, a JUnit XML report with
//! `--junit FILE` ([`junit`]). None of it changes the exit code: a file that cannot be
//! written is one warning.
//!
//! May import: `config`, `evidence`, `matcher`, `outcome` and the leaves.

pub mod github;
pub mod gitlab;
pub mod junit;

use crate::config::Settings;
use crate::evidence::{kept_text, Evidence, Shown};
use crate::matcher::MatchKind;
use crate::outcome::RunEnd;
use crate::profile::{Block, Location};

/// A finished run, as `--json` and the CI reports read it.
pub struct Finished<'a> {
    pub settings: &'a Settings,
    pub end: &'a RunEnd,
    /// The matches, the after-context and the output's tail (`evidence::EvidenceRecorder`).
    pub evidence: &'a Evidence,
    /// Why the command could not start, when it could not.
    pub error: Option<&'a str>,
    pub execution_id: &'a str,
    pub trace_id: Option<&'a str>,
    /// With a profile, the deciding match's failure block and its location.
    pub block: Option<Block>,
}

/// What a report shows for a line that the local sinks do not keep.
const WITHHELD: &str = "(withheld: telemetry.anonymize)";

/// What identifies a run in its reports: the execution id and the trace id.
pub type RunIds<'a> = (&'a str, Option<&'a str>);

impl<'a> Finished<'a> {
    /// The run as its reports read it.
    pub fn new(
        settings: &'a Settings,
        end: &'a RunEnd,
        evidence: &'a Evidence,
        error: Option<&'a str>,
        (execution_id, trace_id): RunIds<'a>,
    ) -> Finished<'a> {
        // The block's lines as the local sinks keep them (scrubbed; withheld at minimal detail).
        let block = evidence.block.as_ref().map(|(_, block)| Block {
            lines: block
                .lines
                .iter()
                .map(|line| {
                    kept_text(settings, line.as_bytes()).unwrap_or_else(|| WITHHELD.to_string())
                })
                .collect(),
            location: block.location.clone(),
        });
        Finished {
            settings,
            end,
            evidence,
            error,
            execution_id,
            trace_id,
            block,
        }
    }

    /// Where the failure points: the block's location, or the first `path:line[:col]` on the
    /// deciding line.
    pub fn location(&self) -> Option<Location> {
        if let Some(block) = &self.block {
            return block.location.clone();
        }
        let Shown::Match(found, _) = self.shown() else {
            return None;
        };
        source_location(&self.text(&found.line))
    }

    /// The command line as a shell takes it, scrubbed as the local sinks keep it, or `stdin`
    /// in pipe mode.
    pub fn command(&self) -> String {
        self.settings
            .quoted_command_line()
            .map_or_else(|| "stdin".to_string(), |line| self.text(line.as_bytes()))
    }

    /// A line of output as the local sinks keep it (`evidence::kept_text`), or a word that
    /// says it is withheld.
    pub fn text(&self, bytes: &[u8]) -> String {
        kept_text(self.settings, bytes).unwrap_or_else(|| WITHHELD.to_string())
    }

    /// What to show of the run (`Evidence::shown`).
    pub fn shown(&self) -> Shown<'_> {
        self.evidence
            .shown(self.end, self.settings.patterns.max_count)
    }

    /// The lines that tell what went wrong, as text: the deciding line and its context, or
    /// the output's last lines, or why the command could not start.
    pub fn detail(&self) -> Vec<String> {
        if let Some(error) = self.error {
            return vec![error.to_string()];
        }
        if let Some(block) = &self.block {
            return block.lines.clone();
        }
        match self.shown() {
            Shown::Match(found, context) => std::iter::once(&found.line)
                .chain(context.iter().map(|(_, line)| line))
                .map(|line| self.text(line))
                .collect(),
            Shown::Tail(lines) => lines.iter().map(|(_, line)| self.text(line)).collect(),
            Shown::Nothing => Vec::new(),
        }
    }

    /// True when a match of this kind means an error: PATTERN and `-e`, never `-s`.
    pub fn means_error(kind: MatchKind) -> bool {
        kind != MatchKind::Success
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

/// Writes a report file whole (`--junit`, `--json-file`), synced to disk.
pub fn write_report(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = open_report(path, false)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

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
pub fn source_location(line: &str) -> Option<Location> {
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
        let file = found[1].trim_start_matches("./").to_string();
        let line = found[3].parse().ok().filter(|n| *n > 0)?;
        let column = found.get(4).and_then(|c| c.as_str().parse().ok());
        Some(Location { file, line, column })
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
            let found = found.as_ref().map(|l| (l.file.as_str(), l.line, l.column));
            assert_eq!(found, expected, "{line}");
        }
    }
}
