//! Tests of reports: the HTML is self-contained (no URL but `data:`), the PDF has pages, a
//! scheduled report is made once per period on the injected clock, also across a restart,
//! and a delivery that fails is kept on the report with its error.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::config::ConfigSource;
use crate::forecast::kpi::ImportRequest;

async fn reports(dir: &std::path::Path, clock: SharedClock, toml: &str) -> (Store, Reports) {
    let config: Config = toml::from_str(toml).unwrap();
    config.validate(None).unwrap();
    let store = Store::open(dir).await.unwrap();
    let handle = ConfigHandle::new(config, ConfigSource::default(), clock.clone());
    let r = Reports::on_store(store.clone(), clock, handle, None, "node-test".into());
    (store, r)
}

fn csv() -> String {
    let mut s = String::from("date,value\n");
    let start: DateTime<Utc> = "2026-09-01T00:00:00Z".parse().unwrap();
    for i in 0..95 {
        let w = [1.0, 1.1, 1.2, 1.15, 1.3, 0.6, 0.5][i % 7];
        s.push_str(&format!(
            "{},{}\n",
            (start + Duration::days(i as i64)).format("%Y-%m-%d"),
            (300.0 + i as f64) * w
        ));
    }
    s
}

#[tokio::test]
async fn a_report_is_self_contained_html_and_a_pdf_with_pages() {
    let dir = tempfile::tempdir().unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new("2026-12-07T09:00:00Z".parse().unwrap()));
    let (_store, r) = reports(
        dir.path(),
        clock,
        "[budgets.month]\nlimit_usd = 100\nperiod = \"monthly\"\n[health_score.revenue]\ntarget = 500\n",
    )
    .await;
    r.inner
        .kpis
        .import(
            "revenue",
            ImportRequest {
                csv: csv(),
                unit: Some("USD".into()),
                ..ImportRequest::default()
            },
        )
        .await
        .unwrap();
    let rec = r
        .generate(&ReportRequest {
            period: Period::Week,
            to_date: false,
            formats: None,
            deliver: false,
        })
        .await
        .unwrap();
    // Last complete week: Monday 30 November to Monday 7 December (UTC).
    assert_eq!(
        rec.from,
        "2026-11-30T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(
        rec.until,
        "2026-12-07T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(rec.files.len(), 2);
    let html = String::from_utf8(r.file(&rec.id, ReportFormat::Html).await.unwrap()).unwrap();
    assert!(
        html.contains("Flightdeck weekly report, 30 November to 6 December 2026"),
        "{}",
        &html[..400]
    );
    assert!(html.contains("default-src 'none'"));
    // No URL but data: ones in any src or href.
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            assert!(
                part.starts_with("data:"),
                "{attr}{}",
                &part[..40.min(part.len())]
            );
        }
    }
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("url("));
    // The KPI's forecast chart; no spend chart (no spend: the tile says $0).
    assert_eq!(html.matches("<img").count(), 1);
    assert!(html.contains("revenue: history, forecast") && !html.contains("Spend by agent"));
    assert!(html.contains("revenue") && html.contains("month"));
    let pdf = r.file(&rec.id, ReportFormat::Pdf).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let pages = rec
        .files
        .iter()
        .find(|f| f.format == ReportFormat::Pdf)
        .unwrap()
        .pages
        .unwrap();
    assert!(pages >= 1, "{pages}");
    assert_eq!(r.list(10).await.unwrap().len(), 1);
    assert!(matches!(
        r.get("rep_nope").await,
        Err(ReportsError::NotFound(_))
    ));
    assert!(matches!(
        r.generate(&ReportRequest {
            period: Period::Day,
            to_date: true,
            formats: Some(vec![]),
            deliver: false
        })
        .await,
        Err(ReportsError::BadRequest(_))
    ));
    // Delivering with nothing configured says what to configure.
    assert!(
        r.deliver(&rec.id)
            .await
            .unwrap_err()
            .to_string()
            .contains("email_to")
    );
}

#[tokio::test]
async fn the_schedule_makes_each_period_once_on_the_clock_also_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let manual = Arc::new(ManualClock::new("2026-12-07T06:30:00Z".parse().unwrap()));
    let clock: SharedClock = manual.clone();
    let toml = "[reports]\nschedule = \"daily\"\nat_hour = 7\nformats = [\"html\"]\n";
    let first = {
        let (store, r) = reports(dir.path(), clock.clone(), toml).await;
        // Before 07:00 nothing is due.
        assert_eq!(r.run_schedule_once().await, None);
        assert_eq!(
            next_due(&r.inner.config.current(), manual.now()),
            Some("2026-12-07T07:00:00Z".parse().unwrap())
        );
        manual.set("2026-12-07T07:01:00Z".parse().unwrap());
        let id = r.run_schedule_once().await.unwrap();
        assert_eq!(r.run_schedule_once().await, None, "once per period");
        store.close().await;
        id
    };
    // A restart: still made once.
    let (_store, r) = reports(dir.path(), clock.clone(), toml).await;
    assert_eq!(r.run_schedule_once().await, None);
    let made = r.get(&first).await.unwrap();
    assert_eq!(made.trigger, Trigger::Schedule);
    assert_eq!(
        made.from,
        "2026-12-06T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert!(r.folder().join(&made.files[0].name).exists());
    // The next day, the next report.
    manual.set("2026-12-08T08:00:00Z".parse().unwrap());
    let second = r.run_schedule_once().await.unwrap();
    assert_ne!(second, first);
    assert_eq!(r.list(10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_failed_delivery_is_kept_on_the_report_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new("2026-12-07T09:00:00Z".parse().unwrap()));
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = format!(
        "[reports]\nformats = [\"html\"]\nmax_attempts = 1\nemail_to = [\"ops@example.com\"]\n\
         [reports.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"Flightdeck <fd@example.com>\"\ntimeout_secs = 5\n"
    );
    let (store, r) = reports(dir.path(), clock, &toml).await;
    let e = r
        .generate(&ReportRequest {
            period: Period::Day,
            to_date: false,
            formats: None,
            deliver: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::DeliveryFailed);
    assert!(
        e.to_string().contains("is kept") && e.to_string().contains("SMTP"),
        "{e}"
    );
    let listed = r.list(1).await.unwrap();
    let email = listed[0].email.clone().unwrap();
    assert_eq!((email.state, email.attempts), (DeliveryState::Failed, 1));
    assert!(email.error.unwrap().contains(&port.to_string()));
    assert!(
        r.folder().join(&listed[0].files[0].name).exists(),
        "the report stays"
    );
    let events: i64 = store
        .read(|db| {
            db.query_one(
                "SELECT COUNT(*) FROM events WHERE topic = 'reports'",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(events, 2, "made, and its delivery failed");
    // Bad settings are refused with their keys.
    for (bad, key) in [
        ("[reports]\nat_hour = 25\n", "reports.at_hour"),
        (
            "[reports]\nemail_to = [\"not an address\"]\n[reports.smtp]\nhost = \"h\"\nfrom = \"a@b.c\"\n",
            "reports.email_to[0]",
        ),
        ("[reports]\nemail_to = [\"a@b.c\"]\n", "reports.smtp"),
        (
            "[reports.smtp]\nhost = \"mail.example.com\"\nsecurity = \"none\"\nfrom = \"a@b.c\"\n",
            "reports.smtp.security",
        ),
    ] {
        let c: Config = toml::from_str(bad).unwrap();
        let err = c.validate(None).unwrap_err().to_string();
        assert!(err.contains(key), "{bad}: {err}");
    }
}
