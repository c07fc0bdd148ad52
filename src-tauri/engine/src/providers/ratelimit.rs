//! Client-side rate limits of one provider/model: requests and tokens per minute (GCRA, the
//! `governor` crate), on the engine's clock.
//!
//! Invariants: a request that needs more tokens than a whole minute's allowance is refused
//! at once (it could never pass); waiting is the caller's (on the engine's clock), this
//! module only says how long.
//! Must never: read the OS clock (governor runs on [`WallClock`], an adapter of ours).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as GovernorClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::settings::RateLimitSettings;
use crate::clock::SharedClock;

/// Nanoseconds since the epoch on the engine's clock.
#[derive(Debug, Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WallInstant(u64);

impl std::ops::Add<Nanos> for WallInstant {
    type Output = Self;
    fn add(self, other: Nanos) -> Self {
        Self(self.0.saturating_add(other.as_u64()))
    }
}

impl Reference for WallInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_sub(earlier.0))
    }
    fn saturating_sub(&self, duration: Nanos) -> Self {
        Self(self.0.saturating_sub(duration.as_u64()))
    }
}

/// governor's clock over the engine's.
#[derive(Debug, Clone)]
pub struct WallClock(pub SharedClock);

impl GovernorClock for WallClock {
    type Instant = WallInstant;
    fn now(&self) -> WallInstant {
        let t = self.0.now();
        WallInstant(u64::try_from(t.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, WallClock, NoOpMiddleware<WallInstant>>;

/// Why a call may not go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Capacity comes back after this long.
    Wait(Duration),
    /// The request alone needs more tokens than a minute allows.
    TooLarge,
}

/// The limits of one provider/model.
pub struct Limits {
    clock: WallClock,
    requests: Option<Limiter>,
    tokens: Option<Limiter>,
    pub settings: RateLimitSettings,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("settings", &self.settings)
            .finish()
    }
}

impl Limits {
    pub fn new(settings: RateLimitSettings, clock: SharedClock) -> Self {
        let clock = WallClock(clock);
        let make = |n: Option<u32>| {
            n.and_then(NonZeroU32::new)
                .map(|n| RateLimiter::direct_with_clock(Quota::per_minute(n), clock.clone()))
        };
        Self {
            requests: make(settings.requests_per_minute),
            tokens: make(settings.tokens_per_minute),
            clock,
            settings,
        }
    }

    /// No limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none()
    }

    /// Takes one request of the allowance (call once per attempt).
    pub fn take_request(&self) -> Result<(), Refusal> {
        match &self.requests {
            None => Ok(()),
            Some(l) => l
                .check()
                .map_err(|not| Refusal::Wait(not.wait_time_from(self.clock.now()))),
        }
    }

    /// Takes `tokens` of the token allowance.
    pub fn take_tokens(&self, tokens: u32) -> Result<(), Refusal> {
        let (Some(l), Some(n)) = (&self.tokens, NonZeroU32::new(tokens)) else {
            return Ok(());
        };
        match l.check_n(n) {
            Err(_) => Err(Refusal::TooLarge),
            Ok(Err(not)) => Err(Refusal::Wait(not.wait_time_from(self.clock.now()))),
            Ok(Ok(())) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    #[test]
    fn requests_and_tokens_per_minute_on_the_engine_clock() {
        let clock = Arc::new(ManualClock::new("2026-12-01T00:00:00Z".parse().unwrap()));
        let settings = RateLimitSettings {
            requests_per_minute: Some(2),
            tokens_per_minute: Some(100),
            ..RateLimitSettings::default()
        };
        let limits = Limits::new(settings, clock.clone());
        assert_eq!(limits.take_request(), Ok(()));
        assert_eq!(limits.take_request(), Ok(()));
        let Err(Refusal::Wait(w)) = limits.take_request() else {
            panic!("third request passed")
        };
        assert_eq!(w, Duration::from_secs(30), "one request every 30 s");
        clock.advance(Duration::from_secs(30));
        assert_eq!(limits.take_request(), Ok(()));
        assert_eq!(limits.take_tokens(101), Err(Refusal::TooLarge));
        assert_eq!(limits.take_tokens(80), Ok(()));
        let Err(Refusal::Wait(w)) = limits.take_tokens(40) else {
            panic!("over the token limit")
        };
        assert_eq!(
            w,
            Duration::from_millis(12_000),
            "20 tokens short at 100/min"
        );
        assert!(Limits::new(RateLimitSettings::default(), clock).is_unlimited());
    }
}
