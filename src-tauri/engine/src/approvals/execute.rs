//! Executors of allowed and approved actions, at most once per idempotency key.
//!
//! Before an executor runs, its key is claimed in `action_executions` (committed); the
//! outcome is written when it ends. A key found finished answers its recorded outcome and
//! runs nothing. A key found `running` means the node stopped mid-execution: a webhook is
//! sent again with the same `Idempotency-Key` (the receiver applies it once); any other
//! executor is not run again and the outcome is `unknown` (a visible failure).
//!
//! Executors: `webhook` (POST, HMAC-SHA256 signature over `<timestamp>.<body>` in
//! `X-Flightdeck-Signature: sha256=<hex>` with `X-Flightdeck-Timestamp`, the
//! `Idempotency-Key`, retries with backoff on connection errors, 408, 429 and 5xx; status
//! and a body excerpt recorded), `command` (the configured program, never a shell, the
//! arguments as JSON on stdin, an empty environment but `PATH` and the key, a timeout that
//! kills it; exit code and an output excerpt recorded), `builtin:notify` (a feed
//! notification, shown natively by the desktop) and `builtin:log`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use super::settings::{ActionConfig, ExecutorKind};
use super::{ApprovalEvent, ApprovalEventKind, ApprovalState, Approvals, Risk};
use crate::audit::{self, AuditKind, NewEntry};
use crate::events::Event;
use crate::store::values::{json_to_db, time_to_db};

/// The most of an answer or output kept and given back.
pub const EXCERPT: usize = 4 * 1024;

/// How an execution (or a delivery) ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ok: bool,
    /// For the agent (the tool result) and the record.
    pub text: String,
    /// Status, exit code, tries.
    pub detail: Value,
}

/// `sha256=<hex>` of HMAC-SHA256(`key`, `<timestamp>.<body>`).
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn excerpt(bytes: &[u8]) -> String {
    let cut = bytes.len() > EXCERPT;
    let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT)]).into_owned();
    if cut {
        s.push_str(" [truncated]");
    }
    s
}

/// The actions' HTTP client (no redirects), shared with `builtin:webhook`.
fn client() -> &'static reqwest::Client {
    crate::agents::actions::client()
}

/// POSTs `body` to `url`, signed with the named secret `secret` when given, with
/// `Idempotency-Key: key` when given; up to `tries` tries with backoff.
pub(crate) async fn post_signed(
    a: &Approvals,
    url: &str,
    secret: Option<&str>,
    body: &Value,
    key: Option<&str>,
    tries: u32,
    timeout: Duration,
) -> Outcome {
    let signing_key = match (secret, a.secrets()) {
        (None, _) => None,
        (Some(name), Some(store)) => match store.get(name).await {
            Ok(v) => Some(v.expose_secret().as_bytes().to_vec()),
            Err(e) => {
                return Outcome {
                    ok: false,
                    text: format!("the signing secret {name} is not available: {e}"),
                    detail: json!({"error": "secret_missing", "secret": name}),
                };
            }
        },
        (Some(name), None) => {
            return Outcome {
                ok: false,
                text: format!("the signing secret {name} is not available: no secret store"),
                detail: json!({"error": "secret_missing", "secret": name}),
            };
        }
    };
    let payload = body.to_string();
    let mut last = Outcome {
        ok: false,
        text: "not sent".into(),
        detail: json!({}),
    };
    for attempt in 1..=tries.max(1) {
        let ts = a.clock().now().timestamp();
        let mut req = client()
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("x-flightdeck-timestamp", ts.to_string());
        if let Some(k) = &signing_key {
            req = req.header(
                "x-flightdeck-signature",
                signature(k, ts, payload.as_bytes()),
            );
        }
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let retry = match req.body(payload.clone()).send().await {
            Err(e) => {
                last = Outcome {
                    ok: false,
                    text: format!(
                        "the webhook at {} could not be reached: {}",
                        super::settings::redact_url(url),
                        e.without_url()
                    ),
                    detail: json!({"error": "unreachable", "tries": attempt}),
                };
                true
            }
            Ok(mut res) => {
                let status = res.status();
                let mut bytes = Vec::new();
                while let Ok(Some(chunk)) = res.chunk().await {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > EXCERPT {
                        break;
                    }
                }
                let text = excerpt(&bytes);
                let ok = status.is_success();
                last = Outcome {
                    ok,
                    text: if ok {
                        if text.is_empty() {
                            format!("done ({status})")
                        } else {
                            text.clone()
                        }
                    } else {
                        format!("the webhook answered {status}: {text}")
                    },
                    detail: json!({"status": status.as_u16(), "body": text, "tries": attempt}),
                };
                !ok && (status.is_server_error()
                    || status.as_u16() == 408
                    || status.as_u16() == 429)
            }
        };
        if !retry || attempt == tries.max(1) {
            break;
        }
        // 0.5 s, 1 s, 2 s... on the engine clock.
        let wait = Duration::from_millis(500u64.saturating_mul(1 << (attempt - 1).min(6)));
        a.clock().sleep(wait).await;
    }
    last
}

