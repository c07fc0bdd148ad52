//! The scripted OpenAI/Anthropic-compatible provider: the one test double for paid LLM APIs.
//! Rust tests start it in-process ([`ScriptedProvider::start`]), Python tests and benchmarks
//! run the `scripted-provider` binary and point Flightdeck (or the official SDKs, or wrk) at
//! it.
//!
//! It speaks the public wire formats: OpenAI chat completions (`POST /v1/chat/completions`
//! and `/chat/completions`, `GET /v1/models` and `/models`; JSON or `chat.completion.chunk`
//! SSE) and Anthropic Messages (`POST /v1/messages`; JSON or named-event SSE), errors in each
//! protocol's format.
//!
//! What it answers is scripted: every provider request pops one [`Step`] from its model's
//! queue, else from the shared queue; with nothing queued it echoes (`"echo: "` + the last
//! user message, usage computed from the words). The control API (not under `/v1`):
//! `POST /_script` `{"model"?: "...", "steps": [Step, ...]}` appends, `POST /_reset` clears
//! queues and counters, `GET /_calls` returns [`CallCounts`] (the last 50 requests with
//! their headers and bodies, unmasked, so tests can check credentials arrived).
//!
//! Invariants: every provider request is counted, refused and faulted ones included; a client
//! that goes away mid-answer is counted as `disconnected` and disturbs nothing else; the
//! server stops (abruptly, hanging answers included) when its handle is dropped.

mod answer;
mod anthropic;
mod body;
mod frame;
mod openai;
mod request;
mod respond;
mod routes;
mod serve;
mod state;
mod step;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use routes::Script;
pub use state::{CallCounts, RECENT_CALLS, RecordedCall};
pub use step::{Endless, Fault, Reply, ScriptedUsage, Status, Step, ToolCall};

/// The models `GET /v1/models` lists unless told otherwise.
pub const DEFAULT_MODELS: &[&str] = &["gpt-4o-mini", "claude-sonnet-4-5"];

/// A running scripted provider; stops when dropped (or with [`ScriptedProvider::shutdown`]).
pub struct ScriptedProvider {
    addr: SocketAddr,
    shared: Arc<state::Shared>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Options for [`ScriptedProvider`]; from [`ScriptedProvider::builder`].
#[derive(Clone, Debug)]
pub struct Builder {
    listen: SocketAddr,
    require_key: Option<String>,
    models: Vec<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            require_key: None,
            models: DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect(),
        }
    }
}

impl Builder {
    /// Where to listen (default `127.0.0.1:0`: a free loopback port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Answers 401 (in the protocol's format) unless OpenAI requests carry
    /// `Authorization: Bearer <key>` and Anthropic requests `x-api-key: <key>`.
    pub fn require_key(mut self, key: impl Into<String>) -> Self {
        self.require_key = Some(key.into());
        self
    }

    /// The models `GET /v1/models` lists.
    pub fn models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.models = models.into_iter().map(Into::into).collect();
        self
    }

    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(self) -> std::io::Result<ScriptedProvider> {
        let listener = TcpListener::bind(self.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(state::Shared::new(self.require_key, &self.models));
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve::serve(
            listener,
            routes::router(Arc::clone(&shared)),
            stop.clone(),
        ));
        Ok(ScriptedProvider {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }
}

impl ScriptedProvider {
    /// Starts one on a free loopback port with the defaults.
    pub async fn start() -> std::io::Result<Self> {
        Self::builder().start().await
    }

    /// Options: listen address, required key, models.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (the control API lives here).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR/v1`, the OpenAI SDKs' `base_url`.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR`, the Anthropic SDKs' `base_url`.
    pub fn anthropic_base_url(&self) -> String {
        self.base_url()
    }

    /// Appends a step to the shared queue.
    pub fn script(&self, step: impl Into<Step>) {
        self.shared.script(None, [step.into()]);
    }

    /// Appends steps to the shared queue.
    pub fn script_all(&self, steps: impl IntoIterator<Item = Step>) {
        self.shared.script(None, steps);
    }

    /// Appends a step to `model`'s queue (consulted before the shared one).
    pub fn script_for(&self, model: impl Into<String>, step: impl Into<Step>) {
        self.shared.script(Some(model.into()), [step.into()]);
    }

    /// The counters and the last requests (what `GET /_calls` returns).
    pub fn calls(&self) -> CallCounts {
        self.shared.counts()
    }

    /// Clears the queues, the counters and the recorded requests.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops serving and waits until every connection is closed.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ScriptedProvider {
    fn drop(&mut self) {
        // The accept loop and every connection watch this token and end at their next poll.
        self.stop.cancel();
    }
}
