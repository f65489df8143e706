//! Human durations for the timeout options: `30`, `30s`, `1.5m`, `2h`, `1d`, `250ms`.
//!
//! A bare number is seconds, because that is what `timeout(1)` users type. Zero is a valid
//! duration; callers decide whether it means "off".
//!
//! May import: nothing (a leaf).

use std::time::Duration;

/// The longest duration accepted anywhere: 100 years. Every deadline is an `Instant` plus a
/// duration and every period a `SystemTime` minus one; past this, the sum overflows or the
/// time falls before 1970, where time formatting panics.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// A duration that could not be parsed; the message names the offending text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("invalid duration '{0}': expected a number with an optional unit ms, s, m, h or d (e.g. 30s, 1.5m)")]
    Invalid(String),
    #[error("invalid duration '{0}': at most 36500d (100 years)")]
    TooLong(String),
}

/// Parses a duration such as `1.5m`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_string());
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let seconds_per_unit = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(invalid()),
    };
    if number.is_empty() || number.starts_with('.') && number.len() == 1 {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let duration = Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| DurationError::TooLong(text.to_string()))?;
    if duration > MAX_DURATION {
        return Err(DurationError::TooLong(text.to_string()));
    }
    Ok(duration)
}

/// Formats a duration the way a user would type it back (`90s` → `1.5m`).
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    let (value, unit) = if secs >= 86400.0 && secs % 3600.0 == 0.0 {
        (secs / 86400.0, "d")
    } else if secs >= 3600.0 && secs % 60.0 == 0.0 {
        (secs / 3600.0, "h")
    } else if secs >= 60.0 && secs.fract() == 0.0 {
        (secs / 60.0, "m")
    } else if secs < 1.0 && secs > 0.0 {
        (secs * 1000.0, "ms")
    } else {
        (secs, "s")
    };
    let rounded = (value * 1000.0).round() / 1000.0;
    format!("{rounded}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "s", "1x", "-1", "1.2.3", "abc", ".", "1 m", "inf", "nan",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn refuses_what_no_deadline_can_hold() {
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
        for long in ["36501d", "99999999999d", &"9".repeat(400)] {
            assert_eq!(
                parse_duration(long),
                Err(DurationError::TooLong(long.to_string())),
                "{long}"
            );
        }
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1.5m");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }
}

/// No text reaches a panic, and what parses fits a deadline and a start time.
#[cfg(test)]
mod properties {
    use std::time::{Instant, SystemTime};

    use proptest::prelude::*;

    use super::{parse_duration, MAX_DURATION};

    proptest! {
        #[test]
        fn durations_parse_into_what_a_deadline_can_hold(input in crate::test_inputs::typed_text()) {
            if let Ok(duration) = parse_duration(&input) {
                prop_assert!(duration <= MAX_DURATION);
                prop_assert!(Instant::now().checked_add(duration).is_some());
                let start = crate::timestamp::before(SystemTime::now(), duration);
                crate::timestamp::millis(start);
            }
        }
    }
}
