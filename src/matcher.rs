//! Compiles the user's patterns once and decides, line by line, whether a line is a match.
//!
//! Lines are bytes, not strings: build logs contain invalid UTF-8 and it must still be matched
//! and passed through. [`Matcher::may_match_any`] lets the reader test a whole buffer of complete
//! lines with one regex search (the common case of a log that never matches costs a memchr-speed
//! scan instead of one search per line), which is how throughput stays close to `grep`'s.
//!
//! A pattern sees the text a reader sees: tools colour their output in CI (vitest, cargo with
//! `CARGO_TERM_COLOR=always`), and `^error` must match `\x1b[31merror` as the terminal shows
//! it. The escape codes are removed only from lines that hold one, so plain logs cost nothing.
//!
//! May import: `config` and the leaves.

use std::borrow::Cow;

use regex::bytes::{Regex, RegexBuilder};

use crate::config::PatternSettings;

/// Which pattern a line matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The main PATTERN (or, with `-v`, a line that does not match it).
    Pattern,
    /// `--success-pattern`: ends the run with exit code 0.
    Success,
    /// `--error-pattern`: ends the run with exit code 1.
    Error,
}

/// A pattern that cannot be watched for; `Display` is the one line shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error(
        "invalid regular expression '{}' ({option}): {reason}",
        crate::message::shortened(pattern)
    )]
    Invalid {
        option: &'static str,
        pattern: String,
        reason: String,
    },
    /// A pattern that matches the empty string anywhere matches every line, which is never
    /// what was meant (`''`, `'ERROR|'`, `'x*'`).
    #[error(
        "pattern '{}' ({option}) matches every line, because it matches the empty string{hint}",
        crate::message::shortened(pattern)
    )]
    MatchesEveryLine {
        option: &'static str,
        pattern: String,
        hint: &'static str,
    },
}

/// The compiled patterns of one run.
#[derive(Debug)]
pub struct Matcher {
    pattern: Option<Regex>,
    invert: bool,
    success: Option<Regex>,
    error: Option<Regex>,
    excludes: Vec<Regex>,
    /// Whether a search over many lines at once finds every line that a per-line search finds.
    buffer_search_is_sound: bool,
}

impl Matcher {
    pub fn new(settings: &PatternSettings) -> Result<Matcher, PatternError> {
        let ignore_case = settings.ignore_case;
        let mut buffer_search_is_sound = !settings.invert;
        let mut compile = |option: &'static str, source: &str| -> Result<Regex, PatternError> {
            let (regex, anchored_to_haystack) = compile(option, source, ignore_case)?;
            buffer_search_is_sound &= !anchored_to_haystack;
            Ok(regex)
        };
        let pattern = match &settings.pattern {
            Some(p) => {
                let mut source = p.clone();
                if settings.whole_word {
                    source = format!(r"\b(?:{source})\b");
                }
                if settings.whole_line {
                    source = format!("^(?:{source})$");
                }
                // Validate the user's text alone first, so the error quotes what they typed.
                let alone = compile("PATTERN", p)?;
                let watched = compile("PATTERN", &source)?;
                // With -x, a pattern that matches the empty string matches empty lines only.
                let decisive = if settings.whole_line {
                    &watched
                } else {
                    &alone
                };
                refuse_every_line("PATTERN", p, decisive)?;
                Some(watched)
            }
            None => None,
        };
        let mut compile_every = |option: &'static str, source: &str| {
            let regex = compile(option, source)?;
            refuse_every_line(option, source, &regex)?;
            Ok::<_, PatternError>(regex)
        };
        let success = settings
            .success
            .as_deref()
            .map(|p| compile_every("--success-pattern", p))
            .transpose()?;
        let error = settings
            .error
            .as_deref()
            .map(|p| compile_every("--error-pattern", p))
            .transpose()?;
        let excludes = settings
            .excludes
            .iter()
            .map(|p| compile_every("--exclude", p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Matcher {
            pattern,
            invert: settings.invert,
            success,
            error,
            excludes,
            buffer_search_is_sound,
        })
    }

    /// True when there is at least one pattern to watch for.
    pub fn is_active(&self) -> bool {
        self.pattern.is_some() || self.success.is_some() || self.error.is_some()
    }

    /// False only when no line among `lines` (complete lines, newlines included) can match.
    pub fn may_match_any(&self, lines: &[u8]) -> bool {
        if !self.buffer_search_is_sound {
            return self.is_active();
        }
        let lines = visible(lines);
        [&self.pattern, &self.success, &self.error]
            .into_iter()
            .flatten()
            .any(|regex| regex.is_match(&lines))
    }

    /// Classifies one line (without its line terminator). The error pattern wins over the
    /// success pattern, which wins over PATTERN, because a line that says both must not pass.
    pub fn classify(&self, line: &[u8]) -> Option<MatchKind> {
        let line = &*visible(line);
        if !self.is_active() || self.excludes.iter().any(|regex| regex.is_match(line)) {
            return None;
        }
        if self
            .error
            .as_ref()
            .is_some_and(|regex| regex.is_match(line))
        {
            return Some(MatchKind::Error);
        }
        if self
            .success
            .as_ref()
            .is_some_and(|regex| regex.is_match(line))
        {
            return Some(MatchKind::Success);
        }
        match &self.pattern {
            Some(regex) if regex.is_match(line) != self.invert => Some(MatchKind::Pattern),
            _ => None,
        }
    }
}

