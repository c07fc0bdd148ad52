//! The live feed over a real WebSocket: first-message auth, welcome, sequence numbers,
//! ping/pong, resume after reconnect, config events, close on shutdown.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use super::support::{Node, TOKEN};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(node: &Node) -> Ws {
    let (ws, _) = connect_async(node.ws_url()).await.unwrap();
    ws
}

/// The next JSON text frame, or the close frame as `{"close": code}`.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no frame within 10 s")
            .expect("stream ended")
            .unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(f) => return json!({ "close": f.map(|f| u16::from(f.code)) }),
            _ => continue,
        }
    }
}

async fn next_of_type(ws: &mut Ws, ty: &str, topic: Option<&str>) -> Value {
    for _ in 0..50 {
        let v = next(ws).await;
        if v["type"] == ty && topic.is_none_or(|t| v["topic"] == t) {
            return v;
        }
    }
    panic!("no {ty} {topic:?} message");
}

#[tokio::test]
async fn feed_auth_sequence_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);

    // Wrong token: an error message, then close 4401.
    let mut ws = connect(&node).await;
    ws.send(Message::text(
        json!({"type":"auth","token":"nope-nope-nope-nope","resume_from":null}).to_string(),
    ))
    .await
    .unwrap();
    let err = next(&mut ws).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "unauthorized");
    assert_eq!(next(&mut ws).await["close"], 4401);

    // A WebSocket opened from a foreign page is refused before the upgrade.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        node.ws_url(),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let err = connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    // No auth message at all: refused after 10 s (timed on paused time in the api crate's
    // unit tests, `feed::tests`).

    // Not an auth message first: refused too.
    let mut ws = connect(&node).await;
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next(&mut ws).await["code"], "unauthorized");

    // Good token: welcome, then metrics samples, which carry the last domain event's seq
    // (they are not kept, and take no number).
    let mut ws = connect(&node).await;
    ws.send(Message::text(
        json!({"type":"auth","token":TOKEN,"resume_from":null}).to_string(),
    ))
    .await
    .unwrap();
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["resumed"], false);
    assert_eq!(welcome["resync"], false);
    assert!(welcome["node_id"].as_str().unwrap().len() > 10);
    let last = welcome["seq"].as_u64().unwrap();
    for _ in 0..3 {
        let ev = next_of_type(&mut ws, "event", Some("metrics")).await;
        assert_eq!(ev["seq"].as_u64().unwrap(), last);
        assert!(ev["payload"]["uptime_seconds"].is_u64());
        assert!(ev["time"].as_str().unwrap().contains('T'));
    }
    // App-level ping, and garbage gets an error without closing.
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    next_of_type(&mut ws, "pong", None).await;
    ws.send(Message::text("not json")).await.unwrap();
    let e = next_of_type(&mut ws, "error", None).await;
    assert_eq!(e["code"], "invalid_json");

    // Resuming from the last seq seen is a resume with nothing to replay.
    let mut ws2 = connect(&node).await;
    ws2.send(Message::text(
        json!({"type":"auth","token":TOKEN,"resume_from":last,"topics":["health"]}).to_string(),
    ))
    .await
    .unwrap();
    let welcome = next(&mut ws2).await;
    assert_eq!(
        (welcome["resumed"].clone(), welcome["resync"].clone()),
        (json!(true), json!(false))
    );
    ws2.close(None).await.unwrap();

    // Bad subscriptions are refused with a stable code and close 4400: a resume point this
    // node never reached, an unknown topic.
    for (auth, code) in [
        (
            json!({"type":"auth","token":TOKEN,"resume_from":last + 1000}),
            "resume_from_future",
        ),
        (
            json!({"type":"auth","token":TOKEN,"topics":["metrics","budgets"]}),
            "unknown_topic",
        ),
    ] {
        let mut bad = connect(&node).await;
        bad.send(Message::text(auth.to_string())).await.unwrap();
        let err = next(&mut bad).await;
        assert_eq!(err["type"], "error");
        assert_eq!(err["code"], code, "{err}");
        assert_eq!(next(&mut bad).await["close"], 4400);
    }

    // Shutdown closes the feed with 1001 (going away), and the node exits 0.
    let (code, _) = node.terminate();
    let mut saw_close = false;
    for _ in 0..20 {
        let v = next(&mut ws).await;
        if v.get("close").is_some() {
            assert_eq!(v["close"], 1001);
            saw_close = true;
            break;
        }
    }
    assert!(saw_close);
    assert_eq!(code, 0);
}

