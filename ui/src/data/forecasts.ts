// Forecasts (`#/forecasts`): KPI series, their forecasts, goals and the business health score,
// as queries under the `forecasts` key — a `forecasts` feed event (points imported or pushed,
// a series removed, an anomaly flagged, a goal at risk) makes them all stale, and so does a
// `config` event for the health score (its KPIs are `[health_score.<series>]`); see
// invalidation.ts. Also the words the screen uses: values with their unit, instants by the
// series' frequency, percentages, the import and goal forms' bodies, the node's bad-row
// messages split by line, and the toasts for live anomalies and goals at risk.
import { queryOptions } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";
import { ApiError, describeError } from "../backend/apiError";
import type { ToastInput } from "../components/Toasts";
import type { components } from "../generated/api";

export type SeriesInfo = components["schemas"]["SeriesInfo"];
export type SeriesForecast = components["schemas"]["SeriesForecast"];
export type Forecast = components["schemas"]["Forecast"];
export type ForecastRow = components["schemas"]["ForecastRow"];
export type BacktestPoint = components["schemas"]["BacktestPoint"];
export type CandidateScore = components["schemas"]["CandidateScore"];
export type Point = components["schemas"]["Point"];
export type Anomaly = components["schemas"]["Anomaly"];
export type SeriesReport = components["schemas"]["SeriesReport"];
export type Frequency = components["schemas"]["Frequency"];
export type Direction = components["schemas"]["Direction"];
export type ImportRequest = components["schemas"]["ImportRequest"];
export type ImportOutcome = components["schemas"]["ImportOutcome"];
export type Goal = components["schemas"]["Goal"];
export type GoalRequest = components["schemas"]["GoalRequest"];
export type HealthScore = components["schemas"]["HealthScore"];
export type Contribution = components["schemas"]["Contribution"];
export type ForecastEvent = components["schemas"]["ForecastEvent"];

/** The built-in, read-only series of daily spend. */
export const COST_SERIES = "cost.daily";

export const forecastKeys = {
  all: ["forecasts"] as const,
  series: ["forecasts", "series"] as const,
  forecast: (name: string, horizon: number | null) => ["forecasts", "forecast", name, horizon ?? "default"] as const,
  anomalies: (name: string) => ["forecasts", "anomalies", name, ANOMALIES_SHOWN] as const,
  goals: ["forecasts", "goals"] as const,
  healthScore: ["forecasts", "health-score"] as const,
};

export function seriesListQuery(api: Api) {
  return queryOptions({
    queryKey: forecastKeys.series,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/series", { signal })),
  });
}

/** A series' forecast; `horizon` null is the node's default for its frequency. */
export function forecastQuery(api: Api, name: string, horizon: number | null) {
  return queryOptions({
    queryKey: forecastKeys.forecast(name, horizon),
    queryFn: ({ signal }) =>
      ok(
        api.GET("/api/v1/forecasts/{name}", {
          params: { path: { name }, query: horizon === null ? {} : { horizon } },
          signal,
        }),
      ),
    // Another horizon of the same series keeps the chart while it loads; another series does not.
    placeholderData: (previous, previousQuery) => (previousQuery?.queryKey[2] === name ? previous : undefined),
  });
}

/** Anomalies listed at most (newest first). */
export const ANOMALIES_SHOWN = 100;

/** A series' anomalies, newest first: read apart from the forecast, so they show even when it cannot be made. */
export function anomaliesQuery(api: Api, name: string) {
  return queryOptions({
    queryKey: forecastKeys.anomalies(name),
    queryFn: ({ signal }) => ok(api.GET("/api/v1/series/{name}/anomalies", { params: { path: { name }, query: { limit: ANOMALIES_SHOWN } }, signal })),
  });
}

export function goalsQuery(api: Api) {
  return queryOptions({
    queryKey: forecastKeys.goals,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/goals", { signal })),
  });
}

export function healthScoreQuery(api: Api) {
  return queryOptions({
    queryKey: forecastKeys.healthScore,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/health-score", { signal })),
  });
}

/**
 * The series shown when the address names none: the first with enough points to forecast
 * (`cost.daily` comes first; without spend yet, the first imported one), else the first.
 */
export function defaultSeries(items: readonly SeriesInfo[] | undefined): string | null {
  if (!items || items.length === 0) return null;
  return (items.find((s) => s.points >= 3) ?? items[0])?.name ?? null;
}

