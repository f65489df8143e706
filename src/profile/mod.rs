//! Tool profiles: what earlyexit knows of the tools people run, so that the first error comes
//! with its detail. A profile is data ([`table::PROFILES`]), listed by `earlyexit
//! --list-profiles`: the programs it recognises, the error pattern it watches for when the
//! command line gives none, the variables that make the tool print a failure's detail as it
//! happens, where a failure block starts and ends, and where its file, line and column are.
//!
//! The wrapper never asks which tool runs: the profile only adds variables to the command's
//! environment, a default pattern, and the rules that [`block`] applies to the lines around the
//! deciding match once the run has ended.
//!
//! May import: nothing (a leaf).

pub mod block;
mod listing;
mod table;

use std::ffi::OsString;
use std::io::Read as _;
use std::path::Path;

pub use block::{Block, Location};
pub use listing::list;
pub use table::PROFILES;

/// One tool's rules. Every field is data that `--list-profiles` shows.
#[derive(Debug)]
pub struct Profile {
    pub name: &'static str,
    /// What it recognises, as a person says it (`cargo test`, `pytest`).
    pub recognises: &'static str,
    /// The programs (and their first arguments) it applies to.
    invocations: &'static [Invocation],
    /// The error pattern when the command line gives none.
    pub pattern: &'static str,
    /// Variables that make the tool print a failure's detail as it happens.
    pub environment: &'static [Variable],
    /// What a failure block is for this tool.
    pub block: BlockRules,
    /// What the profile saves, in a few words (`--list-profiles`, the README).
    pub saves: &'static str,
}

/// A program the profile applies to: its names, and the first argument that must follow
/// (a subcommand such as `test`), or an argument that must be there anywhere (`--test`).
#[derive(Debug)]
struct Invocation {
    programs: &'static [&'static str],
    subcommands: &'static [&'static str],
    with_argument: Option<&'static str>,
}

/// A variable a profile gives the command: set when the user has not, or added after the
/// user's own value (`PYTEST_ADDOPTS`, `GOFLAGS`).
#[derive(Debug)]
pub struct Variable {
    pub name: &'static str,
    pub value: &'static str,
    pub append: bool,
}

/// Where a failure block starts and ends, and where its location is.
#[derive(Debug)]
pub struct BlockRules {
    /// A line at or before the deciding match that starts the block (searched back from the
    /// match); `None`: the block starts at the match.
    pub start: Option<&'static str>,
    /// How many lines before the match the start may be.
    pub start_within: usize,
    /// How many lines after the match the start may be when it is not at or before it: a
    /// tool that prints the detail on the other stream just after the failing line (libtest's
    /// `FAILED` on stdout, its panic on stderr). The lines between are not the block's.
    pub start_after_within: usize,
    /// What ends the block after the match; the first that holds ends it.
    pub ends: &'static [End],
    /// Patterns with `file`, `line` and optionally `col` groups, tried in order over the
    /// block's text (its lines joined; `^` and `$` match at each line).
    pub locations: &'static [&'static str],
    /// Which line's location counts when several lines hold one.
    pub pick: Pick,
    /// A tool that prints a failure's detail in parts: once the deciding line or a line of
    /// its context matches the first pattern, a pause does not end the context until a line
    /// matches the second (within `-A` and `--delay-exit-after-lines`).
    pub hold: Option<Hold>,
}

/// The context held open past pauses, from a deciding line until the detail's last line.
#[derive(Debug, Clone, Copy)]
pub struct Hold {
    pub from: &'static str,
    pub until: &'static str,
}

/// What ends a failure block.
#[derive(Debug, Clone, Copy)]
pub enum End {
    /// A blank line, which is not part of the block.
    BlankLine,
    /// A line that matches, which is part of the block (a traceback's exception line).
    Through(&'static str),
    /// A line that matches, which is not part of the block (the next test's header).
    Before(&'static str),
}

/// Which location of a block is the failure's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The first: the test's own line, before the library frames.
    First,
    /// The last: the innermost frame, where a Python exception was raised.
    Last,
}

/// The profile a run uses, and what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedProfile {
    pub profile: &'static Profile,
    /// The variables it gave the command (name, value as the command sees it).
    pub variables: Vec<(String, String)>,
    /// The command line gave no PATTERN, so the profile's is watched for.
    pub pattern_added: bool,
}

