//! Generated artefacts: the UI's TypeScript types (ts-rs) and the OpenAPI document (utoipa).
//! Both are committed; these tests fail when they are stale. Regenerate with
//! `make bindings` (UPDATE_BINDINGS=1 cargo test -p flightdeck-api --test api bindings).

use std::path::PathBuf;

use flightdeck_api::error::{ApiErrorBody, ErrorDetail};
use flightdeck_api::feed::{ClientMessage, ServerMessage};
use flightdeck_api::system::ProbeStatus;
use flightdeck_api::v1::{ConfigView, ValidateConfigRequest, ValidateConfigResponse};
use flightdeck_engine::config::{
    Config, ConfigProblem, ConfigState, ConfigStatus, FeedConfig, HealthConfig, LogConfig,
    LogFormat, SecretsBackend, SecretsConfig, ServerConfig, ShutdownConfig,
};
use flightdeck_engine::events::{ConfigEvent, ConfigOutcome, Event, FeedEvent, MetricsSample};
use flightdeck_engine::health::{DependencyHealth, HealthReport, HealthStatus};
use flightdeck_engine::{ErrorCode, NodeInfo};
use ts_rs::TS;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn typescript() -> String {
    let cfg = ts_rs::Config::new().with_large_int("number");
    let decls = [
        ErrorCode::decl(&cfg),
        ErrorDetail::decl(&cfg),
        ApiErrorBody::decl(&cfg),
        ProbeStatus::decl(&cfg),
        HealthStatus::decl(&cfg),
        DependencyHealth::decl(&cfg),
        HealthReport::decl(&cfg),
        ConfigState::decl(&cfg),
        ConfigStatus::decl(&cfg),
        NodeInfo::decl(&cfg),
        MetricsSample::decl(&cfg),
        ConfigOutcome::decl(&cfg),
        ConfigEvent::decl(&cfg),
        Event::decl(&cfg),
        FeedEvent::decl(&cfg),
        ServerMessage::decl(&cfg),
        ClientMessage::decl(&cfg),
        LogFormat::decl(&cfg),
        SecretsBackend::decl(&cfg),
        ServerConfig::decl(&cfg),
        LogConfig::decl(&cfg),
        SecretsConfig::decl(&cfg),
        ShutdownConfig::decl(&cfg),
        FeedConfig::decl(&cfg),
        HealthConfig::decl(&cfg),
        Config::decl(&cfg),
        ConfigProblem::decl(&cfg),
        ConfigView::decl(&cfg),
        ValidateConfigRequest::decl(&cfg),
        ValidateConfigResponse::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/api/tests/bindings.rs (ts-rs).\n\
         // Do not edit: run `make bindings` after changing the Rust types.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(d.trim());
        out.push('\n');
    }
    out
}

fn check_or_update(path: PathBuf, expected: String) {
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if std::env::var("UPDATE_BINDINGS").is_ok_and(|v| v == "1") {
        if current != expected {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, expected).unwrap();
        }
        return;
    }
    assert!(
        current == expected,
        "{} is stale: run `make bindings` and commit the result",
        path.display()
    );
}

#[test]
fn typescript_bindings_are_current() {
    check_or_update(repo().join("ui/src/generated/api.ts"), typescript());
}

#[test]
fn openapi_document_is_current() {
    let doc = flightdeck_api::openapi().to_pretty_json().unwrap() + "\n";
    check_or_update(repo().join("docs/openapi.json"), doc);
}