/** Goals whose probability fell below their `alert_below` (the sidebar's badge). */
export function atRiskCount(goals: readonly Goal[] | undefined): number {
  return goals ? goals.filter((g) => g.at_risk).length : 0;
}

// ---------- horizons ----------

/** The node's default horizon by frequency (steps ahead). */
export const DEFAULT_HORIZON: Readonly<Record<Frequency, number>> = { hourly: 48, daily: 30, weekly: 13, monthly: 12, quarterly: 8, yearly: 5 };

const HORIZONS: Readonly<Record<Frequency, readonly number[]>> = {
  hourly: [12, 24, 48, 96, 168],
  daily: [7, 14, 30, 60, 90],
  weekly: [4, 8, 13, 26, 52],
  monthly: [3, 6, 12, 18, 24],
  quarterly: [4, 8, 12],
  yearly: [3, 5, 10],
};

const STEPS: Readonly<Record<Frequency, readonly [string, string]>> = {
  hourly: ["hour", "hours"],
  daily: ["day", "days"],
  weekly: ["week", "weeks"],
  monthly: ["month", "months"],
  quarterly: ["quarter", "quarters"],
  yearly: ["year", "years"],
};

/** "30 days", "1 hour". */
export function stepsText(n: number, f: Frequency): string {
  const [one, many] = STEPS[f];
  return `${String(n)} ${n === 1 ? one : many}`;
}

/** The horizon picker's choices for a frequency, the default first among equals (marked). */
export function horizonOptions(f: Frequency, current?: number | null): Array<{ value: number; label: string; isDefault: boolean }> {
  const values = [...HORIZONS[f]];
  if (current !== undefined && current !== null && !values.includes(current)) values.push(current);
  values.sort((a, b) => a - b);
  return values.map((value) => ({
    value,
    label: `${stepsText(value, f)}${value === DEFAULT_HORIZON[f] ? " (default)" : ""}`,
    isDefault: value === DEFAULT_HORIZON[f],
  }));
}

// ---------- words for numbers and instants ----------

/** "80 %", the number and its sign never split across lines. */
export const P80 = "80\u00a0%";
export const P95 = "95\u00a0%";

/** A share (0 to 1) as a whole percentage: "68 %"; "<1 %" and ">99 %" near the ends; "—" without one. */
export function percentText(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return "—";
  if (share > 0 && share < 0.005) return "<1\u00a0%";
  if (share < 1 && share > 0.995) return ">99\u00a0%";
  return `${String(Math.round(share * 100))}\u00a0%`;
}

/** A number as people read it: 1,234 · 133.6 · 12.35 · 0.00412. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return "—";
  const abs = Math.abs(v);
  if (abs >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  if (abs >= 100) return v.toLocaleString("en-US", { maximumFractionDigits: 1 });
  if (abs >= 1 || abs === 0) return v.toLocaleString("en-US", { maximumFractionDigits: 2 });
  return String(Number(v.toPrecision(3)));
}

function isUsd(unit: string | undefined): boolean {
  const u = unit?.trim().toLowerCase();
  return u === "usd" || u === "$";
}

/** A value with its unit: "$133.63" (USD), "42 %", "1,204 orders", "12.5" (no unit). */
export function formatValue(v: number | null | undefined, unit?: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (isUsd(unit)) {
    const abs = Math.abs(v);
    const text = abs >= 1000 ? abs.toLocaleString("en-US", { maximumFractionDigits: 0 }) : abs >= 0.01 || abs === 0 ? abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : String(Number(abs.toPrecision(2)));
    return `${v < 0 ? "−" : ""}$${text}`;
  }
  const n = formatNumber(v);
  const u = unit?.trim() ?? "";
  if (u === "") return n;
  if (u === "%") return `${n}\u00a0%`;
  return `${n}\u00a0${u}`;
}

/** An interval with its unit once: "$128.15–$152.24" (USD), "128.2–152.2 orders", "128.2–152.2". */
export function formatRange(lo: number, hi: number, unit?: string): string {
  if (isUsd(unit)) return `${formatValue(lo, unit)}–${formatValue(hi, unit)}`;
  const u = unit?.trim() ?? "";
  const range = `${formatNumber(lo)}–${formatNumber(hi)}`;
  if (u === "") return range;
  return u === "%" ? `${range}\u00a0%` : `${range}\u00a0${u}`;
}

/** A signed change: "+7.3", "−2.1", "±0". */
export function signedText(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  const r = Math.round(v * 10) / 10;
  if (r === 0) return "±0";
  return r > 0 ? `+${formatNumber(r)}` : `−${formatNumber(-r)}`;
}

