// Unit tests of the forecasts data layer: keys, the default series, words for values, instants
// and shares, horizons, the model's parts, the import and goal bodies, the node's bad rows,
// goal marks, the health score's bar, and the toasts of live events.
import { describe, expect, it } from "vitest";
import { ApiError } from "../backend/apiError";
import {
  atRiskCount,
  badRows,
  chartPath,
  chosenParts,
  coverageTone,
  defaultSeries,
  emptyGoalDraft,
  emptyImportDraft,
  errorCode,
  expectedMarks,
  expectedText,
  forecastKeys,
  forecastNotice,
  formatDs,
  formatInstant,
  formatNumber,
  formatRange,
  formatValue,
  goalBody,
  goalSentence,
  goalTone,
  horizonOptions,
  importRequest,
  nameFromFile,
  percentText,
  previewRows,
  progressPct,
  rankedCandidates,
  reportItems,
  scoreBarLabel,
  scoreSegments,
  scoreTone,
  signedText,
  stepsText,
  type Contribution,
  type Goal,
  type SeriesInfo,
} from "./forecasts";

const NB = "\u00a0";

function info(name: string, points: number, extra: Partial<SeriesInfo> = {}): SeriesInfo {
  return { name, description: "", unit: "", builtin: name === "cost.daily", points, anomalies: 0, ...extra };
}

function goal(extra: Partial<Goal> = {}): Goal {
  return {
    name: "q1",
    series: "revenue",
    target: 150,
    due: "2026-12-20T00:00:00Z",
    direction: "at_least",
    alert_below: 0.5,
    baseline: 100,
    created_at: "2026-12-01T00:00:00Z",
    current: 120,
    progress: 0.4,
    expected: 140,
    expected_lo80: 128,
    expected_hi80: 152,
    probability: 0.35,
    at_risk: true,
    reason: "the forecast read as a normal distribution",
    ...extra,
  };
}

describe("keys and selection", () => {
  it("keys every query under the forecasts topic", () => {
    expect(forecastKeys.series).toEqual(["forecasts", "series"]);
    expect(forecastKeys.forecast("revenue", null)).toEqual(["forecasts", "forecast", "revenue", "default"]);
    expect(forecastKeys.forecast("revenue", 60)).toEqual(["forecasts", "forecast", "revenue", 60]);
    expect(forecastKeys.anomalies("revenue")[0]).toBe("forecasts");
    expect(forecastKeys.goals[0]).toBe("forecasts");
    expect(forecastKeys.healthScore[0]).toBe("forecasts");
  });

  it("shows the first series that can be forecast when the address names none", () => {
    expect(defaultSeries(undefined)).toBeNull();
    expect(defaultSeries([])).toBeNull();
    expect(defaultSeries([info("cost.daily", 0), info("orders", 90)])).toBe("orders");
    expect(defaultSeries([info("cost.daily", 40), info("orders", 90)])).toBe("cost.daily");
    expect(defaultSeries([info("cost.daily", 1)])).toBe("cost.daily");
  });

  it("counts the goals at risk", () => {
    expect(atRiskCount(undefined)).toBe(0);
    expect(atRiskCount([goal(), goal({ name: "b", at_risk: false }), goal({ name: "c" })])).toBe(2);
  });
});

