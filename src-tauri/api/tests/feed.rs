//! The feed: a slow subscriber lags alone and is told (no socket); over a real socket, a
//! WebSocket ping before the auth message is ignored, and every session is counted until it
//! has sent its 1001 close, so a server that waits for the feeds can exit right after.

use flightdeck_api::feed::{FeedSession, Outgoing, ServerMessage};
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

/// The session's next message, typed.
async fn next(session: &mut FeedSession) -> Option<ServerMessage> {
    session.next().await.map(Outgoing::into_message)
}

#[tokio::test]
async fn a_slow_subscriber_lags_alone_and_is_told() {
    let dir = tempfile::tempdir().unwrap();
    // No metrics samples in the way: only the events this test publishes.
    let engine = crate::support::engine(dir.path(), |c| c.feed.metrics_interval_ms = 60_000).await;
    let mut slow = FeedSession::open(&engine, None, None).await.unwrap();
    let mut fast = FeedSession::open(&engine, None, None).await.unwrap();
    assert!(matches!(
        next(&mut slow).await,
        Some(ServerMessage::Welcome { .. })
    ));
    assert!(matches!(
        next(&mut fast).await,
        Some(ServerMessage::Welcome { .. })
    ));

    // The fast one keeps up with 1500 events; the slow one reads nothing meanwhile.
    let mut fast_seqs = Vec::new();
    for n in 0..1500 {
        engine.record(event(n)).await.unwrap();
        match next(&mut fast).await {
            Some(ServerMessage::Event(e)) => fast_seqs.push(e.seq),
            other => panic!("fast subscriber got {other:?}"),
        }
    }
    assert!(
        fast_seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap for the fast one"
    );

    // The slow one is told it lagged, then continues with the newest events in order.
    match next(&mut slow).await {
        Some(ServerMessage::Error { code, message }) => {
            assert_eq!(code, ErrorCode::FeedLagged);
            assert!(message.contains("dropped"), "{message}");
        }
        other => panic!("expected feed_lagged, got {other:?}"),
    }
    let mut last = 0;
    let mut received = 0;
    while let Ok(Some(ServerMessage::Event(e))) =
        tokio::time::timeout(std::time::Duration::from_millis(200), next(&mut slow)).await
    {
        assert!(e.seq > last);
        last = e.seq;
        received += 1;
    }
    assert!(received > 0 && received < 1500, "received {received}");
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

/// Reads frames until the close frame; its code (`None`: the stream ended without one).
async fn close_code(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<u16> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("no frame within 10 s");
        match msg {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// The server runs on a current-thread runtime of its own, dropped (as a process exit would
/// drop it) as soon as `FeedTasks::closed` returns after the engine's token is cancelled: the
/// feed tasks get no other chance to run, yet both feeds, the authenticated one and the one
/// still before its auth message, have their 1001.
#[tokio::test]
async fn every_feed_has_its_close_sent_when_the_feeds_are_closed() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let engine = crate::support::engine(&path, |_| {}).await;
            let (app, feeds) =
                flightdeck_api::router_with_feeds(engine.clone(), crate::support::options());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            ready_tx.send((addr, feeds.clone())).unwrap();
            let _ = stop_rx.await;
            engine.shutdown_token().cancel();
            feeds.closed().await;
        });
        // `rt` drops here with every task still on it.
    });
    let (addr, feeds) = ready_rx.await.unwrap();
    assert!(feeds.is_empty());

    let url = format!("ws://{addr}/api/v1/feed");
    let (mut authed, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    authed
        .send(Message::text(format!(
            r#"{{"type":"auth","token":"{}","resume_from":null}}"#,
            crate::support::TOKEN
        )))
        .await
        .unwrap();
    let welcome = loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), authed.next())
            .await
            .expect("no frame within 10 s")
            .expect("closed")
            .unwrap();
        if let Message::Text(t) = msg {
            break serde_json::from_str::<serde_json::Value>(&t).unwrap();
        }
    };
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let (mut waiting, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    // Counted from before the 101 each client has already seen.
    assert_eq!(feeds.len(), 2);

    stop_tx.send(()).unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::task::spawn_blocking(move || server.join()),
    )
    .await
    .expect("the feeds close once the engine's token is cancelled")
    .unwrap()
    .unwrap();
    assert!(feeds.is_empty());

    assert_eq!(close_code(&mut authed).await, Some(1001));
    assert_eq!(close_code(&mut waiting).await, Some(1001));
}
