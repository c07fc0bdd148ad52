//! Tests of the burn forecast: a ledger with a known weekly pattern runs out inside the
//! stated interval, the weekly model wins over the straight line, and the `projected`
//! alert fires once per period.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rust_decimal::Decimal;

use super::burn::{self, ExhaustionStatus};
use super::*;
use crate::clock::{ManualClock, SharedClock};
use crate::config::{Config, ConfigSource};
use crate::providers::ledger::{CallOutcome, CallRecord, Ledger, Protocol};

use crate::test_rng::Lcg;

/// The spend of the hour starting at `t`: busy weekday office hours, quiet nights and
/// weekends, ±30 % noise.
fn spend(t: DateTime<Utc>, g: &mut Lcg) -> f64 {
    let weekend = t.weekday().num_days_from_monday() >= 5;
    let base = if weekend {
        0.1
    } else if (8..18).contains(&t.hour()) {
        2.0
    } else {
        0.2
    };
    base * (0.7 + 0.6 * g.unit())
}

fn cents(x: f64) -> Decimal {
    Decimal::new((x * 1_000_000.0).round() as i64, 6)
}

#[test]
fn the_weekly_model_wins_on_a_weekly_pattern_and_its_intervals_are_measured() {
    let start: DateTime<Utc> = "2026-11-02T00:00:00Z".parse().unwrap();
    let mut g = Lcg(7);
    let h: Vec<f64> = (0..28 * 24)
        .map(|i| spend(start + Duration::hours(i), &mut g))
        .collect();
    let m = burn::fit(&h, 400).unwrap();
    let now = start + Duration::hours(28 * 24);
    let f = m.forecast_for_test(now, now + Duration::hours(400), 0.0, 1e9);
    assert_eq!(f.model, "hour_of_week", "{}", f.reason);
    let (c80, c95) = (f.coverage80.unwrap(), f.coverage95.unwrap());
    assert!(
        (0.6..=1.0).contains(&c80) && (0.8..=1.0).contains(&c95),
        "{c80} {c95}"
    );
    // Intervals nest and widen with the horizon.
    for p in &f.path {
        assert!(p.lo95 <= p.lo80 && p.lo80 <= p.mean && p.mean <= p.hi80 && p.hi80 <= p.hi95);
    }
    // Too little history: no forecast, and why.
    let e = burn::fit(&h[..30], 10).unwrap_err();
    assert!(e.contains("at least 48"), "{e}");
    // Leading hours without spend do not count as history.
    let mut late = vec![0.0; 600];
    late.extend_from_slice(&h[..40]);
    assert!(burn::fit(&late, 10).unwrap_err().contains("40 hours"));
}

/// Writes one call per hour of `hours` from `from` with the pattern's cost.
async fn write_calls(ledger: &Ledger, from: DateTime<Utc>, hours: i64, g: &mut Lcg) -> f64 {
    let mut total = 0.0;
    for i in 0..hours {
        let at = from + Duration::hours(i) + Duration::minutes(20);
        let c = cents(spend(from + Duration::hours(i), g));
        total += rust_decimal::prelude::ToPrimitive::to_f64(&c).unwrap();
        let mut r = CallRecord::start(
            format!("c{}", at.timestamp()),
            at,
            "token:ci".into(),
            "default".into(),
            "n".into(),
            Protocol::Openai,
            false,
        );
        r.provider = Some("up".into());
        r.model = Some("m1".into());
        r.outcome = CallOutcome::Ok;
        r.cost = Some(c);
        r.finished_at = Some(at);
        let t = ledger.begin(r.clone()).unwrap();
        t.finish(r);
    }
    ledger.flush().await;
    total
}