describe("words", () => {
  it("reads shares as whole percentages, with the ends said so", () => {
    expect(percentText(0.683)).toBe(`68${NB}%`);
    expect(percentText(0)).toBe(`0${NB}%`);
    expect(percentText(1)).toBe(`100${NB}%`);
    expect(percentText(0.001)).toBe(`<1${NB}%`);
    expect(percentText(0.9999)).toBe(`>99${NB}%`);
    expect(percentText(null)).toBe("—");
    expect(percentText(Number.NaN)).toBe("—");
  });

  it("reads values with their unit", () => {
    expect(formatNumber(1234.56)).toBe("1,235");
    expect(formatNumber(133.63)).toBe("133.6");
    expect(formatNumber(12.345)).toBe("12.35");
    expect(formatNumber(0.004123)).toBe("0.00412");
    expect(formatNumber(0)).toBe("0");
    expect(formatValue(133.63, "USD")).toBe("$133.63");
    expect(formatValue(-2.5, "usd")).toBe("−$2.50");
    expect(formatValue(12000, "USD")).toBe("$12,000");
    expect(formatValue(42, "%")).toBe(`42${NB}%`);
    expect(formatValue(1204, "orders")).toBe(`1,204${NB}orders`);
    expect(formatValue(12.5, "")).toBe("12.5");
    expect(formatValue(null, "USD")).toBe("—");
    expect(formatRange(128.15, 152.24, "USD")).toBe("$128.15–$152.24");
    expect(formatRange(128.15, 152.24, "orders")).toBe(`128.2–152.2${NB}orders`);
    expect(formatRange(1, 2)).toBe("1–2");
    expect(signedText(7.28)).toBe("+7.3");
    expect(signedText(-2.14)).toBe("−2.1");
    expect(signedText(0.01)).toBe("±0");
  });

  it("reads instants by the series' frequency, in UTC", () => {
    const t = "2026-11-30T14:00:00Z";
    expect(formatDs(t, "hourly")).toBe("2026-11-30 14:00");
    expect(formatDs(t, "daily")).toBe("2026-11-30");
    expect(formatDs(t, "weekly")).toBe("2026-11-30");
    expect(formatDs(t, "monthly")).toBe("2026-11");
    expect(formatDs(t, "quarterly")).toBe("2026 Q4");
    expect(formatDs("2026-02-01T00:00:00Z", "quarterly")).toBe("2026 Q1");
    expect(formatDs(t, "yearly")).toBe("2026");
    expect(formatInstant("2026-11-30T00:00:00Z")).toBe("2026-11-30");
    expect(formatInstant(t)).toBe("2026-11-30 14:00 UTC");
    expect(formatDs("nope", "daily")).toBe("nope");
  });

  it("offers horizons by frequency, the node's default marked", () => {
    const daily = horizonOptions("daily");
    expect(daily.map((o) => o.value)).toEqual([7, 14, 30, 60, 90]);
    expect(daily.find((o) => o.isDefault)?.label).toBe("30 days (default)");
    expect(horizonOptions("hourly").find((o) => o.isDefault)?.value).toBe(48);
    expect(horizonOptions("weekly").find((o) => o.isDefault)?.value).toBe(13);
    expect(horizonOptions("monthly").find((o) => o.isDefault)?.value).toBe(12);
    expect(horizonOptions("quarterly").find((o) => o.isDefault)?.value).toBe(8);
    expect(horizonOptions("yearly").find((o) => o.isDefault)?.value).toBe(5);
    // A horizon chosen elsewhere stays selectable.
    expect(horizonOptions("daily", 45).map((o) => o.value)).toEqual([7, 14, 30, 45, 60, 90]);
    expect(stepsText(1, "weekly")).toBe("1 week");
  });
});

describe("the model", () => {
  it("finds the models a mean averages, parentheses and all", () => {
    expect(chosenParts("mean(mstl(7)+auto_ets, ar(aic))")).toEqual(["mstl(7)+auto_ets", "ar(aic)"]);
    expect(chosenParts("seasonal_naive(7)")).toEqual(["seasonal_naive(7)"]);
  });

  it("ranks candidates by MASE, those not fitted last", () => {
    const ranked = rankedCandidates([
      { model: "naive", mase: 2.3, smape: 8, fitted: true },
      { model: "ar(aic)", mase: 1.2, smape: 4, fitted: true },
      { model: "mstl(7)", mase: 0.9, smape: 3, fitted: false },
    ]);
    expect(ranked.map((c) => c.model)).toEqual(["ar(aic)", "naive", "mstl(7)"]);
  });

  it("grades measured coverage against the stated level", () => {
    expect(coverageTone(0.83, 0.8)).toBe("ok");
    expect(coverageTone(0.76, 0.8)).toBe("ok");
    expect(coverageTone(0.68, 0.8)).toBe("low");
    expect(coverageTone(0.5, 0.8)).toBe("poor");
    expect(coverageTone(null, 0.95)).toBe("none");
  });

  it("lists the series report", () => {
    const items = reportItems({ rows: 90, duplicates: 2, moved: 0, gaps_filled: 3, zeros: 0, negatives: 1 });
    expect(items.map((i) => `${String(i.value)} ${i.label}`)).toEqual(["90 rows read", "2 duplicates averaged", "0 moved to the grid", "3 gaps filled", "0 zeros", "1 negatives"]);
  });

  it("downloads the chart without the token in the URL", () => {
    expect(chartPath("cost.daily", "svg", "dark")).toBe("/api/v1/charts/forecast.svg?series=cost.daily&theme=dark");
    expect(chartPath("orders", "png", "light")).toBe("/api/v1/charts/forecast.png?series=orders&theme=light");
  });
});

