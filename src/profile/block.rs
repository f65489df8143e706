//! A failure block: the deciding match with the lines before it that belong to it (rustc's
//! header, a traceback's frames) and after it, and the source location it points at, made
//! by a profile's rules from the lines the run kept.

use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder};

use super::{BlockRules, End, Pick, Profile};

/// Lines a block holds at most, before and after its match together.
pub const MAX_BLOCK_LINES: usize = 200;

/// The deciding match as a block of lines, and where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub lines: Vec<String>,
    pub location: Option<Location>,
}

/// A place in the source: a path (relative to the repository when it is inside it), a line
/// and maybe a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub column: Option<u32>,
}

fn compiled(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern)
        .multi_line(true)
        .size_limit(1 << 20)
        .build()
        .ok()
}

impl Profile {
    /// The block around the deciding line: `before` are the lines of its stream that came
    /// before it (oldest first), `after` the context that followed it on its stream, and
    /// `other_after` the context on the other stream, where a block may start just after the
    /// match (`BlockRules::start_after_within`).
    pub fn block(
        &self,
        before: &[String],
        matched: &str,
        after: &[String],
        other_after: &[String],
    ) -> Block {
        let rules = &self.block;
        let start = rules.start.and_then(compiled);
        let first = match &start {
            Some(start) if !start.is_match(matched) => before
                .iter()
                .enumerate()
                .rev()
                .take(rules.start_within)
                .find(|(_, line)| start.is_match(line))
                .map_or(before.len(), |(index, _)| index),
            _ => before.len(),
        };
        let mut lines: Vec<String> = before[first..].to_vec();
        lines.push(matched.to_string());
        // A block that starts neither at the match nor before it may start just after it
        // (`BlockRules::start_after_within`).
        let starts_after = match &start {
            Some(start) if first == before.len() && !start.is_match(matched) => {
                let found = |lines: &'_ [String]| {
                    lines
                        .iter()
                        .take(rules.start_after_within)
                        .position(|line| start.is_match(line))
                };
                [after, other_after]
                    .into_iter()
                    .find_map(|lines| Some((lines, found(lines)?)))
            }
            _ => None,
        };
        // A match on the line that ends a block that began before it (a traceback's
        // exception line) is the block's last line.
        let ends_here = first < before.len()
            && rules.ends.iter().any(|end| match end {
                End::Through(pattern) => compiled(pattern).is_some_and(|r| r.is_match(matched)),
                _ => false,
            });
        if let Some((after, start)) = starts_after {
            lines.push(after[start].clone());
            lines.extend(block_end(rules, &after[start + 1..]).iter().cloned());
        } else if !ends_here {
            lines.extend(block_end(rules, after).iter().cloned());
        }
        lines.truncate(MAX_BLOCK_LINES);
        while lines.len() > 1 && lines.last().is_some_and(|line| line.trim().is_empty()) {
            lines.pop();
        }
        let location = location(rules, &lines);
        Block { lines, location }
    }
}

/// The lines of `after` that belong to the block.
fn block_end<'a>(rules: &BlockRules, after: &'a [String]) -> &'a [String] {
    let ends: Vec<(End, Option<Regex>)> = rules
        .ends
        .iter()
        .map(|end| match end {
            End::Through(p) | End::Before(p) => (*end, compiled(p)),
            End::BlankLine => (*end, None),
        })
        .collect();
    for (index, line) in after.iter().enumerate() {
        for (end, regex) in &ends {
            let hit = match end {
                End::BlankLine => line.trim().is_empty(),
                End::Through(_) | End::Before(_) => {
                    regex.as_ref().is_some_and(|r| r.is_match(line))
                }
            };
            if hit {
                let through = matches!(end, End::Through(_));
                return &after[..index + usize::from(through)];
            }
        }
    }
    after
}

/// The block's location: the first pattern of the profile that finds one, its first or last
/// hit as the profile picks.
fn location(rules: &BlockRules, lines: &[String]) -> Option<Location> {
    let text = lines.join("\n");
    rules
        .locations
        .iter()
        .filter_map(|p| compiled(p))
        .find_map(|regex| {
            let mut found = regex.captures_iter(&text).filter_map(|captures| {
                Some(Location {
                    file: captures.name("file")?.as_str().to_string(),
                    line: captures
                        .name("line")?
                        .as_str()
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)?,
                    column: captures.name("col").and_then(|c| c.as_str().parse().ok()),
                })
            });
            match rules.pick {
                Pick::First => found.next(),
                Pick::Last => found.last(),
            }
        })
}

impl Location {
    /// The path as a reader of the repository names it: relative to `root` (the repository's
    /// top, or `GITHUB_WORKSPACE`, else the working directory) through the working directory
    /// `directory`; as it was when it lies outside.
    pub fn relative_to(mut self, root: Option<&Path>, directory: &Path) -> Location {
        let path = Path::new(self.file.trim_start_matches("./"));
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            // A tool that names files relative to a package (go test) names one below the
            // working directory: the one file there whose path ends so.
            let joined = directory.join(path);
            if joined.exists() {
                joined
            } else {
                find_below(directory, path).unwrap_or(joined)
            }
        };
        let absolute = normalised(&absolute);
        // Outside a repository, a path found below the working directory is named from it.
        let base = normalised(root.unwrap_or(directory));
        if let Ok(inside) = absolute.strip_prefix(base) {
            self.file = inside.to_string_lossy().into_owned();
        } else if !path.is_absolute() {
            self.file = path.to_string_lossy().into_owned();
        }
        self
    }
}

