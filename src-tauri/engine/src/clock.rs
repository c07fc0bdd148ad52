//! The wall clock, passed in: [`Clock`], the [`SystemClock`] the binaries use, and the
//! [`ManualClock`] tests set and advance by hand.
//!
//! Owns every wall-clock reading of the engine: timestamps of events, health checks, config
//! loads, the start time and the rows it stores. Binaries put a [`SystemClock`] in
//! `EngineOptions::clock`; tests put a [`ManualClock`] there, so what they assert on time does
//! not depend on when or how fast they run.
//!
//! Invariants:
//! - The engine reads wall-clock time only through the [`SharedClock`] it was opened with.
//! - A [`ManualClock`] moves only when told to ([`ManualClock::set`], [`ManualClock::advance`]).
//!
//! Must never: hold global state (no process-wide "current clock"), or be used for durations
//! and deadlines: those use the monotonic `std::time::Instant` / `tokio::time::Instant`, which
//! a wall clock stepping back cannot disturb.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The handle the engine and its parts share. Cheap to clone.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// A [`SharedClock`] over the system clock, for binaries.
    pub fn shared() -> SharedClock {
        Arc::new(Self)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is set or advanced, for tests. Share it as an
/// `Arc<ManualClock>`: one clone goes into the engine (as a [`SharedClock`]), the test keeps
/// the other to move time.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(at),
        }
    }

    /// Moves the clock to `at` (forwards or backwards).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.lock() = at;
    }

    /// Moves the clock forwards by `by`, stopping at the latest time chrono can represent.
    /// Returns the new time.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.lock();
        *now = TimeDelta::from_std(by)
            .ok()
            .and_then(|by| now.checked_add_signed(by))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        *now
    }

    fn lock(&self) -> MutexGuard<'_, DateTime<Utc>> {
        // The guarded value is a plain timestamp: always consistent, even after a panic.
        match self.now.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn manual_clock_stands_still_until_moved() {
        let clock = ManualClock::new(at("2030-01-02T03:04:05Z"));
        assert_eq!(clock.now(), at("2030-01-02T03:04:05Z"));
        assert_eq!(clock.now(), clock.now());

        let moved = clock.advance(Duration::from_secs(90));
        assert_eq!(moved, at("2030-01-02T03:05:35Z"));
        assert_eq!(clock.now(), moved);

        clock.advance(Duration::from_micros(1));
        assert_eq!(clock.now(), at("2030-01-02T03:05:35.000001Z"));

        // Setting may step back, as a real wall clock can.
        clock.set(at("2029-12-31T23:59:59Z"));
        assert_eq!(clock.now(), at("2029-12-31T23:59:59Z"));
    }

    #[test]
    fn manual_clock_advance_saturates() {
        let clock = ManualClock::new(at("2030-01-02T03:04:05Z"));
        assert_eq!(clock.advance(Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            clock.advance(Duration::from_secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn a_shared_manual_clock_is_moved_through_the_handle_the_test_keeps() {
        let manual = Arc::new(ManualClock::new(at("2030-01-02T03:04:05Z")));
        let shared: SharedClock = manual.clone();
        manual.advance(Duration::from_secs(1));
        assert_eq!(shared.now(), at("2030-01-02T03:04:06Z"));
        assert_eq!(shared.clone().now(), manual.now());
    }
}
