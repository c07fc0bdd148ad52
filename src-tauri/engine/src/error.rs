//! Stable error codes shared by every module, and the engine's top-level error.
//!
//! Each module owns a `thiserror` enum; every variant maps to one [`ErrorCode`]. The code is
//! the contract with API clients and the UI (they switch on it, never on the message), so a
//! code, once shipped, is never renamed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stable, machine-readable failure code. Serialized in `snake_case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is well-formed JSON but a field is invalid.
    BadRequest,
    /// The request body is not valid JSON or does not match the expected shape.
    InvalidJson,
    /// The request body is not `application/json`.
    UnsupportedMediaType,
    /// The request body exceeds the configured limit.
    PayloadTooLarge,
    /// No or wrong credentials.
    Unauthorized,
    /// The Host or Origin header is not allowed (DNS-rebinding protection).
    ForbiddenHost,
    /// No such route or resource.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The request did not complete in time (the node answered 408).
    RequestTimeout,
    /// The node is starting, stopping or a dependency is down.
    Unavailable,
    /// Something failed inside the node; details are in its log under the request id.
    Internal,
    /// A configuration file or value is invalid.
    ConfigInvalid,
    /// The database was written by a newer Flightdeck.
    SchemaTooNew,
    /// A migration previously failed half-way; the database needs attention.
    SchemaDirty,
    /// The data directory cannot be created or written.
    DataDirUnwritable,
    /// Another Flightdeck (desktop or `flightdeck serve`) holds the data directory.
    DataDirLocked,
    /// The database could not be opened or queried.
    Database,
    /// The secret store (keychain, file) is unreachable or refused the operation.
    SecretsUnavailable,
    /// A secret store was reached but holds no such secret.
    SecretMissing,
    /// The WebSocket feed client fell behind and events were dropped for it.
    FeedLagged,
    /// Another program holds the database file locked for longer than the busy timeout.
    DatabaseBusy,
    /// A feed subscription named a topic that does not exist.
    UnknownTopic,
    /// A feed client asked to resume from a sequence number this node has not reached.
    ResumeFromFuture,
    /// A plain HTTP request reached a WebSocket-only route.
    UpgradeRequired,
    /// The thing to create exists already (a token name...).
    Conflict,
    /// The token is valid but its scope does not cover this request.
    InsufficientScope,
    /// The token has expired.
    TokenExpired,
    /// Too many failed authentications from this client: wait (`Retry-After`).
    TooManyAuthFailures,
    /// An `Idempotency-Key` was sent again with a different request.
    IdempotencyKeyReused,
    /// A request with this `Idempotency-Key` is still running.
    IdempotencyKeyInUse,
    /// An `If-Match` / `If-None-Match` condition does not hold: someone else changed it.
    PreconditionFailed,
    /// The usage ledger cannot record calls (its journal is not writable): calls are refused.
    LedgerUnavailable,
    /// `model` is neither a configured route nor a `provider/model` of a configured provider.
    UnknownModel,
    /// A provider refused its key (401/403), or its key's secret does not exist.
    ProviderAuthFailed,
    /// Every provider of the chain failed (each hop's reason is on the call record).
    ProviderUnavailable,
    /// A provider did not answer in time (connect, first byte, between chunks, total).
    ProviderTimeout,
    /// A provider answered 429 (rate limited by it) and the chain had nowhere else to go.
    ProviderRateLimited,
    /// A provider answered something that is not its protocol (malformed JSON, a broken stream).
    ProviderBadResponse,
    /// A provider refused the request as invalid (400/404/422): not retried.
    ProviderRejected,
    /// A provider's answer exceeded `max_response_bytes`.
    ResponseTooLarge,
    /// The circuit breaker of every provider/model of the chain is open.
    CircuitOpen,
    /// Flightdeck's own client-side rate limit for the provider/model is full.
    RateLimited,
    /// The task is finished (or not in a state that allows this): it cannot be cancelled or
    /// requeued now.
    TaskFinished,
    /// A worker's lease on a task expired and the task moved on: its write was refused.
    LeaseLost,
    /// No agent of that name is configured.
    UnknownAgent,
    /// No configured agent has the capability a task asks for.
    UnknownCapability,
    /// A prompt template does not parse, or the input lacks a variable it uses.
    TemplateError,
    /// A run definition is invalid (unknown agent, a cycle, a type mismatch...): nothing ran.
    RunInvalid,
    /// The run is finished: it cannot be cancelled.
    RunFinished,
    /// No action type of that name is declared (`[actions.<name>]`).
    UnknownAction,
    /// An action's arguments do not match its JSON Schema (the errors are listed).
    ArgumentsInvalid,
    /// The approval request is decided already; the existing decision is in the answer.
    AlreadyDecided,
    /// This actor may not decide this request (not a named approver, or its proposer).
    NotAnApprover,
    /// A rejection needs a reason.
    ReasonRequired,
    /// A blocking budget would be exceeded by this call (the message names it and when it
    /// resets); nothing was sent to a provider.
    BudgetExceeded,
    /// A blocking budget covers a model without a price (`[costs] unpriced = "refuse"`).
    PriceUnknown,
    /// A billing export whose header matches none of the known formats (the message lists
    /// the headers each format needs).
    UnknownFormat,
    /// A billing export with rows that do not parse (the message names each line); nothing
    /// was imported.
    InvalidRows,
    /// A series with too few points for what was asked (the message says how many are
    /// needed).
    SeriesTooShort,
    /// A report could not be delivered (an SMTP server or webhook refused it after retries).
    DeliveryFailed,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidJson => "invalid_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unauthorized => "unauthorized",
            Self::ForbiddenHost => "forbidden_host",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::ConfigInvalid => "config_invalid",
            Self::SchemaTooNew => "schema_too_new",
            Self::SchemaDirty => "schema_dirty",
            Self::DataDirUnwritable => "data_dir_unwritable",
            Self::DataDirLocked => "data_dir_locked",
            Self::Database => "database",
            Self::SecretsUnavailable => "secrets_unavailable",
            Self::SecretMissing => "secret_missing",
            Self::FeedLagged => "feed_lagged",
            Self::DatabaseBusy => "database_busy",
            Self::UnknownTopic => "unknown_topic",
            Self::ResumeFromFuture => "resume_from_future",
            Self::UpgradeRequired => "upgrade_required",
            Self::Conflict => "conflict",
            Self::InsufficientScope => "insufficient_scope",
            Self::TokenExpired => "token_expired",
            Self::TooManyAuthFailures => "too_many_auth_failures",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInUse => "idempotency_key_in_use",
            Self::PreconditionFailed => "precondition_failed",
            Self::LedgerUnavailable => "ledger_unavailable",
            Self::UnknownModel => "unknown_model",
            Self::ProviderAuthFailed => "provider_auth_failed",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ProviderTimeout => "provider_timeout",
            Self::ProviderRateLimited => "provider_rate_limited",
            Self::ProviderBadResponse => "provider_bad_response",
            Self::ProviderRejected => "provider_rejected",
            Self::ResponseTooLarge => "response_too_large",
            Self::CircuitOpen => "circuit_open",
            Self::RateLimited => "rate_limited",
            Self::TaskFinished => "task_finished",
            Self::LeaseLost => "lease_lost",
            Self::UnknownAgent => "unknown_agent",
            Self::UnknownCapability => "unknown_capability",
            Self::TemplateError => "template_error",
            Self::RunInvalid => "run_invalid",
            Self::RunFinished => "run_finished",
            Self::UnknownAction => "unknown_action",
            Self::ArgumentsInvalid => "arguments_invalid",
            Self::AlreadyDecided => "already_decided",
            Self::NotAnApprover => "not_an_approver",
            Self::ReasonRequired => "reason_required",
            Self::BudgetExceeded => "budget_exceeded",
            Self::PriceUnknown => "price_unknown",
            Self::UnknownFormat => "unknown_format",
            Self::InvalidRows => "invalid_rows",
            Self::SeriesTooShort => "series_too_short",
            Self::DeliveryFailed => "delivery_failed",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Anything that can go wrong opening or running the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error(transparent)]
    Ledger(#[from] crate::providers::ledger::LedgerError),
}

