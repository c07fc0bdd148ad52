//! Tests across the wire modules (whole answers): usage normalisation, request round trips
//! from one protocol to the other, the messages of bad requests, error shapes. Streams and
//! the JSON-schema forced tool are in `stream_tests`.

use serde_json::{Value, json};

use super::{WireError, anthropic, openai};
use crate::providers::neutral::{ChatRequest, ContentPart, FinishReason, Role, ToolChoice, Usage};

pub(super) fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

pub(super) fn usage(input: u64, output: u64, cached: u64, write: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        output,
        cached_input: cached,
        cache_write: write,
        reasoning,
        estimated: false,
    }
}

fn invalid_request(r: Result<ChatRequest, WireError>) -> String {
    match r {
        Err(WireError::InvalidRequest(m)) => m,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

#[test]
fn openai_usage_is_normalised() {
    let req = ChatRequest::default();
    let answer = json!({
        "id": "chatcmpl-1", "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                  "prompt_tokens_details": {"cached_tokens": 30},
                  "completion_tokens_details": {"reasoning_tokens": 20}},
    });
    let (r, reported) = openai::parse_response(&req, &body(&answer)).unwrap();
    assert!(reported);
    assert_eq!(r.usage, usage(70, 30, 30, 0, 20));
    assert_eq!(r.finish_reason, FinishReason::Length);
    // Back out: the totals OpenAI clients expect.
    let out = openai::encode_response(&r, "route", 7);
    assert_eq!(out["usage"]["prompt_tokens"], 100);
    assert_eq!(out["usage"]["completion_tokens"], 50);
    assert_eq!(out["usage"]["total_tokens"], 150);
    // Odd numbers saturate; no usage is "not reported".
    let odd = json!({"choices": [{"message": {"content": ""}}],
                     "usage": {"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": 5}}});
    assert_eq!(
        openai::parse_response(&req, &body(&odd))
            .unwrap()
            .0
            .usage
            .input,
        0
    );
    let none = json!({"choices": [{"message": {"content": "x"}}]});
    assert!(!openai::parse_response(&req, &body(&none)).unwrap().1);
}

#[test]
fn anthropic_usage_is_normalised() {
    let req = ChatRequest::default();
    let answer = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "hi"}],
        "stop_reason": "stop_sequence",
        "usage": {"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 30,
                  "cache_creation_input_tokens": 40},
    });
    let (r, reported) = anthropic::parse_response(&req, &body(&answer)).unwrap();
    assert!(reported);
    assert_eq!(r.text, "hi");
    assert_eq!(r.usage, usage(10, 20, 30, 40, 0));
    assert_eq!(r.finish_reason, FinishReason::StopSequence);
    let out = anthropic::encode_response(&r, "route");
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 10, "output_tokens": 20,
        "cache_creation_input_tokens": 40, "cache_read_input_tokens": 30})
    );
    assert_eq!(out["stop_reason"], "stop_sequence");
    // Through OpenAI the cache kinds fold into prompt_tokens.
    let o = openai::encode_response(&r, "route", 0);
    assert_eq!(o["usage"]["prompt_tokens"], 80);
    assert_eq!(o["usage"]["prompt_tokens_details"]["cached_tokens"], 30);
}

#[test]
fn an_openai_request_with_tools_becomes_an_anthropic_request() {
    let client = json!({
        "model": "fast", "max_completion_tokens": 100, "temperature": 0, "stop": "END", "seed": 3,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "time", "arguments": "not json"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "rain"},
            {"role": "tool", "tool_call_id": "c2", "content": "noon"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "description": "d",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required",
        "unknown_field": {"ignored": true},
    });
    let req = openai::parse_request(&body(&client)).unwrap();
    assert_eq!(req.system, vec!["Be brief.", "Use tools."]);
    assert_eq!(req.messages.len(), 5);
    assert_eq!(req.messages[2].role, Role::Tool);
    assert_eq!(req.max_tokens, Some(100));
    assert_eq!(req.stop, vec!["END"]);
    assert!(req.is_deterministic());
    let up = anthropic::encode_request(&req, "claude-x", true);
    assert_eq!(up["model"], "claude-x");
    assert_eq!(up["max_tokens"], 100);
    assert_eq!(up["system"], "Be brief.\n\nUse tools.");
    assert_eq!(up["stop_sequences"], json!(["END"]));
    assert_eq!(up["stream"], true);
    assert_eq!(up["tool_choice"], json!({"type": "any"}));
    assert_eq!(
        up["tools"][0]["input_schema"]["properties"]["city"]["type"],
        "string"
    );
    let m = up["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(
        m[0]["content"][1]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
    );
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[1]["content"][0]["input"], json!({"city": "Oslo"}));
    assert_eq!(m[1]["content"][1]["input"], json!({"_raw": "not json"}));
    // Both results and the next user text merge into one user turn, results first.
    assert_eq!(m[2]["role"], "user");
    assert_eq!(
        m[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "c1", "content": "rain"})
    );
    assert_eq!(m[2]["content"][1]["tool_use_id"], "c2");
    assert_eq!(
        m[2]["content"][2],
        json!({"type": "text", "text": "Thanks"})
    );
}

