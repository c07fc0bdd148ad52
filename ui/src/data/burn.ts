// Budget burn forecasts (`BudgetStatus.forecast`, the engine's `costs::burn`): the words and
// the geometry of what the Costs screen draws on and under each budget bar — the projected
// spend at the period's end with its 80 % interval, when the limit is reached (the mean and
// its 95 % interval), the model and its measured backtest coverage, and a small chart of the
// projected cumulative spend (mean, 80 % and 95 % bands, the limit). Times read in UTC, as
// everywhere in the UI.
import type { components } from "../generated/api";
import { formatUsd, type BudgetStatus } from "./costs";

export type BurnForecast = components["schemas"]["BurnForecast"];
export type BurnPoint = components["schemas"]["ForecastRow"];
export type Exhaustion = components["schemas"]["Exhaustion"];
export type ExhaustionStatus = components["schemas"]["ExhaustionStatus"];

/** A budget with the fields a forecast is read against. */
export type ForecastBudget = Pick<BudgetStatus, "spent" | "limit_usd" | "period_end" | "forecast">;

/** "80 %" and "95 %", the number and its sign never split across lines. */
export const P80 = "80\u00a0%";
export const P95 = "95\u00a0%";

const MODELS: Readonly<Record<string, string>> = {
  hour_of_week: "hour-of-week model",
  hour_of_day: "hour-of-day model",
  flat: "flat-rate model",
};

/** A model's name in words ("hour_of_week" → "hour-of-week model"). */
export function modelLabel(model: string): string {
  return MODELS[model] ?? `${model.replaceAll("_", "-")} model`;
}

/** USD of a forecast (numbers), as `formatUsd` shows amounts. */
export function usd(n: number): string {
  return formatUsd(String(n));
}

