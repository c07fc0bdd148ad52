//! One attempt at one provider/model over HTTP (reqwest): the request in the provider's
//! protocol, its answer (whole or as a stream) back in neutral form, every failure
//! classified ([`AttemptError`]) so the call path can decide to retry, fail over or stop.
//!
//! Invariants:
//! - Every phase is bounded: connect (`connect_ms`), the answer's head (`first_byte_ms`),
//!   each stream chunk (`idle_ms`), the whole attempt (`total_ms`), and the bytes read
//!   (`max_response_bytes`) — a provider that hangs, stalls or never stops cannot hold a
//!   connection or memory.
//! - The key goes only into the request's auth header; upstream messages quoted in errors
//!   are cut to 300 characters and have the key scrubbed.
//! - Dropping a stream drops the connection (the upstream call is cancelled).
//!
//! Must never: log or return the key, or a request's content.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::neutral::{ChatRequest, ChatResponse, StreamEvent};
use super::settings::{ProviderKind, Resolved};
use super::wire::{self, WireError, sse};
use crate::error::ErrorCode;

/// Which timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    FirstByte,
    Idle,
    Total,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connecting",
            Self::FirstByte => "waiting for the answer to start",
            Self::Idle => "waiting for the next chunk of the stream",
            Self::Total => "for the whole answer",
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptError {
    /// Could not connect or the connection broke before an answer.
    Connection(String),
    Timeout(Phase, Duration),
    /// An HTTP error status.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// Not the provider's protocol (bad JSON, a broken stream).
    Malformed(String),
    TooLarge(u64),
}

impl AttemptError {
    /// Worth another attempt at the same hop (before any output reached the client).
    pub fn retryable(&self) -> bool {
        match self {
            Self::Connection(_) | Self::Timeout(..) | Self::Malformed(_) => true,
            Self::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            Self::TooLarge(_) => false,
        }
    }

    /// Counts against the provider's circuit breaker (its availability, not our request).
    pub fn is_provider_failure(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            Self::TooLarge(_) => false,
            _ => true,
        }
    }

    /// The provider could not be reached or could not serve (connection, timeout, 5xx): what
    /// makes an agent's task wait for the provider instead of failing.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Connection(_) | Self::Timeout(..) => true,
            Self::Status { status, .. } => *status >= 500,
            Self::Malformed(_) | Self::TooLarge(_) => false,
        }
    }

    /// The request itself was refused as invalid: no other hop will like it better.
    pub fn is_rejection(&self) -> bool {
        matches!(self, Self::Status { status, .. } if matches!(status, 400 | 413 | 422))
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Connection(_) => ErrorCode::ProviderUnavailable,
            Self::Timeout(..) => ErrorCode::ProviderTimeout,
            Self::Status {
                status: 401 | 403, ..
            } => ErrorCode::ProviderAuthFailed,
            Self::Status { status: 429, .. } => ErrorCode::ProviderRateLimited,
            Self::Status {
                status: 400 | 413 | 422,
                ..
            } => ErrorCode::ProviderRejected,
            Self::Status { .. } => ErrorCode::ProviderUnavailable,
            Self::Malformed(_) => ErrorCode::ProviderBadResponse,
            Self::TooLarge(_) => ErrorCode::ResponseTooLarge,
        }
    }

    /// What happened, for the hop's reason (no key, no content).
    pub fn describe(&self) -> String {
        match self {
            Self::Connection(m) => format!("connection failed: {m}"),
            Self::Timeout(p, d) => format!("timed out {} after {} ms", p.as_str(), d.as_millis()),
            Self::Status {
                status, message, ..
            } => {
                if message.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {message}")
                }
            }
            Self::Malformed(m) => format!("answered outside its protocol: {m}"),
            Self::TooLarge(limit) => format!("answer larger than max_response_bytes ({limit})"),
        }
    }
}

/// The HTTP clients (one per connect timeout: reqwest sets it per client), shared by all
/// calls; connections are pooled.
#[derive(Default)]
pub struct Upstream {
    clients: Mutex<HashMap<u64, reqwest::Client>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstream")
    }
}

/// One attempt's inputs.
pub struct Attempt<'a> {
    pub hop: &'a Resolved,
    pub key: Option<&'a SecretString>,
    pub request: &'a ChatRequest,
}

fn scrub(message: &str, key: Option<&SecretString>) -> String {
    let mut m: String = message.chars().take(300).collect();
    if let Some(k) = key {
        let k = k.expose_secret();
        if k.len() >= 4 {
            m = m.replace(k, "***");
        }
    }
    m
}