#[test]
fn an_anthropic_request_with_tools_becomes_an_openai_request() {
    let client = json!({
        "model": "smart", "max_tokens": 512, "stream": true, "metadata": {"user_id": "u"},
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "…", "signature": "s"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "rain"}], "is_error": true},
                {"type": "text", "text": "And tomorrow?"},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
        ],
        "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "weather"},
        "stop_sequences": ["END"],
    });
    let req = anthropic::parse_request(&body(&client)).unwrap();
    assert_eq!(req.messages.len(), 4);
    assert_eq!(req.messages[2].role, Role::Tool);
    assert!(req.messages[2].is_error);
    assert_eq!(
        req.messages[3].content[1],
        ContentPart::Image {
            url: "https://x/y.png".into()
        }
    );
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Tool {
            name: "weather".into()
        })
    );
    let up = openai::encode_request(&req, "gpt-4o", true);
    assert_eq!(up["stream_options"], json!({"include_usage": true}));
    assert_eq!(up["max_tokens"], 512);
    assert_eq!(up["stop"], json!(["END"]));
    assert_eq!(
        up["tool_choice"],
        json!({"type": "function", "function": {"name": "weather"}})
    );
    let m = up["messages"].as_array().unwrap();
    assert_eq!(m[0], json!({"role": "system", "content": "Be brief."}));
    assert_eq!(m[2]["content"], "Checking.");
    assert_eq!(
        m[2]["tool_calls"][0]["function"],
        json!({"name": "weather", "arguments": "{\"city\":\"Oslo\"}"})
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "t1", "content": "rain"})
    );
    assert_eq!(
        m[4]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "https://x/y.png"}})
    );
    assert_eq!(
        openai::encode_request(&req, "o3-mini", false)["max_completion_tokens"],
        512
    );
}

#[test]
fn bad_requests_name_the_field() {
    let o = |v: Value| invalid_request(openai::parse_request(&body(&v)));
    assert_eq!(
        o(json!({"messages": []})),
        "model: missing (a string is required)"
    );
    assert_eq!(
        o(json!({"model": " ", "messages": []})),
        "model: must not be empty"
    );
    assert_eq!(
        o(json!({"model": "m"})),
        "messages: missing (an array is required)"
    );
    assert_eq!(
        o(json!({"model": "m", "messages": [], "n": 2})),
        "n: only n = 1 is supported"
    );
    let m = o(
        json!({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                                                {"role": "user", "content": 5}]}),
    );
    assert_eq!(
        m,
        "messages[2].content: expected a string or an array of parts, got a number"
    );
    assert!(
        o(json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}))
            .starts_with("messages[0].role: unknown role \"robot\"")
    );
    assert_eq!(
        o(json!({"model": "m", "messages": [], "temperature": "hot"})),
        "temperature: expected a number, got a string"
    );
    assert!(invalid_request(openai::parse_request(b"{")).starts_with("body: not valid JSON"));
    let a = |v: Value| invalid_request(anthropic::parse_request(&body(&v)));
    assert_eq!(
        a(json!({"model": "m", "messages": []})),
        "max_tokens: missing (required)"
    );
    assert_eq!(
        a(
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_use"}]}]})
        ),
        "messages[0].content[0].type: unsupported block type \"tool_use\" in a user message"
    );
    assert_eq!(
        a(
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]})
        ),
        "messages[0].content[0].tool_use_id: missing (a string is required)"
    );
}

#[test]
fn errors_and_models_have_each_protocols_shape() {
    assert_eq!(
        openai::encode_error(429, "rate_limited", "slow down"),
        json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": "rate_limited"}})
    );
    assert_eq!(
        openai::encode_error(502, "c", "m")["error"]["type"],
        "server_error"
    );
    assert_eq!(
        openai::encode_error(422, "c", "m")["error"]["type"],
        "invalid_request_error"
    );
    assert_eq!(
        anthropic::encode_error(529, "overloaded", "busy"),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "[overloaded] busy"}})
    );
    assert_eq!(
        anthropic::encode_error(503, "c", "m")["error"]["type"],
        "api_error"
    );
    assert_eq!(
        anthropic::encode_error(413, "c", "m")["error"]["type"],
        "request_too_large"
    );
    assert_eq!(
        openai::parse_error_message(br#"{"error":{"message":"bad key"}}"#).as_deref(),
        Some("bad key")
    );
    assert_eq!(
        anthropic::parse_error_message(
            br#"{"type":"error","error":{"type":"x","message":"nope"}}"#
        )
        .as_deref(),
        Some("nope")
    );
    assert_eq!(
        openai::parse_error_message(b"<html>502</html>").as_deref(),
        Some("<html>502</html>")
    );
    assert_eq!(openai::parse_error_message(b"  "), None);
    let models = openai::encode_models(&[("fast".into(), "route".into())]);
    assert_eq!(
        models,
        json!({"object": "list", "data": [{"id": "fast", "object": "model", "created": 0, "owned_by": "route"}]})
    );
}
