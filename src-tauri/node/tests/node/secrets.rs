//! Named secrets are write-only: a recognisable fake secret is stored through the CLI (node
//! stopped, then running) and the API, every route and command is exercised, and neither the
//! database, the logs, the config output nor any API response or CLI output holds it.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use super::support::{Node, TOKEN, client, flightdeck};

const FAKE: &str = "FD-FAKE-SECRET-7f3a9c2e41d8";

fn cli(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut c: Command = flightdeck(dir);
    c.args(["--secrets", "file"])
        .args(args)
        .env("FLIGHTDECK_API_TOKEN", TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn secrets_are_write_only_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::<String>::new();

    // Node stopped: straight into the data dir.
    let (code, out, err) = cli(
        dir.path(),
        &["secrets", "set", "provider:openai"],
        Some(&format!("{FAKE}-1\n")),
    );
    assert_eq!(code, 0, "{err}");
    seen.extend([out, err]);
    let (code, out, err) = cli(dir.path(), &["secrets", "set", "Bad Name"], Some("x"));
    assert_eq!(code, 1);
    assert!(err.contains("invalid secret name"), "{err}");
    seen.extend([out, err]);
    let (code, out, err) = cli(dir.path(), &["secrets", "set", "webhook:slack"], Some(""));
    assert_eq!(code, 1);
    assert!(err.contains("no value"), "{err}");
    seen.extend([out, err]);

    // Node running (file backend, token from the environment): through its API.
    let mut cmd = flightdeck(dir.path());
    cmd.args(["--secrets", "file", "serve", "--listen", "127.0.0.1:0"])
        .env("FLIGHTDECK_API_TOKEN", TOKEN)
        .env("RUST_LOG", "debug");
    let node = Node::spawn(cmd, dir.path());
    let (code, out, err) = cli(
        dir.path(),
        &["secrets", "set", "webhook:slack"],
        Some(&format!("{FAKE}-2")),
    );
    assert_eq!(code, 0, "{err}");
    seen.extend([out, err]);

    let http = client();
    let put = |name: &str, body: serde_json::Value| {
        http.put(node.url(&format!("/api/v1/secrets/{name}")))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let r = put("node:prod-1", json!({"value": format!("{FAKE}-3")}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    seen.push(r.text().await.unwrap());
    for (name, body, code) in [
        ("Bad Name", json!({"value": "x"}), "bad_request"),
        ("ok:name", json!({"value": ""}), "bad_request"),
        (
            "ok:name",
            json!({"value": FAKE, "echo": true}),
            "invalid_json",
        ),
        ("ok:name", json!({}), "invalid_json"),
    ] {
        let r = put(name, body).await.unwrap();
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(text.contains(code), "{text}");
        seen.push(text);
    }
    // A read-scoped token may not even list them.
    let created: serde_json::Value = http
        .post(node.url("/api/v1/tokens"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "reader"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reader = created["token"].as_str().unwrap();
    let r = http
        .get(node.url("/api/v1/secrets"))
        .bearer_auth(reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    seen.push(r.text().await.unwrap());

    // Every read route: names yes, values never.
    let list: serde_json::Value = http
        .get(node.url("/api/v1/secrets"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(
        names,
        [
            json!("node:prod-1"),
            json!("provider:openai"),
            json!("webhook:slack")
        ]
    );
    seen.push(list.to_string());
    for path in [
        "/api/v1/info",
        "/api/v1/config",
        "/api/v1/tokens",
        "/api/v1/health/transitions",
        "/api/v1/openapi.json",
        "/health",
        "/metrics",
        "/livez",
        "/readyz",
    ] {
        let r = http
            .get(node.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        seen.push(r.text().await.unwrap());
    }
    let (code, out, err) = cli(dir.path(), &["secrets", "ls"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("provider:openai") && out.contains("webhook:slack"),
        "{out}"
    );
    seen.extend([out, err]);
    let (_, out, err) = cli(dir.path(), &["config", "show"], None);
    seen.extend([out, err]);
    let (code, out, err) = cli(dir.path(), &["secrets", "rm", "node:prod-1"], None);
    assert_eq!(code, 0, "{err}");
    seen.extend([out, err]);
    let r = http
        .delete(node.url("/api/v1/secrets/node:prod-1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let text = r.text().await.unwrap();
    assert!(text.contains("secret_missing"), "{text}");
    seen.push(text);

    let (code, log) = node.terminate();
    assert_eq!(code, 0);
    seen.extend(log);

    for text in &seen {
        assert!(!text.contains(FAKE), "a secret value leaked: {text}");
    }
    // Not in the database (nor its WAL), in any form.
    for file in ["flightdeck.db", "flightdeck.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(FAKE.len()).any(|w| w == FAKE.as_bytes()),
            "{file} holds a secret value"
        );
    }
    // Where it does live: the file backend, 0600.
    let stored: Vec<String> = std::fs::read_dir(dir.path().join("secrets"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.contains(&format!("{FAKE}-1")) && stored.contains(&format!("{FAKE}-2")));
}
