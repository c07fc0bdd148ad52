import { describe, expect, it } from "vitest";
import {
  burnChart,
  burnSummary,
  exhaustionLine,
  forecastMarks,
  formatSpan,
  modelDetail,
  modelLabel,
  projectedText,
  type BurnForecast,
  type BurnPoint,
  type Exhaustion,
  type ForecastBudget,
} from "./burn";

const NOW = "2026-12-20T12:00:00Z";
const END = "2026-12-31T00:00:00Z";

function point(ds: string, mean: number, spread = 0.2): BurnPoint {
  return { ds, mean, lo80: mean * (1 - spread), hi80: mean * (1 + spread), lo95: mean * (1 - 1.5 * spread), hi95: mean * (1 + 1.5 * spread) };
}

function forecast(exhaustion: Exhaustion | null, over: Partial<BurnForecast> = {}): BurnForecast {
  const end: BurnPoint = { ds: END, mean: 14.2, lo80: 12.1, hi80: 16.9, lo95: 11, hi95: 18.5 };
  const path = [point("2026-12-20T13:00:00Z", 6.2, 0.01), point("2026-12-25T12:00:00Z", 10, 0.1), end];
  return {
    model: "hour_of_week",
    reason: "lowest backtest error: hour_of_week 0.1210, hour_of_day 0.1532, flat 0.2107",
    computed_at: NOW,
    history_hours: 672,
    backtest_origins: 26,
    coverage80: 0.85,
    coverage95: 0.96,
    end,
    exhaustion,
    path,
    ...over,
  };
}

const budget = (f: BurnForecast | null, over: Partial<ForecastBudget> = {}): ForecastBudget => ({
  spent: "6",
  limit_usd: "10",
  period_end: END,
  forecast: f,
  ...over,
});

const PROJECTED: Exhaustion = { status: "projected", at: "2026-12-25T12:00:00Z", earliest80: "2026-12-24T20:00:00Z", latest80: "2026-12-27T03:00:00Z", earliest95: "2026-12-24T09:00:00Z" };

describe("burn forecast in words", () => {
  it("says the projected end-of-period spend with its 80 % interval", () => {
    expect(projectedText(budget(null), forecast(PROJECTED))).toBe("Projected $14.20 by period end (80\u00a0%: $12.10–$16.90)");
    // A budget without an end is projected to the projection's last instant.
    expect(projectedText(budget(null, { period_end: null }), forecast(PROJECTED))).toBe("Projected $14.20 by 2026-12-31 00:00 UTC (80\u00a0%: $12.10–$16.90)");
    expect(projectedText(budget(null), forecast(PROJECTED, { end: null }))).toBeNull();
  });

  it("projected: when it runs out, with the 95 % interval (open-ended when the lower edge stays under the limit)", () => {
    const b = budget(null);
    expect(exhaustionLine(b, forecast(PROJECTED))).toEqual({
      status: "projected",
      tone: "warn",
      text: "Runs out ~2026-12-25 12:00 UTC (95\u00a0%: 2026-12-24 09:00 UTC – after the period)",
    });
    expect(exhaustionLine(b, forecast({ ...PROJECTED, latest95: "2026-12-28T02:00:00Z" }))?.text).toBe(
      "Runs out ~2026-12-25 12:00 UTC (95\u00a0%: 2026-12-24 09:00 UTC – 2026-12-28 02:00 UTC)",
    );
    expect(exhaustionLine(b, forecast({ ...PROJECTED, earliest95: "2026-12-25T08:00:00Z", latest95: "2026-12-25T19:30:00Z" }))?.text).toBe(
      "Runs out ~2026-12-25 12:00 UTC (95\u00a0%: 2026-12-25 08:00–19:30 UTC)",
    );
  });

  it("exhausted and not within the period", () => {
    const now = NOW;
    const exhausted: Exhaustion = { status: "exhausted", at: now, earliest80: now, latest80: now, earliest95: now, latest95: now };
    expect(exhaustionLine(budget(null, { spent: "10" }), forecast(exhausted))).toEqual({ status: "exhausted", tone: "over", text: "Exhausted" });
    const quiet: Exhaustion = { status: "not_within_period", earliest95: "2026-12-30T10:00:00Z" };
    expect(exhaustionLine(budget(null, { limit_usd: "50" }), forecast(quiet))).toEqual({ status: "not_within_period", tone: "ok", text: "Not projected to run out this period" });
    expect(exhaustionLine(budget(null, { limit_usd: "50", period_end: null }), forecast(quiet))?.text).toBe("Not projected to run out by 2026-12-31 00:00 UTC");
    expect(exhaustionLine(budget(null), forecast(null))).toBeNull();
  });

  it("names the model and its measured coverage", () => {
    expect(modelLabel("hour_of_week")).toBe("hour-of-week model");
    expect(modelLabel("hour_of_day")).toBe("hour-of-day model");
    expect(modelLabel("flat")).toBe("flat-rate model");
    expect(modelLabel("seasonal_naive")).toBe("seasonal-naive model");
    expect(modelDetail(forecast(PROJECTED))).toBe("hour-of-week model · 80\u00a0% intervals held 85\u00a0% in backtest, 95\u00a0% held 96\u00a0% · 26 origins, 28 days of spend");
    expect(modelDetail(forecast(PROJECTED, { model: "flat", coverage80: null, coverage95: null, backtest_origins: 1, history_hours: 50 }))).toBe(
      "flat-rate model · interval coverage not measured · 1 origin, 50 hours of spend",
    );
  });

  it("spans of instants: one day, several days, open", () => {
    expect(formatSpan("2026-12-25T08:00:00Z", "2026-12-25T08:00:00Z")).toBe("2026-12-25 08:00 UTC");
    expect(formatSpan("2026-12-25T08:00:00Z", null, "later")).toBe("2026-12-25 08:00 UTC – later");
  });
});

