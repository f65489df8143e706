//! Runs read from the HTTP API's event envelopes (a request's `events`, or the lines of
//! `telemetry export`), each match with its execution, and what could not be used.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::record::{ExecutionRecord, MatchRecord, RunRecord};

/// One envelope as it is read: its type, and its data as the text it came as. A request of
/// 400,000 tiny envelopes read as JSON trees took 300 MB for its 9 MB; read this way, each is
/// two slices of the body until its data is read into a record.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

impl Envelope<'_> {
    /// Whether it has a type and its data is an object: a line of an export.
    pub fn is_whole(&self) -> bool {
        self.kind.is_some() && self.data.is_some_and(|data| data.get().starts_with('{'))
    }

    fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.map_or("null", RawValue::get))
    }
}

impl RunRecord {
    /// Runs from the HTTP API's event envelopes (a request's `events`, or the lines of
    /// `telemetry export`), each match with its execution. What cannot be used becomes a
    /// warning that names the envelope's index.
    pub fn from_envelopes(events: &[Envelope<'_>]) -> Envelopes {
        let mut read = Envelopes::default();
        let mut runs: BTreeMap<String, RunRecord> = BTreeMap::new();
        for (index, event) in events.iter().enumerate() {
            match event.kind.as_deref() {
                Some("execution") => match event.read::<ExecutionRecord>() {
                    Ok(mut execution) if !execution.execution_id.is_empty() => {
                        read.received += 1;
                        execution.settle();
                        runs.insert(
                            execution.execution_id.clone(),
                            RunRecord {
                                execution,
                                matches: Vec::new(),
                            },
                        );
                    }
                    Ok(_) => read.skip(index, "execution without execution_id".into()),
                    Err(e) => read.skip(index, format!("invalid execution: {e}")),
                },
                Some("match_event") => {}
                other => read.skip(index, format!("unknown type {other:?}")),
            }
        }
        // Matches once every run is known, each read only to be kept with its run.
        let matches = events
            .iter()
            .enumerate()
            .filter(|(_, event)| event.kind.as_deref() == Some("match_event"));
        for (index, event) in matches {
            match event.read::<MatchRecord>() {
                Ok(m) => match runs.get_mut(&m.execution_id) {
                    Some(run) => {
                        read.received += 1;
                        run.matches.push(m);
                    }
                    None => read.skip(
                        index,
                        "match_event for an execution not in this request".into(),
                    ),
                },
                Err(e) => read.skip(index, format!("invalid match_event: {e}")),
            }
        }
        read.runs = runs.into_values().collect();
        read
    }
}

/// Warnings listed of one list of envelopes; the rest are counted (a request of 400,000 bad
/// envelopes is not answered with 400,000 lines).
const LISTED_WARNINGS: usize = 100;

/// What a list of event envelopes held.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Envelopes {
    pub runs: Vec<RunRecord>,
    /// How many envelopes were used.
    pub received: usize,
    /// The first envelopes not used, and why.
    pub warnings: Vec<EnvelopeWarning>,
    /// How many were not used, those listed included.
    pub skipped: usize,
}

impl Envelopes {
    fn skip(&mut self, index: usize, problem: String) {
        if self.warnings.len() < LISTED_WARNINGS {
            self.warnings.push(EnvelopeWarning { index, problem });
        }
        self.skipped += 1;
    }

    /// Envelopes skipped beyond those listed.
    pub fn unlisted(&self) -> usize {
        self.skipped - self.warnings.len()
    }
}

/// An envelope that was not used, and why; `Display` is `event INDEX: PROBLEM`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("event {index}: {problem}")]
pub struct EnvelopeWarning {
    /// The envelope's position in the list, from 0.
    pub index: usize,
    pub problem: String,
}
