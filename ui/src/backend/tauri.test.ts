import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Channel } from "@tauri-apps/api/core";
import { createApi, ok } from "../api/client";
import type { ServerMessage, ShellRequest } from "../generated/api";
import type { ConnState } from "./backend";
import { TauriBackend, type Invoke } from "./tauri";

type FakeChannel = { onmessage: (m: ServerMessage) => void };

function setup(handler: (cmd: string, args: Record<string, unknown>) => unknown) {
  const calls: Array<{ cmd: string; args: Record<string, unknown> }> = [];
  const call = (async (cmd: string, args?: Record<string, unknown>) => {
    calls.push({ cmd, args: args ?? {} });
    return handler(cmd, args ?? {});
  }) as Invoke;
  const channels: FakeChannel[] = [];
  const makeChannel = () => {
    const ch: FakeChannel = { onmessage: () => undefined };
    channels.push(ch);
    return ch as unknown as Channel<ServerMessage>;
  };
  return { backend: new TauriBackend(call, makeChannel), calls, channels };
}

describe("TauriBackend through the typed client", () => {
  it("hands the request to api_request and parses the body text", async () => {
    const t = setup(() => ({ status: 200, headers: { "content-type": "application/json" }, body: '{"valid":true,"problems":[]}' }));
    const api = createApi(t.backend);
    await expect(ok(api.POST("/api/v1/config/validate", { body: { toml: "a = 1" } }))).resolves.toEqual({ valid: true, problems: [] });
    expect(t.calls).toHaveLength(1);
    const request = t.calls[0]?.args.request as ShellRequest;
    expect(request).toMatchObject({ method: "POST", path: "/api/v1/config/validate", body: '{"toml":"a = 1"}' });
    expect(request.headers?.["content-type"]).toBe("application/json");
  });

  it("sends a null body when there is none, keeps the query, and raises ApiError on non-2xx", async () => {
    const body = JSON.stringify({ error: { code: "budget_exceeded", message: "over", request_id: "r9" } });
    const t = setup(() => ({ status: 402, headers: {}, body }));
    const api = createApi(t.backend);
    await expect(ok(api.GET("/api/v1/health/transitions", { params: { query: { limit: 3 } } }))).rejects.toMatchObject({
      status: 402,
      code: "budget_exceeded",
      requestId: "r9",
    });
    const request = t.calls[0]?.args.request as ShellRequest;
    expect(request.body).toBeNull();
    expect(request.path).toBe("/api/v1/health/transitions?limit=3");
  });

  it("answers a 204 with no body", async () => {
    const t = setup(() => ({ status: 204, headers: {}, body: "" }));
    await expect(ok(createApi(t.backend).DELETE("/api/v1/tokens/{name}", { params: { path: { name: "ci" } } }))).resolves.toBeUndefined();
    expect((t.calls[0]?.args.request as ShellRequest).path).toBe("/api/v1/tokens/ci");
  });

  it("turns an IPC failure into ipc_error", async () => {
    const t = setup(() => {
      throw new Error("command api_request not found");
    });
    await expect(ok(createApi(t.backend).GET("/health"))).rejects.toMatchObject({ status: 0, code: "ipc_error" });
  });
});

describe("TauriBackend.subscribe", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("subscribes over a channel, resubscribes from the last seq, and unsubscribes", async () => {
    let nextId = 1;
    const t = setup((cmd) => (cmd === "feed_subscribe" ? nextId++ : undefined));
    const states: ConnState[] = [];
    const seqs: number[] = [];
    const stop = t.backend.subscribe(
      (m) => {
        if (m.type === "event") seqs.push(m.seq);
      },
      (s) => states.push(s),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(t.calls[0]).toMatchObject({ cmd: "feed_subscribe", args: { resumeFrom: null } });
    expect(states).toEqual(["connecting", "connected"]);

    const ch = t.channels[0];
    if (!ch) throw new Error("no channel");
    ch.onmessage({ type: "welcome", node_id: "n", seq: 0, resumed: false, resync: false });
    ch.onmessage({ type: "event", seq: 12, time: "2025-01-01T00:00:00Z", topic: "config", payload: { outcome: "applied", path: null, message: "ok", changed: [], restart_required: [] } });
    expect(seqs).toEqual([12]);

    // Lost events are reported, but the subscription goes on.
    ch.onmessage({ type: "error", code: "feed_lagged", message: "fell behind" });
    expect(states.at(-1)).toBe("connected");
    expect(t.calls.filter((c) => c.cmd === "feed_unsubscribe")).toEqual([]);

    // The shell ends the subscription: drop it and start again from seq 12.
    ch.onmessage({ type: "error", code: "internal", message: "subscription closed" });
    expect(states.at(-1)).toBe("reconnecting");
    expect(t.calls.at(-1)).toEqual({ cmd: "feed_unsubscribe", args: { id: 1 } });
    await vi.advanceTimersByTimeAsync(500);
    expect(t.calls.at(-1)).toMatchObject({ cmd: "feed_subscribe", args: { resumeFrom: 12 } });
    expect(states.at(-1)).toBe("connected");

    stop();
    expect(t.calls.at(-1)).toEqual({ cmd: "feed_unsubscribe", args: { id: 2 } });
  });

  it("retries with backoff while the shell refuses", async () => {
    let failures = 2;
    const t = setup((cmd) => {
      if (cmd === "feed_subscribe" && failures-- > 0) throw new Error("not ready");
      return 7;
    });
    const states: ConnState[] = [];
    t.backend.subscribe(() => undefined, (s) => states.push(s));
    await vi.advanceTimersByTimeAsync(0);
    expect(states.at(-1)).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(500);
    expect(t.calls.filter((c) => c.cmd === "feed_subscribe")).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(t.calls.filter((c) => c.cmd === "feed_subscribe")).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.calls.filter((c) => c.cmd === "feed_subscribe")).toHaveLength(3);
    expect(states.at(-1)).toBe("connected");
  });
});
