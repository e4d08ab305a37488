//! One AWS call with keytrail's retry policy. Transient failures (throttling, 5xx, timeouts,
//! broken connections) are tried again with exponential backoff; permanent ones (a host
//! name that does not resolve, a refusal from a literal address, other 4xx, credentials)
//! end at once. While a wait runs past [`STATUS_AFTER`], a status line says what keytrail
//! waits for, and so does one while an attempt has had no answer for as long. An endpoint found out of reach, or credentials that cannot be had, fail the
//! calls that follow at once with the same error. Every attempt is counted.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::AwsContext;
use super::config::WAITING_LINE_EVERY;
use super::errors::{AwsCallError, CallSite, Endpoint, ErrorKind, classify};

/// Attempts for a call that keeps failing transiently (the AWS SDKs' standard mode makes 3).
pub const MAX_ATTEMPTS: u32 = 5;
/// Attempts for a call that keeps being throttled (rate limits clear with time).
pub const MAX_ATTEMPTS_THROTTLED: u32 = 8;
/// The first backoff; each later one doubles, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// A wait longer than this gets a status line.
pub const STATUS_AFTER: Duration = Duration::from_secs(2);

/// One call's identity for messages: what it needs, where it goes, and a label for status
/// lines (the input it serves, e.g. `s3://bucket/key`).
#[derive(Debug, Clone)]
pub struct Call {
    pub site: CallSite,
    pub endpoint: Endpoint,
    pub label: String,
}

/// Attempts and throttled answers of a series of calls (LookupEvents reports them per region).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub attempts: u64,
    pub throttled: u64,
}

/// Runs `op` (one attempt: build and send the request) until it succeeds, fails for good,
/// or runs out of attempts.
pub async fn send<T, E, F, Fut>(
    ctx: &AwsContext,
    call: &Call,
    tally: &mut Tally,
    mut op: F,
) -> Result<T, AwsCallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        if let Some(mut earlier) = ctx.down.get(&call.endpoint) {
            // The same failure, told about this call (another service may share the host).
            earlier.site = call.site.clone();
            earlier.endpoint = call.endpoint.clone();
            earlier.attempts = 0;
            return Err(earlier);
        }
        attempt += 1;
        ctx.calls.add();
        tally.attempts += 1;
        let mut err = match answer(ctx, call, op()).await {
            Ok(v) => return Ok(v),
            Err(e) => classify(&e, call.site.clone(), &call.endpoint),
        };
        err.attempts = attempt;
        let throttled = err.kind == ErrorKind::Throttled;
        if throttled {
            tally.throttled += 1;
        }
        let limit = if throttled {
            MAX_ATTEMPTS_THROTTLED
        } else {
            MAX_ATTEMPTS
        };
        if !err.is_transient() || attempt >= limit {
            ctx.down.note(&err);
            return Err(err);
        }
        let delay = backoff(attempt);
        if delay >= STATUS_AFTER || started.elapsed() + delay > STATUS_AFTER {
            ctx.status.show(&format!(
                "{}: {} {} (attempt {attempt} of {limit}); trying again in {:.0} s",
                call.label,
                call.site.permission,
                err.brief(),
                delay.as_secs_f64().ceil()
            ));
        }
        tokio::time::sleep(delay).await;
    }
}

/// Awaits one attempt; while no answer has come for [`STATUS_AFTER`], and every
/// [`WAITING_LINE_EVERY`] after, a status line says what keytrail waits for.
async fn answer<F: Future>(ctx: &AwsContext, call: &Call, attempt: F) -> F::Output {
    let started = Instant::now();
    let mut next = STATUS_AFTER;
    tokio::pin!(attempt);
    loop {
        tokio::select! {
            out = &mut attempt => return out,
            _ = tokio::time::sleep_until((started + next).into()) => {
                ctx.status.show_waiting(&format!(
                    "{}: waiting for {} to answer {} ({} s so far)",
                    call.label,
                    call.endpoint.describe(),
                    call.site.permission,
                    started.elapsed().as_secs()
                ));
                next += WAITING_LINE_EVERY;
            }
        }
    }
}

/// The wait before attempt `attempt + 1`: 1 s, 2 s, 4 s, ... at most 20 s, each with up to
/// a quarter taken off at random so that calls failing together do not retry together.
pub fn backoff(attempt: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    full - full.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jitters_down_by_at_most_a_quarter() {
        for (attempt, full) in [
            (1, 1.0),
            (2, 2.0),
            (3, 4.0),
            (5, 16.0),
            (6, 20.0),
            (30, 20.0),
        ] {
            let d = backoff(attempt).as_secs_f64();
            assert!(d <= full && d >= full * 0.75, "attempt {attempt}: {d}");
        }
    }
}
