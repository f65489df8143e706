//! What kind of run this is, guessed from the working directory and the command, so that runs
//! can be grouped without keeping the command itself. The CI run is `ci`'s.

use std::path::Path;

/// Marker files of project types, most specific first.
const PROJECT_MARKERS: &[(&str, &str)] = &[
    ("Cargo.toml", "rust"),
    ("package.json", "nodejs"),
    ("pyproject.toml", "python"),
    ("setup.py", "python"),
    ("requirements.txt", "python"),
    ("go.mod", "go"),
    ("pom.xml", "java"),
    ("build.gradle", "java"),
    ("build.gradle.kts", "kotlin"),
    ("Gemfile", "ruby"),
    ("composer.json", "php"),
    ("mix.exs", "elixir"),
    ("Package.swift", "swift"),
    ("CMakeLists.txt", "cmake"),
    ("Makefile", "make"),
];

/// The project type of a directory, from its marker files; `unknown` when none is there.
pub fn project_type(directory: &Path) -> &'static str {
    PROJECT_MARKERS
        .iter()
        .find(|(marker, _)| directory.join(marker).exists())
        .map_or("unknown", |(_, kind)| kind)
}

/// Words that give a command's category, looked for in the executable name and its first
/// arguments. Test comes first: `cargo test --release` is a test, not a build.
const CATEGORY_WORDS: &[(&str, &[&str])] = &[
    (
        "test",
        &[
            "test",
            "tests",
            "pytest",
            "jest",
            "vitest",
            "mocha",
            "rspec",
            "ctest",
            "nextest",
            "phpunit",
            "tox",
            "karma",
            "playwright",
            "cypress",
        ],
    ),
    (
        "lint",
        &[
            "lint",
            "clippy",
            "eslint",
            "flake8",
            "ruff",
            "pylint",
            "mypy",
            "rubocop",
            "shellcheck",
            "golangci-lint",
            "check",
            "fmt",
        ],
    ),
    (
        "deploy",
        &[
            "deploy",
            "apply",
            "helm",
            "release",
            "publish",
            "push",
            "ansible-playbook",
            "rollout",
        ],
    ),
    (
        "build",
        &[
            "build", "make", "cmake", "ninja", "gcc", "clang", "tsc", "webpack", "vite", "compile",
            "package", "assemble", "bazel", "install",
        ],
    ),
];

/// `test`, `lint`, `deploy`, `build` or `other`.
pub fn command_category(executable: &str, args: &[String]) -> &'static str {
    let words: Vec<&str> = std::iter::once(executable)
        .chain(args.iter().take(3).map(String::as_str))
        .flat_map(|word| {
            word.split([':', '/', '-', '.'])
                .chain(std::iter::once(word))
        })
        .collect();
    CATEGORY_WORDS
        .iter()
        .find(|(_, keys)| {
            words
                .iter()
                .any(|w| keys.contains(&w.to_ascii_lowercase().as_str()))
        })
        .map_or("other", |(category, _)| category)
}

/// The operating system as OpenTelemetry's `os.type` and `TELEMETRY_BACKENDS.md`'s `client.platform` name it
/// (`darwin`, not Rust's `macos`).
pub fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn categories() {
        assert_eq!(
            command_category("cargo", &args(&["test", "--release"])),
            "test"
        );
        assert_eq!(
            command_category("npm", &args(&["run", "test:unit"])),
            "test"
        );
        assert_eq!(command_category("make", &args(&[])), "build");
        assert_eq!(
            command_category("kubectl", &args(&["apply", "-f", "x.yaml"])),
            "deploy"
        );
        assert_eq!(command_category("cargo", &args(&["clippy"])), "lint");
        assert_eq!(command_category("sleep", &args(&["3"])), "other");
    }
}
