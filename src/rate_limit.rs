//! A token bucket: at most a number of events a second, in bursts of up to a second's worth.
//! The live records of a run and the team server's requests per key are held to one.
//!
//! May import: nothing (a leaf).

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct RateLimit {
    per_second: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl RateLimit {
    pub fn new(per_second: u32) -> RateLimit {
        RateLimit {
            per_second: f64::from(per_second),
            tokens: f64::from(per_second),
            last: None,
        }
    }

    /// Takes a token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there (for `Retry-After`), in whole seconds, at least 1.
    pub fn seconds_to_wait(&self) -> u64 {
        if self.per_second <= 0.0 {
            return 60;
        }
        (((1.0 - self.tokens) / self.per_second).ceil() as u64).max(1)
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + refill).min(self.per_second);
        }
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_seconds_burst_then_the_rate() {
        let mut limit = RateLimit::new(10);
        let start = Instant::now();
        let burst = (0..100).filter(|_| limit.allow(start)).count();
        assert_eq!(burst, 10);
        assert_eq!(limit.seconds_to_wait(), 1);
        let later = start + Duration::from_millis(500);
        let refilled = (0..100).filter(|_| limit.allow(later)).count();
        assert_eq!(refilled, 5);
        let mut none = RateLimit::new(0);
        assert!(!none.allow(start));
        assert_eq!(none.seconds_to_wait(), 60);
    }
}
