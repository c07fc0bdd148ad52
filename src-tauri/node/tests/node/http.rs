//! The API over a real socket: auth on every /api/v1 route, request ids, /metrics through
//! promtool, error codes (404, 405 with `Allow`, 413, 415, 400 for a missing Host, 403).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::support::{Node, TOKEN, client, get_json};

#[tokio::test]
async fn auth_errors_and_request_ids_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let http = client();

    let doc: Value = get_json(&http, &node.url("/api/v1/openapi.json"), Some(TOKEN)).await;
    let mut checked = 0;
    // Wrong tokens count towards the lockout (10 within a minute): only the first few
    // routes get one; every route gets the request without a token.
    let mut wrong_left = 8;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") || path == "/api/v1/feed" {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let wrong = (wrong_left > 0).then_some("wrong-token-0000000000000");
            wrong_left -= i32::from(wrong.is_some());
            for token in std::iter::once(None).chain(wrong.map(Some)) {
                let mut req = http
                    .request(m.clone(), node.url(path))
                    .header("x-request-id", "e2e-req-1");
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let res = req.send().await.unwrap();
                assert_eq!(res.status(), 401, "{m} {path}");
                assert_eq!(res.headers()["x-request-id"], "e2e-req-1");
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "unauthorized");
                assert_eq!(body["error"]["request_id"], "e2e-req-1");
            }
            checked += 1;
        }
    }
    assert!(checked >= 4);

    // Good token; generated request id.
    let res = http
        .get(node.url("/api/v1/info"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(uuid_like(res.headers()["x-request-id"].to_str().unwrap()));
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["data_dir"], dir.path().display().to_string());

    // Oversized body: refused from its Content-Length, before the body is read. A raw
    // socket, because an HTTP client still writing its body may see the early close first.
    let (status, body) = raw_post_head(&node.addr, 2 * 1024 * 1024).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "payload_too_large");

    // Malformed JSON.
    let res = http
        .post(node.url("/api/v1/config/validate"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"toml\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json");

    // A DNS-rebinding style Host is refused.
    let res = http
        .get(node.url("/health"))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (code, log) = node.terminate();
    assert_eq!(code, 0, "{}", log.join("\n"));
}

/// Writes `request` as is on a fresh connection and returns everything the node answers
/// until it closes (bounded, so a node that never answers fails the test).
async fn raw_exchange(addr: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut reply),
    )
    .await
    .expect("no reply within 10 s")
    .unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}

/// Sends only the head of a JSON POST announcing `len` bytes; returns the status and body.
async fn raw_post_head(addr: &str, len: usize) -> (u16, Value) {
    let head = format!(
        "POST /api/v1/config/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    let text = raw_exchange(addr, head.as_bytes()).await;
    let status: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn metrics_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let http = client();
    for path in ["/livez", "/readyz", "/health", "/nope"] {
        http.get(node.url(path)).send().await.unwrap();
    }
    http.get(node.url("/api/v1/info"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let text = http
        .get(node.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "flightdeck_http_requests_total",
        "flightdeck_http_request_duration_seconds_bucket",
        "flightdeck_build_info",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(family), "missing {family}");
    }
    assert!(text.contains(r#"route="/api/v1/info",status="200""#));
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by the test command (Debian package `prometheus`)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, log) = node.terminate();
    assert_eq!(code, 0, "{}", log.join("\n"));
}

/// JSON logs carry the request id on the request's lines.
#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = super::support::flightdeck(dir.path());
    cmd.args([
        "--secrets",
        "env",
        "--log-format",
        "json",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .env("FLIGHTDECK_API_TOKEN", TOKEN)
    .env("RUST_LOG", "info,flightdeck_api=debug");
    let node = Node::spawn(cmd, dir.path());
    let res = client()
        .get(node.url("/api/v1/info"))
        .bearer_auth(TOKEN)
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (code, log) = node.terminate();
    assert_eq!(code, 0);
    let lines: Vec<Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let served = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "trace-me-123")
        .unwrap_or_else(|| panic!("no line with the request id: {log:#?}"));
    assert_eq!(served["span"]["route"], "/api/v1/info");
    assert_eq!(served["status"], 200);
}

/// What a client gets wrong, over real HTTP: each a JSON error with its code.
#[tokio::test]
async fn wrong_path_method_and_media_type_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let http = client();
    let check = |res: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(res.status(), status, "{code}");
        let allow = res.headers().get("allow").cloned();
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        allow
    };
    let res = http.get(node.url("/no/such/page")).send().await.unwrap();
    check(res, 404, "not_found").await;
    let res = http
        .get(node.url("/api/v1/nope"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    check(res, 404, "not_found").await;
    let res = http
        .delete(node.url("/api/v1/info"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let allow = check(res, 405, "method_not_allowed").await;
    assert!(
        allow.is_some_and(|a| a.to_str().unwrap().contains("GET")),
        "405 without Allow"
    );
    let res = http
        .post(node.url("/api/v1/config/validate"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body(r#"{"toml":""}"#)
        .send()
        .await
        .unwrap();
    check(res, 415, "unsupported_media_type").await;

    // HTTP/1.0 allows leaving the Host out; over TCP the node still wants one.
    let text = raw_exchange(&node.addr, b"GET /livez HTTP/1.0\r\n\r\n").await;
    assert!(text.starts_with("HTTP/1.0 400"), "{text}");
    assert!(text.contains("\"bad_request\""), "{text}");

    let (code, log) = node.terminate();
    assert_eq!(code, 0, "{}", log.join("\n"));
}
