//! The budget check on the call path, measured (docs/benchmarks.md; issue 10's target:
//! ≤ 20 µs per call at 32 concurrent calls): [`Gate::reserve`] (find the budgets covering
//! the hop, bound its cost, hold it under the lock) and the settle that follows, with 12
//! budgets configured (global, per agent, per client, per model, per tag; block and
//! alert), on a 2 KB prompt, from 1 and 32 threads at once.
//!
//! Run: `cargo bench -p flightdeck-engine --bench budgets`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use flightdeck_engine::clock::SystemClock;
use flightdeck_engine::config::{Config, ConfigHandle, ConfigSource};
use flightdeck_engine::costs::budget::{Gate, Scope};
use flightdeck_engine::providers::neutral::{ChatRequest, Message, Role};
use flightdeck_engine::providers::prices::{Price, PriceSource};
use flightdeck_engine::store::Store;
use rust_decimal::Decimal;

const CALLS_PER_THREAD: usize = 20_000;

fn pct(v: &mut [Duration], q: f64) -> f64 {
    v.sort();
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    let mut toml = String::from(
        "[budgets.global]\nlimit_usd = 1000000\nperiod = \"monthly\"\naction = \"block\"\n",
    );
    for a in ["summarize", "triage", "research"] {
        toml += &format!(
            "[budgets.agent-{a}]\nlimit_usd = 100000\nperiod = \"daily\"\naction = \"block\"\nagent = \"{a}\"\n"
        );
    }
    for c in ["token:app0", "token:app1", "token:app2"] {
        let n = c.replace(':', "-");
        toml +=
            &format!("[budgets.{n}]\nlimit_usd = 100000\nperiod = \"weekly\"\nclient = \"{c}\"\n");
    }
    for m in ["up/m1", "up/m2"] {
        let n = m.replace('/', "-");
        toml += &format!(
            "[budgets.{n}]\nlimit_usd = 100000\nperiod = \"monthly\"\naction = \"block\"\nmodel = \"{m}\"\n"
        );
    }
    for t in ["team-a", "team-b", "batch"] {
        toml += &format!(
            "[budgets.tag-{t}]\nlimit_usd = 100000\nperiod = \"monthly\"\ntag = \"{t}\"\n"
        );
    }
    let config: Config = toml::from_str(&toml).unwrap();
    config.validate(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let tracker = tokio_util::task::TaskTracker::new();
    let clock = SystemClock::shared();
    let gate = Gate::open(
        store,
        clock.clone(),
        ConfigHandle::new(config, ConfigSource::default(), clock),
        &tracker,
        tokio_util::sync::CancellationToken::new(),
        None,
    )
    .await
    .unwrap();
    let price = Price {
        input: "2.5".parse().unwrap(),
        output: "10".parse().unwrap(),
        cached_input: "1.25".parse().unwrap(),
        cache_write: "2.5".parse().unwrap(),
        reasoning: "10".parse().unwrap(),
        source: PriceSource::Config,
    };
    let request = ChatRequest {
        model: "default".into(),
        system: vec!["You are terse.".into()],
        messages: vec![Message::text(Role::User, "word ".repeat(400))],
        max_tokens: Some(500),
        ..ChatRequest::default()
    };
    println!("{} budgets, a {} byte prompt", 12, 2000);
    for threads in [1usize, 32] {
        let start = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (gate, price, request) = (gate.clone(), price.clone(), request.clone());
                std::thread::spawn(move || {
                    let tags = vec![["team-a", "team-b", "batch"][t % 3].to_string()];
                    let client = format!("token:app{}", t % 3);
                    let agent = ["summarize", "triage", "research"][t % 3];
                    let mut times = Vec::with_capacity(CALLS_PER_THREAD);
                    for i in 0..CALLS_PER_THREAD {
                        let scope = Scope {
                            client: &client,
                            agent: Some(agent),
                            route: Some("default"),
                            provider: "up",
                            model: if i % 2 == 0 { "m1" } else { "m2" },
                            tags: &tags,
                        };
                        let t0 = Instant::now();
                        let hold = gate
                            .reserve(&scope, Some(&price), &request)
                            .unwrap()
                            .unwrap();
                        let reserve = t0.elapsed();
                        let t1 = Instant::now();
                        hold.settle(Some(Decimal::new(1, 4)));
                        times.push((reserve, t1.elapsed()));
                    }
                    times
                })
            })
            .collect();
        let mut reserve = Vec::new();
        let mut settle = Vec::new();
        for h in handles {
            for (r, s) in h.join().unwrap() {
                reserve.push(r);
                settle.push(s);
            }
        }
        let wall = start.elapsed();
        let n = threads * CALLS_PER_THREAD;
        let mut both: Vec<Duration> = reserve.iter().zip(&settle).map(|(a, b)| *a + *b).collect();
        println!(
            "{threads:>2} threads: reserve p50 {:>6.2} µs p99 {:>6.2} µs | settle p50 {:>6.2} µs p99 {:>6.2} µs | both p50 {:>6.2} µs p99 {:>6.2} µs | {:>9.0} calls/s",
            pct(&mut reserve, 0.5),
            pct(&mut reserve, 0.99),
            pct(&mut settle, 0.5),
            pct(&mut settle, 0.99),
            pct(&mut both, 0.5),
            pct(&mut both, 0.99),
            n as f64 / wall.as_secs_f64()
        );
    }
    let _ = Arc::new(());
}