impl EngineError {
    /// The stable code of this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Store(e) => e.code(),
            Self::Config(e) => e.code(),
            Self::Secrets(e) => e.code(),
            Self::Telemetry(_) => ErrorCode::Internal,
            Self::Identity(e) => e.code(),
            Self::Ledger(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        use ErrorCode::*;
        let all = [
            BadRequest,
            InvalidJson,
            UnsupportedMediaType,
            PayloadTooLarge,
            Unauthorized,
            ForbiddenHost,
            NotFound,
            MethodNotAllowed,
            RequestTimeout,
            Unavailable,
            Internal,
            ConfigInvalid,
            SchemaTooNew,
            SchemaDirty,
            DataDirUnwritable,
            DataDirLocked,
            Database,
            SecretsUnavailable,
            SecretMissing,
            FeedLagged,
            DatabaseBusy,
            UnknownTopic,
            ResumeFromFuture,
            UpgradeRequired,
            Conflict,
            InsufficientScope,
            TokenExpired,
            TooManyAuthFailures,
            IdempotencyKeyReused,
            IdempotencyKeyInUse,
            PreconditionFailed,
            LedgerUnavailable,
            UnknownModel,
            ProviderAuthFailed,
            ProviderUnavailable,
            ProviderTimeout,
            ProviderRateLimited,
            ProviderBadResponse,
            ProviderRejected,
            ResponseTooLarge,
            CircuitOpen,
            RateLimited,
            TaskFinished,
            LeaseLost,
            UnknownAgent,
            UnknownCapability,
            TemplateError,
            RunInvalid,
            RunFinished,
            BudgetExceeded,
            PriceUnknown,
            UnknownFormat,
            InvalidRows,
            SeriesTooShort,
            DeliveryFailed,
        ];
        let mut seen = std::collections::HashSet::new();
        for code in all {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!(seen.insert(code.as_str()), "duplicate wire name {code}");
        }
    }
}
