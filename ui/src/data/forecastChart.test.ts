// Unit tests of the forecast chart's geometry: the scales, where the forecast starts, the
// held-out pieces, the anomalies kept, the slots the cursor moves over and what they read.
import { describe, expect, it } from "vitest";
import { chartSummary, FORECAST_CHART, forecastChart, heldPieces, nearestSlot, niceStep, readout, readoutText, tickLabel, type ChartInput } from "./forecastChart";
import type { Anomaly, BacktestPoint, ForecastRow, Point, SeriesForecast } from "./forecasts";

const NB = "\u00a0";
const DAY = 86_400_000;
const T0 = Date.parse("2026-11-01T00:00:00Z");
const ds = (i: number) => new Date(T0 + i * DAY).toISOString().replace(".000Z", "Z");

/** 10 days of history (100, 110, …, 190), then 5 forecast days around 200 ± 10 / ± 20. */
function input(extra: Partial<ChartInput> = {}): ChartInput {
  const history: Point[] = Array.from({ length: 10 }, (_, i) => ({ ds: ds(i), value: 100 + i * 10 }));
  const rows: ForecastRow[] = Array.from({ length: 5 }, (_, k) => ({ ds: ds(10 + k), mean: 200, lo80: 190, hi80: 210, lo95: 180, hi95: 220 }));
  return { history, rows, backtest: [], anomalies: [], frequency: "daily", unit: "USD", ...extra };
}

function held(i: number, actual: number, mean: number): BacktestPoint {
  return { ds: ds(i), actual, mean, lo80: mean - 5, hi80: mean + 5, lo95: mean - 9, hi95: mean + 9 };
}

function anomaly(i: number, value: number, source: Anomaly["source"] = "forecast"): Anomaly {
  return { series: "s", ds: ds(i), value, expected: 150, lo95: 140, hi95: 160, source, detected_at: ds(i) };
}

/** The input with a spike of 400 on day 5, flagged. */
function spiked(extra: Partial<ChartInput> = {}): ChartInput {
  const i = input(extra);
  return { ...i, history: i.history.map((p, k) => (k === 5 ? { ...p, value: 400 } : p)), anomalies: [anomaly(5, 400), ...i.anomalies] };
}

describe("scales", () => {
  it("picks round steps", () => {
    expect(niceStep(100)).toBe(20);
    expect(niceStep(12)).toBe(2.5);
    expect(niceStep(0.3)).toBe(0.1);
    expect(niceStep(0)).toBe(1);
  });

  it("labels ticks with as many decimals as the step needs, compact when large", () => {
    expect(tickLabel(0, 20, "USD")).toBe("$0");
    expect(tickLabel(120, 20, "USD")).toBe("$120");
    expect(tickLabel(2.5, 2.5)).toBe("2.5");
    expect(tickLabel(0.25, 0.25)).toBe("0.25");
    expect(tickLabel(-40, 20)).toBe("−40");
    expect(tickLabel(25_000, 5000)).toBe("25K");
    expect(tickLabel(1_500_000, 500_000)).toBe("1.5M");
  });
});

describe("the chart", () => {
  it("spans the history to the last step, y on round ticks around everything drawn", () => {
    const c = forecastChart(input());
    if (!c) throw new Error("no chart");
    const { plot } = c;
    expect(plot).toEqual({ x: FORECAST_CHART.left, y: FORECAST_CHART.top, w: FORECAST_CHART.width - FORECAST_CHART.left - FORECAST_CHART.right, h: FORECAST_CHART.height - FORECAST_CHART.top - FORECAST_CHART.bottom });
    // The history starts at the left edge; the last step ends at the right edge.
    expect(c.history.startsWith(`M${String(plot.x)} `)).toBe(true);
    expect(c.slots.at(-1)?.x).toBe(plot.x + plot.w);
    // Values 100..220 with 6 % room (92.8..227.2), on steps of 50.
    expect(c.yTicks.map((t) => t.label)).toEqual(["$50", "$100", "$150", "$200", "$250"]);
    expect(c.yTicks[0]?.y).toBe(plot.y + plot.h);
    expect(c.yTicks.at(-1)?.y).toBe(plot.y);
    // Daily labels (MM-DD), thinned to about 8.
    expect(c.xTicks.length).toBeLessThanOrEqual(8);
    expect(c.xTicks[0]?.label).toBe("11-01");
  });

  it("grows the forecast out of the last point: the mean and both bands start there", () => {
    const c = forecastChart(input());
    if (!c) throw new Error("no chart");
    const last = c.slots[9];
    if (!last?.valueY) throw new Error("no last point");
    expect(c.nowX).toBe(last.x);
    expect(c.mean.startsWith(`M${String(last.x)} ${String(last.valueY)} L`)).toBe(true);
    expect(c.band80.startsWith(`M${String(last.x)} ${String(last.valueY)}`)).toBe(true);
    expect(c.band80.endsWith(`L${String(last.x)} ${String(last.valueY)} Z`)).toBe(true);
    expect(c.band95.endsWith("Z")).toBe(true);
    // 6 points on the mean: the last one, then the 5 steps.
    expect(c.mean.split(/[ML]/).filter((s) => s.trim()).length).toBe(6);
  });

  it("draws the held-out points per origin, and keeps only what falls inside the chart", () => {
    const backtest = [held(2, 120, 118), held(3, 130, 131), held(4, 140, 139), held(2, 120, 122), held(3, 130, 127), held(-5, 50, 50)];
    const c = forecastChart(input({ backtest }));
    if (!c) throw new Error("no chart");
    // Two origins over the same days: two pieces; the point before the history is left out.
    expect(c.held).toHaveLength(5);
    expect(c.heldMean.match(/M/g)).toHaveLength(2);
    expect(c.heldBand.match(/Z/g)).toHaveLength(2);
    expect(c.slots[3]?.held?.mean).toBe(127);
    expect(heldPieces([held(1, 1, 1), held(2, 1, 1), held(5, 1, 1)], DAY).map((p) => p.length)).toEqual([2, 1]);
  });

  it("marks anomalies inside the chart, on their value, and lets the cursor land on them", () => {
    const c = forecastChart(spiked({ anomalies: [anomaly(-20, 1, "backtest")] }));
    if (!c) throw new Error("no chart");
    expect(c.anomalies).toHaveLength(1);
    const a = c.anomalies[0];
    expect(a?.ds).toBe(ds(5));
    expect(c.slots[5]?.anomaly?.value).toBe(400);
    expect(a?.y).toBe(c.slots[5]?.valueY);
    // The scale stretched to hold it.
    expect(c.yTicks.at(-1)?.label).toBe("$500");
  });

  it("without a forecast, is the history alone; without anything, null", () => {
    const c = forecastChart(input({ rows: [] }));
    expect(c?.mean).toBe("");
    expect(c?.band80).toBe("");
    expect(c?.nowX).toBeNull();
    expect(forecastChart(input({ rows: [], history: [] }))).toBeNull();
    // A flat series still has a scale.
    const flat = forecastChart(input({ rows: [], history: [{ ds: ds(0), value: 5 }, { ds: ds(1), value: 5 }] }));
    expect(flat?.yTicks.length).toBeGreaterThan(1);
  });
});

