//! The CI run this process is part of, as each CI system's variables describe it: the
//! pipeline, the job, the runner, the commit and the change, in the semantic conventions'
//! `cicd.*` and `vcs.*` terms.

use crate::urls::without_userinfo;

/// A CI run, as its system's variables describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiRun {
    pub system: &'static str,
    pub pipeline_name: Option<String>,
    pub run_id: Option<String>,
    /// The run's page, credentials stripped.
    pub run_url: Option<String>,
    /// The branch (or tag) being built.
    pub ref_name: Option<String>,
    /// The commit being built.
    pub revision: Option<String>,
    /// The repository, credentials stripped.
    pub repository_url: Option<String>,
    /// The job this step belongs to (`cicd.pipeline.task.name`).
    pub task_name: Option<String>,
    /// Where the repository is hosted: `github`, `gitlab`, `bitbucket` or `gitea`.
    pub provider: Option<&'static str>,
    /// The repository's name without its owner, and its owner.
    pub repository_name: Option<String>,
    pub owner_name: Option<String>,
    /// `branch` or `tag`.
    pub ref_type: Option<&'static str>,
    /// The job's own run: its id and its page.
    pub task_run_id: Option<String>,
    pub task_run_url: Option<String>,
    /// The runner or agent.
    pub worker_name: Option<String>,
    /// The pull or merge request, and the branch it goes into.
    pub change_id: Option<String>,
    pub base_ref: Option<String>,
}

/// GitHub's pull request number, from `refs/pull/123/merge`.
fn pull_request_number(github_ref: Option<String>) -> Option<String> {
    let number = github_ref?
        .strip_prefix("refs/pull/")?
        .split('/')
        .next()?
        .to_string();
    number.bytes().all(|b| b.is_ascii_digit()).then_some(number)
}

/// `owner/name` (GitHub's, Travis's slug) split in two.
fn owner_and_name(slug: Option<String>) -> (Option<String>, Option<String>) {
    match slug.as_deref().and_then(|slug| slug.split_once('/')) {
        Some((owner, name)) => (Some(owner.to_string()), Some(name.to_string())),
        None => (None, slug),
    }
}

/// A tag when the system names one, else a branch when it names a ref at all.
fn ref_type(tag: Option<String>, any_ref: bool) -> Option<&'static str> {
    match (tag, any_ref) {
        (Some(_), _) => Some("tag"),
        (None, true) => Some("branch"),
        (None, false) => None,
    }
}

