//! Property tests for "no input reaches a panic": every text that a flag, the environment, a
//! config file, an import file or a CI system hands earlyexit is parsed without panicking, and
//! what parses stays inside the ranges that the rest of the program relies on.
//!
//! `PROPTEST_CASES` sets how many inputs each property tries (256 by default; CI runs more).

use std::time::{Instant, SystemTime};

use proptest::prelude::*;

use crate::config::telemetry::keys::{key, KEYS};
use crate::config::TelemetrySettings;
use crate::duration::{parse_duration, MAX_DURATION};

/// Texts that look like what users type, and arbitrary ones.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,25}(\\.[0-9]{0,12})?(ms|s|m|h|d|x)?",
        "-?[0-9e.+-]{0,30}",
        "(https?|ftp)://[^ ]{0,40}",
    ]
}

/// Arbitrary JSON, a few levels deep, as an import file or a request body holds it.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("data".to_string()),
                    Just("execution_id".to_string()),
                    Just("timestamp".to_string()),
                    Just("match_number".to_string()),
                    any::<String>(),
                ],
                inner,
                0..6
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn durations_parse_into_what_a_deadline_can_hold(input in text()) {
        if let Ok(duration) = parse_duration(&input) {
            prop_assert!(duration <= MAX_DURATION);
            prop_assert!(Instant::now().checked_add(duration).is_some());
            let start = crate::timestamp::before(SystemTime::now(), duration);
            crate::timestamp::millis(start);
        }
    }

    #[test]
    fn every_setting_takes_any_text(input in text(), index in 0..KEYS.len()) {
        let mut settings = TelemetrySettings::defaults(std::path::Path::new("/home/u"));
        let chosen = &KEYS[index];
        if (chosen.apply)(&mut settings, &input).is_ok() {
            (chosen.show)(&settings);
            settings.describe();
            settings.http.timeout.checked_add(MAX_DURATION).expect("a timeout is bounded");
        }
        prop_assert!(key(chosen.name).is_some());
    }

    #[test]
    fn since_takes_any_text(input in text()) {
        if let Ok(start) = crate::commands::parse_since(&input) {
            crate::timestamp::millis(start);
            crate::timestamp::seconds(start);
        }
    }

    #[test]
    fn any_envelopes_are_read_or_refused(events in prop::collection::vec(json(), 0..8)) {
        let read = crate::recording::record::RunRecord::from_envelopes(&events);
        prop_assert!(read.received <= events.len());
        for run in read.runs {
            run.envelopes();
        }
    }

    #[test]
    fn any_trace_context_is_taken_or_ignored(
        parent in prop_oneof![any::<String>(), "00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"],
        state in any::<String>(),
    ) {
        let env = |name: &str| match name {
            "TRACEPARENT" => Some(parent.clone()),
            "TRACESTATE" => Some(state.clone()),
            _ => None,
        };
        crate::recording::span::parent_context(&env, true);
    }

    #[test]
    fn any_endpoint_is_shown_without_its_secrets(
        url in prop_oneof![any::<String>(), "https?://[a-z:@\\[\\]%.0-9]{0,30}(/[a-z/]{0,10})?(\\?[a-z=&]{0,10})?"],
    ) {
        use crate::delivery::http::events_url;
        use crate::urls::{redact_url, redact_urls_in};
        events_url(&url);
        let shown = redact_url(&url);
        if url.contains('?') {
            prop_assert!(shown.ends_with("?[REDACTED]"));
        }
        redact_urls_in(&url);
        let mut settings = TelemetrySettings::defaults(std::path::Path::new("/home/u"));
        if (key("telemetry.otlp.endpoint").expect("a key").apply)(&mut settings, &url).is_ok() {
            settings.otlp.traces_url();
        }
    }

    #[test]
    fn any_text_is_scrubbed(input in any::<String>(), words in prop::collection::vec(any::<String>(), 0..6)) {
        crate::recording::privacy::scrub(&input);
        crate::recording::privacy::scrub_args(&words);
    }
}
