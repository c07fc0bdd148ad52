//! The OpenAPI document is the one description of the wire types: the UI's TypeScript types
//! and typed client are generated from the committed `docs/openapi.json` by
//! openapi-typescript (`npm --prefix ui run gen:api`, checked by `npm --prefix ui run
//! check:api` in `make test`). This test fails when the document is stale; regenerate both
//! with `make bindings`.

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
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
fn openapi_document_is_current() {
    let doc = flightdeck_api::openapi().to_pretty_json().unwrap() + "\n";
    check_or_update(repo().join("docs/openapi.json"), doc);
}

/// What the UI uses besides the HTTP operations is in the document too: the feed's
/// messages and the desktop's in-process envelope.
#[test]
fn openapi_names_the_non_http_wire_types() {
    let doc = serde_json::to_value(flightdeck_api::openapi()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ClientMessage",
        "ServerMessage",
        "ApiErrorBody",
        "ErrorCode",
        "ShellRequest",
        "ShellResponse",
    ] {
        assert!(schemas.contains_key(name), "{name} missing");
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
