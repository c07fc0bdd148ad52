import { describe, expect, it } from "vitest";
import { ApiError, apiErrorFromResponse, describeError, transportError } from "./apiError";

describe("apiErrorFromResponse", () => {
  it("reads the node's error body", () => {
    const body = JSON.stringify({ error: { code: "unauthorized", message: "missing bearer token", request_id: "req-42" } });
    const e = apiErrorFromResponse(401, body);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 401, code: "unauthorized", message: "missing bearer token", requestId: "req-42" });
  });

  it("tolerates a missing request id or message", () => {
    const e = apiErrorFromResponse(409, JSON.stringify({ error: { code: "conflict" } }));
    expect(e).toMatchObject({ code: "conflict", message: "HTTP 409", requestId: null });
  });

  it("gives non-API bodies a code derived from the status", () => {
    expect(apiErrorFromResponse(502, "<html>Bad gateway</html>")).toMatchObject({
      status: 502,
      code: "http_502",
      message: "<html>Bad gateway</html>",
    });
    expect(apiErrorFromResponse(404, "", "Not Found")).toMatchObject({ code: "http_404", message: "Not Found" });
    expect(apiErrorFromResponse(500, "")).toMatchObject({ code: "http_500", message: "HTTP 500" });
  });

  it("keeps a JSON body that is not an error body (e.g. a 503 health report)", () => {
    const report = { status: "unhealthy", dependencies: [] };
    const e = apiErrorFromResponse(503, JSON.stringify(report));
    expect(e.code).toBe("http_503");
    expect(e.body).toEqual(report);
  });
});

describe("transportError", () => {
  it("maps timeouts and network failures to UI codes", () => {
    expect(transportError(new DOMException("t", "TimeoutError")).code).toBe("timeout");
    expect(transportError(new TypeError("Failed to fetch"))).toMatchObject({ status: 0, code: "unreachable" });
    const existing = new ApiError(400, "bad_request", "x");
    expect(transportError(existing)).toBe(existing);
  });
});

describe("describeError", () => {
  it("switches on the code, not the message", () => {
    expect(describeError(new ApiError(401, "unauthorized", "whatever the server says"))).toBe(
      "The node did not accept this token.",
    );
    expect(describeError(new ApiError(422, "budget_exceeded", "Budget exceeded for agent x"))).toBe(
      "Budget exceeded for agent x",
    );
  });
});
