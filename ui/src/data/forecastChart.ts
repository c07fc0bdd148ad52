// The forecast chart's geometry (screens/ForecastChart.tsx draws it): the recent history as a
// line; the forecast's mean from the last point on, inside its 80 % and 95 % bands; the
// backtest's held-out points (faint dots) with what was forecast for them (a faint dashed
// mean and 80 % band, one piece per origin); the anomalies as markers; round y ticks and
// date labels thinned to fit. Every instant the chart holds is a "slot" the pointer or the
// arrow keys land on, and `readout` says what is known there. Times read in UTC.
import type { Anomaly, BacktestPoint, ForecastRow, Frequency, Point, SeriesForecast } from "./forecasts";
import { formatDs, formatNumber, formatRange, formatValue, P80, P95, stepsText } from "./forecasts";

/** The chart's size and margins (SVG user units; it scales to the panel's width). */
export const FORECAST_CHART = { width: 760, height: 300, left: 62, right: 16, top: 14, bottom: 30 } as const;

export type ChartSize = { width: number; height: number; left: number; right: number; top: number; bottom: number };

/** One instant of the chart and what is known there. */
export type Slot = {
  ds: string;
  x: number;
  /** The series' value (history). */
  value: number | null;
  valueY: number | null;
  /** The forecast's step. */
  row: ForecastRow | null;
  meanY: number | null;
  /** What the backtest forecast for this (held-out) point. */
  held: BacktestPoint | null;
  anomaly: Anomaly | null;
};

export type Marker = { x: number; y: number; ds: string };

export type ForecastChart = {
  width: number;
  height: number;
  plot: { x: number; y: number; w: number; h: number };
  /** SVG path data. */
  history: string;
  mean: string;
  band80: string;
  band95: string;
  heldMean: string;
  heldBand: string;
  held: Marker[];
  anomalies: Array<Marker & { anomaly: Anomaly }>;
  /** Where the history ends and the forecast begins; null without either. */
  nowX: number | null;
  yTicks: Array<{ y: number; label: string }>;
  xTicks: Array<{ x: number; label: string }>;
  slots: Slot[];
};

const round1 = (v: number) => Math.round(v * 10) / 10;
const finite = (...vs: number[]) => vs.every(Number.isFinite);

/** The smallest 1, 2, 2.5 or 5 × 10ⁿ step that covers `span` in about `count` steps. */
export function niceStep(span: number, count = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const m = raw / pow;
  const f = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
  return Number((f * pow).toPrecision(12));
}

/** Decimals a step needs: 0.25 → 2, 5 → 0. */
function stepDecimals(step: number): number {
  for (let d = 0; d <= 8; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(Math.round(scaled) - scaled) < 1e-6) return d;
  }
  return 8;
}

/** A y tick: "$1,200", "0.25", "12K", "1.5M" (decimals as the step needs). */
export function tickLabel(value: number, step: number, unit?: string): string {
  const usd = unit?.trim().toLowerCase() === "usd" || unit?.trim() === "$";
  if (value === 0) return usd ? "$0" : "0";
  const abs = Math.abs(value);
  const text =
    abs >= 10_000
      ? new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(abs)
      : abs.toLocaleString("en-US", { minimumFractionDigits: stepDecimals(step), maximumFractionDigits: stepDecimals(step) });
  return `${value < 0 ? "−" : ""}${usd ? "$" : ""}${text}`;
}

/** A date label under the axis, by frequency; `long` when the chart spans years. */
function axisLabel(iso: string, f: Frequency, long: boolean): string {
  const s = new Date(Date.parse(iso)).toISOString();
  switch (f) {
    case "hourly":
      return `${s.slice(5, 10)} ${s.slice(11, 13)}h`;
    case "daily":
    case "weekly":
      return long ? s.slice(0, 7) : s.slice(5, 10);
    default:
      return formatDs(iso, f);
  }
}

/** The held-out points in pieces: a new piece where time goes back (another origin) or skips more than 1.5 steps. */
export function heldPieces(points: readonly BacktestPoint[], step: number): BacktestPoint[][] {
  const pieces: BacktestPoint[][] = [];
  let cur: BacktestPoint[] = [];
  let prev = Number.NaN;
  for (const p of points) {
    const t = Date.parse(p.ds);
    if (cur.length > 0 && (!(t > prev) || (step > 0 && t - prev > step * 1.5))) {
      pieces.push(cur);
      cur = [];
    }
    cur.push(p);
    prev = t;
  }
  if (cur.length > 0) pieces.push(cur);
  return pieces;
}

function medianStep(times: readonly number[]): number {
  const diffs: number[] = [];
  for (let i = 1; i < times.length; i++) {
    const a = times[i - 1];
    const b = times[i];
    if (a !== undefined && b !== undefined && b > a) diffs.push(b - a);
  }
  diffs.sort((a, b) => a - b);
  return diffs[Math.floor(diffs.length / 2)] ?? 0;
}

export type ChartInput = {
  history: readonly Point[];
  rows: readonly ForecastRow[];
  backtest: readonly BacktestPoint[];
  anomalies: readonly Anomaly[];
  frequency: Frequency;
  unit?: string;
};

