//! Arithmetic that stats and the report share.
//!
//! May import: nothing (a leaf).

/// The value at the given fraction of a sorted list (nearest rank), as `telemetry stats` and
/// the report give percentiles.
pub fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_the_nearest_rank() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&sorted, 0.5), Some(5.0));
        assert_eq!(percentile(&sorted, 0.95), Some(10.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
