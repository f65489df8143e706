//! What of a run may be kept: detail levels, and scrubbing of secrets and personal data from
//! every free text that is kept (the command, the working directory, matched lines).

use std::borrow::Cow;
use std::sync::LazyLock;

use opentelemetry_sdk::trace::SpanData;
use regex::bytes::{Regex, RegexBuilder};

use super::attributes::FULL_DETAIL_ONLY;
use crate::observer::KeptMatch;

pub use crate::config::telemetry::Detail;

mod arguments;
pub use arguments::scrub_args;

const REDACTED: &str = "[REDACTED]";

/// The span as a sink at `detail` keeps it: at minimal detail without what only full detail
/// keeps, on the span and on its events.
pub fn at_detail(mut span: SpanData, detail: Detail) -> SpanData {
    keep_at(detail, &mut span.attributes);
    for event in span.events.events.iter_mut() {
        keep_at(detail, &mut event.attributes);
    }
    span
}

/// Drops from `attributes` what `detail` does not keep.
pub fn keep_at(detail: Detail, attributes: &mut Vec<opentelemetry::KeyValue>) {
    if detail == Detail::Minimal {
        attributes.retain(|kv| !FULL_DETAIL_ONLY.contains(&kv.key.as_str()));
    }
}

/// One scrubbing rule. The regex is compiled only the first time a text passes `could_match`,
/// a cheap test for the rule's literal parts: compiling all rules costs about 1.7 ms, which
/// every run would pay for texts such as `cargo test` that contain nothing to scrub.
struct Rule {
    /// Checked against the text lowercased (ASCII).
    could_match: fn(&[u8]) -> bool,
    regex: LazyLock<Regex>,
    replacement: &'static str,
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

/// An option name whose value is a secret: a secret's word as one of its parts, anywhere
/// (`--password`, `--db-pass`, `--auth`, `--secret-value`, `--db-password-file`), and not
/// inside another word (`--author`, `--passive`).
const SECRET_OPTION_WORDS: &str = "(?:[a-z0-9]+[-_])*(?:password|passwd|pass|pwd|secret|secrets|token|tokens|api[-_]?key|access[-_]?key|auth|credentials?)(?:[-_][a-z0-9]+)*";

/// The words that make a key's value a secret in `key=value` and `key: value` text: at the
/// end of the key (`DB_PASSWORD`, `mypassword`) or as one of its parts (`secret_value`).
const SECRET_KEY_WORDS: &str =
    "(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth|credentials?)";

/// Words that name a secret in `key=value` text and in `--option value` arguments.
const SECRET_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
];

fn names_a_secret(text: &[u8]) -> bool {
    SECRET_WORDS.iter().any(|word| contains(text, word))
}

/// Four runs of digits joined by dots, as every IPv4 address has and a version or a decimal
/// (`3.11.2`, `sleep 0.5`) has not: the IPv4 rule's trigger, so that such words do not
/// compile its regex (0.3 ms).
fn has_dotted_quad(text: &[u8]) -> bool {
    text.split(|b| !b.is_ascii_digit() && *b != b'.')
        .any(|word| {
            word.split(|b| *b == b'.')
                .filter(|part| !part.is_empty())
                .count()
                >= 4
        })
}

/// Compiled without Unicode classes: every rule is about ASCII text, and Unicode-aware `\b`
/// and `\s` take far longer to compile.
fn ascii_regex(pattern: &str) -> Regex {
    RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .expect("scrub rules compile")
}

/// A [`Rule`] in one line: the cheap test, the pattern (compiled on first use), the replacement.
macro_rules! rule {
    ($could_match:expr, $pattern:expr, $replacement:expr) => {
        Rule {
            could_match: $could_match,
            regex: LazyLock::new(|| ascii_regex($pattern)),
            replacement: $replacement,
        }
    };
}