/** An instant by the series' frequency (UTC): "2026-12-01 14:00", "2026-12-01", "2026-12", "2026 Q4", "2026". */
export function formatDs(iso: string, f: Frequency | null): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = new Date(t).toISOString();
  switch (f) {
    case "hourly":
      return `${s.slice(0, 10)} ${s.slice(11, 16)}`;
    case "monthly":
      return s.slice(0, 7);
    case "quarterly":
      return `${s.slice(0, 4)} Q${String(Math.floor(new Date(t).getUTCMonth() / 3) + 1)}`;
    case "yearly":
      return s.slice(0, 4);
    case "daily":
    case "weekly":
      return s.slice(0, 10);
    case null:
      return formatInstant(iso);
  }
}

/** An instant without a known frequency: the day at midnight UTC, else to the minute. */
export function formatInstant(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = new Date(t).toISOString();
  return s.slice(11, 19) === "00:00:00" ? s.slice(0, 10) : `${s.slice(0, 10)} ${s.slice(11, 16)} UTC`;
}

// ---------- the model ----------

/** The models a chosen `mean(a, b)` averages (commas inside parentheses kept); else the model itself. */
export function chosenParts(model: string): string[] {
  const m = /^mean\((.*)\)$/.exec(model.trim());
  if (!m?.[1]) return [model];
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of m[1]) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

/** The candidates, best (lowest MASE) first; those not fitted at every origin last. */
export function rankedCandidates(candidates: readonly CandidateScore[]): CandidateScore[] {
  return candidates.slice().sort((a, b) => Number(b.fitted) - Number(a.fitted) || a.mase - b.mase || a.model.localeCompare(b.model));
}

/** "2 origins × 30 steps (60 held-out points)". */
export function backtestText(f: Pick<Forecast, "origins" | "backtest_horizon" | "backtest" | "frequency">): string {
  const steps = stepsText(f.backtest_horizon, f.frequency);
  return `${String(f.origins)} origin${f.origins === 1 ? "" : "s"} × ${steps} (${String(f.backtest.length)} held-out point${f.backtest.length === 1 ? "" : "s"})`;
}

/**
 * How measured coverage compares with the stated level: "ok" within 5 points (or above),
 * "low" 5 to 15 points under, "poor" further under.
 */
export function coverageTone(measured: number | null | undefined, nominal: number): "ok" | "low" | "poor" | "none" {
  if (measured === null || measured === undefined || !Number.isFinite(measured)) return "none";
  const gap = nominal - measured;
  if (gap <= 0.05) return "ok";
  if (gap <= 0.15) return "low";
  return "poor";
}

/** The series report in words, the non-zero entries first. */
export function reportItems(r: SeriesReport): Array<{ key: keyof SeriesReport; label: string; value: number }> {
  return [
    { key: "rows" as const, label: "rows read", value: r.rows },
    { key: "duplicates" as const, label: "duplicates averaged", value: r.duplicates },
    { key: "moved" as const, label: "moved to the grid", value: r.moved },
    { key: "gaps_filled" as const, label: "gaps filled", value: r.gaps_filled },
    { key: "zeros" as const, label: "zeros", value: r.zeros },
    { key: "negatives" as const, label: "negatives", value: r.negatives },
  ];
}

/** Where to download the chart from (the token goes in a header, never in the URL). */
export function chartPath(series: string, format: "svg" | "png", theme: "light" | "dark"): string {
  return `/api/v1/charts/forecast.${format}?${new URLSearchParams({ series, theme }).toString()}`;
}

// ---------- errors ----------

/** The error's stable code, when the node gave one. */
export function errorCode(err: unknown): string | null {
  return err instanceof ApiError ? err.code : null;
}

/**
 * The node's message about bad rows, split: "2 row(s) do not parse, nothing was used: line 3:
 * `abc` is not a number; line 4: …" → a summary and one entry per line. A message without
 * line numbers is all summary.
 */
