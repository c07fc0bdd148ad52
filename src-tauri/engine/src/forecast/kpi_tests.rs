//! Tests of KPI series: imports checked whole (dry run, bad rows by line, nothing partly
//! written), pushes flagged against the forecast made before them, backtest anomalies once
//! each with their feed event, the read-only `cost.daily`, goals and their risk events.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::goals::{Direction, GoalRequest};
use super::kpi::*;
use super::{ForecastError, ForecastEvent};
use crate::clock::{ManualClock, SharedClock};
use crate::config::{Config, ConfigHandle, ConfigSource};
use crate::costs::Costs;
use crate::events::Event;
use crate::store::Store;

async fn kpis(dir: &std::path::Path, now: &str) -> (Store, Kpis, Arc<ManualClock>) {
    let manual = Arc::new(ManualClock::new(now.parse().unwrap()));
    let clock: SharedClock = manual.clone();
    let store = Store::open(dir).await.unwrap();
    let costs = Costs::new(
        store.clone(),
        ConfigHandle::new(Config::default(), ConfigSource::default(), clock.clone()),
        clock.clone(),
    );
    (store.clone(), Kpis::new(store, clock, costs), manual)
}

/// A weekly-seasonal daily series with a trend, from 2026-06-01.
fn csv(days: usize) -> String {
    let mut s = String::from("date,value\n");
    let start: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    for i in 0..days {
        let d = start + Duration::days(i as i64);
        let w = [1.0, 1.1, 1.2, 1.15, 1.3, 0.6, 0.5][i % 7];
        let noise = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
        s.push_str(&format!(
            "{},{:.3}\n",
            d.format("%Y-%m-%d"),
            (100.0 + i as f64 * 0.5) * w + noise * 4.0
        ));
    }
    s
}

