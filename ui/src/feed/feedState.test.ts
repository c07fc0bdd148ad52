import { describe, expect, it } from "vitest";
import type { MetricsSample, ServerMessage } from "../generated/api";
import { SPARK_CAPACITY, feedReducer, initialFeedState, pushBounded, requestRate, type FeedState } from "./feedState";

function sample(uptime: number, requests: number, rss = 64 * 1024 * 1024): MetricsSample {
  return {
    uptime_seconds: uptime,
    http_requests_total: requests,
    http_requests_in_flight: 1,
    feed_subscribers: 1,
    rss_bytes: rss,
    db_size_bytes: 4096,
    events_published_total: uptime,
  };
}

function metricsEvent(seq: number, s: MetricsSample, time = `2025-01-01T00:00:${String(seq % 60).padStart(2, "0")}Z`): ServerMessage {
  return { type: "event", seq, time, topic: "metrics", payload: s };
}

const run = (msgs: ServerMessage[], start: FeedState = initialFeedState) =>
  msgs.reduce((s, message) => feedReducer(s, { kind: "message", message }), start);

describe("requestRate", () => {
  it("divides the counter delta by the uptime delta", () => {
    expect(requestRate(sample(10, 100), null, sample(12, 110), "t")).toBe(5);
  });
  it("falls back to the event times when uptime did not move", () => {
    expect(requestRate(sample(10, 100), "2025-01-01T00:00:00Z", sample(10, 103), "2025-01-01T00:00:00.500Z")).toBe(6);
  });
  it("is null for the first sample and across a restart", () => {
    expect(requestRate(null, null, sample(1, 1), "t")).toBeNull();
    expect(requestRate(sample(500, 9000), null, sample(2, 4), "t")).toBeNull();
  });
});

describe("feedReducer", () => {
  it("tracks connection state and counts welcomes", () => {
    let s = feedReducer(initialFeedState, { kind: "conn", state: "reconnecting" });
    expect(s.conn).toBe("reconnecting");
    s = run([{ type: "welcome", node_id: "n1", seq: 0, resumed: false, resync: false }], s);
    expect(s).toMatchObject({ conn: "connected", connections: 1, nodeId: "n1", resumed: false });
    s = run([{ type: "welcome", node_id: "n1", seq: 40, resumed: true, resync: false }], s);
    expect(s.connections).toBe(2);
    expect(feedReducer(s, { kind: "conn", state: "connected" })).toBe(s);
  });

  it("keeps the latest metrics, the last seq and a rate per point", () => {
    const s = run([metricsEvent(1, sample(1, 10)), metricsEvent(2, sample(2, 14, 128 * 1024 * 1024))]);
    expect(s.lastSeq).toBe(2);
    expect(s.metrics?.http_requests_total).toBe(14);
    expect(s.points).toEqual([
      { seq: 1, requestsPerSec: null, rssMiB: 64 },
      { seq: 2, requestsPerSec: 4, rssMiB: 128 },
    ]);
  });

  it("bounds the sparkline buffer, dropping the oldest first", () => {
    const msgs = Array.from({ length: SPARK_CAPACITY + 25 }, (_, i) => metricsEvent(i + 1, sample(i + 1, (i + 1) * 3)));
    const s = run(msgs);
    expect(s.points).toHaveLength(SPARK_CAPACITY);
    expect(s.points[0]?.seq).toBe(26);
    expect(s.points.at(-1)?.seq).toBe(SPARK_CAPACITY + 25);
    expect(s.points.at(-1)?.requestsPerSec).toBe(3);
  });

  it("records config events and errors", () => {
    const s = run([
      {
        type: "event",
        seq: 9,
        time: "2025-01-01T00:00:00Z",
        topic: "config",
        payload: { outcome: "rejected", path: "/etc/fd.toml", message: "listen: invalid address", changed: [], restart_required: [] },
      },
      { type: "error", code: "feed_lagged", message: "fell behind" },
    ]);
    expect(s.lastSeq).toBe(9);
    expect(s.lastConfig).toMatchObject({ seq: 9, event: { outcome: "rejected", message: "listen: invalid address" } });
    expect(s.lastError).toEqual({ code: "feed_lagged", message: "fell behind" });
    expect(s.points).toEqual([]);
  });

  it("records the last health change", () => {
    const s = run([
      {
        type: "event",
        seq: 12,
        time: "2025-01-01T00:00:00Z",
        topic: "health",
        payload: { dependency: "secrets", from: "healthy", to: "unhealthy", message: "keychain locked" },
      },
    ]);
    expect(s.lastSeq).toBe(12);
    expect(s.lastHealth).toEqual({ seq: 12, dependency: "secrets", to: "unhealthy" });
  });

  it("ignores pongs", () => {
    expect(run([{ type: "pong" }])).toBe(initialFeedState);
  });
});

describe("pushBounded", () => {
  it("never exceeds its capacity and does not mutate its input", () => {
    const a = [1, 2, 3];
    expect(pushBounded(a, 4, 3)).toEqual([2, 3, 4]);
    expect(pushBounded(a, 4, 5)).toEqual([1, 2, 3, 4]);
    expect(a).toEqual([1, 2, 3]);
  });
});
