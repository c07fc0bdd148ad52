//! Budgets across a SIGKILL: calls in flight hold reservations; after a kill and a restart
//! no reservation is left (the gate reads spent from the ledger's rollups), spent equals
//! what the ledger holds, and the CLI (`budget ls`, `costs`) shows the same figures through
//! the node and on the stopped data dir.

use std::time::Duration;

use flightdeck_scripted_provider::{ScriptedProvider, Step};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::support::{Node, TOKEN, client, flightdeck, get_json, run};

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

async fn budget(node: &Node, name: &str) -> Value {
    get_json(
        &client(),
        &node.url(&format!("/api/v1/budgets/{name}")),
        Some(TOKEN),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_with_reservations_held_leaves_none_after_a_restart() {
    let provider = ScriptedProvider::start().await.unwrap();
    let usage = json!({"input": 1000, "output": 100});
    // Four quick answers, then answers that never end (calls stay in flight).
    let mut steps: Vec<Step> = (0..4)
        .map(|_| {
            serde_json::from_value(json!({"kind": "reply", "text": "done", "usage": usage}))
                .unwrap()
        })
        .collect();
    steps.extend((0..8).map(|_| Step::endless(50)));
    provider.script_all(steps);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flightdeck.toml");
    std::fs::write(
        &cfg,
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
[budgets.hold]
limit_usd = 5
period = "monthly"
action = "block"
"#,
            provider.openai_base_url()
        ),
    )
    .unwrap();
    let mut node = Node::start_with_config(dir.path(), &cfg);
    let http = client();
    let base = format!("http://{}", node.addr);
    for _ in 0..4 {
        let r = http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .json(&json!({"model": "default", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    // Eight streams that never end: their reservations are held.
    let mut streams = Vec::new();
    for _ in 0..8 {
        let http = http.clone();
        let base = base.clone();
        streams.push(tokio::spawn(async move {
            let r = http
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(TOKEN)
                .json(
                    &json!({"model": "default", "stream": true, "max_tokens": 200,
                    "messages": [{"role": "user", "content": "go on"}]}),
                )
                .send()
                .await;
            if let Ok(mut r) = r {
                while let Ok(Some(_)) = r.chunk().await {}
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let held = loop {
        let b = budget(&node, "hold").await;
        if dec(&b["reserved"]) > Decimal::ZERO && provider.calls().total >= 12 {
            break b;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reserved: {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // 4 calls of 1000 × $1 + 100 × $2 per million.
    assert_eq!(dec(&held["spent"]), Decimal::new(48, 4));
    node.child.kill().unwrap(); // SIGKILL, reservations held
    node.child.wait().unwrap();
    for s in streams {
        let _ = s.await;
    }

    // Restarted: nothing is reserved; spent is what the ledger committed.
    let node = Node::start_with_config(dir.path(), &cfg);
    let b = budget(&node, "hold").await;
    assert_eq!(dec(&b["reserved"]), Decimal::ZERO, "{b}");
    assert_eq!(dec(&b["spent"]), Decimal::new(48, 4), "{b}");
    assert_eq!(
        b["unknown_cost_calls"], 8,
        "the cut streams are unknown, not $0: {b}"
    );
    // The CLI through the running node shows the same.
    let (code, out, err) = run({
        let mut c = flightdeck(dir.path());
        c.args(["--secrets", "env", "--config"])
            .arg(&cfg)
            .env("FLIGHTDECK_API_TOKEN", TOKEN)
            .args(["budget", "ls", "--json"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["items"][0]["reserved"], "0");
    assert_eq!(listed["items"][0]["spent"], "0.0048");
    let (code, out, err) = run({
        let mut c = flightdeck(dir.path());
        c.args(["--secrets", "env", "--config"])
            .arg(&cfg)
            .env("FLIGHTDECK_API_TOKEN", TOKEN)
            .args(["costs", "--period", "this_month", "--json"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["totals"]["cost"], "0.0048");
    assert_eq!(summary["totals"]["calls"], 12);
    assert_eq!(summary["totals"]["unknown_cost_calls"], 8);
    let (_, _) = node.terminate();
    // And on the stopped data dir, from the database.
    let (code, out, err) = run({
        let mut c = flightdeck(dir.path());
        c.args(["--secrets", "env", "--config"])
            .arg(&cfg)
            .env("FLIGHTDECK_API_TOKEN", TOKEN)
            .args(["budget", "ls"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("hold") && out.contains("$0.0048"), "{out}");
    let (code, out, err) = run({
        let mut c = flightdeck(dir.path());
        c.args(["--secrets", "env", "--config"])
            .arg(&cfg)
            .env("FLIGHTDECK_API_TOKEN", TOKEN)
            .args(["costs", "--by", "model", "--period", "this_month"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("scripted/m1") && out.contains("+8 unknown"),
        "{out}"
    );

    // Reconciliation on the stopped data dir: a bill within a cent of the ledger does not
    // drift; one far off does (exit 3 with --fail-on-drift); bad rows import nothing.
    let today = chrono::Utc::now().date_naive();
    let reconcile = |file: &std::path::Path, extra: &[&str]| {
        run({
            let mut c = flightdeck(dir.path());
            c.args(["--secrets", "env", "--config"])
                .arg(&cfg)
                .env("FLIGHTDECK_API_TOKEN", TOKEN)
                .arg("reconcile")
                .arg(file)
                .args(extra);
            c
        })
    };
    let close = dir.path().join("close.csv");
    std::fs::write(
        &close,
        format!("date,provider,model,cost_usd\n{today},scripted,m1,0.005\n"),
    )
    .unwrap();
    let (code, out, err) = reconcile(&close, &["--fail-on-drift"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 of 1 day(s) drift") && out.contains("$0.0048"),
        "{out}"
    );
    let far = dir.path().join("far.csv");
    std::fs::write(
        &far,
        format!("date,provider,model,cost_usd\n{today},scripted,m1,0.5\n"),
    )
    .unwrap();
    let (code, out, _) = reconcile(&far, &["--fail-on-drift"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("DRIFT"), "{out}");
    let bad = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/costs/bad-rows.csv");
    let (code, _, err) = reconcile(&bad, &["--provider", "scripted"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("line 3") && err.contains("nothing was imported"),
        "{err}"
    );
    // The same bill again is refused.
    let (code, _, err) = reconcile(&close, &[]);
    assert_ne!(code, 0);
    assert!(err.contains("imported already"), "{err}");
    // The cut streams are calls of unknown cost (recovered without a provider or usage):
    // listed, and nothing the price table can fill.
    let (code, out, err) = run({
        let mut c = flightdeck(dir.path());
        c.args(["--secrets", "env", "--config"])
            .arg(&cfg)
            .args(["reprice", "--dry-run"]);
        c
    });
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(" 8 ") && out.contains("would change 0") && out.contains("4 call(s) priced"),
        "{out}"
    );

    // Through a running node, the same command goes through the API.
    let node = Node::start_with_config(dir.path(), &cfg);
    let again = dir.path().join("again.csv");
    std::fs::write(&again, format!("date,model,cost_usd\n{today},m1,0.0048\n")).unwrap();
    let (code, out, err) = reconcile(&again, &["--provider", "scripted", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rec: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rec["drifted_days"], 0, "{rec}");
    assert_eq!(rec["diff"], "0", "{rec}");
    let listed = get_json(&client(), &node.url("/api/v1/reconciliations"), Some(TOKEN)).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "{listed}");
    let (_, _) = node.terminate();
}
