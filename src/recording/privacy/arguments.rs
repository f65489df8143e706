//! Command arguments as a record keeps them: each scrubbed as any text is, and the argument
//! that a secret-bearing option, a secret's name or a program's `-p` puts a secret in.

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::{ascii_regex, names_a_secret, scrub, REDACTED, SECRET_OPTION_WORDS};

/// Option names whose next argument is a secret (`--password hunter2`, `curl -u user:pw`).
static SECRET_OPTION: LazyLock<Regex> =
    LazyLock::new(|| ascii_regex(&format!(r"(?i)^(?:--?{SECRET_OPTION_WORDS}|-u|--user)$")));

/// A whole argument that names a secret, whose value the next argument is
/// (`aws configure set aws_secret_access_key VALUE`, `vault kv put x password VALUE`).
static SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
    ascii_regex(
        r"(?i)^[a-z0-9_.-]*(?:secret|password|passwd|token|api[_-]?key|access[_-]?key|secret[_-]?key|credentials?)$",
    )
});

/// Where `-p` takes a password: the MySQL clients (glued, `-pSECRET`), `sshpass` (glued or
/// not), and the container tools' `login`.
#[derive(Clone, Copy, PartialEq)]
enum PasswordFlag {
    None,
    Glued,
    GluedOrNext,
    Next,
}

/// What `-p` means after the word `program` (with `rest`, the words after it), when that word
/// names one of those programs; a program may come after a wrapper (`sudo`, `env`, `sh -c`).
fn password_flag(program: &str, rest: &[String]) -> Option<PasswordFlag> {
    let name = program.rsplit('/').next().unwrap_or(program);
    let logs_in = || rest.iter().any(|arg| arg == "login");
    match name {
        _ if name.starts_with("mysql") || name.starts_with("mariadb") => Some(PasswordFlag::Glued),
        "sshpass" => Some(PasswordFlag::GluedOrNext),
        "docker" | "podman" | "nerdctl" | "buildah" | "skopeo" | "helm" if logs_in() => {
            Some(PasswordFlag::Next)
        }
        _ => None,
    }
}

/// Scrubs command arguments one by one, and also the argument after a secret-bearing option
/// or a secret's name, and a password behind `-p` where a program takes one there.
pub fn scrub_args(args: &[String]) -> Vec<String> {
    let mut flag = PasswordFlag::None;
    let mut previous_was_secret_option = false;
    args.iter()
        .enumerate()
        .map(|(index, arg)| {
            if let Some(program) = password_flag(arg, &args[index + 1..]) {
                flag = program;
            }
            let glued_password = matches!(flag, PasswordFlag::Glued | PasswordFlag::GluedOrNext)
                && arg.len() > 2
                && arg.starts_with("-p");
            let scrubbed = if previous_was_secret_option {
                REDACTED.to_string()
            } else if glued_password {
                format!("-p{REDACTED}")
            } else {
                scrub(arg)
            };
            let lowercase = arg.to_ascii_lowercase();
            let secret_option = arg.starts_with('-')
                && (names_a_secret(lowercase.as_bytes()) || arg == "-u" || arg == "--user")
                && SECRET_OPTION.is_match(arg.as_bytes());
            let password_option =
                arg == "-p" && matches!(flag, PasswordFlag::GluedOrNext | PasswordFlag::Next);
            // The words' search first: compiling the regex costs more than a short run.
            let secret_name = !arg.starts_with('-')
                && names_a_secret(lowercase.as_bytes())
                && SECRET_NAME.is_match(arg.as_bytes());
            previous_was_secret_option =
                !glued_password && (secret_option || password_option || secret_name);
            scrubbed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_after_secret_options_and_glued_mysql_passwords() {
        let scrubbed =
            |words: &[&str]| scrub_args(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>());
        assert_eq!(
            scrubbed(&["curl", "-u", "admin:pw", "https://h"]),
            ["curl", "-u", "[REDACTED]", "https://h"]
        );
        assert_eq!(
            scrubbed(&["mysql", "-uroot", "-pSECRET", "db"]),
            ["mysql", "-uroot", "-p[REDACTED]", "db"]
        );
        assert_eq!(
            scrubbed(&["tool", "--pass", "x", "--auth", "y"]),
            ["tool", "--pass", "[REDACTED]", "--auth", "[REDACTED]"]
        );
        assert_eq!(scrubbed(&["mkdir", "-p", "dir"]), ["mkdir", "-p", "dir"]);
        assert_eq!(
            scrubbed(&[
                "aws",
                "configure",
                "set",
                "aws_secret_access_key",
                "wJalrXUtnFEMI"
            ]),
            [
                "aws",
                "configure",
                "set",
                "aws_secret_access_key",
                "[REDACTED]"
            ]
        );
        assert_eq!(
            scrubbed(&["sshpass", "-p", "Hunter2x", "ssh", "h"]),
            ["sshpass", "-p", "[REDACTED]", "ssh", "h"]
        );
        assert_eq!(
            scrubbed(&["sshpass", "-pHunter2x", "ssh", "h"]),
            ["sshpass", "-p[REDACTED]", "ssh", "h"]
        );
        assert_eq!(
            scrubbed(&["docker", "login", "-u", "ci", "-p", "Hunter2x", "r.example"]),
            [
                "docker",
                "login",
                "-u",
                "[REDACTED]",
                "-p",
                "[REDACTED]",
                "r.example"
            ]
        );
        assert_eq!(
            scrubbed(&["npm", "run", "test-token-parser", "fast"]),
            ["npm", "run", "test-token-parser", "fast"]
        );
        assert_eq!(
            scrubbed(&[
                "deploy",
                "--secret-value",
                "x",
                "--db-password-file",
                "y",
                "--author",
                "z"
            ]),
            [
                "deploy",
                "--secret-value",
                "[REDACTED]",
                "--db-password-file",
                "[REDACTED]",
                "--author",
                "z"
            ]
        );
    }

    #[test]
    fn the_argument_after_a_secret_option_is_redacted() {
        let args: Vec<String> = ["deploy", "--token", "t0ps3cret", "--verbose"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            scrub_args(&args),
            ["deploy", "--token", "[REDACTED]", "--verbose"]
        );
    }
}