impl AppliedProfile {
    /// The one line on stderr that says which profile applies and what it changed.
    pub fn announcement(&self) -> String {
        self.profile
            .announcement(&self.variables, self.pattern_added)
    }
}

/// `--profile`: chosen from the command (the default), forced by name, or off.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProfileChoice {
    #[default]
    Detect,
    Named(&'static Profile),
    Off,
}

impl PartialEq for Profile {
    fn eq(&self, other: &Profile) -> bool {
        self.name == other.name
    }
}

impl Eq for Profile {}

/// A `--profile` value that names no profile.
#[derive(Debug, thiserror::Error)]
#[error("unknown profile '{0}' (earlyexit --list-profiles lists them; 'none' turns them off)")]
pub struct UnknownProfile(String);

impl std::str::FromStr for ProfileChoice {
    type Err = UnknownProfile;

    fn from_str(name: &str) -> Result<ProfileChoice, UnknownProfile> {
        match name {
            "none" | "off" => Ok(ProfileChoice::Off),
            "auto" => Ok(ProfileChoice::Detect),
            _ => PROFILES
                .iter()
                .find(|profile| profile.name == name)
                .map(ProfileChoice::Named)
                .ok_or_else(|| UnknownProfile(name.to_string())),
        }
    }
}

/// Programs that run another program named in their arguments: the tool is found behind them.
const LAUNCHERS: &[(&str, &[&str])] = &[
    ("npx", &[]),
    ("pnpx", &[]),
    ("bunx", &[]),
    ("npm", &["exec"]),
    ("pnpm", &["exec", "dlx"]),
    ("yarn", &["exec", "dlx"]),
    ("poetry", &["run"]),
    ("uv", &["run"]),
    ("pipenv", &["run"]),
    ("hatch", &["run"]),
    ("pdm", &["run"]),
    ("env", &[]),
    ("time", &[]),
    ("nice", &[]),
    ("nohup", &[]),
];

/// Package scripts: `npm test`, `npm run NAME`, `yarn NAME`, `pnpm test`: the tool is the
/// first word of the script in `package.json`.
const SCRIPT_RUNNERS: &[&str] = &["npm", "pnpm", "yarn", "bun"];

impl ProfileChoice {
    /// The profile for this command: the forced one, or the first that recognises the
    /// command (directly, behind a launcher, or in the `package.json` script it runs from
    /// `directory`).
    pub fn resolve(
        &self,
        program: &OsString,
        args: &[OsString],
        directory: &Path,
    ) -> Option<&'static Profile> {
        match self {
            ProfileChoice::Off => None,
            ProfileChoice::Named(profile) => Some(profile),
            ProfileChoice::Detect => {
                let words: Vec<String> = std::iter::once(program)
                    .chain(args)
                    .map(|word| word.to_string_lossy().into_owned())
                    .collect();
                detect(&words, directory, 0)
            }
        }
    }
}

/// The profile of a command line, looking through launchers; `depth` bounds the look into
/// scripts that run scripts.
fn detect(words: &[String], directory: &Path, depth: u8) -> Option<&'static Profile> {
    let (program, rest) = words.split_first()?;
    let name = program_name(program);
    if let Some((_, subcommands)) = LAUNCHERS.iter().find(|(launcher, _)| *launcher == name) {
        let rest = match rest.first() {
            Some(first) if subcommands.contains(&first.as_str()) => &rest[1..],
            _ if subcommands.is_empty() => rest,
            _ => return script_profile(name, rest, directory, depth),
        };
        // Options and `VAR=value` words of the launcher come before the program it runs.
        let start = rest
            .iter()
            .position(|word| !word.starts_with('-') && !word.contains('='))?;
        return detect(&rest[start..], directory, depth);
    }
    if matches!(name, "python" | "python3") && rest.first().map(String::as_str) == Some("-m") {
        return detect(&rest[1..], directory, depth);
    }
    PROFILES
        .iter()
        .find(|profile| profile.recognises_words(name, rest))
        .or_else(|| {
            SCRIPT_RUNNERS
                .contains(&name)
                .then(|| script_profile(name, rest, directory, depth))
                .flatten()
        })
}