/** "2026-12-09 14:00 UTC": a projected instant, to the minute. */
export function formatMinute(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/**
 * An interval of instants: "2026-12-09 14:00–22:00 UTC" within a day, "2026-12-09 14:00 UTC –
 * 2026-12-11 02:00 UTC" across days, "… – after the period" without an end.
 */
export function formatSpan(from: string, to: string | null | undefined, open = "after the period"): string {
  const a = formatMinute(from);
  if (!to) return `${a} – ${open}`;
  const b = formatMinute(to);
  if (a === b) return a;
  if (a.slice(0, 10) === b.slice(0, 10) && a.endsWith(" UTC") && b.endsWith(" UTC")) return `${a.slice(0, 16)}–${b.slice(11)}`;
  return `${a} – ${b}`;
}

function percent(share: number): string {
  return `${String(Math.round(share * 100))}\u00a0%`;
}

/** Whether the forecast projects anything (a model was fitted; `none` says why not). */
export function hasProjection(f: BurnForecast): boolean {
  return f.model !== "none";
}

/** Until when it projects: "period end", or the projection's last instant for a budget without an end. */
function horizon(b: ForecastBudget, f: BurnForecast): string {
  return b.period_end ? "period end" : formatMinute(f.end?.ds ?? f.path.at(-1)?.ds ?? f.computed_at);
}

/** "Projected $14.20 by period end (80 %: $12.10–$16.90)"; null without an end point. */
export function projectedText(b: ForecastBudget, f: BurnForecast): string | null {
  const e = f.end;
  if (!e) return null;
  return `Projected ${usd(e.mean)} by ${horizon(b, f)} (${P80}: ${usd(e.lo80)}–${usd(e.hi80)})`;
}

export type ExhaustionLine = { status: ExhaustionStatus; tone: "warn" | "over" | "ok"; text: string };

/** When the limit is reached, in words, with the tone it is shown in; null when the forecast does not say. */
export function exhaustionLine(b: ForecastBudget, f: BurnForecast): ExhaustionLine | null {
  const e = f.exhaustion;
  if (!e) return null;
  switch (e.status) {
    case "exhausted":
      return { status: e.status, tone: "over", text: "Exhausted" };
    case "projected": {
      const at = e.at ?? e.earliest95;
      if (!at) return { status: e.status, tone: "warn", text: "Projected to run out this period" };
      return { status: e.status, tone: "warn", text: `Runs out ~${formatMinute(at)} (${P95}: ${formatSpan(e.earliest95 ?? at, e.latest95)})` };
    }
    case "not_within_period":
      return {
        status: e.status,
        tone: "ok",
        text: b.period_end ? "Not projected to run out this period" : `Not projected to run out by ${horizon(b, f)}`,
      };
  }
}

/** "672 hours" → "28 days"; whole days read as days. */
function historyText(hours: number): string {
  if (hours >= 48 && hours % 24 === 0) return `${String(hours / 24)} days`;
  return `${String(hours)} hour${hours === 1 ? "" : "s"}`;
}

/**
 * The model and how well its intervals held in the backtest: "hour-of-week model · 80 % intervals
 * held 85 % in backtest, 95 % held 96 % · 26 origins, 28 days of spend".
 */
export function modelDetail(f: BurnForecast): string {
  const parts = [modelLabel(f.model)];
  const c80 = f.coverage80;
  const c95 = f.coverage95;
  if (c80 !== null && c80 !== undefined) {
    parts.push(`${P80} intervals held ${percent(c80)} in backtest${c95 !== null && c95 !== undefined ? `, ${P95} held ${percent(c95)}` : ""}`);
  } else if (c95 !== null && c95 !== undefined) {
    parts.push(`${P95} intervals held ${percent(c95)} in backtest`);
  } else {
    parts.push("interval coverage not measured");
  }
  const facts: string[] = [];
  if (f.backtest_origins > 0) facts.push(`${String(f.backtest_origins)} origin${f.backtest_origins === 1 ? "" : "s"}`);
  if (f.history_hours > 0) facts.push(`${historyText(f.history_hours)} of spend`);
  if (facts.length > 0) parts.push(facts.join(", "));
  return parts.join(" · ");
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const clampPct = (x: number) => round1(Math.min(100, Math.max(0, x)));

/** The forecast on a budget bar, in % of the limit (clamped to the bar), and the bar's words for it. */
export type ForecastMarks = {
  /** The mean at the period's end. */
  mean: number;
  /** The 80 % interval's edges. */
  lo: number;
  hi: number;
  /** The 80 % interval reaches past the limit (the band runs to the bar's end). */
  overflow: boolean;
  /** The mean itself is past the limit. */
  meanOver: boolean;
  /** For the bar's aria-label: "projected 142 % of the limit by period end (80 %: 121–169 %)". */
  label: string;
};

export function forecastMarks(b: ForecastBudget): ForecastMarks | null {
  const f = b.forecast;
  const limit = Number(b.limit_usd);
  if (!f || !hasProjection(f) || !f.end || !(limit > 0)) return null;
  const share = (v: number) => (v / limit) * 100;
  const { mean, lo80, hi80 } = f.end;
  const whole = (v: number) => String(Math.round(share(v)));
  return {
    mean: clampPct(share(mean)),
    lo: clampPct(share(lo80)),
    hi: clampPct(share(hi80)),
    overflow: hi80 > limit,
    meanOver: mean > limit,
    label: `projected ${whole(mean)}% of the limit by ${horizon(b, f)} (${P80}: ${whole(lo80)}–${whole(hi80)}%)`,
  };
}

/** The chart's size (viewBox units; it is stretched to the row's width). */
export const BURN_CHART = { width: 300, height: 56, pad: 3 } as const;

export type BurnChart = {
  width: number;
  height: number;
  /** SVG path data: the mean line, the 80 % and 95 % bands (closed areas). */
  mean: string;
  band80: string;
  band95: string;
  /** The limit's height. */
  limitY: number;
  /** Where the mean reaches the limit (status projected), else null. */
  atX: number | null;
  /** The projection's first and last instants. */
  from: string;
  to: string;
};

/**
 * The projected path as a chart: x from now (the forecast's `computed_at`, at the spend so far)
 * to the last point; y fitted to the 95 % band and the limit (a little room above and below,
 * never below 0), so the projection fills the sparkline whatever was spent before. Null
 * without a path.
 */
export function burnChart(f: BurnForecast, spent: number, limit: number, size: { width: number; height: number; pad: number } = BURN_CHART): BurnChart | null {
  if (!hasProjection(f) || f.path.length === 0) return null;
  const first = f.path[0];
  const points: BurnPoint[] = [...f.path];
  if (first && Number.isFinite(spent) && Date.parse(f.computed_at) < Date.parse(first.ds)) {
    points.unshift({ ds: f.computed_at, mean: spent, lo80: spent, hi80: spent, lo95: spent, hi95: spent });
  }
  const t0 = Date.parse(points[0]?.ds ?? f.computed_at);
  const t1 = Date.parse(points.at(-1)?.ds ?? f.computed_at);
  const span = t1 - t0;
  const values = points.flatMap((p) => [p.lo95, p.hi95]).filter(Number.isFinite);
  const lim = Number.isFinite(limit) ? limit : 0;
  const low = Math.max(0, Math.min(...values, lim));
  const high = Math.max(...values, lim);
  const room = Math.max((high - low) * 0.08, Math.abs(high) * 0.01, 1e-9);
  const bottom = Math.max(0, low - room);
  const top = high + room;
  const { width, height, pad } = size;
  const x = (iso: string) => (span > 0 ? round1(((Math.min(t1, Math.max(t0, Date.parse(iso))) - t0) / span) * width) : 0);
  const y = (v: number) => round1(pad + (1 - (Math.max(bottom, v) - bottom) / (top - bottom)) * (height - 2 * pad));
  const line = (pick: (p: BurnPoint) => number, pts: readonly BurnPoint[]) => pts.map((p, i) => `${i === 0 ? "M" : "L"}${String(x(p.ds))} ${String(y(pick(p)))}`);
  const band = (upper: (p: BurnPoint) => number, lower: (p: BurnPoint) => number) =>
    [...line(upper, points), ...line(lower, [...points].reverse()).map((s) => `L${s.slice(1)}`), "Z"].join(" ");
  const e = f.exhaustion;
  return {
    width,
    height,
    mean: line((p) => p.mean, points).join(" "),
    band80: band((p) => p.hi80, (p) => p.lo80),
    band95: band((p) => p.hi95, (p) => p.lo95),
    limitY: y(limit),
    atX: e?.status === "projected" && e.at ? x(e.at) : null,
    from: points[0]?.ds ?? f.computed_at,
    to: points.at(-1)?.ds ?? f.computed_at,
  };
}

/** The chart in words (its aria-label). */
export function burnSummary(b: ForecastBudget, f: BurnForecast): string {
  const end = f.end ?? f.path.at(-1);
  if (!end) return "No projected spend.";
  const head = `Projected cumulative spend from ${formatUsd(b.spent)} now to ${usd(end.mean)} by ${formatMinute(end.ds)} (${P80}: ${usd(end.lo80)}–${usd(end.hi80)}; ${P95}: ${usd(end.lo95)}–${usd(end.hi95)}), against a limit of ${formatUsd(b.limit_usd)}`;
  const e = f.exhaustion;
  const tail =
    e?.status === "exhausted"
      ? "the limit is reached already"
      : e?.status === "projected"
        ? `the mean reaches the limit ~${formatMinute(e.at ?? end.ds)}`
        : e?.status === "not_within_period"
          ? "the mean stays under the limit"
          : null;
  return `${head}${tail ? `; ${tail}` : ""}.`;
}
