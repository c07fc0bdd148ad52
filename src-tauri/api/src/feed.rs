//! The live feed: the event bus as a stream of [`ServerMessage`]s, over a WebSocket for
//! browsers and fleet clients, and (through [`FeedSession`]) over a Tauri channel for the
//! desktop.
//!
//! Protocol (WebSocket `/api/v1/feed`, documented with examples in docs/feed.md): the
//! client's first message must be `{"type":"auth","token":"…","resume_from":N|null,
//! "topics":[…]|null}` within 10 s (browsers cannot set headers on WebSockets); the server
//! answers `welcome` (`resumed`: every event after N follows; `resync`: events after N are
//! no longer kept, refetch state), then `event`s of the chosen topics in `seq` order. An
//! unknown topic or a resume point this node has not reached is refused with an `error`
//! (`unknown_topic`, `resume_from_future`) and close code 4400. A lagging client is told
//! (`feed_lagged`) and must refetch. `{"type":"ping"}` gets `{"type":"pong"}`. WebSocket pings and pongs are ignored before
//! the auth message (some clients send them right after connecting); after it the server
//! pings every 20 s and closes (4408) a client it has heard nothing from, not even a pong,
//! for 60 s.
//!
//! Invariants: a slow client never slows the bus or other clients (bounded per-subscriber
//! buffer, and a send that takes longer than 10 s drops the client); a dead client is
//! dropped within three ping intervals; sessions end when the engine shuts down, with a 1001
//! close. Every WebSocket session is counted in the router's [`FeedTasks`] from before its
//! 101 answer until it has sent its last frame, so a server that waits on
//! [`FeedTasks::closed`] after cancelling the engine's token exits only once each client was
//! told (upgraded sockets are out of the HTTP server's hands and its drain). The
//! protocol runs over any `Stream + Sink` of messages, so it is tested without a socket on
//! paused time.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use flightdeck_engine::events::subscribe::{Next, SubscribeError, Subscription, parse_topics};
use flightdeck_engine::events::{FeedEvent, Published};
use flightdeck_engine::telemetry::SubscriberGuard;
use flightdeck_engine::{Engine, ErrorCode};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{self, Refusal};
use crate::error::ApiError;

const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(20);
/// A client that does not accept a frame for this long is disconnected.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A client heard from neither a message nor a pong for this long is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(3 * PING_EVERY.as_secs());
/// Close code for a failed authentication (application range 4000-4999).
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code for a subscription the node refuses (unknown topic, resume point ahead).
pub const CLOSE_BAD_SUBSCRIPTION: u16 = 4400;
/// Close code for a client that went silent (no pong, no message) for [`IDLE_LIMIT`].
pub const CLOSE_IDLE: u16 = 4408;

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        node_id: String,
        /// The last sequence number published before this session started.
        seq: u64,
        /// A resume point was given and every event after it follows.
        resumed: bool,
        /// A resume point was given but what came after it is no longer kept: refetch.
        resync: bool,
    },
    Event(FeedEvent),
    Pong,
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Auth {
        token: String,
        #[serde(default)]
        resume_from: Option<u64>,
        /// Topics to receive (`metrics`, `config`, `health`); all when absent or empty.
        #[serde(default)]
        topics: Option<Vec<String>>,
    },
    Ping,
}

/// What a session sends next.
#[derive(Debug)]
pub enum Outgoing {
    Message(ServerMessage),
    /// An event, already serialized as its frame.
    Event(std::sync::Arc<Published>),
}

impl Outgoing {
    /// As a typed message (the desktop's channel serializes it itself).
    pub fn into_message(self) -> ServerMessage {
        match self {
            Self::Message(m) => m,
            Self::Event(e) => ServerMessage::Event(e.feed.clone()),
        }
    }

    fn frame(&self) -> Option<Message> {
        match self {
            Self::Message(m) => text(m),
            Self::Event(e) => Some(Message::Text(Utf8Bytes::from(e.json.to_string()))),
        }
    }
}

/// One subscriber's view of the event stream.
pub struct FeedSession {
    sub: Subscription,
    welcome: Option<ServerMessage>,
    _subscriber: SubscriberGuard,
}

impl FeedSession {
    /// Subscribes to `topics` (all when `None`), resuming after `resume_from` when the log
    /// still holds what came after it.
    pub async fn open(
        engine: &Engine,
        topics: Option<&[String]>,
        resume_from: Option<u64>,
    ) -> Result<Self, SubscribeError> {
        let topics = parse_topics(topics)?;
        let sub = engine.subscribe(topics, resume_from).await?;
        Ok(Self {
            welcome: Some(ServerMessage::Welcome {
                node_id: engine.node_id().to_string(),
                seq: sub.seq,
                resumed: sub.resumed,
                resync: sub.resync,
            }),
            sub,
            _subscriber: engine.metrics().feed_subscriber(),
        })
    }