async fn run_command(
    a: &Approvals,
    name: &str,
    action: &ActionConfig,
    key: &str,
    args: &Value,
) -> Outcome {
    let Some((program, fixed)) = action.command.split_first() else {
        return Outcome {
            ok: false,
            text: "no program configured".into(),
            detail: json!({}),
        };
    };
    if !a.config().approvals.enable_command_executor {
        return Outcome {
            ok: false,
            text: "the command executor is off ([approvals] enable_command_executor)".into(),
            detail: json!({"error": "disabled"}),
        };
    }
    let mut child = match tokio::process::Command::new(program)
        .args(fixed)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("FLIGHTDECK_ACTION", name)
        .env("FLIGHTDECK_IDEMPOTENCY_KEY", key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                ok: false,
                text: format!("{program} could not start: {e}"),
                detail: json!({"error": "spawn_failed"}),
            };
        }
    };
    // The input is written beside the wait (inside the time limit): a program that does not
    // read it, or fills its output first, cannot block the executor.
    if let Some(mut stdin) = child.stdin.take() {
        let input = args.to_string();
        tokio::spawn(async move {
            // A program that does not read its input is not an error.
            let _ = stdin.write_all(input.as_bytes()).await;
        });
    }
    let limit = Duration::from_millis(action.timeout_ms);
    tokio::select! {
        out = child.wait_with_output() => match out {
            Err(e) => Outcome { ok: false, text: format!("{program} failed: {e}"), detail: json!({"error": "wait_failed"}) },
            Ok(out) => {
                let code = out.status.code();
                let stdout = excerpt(&out.stdout);
                let stderr = excerpt(&out.stderr);
                let ok = out.status.success();
                Outcome {
                    ok,
                    text: if ok {
                        if stdout.is_empty() { "done (exit 0)".into() } else { stdout.clone() }
                    } else {
                        format!("{program} exited with {}: {}", code.map_or("a signal".into(), |c| c.to_string()), if stderr.is_empty() { &stdout } else { &stderr })
                    },
                    detail: json!({"exit_code": code, "stdout": stdout, "stderr": stderr}),
                }
            }
        },
        () = a.clock().sleep(limit) => Outcome {
            ok: false,
            text: format!("{program} ran longer than {} ms and was killed", action.timeout_ms),
            detail: json!({"error": "timeout", "timeout_ms": action.timeout_ms}),
        },
    }
}

