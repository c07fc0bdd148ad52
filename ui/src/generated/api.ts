// Generated from the Rust types by src-tauri/api/tests/bindings.rs (ts-rs).
// Do not edit: run `make bindings` after changing the Rust types.

export type Actor = { "kind": "desktop", user: string, } | { "kind": "bootstrap" } | { "kind": "token", name: string, };
export type ApiErrorBody = { error: ErrorDetail, };
export type ClientMessage = { "type": "auth", token: string, resume_from: number | null, 
/**
 * Topics to receive (`metrics`, `config`, `health`); all when absent or empty.
 */
topics?: Array<string>, } | { "type": "ping" };
export type Config = { server: ServerConfig, log: LogConfig, secrets: SecretsConfig, shutdown: ShutdownConfig, feed: FeedConfig, health: HealthConfig, };
export type ConfigEvent = { outcome: ConfigOutcome, path: string | null, message: string, 
/**
 * Keys that changed.
 */
changed: Array<string>, 
/**
 * Changed keys that take effect only after a restart.
 */
restart_required: Array<string>, };
export type ConfigOutcome = "applied" | "rejected";
export type ConfigProblem = { 
/**
 * The file path, `environment variable FLIGHTDECK_...`, or `defaults`.
 */
source: string, 
/**
 * Dotted key, e.g. `server.listen`; empty when the whole file is unreadable.
 */
key: string, reason: string, };
export type ConfigState = "ok" | "error";
export type ConfigStatus = { 
/**
 * The file the config in force was read from; `null` on built-in defaults.
 */
path: string | null, state: ConfigState, 
/**
 * The last rejected change, while the previous config stays in force.
 */
error: string | null, loaded_at: string, 
/**
 * Changes to the file are picked up on their own (the watcher is armed).
 */
watching: boolean, 
/**
 * Why changes are not picked up although watching was asked for (set up failed, or the
 * directory went away); `null` otherwise.
 */
watch_error: string | null, };
export type ConfigView = { config: Config, status: ConfigStatus, };
export type CreateTokenRequest = { 
/**
 * 1 to 64 characters of a-z, 0-9, `.`, `_`, `-`.
 */
name: string, 
/**
 * `read` (default), `operate` or `admin`.
 */
scope?: Scope, 
/**
 * When it stops working (RFC 3339); never when absent.
 */
expires_at?: string | null, };
export type CreatedToken = { 
/**
 * The bearer token. Shown once; only its hash is stored.
 */
token: string, name: string, scope: Scope, created_at: string, last_used_at: string | null, expires_at: string | null, };
export type DependencyHealth = { name: string, status: HealthStatus, response_time_ms: number, last_check: string, message: string | null, };
export type ErrorCode = "bad_request" | "invalid_json" | "unsupported_media_type" | "payload_too_large" | "unauthorized" | "forbidden_host" | "not_found" | "method_not_allowed" | "request_timeout" | "unavailable" | "internal" | "config_invalid" | "schema_too_new" | "schema_dirty" | "data_dir_unwritable" | "data_dir_locked" | "database" | "secrets_unavailable" | "secret_missing" | "feed_lagged" | "database_busy" | "unknown_topic" | "resume_from_future" | "upgrade_required" | "conflict" | "insufficient_scope" | "token_expired" | "too_many_auth_failures";
export type ErrorDetail = { code: ErrorCode, message: string, request_id: string, };
export type Event = { "topic": "metrics", "payload": MetricsSample } | { "topic": "config", "payload": ConfigEvent } | { "topic": "health", "payload": { dependency: string, from: HealthStatus, to: HealthStatus, message: string | null, } };
export type FeedConfig = { 
/**
 * Interval of the `metrics` topic, in milliseconds.
 */
metrics_interval_ms: number, };
export type FeedEvent = { seq: number, time: string, } & ({ "topic": "metrics", "payload": MetricsSample } | { "topic": "config", "payload": ConfigEvent } | { "topic": "health", "payload": { dependency: string, from: HealthStatus, to: HealthStatus, message: string | null, } });
export type HealthConfig = { 
/**
 * Interval of the background health checks, in seconds.
 */
interval_secs: number, 
/**
 * A check slower than this is reported degraded, in milliseconds.
 */
degraded_after_ms: number, };
export type HealthReport = { status: HealthStatus, version: string, uptime_seconds: number, timestamp: string, dependencies: Array<DependencyHealth>, };
export type HealthStatus = "healthy" | "degraded" | "unhealthy";
export type HealthTransition = { id: number, dependency: string, 
/**
 * `None` for the first observation after a start.
 */
from: HealthStatus | null, to: HealthStatus, message: string | null, at: string, };
export type LogConfig = { 
/**
 * A tracing filter, e.g. `info` or `info,flightdeck_api=debug`.
 */
level: string, format: LogFormat, };
export type LogFormat = "text" | "json";
export type MetricsSample = { uptime_seconds: number, http_requests_total: number, http_requests_in_flight: number, feed_subscribers: number, rss_bytes: number, db_size_bytes: number, events_published_total: number, };
export type NodeInfo = { version: string, node_id: string, data_dir: string, database_path: string, schema_version: number, started_at: string, uptime_seconds: number, config: ConfigStatus, };
export type Page<T> = { items: Array<T>, 
/**
 * Pass as `cursor` for the next page; `null` on the last page.
 */
next_cursor: string | null, };
export type ProbeStatus = { status: string, };
export type Scope = "read" | "operate" | "admin";
export type SecretInfo = { name: string, created_at: string, updated_at: string, };
export type SecretsBackend = "keychain" | "file" | "env";
export type SecretsConfig = { backend: SecretsBackend, };
export type ServerConfig = { 
/**
 * Address of the HTTP/WebSocket API. Loopback unless `insecure_listen`.
 */
listen: string, 
/**
 * Allow a non-loopback `listen` without TLS.
 */
insecure_listen: boolean, 
/**
 * Largest accepted request body, in bytes.
 */
body_limit_bytes: number, 
/**
 * Extra host names accepted in the Host header (besides loopback names).
 */
allowed_hosts: Array<string>, };
export type ServerMessage = { "type": "welcome", node_id: string, 
/**
 * The last sequence number published before this session started.
 */
seq: number, 
/**
 * A resume point was given and every event after it follows.
 */
resumed: boolean, 
/**
 * A resume point was given but what came after it is no longer kept: refetch.
 */
resync: boolean, } | { "type": "event" } & FeedEvent | { "type": "pong" } | { "type": "error", code: ErrorCode, message: string, };
export type SetSecretRequest = { 
/**
 * The value: 1 byte to 64 KiB. Never returned by any route.
 */
value: string, };
export type ShellRequest = { 
/**
 * An HTTP method, e.g. `GET`.
 */
method: string, 
/**
 * Path and query, starting with a single `/`.
 */
path: string, 
/**
 * A JSON body, already serialized.
 */
body: string | null, };
export type ShellResponse = { status: number, body: string, };
export type ShutdownConfig = { 
/**
 * How long in-flight work may take to finish after a stop signal.
 */
timeout_secs: number, };
export type TokenInfo = { name: string, scope: Scope, created_at: string, last_used_at: string | null, expires_at: string | null, };
export type ValidateConfigRequest = { 
/**
 * The TOML text.
 */
toml: string, };
export type ValidateConfigResponse = { valid: boolean, problems: Array<ConfigProblem>, };
