//! A small MCP server for tests, on the official Rust SDK: `mcp-test-server` speaks stdio;
//! `mcp-test-server --http 127.0.0.1:0` serves streamable HTTP at `/mcp` and prints
//! `listening on http://ADDR/mcp`. Tools:
//! - `delete_file {path}`: appends the path (one line) to the file `$MCP_EFFECTS` and answers
//!   `deleted <path>` — the side effect the tests count;
//! - `echo {text}`: answers the text;
//! - `crash {}`: the process exits in the middle of the call (a server that dies mid-call).

use std::io::Write;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock as Content,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

#[derive(Clone)]
struct TestServer;

fn schema(v: Value) -> Arc<serde_json::Map<String, Value>> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let path = json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": false});
        let text = json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]});
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "delete_file",
                "Delete a file from the test area.",
                schema(path),
            ),
            Tool::new("echo", "Answer the text.", schema(text)),
            Tool::new(
                "crash",
                "Exit in the middle of the call.",
                schema(json!({"type": "object"})),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(request.arguments.clone().unwrap_or_default());
        let text = |k: &str| {
            args.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match request.name.as_ref() {
            "delete_file" => {
                let path = text("path");
                if let Ok(effects) = std::env::var("MCP_EFFECTS") {
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(effects)
                        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                    writeln!(f, "{path}")
                        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                }
                Ok(CallToolResult::success(vec![Content::text(format!("deleted {path}"))]).into())
            }
            "echo" => Ok(CallToolResult::success(vec![Content::text(text("text"))]).into()),
            "crash" => std::process::exit(3),
            other => {
                Ok(CallToolResult::error(vec![Content::text(format!("no tool {other}"))]).into())
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(addr) = args
        .iter()
        .position(|a| a == "--http")
        .and_then(|i| args.get(i + 1))
    {
        use rmcp::transport::streamable_http_server::{
            StreamableHttpService, session::local::LocalSessionManager,
        };
        let service = StreamableHttpService::new(
            || Ok(TestServer),
            LocalSessionManager::default().into(),
            Default::default(),
        );
        let app = axum::Router::new().nest_service("/mcp", service);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on http://{}/mcp", listener.local_addr()?);
        std::io::stdout().flush()?;
        axum::serve(listener, app).await?;
        return Ok(());
    }
    let running = TestServer.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