/// Applied in order. Key formats come before the generic rules, so that a token inside
/// `token=ghp_...` is caught by both.
#[rustfmt::skip]
static RULES: [Rule; 26] = [
    // Private key blocks.
    rule!(|t| contains(t, "private key"), r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", REDACTED),
    // Well-known key formats: GitHub, AWS access key ids, Slack, OpenAI-style, Google.
    rule!(|t| contains(t, "gh") || contains(t, "github_pat_"), r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})", REDACTED),
    rule!(|t| contains(t, "akia") || contains(t, "asia"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
    rule!(|t| contains(t, "xox"), r"\bxox[abposr]-[A-Za-z0-9-]{10,}", REDACTED),
    rule!(|t| contains(t, "sk-"), r"\bsk-[A-Za-z0-9_-]{20,}", REDACTED),
    // Stripe secret, restricted and publishable keys; GitLab personal access tokens.
    rule!(|t| contains(t, "k_live_") || contains(t, "k_test_"), r"\b[spr]k_(?:live|test)_[A-Za-z0-9]{10,}", REDACTED),
    // GitLab tokens: personal, runner, pipeline trigger, deploy, CI build, feed, OAuth...
    rule!(|t| contains(t, "gl"), r"\bgl(?:pat|rt|ptt|dt|cbt|ft|imt|agent|soat|oas|rtr)-[A-Za-z0-9_-]{16,}", REDACTED),
    // Stripe webhook secrets, npm tokens, SendGrid keys, Vault tokens.
    rule!(|t| contains(t, "whsec_"), r"\bwhsec_[A-Za-z0-9+/=]{16,}", REDACTED),
    rule!(|t| contains(t, "npm_"), r"\bnpm_[A-Za-z0-9]{16,}", REDACTED),
    rule!(|t| contains(t, "sg."), r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}", REDACTED),
    rule!(|t| contains(t, "s.") || contains(t, "b.") || contains(t, "r."), r"\b(?:hv[sbr]\.[A-Za-z0-9_-]{8,}|[sb]\.[A-Za-z0-9]{24,}\b)", REDACTED),
    rule!(|t| contains(t, "aiza"), r"\bAIza[0-9A-Za-z_-]{35}", REDACTED),
    // JSON Web Tokens.
    rule!(|t| contains(t, "eyj"), r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", REDACTED),
    // An Authorization header, whatever its scheme (`token x`, `Bearer x`, a bare key).
    rule!(|t| contains(t, "authorization"), r#"(?i)\b(authorization["']?\s*[:=]\s*)(?:[A-Za-z]+\s+)?[^\s"',;]+"#, "${1}[REDACTED]"),
    // Authorization schemes elsewhere in a text.
    rule!(|t| contains(t, "bearer") || contains(t, "basic") || contains(t, "token"), r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*", "$1 [REDACTED]"),
    // Credentials in URLs: scheme://user:password@host.
    rule!(|t| contains(t, "://") && contains(t, "@"), r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", "${1}[REDACTED]@"),
    // key=value and key: value secrets.
    rule!(|t| (contains(t, "=") || contains(t, ":")) && names_a_secret(t), &format!(r#"(?i)\b((?:[a-z0-9_.-]*{SECRET_KEY_WORDS}|(?:[a-z0-9]+[_.-])*{SECRET_KEY_WORDS}(?:[_.-][a-z0-9]+)+)["']?\s*[=:]\s*)["']?[^\s"'&;,]+"#), "${1}[REDACTED]"),
    // `aws configure set aws_secret_access_key VALUE`: a secret's name set to the next word.
    rule!(|t| contains(t, "set") && names_a_secret(t), r"(?i)(\bset\s+[a-z0-9_.-]*(?:secret|password|passwd|token|api[_-]?key|access[_-]?key|credentials?)\s+)\S+", "${1}[REDACTED]"),
    // `--password hunter2` style options.
    rule!(|t| contains(t, "-") && names_a_secret(t), &format!(r"(?i)((?:^|\s)--?{SECRET_OPTION_WORDS}\s+)[^\s-][^\s]*"), "${1}[REDACTED]"),
    // `curl -u user:password` and `--user user:password`: the user stays.
    rule!(|t| contains(t, "-u") && contains(t, ":"), r"(\s(?:-u|--user)[\s=]*[^\s:]+:)[^\s@]+", "${1}[REDACTED]"),
    // Signatures and credentials in a URL's query: S3 and GCS presigned URLs, Azure SAS.
    rule!(|t| contains(t, "sig") || contains(t, "credential"), r"(?i)([?&](?:x-(?:amz|goog)-(?:signature|credential|security-token)|signature|sig)=)[^&\s\x22']+", "${1}[REDACTED]"),
    // `sshpass -p SECRET` and `docker login -p SECRET`: a password behind `-p`.
    rule!(|t| contains(t, "sshpass") || contains(t, "login"), r"(?i)(\b(?:sshpass\b[^\n]*?|(?:docker|podman|nerdctl|buildah|skopeo|helm(?:\s+registry)?)\s+login\b[^\n]*?)\s-p\s*)[^\s-][^\s]*", "${1}[REDACTED]"),
    // `mysql -pSECRET`: the MySQL clients take the password glued to `-p`.
    rule!(|t| contains(t, "mysql") || contains(t, "mariadb"), r"(?i)(\b(?:mysql\w*|mariadb\w*)\b[^\n]*?\s-p)[^\s]+", "${1}[REDACTED]"),
    // E-mail addresses.
    rule!(|t| contains(t, "@"), r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "[EMAIL]"),
    // IPv4 and IPv6 addresses.
    rule!(has_dotted_quad, r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b", "[IP]"),
    rule!(|t| contains(t, "::") || t.iter().filter(|&&b| b == b':').count() >= 7, r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4}\b", "[IP]"),
];

/// Runs of 13 to 19 digits, spaced or dashed in groups, that may be a payment card number:
/// the networks' numbers start with 2 to 6 (a nanosecond timestamp starts with 1).
static CARD_NUMBER: LazyLock<Regex> = LazyLock::new(|| ascii_regex(r"\b[2-6](?:[ -]?\d){12,18}\b"));

/// The Luhn checksum that every card number passes (and most other digit runs fail).
fn passes_luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            match (i % 2 == 1, d * 2) {
                (false, _) => d,
                (true, doubled) if doubled > 9 => doubled - 9,
                (true, doubled) => doubled,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn scrub_card_numbers(text: &[u8]) -> Cow<'_, [u8]> {
    if text.iter().filter(|b| b.is_ascii_digit()).count() < 13 {
        return Cow::Borrowed(text);
    }
    CARD_NUMBER.replace_all(text, |found: &regex::bytes::Captures<'_>| {
        let digits: Vec<u8> = found[0]
            .iter()
            .copied()
            .filter(u8::is_ascii_digit)
            .collect();
        if passes_luhn(&digits) {
            b"[CARD]".to_vec()
        } else {
            found[0].to_vec()
        }
    })
}

/// Removes secrets and personal data from a text.
pub fn scrub(text: &str) -> String {
    let mut current = match scrub_card_numbers(text.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(text.as_bytes()),
        Cow::Owned(scrubbed) => Cow::Owned(scrubbed),
    };
    for rule in &RULES {
        if !(rule.could_match)(&current.to_ascii_lowercase()) {
            continue;
        }
        if let Cow::Owned(replaced) = rule
            .regex
            .replace_all(&current, rule.replacement.as_bytes())
        {
            current = Cow::Owned(replaced);
        }
    }
    String::from_utf8_lossy(&current).into_owned()
}

/// `text` as a sink keeps it: scrubbed when `scrub_pii` says so.
pub fn scrub_if(scrub_pii: bool, text: &str) -> String {
    if scrub_pii {
        scrub(text)
    } else {
        text.to_string()
    }
}

/// A matched line as a sink keeps it: scrubbed when `scrub_pii` says so, and nothing of it
/// when it is part of a private key block, which no single line shows to be a secret.
pub fn scrub_matched_line(scrub_pii: bool, kept: &KeptMatch) -> String {
    if scrub_pii && kept.in_private_key {
        return REDACTED.to_string();
    }
    scrub_if(scrub_pii, &String::from_utf8_lossy(&kept.line))
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
            (
                "charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                "4eC39HqLyjWDarjtT1zdp7dc",
            ),
            (
                "restricted rk_test_51Habcdefghijklmnop",
                "51Habcdefghijklmnop",
            ),
            (
                "export AWS_ACCESS_KEY_ID=ASIAY34FZKBOKMUTVV7A",
                "ASIAY34FZKBOKMUTVV7A",
            ),
            ("key ASIAY34FZKBOKMUTVV7A in use", "ASIAY34FZKBOKMUTVV7A"),
            (
                "git push with glpat-xK9mQ2vL8nR4tY6wZ1aB",
                "glpat-xK9mQ2vL8nR4tY6wZ1aB",
            ),
            ("paid with 4111 1111 1111 1111 today", "4111 1111 1111 1111"),
            ("card 4111-1111-1111-1111", "4111-1111-1111-1111"),
            ("card 5555555555554444.", "5555555555554444"),
            ("curl -u admin:pw1x https://h/x", "pw1x"),
            ("curl --user admin:pw1x https://h/x", "pw1x"),
            ("mysql -uroot -pSECRETpw db", "SECRETpw"),
            ("tool --pass hunter2x", "hunter2x"),
            ("tool --auth hunter2x", "hunter2x"),
            ("curl -H 'Authorization: token x1y2'", "x1y2"),
            ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
            ("register glrt-t1_AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrSt"),
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8I"),
            ("//registry/:_authToken=npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "npm_AbCd"),
            ("npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 in use", "npm_AbCd"),
            ("key 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", "TwL2iGABf9DHoTf"),
            ("VAULT_TOKEN s.Ox0Rx5JyyCkQo7KzL4s2pQfA vault read", "Ox0Rx5JyyCkQo7KzL4s2pQfA"),
            ("vault hvs.CAESIJlWh7Wzq5x0Rx5JyyCkQo7KzL4s2pQfAbcd", "CAESIJlWh7W"),
            ("get https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024 ok", "fe5f80f77d5fa3"),
            ("blob https://a.blob.core.windows.net/c/f?sv=2022&sig=abcDEF123%3D ok", "abcDEF123"),
            ("sshpass -p Hunter2x ssh host", "Hunter2x"),
            ("aws configure set aws_secret_access_key wJalrXUtnFEMI", "wJalrXUtnFEMI"),
            ("docker login -u ci -p Hunter2x registry.example", "Hunter2x"),
            ("deploy --secret-value Sv8x2q --dry-run", "Sv8x2q"),
            ("notify --webhook-secret-value Wh3k9z", "Wh3k9z"),
            ("--token-value Tk5v1m", "Tk5v1m"),
            ("psql --db-password-file pw.txt", "pw.txt"),
            ("export SECRET_VALUE=Sv8x2q", "Sv8x2q"),
            ("vault hvs.AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnO"),
            ("token ghp_AbCdEfGhIjKlMnOp", "AbCdEfGhIjKlMnOp"),
        ];
        for (text, secret) in cases {
            let scrubbed = scrub(text);
            assert!(!scrubbed.contains(secret), "{text:?} → {scrubbed:?}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "cargo test --release -- parser::tests (3 passed in 1.25s)",
            "build 1234567890123 took 20261128120455 ms",
            "git log --author bob --user-agent x",
            "span ended at 1796661935753155012 ns",
            "tokenizer: bert, author: bob, passive: yes",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    /// A rule's trigger must hold for every text its regex matches: a trigger that misses one
    /// leaves a secret in the record. And the IP rules' triggers must not hold for versions,
    /// decimals and `word:` text, or nearly every run compiles their regexes.
    #[test]
    fn every_rule_is_tried_on_every_text_it_matches() {
        let texts = [
            "connect 10.1.2.3:5432",
            "peer 255.255.255.255 and 0.0.0.0",
            "ping 192.168.001.1.",
            "host fe80::1ff:fe23:4567:890a up",
            "ip 2001:db8:85a3:0:0:8a2e:370:7334",
            "loopback ::1 and 1::",
            "mail bob.smith@example.com now",
            "token=ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "curl -u admin:pw https://h",
        ];
        for rule in &RULES {
            for text in texts {
                if rule.regex.is_match(text.as_bytes()) {
                    let lowercase = text.to_ascii_lowercase();
                    assert!((rule.could_match)(lowercase.as_bytes()), "{text:?}");
                }
            }
        }
        let ipv4 = &RULES[RULES.len() - 2];
        let ipv6 = &RULES[RULES.len() - 1];
        for word in [
            "0.01",
            "python3.11",
            "v1.2.3",
            "error: file: x",
            "src/a.rs:10:5:",
        ] {
            assert!(!(ipv4.could_match)(word.as_bytes()), "{word}");
            assert!(!(ipv6.could_match)(word.as_bytes()), "{word}");
        }
    }
}

/// Any text and any arguments are scrubbed without a panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_is_scrubbed(input in any::<String>(), words in prop::collection::vec(any::<String>(), 0..6)) {
            super::scrub(&input);
            super::scrub_args(&words);
        }
    }
}
