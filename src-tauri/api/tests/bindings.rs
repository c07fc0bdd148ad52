//! Generated artefacts: the UI's TypeScript types (ts-rs) and the OpenAPI document (utoipa).
//! Both are committed; these tests fail when they are stale. Regenerate with
//! `make bindings` (UPDATE_BINDINGS=1 cargo test --workspace --features custom-protocol --locked
//! --test api bindings). The TypeScript file holds the closure of a few root types, so a type
//! reached from them cannot be left out.

use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use flightdeck_api::error::ApiErrorBody;
use flightdeck_api::feed::{ClientMessage, ServerMessage};
use flightdeck_api::shell::{ShellRequest, ShellResponse};
use flightdeck_api::system::ProbeStatus;
use flightdeck_api::v1::{ConfigView, ValidateConfigRequest, ValidateConfigResponse};
use flightdeck_engine::events::{ConfigEvent, Event};
use flightdeck_engine::health::HealthReport;
use flightdeck_engine::{ErrorCode, NodeInfo};
use ts_rs::{TS, TypeVisitor};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Collects the declarations of a type and of everything it refers to, once each.
struct Declarations {
    cfg: ts_rs::Config,
    seen: HashSet<TypeId>,
    /// TypeScript name → declaration; sorted, so the file does not depend on visit order.
    decls: BTreeMap<String, String>,
}

impl TypeVisitor for Declarations {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if !self.seen.insert(TypeId::of::<T>()) {
            return;
        }
        T::visit_dependencies(self);
        T::visit_generics(self);
        // Only derived types have a file of their own (and a declaration); `String`,
        // `Vec<_>` and the like are written inline.
        if T::output_path().is_some() {
            self.decls.insert(T::ident(&self.cfg), T::decl(&self.cfg));
        }
    }
}

/// Every type the UI sees: what the handlers take and return, the feed's messages, and,
/// through them, every type they contain (so a new field's type cannot be forgotten).
fn typescript() -> String {
    let mut d = Declarations {
        cfg: ts_rs::Config::new().with_large_int("number"),
        seen: HashSet::new(),
        decls: BTreeMap::new(),
    };
    d.visit::<ErrorCode>();
    d.visit::<ApiErrorBody>();
    d.visit::<ProbeStatus>();
    d.visit::<HealthReport>();
    d.visit::<NodeInfo>();
    d.visit::<ConfigView>();
    d.visit::<ValidateConfigRequest>();
    d.visit::<ValidateConfigResponse>();
    d.visit::<ConfigEvent>();
    d.visit::<Event>();
    d.visit::<ServerMessage>();
    d.visit::<ClientMessage>();
    d.visit::<ShellRequest>();
    d.visit::<ShellResponse>();
    d.visit::<flightdeck_api::tokens::CreateTokenRequest>();
    d.visit::<flightdeck_engine::identity::CreatedToken>();
    d.visit::<flightdeck_engine::identity::Actor>();
    d.visit::<flightdeck_api::page::Page<flightdeck_engine::identity::TokenInfo>>();
    d.visit::<flightdeck_api::page::Page<flightdeck_engine::health::history::HealthTransition>>();
    d.visit::<flightdeck_api::page::Page<flightdeck_engine::secrets::SecretInfo>>();
    d.visit::<flightdeck_api::secrets::SetSecretRequest>();
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/api/tests/bindings.rs (ts-rs).\n\
         // Do not edit: run `make bindings` after changing the Rust types.\n\n",
    );
    for decl in d.decls.values() {
        out.push_str("export ");
        out.push_str(decl.trim());
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

/// Whatever the API document names as a schema, the UI gets as a type: a handler that starts
/// returning a new type fails here until the type reaches the bindings.
#[test]
fn every_openapi_schema_has_a_typescript_type() {
    let ts = typescript();
    let doc = serde_json::to_value(flightdeck_api::openapi()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.len() > 10, "{} schemas", schemas.len());
    let exported = |name: &str| {
        [
            format!("export type {name} "),
            format!("export type {name}<"),
            format!("export interface {name} "),
        ]
        .iter()
        .any(|e| ts.contains(e.as_str()))
    };
    for name in schemas.keys() {
        // utoipa names an instance of a generic `Generic_Arg`; TypeScript has `Generic<T>`.
        let generic_instance = name
            .split_once('_')
            .is_some_and(|(g, arg)| ts.contains(&format!("export type {g}<")) && exported(arg));
        assert!(
            exported(name) || generic_instance,
            "{name} is in the OpenAPI document but not in the TypeScript bindings: add it (or \
             a type that contains it) to typescript()"
        );
    }
}

/// The document lists itself and the error responses each operation can give.
#[test]
fn openapi_documents_the_shared_errors() {
    let doc = serde_json::to_value(flightdeck_api::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/openapi.json"));
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |s: &str| responses.contains_key(s);
            assert!(has("403") && has("500"), "{method} {path}");
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            assert_eq!(has("401"), secured, "{method} {path}");
            if op.get("requestBody").is_some() {
                assert!(has("413") && has("415"), "{method} {path}");
            }
        }
    }
    for name in ["NotFound", "MethodNotAllowed", "ForbiddenHost"] {
        assert!(
            doc["components"]["responses"][name].is_object(),
            "{name} missing"
        );
    }
}
