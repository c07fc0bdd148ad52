//! The queues, the control API over HTTP, the counters, key checks, and the binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use flightdeck_scripted_provider::{CallCounts, RECENT_CALLS, Reply, ScriptedProvider, Step};
use serde_json::{Value, json};

use crate::support::{BOTH, KEY, Proto, answer_text, body, client, request, send_json};

async fn answer(p: &ScriptedProvider, proto: Proto, model: &str) -> (u16, Value) {
    send_json(p, proto, &body(proto, model, "q", false)).await
}

#[tokio::test]
async fn steps_are_answered_in_order_then_the_echo() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script_all([Step::reply("one"), Step::status(500), Step::reply("three")]);
    let (_, v) = answer(&p, Proto::OpenAi, "m").await;
    assert_eq!(answer_text(Proto::OpenAi, &v), "one");
    let (status, _) = answer(&p, Proto::Anthropic, "m").await;
    assert_eq!(status, 500);
    let (_, v) = answer(&p, Proto::Anthropic, "m").await;
    assert_eq!(answer_text(Proto::Anthropic, &v), "three");
    let (_, v) = answer(&p, Proto::OpenAi, "m").await;
    assert_eq!(answer_text(Proto::OpenAi, &v), "echo: q");
    let calls = p.calls();
    let answers: Vec<&str> = calls.recent.iter().map(|c| c.answer.as_str()).collect();
    assert_eq!(answers, ["reply", "status", "reply", "default"]);
}

#[tokio::test]
async fn model_queues_come_first() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script_for("model-a", Step::reply("a1"));
    p.script_for("model-a", Step::reply("a2"));
    p.script(Step::reply("shared"));
    let calls = p.calls();
    assert_eq!(calls.queued, 1);
    assert_eq!(calls.queued_by_model["model-a"], 2);
    let (_, v) = answer(&p, Proto::OpenAi, "model-b").await;
    assert_eq!(answer_text(Proto::OpenAi, &v), "shared");
    let (_, v) = answer(&p, Proto::OpenAi, "model-a").await;
    assert_eq!(answer_text(Proto::OpenAi, &v), "a1");
    let (_, v) = answer(&p, Proto::Anthropic, "model-a").await;
    assert_eq!(answer_text(Proto::Anthropic, &v), "a2");
    let (_, v) = answer(&p, Proto::OpenAi, "model-a").await;
    assert_eq!(answer_text(Proto::OpenAi, &v), "echo: q");
    let calls = p.calls();
    assert_eq!(calls.queued, 0);
    assert!(calls.queued_by_model.is_empty());
    assert_eq!(calls.model("model-a"), 3);
    assert_eq!(calls.model("model-b"), 1);
}

