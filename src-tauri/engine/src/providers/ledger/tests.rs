use super::*;
use crate::clock::ManualClock;

fn record(id: &str, at: DateTime<Utc>) -> CallRecord {
    let mut r = CallRecord::start(
        id.into(),
        at,
        "token:ci".into(),
        "default".into(),
        "node-1".into(),
        Protocol::Openai,
        false,
    );
    r.route = Some("default".into());
    r
}

async fn open(
    dir: &std::path::Path,
    clock: SharedClock,
) -> (Store, Ledger, tokio_util::task::TaskTracker) {
    let store = Store::open(dir).await.unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    let ledger = Ledger::open(
        store.clone(),
        clock,
        dir,
        &tracker,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    (store, ledger, tracker)
}

#[tokio::test]
async fn finished_calls_are_committed_with_every_field_and_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let at: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(at));
    let (_store, ledger, _t) = open(dir.path(), clock).await;
    let mut expected = Vec::new();
    for i in 0..3 {
        let ticket = ledger.begin(record(&format!("c{i}"), at)).unwrap();
        let mut r = record(&format!("c{i}"), at);
        r.finished_at = Some(at);
        r.provider = Some("openai".into());
        r.model = Some("gpt-4.1-mini".into());
        r.usage = Usage {
            input: 1 + i,
            output: 2,
            cached_input: 3,
            cache_write: 4,
            reasoning: 5,
            estimated: i == 1,
        };
        r.cost = Some("0.000123".parse().unwrap());
        r.price_source = Some(PriceSourceName::Config);
        r.outcome = CallOutcome::Ok;
        r.latency_us = 1234;
        r.ttft_us = Some(99);
        r.saved_cost = None;
        r.hops = vec![Hop {
            provider: "openai".into(),
            model: "gpt-4.1-mini".into(),
            outcome: HopOutcome::Ok,
            error_code: None,
            reason: None,
            attempts: 1,
            latency_us: 1200,
        }];
        ticket.finish(r.clone());
        expected.push(r);
    }
    ledger.flush().await;
    let listed = ledger.list(CallFilter::default(), None, 10).await.unwrap();
    let got: Vec<CallRecord> = listed.iter().map(|(_, r)| r.clone()).collect();
    expected.reverse();
    assert_eq!(got, expected);
    let page = ledger
        .list(CallFilter::default(), Some(listed[0].0), 1)
        .await
        .unwrap();
    assert_eq!(page[0].1.id, "c1");
    let f = CallFilter {
        outcome: Some(CallOutcome::Error),
        ..CallFilter::default()
    };
    assert!(ledger.list(f, None, 10).await.unwrap().is_empty());
    assert_eq!(ledger.get("c2").await.unwrap(), expected[0]);
}

#[tokio::test]
async fn a_dropped_ticket_is_recorded_as_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let at: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
    let (_store, ledger, _t) = open(dir.path(), Arc::new(ManualClock::new(at))).await;
    drop(ledger.begin(record("gone", at)).unwrap());
    ledger.flush().await;
    let r = ledger.get("gone").await.unwrap();
    assert_eq!(
        (r.outcome, r.error_code.as_deref()),
        (CallOutcome::Cancelled, Some("cancelled"))
    );
}

#[tokio::test]
async fn a_journal_left_by_a_crash_is_recovered_without_doubles() {
    let dir = tempfile::tempdir().unwrap();
    let at: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
    let jdir = dir.path().join("ledger-journal");
    {
        // What a killed node leaves: a committed call (in the table and still in the
        // journal), a finished but uncommitted one, one in flight, and a torn line.
        let store = Store::open(dir.path()).await.unwrap();
        let mut committed = record("committed", at);
        committed.outcome = CallOutcome::Ok;
        let c2 = committed.clone();
        store
            .write(move |tx| recorder::insert(tx, &c2, false))
            .await
            .unwrap();
        store.close().await;
        let mut j = journal::Journal::open(&jdir).unwrap();
        j.append(&journal::Entry::Begin(Box::new(record("committed", at))))
            .unwrap();
        j.append(&journal::Entry::End(Box::new(committed))).unwrap();
        let mut done = record("finished", at);
        done.outcome = CallOutcome::Ok;
        done.usage.output = 42;
        j.append(&journal::Entry::Begin(Box::new(record("finished", at))))
            .unwrap();
        j.append(&journal::Entry::Begin(Box::new(record("inflight", at))))
            .unwrap();
        j.append(&journal::Entry::End(Box::new(done))).unwrap();
        use std::io::Write;
        let seg = std::fs::read_dir(&jdir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::OpenOptions::new()
            .append(true)
            .open(seg)
            .unwrap()
            .write_all(b"{\"begin\":{\"id\":\"to")
            .unwrap();
    }
    let (_store, ledger, _t) = open(dir.path(), Arc::new(ManualClock::new(at))).await;
    let all = ledger.list(CallFilter::default(), None, 10).await.unwrap();
    let mut ids: Vec<(String, CallOutcome)> =
        all.iter().map(|(_, r)| (r.id.clone(), r.outcome)).collect();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ids,
        vec![
            ("committed".into(), CallOutcome::Ok),
            ("finished".into(), CallOutcome::Ok),
            ("inflight".into(), CallOutcome::Unrecorded),
        ]
    );
    assert_eq!(ledger.get("finished").await.unwrap().usage.output, 42);
    // The old segments are gone; only the fresh, empty one is left.
    assert_eq!(std::fs::read_dir(&jdir).unwrap().count(), 1);
}

#[test]
fn committed_segments_are_removed_once_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = journal::Journal::open(dir.path()).unwrap();
    let at: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
    let mut r = record("x", at);
    r.error_message = Some("y".repeat(200_000));
    let mut segs = Vec::new();
    for _ in 0..25 {
        segs.push(j.append(&journal::Entry::End(Box::new(r.clone()))).unwrap());
    }
    assert!(j.segment_count() > 1);
    j.committed(segs);
    assert_eq!(j.segment_count(), 1);
}
