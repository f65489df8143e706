//! The server's counters, in the Prometheus text format at `/metrics`: requests by route and
//! status, runs stored, rejections by reason, and request latency.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// The latency buckets, in seconds.
const BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

#[derive(Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    requests: BTreeMap<(&'static str, u16), u64>,
    rows: u64,
    rejected: BTreeMap<&'static str, u64>,
    /// Per route: the count in each bucket (and above the last), the sum of seconds.
    latency: BTreeMap<&'static str, ([u64; BUCKETS.len() + 1], f64)>,
}

impl Metrics {
    fn update(&self, change: impl FnOnce(&mut Counts)) {
        change(
            &mut self
                .counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    /// One answered request.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        self.update(|counts| {
            *counts.requests.entry((route, status)).or_default() += 1;
            let seconds = took.as_secs_f64();
            let (buckets, sum) = counts.latency.entry(route).or_default();
            let bucket = BUCKETS
                .iter()
                .position(|&bound| seconds <= bound)
                .unwrap_or(BUCKETS.len());
            buckets[bucket] += 1;
            *sum += seconds;
        });
    }

    pub fn stored(&self, rows: usize) {
        self.update(|counts| counts.rows += rows as u64);
    }

    pub fn rejected(&self, reason: &'static str) {
        self.update(|counts| *counts.rejected.entry(reason).or_default() += 1);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP earlyexit_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE earlyexit_requests_total counter\n");
        for ((route, status), n) in &counts.requests {
            let _ = writeln!(
                out,
                "earlyexit_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP earlyexit_runs_stored_total Runs stored (a run sent again counts once).\n",
        );
        out.push_str("# TYPE earlyexit_runs_stored_total counter\n");
        let _ = writeln!(out, "earlyexit_runs_stored_total {}", counts.rows);
        out.push_str("# HELP earlyexit_rejected_total Requests refused, by reason.\n");
        out.push_str("# TYPE earlyexit_rejected_total counter\n");
        for (reason, n) in &counts.rejected {
            let _ = writeln!(out, "earlyexit_rejected_total{{reason=\"{reason}\"}} {n}");
        }
        out.push_str("# HELP earlyexit_request_seconds Time to answer a request, by route.\n");
        out.push_str("# TYPE earlyexit_request_seconds histogram\n");
        for (route, (buckets, sum)) in &counts.latency {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "earlyexit_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += buckets[BUCKETS.len()];
            let _ = writeln!(
                out,
                "earlyexit_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "earlyexit_request_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "earlyexit_request_seconds_count{{route=\"{route}\"}} {cumulative}"
            );
        }
        out
    }
}