/// The text without its ANSI escape codes (colours, cursor moves), as a terminal shows it;
/// borrowed when there are none.
pub fn visible(text: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(0x1b, text).is_none() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(anstream::adapter::strip_bytes(text).into_vec())
}

/// Compiles in multi-line CRLF mode, so that `^` and `$` mean the same in a buffer of lines as
/// in one line, and reports whether the pattern uses `\A` or `\z`, which do not.
fn compile(
    option: &'static str,
    source: &str,
    ignore_case: bool,
) -> Result<(Regex, bool), PatternError> {
    let error = |reason: String| PatternError::Invalid {
        option,
        pattern: source.to_string(),
        reason,
    };
    let regex = RegexBuilder::new(source)
        .case_insensitive(ignore_case)
        .multi_line(true)
        .crlf(true)
        .build()
        .map_err(|e| error(one_line_reason(&e)))?;
    let anchored = regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .multi_line(true)
        .crlf(true)
        .utf8(false)
        .build()
        .parse(source)
        .map(|hir| hir.properties().look_set().contains_anchor_haystack())
        .unwrap_or(true);
    Ok((regex, anchored))
}

/// Refuses a regex that matches every line: it matches the empty string both in an empty
/// line and at the start of a line of text it has no reason to match. (`^$` matches the first
/// only, and watches for empty lines.)
fn refuse_every_line(
    option: &'static str,
    source: &str,
    regex: &Regex,
) -> Result<(), PatternError> {
    if !(regex.is_match(b"") && regex.is_match(b"\x01")) {
        return Ok(());
    }
    Err(PatternError::MatchesEveryLine {
        option,
        pattern: source.to_string(),
        hint: if option == "PATTERN" {
            " (an empty pattern, an empty alternative as in 'ERROR|', or a '*' that repeats nothing); \
             -x '' watches for empty lines"
        } else {
            " (an empty pattern, an empty alternative as in 'ERROR|', or a '*' that repeats nothing)"
        },
    })
}