describe("the CSV import", () => {
  it("splits the node's bad rows by line", () => {
    expect(badRows("2 row(s) do not parse, nothing was used: line 3: `abc` is not a number; line 4: `` is not a number")).toEqual({
      summary: "2 row(s) do not parse, nothing was used",
      lines: ["line 3: `abc` is not a number", "line 4: `` is not a number"],
    });
    expect(badRows("the header (foo,bar) needs a `ds` column")).toEqual({ summary: "the header (foo,bar) needs a `ds` column", lines: [] });
  });

  it("sends the file and only the options that were set", () => {
    expect(importRequest({ ...emptyImportDraft, name: " orders ", csv: "date,value\n" }, true)).toEqual({ name: "orders", body: { csv: "date,value\n", dry_run: true } });
    expect(importRequest({ name: "orders", csv: "x", description: " Orders ", unit: "orders", replace: true }, false)).toEqual({
      name: "orders",
      body: { csv: "x", replace: true, description: "Orders", unit: "orders" },
    });
    expect(importRequest({ ...emptyImportDraft, csv: "x" }, true)).toHaveProperty("error");
    expect(importRequest({ ...emptyImportDraft, name: "a", csv: "  \n" }, true)).toHaveProperty("error");
  });

  it("names a series after its file", () => {
    expect(nameFromFile("Orders 2026.csv")).toBe("orders-2026");
    expect(nameFromFile("_kpi.daily.csv")).toBe("kpi.daily");
  });

  it("previews the first rows, a gap, then the last", () => {
    const p = (d: number) => ({ ds: `2026-01-${String(d).padStart(2, "0")}T00:00:00Z`, value: d });
    expect(previewRows({ head: [p(1), p(2)], tail: [p(9)], points: 9 })).toEqual([p(1), p(2), "gap", p(9)]);
    expect(previewRows({ head: [p(1), p(2)], tail: [p(3)], points: 3 })).toEqual([p(1), p(2), p(3)]);
    expect(previewRows({ head: [p(1)], tail: [], points: 1 })).toEqual([p(1)]);
  });

  it("keeps the node's error code", () => {
    expect(errorCode(new ApiError(400, "invalid_rows", "x"))).toBe("invalid_rows");
    expect(errorCode(new Error("x"))).toBeNull();
  });
});

