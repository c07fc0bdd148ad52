//! Starting and stopping real nodes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const TOKEN: &str = "e2e-test-token-0123456789abcdef";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_flightdeck")
}

/// A `flightdeck` command with a clean environment for tests.
pub fn flightdeck(data_dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--data-dir").arg(data_dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("FLIGHTDECK_") {
            c.env_remove(k);
        }
    }
    // Never read the developer's own config file.
    c.env("XDG_CONFIG_HOME", data_dir.join("xdg-config"));
    c.env("RUST_LOG", "info");
    c
}

pub struct Node {
    pub child: Child,
    pub addr: String,
    pub stderr: mpsc::Receiver<String>,
}

impl Node {
    /// Starts `serve` with the env secrets backend and waits for its listening line.
    pub fn start(dir: &Path, extra: &[&str]) -> Node {
        let mut cmd = flightdeck(dir);
        cmd.args(["--secrets", "env", "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("FLIGHTDECK_API_TOKEN", TOKEN);
        Self::spawn(cmd, dir)
    }

    /// Starts `serve` with the config file `config` (and the env secrets backend).
    pub fn start_with_config(dir: &Path, config: &Path) -> Node {
        let mut cmd = flightdeck(dir);
        cmd.arg("--config")
            .arg(config)
            .args(["--secrets", "env", "serve", "--listen", "127.0.0.1:0"])
            .env("FLIGHTDECK_API_TOKEN", TOKEN);
        Self::spawn(cmd, dir)
    }

    pub fn spawn(mut cmd: Command, _dir: &Path) -> Node {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn flightdeck");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("flightdeck listening on http://") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let log: Vec<String> = erx.try_iter().collect();
                panic!("node did not report its address:\n{}", log.join("\n"));
            }
        };
        Node {
            child,
            addr,
            stderr: erx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/v1/feed", self.addr)
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(mut self) -> (i32, Vec<String>) {
        signal(&self.child, "TERM");
        let code = wait_timeout(&mut self.child, Duration::from_secs(20));
        let log: Vec<String> = self.stderr.try_iter().collect();
        (code, log)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} failed");
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> i32 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a CLI command to completion: (exit code, stdout, stderr).
pub fn run(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().expect("run flightdeck");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `PRAGMA integrity_check` on a database file.
pub async fn integrity(dir: &Path) -> String {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("flightdeck.db"))
        .connect()
        .await
        .unwrap();
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// GET `url` (with the bearer token when given) and parse the JSON body.
/// `/health`'s entry for the dependency `name`.
pub async fn dependency(http: &reqwest::Client, node: &Node, name: &str) -> serde_json::Value {
    let health = get_json(http, &node.url("/health"), None).await;
    health["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("/health lists no {name}: {health}"))
        .clone()
}

pub async fn get_json(http: &reqwest::Client, url: &str, token: Option<&str>) -> serde_json::Value {
    let mut req = http.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// Every item of the list at `path` (a `/api/v1` list route), following `next_cursor`.
pub async fn all_items(node: &Node, path: &str) -> Vec<serde_json::Value> {
    let http = client();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => node.url(&format!("{path}?limit=500&cursor={c}")),
            None => node.url(&format!("{path}?limit=500")),
        };
        let page = get_json(&http, &url, Some(TOKEN)).await;
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}
