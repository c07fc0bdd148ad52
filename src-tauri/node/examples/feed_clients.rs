//! The feed benchmark's client (run by `scripts/bench-feed.sh`): N WebSocket subscribers
//! that authenticate, then record for every event the delay from its `time` to its arrival.
//! Prints one JSON line: subscribers, events, p50/p99/max delivery latency (ms), and lost
//! (events of the measured window a subscriber did not get).
//!
//! `feed_clients URL TOKEN N SECONDS`; the same client measures any broadcaster that speaks
//! the feed's frames (the Python one in benches/feed/).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("URL").clone();
    let token = args.get(2).cloned().unwrap_or_default();
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let secs: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(20);
    let warmup = Duration::from_secs(3);

    // Connect everyone first (a few at a time), then measure.
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        let auth = serde_json::json!({"type": "auth", "token": token, "topics": ["metrics"]});
        ws.send(Message::text(auth.to_string())).await.unwrap();
        sockets.push(ws);
    }
    let started = Instant::now();
    let window_start = Utc::now() + chrono::TimeDelta::from_std(warmup).unwrap();
    let window_end = window_start + chrono::TimeDelta::seconds(secs as i64);
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let per_client = Arc::new(Mutex::new(Vec::<HashSet<String>>::new()));
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let (latencies, per_client) = (latencies.clone(), per_client.clone());
        let stop = started + warmup + Duration::from_secs(secs) + Duration::from_secs(1);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut seen = HashSet::new();
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(stop.into(), ws.next()).await {
                let Message::Text(t) = msg else { continue };
                let now = Utc::now();
                let v: serde_json::Value = match serde_json::from_str(&t) {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                if v["type"] != "event" {
                    continue;
                }
                let Some(time) = v["time"].as_str() else {
                    continue;
                };
                let Ok(at) = DateTime::parse_from_rfc3339(time) else {
                    continue;
                };
                let at = at.to_utc();
                if at < window_start || at > window_end {
                    continue;
                }
                mine.push((now - at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                seen.insert(time.to_string());
            }
            let _ = ws.close(None).await;
            latencies.lock().await.extend(mine);
            per_client.lock().await.push(seen);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut all = latencies.lock().await.clone();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let clients = per_client.lock().await;
    let events: HashSet<&String> = clients.iter().flatten().collect();
    let lost: usize = clients.iter().map(|c| events.len() - c.len()).sum();
    let p = |q: f64| {
        if all.is_empty() {
            return f64::NAN;
        }
        all[((all.len() as f64 - 1.0) * q) as usize]
    };
    println!(
        "{}",
        serde_json::json!({
            "subscribers": clients.len(),
            "events": events.len(),
            "deliveries": all.len(),
            "p50_ms": p(0.5),
            "p99_ms": p(0.99),
            "max_ms": p(1.0),
            "lost": lost,
        })
    );
}