#[tokio::test]
async fn control_api_over_http() {
    let p = ScriptedProvider::start().await.unwrap();
    let c = client();
    let script = json!({"steps": [
        {"kind": "reply", "text": "from json", "usage": {"input": 4, "output": 2}},
        {"kind": "status", "status": 429, "retry_after": 1}
    ]});
    let r = c
        .post(format!("{}/_script", p.base_url()))
        .json(&script)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["added"], 2);
    assert_eq!(v["queued"], 2);
    let r = c
        .post(format!("{}/_script", p.base_url()))
        .json(&json!({"model": "gpt-x", "steps": [{"kind": "hang"}]}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["queued_by_model"]["gpt-x"], 1);

    for bad in [
        json!({"steps": [{"kind": "reply", "txt": "typo"}]}),
        json!({"steps": [{"kind": "explode"}]}),
        json!({"steps": [{"kind": "status", "status": 42}]}),
        json!({"step": []}),
    ] {
        let r = c
            .post(format!("{}/_script", p.base_url()))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].is_string());
    }

    let (_, v) = answer(&p, Proto::OpenAi, "m").await;
    assert_eq!(answer_text(Proto::OpenAi, &v), "from json");
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    let (status, _) = answer(&p, Proto::OpenAi, "m").await;
    assert_eq!(status, 429);

    let calls: CallCounts = c
        .get(format!("{}/_calls", p.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls.total, 2, "the control API is not counted");
    assert_eq!(calls.queued_by_model["gpt-x"], 1);
    assert_eq!(calls, p.calls());

    let r = c
        .post(format!("{}/_reset", p.base_url()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(p.calls(), CallCounts::default());
    let r = c
        .get(format!("{}/_nope", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(p.calls().total, 0);
}

#[tokio::test]
async fn counters_and_recorded_requests() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Step::status(503));
    for proto in BOTH {
        answer(&p, proto, "counted").await;
    }
    let calls = p.calls();
    assert_eq!(calls.total, 2);
    assert_eq!(calls.path("/v1/chat/completions"), 1);
    assert_eq!(calls.path("/v1/messages"), 1);
    assert_eq!(calls.model("counted"), 2);
    let openai = &calls.recent[0];
    assert_eq!(openai.method, "POST");
    assert_eq!(
        openai.header("Authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(openai.body["messages"][1]["content"], "q");
    assert_eq!(openai.answer, "status");
    assert_eq!(openai.seq, 1);
    let anthropic = &calls.recent[1];
    assert_eq!(anthropic.header("x-api-key"), Some(KEY));
    assert_eq!(anthropic.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(anthropic.model.as_deref(), Some("counted"));
    assert!(!anthropic.stream);

    for _ in 0..RECENT_CALLS + 5 {
        answer(&p, Proto::OpenAi, "many").await;
    }
    let calls = p.calls();
    assert_eq!(calls.total, 2 + RECENT_CALLS as u64 + 5);
    assert_eq!(calls.recent.len(), RECENT_CALLS);
    assert_eq!(calls.recent.last().unwrap().seq, calls.total);
    assert_eq!(calls.recent[0].seq, calls.total - RECENT_CALLS as u64 + 1);
}

#[tokio::test]
async fn require_key_refuses_other_keys_in_each_format() {
    let p = ScriptedProvider::builder()
        .require_key(KEY)
        .start()
        .await
        .unwrap();
    p.script(Step::reply("for the right key"));
    let c = client();
    for proto in BOTH {
        for key in [Some("sk-wrong"), None] {
            let req = match (key, proto) {
                (Some(key), _) => request(&c, &p, proto, key, &body(proto, "m", "q", false)),
                (None, Proto::OpenAi) => c
                    .post(format!("{}/chat/completions", p.openai_base_url()))
                    .json(&body(proto, "m", "q", false)),
                (None, Proto::Anthropic) => c
                    .post(format!("{}/v1/messages", p.base_url()))
                    .header("anthropic-version", "2023-06-01")
                    .json(&body(proto, "m", "q", false)),
            };
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{proto:?} {key:?}");
            let v: Value = r.json().await.unwrap();
            match proto {
                Proto::OpenAi => assert_eq!(v["error"]["type"], "invalid_request_error"),
                Proto::Anthropic => {
                    assert_eq!(v["type"], "error");
                    assert_eq!(v["error"]["type"], "authentication_error");
                }
            }
        }
    }
    // x-api-key is Anthropic's only.
    let r = c
        .post(format!("{}/chat/completions", p.openai_base_url()))
        .header("x-api-key", KEY)
        .json(&body(Proto::OpenAi, "m", "q", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/models", p.openai_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Anthropic's Python SDK 2.x sends its key as a bearer token: accepted there, and checked.
    let r = c
        .post(format!("{}/v1/messages", p.base_url()))
        .bearer_auth("sk-wrong")
        .json(&body(Proto::Anthropic, "m", "q", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let calls = p.calls();
    assert_eq!(calls.total, 7);
    assert!(calls.recent.iter().all(|c| c.answer == "unauthorized"));
    assert_eq!(calls.queued, 1, "refused requests pop no step");
    let r = c
        .post(format!("{}/v1/messages", p.base_url()))
        .bearer_auth(KEY)
        .json(&body(Proto::Anthropic, "m", "q", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(answer_text(Proto::Anthropic, &v), "for the right key");
    for proto in BOTH {
        let (status, _) = answer(&p, proto, "m").await;
        assert_eq!(status, 200, "{proto:?}");
    }
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let p = ScriptedProvider::start().await.unwrap();
    p.script(Step::Hang);
    let addr = p.addr();
    let hanging = tokio::spawn({
        let url = format!("{}/chat/completions", p.openai_base_url());
        async move {
            client()
                .post(url)
                .json(&body(Proto::OpenAi, "m", "x", false))
                .send()
                .await
        }
    });
    crate::support::wait_for(&p, |c| c.total == 1).await;
    tokio::time::timeout(std::time::Duration::from_secs(5), p.shutdown())
        .await
        .expect("shutdown does not wait for hanging answers");
    assert!(hanging.await.unwrap().is_err(), "the hanging call was cut");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[test]
fn binary_prints_its_address_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scripted-provider"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--require-key",
            "sk-bin",
            "--model",
            "bin-model",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let c = client();
        let v: Value = c
            .get(format!("{url}/v1/models"))
            .bearer_auth("sk-bin")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["data"][0]["id"], "bin-model");
        let r = c
            .post(format!("{url}/_script"))
            .json(&json!({"steps": [Reply::text("scripted").into_step_json()]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = c
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth("sk-bin")
            .json(&body(Proto::OpenAi, "m", "x", false))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer_text(Proto::OpenAi, &v), "scripted");
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exits cleanly on SIGTERM: {exit:?}");
}

trait IntoStepJson {
    fn into_step_json(self) -> Value;
}

impl IntoStepJson for Reply {
    fn into_step_json(self) -> Value {
        serde_json::to_value(Step::from(self)).unwrap()
    }
}