    /// The next message: the welcome, then replayed events, then live ones. `None` when the
    /// bus is gone.
    pub async fn next(&mut self) -> Option<Outgoing> {
        if let Some(w) = self.welcome.take() {
            return Some(Outgoing::Message(w));
        }
        match self.sub.next().await? {
            Next::Event(e) => Some(Outgoing::Event(e)),
            Next::Lagged(n) => Some(Outgoing::Message(ServerMessage::Error {
                code: ErrorCode::FeedLagged,
                message: format!(
                    "{n} events were dropped because this client fell behind; refetch state"
                ),
            })),
        }
    }
}

impl std::fmt::Debug for FeedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedSession")
    }
}

/// The router's WebSocket feed sessions, each running in the task axum spawns for its upgrade.
/// Cloning shares the count.
#[derive(Clone, Debug, Default)]
pub struct FeedTasks(TaskTracker);

impl FeedTasks {
    /// Sessions running now, those whose upgrade is under way included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits until no session is running. Call it once the engine's shutdown token is
    /// cancelled (every session then sends its 1001 close, within the 10 s send timeout, and
    /// ends; one that starts later closes at once) and bound it with the shutdown budget.
    pub async fn closed(&self) {
        self.0.close();
        self.0.wait().await;
    }
}

/// Upgrades to the feed WebSocket.
#[utoipa::path(get, path = "/feed", tag = "feed",
    description = "WebSocket (protocol: docs/feed.md). First message: ClientMessage::auth; then ServerMessage frames.",
    responses(
        (status = 101, description = "Switching to the WebSocket feed"),
        (status = 426, description = "Not a WebSocket upgrade: `upgrade_required`; `Upgrade: websocket` names the protocol", body = crate::error::ApiErrorBody),
    ))]
pub async fn feed(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
) -> Response {
    // Failed feed authentications count towards the same lockout as the API's.
    let ip = auth::client_ip(&state, connect.as_ref().map(|c| &c.0));
    match ws {
        Ok(ws) => {
            // Counted from before the 101 goes out until the session's last frame: a shutdown
            // waiting on the feeds cannot miss one whose upgrade is still completing. A failed
            // upgrade drops the callback, and the count with it.
            let counted = state.feeds.0.token();
            ws.max_message_size(64 * 1024)
                .on_upgrade(move |socket| async move {
                    run(socket, state, ip).await;
                    drop(counted);
                })
        }
        // A plain request (no upgrade asked for): say which protocol this route speaks.
        Err(
            rejection @ (WebSocketUpgradeRejection::InvalidConnectionHeader(_)
            | WebSocketUpgradeRejection::InvalidUpgradeHeader(_)),
        ) => {
            let mut response = ApiError::new(
                axum::http::StatusCode::UPGRADE_REQUIRED,
                ErrorCode::UpgradeRequired,
                format!(
                    "this route is the WebSocket feed: connect with a WebSocket upgrade ({})",
                    rejection.body_text()
                ),
            )
            .into_response();
            response.headers_mut().insert(
                axum::http::header::UPGRADE,
                axum::http::HeaderValue::from_static("websocket"),
            );
            response
        }
        Err(rejection) => ApiError::new(
            rejection.status(),
            ErrorCode::BadRequest,
            format!(
                "this route is the WebSocket feed and the upgrade failed: {}",
                rejection.body_text()
            ),
        )
        .into_response(),
    }
}

fn text(msg: &ServerMessage) -> Option<Message> {
    serde_json::to_string(msg)
        .ok()
        .map(|s| Message::Text(Utf8Bytes::from(s)))
}

async fn close<S: FeedSocket>(socket: &mut S, code: u16, reason: &str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_string()),
    }));
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await;
}

async fn refuse<S: FeedSocket>(socket: &mut S, message: &str) {
    refuse_with(socket, ErrorCode::Unauthorized, message).await;
}

async fn refuse_with<S: FeedSocket>(socket: &mut S, code: ErrorCode, message: &str) {
    let err = ServerMessage::Error {
        code,
        message: message.into(),
    };
    if let Some(m) = text(&err) {
        let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(m)).await;
    }
    close(socket, CLOSE_UNAUTHORIZED, "unauthorized").await;
}

