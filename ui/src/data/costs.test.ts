import { describe, expect, it } from "vitest";
import { alertText, bars, budgetBar, budgetBody, chartBucket, draftFrom, exportPath, formatUsd, scopeText, share, type BreakdownRow } from "./costs";

function row(start: string, cost: string): BreakdownRow {
  return {
    bucket_start: start,
    calls: 1,
    ok: 1,
    errors: 0,
    cancelled: 0,
    unrecorded: 0,
    tokens: { input: 1, output: 1, cached_input: 0, cache_write: 0, reasoning: 0 },
    cost,
    unknown_cost_calls: 0,
    estimated_calls: 0,
    estimated_cost: "0",
    cache_hits: 0,
    saved_cost: "0",
  };
}

describe("costs", () => {
  it("formats dollars by size, never rounding a small cost to zero", () => {
    expect(formatUsd("0")).toBe("$0");
    expect(formatUsd("1234.5")).toBe("$1,234.50");
    expect(formatUsd("0.0525")).toBe("$0.0525");
    expect(formatUsd("0.0003525")).toBe("$0.0003525");
    expect(formatUsd("0.000000123456789")).toBe("$1.23457e-7");
  });

  it("computes shares and picks a chart bucket per period", () => {
    expect(share("25", "100")).toBe(25);
    expect(share("1", "0")).toBe(0);
    expect(chartBucket("today")).toBe("hour");
    expect(chartBucket("this_year")).toBe("month");
    expect(chartBucket("last_30d")).toBe("day");
  });

  it("places bars on the window's time axis, leaving gaps for empty buckets", () => {
    const b = bars([row("2026-03-01T00:00:00Z", "2"), row("2026-03-03T00:00:00Z", "1")], "2026-03-01T00:00:00Z", "2026-03-05T00:00:00Z");
    expect(b.map((x) => [x.x, x.w, x.h])).toEqual([
      [0, 0.5, 1],
      [0.5, 0.5, 0.5],
    ]);
    expect(bars([], "2026-03-01T00:00:00Z", "2026-03-05T00:00:00Z")).toEqual([]);
  });

  it("builds the export address with the same span and filters, blanks dropped", () => {
    expect(exportPath("last_7d", { agent: " triage ", model: "", tag: "team-a" }, "csv")).toBe(
      "/api/v1/costs/export?period=last_7d&format=csv&agent=triage&tag=team-a",
    );
  });
});

describe("budgets", () => {
  const config = { limit_usd: "10", period: "monthly" as const, thresholds: [50, 80, 100], include_free: false };
  it("draws spent and reserved as shares of the limit, never past it", () => {
    expect(budgetBar({ spent: "4", reserved: "1", limit_usd: "10", config })).toEqual({ spent: 40, reserved: 10, level: "ok" });
    expect(budgetBar({ spent: "6", reserved: "9", limit_usd: "10", config })).toEqual({ spent: 60, reserved: 40, level: "warn" });
    expect(budgetBar({ spent: "12", reserved: "0", limit_usd: "10", config })).toEqual({ spent: 100, reserved: 0, level: "over" });
  });

  it("says what each kind of alert is about", () => {
    expect(alertText({ kind: "threshold", threshold: 80 })).toBe("80% reached");
    expect(alertText({ kind: "blocked", threshold: 100 })).toBe("refused a call");
    expect(alertText({ kind: "projected", threshold: 100 })).toBe("projected to run out");
  });

  it("says the scope in words", () => {
    expect(scopeText(config)).toBe("every call");
    expect(scopeText({ ...config, agent: "triage", tag: "team-a", include_free: true })).toBe("agent triage · tag team-a · free models too");
  });

  it("checks a budget form before it is sent", () => {
    const d = { ...draftFrom(), name: "team-a", limit_usd: "25", agent: " triage " };
    expect(budgetBody(d)).toEqual({ body: { limit_usd: "25", period: "monthly", action: "alert", thresholds: [50, 80, 100], include_free: false, agent: "triage" } });
    expect(budgetBody({ ...d, name: "bad name" })).toHaveProperty("error");
    expect(budgetBody({ ...d, limit_usd: "-1" })).toHaveProperty("error");
    expect(budgetBody({ ...d, thresholds: "50, 0" })).toHaveProperty("error");
  });
});