async fn events(store: &Store) -> Vec<ForecastEvent> {
    store
        .read(|db| {
            db.query_all(
                "SELECT body FROM events WHERE topic = 'forecasts' ORDER BY seq",
                [],
                |r| r.get::<_, String>(0),
            )
        })
        .await
        .unwrap()
        .into_iter()
        .filter_map(|b| match serde_json::from_str::<Event>(&b) {
            Ok(Event::Forecasts(e)) => Some(e),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn imports_are_checked_whole_previewed_and_merged_or_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (store, k, _) = kpis(dir.path(), "2026-12-01T00:00:00Z").await;
    // A dry run previews and writes nothing.
    let dry = k
        .import(
            "revenue",
            ImportRequest {
                csv: csv(120),
                dry_run: true,
                unit: Some("USD".into()),
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(!dry.imported);
    assert_eq!((dry.points, dry.new_points), (120, 120));
    assert_eq!(dry.head.len(), 10);
    assert_eq!(dry.tail.len(), 10);
    assert!(matches!(
        k.info("revenue").await,
        Err(ForecastError::NotFound(_))
    ));
    // Bad rows: every one named by line, nothing written.
    let mut bad = csv(30);
    bad.push_str("2026-07-01,NaN\n2026-07-02,inf\n2026-13-01,4\n2026-07-04\n");
    let e = k
        .import(
            "revenue",
            ImportRequest {
                csv: bad,
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap_err();
    let m = e.to_string();
    assert_eq!(e.code(), crate::ErrorCode::InvalidRows);
    for line in ["line 32", "line 33", "line 34", "line 35"] {
        assert!(m.contains(line), "{m}");
    }
    assert!(matches!(
        k.info("revenue").await,
        Err(ForecastError::NotFound(_))
    ));
    // Too short, a bad name, the built-in series.
    let e = k
        .import(
            "revenue",
            ImportRequest {
                csv: csv(2),
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at least 3"), "{e}");
    assert!(matches!(
        k.import(
            "Revenue!",
            ImportRequest {
                csv: csv(10),
                ..ImportRequest::default()
            }
        )
        .await,
        Err(ForecastError::BadInput(_))
    ));
    assert!(
        k.import(
            COST_SERIES,
            ImportRequest {
                csv: csv(10),
                ..ImportRequest::default()
            }
        )
        .await
        .unwrap_err()
        .to_string()
        .contains("read-only")
    );
    // Imported; a second file merges (its values win), a replace removes the rest.
    let done = k
        .import(
            "revenue",
            ImportRequest {
                csv: csv(120),
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(done.imported);
    let info = k.info("revenue").await.unwrap();
    assert_eq!(info.points, 120);
    let mut changed =
        String::from("date,value\n2026-06-01,1\n2026-06-01,3\n2026-06-02,5\n2026-06-03,7\n");
    let r = k
        .import(
            "revenue",
            ImportRequest {
                csv: changed.clone(),
                dry_run: true,
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            r.points,
            r.new_points,
            r.changed_points,
            r.report.duplicates
        ),
        (3, 0, 3, 1)
    );
    assert_eq!(r.head[0].value, 2.0, "duplicates averaged");
    changed.push_str("2026-06-04,9\n");
    let r = k
        .import(
            "revenue",
            ImportRequest {
                csv: changed,
                replace: true,
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.removed_points, 116);
    assert_eq!(k.info("revenue").await.unwrap().points, 4);
    let ev = events(&store).await;
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, ForecastEvent::SeriesUpdated { imported: true, .. }))
            .count(),
        2
    );
    k.remove("revenue").await.unwrap();
    assert!(matches!(
        k.remove("revenue").await,
        Err(ForecastError::NotFound(_))
    ));
}

#[tokio::test]
async fn pushed_points_outside_the_forecast_are_flagged_once_with_their_event() {
    let dir = tempfile::tempdir().unwrap();
    let (store, k, _) = kpis(dir.path(), "2026-12-01T00:00:00Z").await;
    k.import(
        "orders",
        ImportRequest {
            csv: csv(150),
            ..ImportRequest::default()
        },
    )
    .await
    .unwrap();
    let f = k.forecast("orders", Some(14), None).await.unwrap();
    assert_eq!(f.forecast.rows.len(), 14);
    assert!(!f.forecast.backtest.is_empty());
    assert!(f.history.len() >= 42);
    let next = f.forecast.rows[0].clone();
    let after = f.forecast.rows[1].clone();
    // An ordinary next point passes; a spike is flagged.
    let ok = k
        .push(
            "orders",
            PushRequest {
                points: vec![Point {
                    ds: next.ds,
                    value: next.mean,
                }],
                description: None,
                unit: None,
            },
        )
        .await
        .unwrap();
    assert!(ok.anomalies.is_empty() && !ok.created, "{ok:?} {next:?}");
    let spike = k
        .push(
            "orders",
            PushRequest {
                points: vec![Point {
                    ds: after.ds,
                    value: after.hi95 * 3.0,
                }],
                description: None,
                unit: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(spike.anomalies.len(), 1, "{spike:?}");
    assert_eq!(spike.anomalies[0].source, AnomalySource::Forecast);
    let listed = k.anomalies("orders", 10).await.unwrap();
    assert!(listed.iter().any(|a| a.ds == after.ds));
    // A re-push of the same point is not flagged twice.
    let again = k
        .push(
            "orders",
            PushRequest {
                points: vec![Point {
                    ds: after.ds,
                    value: after.hi95 * 3.0,
                }],
                description: None,
                unit: None,
            },
        )
        .await
        .unwrap();
    assert!(again.anomalies.is_empty());
    let flagged = events(&store)
        .await
        .into_iter()
        .filter(|e| matches!(e, ForecastEvent::Anomaly(a) if a.ds == after.ds))
        .count();
    assert_eq!(flagged, 1);
    // Bad pushes.
    for bad in [
        vec![],
        vec![Point {
            ds: after.ds,
            value: f64::NAN,
        }],
    ] {
        assert!(matches!(
            k.push(
                "orders",
                PushRequest {
                    points: bad,
                    description: None,
                    unit: None
                }
            )
            .await,
            Err(ForecastError::BadInput(_))
        ));
    }
    // A pushed series is made on the first push; unknown ones are not found.
    let made = k
        .push(
            "tickets",
            PushRequest {
                points: vec![Point {
                    ds: after.ds,
                    value: 3.0,
                }],
                description: Some("Support tickets".into()),
                unit: None,
            },
        )
        .await
        .unwrap();
    assert!(made.created);
    let short = k.forecast("tickets", None, None).await.unwrap_err();
    assert_eq!(short.code(), crate::ErrorCode::SeriesTooShort);
    assert!(short.to_string().contains("at least 3"), "{short}");
    assert!(matches!(
        k.forecast("nope", None, None).await,
        Err(ForecastError::NotFound(_))
    ));
    // The built-in spend series is listed first, empty here.
    let all = k.list().await.unwrap();
    assert_eq!(all[0].name, COST_SERIES);
    assert!(all[0].builtin);
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn goals_have_a_probability_and_notify_once_when_at_risk() {
    let dir = tempfile::tempdir().unwrap();
    let (store, k, _) = kpis(dir.path(), "2026-10-29T12:00:00Z").await;
    k.import(
        "revenue",
        ImportRequest {
            csv: csv(150),
            ..ImportRequest::default()
        },
    )
    .await
    .unwrap();
    let due: DateTime<Utc> = "2026-11-20T00:00:00Z".parse().unwrap();
    let f = k.forecast("revenue", Some(30), None).await.unwrap();
    let at_due = f
        .forecast
        .rows
        .iter()
        .rev()
        .find(|r| r.ds <= due)
        .unwrap()
        .clone();
    let set = |name: &str, target: f64, direction| GoalRequest {
        name: name.into(),
        series: "revenue".into(),
        target,
        due,
        direction,
        alert_below: Some(0.5),
    };
    // Easy: well under the expected value; hard: far above it.
    let easy = k
        .set_goal(set("easy", at_due.lo95 * 0.5, Direction::AtLeast))
        .await
        .unwrap();
    assert!(easy.probability.unwrap() > 0.97, "{easy:?}");
    assert!(!easy.at_risk);
    let hard = k
        .set_goal(set("hard", at_due.hi95 * 2.0, Direction::AtLeast))
        .await
        .unwrap();
    assert!(hard.probability.unwrap() < 0.03, "{hard:?}");
    assert!(hard.at_risk);
    // At the mean: about even.
    let even = k
        .set_goal(set("even", at_due.mean, Direction::AtMost))
        .await
        .unwrap();
    assert!((even.probability.unwrap() - 0.5).abs() < 0.02, "{even:?}");
    assert!(even.progress.is_some() && even.current.is_some());
    // Evaluated again: no second notification.
    let all = k.goals().await.unwrap();
    assert_eq!(all.len(), 3);
    let risk: Vec<_> = events(&store)
        .await
        .into_iter()
        .filter(|e| matches!(e, ForecastEvent::Goal { at_risk: true, .. }))
        .collect();
    assert_eq!(risk.len(), 1, "{risk:?}");
    // Bad goals.
    assert!(matches!(
        k.set_goal(GoalRequest {
            series: "nope".into(),
            ..set("x", 1.0, Direction::AtLeast)
        })
        .await,
        Err(ForecastError::NotFound(_))
    ));
    assert!(matches!(
        k.set_goal(GoalRequest {
            due: "2020-01-01T00:00:00Z".parse().unwrap(),
            ..set("x", 1.0, Direction::AtLeast)
        })
        .await,
        Err(ForecastError::BadInput(_))
    ));
    assert!(matches!(
        k.set_goal(GoalRequest {
            alert_below: Some(2.0),
            ..set("x", 1.0, Direction::AtLeast)
        })
        .await,
        Err(ForecastError::BadInput(_))
    ));
    k.remove_goal("hard").await.unwrap();
    assert!(matches!(
        k.goal("hard").await,
        Err(ForecastError::NotFound(_))
    ));
}

#[test]
fn probability_reads_the_interval_as_a_normal_distribution() {
    let row = super::ForecastRow {
        ds: "2026-12-01T00:00:00Z".parse().unwrap(),
        mean: 100.0,
        lo80: 90.0,
        hi80: 110.0,
        lo95: 80.0,
        hi95: 120.0,
    };
    let p = |t| super::goals::probability(&row, t, Direction::AtLeast);
    assert!((p(100.0) - 0.5).abs() < 1e-9);
    assert!((p(110.0) - 0.10).abs() < 1e-3);
    assert!((p(90.0) - 0.90).abs() < 1e-3);
    assert!((p(120.0) - 0.025).abs() < 1e-3);
    assert!((super::goals::probability(&row, 120.0, Direction::AtMost) - 0.975).abs() < 1e-3);
}

#[tokio::test]
async fn history_outliers_are_flagged_once_and_forgotten_when_their_point_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, k, _) = kpis(dir.path(), "2026-12-01T00:00:00Z").await;
    // 200 days of visits: a weekly shape that grows with the level, 3 % noise; day 60
    // (2026-07-31) two and a half times what it should be, far from the end.
    let start: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    let mut g = crate::test_rng::Lcg(3);
    let rows: Vec<(String, f64)> = (0..200)
        .map(|i| {
            let noise = g.normal();
            let w = [1.0, 1.1, 1.2, 1.15, 1.3, 0.6, 0.5][i % 7];
            let v = (100.0 + i as f64 * 0.5) * w * (1.0 + 0.03 * noise);
            let d = start + Duration::days(i as i64);
            (
                d.format("%Y-%m-%d").to_string(),
                (v * 1000.0).round() / 1000.0,
            )
        })
        .collect();
    let file = |spike: f64| {
        rows.iter()
            .enumerate()
            .fold(String::from("date,value\n"), |acc, (i, (d, v))| {
                acc + &format!("{d},{}\n", if i == 60 { v * spike } else { *v })
            })
    };
    let (date, value) = rows[60].clone();
    let (spiked, clean) = (file(2.5), file(1.0));
    let import = |csv: String| ImportRequest {
        csv,
        ..ImportRequest::default()
    };
    k.import("visits", import(spiked.clone())).await.unwrap();
    let f = k.forecast("visits", Some(14), None).await.unwrap();
    let at: DateTime<Utc> = format!("{date}T00:00:00Z").parse().unwrap();
    let history: Vec<&Anomaly> = f
        .anomalies
        .iter()
        .filter(|a| a.source == AnomalySource::History)
        .collect();
    assert_eq!(history.len(), 1, "{history:?}");
    let a = history[0];
    assert_eq!(a.ds, at);
    assert!((a.value - value * 2.5).abs() < 1e-9, "{a:?}");
    assert!(
        (a.expected - value).abs() < 0.1 * value,
        "{a:?} expected near {value}"
    );
    assert!(a.value > a.hi95 && a.lo95 < a.expected);
    // Once, with its event; a second look finds nothing new.
    k.forecast("visits", Some(14), None).await.unwrap();
    let flagged = |evs: Vec<ForecastEvent>| {
        evs.into_iter()
            .filter(
                |e| matches!(e, ForecastEvent::Anomaly(a) if a.source == AnomalySource::History),
            )
            .count()
    };
    assert_eq!(flagged(events(&store).await), 1);
    // Removed and imported again as it was: checked again, flagged again.
    k.remove("visits").await.unwrap();
    k.import("visits", import(spiked.clone())).await.unwrap();
    let f = k.forecast("visits", Some(14), None).await.unwrap();
    assert!(
        f.anomalies
            .iter()
            .any(|a| a.source == AnomalySource::History && a.ds == at),
        "{:?}",
        f.anomalies
    );
    assert_eq!(flagged(events(&store).await), 2);
    // The point corrected by a new import: its anomaly goes, and no other comes.
    k.import("visits", import(clean)).await.unwrap();
    assert!(
        k.anomalies("visits", 100)
            .await
            .unwrap()
            .iter()
            .all(|a| a.ds != at)
    );
    let f = k.forecast("visits", Some(14), None).await.unwrap();
    assert!(
        f.anomalies
            .iter()
            .all(|a| a.source != AnomalySource::History),
        "{:?}",
        f.anomalies
    );
    assert_eq!(flagged(events(&store).await), 2);
}
