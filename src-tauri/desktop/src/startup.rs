//! The engine's start-up as the commands see it: opening, ready, or failed with a reason.
//!
//! The engine opens in the background after the window is created, so the window paints at
//! once and a slow keychain or migration never freezes it. Commands wait for the outcome; a
//! failure is answered like any API error (503 with the engine's stable code and the reason),
//! so the UI shows why Flightdeck could not start instead of the window vanishing.
//!
//! Invariant: the state moves once, from `Opening` to `Ready` or `Failed`, never back.

use std::sync::Arc;

use flightdeck_api::error::{ApiErrorBody, ErrorDetail};
use flightdeck_api::{ApiOptions, Transport, desktop_gateway, router};
use flightdeck_engine::secrets::{ApiToken, SecretsError};
use flightdeck_engine::{Engine, ErrorCode};
use tokio::sync::watch;

/// What the commands need once the engine is open.
#[derive(Clone)]
pub struct Ready {
    pub engine: Engine,
    pub router: axum::Router,
    pub token: ApiToken,
}

impl Ready {
    /// The in-process side of an open engine: a per-launch token that never leaves this
    /// process, and the node's very Router with the in-process transport.
    /// Also starts the optional loopback gateway listener (`gateway.desktop_listen`), which
    /// follows the config until the engine shuts down. Call inside the async runtime.
    pub fn new(engine: Engine, body_limit_bytes: usize) -> Result<Self, SecretsError> {
        let token = ApiToken::generate()?;
        let listener = desktop_gateway::ListenerCell::default();
        desktop_gateway::spawn(engine.clone(), listener.clone(), engine.shutdown_token());
        let router = router(
            engine.clone(),
            ApiOptions {
                token: token.clone(),
                allowed_hosts: Vec::new(),
                ui_dir: None,
                body_limit_bytes,
                transport: Transport::InProcess,
                // Who the desktop's actions are recorded as.
                desktop_user: std::env::var("USER")
                    .or_else(|_| std::env::var("USERNAME"))
                    .unwrap_or_else(|_| "desktop".into()),
                served_port: None,
                desktop_gateway: Some(listener),
            },
        );
        Ok(Self {
            engine,
            router,
            token,
        })
    }
}

/// Why the engine did not open, in the API's terms.
#[derive(Clone, Debug)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    /// The body the Router would have sent for this failure.
    pub fn body(&self) -> String {
        let body = ApiErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                request_id: "startup".into(),
            },
        };
        serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
    }
}

#[derive(Clone)]
enum State {
    Opening,
    Ready(Arc<Ready>),
    Failed(Failure),
}

/// The start-up state shared by the commands and the setup task.
pub struct Startup {
    tx: watch::Sender<State>,
}

impl Default for Startup {
    fn default() -> Self {
        Self {
            tx: watch::Sender::new(State::Opening),
        }
    }
}

impl Startup {
    pub fn ready(&self, ready: Ready) {
        self.settle(State::Ready(Arc::new(ready)));
    }

    pub fn failed(&self, failure: Failure) {
        self.settle(State::Failed(failure));
    }

    fn settle(&self, state: State) {
        self.tx.send_if_modified(|current| {
            if matches!(current, State::Opening) {
                *current = state;
                true
            } else {
                false
            }
        });
    }

    /// Waits until the engine is open (or failed to open).
    pub async fn wait(&self) -> Result<Arc<Ready>, Failure> {
        let mut rx = self.tx.subscribe();
        let settled = rx
            .wait_for(|s| !matches!(s, State::Opening))
            .await
            .map(|s| s.clone());
        match settled {
            Ok(State::Ready(ready)) => Ok(ready),
            Ok(State::Failed(failure)) => Err(failure),
            // The sender lives as long as `self`; treat the impossible as "still starting".
            Ok(State::Opening) | Err(_) => Err(Failure {
                code: ErrorCode::Unavailable,
                message: "Flightdeck is still starting".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_is_answered_as_an_api_error_and_is_final() {
        let startup = Startup::default();
        let waiter = startup.wait();
        startup.failed(Failure {
            code: ErrorCode::SchemaTooNew,
            message: "Flightdeck could not start: too new".into(),
        });
        let failure = waiter.await.err().expect("failed");
        assert_eq!(failure.code, ErrorCode::SchemaTooNew);
        let body: serde_json::Value = serde_json::from_str(&failure.body()).expect("json");
        assert_eq!(body["error"]["code"], "schema_too_new");
        assert_eq!(
            body["error"]["message"],
            "Flightdeck could not start: too new"
        );
        // Settled once: a later outcome does not replace it.
        startup.failed(Failure {
            code: ErrorCode::Internal,
            message: "other".into(),
        });
        assert_eq!(
            startup.wait().await.err().expect("failed").code,
            ErrorCode::SchemaTooNew
        );
    }
}