/// The most of a `package.json` that is read.
const MAX_PACKAGE_JSON: u64 = 1 << 20;

/// The profile of the `package.json` script that `npm test` or `yarn NAME` runs.
fn script_profile(
    runner: &str,
    args: &[String],
    directory: &Path,
    depth: u8,
) -> Option<&'static Profile> {
    if depth > 2 || !SCRIPT_RUNNERS.contains(&runner) {
        return None;
    }
    let script = match args.first().map(String::as_str) {
        Some("run" | "run-script") => args.get(1)?,
        Some(name) => name,
        None => return None,
    };
    // A package.json is a few KiB; a larger one is not read whole, and not understood.
    let mut text = String::new();
    std::fs::File::open(directory.join("package.json"))
        .ok()?
        .take(MAX_PACKAGE_JSON + 1)
        .read_to_string(&mut text)
        .ok()?;
    if text.len() as u64 > MAX_PACKAGE_JSON {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let line = json["scripts"][script].as_str()?;
    let first_command = line.split(['&', '|', ';']).next()?;
    let words = shlex::split(first_command)?;
    let start = words.iter().position(|word| !word.contains('='))?;
    detect(&words[start..], directory, depth + 1)
}

/// `/usr/bin/cargo` and `cargo` are `cargo`.
fn program_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

impl Profile {
    fn recognises_words(&self, program: &str, args: &[String]) -> bool {
        self.invocations.iter().any(|invocation| {
            invocation.programs.contains(&program)
                && (invocation.subcommands.is_empty()
                    || args
                        .first()
                        .is_some_and(|first| invocation.subcommands.contains(&first.as_str())))
                && invocation
                    .with_argument
                    .is_none_or(|wanted| args.iter().any(|arg| arg == wanted))
        })
    }

    /// The variables to give the command: each one the user has not set, or the user's value
    /// with the profile's after it. `env` looks a variable up.
    pub fn variables(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        self.environment
            .iter()
            .filter_map(
                |variable| match env(variable.name).filter(|v| !v.is_empty()) {
                    None => Some((variable.name.to_string(), variable.value.to_string())),
                    Some(own)
                        if variable.append && !own.split(' ').any(|w| w == variable.value) =>
                    {
                        Some((
                            variable.name.to_string(),
                            format!("{own} {}", variable.value),
                        ))
                    }
                    Some(_) => None,
                },
            )
            .collect()
    }

    /// The one line that says a profile applies and what it changed.
    pub fn announcement(&self, added: &[(String, String)], pattern_added: bool) -> String {
        let mut changes = Vec::new();
        if !added.is_empty() {
            let variables: Vec<String> = added
                .iter()
                .map(|(name, value)| format!("{name}={}", shell_word(value)))
                .collect();
            changes.push(format!("adds {}", variables.join(" ")));
        }
        if pattern_added {
            changes.push("watches for its error pattern".to_string());
        }
        if changes.is_empty() {
            changes.push("changes nothing, and reads its failure blocks".to_string());
        }
        format!(
            "profile {} ({}): {} (--list-profiles shows its rules; --profile none turns it off)",
            self.name,
            self.recognises,
            changes.join("; ")
        )
    }
}

