//! The fault steps, in both protocols: malformed, truncated, stalled, hanging and endless
//! answers, and that clients leaving mid-way are counted and harm nothing.

use std::time::Duration;

use flightdeck_scripted_provider::{Endless, ScriptedProvider, Step};
use futures_util::StreamExt;
use serde_json::Value;

use crate::support::{
    BOTH, KEY, Proto, body, client, parse_sse, read_until, request, send, send_json, wait_for,
};

/// Events of a (possibly cut) stream whose data is JSON.
fn deltas_in(proto: Proto, text: &str) -> usize {
    let complete = &text[..text.rfind("\n\n").map_or(0, |i| i + 2)];
    crate::support::text_deltas(proto, &parse_sse(complete)).len()
}

fn is_terminated(proto: Proto, text: &str) -> bool {
    match proto {
        Proto::OpenAi => text.contains("[DONE]") || text.contains("finish_reason\":\"stop"),
        Proto::Anthropic => text.contains("message_stop") || text.contains("message_delta"),
    }
}

#[tokio::test]
async fn malformed_bodies_and_stream_lines() {
    for proto in BOTH {
        let p = ScriptedProvider::start().await.unwrap();
        p.script(Step::malformed());
        let response = send(&p, proto, &body(proto, "m", "x", false)).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "{proto:?}: {text}"
        );

        let step: Step = serde_json::from_str(r#"{"kind":"malformed","after_chunks":2}"#).unwrap();
        p.script(step);
        let text = send(&p, proto, &body(proto, "m", "one two three four", true))
            .await
            .text()
            .await
            .unwrap();
        let events = parse_sse(&text);
        let bad: Vec<_> = events
            .iter()
            .filter(|e| e.data != "[DONE]" && serde_json::from_str::<Value>(&e.data).is_err())
            .collect();
        assert_eq!(bad.len(), 1, "{proto:?}: one bad data line in {text}");
        let good_deltas = crate::support::text_deltas(
            proto,
            &events
                .iter()
                .filter(|e| !std::ptr::eq(*e, bad[0]))
                .cloned()
                .collect::<Vec<_>>(),
        );
        assert_eq!(good_deltas.len(), 2, "{proto:?}");
    }
}

#[tokio::test]
async fn truncated_streams_close_without_an_end() {
    for proto in BOTH {
        let p = ScriptedProvider::start().await.unwrap();
        p.script(Step::truncate(2));
        let response = send(&p, proto, &body(proto, "m", "a b c d e f", true)).await;
        assert_eq!(response.status(), 200);
        let (text, end) = read_until(response, Duration::from_secs(5), |_| false).await;
        assert!(
            matches!(end, Some(Err(_))),
            "{proto:?}: body must fail, got {end:?}"
        );
        assert_eq!(deltas_in(proto, &text), 2, "{proto:?}: {text}");
        assert!(!is_terminated(proto, &text), "{proto:?}: {text}");
        let calls = p.calls();
        assert_eq!(
            calls.disconnected, 0,
            "an abort on purpose is no disconnect"
        );
        assert_eq!(calls.recent[0].answer, "truncate");
    }
}

#[tokio::test]
async fn truncated_bodies_are_shorter_than_their_length() {
    for proto in BOTH {
        let p = ScriptedProvider::start().await.unwrap();
        p.script(Step::truncate(1));
        let response = send(&p, proto, &body(proto, "m", "some words here", false)).await;
        assert_eq!(response.status(), 200);
        let length = response.content_length().unwrap();
        let (text, end) = read_until(response, Duration::from_secs(5), |_| false).await;
        assert!(matches!(end, Some(Err(_))), "{proto:?}: {end:?}");
        assert!((text.len() as u64) < length, "{proto:?}");
        assert!(!text.is_empty());
    }
}

#[tokio::test]
async fn stalled_streams_stay_open_and_count_the_disconnect() {
    for proto in BOTH {
        let p = ScriptedProvider::start().await.unwrap();
        p.script(Step::stall(1));
        let response = send(&p, proto, &body(proto, "m", "a b c d", true)).await;
        let (text, end) = read_until(response, Duration::from_millis(300), |_| false).await;
        assert!(
            end.is_none(),
            "{proto:?}: the stream must stay open, got {end:?}"
        );
        assert_eq!(deltas_in(proto, &text), 1, "{proto:?}: {text}");
        assert!(!is_terminated(proto, &text));
        // read_until dropped the response: the server sees the client leave.
        wait_for(&p, |c| c.disconnected == 1).await;
    }
}

