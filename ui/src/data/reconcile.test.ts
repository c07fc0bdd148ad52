// Unit tests of the reconciliation helpers: the import body, signed amounts and percentages,
// labels, error messages and the drift chart's geometry.
import { describe, expect, it } from "vitest";
import { ApiError } from "../backend/apiError";
import {
  CHART,
  chartSummary,
  dayRange,
  driftChart,
  emptyImportDraft,
  errorCode,
  errorText,
  formatDiffPct,
  formatSignedUsd,
  gapModelLabel,
  importBody,
  modelLabel,
  niceStep,
  parseProviders,
  reconcileKeys,
  reconciliationName,
  tickLabel,
  utcDay,
  type ReconcileDay,
} from "./reconcile";

function day(d: string, billed: string, ledger: string, drift = false): ReconcileDay {
  return { day: d, billed, ledger, diff: "0", diff_pct: null, unknown_cost_calls: 0, drift };
}

describe("the import body", () => {
  it("sends the file's text and name, and only the options that were set", () => {
    expect(importBody("date,model,cost_usd\n", "bill.csv", emptyImportDraft)).toEqual({ body: { csv: "date,model,cost_usd\n", file_name: "bill.csv" } });
    expect(importBody("x", "", { format: "anthropic", providers: " anthropic , claude-eu,,anthropic", driftPct: " 5.5 " })).toEqual({
      body: { csv: "x", format: "anthropic", providers: ["anthropic", "claude-eu"], drift_pct: 5.5 },
    });
    expect(importBody("x", "", { ...emptyImportDraft, driftPct: "0" })).toEqual({ body: { csv: "x", drift_pct: 0 } });
  });

  it("refuses an empty file and a drift threshold outside 0-100", () => {
    expect(importBody("  \n", "a.csv", emptyImportDraft)).toHaveProperty("error");
    expect(importBody("x", "a.csv", { ...emptyImportDraft, driftPct: "101" })).toHaveProperty("error");
    expect(importBody("x", "a.csv", { ...emptyImportDraft, driftPct: "-1" })).toHaveProperty("error");
    expect(importBody("x", "a.csv", { ...emptyImportDraft, driftPct: "abc" })).toHaveProperty("error");
  });

  it("splits providers on commas, dropping blanks and repeats", () => {
    expect(parseProviders("")).toEqual([]);
    expect(parseProviders("a, b ,, a,c")).toEqual(["a", "b", "c"]);
  });
});

describe("figures", () => {
  it("signs differences without turning them into floats first", () => {
    expect(formatSignedUsd("0")).toBe("$0");
    expect(formatSignedUsd("0.000")).toBe("$0");
    expect(formatSignedUsd("-0.00")).toBe("$0");
    expect(formatSignedUsd("1234.5")).toBe("+$1,234.50");
    expect(formatSignedUsd("-0.0525")).toBe("−$0.0525");
    expect(formatSignedUsd("-0.0000123")).toBe("−$0.0000123");
  });

  it("signs a difference's percentage like the difference, a dash without one", () => {
    expect(formatDiffPct(null, "0")).toBe("—");
    expect(formatDiffPct(undefined, "1")).toBe("—");
    expect(formatDiffPct(0, "0")).toBe("0%");
    expect(formatDiffPct(5, "0.5")).toBe("+5%");
    expect(formatDiffPct(12.345, "-1.2")).toBe("−12.35%");
    expect(formatDiffPct(100, "-3")).toBe("−100%");
  });

  it("labels models, gaps, day ranges and reconciliations", () => {
    expect(modelLabel("")).toBe("(no model)");
    expect(modelLabel("gpt-4o")).toBe("gpt-4o");
    expect(gapModelLabel("")).toBe("-");
    expect(gapModelLabel("m")).toBe("m");
    expect(dayRange("2026-03-01", "2026-03-01")).toBe("2026-03-01");
    expect(dayRange("2026-03-01", "2026-03-05")).toBe("2026-03-01 → 2026-03-05");
    expect(utcDay("2026-03-01T00:00:00Z")).toBe("2026-03-01");
    expect(utcDay("2026-03-01T23:30:00-02:00")).toBe("2026-03-02");
    expect(utcDay("soon")).toBe("soon");
    expect(reconciliationName({ id: "rec_1", file_name: "bill.csv" })).toBe("bill.csv");
    expect(reconciliationName({ id: "rec_1", file_name: null })).toBe("rec_1");
  });
});

