//! What of a run may be kept: detail levels, and scrubbing of secrets and personal data from
//! every free text that is kept (the command, the working directory, matched lines).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// How much of a run a sink keeps (the seed's "Anonymization Levels").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The command hash, pattern, exit codes, timings and counts; no arguments, paths or output.
    Minimal,
    /// Also the command line, the working directory and the matched lines, scrubbed.
    Full,
}

const REDACTED: &str = "[REDACTED]";

/// Rules applied in order; each replaces what it finds. Keep the key formats before the
/// generic rules, so that a token inside `token=ghp_...` is caught by both.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let rules: &[(&str, &'static str)] = &[
        // Private key blocks.
        (
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
            REDACTED,
        ),
        // Well-known key formats: GitHub, AWS access key ids, Slack, OpenAI-style, Google.
        (
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
            REDACTED,
        ),
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
        (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", REDACTED),
        (r"\bsk-[A-Za-z0-9_-]{20,}", REDACTED),
        (r"\bAIza[0-9A-Za-z_-]{35}", REDACTED),
        // JSON Web Tokens.
        (
            r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
            REDACTED,
        ),
        // Authorization headers.
        (
            r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*",
            "$1 [REDACTED]",
        ),
        // Credentials in URLs: scheme://user:password@host.
        (
            r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@",
            "${1}[REDACTED]@",
        ),
        // key=value and key: value secrets.
        (
            r#"(?i)\b([a-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth|credentials?)["']?\s*[=:]\s*)["']?[^\s"'&;,]+"#,
            "${1}[REDACTED]",
        ),
        // `--password hunter2` style options.
        (
            r"(?i)(--?[a-z0-9-]*(?:password|passwd|secret|token|api-?key|access-?key)\s+)[^\s-][^\s]*",
            "${1}[REDACTED]",
        ),
        // E-mail addresses.
        (
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            "[EMAIL]",
        ),
        // IPv4 and IPv6 addresses.
        (
            r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
            "[IP]",
        ),
        (
            r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4}\b",
            "[IP]",
        ),
    ];
    rules
        .iter()
        .map(|(pattern, replacement)| {
            (
                Regex::new(pattern).expect("scrub rules compile"),
                *replacement,
            )
        })
        .collect()
});

/// Option names whose next argument is a secret (`--password hunter2`).
static SECRET_OPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^--?[a-z0-9-]*(?:password|passwd|secret|token|api-?key|access-?key)$")
        .expect("compiles")
});

/// Removes secrets and personal data from a text.
pub fn scrub(text: &str) -> String {
    let mut current = Cow::Borrowed(text);
    for (regex, replacement) in RULES.iter() {
        if let Cow::Owned(replaced) = regex.replace_all(&current, *replacement) {
            current = Cow::Owned(replaced);
        }
    }
    current.into_owned()
}

/// Scrubs command arguments one by one, and also the argument after a secret-bearing option.
pub fn scrub_args(args: &[String]) -> Vec<String> {
    let mut previous_was_secret_option = false;
    args.iter()
        .map(|arg| {
            let scrubbed = if previous_was_secret_option {
                REDACTED.to_string()
            } else {
                scrub(arg)
            };
            previous_was_secret_option = SECRET_OPTION.is_match(arg);
            scrubbed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_each_kind_of_secret() {
        let cases = [
            ("mail bob.smith@example.com now", "bob.smith@example.com"),
            ("connect 10.1.2.3:5432", "10.1.2.3"),
            (
                "host fe80::1ff:fe23:4567:890a up",
                "fe80::1ff:fe23:4567:890a",
            ),
            ("PASSWORD=hunter2 make", "hunter2"),
            (
                "curl -H 'Authorization: Bearer abcdefghijklmnop'",
                "abcdefghijklmnop",
            ),
            ("git clone https://user:s3cr3t@github.com/x.git", "s3cr3t"),
            ("token=ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ghp_aaaa"),
            ("key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature",
                "eyJhbGciOiJIUzI1NiJ9",
            ),
            ("mysql --password hunter2 db", "hunter2"),
            ("api_key: \"abc123xyz\"", "abc123xyz"),
        ];
        for (text, secret) in cases {
            let scrubbed = scrub(text);
            assert!(!scrubbed.contains(secret), "{text:?} → {scrubbed:?}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let text = "cargo test --release -- parser::tests (3 passed in 1.25s)";
        assert_eq!(scrub(text), text);
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
