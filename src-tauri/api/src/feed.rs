//! The live feed: the event bus as a stream of [`ServerMessage`]s, over a WebSocket for
//! browsers and fleet clients, and (through [`FeedSession`]) over a Tauri channel for the
//! desktop.
//!
//! Protocol (WebSocket `/api/v1/feed`): the client's first message must be
//! `{"type":"auth","token":"…","resume_from":N|null}` within 10 s (browsers cannot set headers
//! on WebSockets); the server answers `welcome` (with `resumed`: whether events after N were
//! replayed; if not, the client should refetch its state), then `event`s in `seq` order. A gap
//! in `seq` means this client lagged and lost events (an `error` with code `feed_lagged` says
//! so). `{"type":"ping"}` gets `{"type":"pong"}`; the server also sends WebSocket pings.
//!
//! Invariants: a slow client never slows the bus or other clients (bounded per-subscriber
//! buffer); sessions end when the engine shuts down.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use flightdeck_engine::events::FeedEvent;
use flightdeck_engine::telemetry::SubscriberGuard;
use flightdeck_engine::{Engine, ErrorCode};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use ts_rs::TS;
use utoipa::ToSchema;

use crate::AppState;

const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
/// A client that does not accept a frame for this long is disconnected.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Close code for a failed authentication (application range 4000-4999).
pub const CLOSE_UNAUTHORIZED: u16 = 4401;

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        node_id: String,
        /// The last sequence number published before this session started.
        #[ts(type = "number")]
        seq: u64,
        resumed: bool,
    },
    Event(FeedEvent),
    Pong,
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Auth {
        token: String,
        #[ts(type = "number | null")]
        #[serde(default)]
        resume_from: Option<u64>,
    },
    Ping,
}

/// One subscriber's view of the bus.
pub struct FeedSession {
    replay: VecDeque<FeedEvent>,
    receiver: tokio::sync::broadcast::Receiver<std::sync::Arc<FeedEvent>>,
    welcome: Option<ServerMessage>,
    _subscriber: SubscriberGuard,
}

impl FeedSession {
    /// Subscribes to the engine's bus, resuming after `resume_from` when possible.
    pub fn open(engine: &Engine, resume_from: Option<u64>) -> Self {
        let sub = engine.events().subscribe(resume_from);
        Self {
            replay: sub.replay.iter().map(|e| (**e).clone()).collect(),
            receiver: sub.receiver,
            welcome: Some(ServerMessage::Welcome {
                node_id: engine.node_id().to_string(),
                seq: sub.seq,
                resumed: sub.resumed,
            }),
            _subscriber: engine.metrics().feed_subscriber(),
        }
    }

    /// The next message: the welcome, then replayed events, then live ones. `None` when the
    /// bus is gone.
    pub async fn next(&mut self) -> Option<ServerMessage> {
        if let Some(w) = self.welcome.take() {
            return Some(w);
        }
        if let Some(e) = self.replay.pop_front() {
            return Some(ServerMessage::Event(e));
        }
        match self.receiver.recv().await {
            Ok(e) => Some(ServerMessage::Event((*e).clone())),
            Err(RecvError::Lagged(n)) => Some(ServerMessage::Error {
                code: ErrorCode::FeedLagged,
                message: format!(
                    "{n} events were dropped because this client fell behind; refetch state"
                ),
            }),
            Err(RecvError::Closed) => None,
        }
    }
}

impl std::fmt::Debug for FeedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedSession")
    }
}

/// Upgrades to the feed WebSocket.
#[utoipa::path(get, path = "/feed", tag = "feed",
    description = "WebSocket. First message: ClientMessage::auth; then ServerMessage frames.",
    responses((status = 101, description = "Switching to the WebSocket feed")))]
pub async fn feed(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| run(socket, state))
}

fn text(msg: &ServerMessage) -> Option<Message> {
    serde_json::to_string(msg)
        .ok()
        .map(|s| Message::Text(Utf8Bytes::from(s)))
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_string()),
        })))
        .await;
}

async fn refuse(mut socket: WebSocket, message: &str) {
    let err = ServerMessage::Error {
        code: ErrorCode::Unauthorized,
        message: message.into(),
    };
    if let Some(m) = text(&err) {
        let _ = socket.send(m).await;
    }
    close(socket, CLOSE_UNAUTHORIZED, "unauthorized").await;
}

/// Sends one frame; a client that does not take it within [`SEND_TIMEOUT`] is dropped.
async fn send(socket: &mut WebSocket, frame: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await,
        Ok(Ok(()))
    )
}

async fn run(mut socket: WebSocket, state: AppState) {
    let cancel = state.engine.shutdown_token();
    let first = tokio::select! {
        _ = cancel.cancelled() => return close(socket, 1001, "node shutting down").await,
        first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv()) => first,
    };
    let resume_from = match first {
        Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str::<ClientMessage>(&t) {
            Ok(ClientMessage::Auth { token, resume_from }) if state.token.matches(&token) => {
                resume_from
            }
            Ok(ClientMessage::Auth { .. }) => return refuse(socket, "wrong token").await,
            _ => {
                return refuse(
                    socket,
                    "the first message must be {\"type\":\"auth\",\"token\":\"…\"}",
                )
                .await;
            }
        },
        Ok(_) => return refuse(socket, "expected an auth message").await,
        Err(_) => return refuse(socket, "no auth message within 10 s").await,
    };
    let mut session = FeedSession::open(&state.engine, resume_from);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                close(socket, 1001, "node shutting down").await;
                return;
            }
            msg = session.next() => {
                let Some(msg) = msg else { break };
                let Some(frame) = text(&msg) else { continue };
                if !send(&mut socket, frame).await { break; }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Text(t))) => {
                        let reply = match serde_json::from_str::<ClientMessage>(&t) {
                            Ok(ClientMessage::Ping) => ServerMessage::Pong,
                            Ok(ClientMessage::Auth { .. }) => ServerMessage::Error {
                                code: ErrorCode::BadRequest,
                                message: "already authenticated".into(),
                            },
                            Err(e) => ServerMessage::Error {
                                code: ErrorCode::InvalidJson,
                                message: format!("not a client message: {e}"),
                            },
                        };
                        if let Some(frame) = text(&reply)
                            && !send(&mut socket, frame).await
                        {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {} // pongs and binary frames are ignored
                }
            }
            _ = ping.tick() => {
                if !send(&mut socket, Message::Ping(Default::default())).await { break; }
            }
        }
    }
}
