//! What kind of run this is, guessed from the working directory, the command and the CI
//! environment, so that runs can be grouped without keeping the command itself.

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

/// The operating system as OpenTelemetry's `os.type` and the seed's `client.platform` name it
/// (`darwin`, not Rust's `macos`).
pub fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// A CI system, recognised by its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiRun {
    pub system: &'static str,
    pub pipeline_name: Option<String>,
    pub run_id: Option<String>,
}

/// (system, the variable that identifies it, pipeline name variable, run id variable)
const CI_SYSTEMS: &[(&str, &str, &str, &str)] = &[
    (
        "github_actions",
        "GITHUB_ACTIONS",
        "GITHUB_WORKFLOW",
        "GITHUB_RUN_ID",
    ),
    (
        "gitlab_ci",
        "GITLAB_CI",
        "CI_PIPELINE_NAME",
        "CI_PIPELINE_ID",
    ),
    ("jenkins", "JENKINS_URL", "JOB_NAME", "BUILD_ID"),
    (
        "circleci",
        "CIRCLECI",
        "CIRCLE_WORKFLOW_ID",
        "CIRCLE_BUILD_NUM",
    ),
    (
        "buildkite",
        "BUILDKITE",
        "BUILDKITE_PIPELINE_SLUG",
        "BUILDKITE_BUILD_ID",
    ),
    (
        "azure_pipelines",
        "TF_BUILD",
        "BUILD_DEFINITIONNAME",
        "BUILD_BUILDID",
    ),
    ("travis", "TRAVIS", "TRAVIS_REPO_SLUG", "TRAVIS_BUILD_ID"),
];

/// The CI run this process is part of, if any (`CI=true` alone gives a generic one).
pub fn ci_run(env: &dyn Fn(&str) -> Option<String>) -> Option<CiRun> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty() && v != "false");
    for (system, marker, name, run_id) in CI_SYSTEMS {
        if set(marker).is_some() {
            return Some(CiRun {
                system,
                pipeline_name: set(name),
                run_id: set(run_id),
            });
        }
    }
    set("CI").map(|_| CiRun {
        system: "generic",
        pipeline_name: None,
        run_id: None,
    })
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

    #[test]
    fn ci_systems() {
        let github = |name: &str| match name {
            "GITHUB_ACTIONS" => Some("true".to_string()),
            "GITHUB_WORKFLOW" => Some("CI".to_string()),
            "GITHUB_RUN_ID" => Some("42".to_string()),
            _ => None,
        };
        let run = ci_run(&github).unwrap();
        assert_eq!(
            (
                run.system,
                run.pipeline_name.as_deref(),
                run.run_id.as_deref()
            ),
            ("github_actions", Some("CI"), Some("42"))
        );
        assert_eq!(
            ci_run(&|n: &str| (n == "CI").then(|| "true".to_string()))
                .unwrap()
                .system,
            "generic"
        );
        assert!(ci_run(&|_: &str| None).is_none());
    }
}
