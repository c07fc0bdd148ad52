//! The ledger's crash promise (docs/ledger.md) under SIGKILL during load: after a kill and a
//! restart, every call a client saw finish is in the ledger exactly as the provider reported
//! it, every call a client saw start is there (finished, or flagged `unrecorded`), and no
//! call is there twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flightdeck_scripted_provider::{ScriptedProvider, Step};
use serde_json::{Value, json};

use super::support::{Node, TOKEN, all_items, flightdeck, run};

#[derive(Default)]
struct Seen {
    /// Call id → the client received the whole answer.
    calls: HashMap<String, bool>,
}

/// One client connection: calls until the node goes away.
async fn load(base: String, stream: bool, stop: Arc<AtomicBool>) -> Seen {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut seen = Seen::default();
    while !stop.load(Ordering::Relaxed) {
        let body = json!({
            "model": "default",
            "stream": stream,
            "messages": [{"role": "user", "content": "one two three"}],
        });
        let Ok(res) = http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
        else {
            break;
        };
        let Some(id) = res
            .headers()
            .get("x-flightdeck-call-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            panic!("an answer without a call id: {}", res.status());
        };
        assert!(res.status().is_success(), "{}", res.status());
        seen.calls.insert(id.clone(), false);
        let complete = match res.text().await {
            Ok(text) if stream => text.trim_end().ends_with("data: [DONE]"),
            Ok(text) => serde_json::from_str::<Value>(&text).is_ok(),
            Err(_) => false,
        };
        seen.calls.insert(id, complete);
        if !complete {
            break;
        }
    }
    seen
}

fn config(dir: &std::path::Path, provider: &ScriptedProvider) -> std::path::PathBuf {
    let path = dir.join("flightdeck.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[providers.scripted]
kind = "openai"
base_url = "{}"
local = false
[routes.default]
chain = ["scripted/m1"]
[prices."scripted/m1"]
input = 1
output = 2
"#,
            provider.openai_base_url()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_load_loses_no_call_and_flags_the_ones_in_flight() {
    let provider = ScriptedProvider::start().await.unwrap();
    // Every answer takes a while, so calls are in flight at any moment; every fourth one
    // streams slowly. Usage is fixed, so every finished row can be checked exactly.
    let usage = json!({"input": 11, "output": 7, "cached_input": 0});
    let steps: Vec<Step> = (0..20_000)
        .map(|i| {
            serde_json::from_value(if i % 4 == 0 {
                json!({"kind": "reply", "text": "a b c d", "chunks": 4, "chunk_delay_ms": 10,
                       "latency_ms": 5, "usage": usage})
            } else {
                json!({"kind": "reply", "text": "a b c", "latency_ms": 20, "usage": usage})
            })
            .unwrap()
        })
        .collect();
    provider.script_all(steps);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &provider);

    let mut seen: HashMap<String, bool> = HashMap::new();
    for round in 0..3 {
        let node = Node::start_with_config(dir.path(), &cfg);
        let base = format!("http://{}", node.addr);
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..24)
            .map(|i| tokio::spawn(load(base.clone(), i % 4 == 0, stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(1200 + 300 * round)).await;
        let mut node = node;
        node.child.kill().unwrap(); // SIGKILL
        node.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            for (id, complete) in t.await.unwrap().calls {
                assert!(seen.insert(id, complete).is_none(), "a call id was reused");
            }
        }
    }

    let node = Node::start_with_config(dir.path(), &cfg);
    let rows = all_items(&node, "/api/v1/calls").await;
    let mut by_id: HashMap<&str, &Value> = HashMap::new();
    for r in &rows {
        assert!(
            by_id.insert(r["id"].as_str().unwrap(), r).is_none(),
            "a call is in the ledger twice: {r}"
        );
    }
    let finished = seen.values().filter(|c| **c).count();
    let mut unrecorded = 0;
    for (id, complete) in &seen {
        let row = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("call {id} (complete: {complete}) is missing"));
        let outcome = row["outcome"].as_str().unwrap();
        if *complete {
            assert_eq!(outcome, "ok", "{row}");
            assert_eq!(row["usage"]["input"], 11, "{row}");
            assert_eq!(row["usage"]["output"], 7, "{row}");
            assert_eq!(row["usage"]["estimated"], false, "{row}");
            // 11 × $1 + 7 × $2 per million.
            assert_eq!(row["cost"], "0.000025", "{row}");
        } else {
            assert!(
                ["ok", "unrecorded", "cancelled"].contains(&outcome),
                "{row}"
            );
        }
        if outcome == "unrecorded" {
            unrecorded += 1;
            assert_eq!(row["client"], "bootstrap", "{row}");
            assert_eq!(row["requested_model"], "default", "{row}");
            assert!(
                row.get("cost").is_none(),
                "an unrecorded call has no cost: {row}"
            );
        }
    }
    // Rows the clients never heard of are calls that began just before a kill: still in
    // flight (`unrecorded`), or finished and journaled with the kill landing before the
    // answer's head left the node (`ok`, exact: the provider did the work, it is billed).
    let unseen: HashSet<&str> = by_id
        .keys()
        .copied()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    for id in &unseen {
        let row = by_id[id];
        match row["outcome"].as_str() {
            Some("unrecorded") => {}
            Some("ok") => assert_eq!(row["cost"], "0.000025", "{row}"),
            _ => panic!("an unseen call is neither unrecorded nor finished: {row}"),
        }
    }
    let unseen_unrecorded = unseen
        .iter()
        .filter(|id| by_id[*id]["outcome"] == "unrecorded")
        .count();
    assert!(
        finished > 100,
        "only {finished} calls finished before the kills"
    );
    assert!(
        unrecorded + unseen_unrecorded > 0,
        "no call was in flight at any of the three kills ({finished} finished)"
    );
    eprintln!(
        "{finished} finished, {} started but cut, {} flagged unrecorded ({} unseen by clients)",
        seen.len() - finished,
        unrecorded + unseen_unrecorded,
        unseen.len()
    );

    // `flightdeck calls ls`: through the running node, then on the data dir once it stopped.
    let calls = |args: &[&str]| {
        run({
            let mut c = flightdeck(dir.path());
            c.args(["--secrets", "env", "calls", "ls"])
                .args(args)
                .env("FLIGHTDECK_API_TOKEN", TOKEN);
            c
        })
    };
    let (code, out, err) = calls(&["--json", "--limit", "5"]);
    assert_eq!(code, 0, "{err}");
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0]["id"], rows[0]["id"], "newest first, as the API");
    node.terminate();
    let (code, out, err) = calls(&["--outcome", "unrecorded", "--limit", "500"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("STARTED")
            && lines[0].contains("PROVIDER/MODEL")
            && lines[0].ends_with("ID"),
        "{out}"
    );
    assert_eq!(lines.len() - 1, unrecorded + unseen_unrecorded, "{out}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("unrecorded") && l.contains("unknown")),
        "{out}"
    );
    let (code, out, _) = calls(&["--route", "default", "--outcome", "ok", "--limit", "3"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .skip(1)
            .all(|l| l.contains("scripted/m1") && l.contains("0.000025")),
        "{out}"
    );
    // Bad input: a clear error, exit 2.
    let (code, _, err) = calls(&["--since", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("yesterday"), "{err}");
}