/**
 * The chart of a forecast: x from the first history point shown to the last forecast step,
 * y fitted to everything drawn (the 95 % band, held-out forecasts' 80 % band, anomalies) with
 * a little room, on round ticks. Null when there is nothing to draw.
 */
export function forecastChart(input: ChartInput, size: ChartSize = FORECAST_CHART): ForecastChart | null {
  const byTime = <T extends { ds: string }>(xs: readonly T[]) => xs.slice().sort((a, b) => Date.parse(a.ds) - Date.parse(b.ds));
  const history = byTime(input.history.filter((p) => finite(p.value, Date.parse(p.ds))));
  const rows = byTime(input.rows.filter((r) => finite(r.mean, r.lo80, r.hi80, r.lo95, r.hi95, Date.parse(r.ds))));
  const firstDs = history[0]?.ds ?? rows[0]?.ds;
  const lastDs = rows.at(-1)?.ds ?? history.at(-1)?.ds;
  if (firstDs === undefined || lastDs === undefined) return null;
  const t0 = Date.parse(firstDs);
  const t1 = Date.parse(lastDs);
  const inRange = (ds: string) => {
    const t = Date.parse(ds);
    return t >= t0 && t <= t1;
  };
  const held = input.backtest.filter((p) => inRange(p.ds) && finite(p.actual, p.mean, p.lo80, p.hi80));
  const anomalies = input.anomalies.filter((a) => inRange(a.ds) && Number.isFinite(a.value));

  const values = [
    ...history.map((p) => p.value),
    ...rows.flatMap((r) => [r.lo95, r.hi95, r.mean]),
    ...held.flatMap((p) => [p.actual, p.mean, p.lo80, p.hi80]),
    ...anomalies.map((a) => a.value),
  ];
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi - lo < 1e-12) {
    const room = Math.max(Math.abs(hi) * 0.1, 1);
    lo -= room;
    hi += room;
  }
  const pad = (hi - lo) * 0.06;
  // Room below, but a series that never goes negative does not get a negative axis.
  lo = lo >= 0 ? Math.max(0, lo - pad) : lo - pad;
  hi += pad;
  const step = niceStep(hi - lo);
  const kLo = Math.floor(lo / step + 1e-9);
  const kHi = Math.ceil(hi / step - 1e-9);
  lo = kLo * step;
  hi = kHi * step;

  const plot = { x: size.left, y: size.top, w: size.width - size.left - size.right, h: size.height - size.top - size.bottom };
  const span = t1 - t0;
  const X = (iso: string) => round1(plot.x + (span > 0 ? (Date.parse(iso) - t0) / span : 0.5) * plot.w);
  const Y = (v: number) => round1(plot.y + (1 - (v - lo) / (hi - lo)) * plot.h);
  const line = <T extends { ds: string }>(pts: readonly T[], pick: (p: T) => number) =>
    pts.map((p, i) => `${i === 0 ? "M" : "L"}${String(X(p.ds))} ${String(Y(pick(p)))}`).join(" ");
  const area = <T extends { ds: string }>(pts: readonly T[], upper: (p: T) => number, lower: (p: T) => number) => {
    if (pts.length === 0) return "";
    const top = pts.map((p, i) => `${i === 0 ? "M" : "L"}${String(X(p.ds))} ${String(Y(upper(p)))}`);
    const bottom = pts
      .slice()
      .reverse()
      .map((p) => `L${String(X(p.ds))} ${String(Y(lower(p)))}`);
    return [...top, ...bottom, "Z"].join(" ");
  };

  // The forecast starts at the last point, so the mean and the bands grow out of the line.
  const last = history.at(-1);
  const from: ForecastRow[] = last && rows.length > 0 ? [{ ds: last.ds, mean: last.value, lo80: last.value, hi80: last.value, lo95: last.value, hi95: last.value }, ...rows] : rows;
  const stepMs = medianStep(history.map((p) => Date.parse(p.ds))) || medianStep(rows.map((r) => Date.parse(r.ds)));
  const pieces = heldPieces(held, stepMs);

  // Slots: every instant drawn, with what is known there.
  const slots = new Map<number, Slot>();
  const slot = (ds: string): Slot => {
    const t = Date.parse(ds);
    let s = slots.get(t);
    if (!s) {
      s = { ds, x: X(ds), value: null, valueY: null, row: null, meanY: null, held: null, anomaly: null };
      slots.set(t, s);
    }
    return s;
  };
  for (const p of history) {
    const s = slot(p.ds);
    s.value = p.value;
    s.valueY = Y(p.value);
  }
  for (const r of rows) {
    const s = slot(r.ds);
    s.row = r;
    s.meanY = Y(r.mean);
  }
  for (const p of held) slot(p.ds).held = p;
  for (const a of anomalies) {
    const s = slot(a.ds);
    s.anomaly = a;
    if (s.value === null) {
      s.value = a.value;
      s.valueY = Y(a.value);
    }
  }
  const ordered = [...slots.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);

  const yTicks: Array<{ y: number; label: string }> = [];
  for (let k = kLo; k <= kHi && k - kLo <= 50; k++) {
    const value = Number((k * step).toPrecision(12));
    yTicks.push({ y: Y(value), label: tickLabel(value, step, input.unit) });
  }
  const long = span > 300 * 86_400_000;
  const every = Math.max(1, Math.ceil(ordered.length / 8));
  const xTicks = ordered.filter((_, i) => i % every === 0).map((s) => ({ x: s.x, label: axisLabel(s.ds, input.frequency, long) }));

  return {
    width: size.width,
    height: size.height,
    plot,
    history: line(history, (p) => p.value),
    mean: rows.length > 0 ? line(from, (r) => r.mean) : "",
    band80: area(from, (r) => r.hi80, (r) => r.lo80),
    band95: area(from, (r) => r.hi95, (r) => r.lo95),
    heldMean: pieces.map((piece) => line(piece, (p) => p.mean)).join(" "),
    heldBand: pieces.map((piece) => area(piece, (p) => p.hi80, (p) => p.lo80)).join(" "),
    held: held.map((p) => ({ x: X(p.ds), y: Y(p.actual), ds: p.ds })),
    anomalies: anomalies.map((a) => ({ x: X(a.ds), y: Y(a.value), ds: a.ds, anomaly: a })),
    nowX: last && rows.length > 0 ? X(last.ds) : null,
    yTicks,
    xTicks,
    slots: ordered,
  };
}

