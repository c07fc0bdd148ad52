// TEMPORARY – will be overwritten by the Rust generator
export type HealthStatus = "healthy" | "degraded" | "unhealthy";
export type DependencyHealth = { name: string, status: HealthStatus, response_time_ms: number, last_check: string, message: string | null };
export type HealthReport = { status: HealthStatus, version: string, uptime_seconds: number, timestamp: string, dependencies: Array<DependencyHealth> };
export type ConfigState = "ok" | "error";
export type ConfigStatus = { path: string | null, state: ConfigState, error: string | null, loaded_at: string };
export type NodeInfo = { version: string, node_id: string, data_dir: string, database_path: string, schema_version: number, started_at: string, uptime_seconds: number, config: ConfigStatus };
export type MetricsSample = { uptime_seconds: number, http_requests_total: number, http_requests_in_flight: number, feed_subscribers: number, rss_bytes: number, db_size_bytes: number, events_published_total: number };
export type ConfigOutcome = "applied" | "rejected";
export type ConfigEvent = { outcome: ConfigOutcome, path: string | null, message: string, restart_required: Array<string> };
export type Event = { "topic": "metrics", "payload": MetricsSample } | { "topic": "config", "payload": ConfigEvent };
export type FeedEvent = { seq: number, time: string } & Event;
export type ServerMessage = { "type": "welcome", node_id: string, seq: number, resumed: boolean } | ({ "type": "event" } & FeedEvent) | { "type": "pong" } | { "type": "error", code: string, message: string };
export type ClientMessage = { "type": "auth", token: string, resume_from: number | null } | { "type": "ping" };
export type ApiErrorBody = { error: { code: string, message: string, request_id: string } };
