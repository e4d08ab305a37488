//! Retrying deliveries: a bounded, deterministic exponential backoff (base, 2x base, 4x
//! base, ... capped), with a server's `Retry-After` honoured up to the cap.

use std::time::Duration;

/// The longest wait between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// How often and how patiently a delivery is tried again after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub retries: u32,
    /// The wait before the first retry; each later wait doubles, up to [`MAX_DELAY`].
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            base: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 = the first retry); `hint` is a server's
    /// `Retry-After`, used when longer.
    pub fn delay(&self, retry: u32, hint: Option<Duration>) -> Duration {
        let backoff = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(MAX_DELAY);
        hint.map_or(backoff, |h| h.max(backoff).min(MAX_DELAY))
    }

    /// A policy from the `--retries`/`--retry-delay` values (or their settings).
    pub fn from_settings(retries: Option<u32>, delay: Option<&str>) -> Result<Self, String> {
        let d = RetryPolicy::default();
        Ok(RetryPolicy {
            retries: retries.unwrap_or(d.retries),
            base: match delay {
                Some(s) => parse_delay(s)?,
                None => d.base,
            },
        })
    }
}

/// `250ms`, `2s`, `1m` as a duration.
pub fn parse_delay(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("retry delay {s:?} is not a duration: use 250ms, 2s or 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!(
            "retry delay {s:?} is not a duration: use 250ms, 2s or 1m"
        )),
    }
}

/// A `Retry-After` header value in seconds (the HTTP-date form is ignored).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_honour_retry_after() {
        let p = RetryPolicy {
            retries: 5,
            base: Duration::from_millis(100),
        };
        assert_eq!(p.delay(0, None), Duration::from_millis(100));
        assert_eq!(p.delay(3, None), Duration::from_millis(800));
        assert_eq!(p.delay(30, None), MAX_DELAY);
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(3600))), MAX_DELAY);
    }

    #[test]
    fn delays_parse_from_settings() {
        assert_eq!(parse_delay("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_delay("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_delay("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_delay("soon").unwrap_err().contains("250ms"));
        let p = RetryPolicy::from_settings(Some(1), Some("10ms")).unwrap();
        assert_eq!((p.retries, p.base), (1, Duration::from_millis(10)));
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }
}
