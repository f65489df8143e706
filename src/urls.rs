//! URLs as messages and attributes may show them: without `user:password@`, and with the
//! query string (`?token=…`) redacted. A leaf: it knows nothing else of earlyexit, so the
//! settings, CI detection and both transports can all use it.
//!
//! May import: nothing (a leaf).

/// Where a URL's `user:password@` stands, `@` included, if it has one.
fn userinfo(url: &str) -> Option<std::ops::Range<usize>> {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let at = url[authority_start..authority_end].rfind('@')?;
    Some(authority_start..authority_start + at + 1)
}

/// The URL without its `user:password@`: for attributes, which keep where a URL points and
/// never how to log in there.
pub fn without_userinfo(url: &str) -> String {
    match userinfo(url) {
        Some(range) => format!("{}{}", &url[..range.start], &url[range.end..]),
        None => url.to_string(),
    }
}

/// Whether the URL carries a password (`user:password@`).
pub fn has_password(url: &str) -> bool {
    userinfo(url).is_some_and(|range| url[range].contains(':'))
}

/// The URL with any `user:password@` and any query string replaced by `[REDACTED]`: both
/// are where credentials hide in an endpoint (`?token=…`).
pub fn redact_url(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((base, _)) => (base, "?[REDACTED]"),
        None => (url, ""),
    };
    let shown = match userinfo(url) {
        Some(range) => format!("{}[REDACTED]@{}", &url[..range.start], &url[range.end..]),
        None => url.to_string(),
    };
    shown + query
}

/// `text` with every URL in it (`scheme://` up to a space or quote) redacted as by
/// [`redact_url`]: for error texts of libraries that quote the URL they were given.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(separator) = rest.find("://") {
        let scheme_start = rest[..separator]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = rest[separator..]
            .find(|c: char| c.is_whitespace() || "'\"<>`".contains(c))
            .map_or(rest.len(), |i| separator + i);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&redact_url(&rest[scheme_start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Text with its `%XX` escapes decoded (as in `OTEL_EXPORTER_OTLP_HEADERS` and query strings);
/// a `%` not followed by two hex digits stays as it is.
pub fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_are_never_shown() {
        assert_eq!(
            redact_url("https://u:p@host/api/v1/events"),
            "https://[REDACTED]@host/api/v1/events"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/api/v1/events"),
            "http://127.0.0.1:9/api/v1/events"
        );
        assert_eq!(redact_url("http://host/a@b"), "http://host/a@b");
        assert_eq!(
            redact_url("https://u:p@host/x?token=abc&team=1"),
            "https://[REDACTED]@host/x?[REDACTED]"
        );
        assert_eq!(redact_url("https://h?k=v"), "https://h?[REDACTED]");
        assert!(has_password("postgres://team:p@db/runs"));
        assert!(!has_password("postgres://team@db/runs"));
        assert!(!has_password("postgres://db/runs?mail=a:b@c"));
        assert_eq!(
            without_userinfo("https://ci:t0k@git.example/team/app.git"),
            "https://git.example/team/app.git"
        );
        assert_eq!(
            without_userinfo("https://git.example?mail=a@b"),
            "https://git.example?mail=a@b",
            "an @ past the host is not a login"
        );
    }

    #[test]
    fn urls_inside_a_text_are_redacted() {
        assert_eq!(
            redact_urls_in("invalid endpoint 'http://u:p@[::1/x?token=abc': invalid authority"),
            "invalid endpoint 'http://[REDACTED]@[::1/x?[REDACTED]': invalid authority"
        );
        assert_eq!(redact_urls_in("no url here"), "no url here");
        assert_eq!(
            redact_urls_in("é𐧤http://u:p@h?k=v"),
            "é𐧤http://[REDACTED]@h?[REDACTED]",
            "found by the property test: a wide character before the scheme"
        );
        assert_eq!(redact_urls_in("𐧤://x"), "𐧤://x");
    }
}

/// Any endpoint is shown without its secrets, and taken or refused without a panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::{redact_url, redact_urls_in};
    use crate::config::telemetry::keys::key;
    use crate::config::TelemetrySettings;
    use crate::delivery::http::events_url;

    fn endpoint_is_shown_without_its_secrets(url: &str) -> Result<(), TestCaseError> {
        events_url(url);
        let shown = redact_url(url);
        if url.contains('?') {
            prop_assert!(shown.ends_with("?[REDACTED]"));
        }
        redact_urls_in(url);
        let mut settings = TelemetrySettings::defaults(std::path::Path::new("/home/u"));
        if (key("telemetry.otlp.endpoint").expect("a key").apply)(&mut settings, url).is_ok() {
            settings.otlp.traces_url();
        }
        Ok(())
    }

    /// The case proptest once found: a scheme of a character outside the BMP.
    #[test]
    fn a_scheme_outside_the_basic_plane() {
        endpoint_is_shown_without_its_secrets("\u{109d2}://").unwrap();
    }

    proptest! {
        #[test]
        fn any_endpoint_is_shown_without_its_secrets(
            url in prop_oneof![any::<String>(), "https?://[a-z:@\\[\\]%.0-9]{0,30}(/[a-z/]{0,10})?(\\?[a-z=&]{0,10})?"],
        ) {
            endpoint_is_shown_without_its_secrets(&url)?;
        }
    }
}
