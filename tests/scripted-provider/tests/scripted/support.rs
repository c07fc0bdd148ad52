//! Helpers of the scripted provider's tests: requests in each protocol, an SSE parser that
//! checks the framing, and waiting for a counter.

use std::time::{Duration, Instant};

use flightdeck_scripted_provider::{CallCounts, ScriptedProvider};
use futures_util::StreamExt;
use serde_json::{Value, json};

pub const KEY: &str = "sk-test-key";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    OpenAi,
    Anthropic,
}

pub const BOTH: [Proto; 2] = [Proto::OpenAi, Proto::Anthropic];

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// A request body in `proto`'s shape.
pub fn body(proto: Proto, model: &str, text: &str, stream: bool) -> Value {
    match proto {
        Proto::OpenAi => json!({
            "model": model,
            "stream": stream,
            "messages": [
                {"role": "system", "content": "you are terse"},
                {"role": "user", "content": text}
            ]
        }),
        Proto::Anthropic => json!({
            "model": model,
            "max_tokens": 64,
            "stream": stream,
            "system": "you are terse",
            "messages": [{"role": "user", "content": text}]
        }),
    }
}

/// Sends `body` to `proto`'s endpoint with `key` in `proto`'s header.
pub fn request(
    client: &reqwest::Client,
    p: &ScriptedProvider,
    proto: Proto,
    key: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    match proto {
        Proto::OpenAi => client
            .post(format!("{}/chat/completions", p.openai_base_url()))
            .bearer_auth(key)
            .json(body),
        Proto::Anthropic => client
            .post(format!("{}/v1/messages", p.anthropic_base_url()))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .json(body),
    }
}

pub async fn send(p: &ScriptedProvider, proto: Proto, body: &Value) -> reqwest::Response {
    request(&client(), p, proto, KEY, body)
        .send()
        .await
        .unwrap()
}

pub async fn send_json(p: &ScriptedProvider, proto: Proto, body: &Value) -> (u16, Value) {
    let response = send(p, proto, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// One SSE event: its `event:` name (if any) and its `data:`.
#[derive(Debug, Clone)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("data is not JSON ({e}): {}", self.data))
    }
}

/// Parses a complete SSE body; every event must end with a blank line.
pub fn parse_sse(text: &str) -> Vec<Event> {
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "stream does not end with a blank line: {text:?}"
    );
    text.split_terminator("\n\n")
        .map(|block| {
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    assert!(event.is_none(), "two event lines in {block:?}");
                    event = Some(name.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "two data lines in {block:?}");
                    data = Some(d.to_owned());
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            Event {
                event,
                data: data.unwrap_or_else(|| panic!("no data line in {block:?}")),
            }
        })
        .collect()
}

/// Reads a stream's body until `done` says so or `within` passes; returns what arrived and
/// whether the body ended (`Some(Ok)`: cleanly, `Some(Err)`: with an error).
pub async fn read_until(
    response: reqwest::Response,
    within: Duration,
    done: impl Fn(&str) -> bool,
) -> (String, Option<Result<(), String>>) {
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return (text, None),
            Ok(None) => return (text, Some(Ok(()))),
            Ok(Some(Err(e))) => return (text, Some(Err(e.to_string()))),
            Ok(Some(Ok(bytes))) => {
                text.push_str(std::str::from_utf8(&bytes).unwrap());
                if done(&text) {
                    return (text, None);
                }
            }
        }
    }
}

/// Waits (up to 5 s) until `check` holds for the provider's counters.
pub async fn wait_for(p: &ScriptedProvider, check: impl Fn(&CallCounts) -> bool) -> CallCounts {
    let start = Instant::now();
    loop {
        let calls = p.calls();
        if check(&calls) {
            return calls;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "counters never matched: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The text deltas of a parsed stream, in order.
pub fn text_deltas(proto: Proto, events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            let v = e.json();
            match proto {
                Proto::OpenAi => v["choices"][0]["delta"]["content"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                Proto::Anthropic => (v["delta"]["type"] == "text_delta")
                    .then(|| v["delta"]["text"].as_str().unwrap().to_owned()),
            }
        })
        .collect()
}

/// The answer text of a non-streaming body.
pub fn answer_text(proto: Proto, v: &Value) -> String {
    match proto {
        Proto::OpenAi => v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned(),
        Proto::Anthropic => v["content"][0]["text"].as_str().unwrap().to_owned(),
    }
}
