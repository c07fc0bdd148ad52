//! The running node's API, for CLI commands that find the data dir held by a node (`token`,
//! `secrets`): its address (recorded by `serve` in the data dir, else the config), the
//! bootstrap token, JSON requests whose errors come back as one line, and list paging.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use flightdeck_engine::config::Config;
use flightdeck_engine::secrets::Secrets;
use serde_json::Value;

use crate::cli::Global;
use crate::commands::{data_dir, env_token, load_config};

/// A client of the node that holds this data dir.
pub struct NodeApi {
    http: reqwest::Client,
    addr: SocketAddr,
    bearer: String,
}

/// The running node's address: the one it recorded in the data dir, else the configured one
/// (`0.0.0.0` as loopback).
fn node_addr(global: &Global, config: &Config) -> anyhow::Result<SocketAddr> {
    let recorded = std::fs::read_to_string(data_dir(global)?.join(crate::serve::ADDR_FILE))
        .ok()
        .and_then(|s| s.trim().parse::<SocketAddr>().ok());
    let mut addr =
        match recorded {
            Some(addr) => addr,
            None => flightdeck_engine::config::parse_listen(&config.server.listen).with_context(
                || format!("server.listen `{}` is not an address", config.server.listen),
            )?,
        };
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(addr)
}

impl NodeApi {
    pub async fn connect(global: &Global) -> anyhow::Result<Self> {
        let (config, _) = load_config(global)?;
        let addr = node_addr(global, &config)?;
        let secrets =
            Secrets::open_async(config.secrets.backend, data_dir(global)?, env_token()).await?;
        let (token, _) = secrets.api_token().await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            addr,
            bearer: format!("Bearer {}", token.expose()),
        })
    }

    /// A request to `path` (under the node's root).
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("http://{}{path}", self.addr))
            .header("authorization", &self.bearer)
    }

    /// Sends `req`; the JSON answer, or the node's error message.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let res = req.send().await.with_context(|| {
            format!(
                "a node holds the data dir, but its API at {} does not answer",
                self.addr
            )
        })?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = body["error"]["message"].as_str().unwrap_or("no message");
            bail!("the node answered {status}: {msg}");
        }
        Ok(body)
    }

    /// Every item of the list at `path`, following `next_cursor`.
    pub async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> anyhow::Result<Vec<T>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                // Cursors are base64url: safe in a query string as they are.
                Some(c) => format!("{path}?limit=500&cursor={c}"),
                None => format!("{path}?limit=500"),
            };
            let body = self.send(self.request(reqwest::Method::GET, &url)).await?;
            all.extend(serde_json::from_value::<Vec<T>>(body["items"].clone())?);
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(all),
            }
        }
    }
}
