//! The start of a period as people write it: an age (`7d`, the last seven days) or a date
//! (`2026-11-01`, or an RFC 3339 time), for `--since` and the team page's `since=`.
//!
//! May import: `duration`, `timestamp`, `message`.

use std::time::SystemTime;

use crate::duration::{parse_duration, DurationError};

/// A since that is neither an age nor a date.
#[derive(Debug, thiserror::Error)]
pub enum InvalidSince {
    #[error("expected a duration (7d) or a date (2026-11-01), found '{0}'")]
    Neither(String),
    #[error(transparent)]
    TooLong(DurationError),
}

/// `7d` means the last seven days; `2026-11-01` or an RFC 3339 time means since then.
pub fn parse_since(text: &str) -> Result<SystemTime, InvalidSince> {
    match parse_duration(text) {
        Ok(age) => return Ok(crate::timestamp::before(SystemTime::now(), age)),
        Err(too_long @ DurationError::TooLong(_)) => return Err(InvalidSince::TooLong(too_long)),
        Err(DurationError::Invalid(_)) => {}
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    humantime::parse_rfc3339_weak(&full)
        .or_else(|_| humantime::parse_rfc3339(&full))
        .map_err(|_| InvalidSince::Neither(crate::message::shortened(text)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn since_takes_an_age_a_date_or_a_time() {
        let age = SystemTime::now()
            .duration_since(parse_since("7d").unwrap())
            .unwrap();
        assert!(
            // The wall clock may step a little between the two readings.
            age > Duration::from_secs(7 * 86400 - 1) && age < Duration::from_secs(7 * 86400 + 60),
            "{age:?}"
        );
        assert_eq!(
            parse_since("2026-11-01").unwrap(),
            humantime::parse_rfc3339("2026-11-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_since("2026-11-01T12:30:00Z").unwrap(),
            humantime::parse_rfc3339("2026-11-01T12:30:00Z").unwrap()
        );
        assert!(parse_since("yesterday").is_err());
    }
}

/// Any text is taken or refused; what is taken is a time the stores' columns can hold.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn since_takes_any_text(input in crate::test_inputs::typed_text()) {
            if let Ok(start) = super::parse_since(&input) {
                crate::timestamp::millis(start);
                crate::timestamp::seconds(start);
            }
        }
    }
}
