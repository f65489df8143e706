//! Compiles the user's patterns once and decides, line by line, whether a line is a match.
//!
//! Lines are bytes, not strings: build logs contain invalid UTF-8 and it must still be matched
//! and passed through. [`Matcher::may_match_any`] lets the reader test a whole buffer of complete
//! lines with one regex search (the common case of a log that never matches costs a memchr-speed
//! scan instead of one search per line), which is how throughput stays close to `grep`'s.

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

/// A pattern that is not a valid regular expression.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid regular expression '{}' ({option}): {reason}",
    crate::message::shortened(pattern)
)]
pub struct PatternError {
    pub option: &'static str,
    pub pattern: String,
    pub reason: String,
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
                compile("PATTERN", p)?;
                Some(compile("PATTERN", &source)?)
            }
            None => None,
        };
        let success = settings
            .success
            .as_deref()
            .map(|p| compile("--success-pattern", p))
            .transpose()?;
        let error = settings
            .error
            .as_deref()
            .map(|p| compile("--error-pattern", p))
            .transpose()?;
        let excludes = settings
            .excludes
            .iter()
            .map(|p| compile("--exclude", p))
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
        [&self.pattern, &self.success, &self.error]
            .into_iter()
            .flatten()
            .any(|regex| regex.is_match(lines))
    }

    /// Classifies one line (without its line terminator). The error pattern wins over the
    /// success pattern, which wins over PATTERN, because a line that says both must not pass.
    pub fn classify(&self, line: &[u8]) -> Option<MatchKind> {
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

/// Compiles in multi-line CRLF mode, so that `^` and `$` mean the same in a buffer of lines as
/// in one line, and reports whether the pattern uses `\A` or `\z`, which do not.
fn compile(
    option: &'static str,
    source: &str,
    ignore_case: bool,
) -> Result<(Regex, bool), PatternError> {
    let error = |reason: String| PatternError {
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
