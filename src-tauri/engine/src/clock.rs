//! Time, passed in: [`Clock`] gives wall time *and* timers (sleeps to a wall-clock deadline
//! or for a duration); [`SystemClock`] is what the binaries use, [`ManualClock`] a clock
//! tests set and advance by hand (its timers fire when it is moved past them), and
//! [`PausedClock`] wall time derived from tokio's clock, so under a paused runtime
//! (`#[tokio::test(start_paused = true)]`) wall time and every timer advance together, with
//! no real waiting.
//!
//! Owns every wall-clock reading of the engine: timestamps of events, health checks, config
//! loads, the start time and the rows it stores. Binaries put a [`SystemClock`] in
//! `EngineOptions::clock`; tests put a [`ManualClock`] there, so what they assert on time does
//! not depend on when or how fast they run.
//!
//! Invariants:
//! - The engine reads wall-clock time only through the [`SharedClock`] it was opened with,
//!   and waits only through it ([`Clock::sleep`], [`Clock::sleep_until`]): lease expiry,
//!   SLAs, escalations, cool-downs, budget periods and report schedules are all testable
//!   without sleeping (both kept by tests that read the sources).
//! - A [`ManualClock`] moves only when told to ([`ManualClock::set`], [`ManualClock::advance`]);
//!   a sleep on it ends when the clock is moved to or past its deadline.
//! - A wall-clock deadline is re-checked against the wall clock: a system clock stepped
//!   forwards or backwards meanwhile moves the wake-up with it.
//!
//! Must never: hold global state (no process-wide "current clock"). Time-outs that guard an
//! operation (a check that hangs) stay on tokio's monotonic clock, which paused tests also
//! control.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

/// A timer's future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The longest a [`SystemClock`] sleep waits before re-reading the wall clock.
const RECHECK: Duration = Duration::from_secs(60);

/// A source of wall-clock time and of timers on it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once the clock shows `deadline` or later.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep;

    /// Resolves once `by` has passed on this clock.
    fn sleep(&self, by: Duration) -> Sleep {
        self.sleep_until(add(self.now(), by))
    }
}

fn add(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(by)
        .ok()
        .and_then(|by| at.checked_add_signed(by))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// How long from `now` to `deadline`, zero when it has passed.
fn until(now: DateTime<Utc>, deadline: DateTime<Utc>) -> Duration {
    (deadline - now).to_std().unwrap_or(Duration::ZERO)
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

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        Box::pin(async move {
            loop {
                let left = until(Utc::now(), deadline);
                if left.is_zero() {
                    return;
                }
                // In steps, so a wall clock stepped meanwhile moves the wake-up.
                tokio::time::sleep(left.min(RECHECK)).await;
            }
        })
    }
}

/// Wall time derived from tokio's clock: `origin` at creation, then moving exactly as
/// `tokio::time::Instant` does. Under a paused runtime it stands still until the runtime
/// advances (by `tokio::time::advance`, or by itself when every task waits on a timer), and
/// its timers are tokio timers, so they fire as it advances.
#[derive(Debug)]
pub struct PausedClock {
    origin: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl PausedClock {
    /// A clock showing `origin` now. Must be called inside a tokio runtime.
    pub fn new(origin: DateTime<Utc>) -> Self {
        Self {
            origin,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for PausedClock {
    fn now(&self) -> DateTime<Utc> {
        add(self.origin, self.start.elapsed())
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let at = self.start + until(self.origin, deadline);
        Box::pin(tokio::time::sleep_until(at))
    }
}

/// A clock that stands still until it is set or advanced, for tests. Share it as an
/// `Arc<ManualClock>`: one clone goes into the engine (as a [`SharedClock`]), the test keeps
/// the other to move time.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    /// Tells sleepers the clock moved.
    moved: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(at),
            moved: watch::Sender::new(at),
        }
    }

    /// Moves the clock to `at` (forwards or backwards).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.lock() = at;
        self.moved.send_replace(at);
    }

    /// Moves the clock forwards by `by`, stopping at the latest time chrono can represent.
    /// Returns the new time.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let moved = {
            let mut now = self.lock();
            *now = add(*now, by);
            *now
        };
        self.moved.send_replace(moved);
        moved
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

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep {
        let mut moved = self.moved.subscribe();
        Box::pin(async move {
            loop {
                if *moved.borrow_and_update() >= deadline {
                    return;
                }
                // The sender lives as long as the clock; a dropped clock never fires.
                if moved.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_timers_fire_when_it_is_moved_past_them() {
        let clock = Arc::new(ManualClock::new(at("2030-01-02T03:04:05Z")));
        let shared: SharedClock = clock.clone();
        let mut in_a_minute = tokio::spawn(shared.sleep(Duration::from_secs(60)));
        let mut at_noon = tokio::spawn(shared.sleep_until(at("2030-01-02T12:00:00Z")));
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(59));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut in_a_minute)
                .await
                .is_err()
        );
        clock.advance(Duration::from_secs(1));
        in_a_minute.await.unwrap();
        clock.set(at("2030-01-02T12:00:00Z"));
        (&mut at_noon).await.unwrap();
        // A deadline already past resolves at once.
        shared.sleep_until(at("2000-01-01T00:00:00Z")).await;
    }

    #[tokio::test(start_paused = true)]
    async fn paused_clock_moves_wall_time_and_timers_together() {
        let origin = at("2030-01-02T03:04:05Z");
        let clock: SharedClock = Arc::new(PausedClock::new(origin));
        assert_eq!(clock.now(), origin);
        // A day of waiting takes no real time: the paused runtime jumps to the timer.
        let real = std::time::Instant::now();
        clock.sleep(Duration::from_secs(24 * 3600)).await;
        assert_eq!(clock.now(), at("2030-01-03T03:04:05Z"));
        clock.sleep_until(at("2030-01-03T04:00:00Z")).await;
        assert_eq!(clock.now(), at("2030-01-03T04:00:00Z"));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(clock.now(), at("2030-01-03T04:00:30Z"));
        assert!(real.elapsed() < Duration::from_secs(5));
    }

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