export function badRows(message: string): { summary: string; lines: string[] } {
  const at = message.search(/\bline \d+:/);
  if (at < 0) return { summary: message, lines: [] };
  const summary = message.slice(0, at).replace(/[\s:;,]+$/, "");
  const lines = message
    .slice(at)
    .split(/;\s*(?=line \d+:)/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return { summary, lines };
}

/** What an error reads as beside a form: the node's message verbatim. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError && err.code === "insufficient_scope") return `This token may not do that (it needs a broader scope): ${err.message}`;
  return describeError(err);
}

// ---------- the CSV import ----------

export type ImportDraft = { name: string; csv: string; description: string; unit: string; replace: boolean };

export const emptyImportDraft: ImportDraft = { name: "", csv: "", description: "", unit: "", replace: false };

/** A series name from a file's name: "Orders 2026.csv" → "orders-2026". */
export function nameFromFile(fileName: string): string {
  return fileName
    .replace(/\.[^.]*$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, 64);
}

/** The import's series and body; an error for what can be checked here (the node checks the rest). */
export function importRequest(d: ImportDraft, dryRun: boolean): { name: string; body: ImportRequest } | { error: string } {
  const name = d.name.trim();
  if (name === "") return { error: "Name the series." };
  if (d.csv.trim() === "") return { error: "Choose a CSV file or paste its text (a `date,value` header, then one row per point)." };
  const body: ImportRequest = { csv: d.csv };
  if (dryRun) body.dry_run = true;
  if (d.replace) body.replace = true;
  const description = d.description.trim();
  if (description) body.description = description;
  const unit = d.unit.trim();
  if (unit) body.unit = unit;
  return { name, body };
}

/** The preview's rows: the first ones, then (when the file has more) the last ones after a gap. */
export function previewRows(o: Pick<ImportOutcome, "head" | "tail" | "points">): Array<Point | "gap"> {
  const rows: Array<Point | "gap"> = [...o.head];
  if (o.tail.length > 0) {
    if (o.points > o.head.length + o.tail.length) rows.push("gap");
    rows.push(...o.tail);
  }
  return rows;
}

// ---------- goals ----------

export type GoalDraft = { name: string; series: string; target: string; due: string; direction: Direction; alertBelow: string };

export function emptyGoalDraft(series = ""): GoalDraft {
  return { name: "", series, target: "", due: "", direction: "at_least", alertBelow: "50" };
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The goal's body from the form; an error for what can be checked here. `due` is a day (UTC midnight). */
export function goalBody(d: GoalDraft, now: number = Date.now()): { body: GoalRequest } | { error: string } {
  const name = d.name.trim();
  if (!NAME.test(name)) return { error: "A name is 1-64 of a-z, 0-9, . _ - (starting with a letter or digit)." };
  if (d.series === "") return { error: "Choose the series the goal is on." };
  const target = Number(d.target);
  if (d.target.trim() === "" || !Number.isFinite(target)) return { error: "The target is a number." };
  if (!/^\d{4}-\d{2}-\d{2}$/.test(d.due) || Number.isNaN(Date.parse(`${d.due}T00:00:00Z`))) return { error: "Choose the due date." };
  const due = `${d.due}T00:00:00Z`;
  if (Date.parse(due) <= now) return { error: "The due date is in the future." };
  const alert = d.alertBelow.trim() === "" ? 50 : Number(d.alertBelow);
  if (!Number.isFinite(alert) || alert < 0 || alert > 100) return { error: "“Alert below” is a percentage from 0 to 100." };
  return { body: { name, series: d.series, target, due, direction: d.direction, alert_below: Math.round(alert * 100) / 10000 } };
}

/** "at least $150.00 by 2026-12-20". */
export function goalSentence(g: Pick<Goal, "direction" | "target" | "due">, unit?: string): string {
  return `${g.direction === "at_most" ? "at most" : "at least"} ${formatValue(g.target, unit)} by ${formatInstant(g.due)}`;
}

/** Progress as a bar width (0-100), from the baseline to the target. */
export function progressPct(progress: number | null | undefined): number {
  if (progress === null || progress === undefined || !Number.isFinite(progress)) return 0;
  return Math.round(Math.min(1, Math.max(0, progress)) * 1000) / 10;
}

/**
 * Where the forecast at the due date stands on the goal's bar (baseline 0 %, target 100 %),
 * with its 80 % interval; clamped to the bar. Null without a baseline or a forecast.
 */
export function expectedMarks(g: Pick<Goal, "baseline" | "target" | "expected" | "expected_lo80" | "expected_hi80">): { mean: number; lo: number; hi: number } | null {
  const { baseline, expected } = g;
  if (baseline === null || baseline === undefined || expected === null || expected === undefined) return null;
  const span = g.target - baseline;
  if (span === 0 || !Number.isFinite(span)) return null;
  const at = (v: number) => Math.round(Math.min(100, Math.max(0, ((v - baseline) / span) * 100)) * 10) / 10;
  const a = at(g.expected_lo80 ?? expected);
  const b = at(g.expected_hi80 ?? expected);
  return { mean: at(expected), lo: Math.min(a, b), hi: Math.max(a, b) };
}

/** "≈ $140.20 (80 %: $128.15–$152.24)"; "—" without a forecast. */
export function expectedText(g: Pick<Goal, "expected" | "expected_lo80" | "expected_hi80">, unit?: string): string {
  if (g.expected === null || g.expected === undefined) return "—";
  const lo = g.expected_lo80;
  const hi = g.expected_hi80;
  const interval = lo !== null && lo !== undefined && hi !== null && hi !== undefined ? ` (${P80}: ${formatRange(lo, hi, unit)})` : "";
  return `≈ ${formatValue(g.expected, unit)}${interval}`;
}

/** A goal's tone: at risk (below its alert level), likely (≥ 80 %), or uncertain. */
export function goalTone(g: Pick<Goal, "at_risk" | "probability">): "risk" | "ok" | "warn" | "none" {
  if (g.at_risk) return "risk";
  if (g.probability === null || g.probability === undefined) return "none";
  return g.probability >= 0.8 ? "ok" : "warn";
}

// ---------- the health score ----------

export function scoreTone(score: number): "ok" | "warn" | "bad" {
  return score >= 80 ? "ok" : score >= 50 ? "warn" : "bad";
}

/** The score's bar: each KPI's points side by side (0-100), then what is lost. */
export function scoreSegments(contributions: readonly Contribution[]): { parts: Array<{ series: string; x: number; w: number; index: number }>; lost: { x: number; w: number } } {
  let x = 0;
  const parts = contributions.map((c, index) => {
    const w = Math.max(0, Math.min(100 - x, Number.isFinite(c.points) ? c.points : 0));
    const part = { series: c.series, x: Math.round(x * 100) / 100, w: Math.round(w * 100) / 100, index };
    x += w;
    return part;
  });
  const lostTotal = contributions.reduce((s, c) => s + (Number.isFinite(c.lost) ? c.lost : 0), 0);
  const lostW = Math.max(0, Math.min(100 - x, lostTotal));
  return { parts, lost: { x: Math.round(x * 100) / 100, w: Math.round(lostW * 100) / 100 } };
}

/** The score's bar in words (its aria-label). */
export function scoreBarLabel(contributions: readonly Contribution[]): string {
  if (contributions.length === 0) return "No KPIs.";
  const parts = contributions.map((c) => `${c.series} ${formatNumber(c.points)} of ${formatNumber(c.points + c.lost)} points${c.note ? ` (${c.note})` : ""}`);
  const lost = contributions.reduce((s, c) => s + c.lost, 0);
  return `${parts.join("; ")}; ${formatNumber(lost)} points lost in all.`;
}

/** The TOML that configures a score (shown when none is). */
export const HEALTH_SCORE_EXAMPLE = `[health_score.revenue]\ntarget = 150000\nweight = 2\ndirection = "at_least"\n\n[health_score.tickets]\ntarget = 20\nweight = 1\ndirection = "at_most"`;

// ---------- live notices ----------

/**
 * The toast for a `forecasts` event worth interrupting for: a new point outside its 95 %
 * interval (anomalies found in a backtest are history, listed on the screen only), a goal
 * falling at risk, or one recovering. Null for the rest.
 */
export function forecastNotice(e: ForecastEvent): ToastInput | null {
  switch (e.type) {
    case "anomaly":
      if (e.source !== "forecast") return null;
      return {
        tone: "info",
        title: `Anomaly in ${e.series}`,
        message: `${formatInstant(e.ds)}: ${formatNumber(e.value)}, outside the ${P95} interval ${formatNumber(e.lo95)}–${formatNumber(e.hi95)} (expected ${formatNumber(e.expected)})`,
      };
    case "goal":
      return e.at_risk
        ? {
            tone: "info",
            title: `Goal ${e.goal} at risk`,
            message: `${percentText(e.probability)} chance of reaching ${formatNumber(e.target)} on ${e.series} by ${formatInstant(e.due)} (alert below ${percentText(e.alert_below)})`,
          }
        : { tone: "success", title: `Goal ${e.goal} back on track`, message: `${percentText(e.probability)} chance of reaching ${formatNumber(e.target)} by ${formatInstant(e.due)}` };
    default:
      return null;
  }
}