#[tokio::test]
async fn stalled_bodies_send_only_the_head() {
    for proto in BOTH {
        let p = ScriptedProvider::start().await.unwrap();
        p.script(Step::stall(0));
        let response = tokio::time::timeout(
            Duration::from_secs(2),
            send(&p, proto, &body(proto, "m", "x", false)),
        )
        .await
        .expect("the head arrives");
        assert_eq!(response.status(), 200);
        assert!(response.content_length().unwrap() > 0);
        let (text, end) = read_until(response, Duration::from_millis(200), |_| false).await;
        assert!(text.is_empty() && end.is_none(), "{proto:?}");
        wait_for(&p, |c| c.disconnected == 1).await;
    }
}

#[tokio::test]
async fn hang_never_answers_and_the_client_leaving_is_counted() {
    for proto in BOTH {
        for stream in [false, true] {
            let p = ScriptedProvider::start().await.unwrap();
            p.script(Step::Hang);
            let result = request(&client(), &p, proto, KEY, &body(proto, "m", "x", stream))
                .timeout(Duration::from_millis(200))
                .send()
                .await;
            let error = result.unwrap_err();
            assert!(error.is_timeout(), "{proto:?}: {error}");
            let calls = wait_for(&p, |c| c.disconnected == 1).await;
            assert_eq!(calls.total, 1);
            assert_eq!(calls.recent[0].answer, "hang");
            // The server is fine afterwards.
            let (status, _) = send_json(&p, proto, &body(proto, "m", "x", false)).await;
            assert_eq!(status, 200);
        }
    }
}

#[tokio::test]
async fn endless_streams_never_end() {
    for proto in BOTH {
        let p = ScriptedProvider::start().await.unwrap();
        p.script(Step::Endless(Endless {
            chunk_delay_ms: Some(0),
            chunk_bytes: Some(1000),
            latency_ms: None,
        }));
        let response = send(&p, proto, &body(proto, "m", "x", true)).await;
        let (text, end) = read_until(response, Duration::from_secs(5), |t| t.len() > 200_000).await;
        assert!(end.is_none(), "{proto:?}: {end:?}");
        assert!(text.len() > 200_000);
        assert!(deltas_in(proto, &text) > 150);
        assert!(!is_terminated(proto, &text));
        wait_for(&p, |c| c.disconnected == 1).await;

        // Paced: about one delta per millisecond by default.
        p.script(Step::endless(1));
        let response = send(&p, proto, &body(proto, "m", "x", true)).await;
        let (text, end) = read_until(response, Duration::from_millis(300), |_| false).await;
        assert!(end.is_none());
        let n = deltas_in(proto, &text);
        assert!((20..=400).contains(&n), "{proto:?}: {n} deltas in 300 ms");
    }
}

#[tokio::test]
async fn endless_bodies_never_end() {
    for proto in BOTH {
        let p = ScriptedProvider::start().await.unwrap();
        p.script(Step::Endless(Endless {
            chunk_delay_ms: Some(0),
            chunk_bytes: Some(4096),
            latency_ms: None,
        }));
        let response = send(&p, proto, &body(proto, "m", "x", false)).await;
        assert_eq!(response.status(), 200);
        assert!(response.content_length().is_none());
        let (text, end) =
            read_until(response, Duration::from_secs(5), |t| t.len() > 1_000_000).await;
        assert!(end.is_none());
        assert!(text.starts_with("{\"id\":"));
        assert!(text.ends_with("endless ") || text.contains("endless endless"));
    }
}

#[tokio::test]
async fn clients_leaving_mid_stream_are_counted() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(flightdeck_scripted_provider::Reply::text("a b c d e f g h").chunks(8, 200));
    let response = send(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", true)).await;
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(stream);
    wait_for(&p, |c| c.disconnected == 1).await;
    // A complete answer is no disconnect.
    let text = send(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", true))
        .await
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(p.calls().disconnected, 1);
}

#[tokio::test]
async fn latency_applies_to_errors_and_faults() {
    let p = ScriptedProvider::start().await.unwrap();
    let step: Step =
        serde_json::from_str(r#"{"kind":"status","status":500,"latency_ms":150}"#).unwrap();
    p.script(step);
    let start = std::time::Instant::now();
    let (status, _) = send_json(&p, Proto::OpenAi, &body(Proto::OpenAi, "m", "x", false)).await;
    assert_eq!(status, 500);
    assert!(start.elapsed() >= Duration::from_millis(150));
}
