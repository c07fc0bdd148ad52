//! The OpenAI chat-completions side: shapes of answers, streams, errors and models.

use std::time::{Duration, Instant};

use flightdeck_scripted_provider::{Reply, ScriptedProvider, ScriptedUsage, Step};
use serde_json::{Value, json};

use crate::support::{self, Proto, body, client, parse_sse, send, send_json, text_deltas};

#[tokio::test]
async fn default_answer_echoes_with_computed_usage() {
    let p = ScriptedProvider::start().await.unwrap();
    let response = send(
        &p,
        Proto::OpenAi,
        &body(Proto::OpenAi, "gpt-x", "hello big world", false),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "gpt-x");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "echo: hello big world");
    assert!(choice["message"].get("tool_calls").is_none());
    // 3 words of system + 3 of user, + 1; the answer has 4 words.
    assert_eq!(
        v["usage"],
        json!({
            "prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        })
    );
}

#[tokio::test]
async fn scripted_usage_is_converted_to_openai_counting() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Reply::text("hi").usage(ScriptedUsage {
        input: 10,
        output: 5,
        cached_input: 3,
        cache_write: 7,
        reasoning: 2,
    }));
    let (_, v) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "q", false)).await;
    assert_eq!(v["usage"]["prompt_tokens"], 13);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        2
    );
    assert_eq!(v["usage"]["total_tokens"], 20);
}