#[tokio::test]
async fn config_reload_reaches_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flightdeck.toml");
    std::fs::write(&cfg, "[feed]\nmetrics_interval_ms = 1000\n").unwrap();
    let mut cmd = super::support::flightdeck(dir.path());
    cmd.arg("--config")
        .arg(&cfg)
        .args(["--secrets", "env", "serve", "--listen", "127.0.0.1:0"])
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let node = Node::spawn(cmd, dir.path());
    let mut ws = connect(&node).await;
    ws.send(Message::text(
        json!({"type":"auth","token":TOKEN,"resume_from":null}).to_string(),
    ))
    .await
    .unwrap();
    next_of_type(&mut ws, "welcome", None).await;

    std::fs::write(&cfg, "[feed]\nmetrics_interval_ms = 200\n").unwrap();
    let ev = next_of_type(&mut ws, "event", Some("config")).await;
    assert_eq!(ev["payload"]["outcome"], "applied");
    assert_eq!(
        ev["payload"]["changed"],
        json!(["feed.metrics_interval_ms"])
    );

    std::fs::write(&cfg, "[feed]\nmetrics_interval_ms = -1\n").unwrap();
    let ev = next_of_type(&mut ws, "event", Some("config")).await;
    assert_eq!(ev["payload"]["outcome"], "rejected");
    let msg = ev["payload"]["message"].as_str().unwrap();
    assert!(
        msg.contains("flightdeck.toml") && msg.contains("feed.metrics_interval_ms"),
        "{msg}"
    );

    let health: Value = reqwest::get(node.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "degraded");
    let config = health["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "config")
        .unwrap()
        .clone();
    assert_eq!(config["status"], "degraded");
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
}

/// A client that resumes after the node restarted gets every event it missed, from the
/// durable log, then the live ones: no gap, no duplicate.
#[tokio::test]
async fn resume_across_a_node_restart_has_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flightdeck.toml");
    std::fs::write(&cfg, "[feed]\nmetrics_interval_ms = 60000\n").unwrap();
    let start = || {
        let mut cmd = super::support::flightdeck(dir.path());
        cmd.arg("--config")
            .arg(&cfg)
            .args(["--secrets", "env", "serve", "--listen", "127.0.0.1:0"])
            .env("FLIGHTDECK_API_TOKEN", TOKEN);
        Node::spawn(cmd, dir.path())
    };
    let auth = |resume_from: Option<u64>| {
        Message::text(
            json!({"type":"auth","token":TOKEN,"resume_from":resume_from,"topics":["config"]})
                .to_string(),
        )
    };

    let node = start();
    let mut ws = connect(&node).await;
    ws.send(auth(None)).await.unwrap();
    next_of_type(&mut ws, "welcome", None).await;
    std::fs::write(&cfg, "[feed]\nmetrics_interval_ms = 50000\n").unwrap();
    let seen = next_of_type(&mut ws, "event", Some("config")).await;
    let seen = seen["seq"].as_u64().unwrap();
    // The client goes away; one more event happens that it does not see.
    ws.close(None).await.unwrap();
    std::fs::write(&cfg, "[feed]\nmetrics_interval_ms = 40000\n").unwrap();
    let mut watcher = connect(&node).await;
    watcher.send(auth(Some(seen))).await.unwrap();
    next_of_type(&mut watcher, "welcome", None).await;
    let missed = next_of_type(&mut watcher, "event", Some("config")).await;
    assert_eq!(missed["seq"].as_u64().unwrap(), seen + 1);
    let (code, _) = node.terminate();
    assert_eq!(code, 0);

    // After the restart, resuming from what it saw replays the missed event from the log,
    // then live events continue the sequence.
    let node = start();
    let mut ws = connect(&node).await;
    ws.send(auth(Some(seen))).await.unwrap();
    let welcome = next_of_type(&mut ws, "welcome", None).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    assert_eq!(welcome["seq"].as_u64().unwrap(), seen + 1);
    let replayed = next_of_type(&mut ws, "event", Some("config")).await;
    assert_eq!(replayed, missed, "the same event, byte for byte in JSON");
    std::fs::write(&cfg, "[feed]\nmetrics_interval_ms = 30000\n").unwrap();
    let live = next_of_type(&mut ws, "event", Some("config")).await;
    assert_eq!(live["seq"].as_u64().unwrap(), seen + 2);
    assert_eq!(
        live["payload"]["changed"],
        json!(["feed.metrics_interval_ms"])
    );
    let (code, _) = node.terminate();
    assert_eq!(code, 0);
}