fn reqwest_error(e: &reqwest::Error) -> String {
    // reqwest's Display names the URL (never the key: keys travel in headers).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(300).collect()
}

impl Upstream {
    fn client(&self, connect: Duration) -> Result<reqwest::Client, AttemptError> {
        let ms = connect.as_millis() as u64;
        let mut map = self
            .clients
            .lock()
            .map_err(|_| AttemptError::Connection("client pool poisoned".into()))?;
        if let Some(c) = map.get(&ms) {
            return Ok(c.clone());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(connect)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AttemptError::Connection(reqwest_error(&e)))?;
        map.insert(ms, client.clone());
        Ok(client)
    }

    fn build(
        &self,
        a: &Attempt<'_>,
        stream: bool,
    ) -> Result<reqwest::RequestBuilder, AttemptError> {
        let cfg = &a.hop.config;
        let base = cfg.base_url.trim_end_matches('/');
        let (url, body) = match cfg.kind {
            ProviderKind::Openai => (
                format!("{base}/chat/completions"),
                wire::openai::encode_request(a.request, &a.hop.model, stream),
            ),
            ProviderKind::Anthropic => (
                format!("{base}/v1/messages"),
                wire::anthropic::encode_request(a.request, &a.hop.model, stream),
            ),
        };
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                headers.insert(k, v);
            }
        }
        if cfg.kind == ProviderKind::Anthropic && !headers.contains_key("anthropic-version") {
            headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        }
        if let Some(key) = a.key {
            let (name, value) = match cfg.kind {
                ProviderKind::Openai => {
                    ("authorization", format!("Bearer {}", key.expose_secret()))
                }
                ProviderKind::Anthropic => ("x-api-key", key.expose_secret().to_string()),
            };
            let mut value = HeaderValue::try_from(value).map_err(|_| AttemptError::Status {
                status: 401,
                retry_after: None,
                message: "the key is not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if stream {
            headers.insert("accept", HeaderValue::from_static("text/event-stream"));
        }
        let client = self.client(Duration::from_millis(a.hop.timeouts.connect_ms))?;
        Ok(client.post(url).headers(headers).json(&body))
    }

    /// Sends and waits for the answer's head; an error status is read (bounded) and classified.
    async fn head(
        &self,
        a: &Attempt<'_>,
        stream: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<reqwest::Response, AttemptError> {
        let builder = self.build(a, stream)?;
        let first = Duration::from_millis(a.hop.timeouts.first_byte_ms);
        let response = match tokio::time::timeout(first, builder.send()).await {
            Err(_) => return Err(AttemptError::Timeout(Phase::FirstByte, first)),
            Ok(Err(e)) if e.is_connect() && e.is_timeout() => {
                return Err(AttemptError::Timeout(
                    Phase::Connect,
                    Duration::from_millis(a.hop.timeouts.connect_ms),
                ));
            }
            Ok(Err(e)) => return Err(AttemptError::Connection(reqwest_error(&e))),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| super::retry::parse_retry_after(v, now));
        let body = read_bounded(response, 64 * 1024, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        let message = match a.hop.config.kind {
            ProviderKind::Openai => wire::openai::parse_error_message(&body),
            ProviderKind::Anthropic => wire::anthropic::parse_error_message(&body),
        }
        .unwrap_or_default();
        Err(AttemptError::Status {
            status,
            retry_after,
            message: scrub(&message, a.key),
        })
    }

    /// A whole answer; the bool says whether the provider reported usage.
    pub async fn complete(
        &self,
        a: &Attempt<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(ChatResponse, bool), AttemptError> {
        let total = Duration::from_millis(a.hop.timeouts.total_ms);
        let run = async {
            let response = self.head(a, false, now).await?;
            let body = read_bounded(
                response,
                a.hop.config.max_response_bytes,
                Duration::from_millis(a.hop.timeouts.idle_ms),
            )
            .await?;
            let parsed = match a.hop.config.kind {
                ProviderKind::Openai => wire::openai::parse_response(a.request, &body),
                ProviderKind::Anthropic => wire::anthropic::parse_response(a.request, &body),
            };
            parsed.map_err(|e| AttemptError::Malformed(scrub(&wire_message(&e), a.key)))
        };
        tokio::time::timeout(total, run)
            .await
            .unwrap_or(Err(AttemptError::Timeout(Phase::Total, total)))
    }

    /// Opens a stream: the answer's head has come and was a success.
    pub async fn stream(
        &self,
        a: &Attempt<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<UpstreamStream, AttemptError> {
        let started = Instant::now();
        let response = self.head(a, true, now).await?;
        let decoder = match a.hop.config.kind {
            ProviderKind::Openai => Decoder::Openai(wire::openai::StreamDecoder::new(a.request)),
            ProviderKind::Anthropic => {
                Decoder::Anthropic(wire::anthropic::StreamDecoder::new(a.request))
            }
        };
        Ok(UpstreamStream {
            response,
            parser: sse::SseParser::new(1024 * 1024),
            decoder,
            read: 0,
            limit: a.hop.config.max_response_bytes,
            idle: Duration::from_millis(a.hop.timeouts.idle_ms),
            deadline: started + Duration::from_millis(a.hop.timeouts.total_ms),
            total: Duration::from_millis(a.hop.timeouts.total_ms),
            ended: false,
        })
    }
}

fn wire_message(e: &WireError) -> String {
    e.to_string()
}

/// Reads a body up to `limit` bytes, each chunk within `idle`.
async fn read_bounded(
    mut response: reqwest::Response,
    limit: u64,
    idle: Duration,
) -> Result<Vec<u8>, AttemptError> {
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => return Err(AttemptError::Timeout(Phase::Idle, idle)),
            Ok(Err(e)) => return Err(AttemptError::Connection(reqwest_error(&e))),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => {
                if body.len() as u64 + chunk.len() as u64 > limit {
                    return Err(AttemptError::TooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

enum Decoder {
    Openai(wire::openai::StreamDecoder),
    Anthropic(wire::anthropic::StreamDecoder),
}

/// An upstream stream being read: neutral events out, bounded in time and bytes.
pub struct UpstreamStream {
    response: reqwest::Response,
    parser: sse::SseParser,
    decoder: Decoder,
    read: u64,
    limit: u64,
    idle: Duration,
    deadline: Instant,
    total: Duration,
    ended: bool,
}

impl UpstreamStream {
    /// The next events (never an empty batch); `None` at a proper end of the stream.
    pub async fn next(&mut self) -> Result<Option<Vec<StreamEvent>>, AttemptError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AttemptError::Timeout(Phase::Total, self.total));
            }
            let (wait, phase) = if left < self.idle {
                (left, Phase::Total)
            } else {
                (self.idle, Phase::Idle)
            };
            let chunk = match tokio::time::timeout(wait, self.response.chunk()).await {
                Err(_) => {
                    let d = if phase == Phase::Idle {
                        self.idle
                    } else {
                        self.total
                    };
                    return Err(AttemptError::Timeout(phase, d));
                }
                Ok(Err(e)) => return Err(AttemptError::Connection(reqwest_error(&e))),
                Ok(Ok(c)) => c,
            };
            let Some(chunk) = chunk else {
                self.ended = true;
                let proper = match &mut self.decoder {
                    Decoder::Openai(d) => d.finish(),
                    Decoder::Anthropic(d) => d.finish(),
                };
                return if proper {
                    Ok(None)
                } else {
                    Err(AttemptError::Malformed(
                        "the stream ended before its end marker".into(),
                    ))
                };
            };
            self.read += chunk.len() as u64;
            if self.read > self.limit {
                return Err(AttemptError::TooLarge(self.limit));
            }
            let events = self
                .parser
                .push(&chunk)
                .map_err(|e| AttemptError::Malformed(wire_message(&e)))?;
            let mut out = Vec::new();
            for ev in &events {
                let decoded = match &mut self.decoder {
                    Decoder::Openai(d) => d.push(ev),
                    Decoder::Anthropic(d) => d.push(ev),
                };
                out.extend(decoded.map_err(|e| AttemptError::Malformed(wire_message(&e)))?);
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// After the stream's last event: reads what is left of the body (the end of the
    /// chunked encoding, a trailing `[DONE]`) so the connection goes back to the pool instead
    /// of being closed, in the background and bounded (1 s, 64 KiB).
    pub fn release(self) {
        if self.ended {
            return;
        }
        let mut response = self.response;
        tokio::spawn(async move {
            let drain = async {
                let mut left: usize = 64 * 1024;
                while let Ok(Some(chunk)) = response.chunk().await {
                    left = left.saturating_sub(chunk.len());
                    if left == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        });
    }
}