fn shell_word(text: &str) -> String {
    shlex::try_quote(text).map_or_else(|_| text.to_string(), |quoted| quoted.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detected(line: &str) -> Option<&'static str> {
        let words: Vec<String> = line.split(' ').map(str::to_string).collect();
        detect(&words, Path::new("/nonexistent"), 0).map(|profile| profile.name)
    }

    #[test]
    fn tools_are_recognised_directly_and_behind_launchers() {
        for (line, expected) in [
            ("cargo test", Some("cargo-test")),
            ("/usr/bin/cargo test --release", Some("cargo-test")),
            ("cargo nextest run", Some("cargo-test")),
            ("cargo build", Some("rustc")),
            ("cargo clippy --all-targets", Some("rustc")),
            ("pytest -q", Some("pytest")),
            ("python -m pytest", Some("pytest")),
            ("poetry run pytest", Some("pytest")),
            ("uv run --frozen pytest", Some("pytest")),
            ("python3 script.py", Some("python")),
            ("node --test", Some("node-test")),
            ("node server.js", Some("node")),
            ("npx jest", Some("jest")),
            ("npx vitest run", Some("jest")),
            ("go test ./...", Some("go-test")),
            ("go build ./...", Some("go-build")),
            ("npx tsc --noEmit", Some("tsc")),
            ("make -k", Some("gcc")),
            ("env CC=clang make", Some("gcc")),
            ("mvn verify", Some("java")),
            ("./gradlew test", Some("java")),
            ("ls -l", None),
            ("cargo", None),
        ] {
            assert_eq!(detected(line), expected, "{line}");
        }
    }

    #[test]
    fn a_package_script_is_looked_into() {
        let directory =
            std::env::temp_dir().join(format!("earlyexit-profile-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(
            directory.join("package.json"),
            r#"{"scripts": {"test": "NODE_ENV=test jest --ci && echo done", "check": "tsc --noEmit"}}"#,
        )
        .unwrap();
        let words = |line: &str| line.split(' ').map(str::to_string).collect::<Vec<_>>();
        let name = |line: &str| detect(&words(line), &directory, 0).map(|p| p.name);
        assert_eq!(name("npm test"), Some("jest"));
        assert_eq!(name("yarn check"), Some("tsc"));
        assert_eq!(name("npm run check"), Some("tsc"));
        assert_eq!(name("npm run missing"), None);
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn a_variable_is_set_or_appended_never_overwritten() {
        let pytest = PROFILES.iter().find(|p| p.name == "pytest").unwrap();
        assert_eq!(
            pytest.variables(&|_| None),
            [("PYTEST_ADDOPTS".to_string(), "-x".to_string())]
        );
        assert_eq!(
            pytest.variables(&|_| Some("-q".to_string())),
            [("PYTEST_ADDOPTS".to_string(), "-q -x".to_string())]
        );
        assert!(pytest.variables(&|_| Some("-q -x".to_string())).is_empty());
        let cargo = PROFILES.iter().find(|p| p.name == "cargo-test").unwrap();
        assert!(
            cargo.variables(&|_| Some("0".to_string())).is_empty(),
            "the user's value wins"
        );
    }

    #[test]
    fn every_rule_is_a_valid_pattern() {
        for profile in PROFILES {
            let rules = &profile.block;
            let ends = rules.ends.iter().filter_map(|end| match end {
                End::Through(p) | End::Before(p) => Some(*p),
                End::BlankLine => None,
            });
            let hold = rules.hold.into_iter().flat_map(|h| [h.from, h.until]);
            for pattern in [profile.pattern]
                .into_iter()
                .chain(hold)
                .chain(rules.start)
                .chain(ends)
                .chain(rules.locations.iter().copied())
            {
                assert!(
                    regex::Regex::new(pattern).is_ok(),
                    "{}: {pattern}",
                    profile.name
                );
            }
            for location in rules.locations {
                let regex = regex::Regex::new(location).unwrap();
                let names: Vec<_> = regex.capture_names().flatten().collect();
                assert!(
                    names.contains(&"file") && names.contains(&"line"),
                    "{location}"
                );
            }
        }
    }
}
