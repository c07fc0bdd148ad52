//! The circuit breaker of one provider/model: closed → open (on `consecutive_failures` in a
//! row, or a `failure_rate` over `window_secs` with at least `min_calls`) → after
//! `open_secs`, half-open (one probe call let through) → closed on its success, open again
//! on its failure.
//!
//! Invariants: time comes from the caller (the engine's clock), so tests move it by hand;
//! in half-open exactly one probe is in flight; a permit that is dropped without an outcome
//! (a cancelled call) frees the probe slot without counting as a failure.
//! Must never: count a client's mistake (400, 401 of the client) as a provider failure: the
//! caller decides what is a failure.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::settings::BreakerSettings;

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The value of the `flightdeck_provider_breaker_state` gauge.
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// Whether a call may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The one half-open probe.
    Probe,
    /// Open (or half-open with the probe out): skip this hop.
    Rejected,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    settings: BreakerSettings,
    state: BreakerState,
    consecutive: u32,
    window: VecDeque<(DateTime<Utc>, bool)>,
    opened_at: Option<DateTime<Utc>>,
    probe_out: bool,
}

/// A change of state, to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: BreakerState::Closed,
            consecutive: 0,
            window: VecDeque::new(),
            opened_at: None,
            probe_out: false,
        }
    }

    /// New settings from a reload; the state is kept.
    pub fn set_settings(&mut self, settings: BreakerSettings) {
        self.settings = settings;
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    fn open_for(&self) -> TimeDelta {
        TimeDelta::seconds(i64::try_from(self.settings.open_secs).unwrap_or(i64::MAX / 1000))
    }

    /// What [`Breaker::admit`] would answer now, without changing anything: `Allowed`
    /// (closed), `Probe` (open and due, or half-open with no probe out), `Rejected`.
    pub fn peek(&self, now: DateTime<Utc>) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open if self.opened_at.is_none_or(|at| now >= at + self.open_for()) => {
                Admission::Probe
            }
            BreakerState::HalfOpen if !self.probe_out => Admission::Probe,
            BreakerState::Open | BreakerState::HalfOpen => Admission::Rejected,
        }
    }

    /// May a call go now? (Moves open → half-open when the open time is over.)
    pub fn admit(&mut self, now: DateTime<Utc>) -> (Admission, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Admission::Allowed, None),
            BreakerState::Open => {
                let due = self.opened_at.is_none_or(|at| now >= at + self.open_for());
                if due {
                    self.state = BreakerState::HalfOpen;
                    self.probe_out = true;
                    let t = Transition {
                        from: BreakerState::Open,
                        to: BreakerState::HalfOpen,
                    };
                    (Admission::Probe, Some(t))
                } else {
                    (Admission::Rejected, None)
                }
            }
            BreakerState::HalfOpen if self.probe_out => (Admission::Rejected, None),
            BreakerState::HalfOpen => {
                self.probe_out = true;
                (Admission::Probe, None)
            }
        }
    }

    /// A call that was admitted ended without an outcome (cancelled): free the probe.
    pub fn abandon(&mut self, admission: Admission) {
        if admission == Admission::Probe {
            self.probe_out = false;
        }
    }

    /// The outcome of an admitted call.
    pub fn record(
        &mut self,
        now: DateTime<Utc>,
        admission: Admission,
        success: bool,
    ) -> Option<Transition> {
        if admission == Admission::Probe {
            self.probe_out = false;
        }
        let window = TimeDelta::seconds(i64::try_from(self.settings.window_secs).unwrap_or(60));
        while self
            .window
            .front()
            .is_some_and(|(at, _)| *at + window <= now)
        {
            self.window.pop_front();
        }
        self.window.push_back((now, success));
        if self.window.len() > 10_000 {
            self.window.pop_front();
        }
        let from = self.state;
        if success {
            self.consecutive = 0;
            if self.state == BreakerState::HalfOpen && admission == Admission::Probe {
                self.state = BreakerState::Closed;
                self.window.clear();
            }
        } else {
            self.consecutive += 1;
            let failures = self.window.iter().filter(|(_, ok)| !ok).count();
            let calls = self.window.len();
            let rate_trips = calls >= self.settings.min_calls as usize
                && (failures as f64) >= self.settings.failure_rate * calls as f64;
            let trips = match self.state {
                BreakerState::HalfOpen => admission == Admission::Probe,
                BreakerState::Closed => {
                    self.consecutive >= self.settings.consecutive_failures || rate_trips
                }
                BreakerState::Open => false,
            };
            if trips {
                self.state = BreakerState::Open;
                self.opened_at = Some(now);
            }
        }
        (from != self.state).then_some(Transition {
            from,
            to: self.state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn settings() -> BreakerSettings {
        BreakerSettings {
            consecutive_failures: 3,
            failure_rate: 0.5,
            min_calls: 10,
            window_secs: 60,
            open_secs: 30,
        }
    }

    #[test]
    fn opens_after_consecutive_failures_then_probes_then_closes() {
        let mut b = Breaker::new(settings());
        for i in 0..2 {
            assert_eq!(b.admit(t(i)).0, Admission::Allowed);
            assert_eq!(b.record(t(i), Admission::Allowed, false), None);
        }
        let tr = b.record(t(2), Admission::Allowed, false).unwrap();
        assert_eq!((tr.from, tr.to), (BreakerState::Closed, BreakerState::Open));
        assert_eq!(b.admit(t(31)).0, Admission::Rejected, "open for 30 s");
        let (a, tr) = b.admit(t(32));
        assert_eq!(
            (a, tr.map(|t| t.to)),
            (Admission::Probe, Some(BreakerState::HalfOpen))
        );
        assert_eq!(b.admit(t(32)).0, Admission::Rejected, "one probe at a time");
        let tr = b.record(t(33), Admission::Probe, true).unwrap();
        assert_eq!(tr.to, BreakerState::Closed);
        assert_eq!(b.admit(t(33)).0, Admission::Allowed);
    }

    #[test]
    fn a_failed_probe_opens_again_and_an_abandoned_one_frees_the_slot() {
        let mut b = Breaker::new(settings());
        for i in 0..3 {
            b.record(t(i), Admission::Allowed, false);
        }
        let (a, _) = b.admit(t(40));
        b.abandon(a);
        let (a, _) = b.admit(t(41));
        assert_eq!(a, Admission::Probe);
        let tr = b.record(t(41), a, false).unwrap();
        assert_eq!(
            (tr.from, tr.to),
            (BreakerState::HalfOpen, BreakerState::Open)
        );
        assert_eq!(b.admit(t(70)).0, Admission::Rejected);
        assert_eq!(b.admit(t(71)).0, Admission::Probe);
    }

    #[test]
    fn opens_on_failure_rate_over_the_window() {
        let mut b = Breaker::new(settings());
        // Alternate success and failure: never 3 in a row, but 50% of 10 calls.
        let mut last = None;
        for i in 0..10 {
            last = b.record(t(i), Admission::Allowed, i % 2 == 1);
            if i < 9 {
                assert_eq!(b.state(), BreakerState::Closed, "call {i}");
            }
        }
        // The 10th call (i = 9) succeeded; one more failure trips the rate.
        assert!(last.is_none());
        let tr = b.record(t(10), Admission::Allowed, false).unwrap();
        assert_eq!(tr.to, BreakerState::Open);
        // Old calls leave the window.
        let mut b = Breaker::new(settings());
        for i in 0..9 {
            b.record(t(i), Admission::Allowed, i % 2 == 0);
        }
        assert!(b.record(t(200), Admission::Allowed, false).is_none());
    }
}