describe("goals", () => {
  const now = Date.parse("2026-12-07T12:00:00Z");

  it("builds the body from the form, the due date at UTC midnight and the alert as a share", () => {
    const d = { ...emptyGoalDraft("revenue"), name: "q1", target: "150", due: "2026-12-20" };
    expect(goalBody(d, now)).toEqual({ body: { name: "q1", series: "revenue", target: 150, due: "2026-12-20T00:00:00Z", direction: "at_least", alert_below: 0.5 } });
    expect(goalBody({ ...d, direction: "at_most", alertBelow: "30" }, now)).toEqual({
      body: { name: "q1", series: "revenue", target: 150, due: "2026-12-20T00:00:00Z", direction: "at_most", alert_below: 0.3 },
    });
  });

  it("refuses what it can check", () => {
    const d = { ...emptyGoalDraft("revenue"), name: "q1", target: "150", due: "2026-12-20" };
    expect(goalBody({ ...d, name: "Q 1" }, now)).toHaveProperty("error");
    expect(goalBody({ ...d, series: "" }, now)).toHaveProperty("error");
    expect(goalBody({ ...d, target: "" }, now)).toHaveProperty("error");
    expect(goalBody({ ...d, target: "lots" }, now)).toHaveProperty("error");
    expect(goalBody({ ...d, due: "" }, now)).toHaveProperty("error");
    expect(goalBody({ ...d, due: "2026-12-01" }, now)).toEqual({ error: "The due date is in the future." });
    expect(goalBody({ ...d, alertBelow: "120" }, now)).toHaveProperty("error");
  });

  it("says where a goal stands", () => {
    const g = goal();
    expect(goalSentence(g, "USD")).toBe("at least $150.00 by 2026-12-20");
    expect(goalSentence({ ...g, direction: "at_most" })).toBe("at most 150 by 2026-12-20");
    expect(progressPct(0.4)).toBe(40);
    expect(progressPct(-0.2)).toBe(0);
    expect(progressPct(1.7)).toBe(100);
    expect(progressPct(null)).toBe(0);
    // Baseline 100, target 150: expected 140 is 80 % of the way, its interval 56–100 % (clamped).
    expect(expectedMarks(g)).toEqual({ mean: 80, lo: 56, hi: 100 });
    expect(expectedMarks({ ...g, baseline: null })).toBeNull();
    expect(expectedText(g, "USD")).toBe(`≈ $140.00 (80${NB}%: $128.00–$152.00)`);
    expect(expectedText({ ...g, expected: null })).toBe("—");
    expect(goalTone(g)).toBe("risk");
    expect(goalTone({ ...g, at_risk: false, probability: 0.9 })).toBe("ok");
    expect(goalTone({ ...g, at_risk: false, probability: 0.6 })).toBe("warn");
    expect(goalTone({ ...g, at_risk: false, probability: null })).toBe("none");
  });
});

describe("the health score", () => {
  const contributions: Contribution[] = [
    { series: "revenue", target: 150, weight: 2, direction: "at_least", value: 400, attainment: 1, points: 66.67, lost: 0 },
    { series: "tickets", target: 20, weight: 1, direction: "at_most", attainment: 0, points: 0, lost: 33.33, note: "`tickets` has no data: it counts as 0" },
  ];

  it("stacks each KPI's points, then what is lost", () => {
    expect(scoreSegments(contributions)).toEqual({
      parts: [
        { series: "revenue", x: 0, w: 66.67, index: 0 },
        { series: "tickets", x: 66.67, w: 0, index: 1 },
      ],
      lost: { x: 66.67, w: 33.33 },
    });
    expect(scoreBarLabel(contributions)).toBe("revenue 66.67 of 66.67 points; tickets 0 of 33.33 points (`tickets` has no data: it counts as 0); 33.33 points lost in all.");
    expect(scoreTone(85)).toBe("ok");
    expect(scoreTone(66.7)).toBe("warn");
    expect(scoreTone(12)).toBe("bad");
  });
});

describe("live notices", () => {
  it("toasts a new point outside its interval and a goal at risk; not backtest anomalies or updates", () => {
    const a = { series: "orders", ds: "2026-12-07T00:00:00Z", value: 420, expected: 250.9, lo95: 245.2, hi95: 256.6, detected_at: "2026-12-07T16:00:00Z" };
    expect(forecastNotice({ type: "anomaly", source: "forecast", ...a })).toEqual({
      tone: "info",
      title: "Anomaly in orders",
      message: `2026-12-07: 420, outside the 95${NB}% interval 245.2–256.6 (expected 250.9)`,
    });
    expect(forecastNotice({ type: "anomaly", source: "backtest", ...a })).toBeNull();
    expect(forecastNotice({ type: "series_updated", series: "orders", points: 1, imported: false })).toBeNull();
    expect(forecastNotice({ type: "series_removed", series: "orders" })).toBeNull();
    const g = { goal: "q1", series: "orders", probability: 0.148, alert_below: 0.5, target: 300, due: "2026-12-20T00:00:00Z" };
    expect(forecastNotice({ type: "goal", at_risk: true, ...g })).toEqual({
      tone: "info",
      title: "Goal q1 at risk",
      message: `15${NB}% chance of reaching 300 on orders by 2026-12-20 (alert below 50${NB}%)`,
    });
    expect(forecastNotice({ type: "goal", at_risk: false, ...g, probability: 0.7 })?.title).toBe("Goal q1 back on track");
  });
});
