// The live feed as UI state: a pure reducer over connection changes and server messages.
//
// Invariants: `points` never holds more than SPARK_CAPACITY samples (oldest dropped first);
// a rate is only computed between two samples of the same node process (a counter that goes
// down or an uptime that goes back means a restart, which leaves a gap rather than a spike).
import type { ConnState } from "../backend/backend";
import type { ConfigEvent, HealthStatus, MetricsSample, ServerMessage } from "../generated/api";

export const SPARK_CAPACITY = 60;

export type SparkPoint = {
  seq: number;
  /** Requests per second since the previous sample; null across a restart or for the first one. */
  requestsPerSec: number | null;
  rssMiB: number;
};

export type ConfigNotice = { event: ConfigEvent; seq: number; time: string };

/** The last dependency status change the node announced; screens showing health refetch on it. */
export type HealthNotice = { seq: number; dependency: string; to: HealthStatus };

export type FeedState = {
  conn: ConnState;
  /** Increases on every welcome, i.e. every (re)connection; screens refetch when it changes. */
  connections: number;
  nodeId: string | null;
  resumed: boolean | null;
  lastSeq: number | null;
  metrics: MetricsSample | null;
  metricsTime: string | null;
  points: SparkPoint[];
  lastConfig: ConfigNotice | null;
  lastHealth: HealthNotice | null;
  lastError: { code: string; message: string } | null;
};

export type FeedAction = { kind: "conn"; state: ConnState } | { kind: "message"; message: ServerMessage };

export const initialFeedState: FeedState = {
  conn: "connecting",
  connections: 0,
  nodeId: null,
  resumed: null,
  lastSeq: null,
  metrics: null,
  metricsTime: null,
  points: [],
  lastConfig: null,
  lastHealth: null,
  lastError: null,
};

/** Requests per second between two samples, or null when they do not belong to one process. */
export function requestRate(
  prev: MetricsSample | null,
  prevTime: string | null,
  cur: MetricsSample,
  curTime: string,
): number | null {
  if (prev === null) return null;
  const delta = cur.http_requests_total - prev.http_requests_total;
  if (delta < 0 || cur.uptime_seconds < prev.uptime_seconds) return null;
  let dt = cur.uptime_seconds - prev.uptime_seconds;
  if (dt <= 0 && prevTime !== null) dt = (Date.parse(curTime) - Date.parse(prevTime)) / 1000;
  if (!Number.isFinite(dt) || dt <= 0) return null;
  return delta / dt;
}

export function pushBounded<T>(buf: readonly T[], item: T, capacity: number): T[] {
  const next = buf.length >= capacity ? buf.slice(buf.length - capacity + 1) : buf.slice();
  next.push(item);
  return next;
}

export function feedReducer(state: FeedState, action: FeedAction): FeedState {
  if (action.kind === "conn") {
    return state.conn === action.state ? state : { ...state, conn: action.state };
  }
  const m = action.message;
  switch (m.type) {
    case "welcome":
      return {
        ...state,
        conn: "connected",
        connections: state.connections + 1,
        nodeId: m.node_id,
        resumed: m.resumed,
        lastError: null,
      };
    case "event": {
      const base = { ...state, lastSeq: m.seq };
      switch (m.topic) {
        case "metrics": {
          const rate = requestRate(state.metrics, state.metricsTime, m.payload, m.time);
          const point: SparkPoint = {
            seq: m.seq,
            requestsPerSec: rate,
            rssMiB: m.payload.rss_bytes / (1024 * 1024),
          };
          return {
            ...base,
            metrics: m.payload,
            metricsTime: m.time,
            points: pushBounded(state.points, point, SPARK_CAPACITY),
          };
        }
        case "config":
          return { ...base, lastConfig: { event: m.payload, seq: m.seq, time: m.time } };
        case "health":
          return { ...base, lastHealth: { seq: m.seq, dependency: m.payload.dependency, to: m.payload.to } };
        default:
          return base;
      }
    }
    case "error":
      return { ...state, lastError: { code: m.code, message: m.message } };
    default:
      return state;
  }
}
