//! The values a run received from elsewhere may hold (a request to the team server, a file
//! `telemetry import` reads): every store orders and groups runs by the text of their start
//! time and sums their durations, so a start of `yesterday` or `9999-12-31` or a run time of
//! `-5` would sit in every period or subtract from every total.
//!
//! The rule, as the README states it: the start is an RFC 3339 time in UTC (`Z` or `+00:00`),
//! kept with milliseconds (`2026-12-01T10:00:00Z` as `2026-12-01T10:00:00.000Z`), no later
//! than a day after the receiver's clock; every duration and offset is a number of seconds from
//! 0 to a year; every count is 0 or more. A run that breaks it is refused with the field named.

use std::time::{Duration, SystemTime};

use super::record::RunRecord;

/// How far ahead of the receiver's clock a run may say it started: clocks differ, by less.
const CLOCK_AHEAD: Duration = Duration::from_secs(86_400);
/// The longest duration a run may report, in seconds (a year).
const LONGEST: f64 = 366.0 * 86_400.0;

/// A value that breaks the rule; `Display` names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadValue {
    #[error("timestamp {0:?} is not an RFC 3339 time in UTC (2026-12-01T10:00:00Z)")]
    NotATime(String),
    #[error("timestamp {0:?} is more than a day ahead of this clock")]
    InTheFuture(String),
    #[error("{field} {value} is not a number of seconds from 0 to a year")]
    Duration { field: &'static str, value: f64 },
    #[error("{field} {value} is negative")]
    Negative { field: &'static str, value: i64 },
}

fn seconds(field: &'static str, value: f64) -> Result<(), BadValue> {
    match value.is_finite() && (0.0..=LONGEST).contains(&value) {
        true => Ok(()),
        false => Err(BadValue::Duration { field, value }),
    }
}

fn count(field: &'static str, value: i64) -> Result<(), BadValue> {
    match value >= 0 {
        true => Ok(()),
        false => Err(BadValue::Negative { field, value }),
    }
}

impl RunRecord {
    /// The run with its start in the stores' form, if its values keep the rule.
    pub fn checked(mut self, now: SystemTime) -> Result<RunRecord, BadValue> {
        let execution = &mut self.execution;
        let shown = || execution.timestamp.chars().take(40).collect::<String>();
        let started = humantime::parse_rfc3339(&execution.timestamp)
            .map_err(|_| BadValue::NotATime(shown()))?;
        if started > now + CLOCK_AHEAD {
            return Err(BadValue::InTheFuture(shown()));
        }
        execution.timestamp = crate::timestamp::millis(started);
        seconds("total_runtime", execution.total_runtime)?;
        for (field, value) in [
            ("time_to_first_output", execution.time_to_first_output),
            ("time_to_first_match", execution.time_to_first_match),
        ] {
            value.map_or(Ok(()), |value| seconds(field, value))?;
        }
        count("match_count", execution.match_count)?;
        count("lines_processed", execution.lines_processed)?;
        count("bytes_processed", execution.bytes_processed)?;
        for matched in &self.matches {
            seconds("timestamp_offset", matched.timestamp_offset)?;
            count("line_number", matched.line_number)?;
            count("match_number", matched.match_number)?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::record::{ExecutionRecord, MatchRecord};

    fn run(timestamp: &str, total_runtime: f64) -> RunRecord {
        RunRecord {
            execution: ExecutionRecord {
                execution_id: "0b-1".into(),
                timestamp: timestamp.into(),
                total_runtime,
                ..ExecutionRecord::default()
            },
            matches: vec![MatchRecord {
                execution_id: "0b-1".into(),
                match_number: 1,
                timestamp_offset: 0.5,
                ..MatchRecord::default()
            }],
        }
    }

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2026-12-08T00:00:00Z").unwrap()
    }

    #[test]
    fn a_start_is_kept_in_utc_with_milliseconds() {
        let checked = run("2026-12-01T10:00:00+00:00", 1.0)
            .checked(now())
            .unwrap();
        assert_eq!(checked.execution.timestamp, "2026-12-01T10:00:00.000Z");
        let checked = run("2026-12-08T23:59:59.5Z", 1.0).checked(now()).unwrap();
        assert_eq!(checked.execution.timestamp, "2026-12-08T23:59:59.500Z");
    }

    #[test]
    fn each_bad_value_is_refused_with_its_field() {
        let refused = |run: RunRecord| run.checked(now()).unwrap_err().to_string();
        assert_eq!(
            refused(run("yesterday", 1.0)),
            "timestamp \"yesterday\" is not an RFC 3339 time in UTC (2026-12-01T10:00:00Z)"
        );
        assert!(refused(run("2026-12-01T10:00:00+02:00", 1.0)).contains("not an RFC 3339 time"));
        assert_eq!(
            refused(run("9999-12-31T00:00:00Z", 1.0)),
            "timestamp \"9999-12-31T00:00:00Z\" is more than a day ahead of this clock"
        );
        assert_eq!(
            refused(run("2026-12-01T00:00:00Z", -5.0)),
            "total_runtime -5 is not a number of seconds from 0 to a year"
        );
        assert!(refused(run("2026-12-01T00:00:00Z", f64::NAN)).starts_with("total_runtime NaN"));
        let mut bad_match = run("2026-12-01T00:00:00Z", 1.0);
        bad_match.matches[0].timestamp_offset = -1.0;
        assert!(refused(bad_match).starts_with("timestamp_offset -1"));
        let mut bad_count = run("2026-12-01T00:00:00Z", 1.0);
        bad_count.execution.match_count = -3;
        assert_eq!(refused(bad_count), "match_count -3 is negative");
    }
}