/** The slot nearest `x` (slots in order of x); null without slots. */
export function nearestSlot(slots: readonly Slot[], x: number): number | null {
  if (slots.length === 0) return null;
  let a = 0;
  let b = slots.length - 1;
  while (b - a > 1) {
    const m = (a + b) >> 1;
    if ((slots[m]?.x ?? 0) <= x) a = m;
    else b = m;
  }
  const da = Math.abs((slots[a]?.x ?? 0) - x);
  const db = Math.abs((slots[b]?.x ?? 0) - x);
  return db < da ? b : a;
}

export type ReadoutItem = { key: "value" | "mean" | "i80" | "i95" | "held" | "anomaly"; label: string; text: string };

/** What is known at a slot, item by item (the readout line under the chart). */
export function readout(s: Slot, f: Frequency, unit?: string): { date: string; items: ReadoutItem[] } {
  const v = (n: number) => formatValue(n, unit);
  const items: ReadoutItem[] = [];
  if (s.value !== null) items.push({ key: "value", label: "value", text: v(s.value) });
  if (s.row) {
    const r = s.row;
    items.push({ key: "mean", label: "forecast", text: v(r.mean) });
    items.push({ key: "i80", label: P80, text: formatRange(r.lo80, r.hi80, unit) });
    items.push({ key: "i95", label: P95, text: formatRange(r.lo95, r.hi95, unit) });
  }
  if (s.held) {
    const h = s.held;
    items.push({ key: "held", label: "held out, forecast", text: `${v(h.mean)} (${P80}: ${formatRange(h.lo80, h.hi80, unit)})` });
  }
  if (s.anomaly) {
    const a = s.anomaly;
    items.push({ key: "anomaly", label: "anomaly", text: `expected ${v(a.expected)} (${P95}: ${formatRange(a.lo95, a.hi95, unit)})` });
  }
  return { date: formatDs(s.ds, f), items };
}

/** The readout as one sentence. */
export function readoutText(s: Slot, f: Frequency, unit?: string): string {
  const r = readout(s, f, unit);
  return [r.date, ...r.items.map((i) => `${i.label} ${i.text}`)].join(" · ");
}

/** The chart in words (its aria-label): the history, the forecast's end with its intervals, the anomalies. */
export function chartSummary(sf: SeriesForecast): string {
  const { series, forecast: f, history } = sf;
  const unit = series.unit;
  const v = (n: number) => formatValue(n, unit);
  const first = history[0];
  const last = history.at(-1);
  const parts: string[] = [];
  if (first && last) {
    parts.push(`${series.name}: ${formatNumber(history.length)} recent ${f.frequency} points from ${formatDs(first.ds, f.frequency)} to ${formatDs(last.ds, f.frequency)}, last ${v(last.value)}`);
  } else {
    parts.push(`${series.name}: no history`);
  }
  const end = f.rows.at(-1);
  if (end) {
    parts.push(
      `forecast ${stepsText(f.rows.length, f.frequency)} ahead with ${f.model}: ${v(end.mean)} by ${formatDs(end.ds, f.frequency)} (${P80}: ${formatRange(end.lo80, end.hi80, unit)}; ${P95}: ${formatRange(end.lo95, end.hi95, unit)})`,
    );
  }
  const n = sf.anomalies.length;
  const latest = sf.anomalies[0];
  parts.push(
    n === 0
      ? "no anomalies flagged"
      : `${String(n)} anomal${n === 1 ? "y" : "ies"} flagged${latest ? `, the latest ${formatDs(latest.ds, f.frequency)} at ${v(latest.value)} (expected ${v(latest.expected)})` : ""}`,
  );
  return `${parts.join("; ")}.`;
}
