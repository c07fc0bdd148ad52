import { describe, expect, it } from "vitest";
import { ROUTES, pathFor, routeOfPath } from "./routes";

describe("routes", () => {
  it("reads the screen from the first path segment", () => {
    expect(routeOfPath("/health")).toBe("health");
    expect(routeOfPath("/health/transitions/42")).toBe("health");
    expect(routeOfPath("/settings?tab=x")).toBe("settings");
    expect(routeOfPath("/")).toBeNull();
    expect(routeOfPath("/nope")).toBeNull();
    expect(routeOfPath("/token=abc")).toBeNull();
  });

  it("round-trips every screen", () => {
    for (const r of ROUTES) expect(routeOfPath(pathFor(r.id))).toBe(r.id);
    expect(ROUTES.map((r) => r.id)).toEqual(["overview", "agents", "approvals", "calls", "health", "costs", "forecasts", "reports", "fleet", "settings"]);
  });
});
