//! Exponential backoff with jitter, bounded by attempts and total time.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::RetryPolicy;

/// The delay before retry number `retry` (1-based): `initial * 2^(retry-1)` capped at
/// `max_backoff`, then a uniformly random value between half of it and all of it.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32) -> Duration {
    let exp = retry.saturating_sub(1).min(30);
    let base = policy
        .initial_backoff
        .saturating_mul(1u32 << exp)
        .min(policy.max_backoff);
    let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
    if nanos < 2 {
        return base;
    }
    let low = nanos / 2;
    Duration::from_nanos(rand::rng().random_range(low..=nanos))
}

/// Tracks the attempts of one call.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    start: Instant,
    attempts: u32,
}

impl Backoff {
    /// Starts counting (the first attempt is about to be made).
    pub fn new(policy: &RetryPolicy) -> Backoff {
        Backoff {
            policy: policy.clone(),
            start: Instant::now(),
            attempts: 1,
        }
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before the next attempt, or `None` when the attempts or the total time are
    /// used up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let delay = backoff_delay(&self.policy, self.attempts);
        match self.start.elapsed().checked_add(delay) {
            Some(at) if at <= self.policy.max_elapsed => {}
            _ => return None,
        }
        self.attempts += 1;
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_attempts_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            max_elapsed: Duration::from_secs(60),
        };
        let mut b = Backoff::new(&p);
        let d: Vec<_> = std::iter::from_fn(|| b.next_delay()).collect();
        assert_eq!(d.len(), 3);
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100));
        assert!(d[1] >= Duration::from_millis(100) && d[1] <= Duration::from_millis(200));
        assert!(d[2] >= Duration::from_millis(150) && d[2] <= Duration::from_millis(300));
        assert_eq!(Backoff::new(&RetryPolicy::none()).next_delay(), None);
    }

    #[test]
    fn bounded_by_elapsed() {
        let p = RetryPolicy {
            max_attempts: 100,
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(1),
        };
        assert_eq!(Backoff::new(&p).next_delay(), None);
    }
}
