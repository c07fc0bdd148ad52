//! The one API error type: `{"error": {"code", "message", "request_id"}}` with a stable code.
//!
//! Invariants: 5xx bodies never carry internals (the detail is logged with the request id);
//! every error response, including axum's own (404, 405, 413...) and the 408 of the request
//! timeout, has this shape (the `observe` middleware rewrites bare ones).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flightdeck_engine::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

tokio::task_local! {
    /// The request id of the request being handled, set by the `observe` middleware.
    pub static REQUEST_ID: String;
}

/// The current request id, or "-" outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".into())
}

/// The error body's inner object.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    pub request_id: String,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiErrorBody {
    pub error: ErrorDetail,
}

/// Marks a response whose body is already an [`ApiErrorBody`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rendered;

/// An API failure: HTTP status, stable code, message safe to show.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such route or resource",
        )
    }

    /// A 500 whose detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; the node's log has the details under this request id",
        )
    }

    /// The default error for a bare status produced outside our handlers.
    pub fn from_status(status: StatusCode) -> Self {
        if status == StatusCode::REQUEST_TIMEOUT {
            return Self::new(
                status,
                ErrorCode::RequestTimeout,
                format!(
                    "the request did not complete within {} s; try again",
                    crate::REQUEST_TIMEOUT.as_secs()
                ),
            );
        }
        let (code, message) = match status {
            StatusCode::BAD_REQUEST => (ErrorCode::BadRequest, "bad request"),
            StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, "missing or wrong bearer token"),
            StatusCode::FORBIDDEN => (ErrorCode::ForbiddenHost, "forbidden"),
            StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such route or resource"),
            StatusCode::METHOD_NOT_ALLOWED => (
                ErrorCode::MethodNotAllowed,
                "this route does not accept this method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                ErrorCode::PayloadTooLarge,
                "request body exceeds the configured limit (server.body_limit_bytes)",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => {
                (ErrorCode::InvalidJson, "the body does not match the schema")
            }
            StatusCode::SERVICE_UNAVAILABLE => (ErrorCode::Unavailable, "service unavailable"),
            s if s.is_client_error() => (ErrorCode::BadRequest, "bad request"),
            _ => (ErrorCode::Internal, "internal error"),
        };
        Self::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                request_id: current_request_id(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(Rendered);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The one mapping from engine error codes to HTTP statuses.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        BadRequest | InvalidJson | ConfigInvalid | UnknownTopic | ResumeFromFuture
        | TemplateError | RunInvalid | ReasonRequired => StatusCode::BAD_REQUEST,
        ArgumentsInvalid => StatusCode::UNPROCESSABLE_ENTITY,
        NotAnApprover => StatusCode::FORBIDDEN,
        Unauthorized | TokenExpired => StatusCode::UNAUTHORIZED,
        ForbiddenHost | InsufficientScope => StatusCode::FORBIDDEN,
        NotFound | SecretMissing | UnknownModel | UnknownAgent | UnknownCapability
        | UnknownAction => StatusCode::NOT_FOUND,
        ProviderRejected | UnknownFormat | InvalidRows | SeriesTooShort => StatusCode::BAD_REQUEST,
        DeliveryFailed => StatusCode::BAD_GATEWAY,
        ProviderAuthFailed | ProviderUnavailable | ProviderBadResponse | ResponseTooLarge => {
            StatusCode::BAD_GATEWAY
        }
        ProviderTimeout => StatusCode::GATEWAY_TIMEOUT,
        ProviderRateLimited | RateLimited | BudgetExceeded => StatusCode::TOO_MANY_REQUESTS,
        PriceUnknown => StatusCode::FORBIDDEN,
        CircuitOpen | LedgerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Conflict | IdempotencyKeyReused | IdempotencyKeyInUse | TaskFinished | LeaseLost
        | RunFinished | AlreadyDecided => StatusCode::CONFLICT,
        PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
        TooManyAuthFailures => StatusCode::TOO_MANY_REQUESTS,
        Unavailable | DatabaseBusy | SecretsUnavailable | DataDirLocked | FeedLagged => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        Internal | SchemaTooNew | SchemaDirty | DataDirUnwritable | Database => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl ApiError {
    /// An engine failure with its code: the status from [`status_of`]; for a 5xx, the
    /// message is logged and a generic one answered.
    pub fn from_engine(code: ErrorCode, error: &dyn std::fmt::Display) -> Self {
        let status = status_of(code);
        if status.is_server_error() {
            tracing::error!(%error, code = %code, "request failed inside the node");
            return Self::new(
                status,
                code,
                "failed inside the node; its log has the details under this request id",
            );
        }
        Self::new(status, code, error.to_string())
    }
}

/// Engine errors become API errors with `?`.
macro_rules! from_engine_error {
    ($($ty:ty),*) => {$(
        impl From<$ty> for ApiError {
            fn from(e: $ty) -> Self {
                Self::from_engine(e.code(), &e)
            }
        }
    )*};
}
from_engine_error!(
    flightdeck_engine::forecast::ForecastError,
    flightdeck_engine::identity::IdentityError,
    flightdeck_engine::store::StoreError,
    flightdeck_engine::events::subscribe::SubscribeError,
    flightdeck_engine::secrets::SecretsError,
    flightdeck_engine::secrets::SecretStoreError,
    flightdeck_engine::providers::ledger::LedgerError,
    flightdeck_engine::config::edit::EditError,
    flightdeck_engine::orchestrator::QueueError,
    flightdeck_engine::orchestrator::runs::RunError
);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match &r {
            JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => Self::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                r.body_text(),
            ),
            JsonRejection::MissingJsonContentType(_) => Self::from_status(r.status()),
            _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::from_status(r.status()),
            _ => Self::new(r.status(), ErrorCode::BadRequest, r.body_text()),
        }
    }
}

/// `Json` whose rejections are [`ApiError`]s.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query` whose rejections are [`ApiError`]s (`bad_request`, naming the parameter).
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request(format!("bad query string: {}", r.body_text()))
    }
}
