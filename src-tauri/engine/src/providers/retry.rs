//! When to try a hop again: exponential backoff with full jitter (a random wait between 0 and
//! `min(max_delay, base · 2^n)`), or the provider's `Retry-After` when it gave one.
//!
//! Invariants: only what is retryable is retried (the caller classifies: 429, 5xx, 529,
//! connection errors, timeouts before any output reached the client); a `Retry-After` longer
//! than `max_retry_after_ms` is not waited for (the chain moves on instead).
//! Must never: wait itself (the call path waits on the engine's clock).

use std::time::Duration;

use super::settings::RetrySettings;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try the same hop again.
    RetryAfter(Duration),
    /// Move on to the next hop (attempts used up, not retryable, or told to wait too long).
    FailOver,
}

/// A random fraction in [0, 1).
fn unit_random() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The decision after attempt number `attempt` (1 = the first) failed.
pub fn next(
    settings: &RetrySettings,
    attempt: u32,
    retryable: bool,
    retry_after: Option<Duration>,
) -> Next {
    next_with(settings, attempt, retryable, retry_after, unit_random())
}

/// [`next`] with the random fraction given (tests).
pub fn next_with(
    settings: &RetrySettings,
    attempt: u32,
    retryable: bool,
    retry_after: Option<Duration>,
    random: f64,
) -> Next {
    if !retryable || attempt >= settings.max_attempts {
        return Next::FailOver;
    }
    if let Some(wait) = retry_after {
        return if wait <= Duration::from_millis(settings.max_retry_after_ms) {
            Next::RetryAfter(wait)
        } else {
            Next::FailOver
        };
    }
    let exp = settings
        .base_delay_ms
        .saturating_mul(1u64 << (attempt - 1).min(32));
    let cap = exp.min(settings.max_delay_ms);
    Next::RetryAfter(Duration::from_millis((cap as f64 * random) as u64))
}

/// A `Retry-After` header: seconds, or an HTTP date (given `now`).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> RetrySettings {
        RetrySettings {
            max_attempts: 4,
            base_delay_ms: 100,
            max_delay_ms: 300,
            max_retry_after_ms: 5_000,
        }
    }

    #[test]
    fn full_jitter_grows_then_caps_and_stops_at_max_attempts() {
        let cases = [
            (1, 0.999, Next::RetryAfter(Duration::from_millis(99))),
            (2, 0.999, Next::RetryAfter(Duration::from_millis(199))),
            (3, 0.999, Next::RetryAfter(Duration::from_millis(299))), // capped at 300
            (3, 0.0, Next::RetryAfter(Duration::ZERO)),
            (4, 0.5, Next::FailOver),
        ];
        for (attempt, r, want) in cases {
            assert_eq!(
                next_with(&s(), attempt, true, None, r),
                want,
                "attempt {attempt}"
            );
        }
        assert_eq!(next_with(&s(), 1, false, None, 0.5), Next::FailOver);
    }

    #[test]
    fn retry_after_is_honoured_unless_too_long() {
        let two = Some(Duration::from_secs(2));
        assert_eq!(
            next_with(&s(), 1, true, two, 0.1),
            Next::RetryAfter(Duration::from_secs(2))
        );
        assert_eq!(
            next_with(&s(), 1, true, Some(Duration::from_secs(6)), 0.1),
            Next::FailOver
        );
        let now: chrono::DateTime<chrono::Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 10:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
