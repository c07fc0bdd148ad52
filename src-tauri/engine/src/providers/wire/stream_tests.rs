//! Stream tests across the wire modules: each encoder's output re-decoded by the same
//! protocol's decoder, stream errors and ends, and the JSON-schema forced tool of Anthropic.

use serde_json::json;

use super::openai;
use super::sse::SseParser;
use super::tests::{body, usage};
use super::{WireError, anthropic};
use crate::providers::neutral::{
    ChatRequest, FinishReason, ResponseFormat, Role, StreamEvent, Usage,
};

fn sample_stream(u: Usage) -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "abc".into(),
            model: "route".into(),
        },
        StreamEvent::TextDelta { text: "Hel".into() },
        StreamEvent::TextDelta {
            text: "lo\n".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "c1".into(),
            name: "weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"city\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "\"Oslo\"}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "c2".into(),
            name: "time".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{}".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            usage: Some(u),
        },
    ]
}

/// Frames → bytes fed in 7-byte pieces → SSE events.
fn reparse(frames: &str) -> Vec<super::sse::SseEvent> {
    let mut p = SseParser::new(4096);
    frames
        .as_bytes()
        .chunks(7)
        .flat_map(|c| p.push(c).unwrap())
        .collect()
}

#[test]
fn openai_stream_encodes_and_decodes_back() {
    let events = sample_stream(usage(70, 30, 30, 0, 20));
    let mut enc = openai::StreamEncoder::new("route", 1);
    let frames: String = events.iter().map(|e| enc.encode(e)).collect();
    assert!(frames.contains("\"role\":\"assistant\"") && frames.ends_with("data: [DONE]\n\n"));
    let req = ChatRequest::default();
    let mut dec = openai::StreamDecoder::new(&req);
    let mut got = Vec::new();
    for ev in reparse(&frames) {
        got.extend(dec.push(&ev).unwrap());
    }
    assert!(dec.finish());
    let mut want = events;
    want[0] = StreamEvent::Start {
        id: "chatcmpl-abc".into(),
        model: "route".into(),
    };
    assert_eq!(got, want);
}

#[test]
fn anthropic_stream_encodes_and_decodes_back() {
    let events = sample_stream(usage(10, 20, 30, 40, 0));
    let mut enc = anthropic::StreamEncoder::new("route");
    let frames: String = events.iter().map(|e| enc.encode(e)).collect();
    let names: Vec<Option<String>> = reparse(&frames).into_iter().map(|e| e.event).collect();
    assert_eq!(
        names.first().cloned().flatten().as_deref(),
        Some("message_start")
    );
    assert_eq!(
        names.last().cloned().flatten().as_deref(),
        Some("message_stop")
    );
    let req = ChatRequest::default();
    let mut dec = anthropic::StreamDecoder::new(&req);
    let mut got = Vec::new();
    for ev in reparse(&frames) {
        got.extend(dec.push(&ev).unwrap());
    }
    assert!(dec.finish());
    let mut want = events;
    want[0] = StreamEvent::Start {
        id: "msg_abc".into(),
        model: "route".into(),
    };
    assert_eq!(got, want);
    // An empty answer still has one (empty) text block.
    let mut enc = anthropic::StreamEncoder::new("m");
    let empty: String = [
        StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
        },
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            usage: None,
        },
    ]
    .iter()
    .map(|e| enc.encode(e))
    .collect();
    assert!(empty.contains("content_block_start") && empty.contains("content_block_stop"));
}

#[test]
fn stream_errors_and_ends() {
    let req = ChatRequest::default();
    let ev = |event: Option<&str>, data: &str| super::sse::SseEvent {
        event: event.map(str::to_string),
        data: data.into(),
    };
    let mut o = openai::StreamDecoder::new(&req);
    assert!(matches!(
        o.push(&ev(None, "{oops")),
        Err(WireError::InvalidResponse(_))
    ));
    assert_eq!(
        o.push(&ev(None, r#"{"error":{"message":"overloaded"}}"#)),
        Err(WireError::InvalidResponse("overloaded".into()))
    );
    assert!(!o.finish());
    let chunk =
        r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    assert_eq!(o.push(&ev(None, chunk)).unwrap().len(), 1); // Start only
    assert!(o.finish());
    let done = o.push(&ev(None, "[DONE]")).unwrap();
    assert_eq!(
        done,
        vec![StreamEvent::Finish {
            reason: FinishReason::Stop,
            usage: None
        }]
    );
    let mut a = anthropic::StreamDecoder::new(&req);
    let err = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(
        a.push(&ev(Some("error"), err)),
        Err(WireError::InvalidResponse("Overloaded".into()))
    );
    assert!(
        a.push(&ev(Some("ping"), r#"{"type":"ping"}"#))
            .unwrap()
            .is_empty()
    );
    assert!(!a.finish());
}

fn schema_request() -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        messages: vec![crate::providers::neutral::Message::text(
            Role::User,
            "Name a city",
        )],
        response_format: Some(ResponseFormat::JsonSchema {
            name: "city".into(),
            schema: json!({"type": "object", "properties": {"name": {"type": "string"}}}),
            strict: true,
        }),
        ..ChatRequest::default()
    }
}

#[test]
fn a_json_schema_is_a_forced_anthropic_tool() {
    let req = schema_request();
    let up = anthropic::encode_request(&req, "claude-x", false);
    assert_eq!(up["max_tokens"], anthropic::DEFAULT_MAX_TOKENS);
    assert_eq!(up["tools"][0]["name"], "city");
    assert_eq!(up["tools"][0]["description"], "Answer in this format");
    assert_eq!(up["tool_choice"], json!({"type": "tool", "name": "city"}));
    let answer = json!({"id": "msg_1", "content": [{"type": "tool_use", "id": "t", "name": "city",
        "input": {"name": "Oslo"}}], "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}});
    let (r, _) = anthropic::parse_response(&req, &body(&answer)).unwrap();
    assert_eq!(r.text, r#"{"name":"Oslo"}"#);
    assert!(r.tool_calls.is_empty());
    assert_eq!(r.finish_reason, FinishReason::Stop);
    // Streamed: the tool's input arrives as text.
    let mut dec = anthropic::StreamDecoder::new(&req);
    let mut got = Vec::new();
    for (name, data) in [
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x",
            "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "city", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "{\"name\":\"Oslo\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 9}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ] {
        let ev = super::sse::SseEvent {
            event: Some(name.into()),
            data: data.to_string(),
        };
        got.extend(dec.push(&ev).unwrap());
    }
    assert_eq!(
        got,
        vec![
            StreamEvent::Start {
                id: "msg_1".into(),
                model: "claude-x".into()
            },
            StreamEvent::TextDelta {
                text: "{\"name\":\"Oslo\"}".into()
            },
            StreamEvent::Finish {
                reason: FinishReason::Stop,
                usage: Some(usage(5, 9, 0, 0, 0))
            },
        ]
    );
    // JSON mode asks in the system prompt.
    let mut json_mode = schema_request();
    json_mode.response_format = Some(ResponseFormat::JsonObject);
    let up = anthropic::encode_request(&json_mode, "claude-x", false);
    assert_eq!(
        up["system"],
        "Answer with one JSON object and nothing else."
    );
    assert!(up.get("tools").is_none());
}
