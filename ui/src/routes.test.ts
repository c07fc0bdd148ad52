import { describe, expect, it } from "vitest";
import { ROUTES, hrefFor, routeFromHash } from "./routes";

describe("routes", () => {
  it("reads the screen from the hash, defaulting to the overview", () => {
    expect(routeFromHash("#/health")).toBe("health");
    expect(routeFromHash("#/settings?tab=x")).toBe("settings");
    expect(routeFromHash("")).toBe("overview");
    expect(routeFromHash("#/nope")).toBe("overview");
    expect(routeFromHash("#token=abc")).toBe("overview");
  });

  it("round-trips every screen", () => {
    for (const r of ROUTES) expect(routeFromHash(hrefFor(r.id))).toBe(r.id);
    expect(ROUTES.map((r) => r.id)).toEqual(["overview", "agents", "approvals", "health", "costs", "forecasts", "fleet", "settings"]);
  });
});
