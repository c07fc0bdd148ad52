//! The wire types of the desktop's in-process transport: what the UI passes to the
//! `api_request` Tauri command and what it gets back. They live here, beside the Router they
//! wrap, so their TypeScript twins are generated with the rest of the API's types (the desktop
//! shell only uses them; it never defines types of its own for the webview).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One request, as the web backend would send it over HTTP (the shell adds the token).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct ShellRequest {
    /// An HTTP method, e.g. `GET`.
    pub method: String,
    /// Path and query, starting with a single `/`.
    pub path: String,
    /// A JSON body, already serialized.
    pub body: Option<String>,
}

/// The Router's answer: its status and its (JSON) body text.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct ShellResponse {
    pub status: u16,
    pub body: String,
}
