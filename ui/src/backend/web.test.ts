import { describe, expect, it, vi } from "vitest";
import { ApiError } from "./apiError";
import { WebBackend, feedUrl } from "./web";

function backendWith(responses: Array<{ status: number; body: string }>, token: string | null = "tok") {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetchFn = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
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
  const backend = new WebBackend({ origin: "http://127.0.0.1:7777", storage, initialToken: token, fetch: fetchFn as typeof fetch });
  return { backend, calls };
}

describe("WebBackend.request", () => {
  it("calls the same origin with the bearer token and parses JSON", async () => {
    const { backend, calls } = backendWith([{ status: 200, body: '{"version":"1.2.3"}' }]);
    await expect(backend.request("GET", "/api/v1/info")).resolves.toEqual({ version: "1.2.3" });
    expect(calls[0]?.url).toBe("http://127.0.0.1:7777/api/v1/info");
    const headers = calls[0]?.init.headers as Record<string, string>;
    expect(headers.Authorization).toBe("Bearer tok");
    expect(calls[0]?.init.body).toBeNull();
  });

  it("sends a JSON body", async () => {
    const { backend, calls } = backendWith([{ status: 201, body: "" }]);
    await backend.request("POST", "/api/v1/things", { name: "x" });
    expect(calls[0]?.init.method).toBe("POST");
    expect(calls[0]?.init.body).toBe('{"name":"x"}');
    expect((calls[0]?.init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("throws ApiError from the error body and signs out on unauthorized", async () => {
    const body = JSON.stringify({ error: { code: "unauthorized", message: "bad token", request_id: "r1" } });
    const { backend } = backendWith([{ status: 401, body }]);
    const err = await backend.request("GET", "/api/v1/info").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 401, code: "unauthorized", requestId: "r1" });
    expect(backend.session.state().signedIn).toBe(false);
    expect(backend.session.state().notice).not.toBeNull();
  });

  it("keeps the session on other errors", async () => {
    const body = JSON.stringify({ error: { code: "not_found", message: "no such route", request_id: "r2" } });
    const { backend } = backendWith([{ status: 404, body }]);
    await expect(backend.request("GET", "/api/v1/nope")).rejects.toMatchObject({ code: "not_found" });
    expect(backend.session.state().signedIn).toBe(true);
  });

  it("reports an unreachable node as a code", async () => {
    const { backend } = backendWith([]);
    await expect(backend.request("GET", "/health")).rejects.toMatchObject({ status: 0, code: "unreachable" });
  });

  it("verifies a sign-in token against /api/v1/info before keeping it", async () => {
    const unauthorized = JSON.stringify({ error: { code: "unauthorized", message: "no", request_id: "r" } });
    const { backend, calls } = backendWith([{ status: 401, body: unauthorized }, { status: 200, body: "{}" }], null);
    await expect(backend.session.signIn("wrong")).rejects.toMatchObject({ code: "unauthorized" });
    expect(backend.session.state().signedIn).toBe(false);
    await backend.session.signIn("right");
    expect(backend.session.state().signedIn).toBe(true);
    expect((calls[1]?.init.headers as Record<string, string>).Authorization).toBe("Bearer right");
  });
});

describe("feedUrl", () => {
  it("uses ws for http and wss for https", () => {
    expect(feedUrl("http://127.0.0.1:7777")).toBe("ws://127.0.0.1:7777/api/v1/feed");
    expect(feedUrl("https://node.example:8443")).toBe("wss://node.example:8443/api/v1/feed");
  });
});