describe("the cursor", () => {
  it("finds the nearest instant", () => {
    const c = forecastChart(input());
    if (!c) throw new Error("no chart");
    const x3 = c.slots[3]?.x ?? 0;
    const x4 = c.slots[4]?.x ?? 0;
    expect(nearestSlot(c.slots, x3)).toBe(3);
    expect(nearestSlot(c.slots, x3 + (x4 - x3) * 0.4)).toBe(3);
    expect(nearestSlot(c.slots, x3 + (x4 - x3) * 0.6)).toBe(4);
    expect(nearestSlot(c.slots, -100)).toBe(0);
    expect(nearestSlot(c.slots, 10_000)).toBe(c.slots.length - 1);
    expect(nearestSlot([], 5)).toBeNull();
  });

  it("reads a history point, a forecast step, a held-out point and an anomaly", () => {
    const c = forecastChart(spiked({ backtest: [held(3, 130, 127)] }));
    if (!c) throw new Error("no chart");
    const at = (i: number) => {
      const s = c.slots[i];
      if (!s) throw new Error(`no slot ${String(i)}`);
      return s;
    };
    expect(readoutText(at(0), "daily", "USD")).toBe("2026-11-01 · value $100.00");
    expect(readoutText(at(12), "daily", "USD")).toBe(`2026-11-13 · forecast $200.00 · 80${NB}% $190.00–$210.00 · 95${NB}% $180.00–$220.00`);
    expect(readoutText(at(3), "daily", "USD")).toBe(`2026-11-04 · value $130.00 · held out, forecast $127.00 (80${NB}%: $122.00–$132.00)`);
    expect(readout(at(5), "daily", "USD").items.map((i) => i.key)).toEqual(["value", "anomaly"]);
    expect(readoutText(at(5), "daily", "USD")).toBe(`2026-11-06 · value $400.00 · anomaly expected $150.00 (95${NB}%: $140.00–$160.00)`);
  });
});

describe("the summary", () => {
  it("says the history, where the forecast ends with its intervals, and the anomalies", () => {
    const i = input({ anomalies: [anomaly(5, 400)] });
    const sf: SeriesForecast = {
      series: { name: "spend", description: "", unit: "USD", builtin: false, points: 10, anomalies: 1 },
      history: [...i.history],
      anomalies: [...i.anomalies],
      forecast: {
        frequency: "daily",
        periods: [7],
        model: "seasonal_naive(7)",
        reason: "lowest MASE",
        rows: [...i.rows],
        candidates: [],
        origins: 2,
        backtest_horizon: 5,
        backtest: [],
        series: { rows: 10, duplicates: 0, moved: 0, gaps_filled: 0, zeros: 0, negatives: 0 },
      },
    };
    expect(chartSummary(sf)).toBe(
      `spend: 10 recent daily points from 2026-11-01 to 2026-11-10, last $190.00; forecast 5 days ahead with seasonal_naive(7): $200.00 by 2026-11-15 (80${NB}%: $190.00–$210.00; 95${NB}%: $180.00–$220.00); 1 anomaly flagged, the latest 2026-11-06 at $400.00 (expected $150.00).`,
    );
    expect(chartSummary({ ...sf, anomalies: [] })).toMatch(/; no anomalies flagged\.$/);
  });
});