/// The regex crate's syntax errors draw a caret diagram over several lines; keep the reason.
fn one_line_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().last().unwrap_or("invalid"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(f: impl FnOnce(&mut PatternSettings)) -> Matcher {
        let mut settings = PatternSettings {
            max_count: 1,
            ..PatternSettings::default()
        };
        f(&mut settings);
        Matcher::new(&settings).unwrap()
    }

    #[test]
    fn patterns_see_the_text_without_its_colours() {
        let m = matcher(|s| s.pattern = Some(r"^error(\[E\d+\])?: ".into()));
        let coloured = b"\x1b[0m\x1b[1m\x1b[38;5;9merror[E0308]\x1b[0m\x1b[1m: mismatched types";
        assert_eq!(m.classify(coloured), Some(MatchKind::Pattern));
        assert!(m.may_match_any(b"ok\n\x1b[31merror\x1b[0m: x\n"));
        assert!(!m.may_match_any(b"ok\n\x1b[31mwarning\x1b[0m: x\n"));
        assert_eq!(&*visible(b"plain"), b"plain");
    }

    #[test]
    fn flags_change_what_matches() {
        let m = matcher(|s| {
            s.pattern = Some("error".into());
            s.ignore_case = true;
            s.whole_word = true;
        });
        assert_eq!(m.classify(b"ERROR: x"), Some(MatchKind::Pattern));
        assert_eq!(m.classify(b"errors"), None);
        let m = matcher(|s| {
            s.pattern = Some("ok".into());
            s.whole_line = true;
        });
        assert_eq!(m.classify(b"ok"), Some(MatchKind::Pattern));
        assert_eq!(m.classify(b"ok!"), None);
        let m = matcher(|s| {
            s.pattern = Some("ok".into());
            s.invert = true;
        });
        assert_eq!(m.classify(b"all ok"), None);
        assert_eq!(m.classify(b"failed"), Some(MatchKind::Pattern));
    }

    #[test]
    fn excludes_and_priorities() {
        let m = matcher(|s| {
            s.pattern = Some("x".into());
            s.success = Some("done".into());
            s.error = Some("fail".into());
            s.excludes = vec!["ignore".into()];
        });
        assert_eq!(m.classify(b"x ignore"), None);
        assert_eq!(m.classify(b"x done fail"), Some(MatchKind::Error));
        assert_eq!(m.classify(b"x done"), Some(MatchKind::Success));
    }

    #[test]
    fn buffer_search_never_misses_a_line_match() {
        let m = matcher(|s| s.pattern = Some("^b$".into()));
        assert!(m.may_match_any(b"a\r\nb\r\nc\n"));
        assert!(!m.may_match_any(b"a\nbb\n"));
        let m = matcher(|s| s.pattern = Some(r"\Ab".into()));
        assert!(
            m.may_match_any(b"a\nb\n"),
            "haystack anchors disable the buffer search"
        );
    }

    #[test]
    fn a_pattern_that_matches_every_line_is_refused() {
        for (pattern, whole_line, refused) in [
            ("", false, true),
            ("ERROR|", false, true),
            ("x*", false, true),
            ("^", false, true),
            ("(?i)", false, true),
            ("", true, false),
            ("^$", false, false),
            ("ERROR", false, false),
            (".*", true, true),
        ] {
            let settings = PatternSettings {
                pattern: Some(pattern.into()),
                whole_line,
                max_count: 1,
                ..PatternSettings::default()
            };
            let result = Matcher::new(&settings);
            assert_eq!(result.is_err(), refused, "{pattern:?} -x {whole_line}");
            if let Err(error) = result {
                let message = error.to_string();
                assert_eq!(message.lines().count(), 1);
                assert!(message.contains("matches every line"), "{message}");
            }
        }
        let settings = PatternSettings {
            error: Some("FATAL|".into()),
            ..PatternSettings::default()
        };
        let message = Matcher::new(&settings).unwrap_err().to_string();
        assert!(message.contains("'FATAL|' (--error-pattern)"), "{message}");
    }

    #[test]
    fn invalid_regex_names_the_pattern_on_one_line() {
        let settings = PatternSettings {
            error: Some("(oops".into()),
            ..PatternSettings::default()
        };
        let message = Matcher::new(&settings).unwrap_err().to_string();
        assert_eq!(message.lines().count(), 1);
        assert!(
            message.contains("'(oops'") && message.contains("--error-pattern"),
            "{message}"
        );
    }
}