/// Directories a search for a file below the working directory looks at, at most.
const SEARCHED_DIRECTORIES: usize = 2000;

/// The one file below `directory` whose path ends with `path`, if there is exactly one
/// within [`SEARCHED_DIRECTORIES`] (build outputs, dependencies and hidden directories left
/// out).
fn find_below(directory: &Path, path: &Path) -> Option<PathBuf> {
    let mut queue = std::collections::VecDeque::from([directory.to_path_buf()]);
    let mut found = Vec::new();
    let mut searched = 0;
    while let Some(dir) = queue.pop_front() {
        searched += 1;
        if searched > SEARCHED_DIRECTORIES || found.len() > 1 {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || matches!(name.as_ref(), "target" | "node_modules") {
                continue;
            }
            let candidate = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => queue.push_back(candidate),
                Ok(_) if candidate.ends_with(path) => found.push(candidate),
                _ => {}
            }
        }
    }
    (found.len() == 1).then(|| found.remove(0))
}

/// `a/./b/../c` as `a/c`, without asking the file system (the file may be gone).
fn normalised(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The repository a run's relative paths are relative to: `GITHUB_WORKSPACE` under GitHub
/// Actions, else the nearest directory above `directory` that holds `.git`.
pub fn repository_root(directory: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(workspace) = env("GITHUB_WORKSPACE").filter(|w| !w.is_empty()) {
        return Some(PathBuf::from(workspace));
    }
    directory
        .ancestors()
        .take(64)
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::super::PROFILES;
    use super::*;

    fn profile(name: &str) -> &'static Profile {
        PROFILES.iter().find(|p| p.name == name).unwrap()
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn a_panic_read_after_its_failed_line_is_the_block() {
        let block = profile("cargo-test").block(
            &lines("running 3 tests"),
            "test tests::a_rejects_a_word ... FAILED",
            &lines("test tests::b_is_slow ... ok\ntest tests::c ... ok"),
            &lines(
                "thread 'tests::a_rejects_a_word' panicked at src/lib.rs:11:9:\n\
                 assertion `left == right` failed\n  left: 0\n right: 80\n\
                 note: run with `RUST_BACKTRACE=1`\nthread 'tests::c' panicked at x",
            ),
        );
        assert_eq!(
            block.lines,
            lines(
                "test tests::a_rejects_a_word ... FAILED\n\
                 thread 'tests::a_rejects_a_word' panicked at src/lib.rs:11:9:\n\
                 assertion `left == right` failed\n  left: 0\n right: 80\n\
                 note: run with `RUST_BACKTRACE=1`"
            )
        );
        assert_eq!(block.location.unwrap().line, 11);
        let gcc = profile("gcc").block(
            &[],
            "a.c:1:1: error: x",
            &lines("a.c: In function 'g':\na.c:9:1: error: y"),
            &[],
        );
        assert_eq!(
            gcc.lines,
            ["a.c:1:1: error: x"],
            "gcc's next function is not its block"
        );
    }

    #[test]
    fn rustc_s_location_is_on_the_line_under_the_error() {
        let block = profile("rustc").block(
            &lines("   Compiling app v0.1.0"),
            "error[E0308]: mismatched types",
            &lines(" --> src/lib.rs:3:5\n  |\n3 |     \"x\"\n  |     ^^^ expected `u16`\n\nerror: aborting"),
            &[],
        );
        assert_eq!(block.lines.len(), 5);
        assert_eq!(
            block.location,
            Some(Location {
                file: "src/lib.rs".into(),
                line: 3,
                column: Some(5)
            })
        );
    }

    #[test]
    fn a_python_traceback_reaches_back_to_its_start_and_points_at_the_raise() {
        let before = lines(
            "starting\nTraceback (most recent call last):\n  File \"/w/app/main.py\", line 9, in <module>\n    run()\n  File \"/w/app/config.py\", line 4, in run\n    raise KeyError('port')",
        );
        let block = profile("python").block(&before, "KeyError: 'port'", &lines("after"), &[]);
        assert_eq!(
            block.lines.first().unwrap(),
            "Traceback (most recent call last):"
        );
        assert_eq!(block.lines.last().unwrap(), "KeyError: 'port'");
        let location = block
            .location
            .unwrap()
            .relative_to(Some(Path::new("/w")), Path::new("/w/app"));
        assert_eq!(
            (location.file.as_str(), location.line),
            ("app/config.py", 4)
        );
    }

    #[test]
    fn relative_paths_go_through_the_working_directory_to_the_repository() {
        let at = |file: &str, root: Option<&str>, directory: &str| {
            Location {
                file: file.into(),
                line: 1,
                column: None,
            }
            .relative_to(root.map(Path::new), Path::new(directory))
            .file
        };
        assert_eq!(
            at("src/lib.rs", Some("/repo"), "/repo/crates/core"),
            "crates/core/src/lib.rs"
        );
        assert_eq!(at("./x.c", Some("/repo/"), "/repo"), "x.c");
        assert_eq!(at("/repo/a/../b.go", Some("/repo"), "/elsewhere"), "b.go");
        assert_eq!(
            at("/usr/include/stdio.h", Some("/repo"), "/repo"),
            "/usr/include/stdio.h"
        );
        assert_eq!(at("lib.rs", None, "/repo"), "lib.rs");
        assert_eq!(at("/repo/src/a.c", None, "/repo"), "src/a.c");
    }
}
