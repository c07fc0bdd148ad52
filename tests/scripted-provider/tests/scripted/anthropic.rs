//! The Anthropic Messages side: shapes of messages, event streams, errors and models.

use flightdeck_scripted_provider::{Reply, ScriptedProvider, ScriptedUsage, Step};
use serde_json::{Value, json};

use crate::support::{Event, Proto, body, client, parse_sse, send, send_json, text_deltas};

#[tokio::test]
async fn default_answer_echoes_with_computed_usage() {
    let p = ScriptedProvider::start().await.unwrap();
    let response = send(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "claude-x", "hello world", false),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let v: Value = response.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-x");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "echo: hello world"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    // 3 words of system + 2 of user, + 1; the answer has 3 words.
    assert_eq!(v["usage"]["input_tokens"], 6);
    assert_eq!(v["usage"]["output_tokens"], 3);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
}

#[tokio::test]
async fn scripted_usage_is_converted_to_anthropic_counting() {
    let p = ScriptedProvider::start().await.unwrap();
    let usage = ScriptedUsage {
        input: 10,
        output: 5,
        cached_input: 3,
        cache_write: 7,
        reasoning: 2,
    };
    p.script(Reply::text("hi").usage(usage));
    p.script(Reply::text("hi").usage(usage));
    let (_, v) = send_json(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "m", "q", false),
    )
    .await;
    let expected = json!({"input_tokens": 10, "cache_read_input_tokens": 3,
                          "cache_creation_input_tokens": 7, "output_tokens": 7});
    for (k, want) in expected.as_object().unwrap() {
        assert_eq!(&v["usage"][k], want, "{k}");
    }
    let text = send(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "m", "q", true),
    )
    .await
    .text()
    .await
    .unwrap();
    let events = check_stream(&text);
    let start = &events[0].json()["message"]["usage"];
    assert_eq!(start["input_tokens"], 10);
    assert_eq!(start["cache_read_input_tokens"], 3);
    assert_eq!(start["cache_creation_input_tokens"], 7);
    assert_eq!(start["output_tokens"], 1);
    let delta = events
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.json()["usage"]["output_tokens"], 7);
}

#[tokio::test]
async fn tool_use_blocks() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Reply::text("checking").tool_call("toolu_1", "get_weather", r#"{"city":"Paris"}"#));
    let (_, v) = send_json(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "m", "q", false),
    )
    .await;
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "checking"},
               {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}])
    );
    assert_eq!(v["stop_reason"], "tool_use");
}

/// Checks the event grammar of a complete stream and returns its events.
fn check_stream(text: &str) -> Vec<Event> {
    let events = parse_sse(text);
    for e in &events {
        let name = e.event.as_deref().expect("every event is named");
        assert_eq!(e.json()["type"], name, "event name matches data type");
    }
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[names.len() - 2], "message_delta");
    assert_eq!(names[names.len() - 1], "message_stop");
    assert_eq!(names.iter().filter(|n| **n == "ping").count(), 1);
    let start = events[0].json();
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["stop_reason"], Value::Null);
    // Blocks: start, deltas, stop, with increasing indexes.
    let mut open: Option<u64> = None;
    let mut next_index = 0;
    for e in &events[1..events.len() - 2] {
        let v = e.json();
        match e.event.as_deref().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None);
                assert_eq!(v["index"], next_index);
                open = Some(next_index);
            }
            "content_block_delta" => assert_eq!(Some(v["index"].as_u64().unwrap()), open),
            "content_block_stop" => {
                assert_eq!(Some(v["index"].as_u64().unwrap()), open);
                open = None;
                next_index += 1;
            }
            "ping" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(open, None);
    events
}

#[tokio::test]
async fn stream_is_well_formed() {
    let p = ScriptedProvider::start().await.unwrap();
    let response = send(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "claude-s", "say a b c", true),
    )
    .await;
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let events = check_stream(&text);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        &names[..3],
        ["message_start", "content_block_start", "ping"]
    );
    assert_eq!(events[0].json()["message"]["model"], "claude-s");
    assert_eq!(
        events[1].json()["content_block"],
        json!({"type": "text", "text": ""})
    );
    let deltas = text_deltas(Proto::Anthropic, &events);
    assert_eq!(deltas.concat(), "echo: say a b c");
    assert_eq!(deltas.len(), 5);
    let message_delta = events[events.len() - 2].json();
    assert_eq!(
        message_delta["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(message_delta["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn stream_with_text_and_tools() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(
        Reply::text("one moment")
            .tool_call("toolu_a", "lookup", r#"{"q":"rust serde","n":3}"#)
            .tool_call("toolu_b", "noop", "{}"),
    );
    let text = send(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "m", "x", true),
    )
    .await
    .text()
    .await
    .unwrap();
    let events = check_stream(&text);
    let mut blocks: Vec<(Value, String)> = Vec::new();
    for e in &events {
        let v = e.json();
        match v["type"].as_str().unwrap() {
            "content_block_start" => blocks.push((v["content_block"].clone(), String::new())),
            "content_block_delta" => {
                let piece = match v["delta"]["type"].as_str().unwrap() {
                    "text_delta" => v["delta"]["text"].as_str().unwrap(),
                    "input_json_delta" => v["delta"]["partial_json"].as_str().unwrap(),
                    other => panic!("unexpected delta {other}"),
                };
                blocks.last_mut().unwrap().1.push_str(piece);
            }
            _ => {}
        }
    }
    assert_eq!(blocks.len(), 3);
    assert_eq!(
        blocks[0],
        (json!({"type": "text", "text": ""}), "one moment".to_owned())
    );
    assert_eq!(
        blocks[1].0,
        json!({"type": "tool_use", "id": "toolu_a", "name": "lookup", "input": {}})
    );
    let input: Value = serde_json::from_str(&blocks[1].1).unwrap();
    assert_eq!(input, json!({"q": "rust serde", "n": 3}));
    assert_eq!(blocks[2].1, "{}");
    assert_eq!(
        events[events.len() - 2].json()["delta"]["stop_reason"],
        "tool_use"
    );
}

#[tokio::test]
async fn omit_usage_and_finish_reason_mapping() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Reply::text("cut").omit_usage().finish_reason("length"));
    let (_, v) = send_json(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "m", "x", false),
    )
    .await;
    assert!(v.get("usage").is_none());
    assert_eq!(v["stop_reason"], "max_tokens");
    p.script(Reply::text("cut").finish_reason("max_tokens"));
    let (_, v) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", false)).await;
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn errors_in_anthropic_format() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Step::status_retry_after(529, 3));
    p.script(Step::status(429));
    let response = send(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "m", "x", true),
    )
    .await;
    assert_eq!(response.status().as_u16(), 529);
    assert_eq!(response.headers()["retry-after"], "3");
    let id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert_eq!(v["error"]["message"], "Overloaded");
    assert_eq!(v["request_id"], id);
    let (status, v) = send_json(
        &p,
        Proto::Anthropic,
        &body(Proto::Anthropic, "m", "x", false),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(v["error"]["type"], "rate_limit_error");
    let (status, v) = send_json(&p, Proto::Anthropic, &json!({"model": "m"})).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn models_in_anthropic_shape() {
    let p = ScriptedProvider::builder()
        .models(["claude-a"])
        .start()
        .await
        .unwrap();
    let v: Value = client()
        .get(format!("{}/v1/models", p.anthropic_base_url()))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["data"][0]["id"], "claude-a");
    assert_eq!(v["has_more"], false);
    assert_eq!(v["first_id"], "claude-a");
}