describe("errors", () => {
  it("shows the node's message verbatim, and says a missing scope is one", () => {
    const conflict = new ApiError(409, "conflict", "this file was imported already, as reconciliation rec_1");
    expect(errorText(conflict)).toBe("this file was imported already, as reconciliation rec_1");
    expect(errorCode(conflict)).toBe("conflict");
    const rows = new ApiError(400, "invalid_rows", "1 row(s) do not parse, nothing was imported: line 3: `x` is not an amount");
    expect(errorText(rows)).toContain("line 3");
    const scope = new ApiError(403, "insufficient_scope", "this token's scope is operate; POST /api/v1/costs/reprice needs admin");
    expect(errorText(scope)).toMatch(/^This token may not do that .*needs admin$/);
    expect(errorText(new Error("The file is empty."))).toBe("The file is empty.");
    expect(errorCode(new Error("x"))).toBeNull();
    expect(errorText(new ApiError(0, "unreachable", "Cannot reach the node (x)."))).toMatch(/Cannot reach the node/);
  });
});

describe("the drift chart", () => {
  it("picks round steps of 1, 2 or 5 × 10ⁿ", () => {
    expect(niceStep(0)).toBe(1);
    expect(niceStep(10)).toBe(5);
    expect(niceStep(7)).toBe(2);
    expect(niceStep(0.008)).toBe(0.002);
    expect(niceStep(1234)).toBe(500);
  });

  it("labels ticks with the decimals their step needs", () => {
    expect(tickLabel(0, 0.5)).toBe("$0");
    expect(tickLabel(1.5, 0.5)).toBe("$1.5");
    expect(tickLabel(1, 0.5)).toBe("$1.0");
    expect(tickLabel(0.004, 0.002)).toBe("$0.004");
    expect(tickLabel(0.0001, 0.0001)).toBe("$0.0001");
    expect(tickLabel(2000, 1000)).toBe("$2,000");
    expect(tickLabel(20, 10)).toBe("$20");
  });

  it("draws two bars per day on a shared scale, with USD ticks from 0 past the largest amount", () => {
    const c = driftChart([day("2026-03-01", "10", "8"), day("2026-03-02", "2", "7", true)]);
    const plotH = CHART.height - CHART.top - CHART.bottom;
    const plotW = CHART.width - CHART.left - CHART.right;
    expect(c.ticks.map((t) => t.value)).toEqual([0, 5, 10]);
    expect(c.ticks.map((t) => t.label)).toEqual(["$0", "$5", "$10"]);
    expect(c.ticks[0]?.y).toBe(c.baseline);
    expect(c.ticks[2]?.y).toBe(CHART.top);
    expect(c.groups).toHaveLength(2);
    const [a, b] = c.groups;
    expect(a?.w).toBe(plotW / 2);
    expect(b?.x).toBe(CHART.left + plotW / 2);
    // The largest amount fills the plot; the others in proportion, standing on the baseline.
    expect(a?.billed.h).toBe(plotH);
    expect(a?.ledger.h).toBeCloseTo(plotH * 0.8);
    expect((b?.billed.y ?? 0) + (b?.billed.h ?? 0)).toBe(c.baseline);
    // Side by side inside the slot.
    expect(a?.ledger.x).toBeCloseTo((a?.billed.x ?? 0) + (a?.billed.w ?? 0));
    expect((a?.ledger.x ?? 0) + (a?.ledger.w ?? 0)).toBeLessThan((a?.x ?? 0) + (a?.w ?? 0));
    expect(b?.day.drift).toBe(true);
    expect(a?.label).toBe("03-01");
  });

  it("keeps a scale when every amount is 0, draws credits at 0, thins labels of long spans", () => {
    const flat = driftChart([day("2026-03-01", "0", "0")]);
    expect(flat.ticks.map((t) => t.value)).toEqual([0, 1]);
    expect(flat.groups[0]?.billed.h).toBe(0);
    const credit = driftChart([day("2026-03-01", "-5", "4")]);
    expect(credit.groups[0]?.billed.h).toBe(0);
    const days = Array.from({ length: 30 }, (_, i) => day(`2026-04-${String(i + 1).padStart(2, "0")}`, "1", "1"));
    const labels = driftChart(days).groups.filter((g) => g.label !== null);
    expect(labels.length).toBeLessThanOrEqual(12);
    expect(labels[0]?.label).toBe("04-01");
    expect(driftChart([]).groups).toEqual([]);
  });

  it("says what it shows in words", () => {
    const days = [day("2026-03-01", "10", "8"), day("2026-03-02", "2", "7", true)];
    expect(chartSummary({ days, billed: "12", ledger: "15", drift_pct: 2 })).toBe(
      "Billed against ledger per day over 2 days, 2026-03-01 → 2026-03-02: billed $12.00, ledger $15.00; 1 day drifted more than 2%: 2026-03-02.",
    );
    expect(chartSummary({ days: [days[0]!], billed: "10", ledger: "8", drift_pct: 5 })).toMatch(/no day drifted more than 5%/);
    expect(chartSummary({ days: [], billed: "0", ledger: "0", drift_pct: 2 })).toBe("No billed days.");
  });

  it("keeps every query under the costs topic", () => {
    expect(reconcileKeys.list[0]).toBe("costs");
    expect(reconcileKeys.one("rec_1")[0]).toBe("costs");
    expect(reconcileKeys.priceGaps[0]).toBe("costs");
  });
});
