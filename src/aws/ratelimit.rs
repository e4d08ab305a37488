//! A token bucket per (account, region) keeping LookupEvents under its 2 calls per second.
//!
//! Burst is one token: calls are spaced at least `1 / rate` apart, so no one-second window
//! ever holds more than `rate` calls, whatever the timing of the first ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// LookupEvents' documented limit is 2 per second per account and region; keytrail stays a
/// little under it so that network jitter cannot push two calls into one half-second.
pub const LOOKUP_CALLS_PER_SECOND: f64 = 1.8;

/// Spaces calls per key (for LookupEvents: the region, credentials being one account).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    interval: Duration,
    next: Arc<Mutex<HashMap<String, Instant>>>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` calls per second per key.
    pub fn new(per_second: f64) -> Self {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Arc::default(),
        }
    }

    /// Waits until a call for `key` may go out, and takes the token.
    pub async fn acquire(&self, key: &str) {
        let wait_until = {
            let mut next = self.next.lock().expect("rate limiter lock");
            let now = Instant::now();
            let slot = next.get(key).copied().unwrap_or(now).max(now);
            next.insert(key.to_string(), slot + self.interval);
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }

    /// Pushes the next call for `key` back by `delay` (after a ThrottlingException).
    pub fn penalize(&self, key: &str, delay: Duration) {
        let mut next = self.next.lock().expect("rate limiter lock");
        let now = Instant::now();
        let slot = next.get(key).copied().unwrap_or(now).max(now + delay);
        next.insert(key.to_string(), slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Acquires `n` tokens for `key` and returns the offsets from `start` at which they came.
    async fn take(rl: &RateLimiter, key: &str, n: usize, start: Instant) -> Vec<Duration> {
        let mut times = Vec::new();
        for _ in 0..n {
            rl.acquire(key).await;
            times.push(start.elapsed());
        }
        times
    }

    #[tokio::test]
    async fn calls_for_one_key_are_spaced_by_the_interval() {
        let rl = RateLimiter::new(20.0);
        let times = take(&rl, "us-east-1", 6, Instant::now()).await;
        // Slots are 50 ms apart; timer wake-ups may be a little late, never early.
        assert!(times[5] >= Duration::from_millis(250), "{times:?}");
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_millis(40), "{times:?}");
        }
        // No 90 ms window holds 3 calls (the real limiter leaves a 10% margin for this jitter).
        for (i, t) in times.iter().enumerate() {
            let n = times[i..]
                .iter()
                .filter(|u| **u < *t + Duration::from_millis(90))
                .count();
            assert!(n <= 2, "{times:?}");
        }
    }

    #[tokio::test]
    async fn keys_do_not_wait_for_each_other_and_penalties_delay() {
        let rl = RateLimiter::new(2.0);
        let start = Instant::now();
        rl.acquire("us-east-1").await;
        rl.acquire("eu-west-1").await;
        assert!(start.elapsed() < Duration::from_millis(100));
        rl.penalize("eu-west-1", Duration::from_millis(300));
        rl.acquire("eu-west-1").await;
        assert!(start.elapsed() >= Duration::from_millis(300));
    }
}