/// Sends one frame; a client that does not take it within [`SEND_TIMEOUT`] is dropped.
async fn send<S: FeedSocket>(socket: &mut S, frame: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await,
        Ok(Ok(()))
    )
}

/// What the protocol runs over: axum's `WebSocket`, or channels in tests.
pub(crate) trait FeedSocket:
    Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin + Send
{
}

impl<S> FeedSocket for S where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message> + Unpin + Send
{
}

/// The first data frame, skipping control frames; `None` when the client closed or failed.
async fn first_message<S: FeedSocket>(socket: &mut S) -> Option<Message> {
    loop {
        match socket.next().await? {
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(m) => return Some(m),
        }
    }
}

/// The reply to a message from an authenticated client.
fn reply_to(text: &str) -> ServerMessage {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(ClientMessage::Ping) => ServerMessage::Pong,
        Ok(ClientMessage::Auth { .. }) => ServerMessage::Error {
            code: ErrorCode::BadRequest,
            message: "already authenticated".into(),
        },
        Err(e) => ServerMessage::Error {
            code: ErrorCode::InvalidJson,
            message: format!("not a client message: {e}"),
        },
    }
}

pub(crate) async fn run<S: FeedSocket>(
    mut socket: S,
    state: AppState,
    ip: Option<std::net::IpAddr>,
) {
    let cancel = state.engine.shutdown_token();
    let first = tokio::select! {
        _ = cancel.cancelled() => return close(&mut socket, 1001, "node shutting down").await,
        first = tokio::time::timeout(AUTH_TIMEOUT, first_message(&mut socket)) => first,
    };
    let (resume_from, topics) = match first {
        Ok(Some(Message::Text(t))) => match serde_json::from_str::<ClientMessage>(&t) {
            Ok(ClientMessage::Auth {
                token,
                resume_from,
                topics,
            }) => match auth::authenticate(&state, Some(&token), ip) {
                // Every scope may read the feed.
                Ok((actor, _scope)) => {
                    tracing::debug!(actor = %actor.label(), "feed session authenticated");
                    (resume_from, topics)
                }
                Err(Refusal::LockedOut(wait)) => {
                    return refuse_with(
                        &mut socket,
                        ErrorCode::TooManyAuthFailures,
                        &auth::lockout_message(wait),
                    )
                    .await;
                }
                Err(Refusal::Failed(error)) => {
                    return refuse_with(&mut socket, error.code, &error.message).await;
                }
            },
            Ok(_) => {
                return refuse(
                    &mut socket,
                    "the first message must be {\"type\":\"auth\",\"token\":\"…\"}",
                )
                .await;
            }
            // Bad input, not a failed authentication: say what is wrong with it.
            Err(e) => {
                return refuse_with(
                    &mut socket,
                    ErrorCode::InvalidJson,
                    &format!(
                        "the first message must be {{\"type\":\"auth\",\"token\":\"…\"}}: {e}"
                    ),
                )
                .await;
            }
        },
        Ok(Some(_)) => return refuse(&mut socket, "expected an auth message").await,
        Ok(None) => return,
        Err(_) => return refuse(&mut socket, "no auth message within 10 s").await,
    };
    let mut session = match FeedSession::open(&state.engine, topics.as_deref(), resume_from).await {
        Ok(session) => session,
        Err(error) => {
            let refusal = ServerMessage::Error {
                code: error.code(),
                message: error.to_string(),
            };
            if let Some(m) = text(&refusal) {
                let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(m)).await;
            }
            return close(&mut socket, CLOSE_BAD_SUBSCRIPTION, "subscription refused").await;
        }
    };
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    // Anything from the client (a message, a pong) proves it is still there.
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                close(&mut socket, 1001, "node shutting down").await;
                return;
            }
            msg = session.next() => {
                let Some(msg) = msg else { break };
                let Some(frame) = msg.frame() else { continue };
                if !send(&mut socket, frame).await { break; }
            }
            incoming = socket.next() => {
                match incoming {
                    Some(Ok(Message::Text(t))) => {
                        last_heard = Instant::now();
                        if let Some(frame) = text(&reply_to(&t))
                            && !send(&mut socket, frame).await
                        {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    // Pongs, pings (answered by the WebSocket layer) and binary frames.
                    Some(Ok(_)) => last_heard = Instant::now(),
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= IDLE_LIMIT {
                    tracing::debug!("closing a feed client that went silent");
                    close(&mut socket, CLOSE_IDLE, "no pong or message for 60 s").await;
                    return;
                }
                if !send(&mut socket, Message::Ping(Default::default())).await { break; }
            }
        }
    }
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
