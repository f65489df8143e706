//! The SQLite sink's export of one run with three match events (issue 3): criterion's report,
//! then P50 and P95 over single exports, against the seed's 0.57 ms mean and 0.67 ms P95.
//!
//! Two cases: `warm`, the export alone on an open database (what the seed measured), and
//! `cold`, opening the database first, which is what each earlyexit process really does.

use std::borrow::Cow;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use earlyexit::export::SqliteSink;
use earlyexit::recording::attributes as attr;
use earlyexit::recording::privacy::Detail;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};

/// The sinks complete synchronously; polling once is enough.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the sink is synchronous"),
    }
}

/// A run like a real one: full detail, three matches.
fn run_span(number: u64) -> SpanData {
    let start = SystemTime::now();
    let events: Vec<_> = (1..=3)
        .map(|n| {
            opentelemetry::trace::Event::new(
                attr::MATCH_EVENT,
                start + Duration::from_millis(n * 10),
                vec![
                    KeyValue::new(attr::MATCH_NUMBER, n as i64),
                    KeyValue::new(attr::MATCH_OFFSET, n as f64 * 0.01),
                    KeyValue::new(attr::MATCH_STREAM, "stderr"),
                    KeyValue::new(attr::MATCH_LINE_NUMBER, 100 + n as i64),
                    KeyValue::new(attr::MATCH_KIND, "pattern"),
                    KeyValue::new(
                        attr::MATCH_LINE,
                        "error[E0308]: mismatched types in src/parser.rs:88",
                    ),
                ],
                0,
            )
        })
        .collect();
    let mut span_events = SpanEvents::default();
    span_events.events = events;
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(u128::from(number) + 1),
            SpanId::from(number + 1),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed("cargo"),
        start_time: start,
        end_time: start + Duration::from_secs(45),
        attributes: vec![
            KeyValue::new(
                attr::EXECUTION_ID,
                format!("00000000-0000-4000-8000-{number:012}"),
            ),
            KeyValue::new(
                attr::COMMAND_HASH,
                "2ed645da9d5ffc3e32d6a903b8de1d62a30ba3aa894a9f4eece016eef283fdee",
            ),
            KeyValue::new(attr::PATTERN, "error"),
            KeyValue::new(attr::EXIT_CODE, 0),
            KeyValue::new(attr::EXIT_REASON, "match"),
            KeyValue::new(attr::PROCESS_EXIT_CODE, 101),
            KeyValue::new(attr::PROCESS_EXECUTABLE_NAME, "cargo"),
            KeyValue::new(attr::MATCH_COUNT, 3),
            KeyValue::new(attr::TOTAL_RUNTIME, 45.3),
            KeyValue::new(attr::TIME_TO_FIRST_OUTPUT, 0.2),
            KeyValue::new(attr::TIME_TO_FIRST_MATCH, 12.5),
            KeyValue::new(attr::LINES_PROCESSED, 2000),
            KeyValue::new(attr::BYTES_PROCESSED, 180_000),
            KeyValue::new(attr::PROJECT_TYPE, "rust"),
            KeyValue::new(attr::COMMAND_CATEGORY, "build"),
            KeyValue::new(attr::PROCESS_WORKING_DIRECTORY, "/home/dev/project"),
        ],
        dropped_attributes_count: 0,
        events: span_events,
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("earlyexit").build(),
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |fraction: f64| {
        samples[((fraction * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
    };
    (at(0.50), at(0.95))
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("earlyexit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("telemetry.db");
    let mut number = 0u64;
    let mut next_span = || {
        number += 1;
        run_span(number)
    };

    let warm = SqliteSink::new(path.clone(), true, 90, Detail::Full);
    c.bench_function(
        "sqlite sink: export one run with 3 matches (open database)",
        |b| b.iter(|| block_on(warm.export(vec![next_span()])).unwrap()),
    );
    c.bench_function(
        "sqlite sink: open database + export one run with 3 matches",
        |b| {
            b.iter(|| {
                let cold = SqliteSink::new(path.clone(), true, 90, Detail::Full);
                block_on(cold.export(vec![next_span()])).unwrap()
            })
        },
    );

    // Each case in a loop of its own: a cold open between two warm exports would evict what
    // the warm connection keeps in cache, and a cold open may fold the log.
    let warm_samples: Vec<Duration> = (0..2000)
        .map(|_| {
            let span = next_span();
            let start = Instant::now();
            block_on(warm.export(vec![span])).unwrap();
            start.elapsed()
        })
        .collect();
    let cold_samples: Vec<Duration> = (0..2000)
        .map(|_| {
            let span = next_span();
            let start = Instant::now();
            let cold = SqliteSink::new(path.clone(), true, 90, Detail::Full);
            block_on(cold.export(vec![span])).unwrap();
            drop(cold);
            start.elapsed()
        })
        .collect();
    for (name, samples) in [
        ("warm (export only)", warm_samples),
        ("cold (open + export)", cold_samples),
    ] {
        let (p50, p95) = percentiles(samples);
        println!(
            "sqlite sink {name}: P50 {:.3} ms, P95 {:.3} ms over 2000 single exports (seed: mean 0.57 ms, P95 0.67 ms)",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