impl Approvals {
    /// Runs action `name` with `args` under idempotency key `key`, at most once (see the
    /// module doc). `request_id`, `task_id`, `agent` are recorded with it.
    pub async fn execute(
        &self,
        key: &str,
        name: &str,
        args: &Value,
        request_id: Option<&str>,
        task_id: Option<&str>,
        agent: Option<&str>,
    ) -> Outcome {
        let config = self.config();
        // A key that finished answers its outcome before anything else (an MCP server being
        // down now must not turn a recorded success into a failure the model would retry).
        let recorded = {
            let key = key.to_string();
            self.store()
                .read(move |db| {
                    db.query_opt(
                        "SELECT state, result, detail FROM action_executions WHERE key = ?1 \
                           AND state IN ('succeeded', 'failed', 'unknown')",
                        [&key],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, Option<String>>(1)?,
                                r.get::<_, Option<String>>(2)?,
                            ))
                        },
                    )
                })
                .await
        };
        if let Ok(Some((state, result, detail))) = recorded {
            return Outcome {
                ok: state == "succeeded",
                text: result.unwrap_or_default(),
                detail: detail
                    .and_then(|d| serde_json::from_str(&d).ok())
                    .unwrap_or(Value::Null),
            };
        }
        let action = match self.action(&config, name).await {
            Ok(found) => found,
            Err(e) => {
                return Outcome {
                    ok: false,
                    text: e.to_string(),
                    detail: json!({"error": "unavailable"}),
                };
            }
        };
        let Some(action) = action else {
            return Outcome {
                ok: false,
                text: format!("no action named {name}"),
                detail: json!({}),
            };
        };
        let claim = {
            let (key, name, args) = (key.to_string(), name.to_string(), args.clone());
            let (request_id, task_id) =
                (request_id.map(str::to_string), task_id.map(str::to_string));
            let redeliver = action.executor == ExecutorKind::Webhook;
            self.store()
                .write(move |tx| {
                    let found: Option<(String, Option<String>, Option<String>)> = tx.query_opt(
                        "SELECT state, result, detail FROM action_executions WHERE key = ?1",
                        [&key],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )?;
                    let now = time_to_db(tx.now());
                    match found {
                        Some((state, result, detail)) if state == "succeeded" || state == "failed" || state == "unknown" => {
                            Ok::<_, crate::store::StoreError>(Some(Outcome {
                                ok: state == "succeeded",
                                text: result.unwrap_or_default(),
                                detail: detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null),
                            }))
                        }
                        Some(_) if redeliver => Ok(None),
                        Some(_) => {
                            let text = "the node stopped while this action ran; its outcome is unknown and it is not run again".to_string();
                            tx.execute(
                                "UPDATE action_executions SET state = 'unknown', result = ?2, finished_at = ?3 WHERE key = ?1",
                                rusqlite::params![key, text, now],
                            )?;
                            audit::append(tx, &NewEntry::new("system:executor", AuditKind::ActionExecuted, request_id.clone().unwrap_or_else(|| key.clone()), json!({"action": name, "key": key, "outcome": "unknown"})))?;
                            Ok(Some(Outcome { ok: false, text, detail: json!({"error": "outcome_unknown"}) }))
                        }
                        None => {
                            tx.execute(
                                "INSERT INTO action_executions (key, action, request_id, task_id, arguments, state, started_at) \
                                 VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6)",
                                rusqlite::params![key, name, request_id, task_id, json_to_db(&args)?, now],
                            )?;
                            Ok(None)
                        }
                    }
                })
                .await
        };
        match claim {
            Ok(Some(done)) => return done,
            Ok(None) => {}
            Err(e) => {
                return Outcome {
                    ok: false,
                    text: format!("could not record the execution: {e}"),
                    detail: json!({}),
                };
            }
        }
        let timeout = Duration::from_millis(action.timeout_ms);
        let outcome = match action.executor {
            ExecutorKind::Webhook => {
                let body = json!({
                    "action": name,
                    "arguments": args,
                    "idempotency_key": key,
                    "request_id": request_id,
                    "task_id": task_id,
                    "agent": agent,
                });
                match &action.url {
                    Some(url) => {
                        post_signed(
                            self,
                            url,
                            action.secret.as_deref(),
                            &body,
                            Some(key),
                            action.max_attempts,
                            timeout,
                        )
                        .await
                    }
                    None => Outcome {
                        ok: false,
                        text: "no url".into(),
                        detail: json!({}),
                    },
                }
            }
            ExecutorKind::Command => run_command(self, name, &action, key, args).await,
            ExecutorKind::Log => {
                tracing::info!(action = %name, key = %key, arguments = %args, "action");
                Outcome {
                    ok: true,
                    text: "logged".into(),
                    detail: json!({}),
                }
            }
            ExecutorKind::Notify => {
                let message = args
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| args.to_string());
                let event = Event::Approvals(ApprovalEvent {
                    id: request_id.unwrap_or(key).to_string(),
                    kind: ApprovalEventKind::Notify,
                    state: ApprovalState::Allowed,
                    action: name.to_string(),
                    risk: action.risk,
                    agent: agent.map(str::to_string),
                    message: Some(message),
                });
                match self
                    .store()
                    .write(move |tx| tx.append_event(event.clone()))
                    .await
                {
                    Ok(_) => Outcome {
                        ok: true,
                        text: "notified".into(),
                        detail: json!({}),
                    },
                    Err(e) => Outcome {
                        ok: false,
                        text: format!("could not notify: {e}"),
                        detail: json!({}),
                    },
                }
            }
            ExecutorKind::Mcp => {
                match super::mcp::parse_action(name)
                    .and_then(|(s, t)| Some((s, t, config.mcp.get(s)?)))
                {
                    None => Outcome {
                        ok: false,
                        text: format!("no MCP server for {name}"),
                        detail: json!({}),
                    },
                    Some((server, tool, cfg)) => match self
                        .mcp_hub()
                        .call(server, cfg, self.secrets(), self.clock(), tool, args)
                        .await
                    {
                        Ok((text, is_error, shown)) => Outcome {
                            ok: !is_error,
                            text: if text.is_empty() { "done".into() } else { text },
                            detail: json!({"result": shown}),
                        },
                        Err(e) => Outcome {
                            ok: false,
                            text: e,
                            detail: json!({"error": "mcp_call_failed"}),
                        },
                    },
                }
            }
            ExecutorKind::External => Outcome {
                ok: false,
                text: format!(
                    "the action {name} cannot run on this node (executor {})",
                    action.executor.as_str()
                ),
                detail: json!({}),
            },
        };
        let record = {
            let (key, name, o) = (key.to_string(), name.to_string(), outcome.clone());
            let subject = request_id.map_or_else(|| key.clone(), str::to_string);
            let risk: Risk = action.risk;
            self.store().write(move |tx| {
                tx.execute(
                    "UPDATE action_executions SET state = ?2, result = ?3, detail = ?4, finished_at = ?5 WHERE key = ?1",
                    rusqlite::params![key, if o.ok { "succeeded" } else { "failed" }, o.text, json_to_db(&o.detail)?, time_to_db(tx.now())],
                )?;
                audit::append(tx, &NewEntry::new("system:executor", AuditKind::ActionExecuted, subject.clone(), json!({
                    "action": name, "key": key, "ok": o.ok, "risk": risk, "detail": o.detail,
                })))?;
                Ok::<_, crate::store::StoreError>(())
            }).await
        };
        if let Err(error) = record {
            tracing::warn!(%error, key = %key, "could not record an action's outcome");
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    /// Webhooks, callbacks, providers and MCP servers off loopback are https: the client this
    /// build makes speaks TLS (a refused connection, not "https is not supported").
    #[tokio::test]
    async fn the_http_client_speaks_tls() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = super::client()
            .get(format!("https://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(e.is_connect() && !e.is_builder(), "{e:?}");
    }

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_and_body() {
        // RFC 4231 test case 2 layout, checked against an independent computation:
        // HMAC-SHA256("Jefe", "1700000000.what do ya want for nothing?").
        let sig = super::signature(b"Jefe", 1_700_000_000, b"what do ya want for nothing?");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
        assert_ne!(
            sig,
            super::signature(b"Jefe", 1_700_000_001, b"what do ya want for nothing?")
        );
        assert_ne!(
            sig,
            super::signature(b"Jeff", 1_700_000_000, b"what do ya want for nothing?")
        );
    }
}
