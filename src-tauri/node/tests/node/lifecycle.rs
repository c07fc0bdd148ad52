//! Process lifecycle and bad input at start: SIGTERM drains and exits 0 with an intact
//! database that the next start reopens as the same node; invalid config, port in use,
//! unwritable data dir, newer schema, non-loopback address each fail with a clear message
//! and a non-zero exit, and a failed bind leaves no database behind.

use std::time::Duration;

use super::support::{
    Node, TOKEN, client, flightdeck, get_json, integrity, run, signal, wait_timeout,
};

#[tokio::test]
async fn sigterm_exits_zero_with_intact_database() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let http = client();
    // Something the first start wrote: the node id, created on first open.
    let info: serde_json::Value = get_json(&http, &node.url("/api/v1/info"), Some(TOKEN)).await;
    let node_id = info["node_id"].as_str().unwrap().to_string();
    // Some traffic in flight while the signal arrives.
    let url = node.url("/health");
    let load = tokio::spawn(async move {
        for _ in 0..50 {
            let _ = http.get(&url).send().await;
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (code, log) = node.terminate();
    let _ = load.await;
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("engine stopped")),
        "{}",
        log.join("\n")
    );
    assert_eq!(integrity(dir.path()).await, "ok");
    assert!(
        !log.iter().any(|l| l.contains(TOKEN)),
        "the token leaked into the log"
    );

    // The same data dir starts again as the same node.
    let node = Node::start(dir.path(), &[]);
    let info: serde_json::Value = get_json(&client(), &node.url("/api/v1/info"), Some(TOKEN)).await;
    assert_eq!(info["node_id"], node_id.as_str());
    let (code, log) = node.terminate();
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert_eq!(integrity(dir.path()).await, "ok");
}

#[tokio::test]
async fn second_signal_forces_exit() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &[]);
    // A request that never finishes (half a body), so the graceful stop has to wait for it.
    let mut conn = tokio::net::TcpStream::connect(&node.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/config/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"toml\": \""
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&node.child, "INT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the first signal waits for the request"
    );
    signal(&node.child, "INT");
    let code = wait_timeout(&mut node.child, Duration::from_secs(10));
    assert_eq!(code, 130, "the second signal forces the exit");
    assert_eq!(integrity(dir.path()).await, "ok");
    drop(conn);
}

#[test]
fn invalid_config_at_start_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[shutdown]\ntimeout_secs = \"later\"\n").unwrap();
    let mut cmd = flightdeck(dir.path());
    cmd.arg("--config")
        .arg(&cfg)
        .args(["--secrets", "env", "serve"])
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let (code, _, err) = run(cmd);
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.toml") && err.contains("shutdown.timeout_secs"),
        "{err}"
    );
    assert!(
        !dir.path().join("flightdeck.db").exists(),
        "nothing created on a failed start"
    );

    let mut cmd = flightdeck(dir.path());
    cmd.arg("--config")
        .arg(dir.path().join("missing.toml"))
        .args(["serve"]);
    let (code, _, err) = run(cmd);
    assert_ne!(code, 0);
    assert!(
        err.contains("missing.toml") && err.contains("does not exist"),
        "{err}"
    );

    let mut cmd = flightdeck(dir.path());
    cmd.args(["--secrets", "env", "serve"])
        .env("FLIGHTDECK_SERVER__LISTEN", "not-an-address")
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let (code, _, err) = run(cmd);
    assert_ne!(code, 0);
    assert!(err.contains("server.listen"), "{err}");
}

#[test]
fn port_in_use_is_a_clear_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut cmd = flightdeck(&data);
    cmd.args(["--secrets", "env", "serve", "--listen", &addr])
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 1);
    assert!(
        err.contains(&addr) && err.contains("already in use"),
        "{err}"
    );
    assert!(
        !data.join("flightdeck.db").exists(),
        "the port is checked before the database is created"
    );
}

#[test]
fn non_loopback_needs_explicit_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let mut cmd = flightdeck(&data);
    cmd.args(["--secrets", "env", "serve", "--listen", "0.0.0.0:0"])
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 2, "a usage error: {err}");
    assert!(
        err.contains("not a loopback address") && err.contains("--insecure-listen"),
        "{err}"
    );
    assert!(!data.join("flightdeck.db").exists());
}

/// With the flag, a non-loopback address serves (reached here through loopback only) and the
/// log says plainly what that means.
#[tokio::test]
async fn insecure_listen_serves_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = flightdeck(dir.path());
    cmd.args([
        "--secrets",
        "env",
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--insecure-listen",
    ])
    .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let node = Node::spawn(cmd, dir.path());
    let port = node.addr.rsplit(':').next().unwrap().to_string();
    let res = client()
        .get(format!("http://127.0.0.1:{port}/livez"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (code, log) = node.terminate();
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert!(
        log.iter()
            .any(|l| l.contains("WARN") && l.contains("plain HTTP on a non-loopback address")),
        "{}",
        log.join("\n")
    );
}

/// `--listen localhost:PORT` is loopback.
#[tokio::test]
async fn listen_accepts_localhost() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = flightdeck(dir.path());
    cmd.args(["--secrets", "env", "serve", "--listen", "localhost:0"])
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let node = Node::spawn(cmd, dir.path());
    assert!(node.addr.starts_with("127.0.0.1:"), "{}", node.addr);
    let res = client().get(node.url("/livez")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (code, log) = node.terminate();
    assert_eq!(code, 0, "{}", log.join("\n"));
}

#[test]
fn unwritable_data_dir_and_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let mut cmd = flightdeck(&file.join("data"));
    // Only the data dir is unusable: the (absent) config file's default place is fine.
    cmd.args(["--secrets", "env", "serve", "--listen", "127.0.0.1:0"])
        .env("XDG_CONFIG_HOME", dir.path().join("xdg-config"))
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot use data directory") && err.contains("plain-file"),
        "{err}"
    );

    // A database from the future.
    let data = dir.path().join("future");
    let (code, _, _) = run({
        let mut c = flightdeck(&data);
        c.args(["db", "migrate"]);
        c
    });
    assert_eq!(code, 0);
    let db = data.join("flightdeck.db");
    let ok = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO _sqlx_migrations VALUES (999, 'future', CURRENT_TIMESTAMP, 1, x'00', 0)\"); c.commit()",
            db.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let before = std::fs::read(&db).unwrap();
    let mut cmd = flightdeck(&data);
    cmd.args(["--secrets", "env", "serve", "--listen", "127.0.0.1:0"])
        .env("FLIGHTDECK_API_TOKEN", TOKEN);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 1);
    assert!(
        err.contains("newer Flightdeck") && err.contains("999"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
    let (code, out, _) = run({
        let mut c = flightdeck(&data);
        c.args(["db", "status"]);
        c
    });
    assert_eq!(code, 1);
    assert!(out.contains("newer Flightdeck"), "{out}");
}