describe("burn forecast on the bar", () => {
  it("places the mean and the 80 % band in % of the limit", () => {
    expect(forecastMarks(budget(forecast(PROJECTED), { limit_usd: "20" }))).toEqual({
      mean: 71,
      lo: 60.5,
      hi: 84.5,
      overflow: false,
      meanOver: false,
      label: "projected 71% of the limit by period end (80\u00a0%: 61–85%)",
    });
  });

  it("clamps a forecast past the limit to the bar's end and says it overflows", () => {
    const m = forecastMarks(budget(forecast(PROJECTED), { limit_usd: "15" }));
    expect(m).toMatchObject({ mean: 94.7, lo: 80.7, hi: 100, overflow: true, meanOver: false });
    expect(forecastMarks(budget(forecast(PROJECTED)))).toMatchObject({ mean: 100, lo: 100, hi: 100, overflow: true, meanOver: true });
  });

  it("draws nothing without a projection", () => {
    const none = forecast(null, { model: "none", reason: "30 hours of spend: a projection needs at least 48", end: null, path: [], coverage80: null, coverage95: null });
    expect(forecastMarks(budget(none))).toBeNull();
    expect(forecastMarks(budget(null))).toBeNull();
    expect(burnChart(none, 6, 10)).toBeNull();
  });
});

describe("burn chart", () => {
  it("starts at the spend so far, now, and ends at the period's end, the limit and the run-out instant marked", () => {
    const c = burnChart(forecast(PROJECTED), 6, 10, { width: 100, height: 50, pad: 0 })!;
    // y: the 95 % band and the limit, $6..$18.50, with room of 8 % of that span ($1) either
    // side: $5..$19.50. The path starts at `computed_at` with what is spent.
    const y = (v: number) => Math.round((1 - (v - 5) / 14.5) * 50 * 10) / 10;
    expect(c.mean.startsWith(`M0 ${String(y(6))} `)).toBe(true);
    expect(c.mean.endsWith(`L100 ${String(y(14.2))}`)).toBe(true);
    expect(c.mean.split(" L")).toHaveLength(4);
    expect(c.band80.endsWith("Z")).toBe(true);
    expect(c.band95.startsWith(`M0 ${String(y(6))}`)).toBe(true);
    expect(c.limitY).toBe(y(10));
    expect(c.atX).toBe(Math.round((120 / 252) * 100 * 10) / 10);
    expect([c.from, c.to]).toEqual([NOW, END]);
    expect(burnChart(forecast({ status: "not_within_period" }), 6, 50)?.atX).toBeNull();
  });

  it("summarises the chart for its aria-label", () => {
    expect(burnSummary(budget(forecast(PROJECTED)), forecast(PROJECTED))).toBe(
      "Projected cumulative spend from $6.00 now to $14.20 by 2026-12-31 00:00 UTC (80\u00a0%: $12.10–$16.90; 95\u00a0%: $11.00–$18.50), against a limit of $10.00; the mean reaches the limit ~2026-12-25 12:00 UTC.",
    );
    expect(burnSummary(budget(null, { limit_usd: "50" }), forecast({ status: "not_within_period" }))).toMatch(/against a limit of \$50\.00; the mean stays under the limit\.$/);
  });

  it("keeps a limit far above the projection in view, and never goes below $0", () => {
    const c = burnChart(forecast({ status: "not_within_period" }), 6, 100, { width: 100, height: 50, pad: 0 })!;
    // $6..$100, room $7.52 above and (down to $0) below.
    expect(c.limitY).toBe(Math.round((1 - 100 / 107.52) * 500) / 10);
    expect(c.mean.startsWith(`M0 ${String(Math.round((1 - 6 / 107.52) * 500) / 10)} `)).toBe(true);
  });
});