/// Looks a variable up; empty and `false` count as unset.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A CI system: its name, the variable that identifies it, and how to read its run.
struct CiSystem {
    name: &'static str,
    marker: &'static str,
    read: fn(Lookup<'_>) -> CiRun,
}

/// What the systems document for their jobs' environments.
const CI_SYSTEMS: &[CiSystem] = &[
    CiSystem {
        name: "github_actions",
        marker: "GITHUB_ACTIONS",
        read: |v| {
            let repository = v("GITHUB_SERVER_URL")
                .zip(v("GITHUB_REPOSITORY"))
                .map(|(server, repository)| format!("{server}/{repository}"));
            let (owner_name, repository_name) = owner_and_name(v("GITHUB_REPOSITORY"));
            CiRun {
                pipeline_name: v("GITHUB_WORKFLOW"),
                run_url: repository
                    .as_ref()
                    .zip(v("GITHUB_RUN_ID"))
                    .map(|(repository, id)| format!("{repository}/actions/runs/{id}")),
                run_id: v("GITHUB_RUN_ID"),
                ref_name: v("GITHUB_HEAD_REF").or_else(|| v("GITHUB_REF_NAME")),
                revision: v("GITHUB_SHA"),
                repository_url: repository,
                task_name: v("GITHUB_JOB"),
                provider: Some("github"),
                repository_name,
                owner_name: v("GITHUB_REPOSITORY_OWNER").or(owner_name),
                ref_type: match v("GITHUB_REF_TYPE").as_deref() {
                    Some("tag") => Some("tag"),
                    Some("branch") => Some("branch"),
                    _ => None,
                },
                worker_name: v("RUNNER_NAME"),
                change_id: pull_request_number(v("GITHUB_REF")),
                base_ref: v("GITHUB_BASE_REF"),
                ..CiRun::default()
            }
        },
    },
    CiSystem {
        name: "gitlab_ci",
        marker: "GITLAB_CI",
        read: |v| CiRun {
            pipeline_name: v("CI_PIPELINE_NAME").or_else(|| v("CI_PROJECT_PATH")),
            run_id: v("CI_PIPELINE_ID"),
            run_url: v("CI_PIPELINE_URL"),
            ref_name: v("CI_COMMIT_REF_NAME"),
            revision: v("CI_COMMIT_SHA"),
            repository_url: v("CI_PROJECT_URL"),
            task_name: v("CI_JOB_NAME"),
            provider: Some("gitlab"),
            repository_name: v("CI_PROJECT_NAME"),
            owner_name: v("CI_PROJECT_NAMESPACE"),
            ref_type: ref_type(v("CI_COMMIT_TAG"), v("CI_COMMIT_REF_NAME").is_some()),
            task_run_id: v("CI_JOB_ID"),
            task_run_url: v("CI_JOB_URL"),
            worker_name: v("CI_RUNNER_DESCRIPTION").or_else(|| v("CI_RUNNER_ID")),
            change_id: v("CI_MERGE_REQUEST_IID"),
            base_ref: v("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
            ..CiRun::default()
        },
    },
    CiSystem {
        name: "jenkins",
        marker: "JENKINS_URL",
        read: |v| CiRun {
            pipeline_name: v("JOB_NAME"),
            run_id: v("BUILD_ID"),
            run_url: v("BUILD_URL"),
            ref_name: v("BRANCH_NAME").or_else(|| v("GIT_BRANCH")),
            revision: v("GIT_COMMIT"),
            repository_url: v("GIT_URL"),
            task_name: v("STAGE_NAME"),
            ref_type: ref_type(v("TAG_NAME"), v("BRANCH_NAME").is_some()),
            worker_name: v("NODE_NAME"),
            change_id: v("CHANGE_ID"),
            base_ref: v("CHANGE_TARGET"),
            ..CiRun::default()
        },
    },
    CiSystem {
        name: "circleci",
        marker: "CIRCLECI",
        read: |v| CiRun {
            pipeline_name: v("CIRCLE_WORKFLOW_ID"),
            run_id: v("CIRCLE_BUILD_NUM"),
            run_url: v("CIRCLE_BUILD_URL"),
            ref_name: v("CIRCLE_BRANCH").or_else(|| v("CIRCLE_TAG")),
            revision: v("CIRCLE_SHA1"),
            repository_url: v("CIRCLE_REPOSITORY_URL"),
            task_name: v("CIRCLE_JOB"),
            repository_name: v("CIRCLE_PROJECT_REPONAME"),
            owner_name: v("CIRCLE_PROJECT_USERNAME"),
            ref_type: ref_type(v("CIRCLE_TAG"), v("CIRCLE_BRANCH").is_some()),
            ..CiRun::default()
        },
    },
    CiSystem {
        name: "buildkite",
        marker: "BUILDKITE",
        read: |v| CiRun {
            pipeline_name: v("BUILDKITE_PIPELINE_SLUG"),
            run_id: v("BUILDKITE_BUILD_ID"),
            run_url: v("BUILDKITE_BUILD_URL"),
            ref_name: v("BUILDKITE_BRANCH"),
            revision: v("BUILDKITE_COMMIT"),
            repository_url: v("BUILDKITE_REPO"),
            task_name: v("BUILDKITE_LABEL"),
            provider: match v("BUILDKITE_PIPELINE_PROVIDER").as_deref() {
                Some(p) if p.starts_with("github") => Some("github"),
                Some(p) if p.starts_with("gitlab") => Some("gitlab"),
                Some(p) if p.starts_with("bitbucket") => Some("bitbucket"),
                _ => None,
            },
            ref_type: ref_type(v("BUILDKITE_TAG"), v("BUILDKITE_BRANCH").is_some()),
            task_run_id: v("BUILDKITE_JOB_ID"),
            worker_name: v("BUILDKITE_AGENT_NAME"),
            change_id: v("BUILDKITE_PULL_REQUEST"),
            base_ref: v("BUILDKITE_PULL_REQUEST_BASE_BRANCH"),
            ..CiRun::default()
        },
    },
    CiSystem {
        name: "azure_pipelines",
        marker: "TF_BUILD",
        read: |v| CiRun {
            pipeline_name: v("BUILD_DEFINITIONNAME"),
            run_url: v("SYSTEM_COLLECTIONURI")
                .zip(v("SYSTEM_TEAMPROJECT"))
                .zip(v("BUILD_BUILDID"))
                .map(|((collection, project), id)| {
                    format!("{collection}{project}/_build/results?buildId={id}")
                }),
            run_id: v("BUILD_BUILDID"),
            ref_name: v("BUILD_SOURCEBRANCHNAME"),
            revision: v("BUILD_SOURCEVERSION"),
            repository_url: v("BUILD_REPOSITORY_URI"),
            task_name: v("SYSTEM_JOBDISPLAYNAME"),
            provider: match v("BUILD_REPOSITORY_PROVIDER").as_deref() {
                Some("GitHub" | "GitHubEnterprise") => Some("github"),
                Some("Bitbucket") => Some("bitbucket"),
                _ => None,
            },
            ref_type: v("BUILD_SOURCEBRANCH").map(|r| {
                if r.starts_with("refs/tags/") {
                    "tag"
                } else {
                    "branch"
                }
            }),
            task_run_id: v("SYSTEM_JOBID"),
            worker_name: v("AGENT_NAME"),
            change_id: v("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER"),
            base_ref: v("SYSTEM_PULLREQUEST_TARGETBRANCH"),
            ..CiRun::default()
        },
    },
    CiSystem {
        name: "travis",
        marker: "TRAVIS",
        read: |v| {
            let (owner_name, repository_name) = owner_and_name(v("TRAVIS_REPO_SLUG"));
            CiRun {
                pipeline_name: v("TRAVIS_REPO_SLUG"),
                run_id: v("TRAVIS_BUILD_ID"),
                run_url: v("TRAVIS_BUILD_WEB_URL"),
                ref_name: v("TRAVIS_BRANCH"),
                revision: v("TRAVIS_COMMIT"),
                task_name: v("TRAVIS_JOB_NAME"),
                repository_name,
                owner_name,
                ref_type: ref_type(v("TRAVIS_TAG"), v("TRAVIS_BRANCH").is_some()),
                task_run_id: v("TRAVIS_JOB_ID"),
                task_run_url: v("TRAVIS_JOB_WEB_URL"),
                change_id: v("TRAVIS_PULL_REQUEST"),
                ..CiRun::default()
            }
        },
    },
];

/// The CI run this process is part of, if any (`CI=true` alone gives a generic one).
pub fn ci_run(env: Lookup<'_>) -> Option<CiRun> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty() && v != "false");
    let run = match CI_SYSTEMS
        .iter()
        .find(|system| set(system.marker).is_some())
    {
        Some(system) => CiRun {
            system: system.name,
            ..(system.read)(&set)
        },
        None => {
            set("CI")?;
            CiRun {
                system: "generic",
                ..CiRun::default()
            }
        }
    };
    Some(CiRun {
        // CI systems put tokens there (`https://x-token:…@`).
        run_url: run.run_url.as_deref().map(without_userinfo),
        task_run_url: run.task_run_url.as_deref().map(without_userinfo),
        repository_url: run.repository_url.as_deref().map(without_userinfo),
        ..run
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_run_and_the_commit_from_each_systems_variables() {
        let github = |name: &str| {
            Some(
                match name {
                    "GITHUB_ACTIONS" => "true",
                    "GITHUB_SERVER_URL" => "https://github.example",
                    "GITHUB_REPOSITORY" => "team/app",
                    "GITHUB_RUN_ID" => "42",
                    "GITHUB_REF_NAME" => "main",
                    "GITHUB_SHA" => "abc123",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let run = ci_run(&github).unwrap();
        assert_eq!(
            run.run_url.as_deref(),
            Some("https://github.example/team/app/actions/runs/42")
        );
        assert_eq!(run.ref_name.as_deref(), Some("main"));
        assert_eq!(run.revision.as_deref(), Some("abc123"));
        assert_eq!(
            run.repository_url.as_deref(),
            Some("https://github.example/team/app")
        );
        let jenkins = |name: &str| {
            Some(
                match name {
                    "JENKINS_URL" => "https://ci.example/",
                    "GIT_URL" => "https://deploy:t0ken@git.example/team/app.git",
                    _ => return None,
                }
                .to_string(),
            )
        };
        assert_eq!(
            ci_run(&jenkins).unwrap().repository_url.as_deref(),
            Some("https://git.example/team/app.git"),
            "credentials in the URL are stripped"
        );
    }

    #[test]
    fn the_job_the_runner_and_the_change_from_github_and_gitlab() {
        let variables = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            }
        };
        let github = ci_run(&variables(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/pull/17/merge"),
            ("GITHUB_BASE_REF", "main"),
            ("RUNNER_NAME", "runner-3"),
        ]))
        .unwrap();
        assert_eq!(
            (
                github.change_id.as_deref(),
                github.base_ref.as_deref(),
                github.worker_name.as_deref()
            ),
            (Some("17"), Some("main"), Some("runner-3"))
        );
        let gitlab = ci_run(&variables(&[
            ("GITLAB_CI", "true"),
            ("CI_JOB_ID", "9001"),
            ("CI_JOB_URL", "https://gitlab.example/team/app/-/jobs/9001"),
            ("CI_RUNNER_DESCRIPTION", "shared-2"),
            ("CI_MERGE_REQUEST_IID", "5"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "develop"),
        ]))
        .unwrap();
        assert_eq!(gitlab.task_run_id.as_deref(), Some("9001"));
        assert_eq!(
            gitlab.task_run_url.as_deref(),
            Some("https://gitlab.example/team/app/-/jobs/9001")
        );
        assert_eq!(gitlab.worker_name.as_deref(), Some("shared-2"));
        assert_eq!(gitlab.change_id.as_deref(), Some("5"));
        assert_eq!(gitlab.base_ref.as_deref(), Some("develop"));
    }
}
