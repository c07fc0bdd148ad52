import { describe, expect, it } from "vitest";
import type { ConfigEvent, NodeInfo } from "../generated/api";
import { configAlert } from "./configAlert";

function info(state: "ok" | "error", loadedAt: string, error: string | null = null, startedAt = "2025-01-01T00:00:00Z"): NodeInfo {
  return {
    version: "0.1.0",
    node_id: "n1",
    data_dir: "/d",
    database_path: "/d/db",
    schema_version: 1,
    started_at: startedAt,
    uptime_seconds: 5,
    config: { path: "/etc/fd.toml", state, error, loaded_at: loadedAt, watching: true, watch_error: null },
  };
}

const notice = (event: Partial<ConfigEvent>, time: string) => ({
  seq: 1,
  time,
  event: { outcome: "applied" as const, path: "/etc/fd.toml", message: "", changed: [], restart_required: [], ...event } as ConfigEvent,
});

describe("configAlert", () => {
  it("is quiet when all is well", () => {
    expect(configAlert(null, null)).toBeNull();
    expect(configAlert(info("ok", "2025-01-01T00:00:00Z"), null)).toBeNull();
  });

  it("shows the node's config error", () => {
    expect(configAlert(info("error", "2025-01-01T00:00:00Z", "bad toml"), null)).toEqual({
      kind: "error",
      message: "bad toml",
      path: "/etc/fd.toml",
    });
  });

  it("shows a rejected reload until a later one applies", () => {
    const i = info("ok", "2025-01-01T00:00:00Z");
    const rejected = notice({ outcome: "rejected", message: "port out of range" }, "2025-01-01T00:05:00Z");
    expect(configAlert(i, rejected)).toMatchObject({ kind: "error", message: "port out of range" });
    const applied = notice({ outcome: "applied" }, "2025-01-01T00:06:00Z");
    expect(configAlert(i, applied)).toBeNull();
    expect(configAlert(info("error", "2025-01-01T00:00:00Z", "old"), applied)).toBeNull();
  });

  it("mentions settings that need a restart", () => {
    const n = notice({ restart_required: ["listen"] }, "2025-01-01T00:06:00Z");
    expect(configAlert(null, n)).toEqual({ kind: "restart", fields: ["listen"], path: "/etc/fd.toml" });
  });

  it("keeps a restart notice although the status was refetched after the reload", () => {
    const n = notice({ changed: ["server.listen"], restart_required: ["server.listen"] }, "2025-01-01T00:06:00Z");
    const refetched = info("ok", "2025-01-01T00:06:01Z");
    expect(configAlert(refetched, n)).toMatchObject({ kind: "restart", fields: ["server.listen"] });
  });

  it("lets the status of a node restarted since the event decide", () => {
    const old = notice({ outcome: "rejected", message: "old problem" }, "2025-01-01T00:05:00Z");
    const restarted = "2025-01-01T01:00:00Z";
    expect(configAlert(info("ok", restarted, null, restarted), old)).toBeNull();
    const restartNotice = notice({ restart_required: ["server.listen"] }, "2025-01-01T00:05:00Z");
    expect(configAlert(info("ok", restarted, null, restarted), restartNotice)).toBeNull();
    expect(configAlert(info("error", restarted, "still bad", restarted), old)).toMatchObject({ message: "still bad" });
  });
});
