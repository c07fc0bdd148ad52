//! The feed: a slow subscriber lags alone and is told (no socket); over a real socket, a
//! WebSocket ping before the auth message is ignored.

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

/// Over a real socket: a client's WebSocket ping before its auth message is not taken as the
/// auth message.
#[tokio::test]
async fn a_ping_before_auth_is_ignored() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let engine = crate::support::engine(dir.path(), |_| {}).await;
    let app = flightdeck_api::router(engine.clone(), crate::support::options());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/feed"))
        .await
        .unwrap();
    ws.send(Message::Ping(vec![7].into())).await.unwrap();
    ws.send(Message::text(format!(
        r#"{{"type":"auth","token":"{}","resume_from":null}}"#,
        crate::support::TOKEN
    )))
    .await
    .unwrap();
    let first_text = loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("no frame within 10 s")
            .expect("closed")
            .unwrap();
        match msg {
            Message::Text(t) => break serde_json::from_str::<serde_json::Value>(&t).unwrap(),
            Message::Pong(p) => assert_eq!(p.as_ref(), [7]),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(first_text["type"], "welcome", "{first_text}");
    engine.shutdown().await;
    server.abort();
}
