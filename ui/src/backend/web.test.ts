import { describe, expect, it, vi } from "vitest";
import { ApiError } from "./apiError";
import { createApi, ok } from "../api/client";
import { WebBackend, feedUrl } from "./web";

function backendWith(responses: Array<{ status: number; body: string }>, token: string | null = "tok") {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetchFn = vi.fn(async (url: string, init?: RequestInit) => {
    calls.push({ url: url, init: init ?? {} });
    const r = responses.shift();
    if (!r) throw new TypeError("Failed to fetch");
    return new Response(r.body === "" ? null : r.body, { status: r.status });
  });
  const data = new Map<string, string>();
  const storage = {
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
    removeItem: (k: string) => void data.delete(k),
  };
  const backend = new WebBackend({ origin: "http://127.0.0.1:7777", storage, initialToken: token, fetch: fetchFn });
  return { backend, calls };
}

const header = (init: RequestInit, name: string) => new Headers(init.headers).get(name);

describe("WebBackend through the typed client", () => {
  it("calls the same origin with the bearer token and parses JSON", async () => {
    const { backend, calls } = backendWith([{ status: 200, body: '{"version":"1.2.3"}' }]);
    const api = createApi(backend);
    await expect(ok(api.GET("/api/v1/info"))).resolves.toEqual({ version: "1.2.3" });
    expect(calls[0]?.url).toBe("http://127.0.0.1:7777/api/v1/info");
    expect(header(calls[0]!.init, "Authorization")).toBe("Bearer tok");
    expect(calls[0]?.init.body).toBeNull();
  });

  it("sends a JSON body and the query string", async () => {
    const { backend, calls } = backendWith([
      { status: 200, body: '{"valid":true,"problems":[]}' },
      { status: 200, body: '{"items":[],"next_cursor":null}' },
    ]);
    const api = createApi(backend);
    await ok(api.POST("/api/v1/config/validate", { body: { toml: "x = 1" } }));
    expect(calls[0]?.init.method).toBe("POST");
    expect(calls[0]?.init.body).toBe('{"toml":"x = 1"}');
    expect(header(calls[0]!.init, "Content-Type")).toBe("application/json");
    await ok(api.GET("/api/v1/health/transitions", { params: { query: { limit: 5, cursor: "c 1" } } }));
    expect(calls[1]?.url).toBe("http://127.0.0.1:7777/api/v1/health/transitions?limit=5&cursor=c%201");
  });

  it("throws ApiError from the error body and signs out on unauthorized", async () => {
    const body = JSON.stringify({ error: { code: "unauthorized", message: "bad token", request_id: "r1" } });
    const { backend } = backendWith([{ status: 401, body }]);
    const err = await ok(createApi(backend).GET("/api/v1/info")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 401, code: "unauthorized", requestId: "r1" });
    expect(backend.session.state().signedIn).toBe(false);
    expect(backend.session.state().notice).not.toBeNull();
  });

  it("keeps the session on other errors", async () => {
    const body = JSON.stringify({ error: { code: "not_found", message: "no such route", request_id: "r2" } });
    const { backend } = backendWith([{ status: 404, body }]);
    await expect(ok(createApi(backend).GET("/api/v1/info"))).rejects.toMatchObject({ code: "not_found" });
    expect(backend.session.state().signedIn).toBe(true);
  });

  it("reports an unreachable node, and a body that is not JSON, as codes", async () => {
    const { backend } = backendWith([{ status: 200, body: "<html>" }]);
    await expect(ok(createApi(backend).GET("/health"))).rejects.toMatchObject({ code: "invalid_response" });
    await expect(ok(createApi(backend).GET("/health"))).rejects.toMatchObject({ status: 0, code: "unreachable" });
  });

  it("verifies a sign-in token against /api/v1/info before keeping it", async () => {
    const unauthorized = JSON.stringify({ error: { code: "unauthorized", message: "no", request_id: "r" } });
    const { backend, calls } = backendWith([{ status: 401, body: unauthorized }, { status: 200, body: "{}" }], null);
    await expect(backend.session.signIn("wrong")).rejects.toMatchObject({ code: "unauthorized" });
    expect(backend.session.state().signedIn).toBe(false);
    await backend.session.signIn("right");
    expect(backend.session.state().signedIn).toBe(true);
    expect(header(calls[1]!.init, "Authorization")).toBe("Bearer right");
  });
});

describe("feedUrl", () => {
  it("uses ws for http and wss for https", () => {
    expect(feedUrl("http://127.0.0.1:7777")).toBe("ws://127.0.0.1:7777/api/v1/feed");
    expect(feedUrl("https://node.example:8443")).toBe("wss://node.example:8443/api/v1/feed");
  });
});
