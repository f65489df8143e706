//! Run times kept as counts in buckets, so that a million runs fold into a few hundred numbers
//! that add up across days, branches and servers, and still give percentiles and medians.
//!
//! Buckets grow by 5% (from a millisecond), and each keeps its count and the sum of its values.
//! A value read from a bucket is the mean of what fell into it: exact when the bucket holds one
//! distinct value (as a handful of runs almost always do), within the bucket's 5% otherwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How much wider each bucket is than the one before.
const GROWTH: f64 = 1.05;
/// The lower edge of bucket 0, in seconds: anything shorter shares it.
const SMALLEST: f64 = 0.001;
/// The last bucket (about 10^21 s): a run time this long is garbage, kept rather than refused.
const LAST_BUCKET: i32 = 1_000;

/// Counts and sums of run times (seconds) per bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(i32, u64, f64)>", into = "Vec<(i32, u64, f64)>")]
pub struct Histogram {
    buckets: BTreeMap<i32, (u64, f64)>,
}

impl From<Vec<(i32, u64, f64)>> for Histogram {
    fn from(stored: Vec<(i32, u64, f64)>) -> Histogram {
        let mut histogram = Histogram::default();
        for (bucket, count, sum) in stored {
            let slot = histogram
                .buckets
                .entry(bucket.clamp(0, LAST_BUCKET))
                .or_default();
            slot.0 = slot.0.saturating_add(count);
            slot.1 += sum;
        }
        histogram
    }
}

impl From<Histogram> for Vec<(i32, u64, f64)> {
    fn from(histogram: Histogram) -> Self {
        histogram
            .buckets
            .into_iter()
            .map(|(bucket, (count, sum))| (bucket, count, sum))
            .collect()
    }
}

fn bucket_of(seconds: f64) -> i32 {
    if seconds.is_nan() || seconds <= SMALLEST {
        return 0;
    }
    ((seconds / SMALLEST).ln() / GROWTH.ln())
        .floor()
        .min(LAST_BUCKET as f64) as i32
}

/// A run time as figures keep it: one that is not a number, infinite or negative (from a
/// bad clock or a bad client) counts as zero, and cannot poison a sum.
pub fn sane_seconds(seconds: f64) -> f64 {
    if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    }
}

impl Histogram {
    pub fn add(&mut self, seconds: f64) {
        let seconds = sane_seconds(seconds);
        let slot = self.buckets.entry(bucket_of(seconds)).or_default();
        slot.0 += 1;
        slot.1 += seconds;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (bucket, (count, sum)) in &other.buckets {
            let slot = self.buckets.entry(*bucket).or_default();
            slot.0 = slot.0.saturating_add(*count);
            slot.1 += sum;
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.values().map(|(count, _)| count).sum()
    }

    /// The value of rank `rank` (1 is the shortest), read from its bucket.
    fn at_rank(&self, rank: u64) -> Option<f64> {
        let mut below = 0;
        for (count, sum) in self.buckets.values() {
            below += count;
            if below >= rank && *count > 0 {
                return Some(sum / *count as f64);
            }
        }
        None
    }

    /// The nearest-rank percentile, as `telemetry stats` gives it (`None` when empty).
    pub fn percentile(&self, fraction: f64) -> Option<f64> {
        let count = self.count();
        let rank = (fraction * count as f64).ceil() as u64;
        self.at_rank(rank.clamp(1, count.max(1)))
    }

    /// The median: the middle value, or the mean of the two middle ones.
    pub fn median(&self) -> Option<f64> {
        let count = self.count();
        if count % 2 == 1 {
            self.at_rank(count / 2 + 1)
        } else {
            Some((self.at_rank(count / 2)? + self.at_rank(count / 2 + 1)?) / 2.0)
        }
    }

    /// What these runs would have taken more had each lasted `baseline`: the sum of
    /// `baseline - value` over the values below it. Exact except in the bucket `baseline`
    /// falls in, where the bucket's mean stands for its values.
    pub fn shortfall_below(&self, baseline: f64) -> f64 {
        self.buckets
            .values()
            .map(|(count, sum)| (*count as f64 * baseline - sum).max(0.0))
            .fold(0.0, |total, gap| total + gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[f64]) -> Histogram {
        let mut histogram = Histogram::default();
        for value in values {
            histogram.add(*value);
        }
        histogram
    }

    #[test]
    fn a_few_distinct_values_read_back_exactly() {
        let histogram = of(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(histogram.percentile(0.5), Some(5.0));
        assert_eq!(histogram.percentile(0.95), Some(10.0));
        assert_eq!(of(&[2.0, 3.0, 2.5]).median(), Some(2.5));
        assert_eq!(of(&[2.0, 3.0]).median(), Some(2.5));
        assert_eq!(Histogram::default().percentile(0.5), None);
        assert_eq!(Histogram::default().median(), None);
    }

    #[test]
    fn many_values_read_back_within_the_bucket_width() {
        let values: Vec<f64> = (1..=10_000).map(|i| i as f64 * 0.01).collect();
        let histogram = of(&values);
        for fraction in [0.5, 0.95, 0.99] {
            let exact = crate::numbers::percentile(&values, fraction).unwrap();
            let read = histogram.percentile(fraction).unwrap();
            assert!(
                (read - exact).abs() <= exact * 0.05,
                "{fraction}: {read} {exact}"
            );
        }
    }

    #[test]
    fn halves_merged_equal_the_whole_and_survive_storage() {
        let (mut left, right) = (of(&[0.5, 7.0, 7.1]), of(&[0.0, 1e300, f64::NAN]));
        left.merge(&right);
        let whole = of(&[0.5, 7.0, 7.1, 0.0, 1e300, f64::NAN]);
        assert_eq!(left, whole);
        let stored = serde_json::to_string(&whole).unwrap();
        assert_eq!(serde_json::from_str::<Histogram>(&stored).unwrap(), whole);
    }

    #[test]
    fn the_shortfall_counts_only_values_below_the_baseline() {
        assert_eq!(of(&[0.5, 4.0]).shortfall_below(2.5), 2.0);
        assert_eq!(of(&[]).shortfall_below(2.5), 0.0);
    }
}
