//! The feed protocol over channels on paused time: auth timeout, control frames before auth,
//! and the liveness check. Deterministic: the only clock is tokio's, advanced by the runtime.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::ws::Message;
use futures_util::{Sink, Stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Duration;

use super::*;
use crate::tests::{TOKEN, engine, state};

/// The server's end of an in-memory WebSocket.
struct TestSocket {
    rx: mpsc::UnboundedReceiver<Message>,
    tx: mpsc::UnboundedSender<Message>,
}

impl Stream for TestSocket {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|m| m.map(Ok))
    }
}

impl Sink<Message> for TestSocket {
    type Error = axum::Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        let _ = self.tx.send(item);
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's end.
struct Client {
    tx: mpsc::UnboundedSender<Message>,
    rx: mpsc::UnboundedReceiver<Message>,
}

impl Client {
    fn send_json(&self, v: Value) {
        self.tx.send(Message::Text(v.to_string().into())).unwrap();
    }

    fn auth(&self) {
        self.send_json(json!({"type": "auth", "token": TOKEN, "resume_from": null}));
    }

    async fn recv(&mut self) -> Message {
        self.rx
            .recv()
            .await
            .expect("the server hung up without a close frame")
    }

    /// The next text frame as JSON, skipping pings.
    async fn next_json(&mut self) -> Value {
        loop {
            match self.recv().await {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Ping(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }
}

fn connect(state: AppState) -> Client {
    connect_from(state, None)
}

fn connect_from(state: AppState, ip: Option<std::net::IpAddr>) -> Client {
    let (client_tx, server_rx) = mpsc::unbounded_channel();
    let (server_tx, client_rx) = mpsc::unbounded_channel();
    tokio::spawn(run(
        TestSocket {
            rx: server_rx,
            tx: server_tx,
        },
        state,
        ip,
    ));
    Client {
        tx: client_tx,
        rx: client_rx,
    }
}

fn close_code(msg: &Message) -> Option<u16> {
    match msg {
        Message::Close(Some(frame)) => Some(frame.code),
        _ => None,
    }
}

#[tokio::test]
async fn a_silent_client_is_refused_after_the_auth_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    tokio::time::pause();
    let mut client = connect(state(engine.clone()));
    assert!(
        tokio::time::timeout(AUTH_TIMEOUT - Duration::from_secs(1), client.rx.recv())
            .await
            .is_err(),
        "nothing before the timeout"
    );
    let err = client.next_json().await;
    assert_eq!(err["code"], "unauthorized");
    assert!(err["message"].as_str().unwrap().contains("10 s"), "{err}");
    assert_eq!(close_code(&client.recv().await), Some(CLOSE_UNAUTHORIZED));
    tokio::time::resume();
    engine.shutdown().await;
}

#[tokio::test]
async fn control_frames_before_auth_are_ignored_but_data_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    tokio::time::pause();
    let mut client = connect(state(engine.clone()));
    client.tx.send(Message::Ping(vec![1].into())).unwrap();
    client.tx.send(Message::Pong(Default::default())).unwrap();
    client.auth();
    let welcome = client.next_json().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");

    let mut binary = connect(state(engine.clone()));
    binary.tx.send(Message::Binary(vec![1].into())).unwrap();
    let err = binary.next_json().await;
    assert_eq!(err["code"], "unauthorized");
    assert_eq!(err["message"], "expected an auth message");
    assert_eq!(close_code(&binary.recv().await), Some(CLOSE_UNAUTHORIZED));
    tokio::time::resume();
    engine.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    tokio::time::pause();

    // Silent after auth: pinged at 20 s and 40 s, closed at 60 s.
    let mut silent = connect(state(engine.clone()));
    silent.auth();
    assert_eq!(silent.next_json().await["type"], "welcome");
    let mut pings = 0;
    let close = loop {
        match silent.recv().await {
            Message::Ping(_) => pings += 1,
            Message::Close(frame) => break frame.unwrap(),
            Message::Text(_) => {} // metrics events
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close.code, CLOSE_IDLE);
    assert!(close.reason.contains("no pong"), "{}", close.reason);
    assert_eq!(pings, 2, "closed after 3 ping intervals of silence");

    // One that answers every ping stays, however long it listens.
    let mut alive = connect(state(engine.clone()));
    alive.auth();
    assert_eq!(alive.next_json().await["type"], "welcome");
    let mut pongs = 0;
    let listen = async {
        loop {
            match alive.recv().await {
                Message::Ping(p) => {
                    alive.tx.send(Message::Pong(p)).unwrap();
                    pongs += 1;
                }
                Message::Text(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    let _ = tokio::time::timeout(IDLE_LIMIT * 5, listen).await;
    assert!(pongs >= 10, "{pongs} pings answered");
    tokio::time::resume();
    engine.shutdown().await;
    loop {
        let msg = alive.recv().await;
        if let Message::Close(_) = msg {
            assert_eq!(close_code(&msg), Some(1001));
            break;
        }
    }
}

/// The feed checks tokens as the API does: named tokens of any scope are accepted, and
/// failures count towards the same per-address lockout (which then refuses even a good
/// token until it ends).
#[tokio::test]
async fn the_feed_accepts_named_tokens_and_shares_the_lockout() {
    use flightdeck_engine::identity::Scope;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let reader = engine
        .identity()
        .create("feed-reader", Scope::Read, None, "test")
        .await
        .unwrap();
    let state = state(engine.clone());
    let ip: std::net::IpAddr = "192.0.2.7".parse().unwrap();

    let mut named = connect_from(state.clone(), Some(ip));
    named.send_json(json!({"type": "auth", "token": reader.token, "resume_from": null}));
    assert_eq!(named.next_json().await["type"], "welcome");

    for _ in 0..crate::auth::FAILURES_ALLOWED {
        let mut wrong = connect_from(state.clone(), Some(ip));
        wrong.send_json(json!({"type": "auth", "token": "fdt_wrong", "resume_from": null}));
        assert_eq!(wrong.next_json().await["code"], "unauthorized");
        assert_eq!(close_code(&wrong.recv().await), Some(CLOSE_UNAUTHORIZED));
    }
    let mut locked = connect_from(state.clone(), Some(ip));
    locked.auth();
    let err = locked.next_json().await;
    assert_eq!(err["code"], "too_many_auth_failures", "{err}");
    assert_eq!(close_code(&locked.recv().await), Some(CLOSE_UNAUTHORIZED));
    // The HTTP side sees the same lockout for this address.
    assert!(
        state
            .auth_failures
            .locked_for(ip, std::time::Instant::now())
            .is_some()
    );
    // Another address is not affected.
    let mut other = connect_from(state.clone(), Some("192.0.2.8".parse().unwrap()));
    other.auth();
    assert_eq!(other.next_json().await["type"], "welcome");
    let failures = engine.metrics().render().unwrap();
    assert!(
        failures.contains("flightdeck_auth_failures_total{reason=\"wrong\"} 10"),
        "{failures}"
    );
    engine.shutdown().await;
}

/// A first message that is not a client message is bad input, said as such (then closed, as
/// no authentication happened).
#[tokio::test]
async fn a_malformed_first_message_is_invalid_json() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    for text in ["not json", r#"{"type":"auth"}"#, r#"{"type":"subscribe"}"#] {
        let mut client = connect(state(engine.clone()));
        client.tx.send(Message::Text(text.into())).unwrap();
        let err = client.next_json().await;
        assert_eq!(err["code"], "invalid_json", "{text}: {err}");
        assert!(err["message"].as_str().unwrap().contains("auth"), "{err}");
        assert_eq!(close_code(&client.recv().await), Some(CLOSE_UNAUTHORIZED));
    }
    engine.shutdown().await;
}
