//! The feed session without a socket: a slow subscriber lags alone and is told so.

use flightdeck_api::feed::{FeedSession, ServerMessage};
use flightdeck_engine::ErrorCode;
use flightdeck_engine::events::{ConfigEvent, ConfigOutcome, Event};

fn event(n: usize) -> Event {
    Event::Config(ConfigEvent {
        outcome: ConfigOutcome::Applied,
        path: None,
        message: format!("event {n}"),
        changed: Vec::new(),
        restart_required: Vec::new(),
    })
}

#[tokio::test]
async fn a_slow_subscriber_lags_alone_and_is_told() {
    let dir = tempfile::tempdir().unwrap();
    // No metrics samples in the way: only the events this test publishes.
    let engine = crate::support::engine(dir.path(), |c| c.feed.metrics_interval_ms = 60_000).await;
    let mut slow = FeedSession::open(&engine, None);
    let mut fast = FeedSession::open(&engine, None);
    assert!(matches!(
        slow.next().await,
        Some(ServerMessage::Welcome { .. })
    ));
    assert!(matches!(
        fast.next().await,
        Some(ServerMessage::Welcome { .. })
    ));

    // The fast one keeps up with 1000 events; the slow one reads nothing meanwhile.
    let mut fast_seqs = Vec::new();
    for n in 0..1000 {
        engine.publish(event(n));
        match fast.next().await {
            Some(ServerMessage::Event(e)) => fast_seqs.push(e.seq),
            other => panic!("fast subscriber got {other:?}"),
        }
    }
    assert!(
        fast_seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap for the fast one"
    );

    // The slow one is told it lagged, then continues with the newest events in order.
    match slow.next().await {
        Some(ServerMessage::Error { code, message }) => {
            assert_eq!(code, ErrorCode::FeedLagged);
            assert!(message.contains("dropped"), "{message}");
        }
        other => panic!("expected feed_lagged, got {other:?}"),
    }
    let mut last = 0;
    let mut received = 0;
    while let Ok(Some(ServerMessage::Event(e))) =
        tokio::time::timeout(std::time::Duration::from_millis(200), slow.next()).await
    {
        assert!(e.seq > last);
        last = e.seq;
        received += 1;
    }
    assert!(received > 0 && received < 1000, "received {received}");
    assert_eq!(
        last,
        *fast_seqs.last().unwrap(),
        "it catches up to the newest event"
    );
    engine.shutdown().await;
}
