//! The wire types of the desktop's in-process transport: what the UI passes to the
//! `api_request` Tauri command and what it gets back. They live here, beside the Router they
//! wrap, and are schemas of the OpenAPI document, so the UI's types for them are generated
//! with the rest (the desktop shell only uses them; it never defines types for the webview).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One request, as the web backend would send it over HTTP (the shell adds the token).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShellRequest {
    /// An HTTP method, e.g. `GET`.
    pub method: String,
    /// Path and query, starting with a single `/`.
    pub path: String,
    /// A JSON body, already serialized.
    pub body: Option<String>,
    /// Request headers the UI sets (`If-Match`, `Idempotency-Key`, ...). `Authorization`,
    /// `Host` and `Content-Length` are the shell's and are ignored here.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The Router's answer: its status, its headers (lower-case names) and its (JSON) body text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShellResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: String,
}