#[tokio::test]
async fn tool_calls_without_text() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Reply::default().tool_call("call_1", "get_weather", r#"{"city":"Paris"}"#));
    let (_, v) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "q", false)).await;
    let message = &v["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(
        message["tool_calls"],
        json!([{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

/// Checks the invariants of every chunk stream and returns the parsed JSON chunks.
fn check_stream(text: &str, include_usage: bool) -> Vec<Value> {
    let events = parse_sse(text);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert!(events.iter().all(|e| e.event.is_none()));
    let first = &chunks[0];
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], first["id"]);
        assert_eq!(c["created"], first["created"]);
        assert_eq!(c["model"], first["model"]);
        if include_usage {
            assert!(c.get("usage").is_some(), "usage key missing: {c}");
        } else {
            assert!(c.get("usage").is_none(), "usage key present: {c}");
        }
    }
    let finishes: Vec<&Value> = chunks
        .iter()
        .filter(|c| {
            !c["choices"][0]["finish_reason"].is_null()
                && c["choices"].as_array().unwrap().len() == 1
        })
        .collect();
    assert_eq!(finishes.len(), 1, "one finish chunk");
    chunks
}

#[tokio::test]
async fn stream_with_usage_chunk() {
    let p = ScriptedProvider::start().await.unwrap();
    let mut b = body(Proto::OpenAi, "gpt-s", "tell me a story", true);
    b["stream_options"] = json!({"include_usage": true});
    let response = send(&p, Proto::OpenAi, &b).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let chunks = check_stream(&text, true);
    let deltas = text_deltas(Proto::OpenAi, &parse_sse(&text));
    assert_eq!(deltas.concat(), "echo: tell me a story");
    assert_eq!(deltas.len(), 5, "one delta per word by default");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 8);
    assert_eq!(last["usage"]["completion_tokens"], 5);
    for c in &chunks[..chunks.len() - 1] {
        assert_eq!(c["usage"], Value::Null);
    }
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage() {
    let p = ScriptedProvider::start().await.unwrap();
    let text = send(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", true))
        .await
        .text()
        .await
        .unwrap();
    let chunks = check_stream(&text, false);
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"].as_array().unwrap().len() == 1)
    );
}

#[tokio::test]
async fn stream_tool_calls_assemble() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(
        Reply::text("let me check")
            .tool_call("call_a", "get_weather", r#"{"city":"Paris","unit":"c"}"#)
            .tool_call("call_b", "get_time", r#"{"tz":"CET"}"#),
    );
    let text = send(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", true))
        .await
        .text()
        .await
        .unwrap();
    let chunks = check_stream(&text, false);
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = tc["index"].as_u64().unwrap() as usize;
            if let Some(id) = tc["id"].as_str() {
                assert_eq!(index, calls.len());
                assert_eq!(tc["type"], "function");
                calls.push((
                    id.to_owned(),
                    tc["function"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            calls[index]
                .2
                .push_str(tc["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(
        calls,
        vec![
            (
                "call_a".into(),
                "get_weather".into(),
                r#"{"city":"Paris","unit":"c"}"#.into()
            ),
            ("call_b".into(), "get_time".into(), r#"{"tz":"CET"}"#.into()),
        ]
    );
    assert_eq!(
        text_deltas(Proto::OpenAi, &parse_sse(&text)).concat(),
        "let me check"
    );
    let finish = chunks
        .iter()
        .find(|c| !c["choices"][0]["finish_reason"].is_null())
        .unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn omit_usage_sends_none() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Reply::text("a").omit_usage());
    p.script(Reply::text("b").omit_usage());
    let (_, v) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", false)).await;
    assert!(v.get("usage").is_none());
    let mut b = body(Proto::OpenAi, "m", "x", true);
    b["stream_options"] = json!({"include_usage": true});
    let text = send(&p, Proto::OpenAi, &b).await.text().await.unwrap();
    let chunks = check_stream(&text, true);
    assert!(chunks.iter().all(|c| c["usage"].is_null()));
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"].as_array().unwrap().len() == 1)
    );
}

#[tokio::test]
async fn chunks_delays_latency_and_padding() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Reply::text("abcdefghij").chunks(5, 40));
    let start = Instant::now();
    let text = send(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", true))
        .await
        .text()
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(160));
    assert_eq!(
        text_deltas(Proto::OpenAi, &parse_sse(&text)),
        vec!["ab", "cd", "ef", "gh", "ij"]
    );

    p.script(Reply::default().latency_ms(150));
    let start = Instant::now();
    let response = send(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", false)).await;
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!(response.status(), 200);

    p.script(Reply::default().pad_bytes(100_000));
    let (_, v) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", false)).await;
    let content = support::answer_text(Proto::OpenAi, &v);
    assert_eq!(content.len(), 100_000);
    assert!(content.starts_with("echo: x"));
}

#[tokio::test]
async fn errors_in_openai_format() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Step::status_retry_after(429, 7));
    p.script(Step::status(503));
    let response = send(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", false)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"].is_string());
    assert!(v["error"].get("param").is_some());
    let (status, v) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", true)).await;
    assert_eq!(status, 503);
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(v["error"]["code"], Value::Null);

    let step: Step = serde_json::from_value(json!({
        "kind": "status", "status": 400, "message": "bad thing", "code": "context_length_exceeded"
    }))
    .unwrap();
    p.script(step);
    let (status, v) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", false)).await;
    assert_eq!(status, 400);
    assert_eq!(
        v,
        json!({"error": {"message": "bad thing", "type": "invalid_request_error",
                         "param": null, "code": "context_length_exceeded"}})
    );
}

#[tokio::test]
async fn invalid_requests_are_refused_counted_and_pop_nothing() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Step::reply("kept"));
    let response = client()
        .post(format!("{}/chat/completions", p.openai_base_url()))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let (status, v) = send_json(&p, Proto::OpenAi, &json!({"messages": []})).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("model"));
    let (_, v) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", false)).await;
    assert_eq!(support::answer_text(Proto::OpenAi, &v), "kept");
    let calls = p.calls();
    assert_eq!(calls.total, 3);
    assert_eq!(calls.recent[0].answer, "invalid_request");
    assert_eq!(calls.recent[0].body, json!("not json"));
    assert_eq!(calls.recent[2].answer, "reply");
}

#[tokio::test]
async fn paths_and_models() {
    let p = ScriptedProvider::builder()
        .models(["gpt-a", "gpt-b"])
        .start()
        .await
        .unwrap();
    let c = client();
    for path in ["/v1/chat/completions", "/chat/completions"] {
        let r = c
            .post(format!("{}{path}", p.base_url()))
            .json(&body(Proto::OpenAi, "m", "x", false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    for path in ["/v1/models", "/models"] {
        let v: Value = c
            .get(format!("{}{path}", p.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][1]["id"], "gpt-b");
        assert_eq!(v["data"][0]["object"], "model");
        assert!(v["data"][0]["owned_by"].is_string());
    }
    let r = c
        .post(format!("{}/v1/completions", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], Value::Null);
    let calls = p.calls();
    assert_eq!(calls.total, 5);
    assert_eq!(calls.path("/chat/completions"), 1);
    assert_eq!(calls.path("/v1/chat/completions"), 1);
    assert_eq!(calls.path("/models"), 1);
    assert_eq!(calls.path("/v1/completions"), 1);
    assert_eq!(calls.last().unwrap().answer, "unknown_path");
}
