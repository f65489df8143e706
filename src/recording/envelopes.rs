//! Runs read from the HTTP API's event envelopes (a request's `events`, or the lines of
//! `telemetry export`), each match with its execution, and what could not be used.

use std::collections::BTreeMap;

use super::record::{ExecutionRecord, MatchRecord, RunRecord};

impl RunRecord {
    /// Runs from the HTTP API's event envelopes (a request's `events`, or the lines of
    /// `telemetry export`), each match with its execution. What cannot be used becomes a
    /// warning that names the envelope's index.
    pub fn from_envelopes(events: &[serde_json::Value]) -> Envelopes {
        let mut runs: BTreeMap<String, RunRecord> = BTreeMap::new();
        let mut matches = Vec::new();
        let mut warnings = Vec::new();
        let mut received = 0;
        for (index, event) in events.iter().enumerate() {
            let data = event["data"].clone();
            match event["type"].as_str() {
                Some("execution") => match serde_json::from_value::<ExecutionRecord>(data) {
                    Ok(mut execution) if !execution.execution_id.is_empty() => {
                        received += 1;
                        execution.settle();
                        runs.insert(
                            execution.execution_id.clone(),
                            RunRecord {
                                execution,
                                matches: Vec::new(),
                            },
                        );
                    }
                    Ok(_) => warnings.push(EnvelopeWarning::new(
                        index,
                        "execution without execution_id",
                    )),
                    Err(e) => warnings.push(EnvelopeWarning::new(
                        index,
                        format!("invalid execution: {e}"),
                    )),
                },
                Some("match_event") => match serde_json::from_value::<MatchRecord>(data) {
                    Ok(m) => matches.push((index, m)),
                    Err(e) => warnings.push(EnvelopeWarning::new(
                        index,
                        format!("invalid match_event: {e}"),
                    )),
                },
                other => warnings.push(EnvelopeWarning::new(
                    index,
                    format!("unknown type {other:?}"),
                )),
            }
        }
        for (index, m) in matches {
            match runs.get_mut(&m.execution_id) {
                Some(run) => {
                    received += 1;
                    run.matches.push(m);
                }
                None => warnings.push(EnvelopeWarning::new(
                    index,
                    "match_event for an execution not in this request",
                )),
            }
        }
        Envelopes {
            runs: runs.into_values().collect(),
            received,
            warnings,
        }
    }
}

/// What a list of event envelopes held.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelopes {
    pub runs: Vec<RunRecord>,
    /// How many envelopes were used.
    pub received: usize,
    pub warnings: Vec<EnvelopeWarning>,
}

/// An envelope that was not used, and why; `Display` is `event INDEX: PROBLEM`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("event {index}: {problem}")]
pub struct EnvelopeWarning {
    /// The envelope's position in the list, from 0.
    pub index: usize,
    pub problem: String,
}

impl EnvelopeWarning {
    fn new(index: usize, problem: impl Into<String>) -> EnvelopeWarning {
        EnvelopeWarning {
            index,
            problem: problem.into(),
        }
    }
}