#[tokio::test]
async fn a_weekly_ledger_runs_out_inside_the_stated_interval_and_alerts_once() {
    let dir = tempfile::tempdir().unwrap();
    // Wednesday 9 December 2026, 10:30 UTC; history from Monday 2 November.
    let now: DateTime<Utc> = "2026-12-09T10:30:00Z".parse().unwrap();
    let history_start: DateTime<Utc> = "2026-11-02T00:00:00Z".parse().unwrap();
    let manual = Arc::new(ManualClock::new(now));
    let clock: SharedClock = manual.clone();
    let store = Store::open(dir.path()).await.unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    let cancel = tokio_util::sync::CancellationToken::new();
    let ledger = Ledger::open(
        store.clone(),
        clock.clone(),
        dir.path(),
        &tracker,
        cancel.clone(),
    )
    .await
    .unwrap();
    let mut g = Lcg(11);
    let hours = (now - history_start).num_hours();
    write_calls(&ledger, history_start, hours, &mut g).await;
    // The truth after now: the same process with other noise. The limit is what the month
    // spends by Tuesday 22 December, noon.
    let month_start: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
    let mut spent = 0.0;
    {
        let mut g2 = Lcg(11);
        for i in 0..hours {
            let t = history_start + Duration::hours(i);
            let c = cents(spend(t, &mut g2));
            if t >= month_start {
                spent += rust_decimal::prelude::ToPrimitive::to_f64(&c).unwrap();
            }
        }
    }
    let hour = now - Duration::minutes(30);
    let mut truth = Vec::new();
    let mut g3 = Lcg(99);
    let mut cum = spent;
    for i in 0..(24 * 23) {
        let t = hour + Duration::hours(i);
        // The current hour's call (at :20) was written already: its spend is in `spent`.
        if i == 0 {
            continue;
        }
        cum += spend(t, &mut g3);
        truth.push((t + Duration::hours(1), cum));
    }
    let target: DateTime<Utc> = "2026-12-22T12:00:00Z".parse().unwrap();
    let limit = truth.iter().find(|x| x.0 >= target).unwrap().1;
    let toml = format!(
        "[budgets.month]\nlimit_usd = \"{}\"\nperiod = \"monthly\"\n",
        cents(limit)
    );
    let config: Config = toml::from_str(&toml).unwrap();
    config.validate(None).unwrap();
    let handle = ConfigHandle::new(config, ConfigSource::default(), clock.clone());
    let gate = Gate::open(
        store.clone(),
        clock.clone(),
        handle.clone(),
        &tracker,
        cancel.clone(),
        None,
    )
    .await
    .unwrap();
    let costs = Costs::new(store.clone(), handle, clock.clone()).with_gate(gate);
    let b = costs.budgets().await.unwrap().remove(0);
    let f = b.forecast.clone().unwrap();
    assert_eq!(f.model, "hour_of_week", "{}", f.reason);
    let e = f.exhaustion.clone().unwrap();
    assert_eq!(e.status, ExhaustionStatus::Projected, "{f:?}");
    let (at, lo, hi) = (e.at.unwrap(), e.earliest95.unwrap(), e.latest95.unwrap());
    let actual = truth.iter().find(|x| x.1 >= limit).unwrap().0;
    assert!(
        lo <= actual && actual <= hi,
        "{actual} outside {lo}..{hi} (mean {at})"
    );
    assert!(
        (at - actual).num_hours().abs() <= 24,
        "mean {at}, actual {actual}"
    );
    assert!(e.earliest80.unwrap() >= lo && e.latest80.unwrap() <= hi);
    // The spent part is certain: the path starts at spent.
    let first = f.path.first().unwrap();
    assert!(first.lo95 >= b.spent.to_string().parse::<f64>().unwrap() - 1e-9);
    // The end of the month is above the limit.
    assert!(f.end.as_ref().unwrap().mean > limit);
    // The alert fires once per period.
    assert_eq!(
        costs.check_projections().await.unwrap(),
        vec!["month".to_string()]
    );
    assert!(costs.check_projections().await.unwrap().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let rows: Vec<(String, String)> = store
        .read(|db| {
            db.query_all("SELECT kind, budget FROM budget_alerts", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await
        .unwrap();
    assert_eq!(rows, vec![("projected".to_string(), "month".to_string())]);
    let listed = costs.alerts(10).await.unwrap();
    assert_eq!(listed[0].kind, AlertKind::Projected);
    assert!(listed.is_empty() || listed[0].budget == "month");
    // A budget with a higher limit is not projected to run out.
    let _ = manual;
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}
