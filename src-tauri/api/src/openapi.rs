//! The OpenAPI document, generated from the handlers' annotations (utoipa) and served (behind
//! the token) at `/api/v1/openapi.json`.
//!
//! Invariant: the routes the router serves and the routes the document lists come from the
//! same functions ([`v1_routes`], [`public_routes`]), so they cannot drift; the error
//! responses every operation can give (403, 400, 401, 408, 413, 415, 500) are added here in
//! one place from what the middleware does, not by hand per handler.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{
    AppState, approvals, audit, budgets, calls, charts, costs, error, feed, reconciliations,
    reports, runs, secrets, series, system, tasks, tokens, v1,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Flightdeck node API",
        description = "One API for the desktop, the browser dashboard and fleet clients.\n\n\
            Every error has the body `ApiErrorBody` with a stable `code`. Besides the responses \
            listed per operation: an unknown path answers 404 `not_found` (under `/api/v1` \
            only to a holder of the token), a known path with another method 405 \
            `method_not_allowed` with an `Allow` header."
    ),
    modifiers(&BearerAuth),
    components(schemas(
        feed::ClientMessage,
        feed::ServerMessage,
        error::ApiErrorBody,
        crate::shell::ShellRequest,
        crate::shell::ShellResponse,
        flightdeck_engine::charts::Theme
    ))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The token-protected `/api/v1` routes (the feed authenticates on its own): each domain
/// module exports its own, with their OpenAPI paths; this only assembles them.
pub(crate) fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(v1::routes())
        .merge(tokens::routes())
        .merge(secrets::routes())
        .merge(calls::routes())
        .merge(costs::routes())
        .merge(budgets::routes())
        .merge(reconciliations::routes())
        .merge(series::routes())
        .merge(charts::routes())
        .merge(reports::routes())
        .merge(tasks::routes())
        .merge(runs::routes())
        .merge(approvals::routes())
        .merge(audit::routes())
        .routes(routes!(crate::gateway::gateway_info))
        .routes(routes!(openapi_document))
}

/// The unauthenticated probes.
pub(crate) fn public_routes() -> OpenApiRouter<AppState> {
    system::routes()
}

/// The OpenAPI document, as generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .merge(public_routes())
        .nest("/api/v1", v1_routes().routes(routes!(feed::feed)))
        .split_for_parts();
    document_errors(&mut api);
    api
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This OpenAPI document", body = Object)),
    security(("bearer" = [])))]
pub async fn openapi_document(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::clone(&state.openapi),
    )
}

/// The shared error responses: (status, component name, description).
const ERRORS: [(&str, &str, &str); 11] = [
    (
        "400",
        "BadRequest",
        "Malformed request: `bad_request` (also a request without a Host header, or a \
         failed WebSocket upgrade) or `invalid_json`",
    ),
    (
        "401",
        "Unauthorized",
        "Missing or wrong bearer token: `unauthorized`; an expired one: `token_expired`",
    ),
    (
        "403",
        "ForbiddenHost",
        "The Host or Origin header does not name this node: `forbidden_host`; the token's \
         scope does not cover this request: `insufficient_scope`",
    ),
    ("404", "NotFound", "No such route: `not_found`"),
    (
        "409",
        "IdempotencyConflict",
        "The `Idempotency-Key` was used for a different request: `idempotency_key_reused`; \
         the first request with it is still running: `idempotency_key_in_use`",
    ),
    (
        "405",
        "MethodNotAllowed",
        "The route does not take this method: `method_not_allowed`; `Allow` lists those it takes",
    ),
    (
        "408",
        "RequestTimeout",
        "The request did not complete in time: `request_timeout`",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body exceeds `server.body_limit_bytes`: `payload_too_large`",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not `application/json`: `unsupported_media_type`",
    ),
    (
        "429",
        "TooManyAuthFailures",
        "Too many failed authentications from this client: `too_many_auth_failures`; \
         `Retry-After` says when to try again",
    ),
    (
        "500",
        "Internal",
        "Failed inside the node: `internal`; its log has the details under the request id",
    ),
];

/// Adds the shared error responses to the components and to every operation they apply to.
fn document_errors(api: &mut utoipa::openapi::OpenApi) {
    if let Some(components) = api.components.as_mut() {
        for (_, name, description) in ERRORS {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ApiErrorBody"))),
                )
                .build();
            components
                .responses
                .insert(name.to_string(), RefOr::T(response));
        }
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let websocket = path == "/api/v1/feed";
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let mut statuses = vec!["400", "403", "500"];
            if !websocket {
                statuses.push("408");
            }
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                statuses.extend(["401", "429"]);
            }
            if op.request_body.is_some() {
                statuses.extend(["413", "415"]);
            }
            add_responses(op, &statuses);
        }
        // Every authenticated POST takes an Idempotency-Key (docs/api.md).
        if let Some(op) = item.post.as_mut()
            && op.security.as_ref().is_some_and(|s| !s.is_empty())
        {
            add_responses(op, &["409"]);
            op.parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(idempotency_key_parameter()));
        }
    }
}

fn idempotency_key_parameter() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: the same key with the same request answers the first \
             answer again (`Idempotent-Replayed: true`); kept 24 hours, per token. Use a \
             random UUID.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(flightdeck_engine::idempotency::MAX_KEY_LEN))
                .pattern(Some("^[!-~]+$")),
        ))
        .build()
}

fn add_responses(op: &mut Operation, statuses: &[&str]) {
    for (status, name, _) in ERRORS {
        if statuses.contains(&status) {
            // A handler's own, more specific description wins.
            op.responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
        }
    }
}
