//! Wall-clock times as RFC 3339 text, the form every store, file and page keeps.
//!
//! humantime panics on a time before 1970 and fails on one after 9999, and either can come
//! from input (`--since 99999d`, `retention_days: 36500`) or from a machine whose clock is
//! wrong. Every time is therefore clamped into that range here, and nowhere else formats one.
//!
//! May import: nothing (a leaf).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second humantime can format: 9999-12-31T23:59:59Z.
const LATEST: Duration = Duration::from_secs(253_402_300_800 - 1);

/// `time`, moved into the range humantime formats.
fn clamped(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Err(_) => UNIX_EPOCH,
        Ok(since) if since > LATEST => UNIX_EPOCH + LATEST,
        Ok(_) => time,
    }
}

/// `2026-11-01T12:30:00.250Z`
pub fn millis(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(clamped(time)).to_string()
}

/// `2026-11-01T12:30:00.250000Z`
pub fn micros(time: SystemTime) -> String {
    humantime::format_rfc3339_micros(clamped(time)).to_string()
}

/// `2026-11-01T12:30:00Z`
pub fn seconds(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(clamped(time)).to_string()
}

/// The time `age` before `now`, or 1970 when that is earlier: the start of a period such as
/// "the last 90 days", which no run can predate.
pub fn before(now: SystemTime, age: Duration) -> SystemTime {
    now.checked_sub(age).map_or(UNIX_EPOCH, clamped)
}

/// The UTC day (`2026-11-01`) of an RFC 3339 time in UTC, as stored.
pub fn day(timestamp: &str) -> &str {
    timestamp.get(..10).unwrap_or(timestamp)
}

const DAY: Duration = Duration::from_secs(86_400);

/// The start of the UTC day `time` falls in.
pub fn start_of_day(time: SystemTime) -> SystemTime {
    let since = clamped(time).duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + DAY * (since.as_secs() / DAY.as_secs()) as u32
}

/// The first start of a UTC day at or after `time`.
pub fn next_start_of_day(time: SystemTime) -> SystemTime {
    let start = start_of_day(time);
    if start == clamped(time) {
        start
    } else {
        start + DAY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_formats() {
        let past = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(millis(past), "1970-01-01T00:00:00.000Z");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(seconds(far), "9999-12-31T23:59:59Z");
        let now = SystemTime::now();
        assert_eq!(before(now, Duration::from_secs(u64::MAX)), UNIX_EPOCH);
        assert_eq!(
            before(now, Duration::from_secs(60)),
            now - Duration::from_secs(60)
        );
    }
}
