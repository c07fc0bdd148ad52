// Costs: the summary, breakdowns and the ledger's calls of a period, as queries under the
// `costs` key. A `calls` event makes them stale, but a busy gateway makes hundreds a
// second: they reload at most once per COSTS_REFRESH_MS while calls arrive (never while idle).
import type { QueryClient } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";
import type { components } from "../generated/api";

export type CostSummary = components["schemas"]["CostSummary"];
export type CostBreakdown = components["schemas"]["CostBreakdown"];
export type BreakdownRow = components["schemas"]["BreakdownRow"];
export type Dimension = components["schemas"]["Dimension"];
export type NamedPeriod = components["schemas"]["NamedPeriod"];
export type BucketSize = components["schemas"]["BucketSize"];

export const PERIODS: ReadonlyArray<{ id: NamedPeriod; label: string }> = [
  { id: "today", label: "Today" },
  { id: "yesterday", label: "Yesterday" },
  { id: "this_week", label: "This week" },
  { id: "last_week", label: "Last week" },
  { id: "this_month", label: "This month" },
  { id: "last_month", label: "Last month" },
  { id: "last_7d", label: "Last 7 days" },
  { id: "last_30d", label: "Last 30 days" },
  { id: "last_90d", label: "Last 90 days" },
  { id: "this_year", label: "This year" },
];

export const DIMENSIONS: ReadonlyArray<{ id: Dimension; label: string }> = [
  { id: "agent", label: "Agent" },
  { id: "model", label: "Model" },
  { id: "provider", label: "Provider" },
  { id: "route", label: "Route" },
  { id: "client", label: "Client" },
  { id: "tag", label: "Tag" },
  { id: "node", label: "Node" },
];

/** The chart's bucket for a period: hours for a day, months for a year, else days. */
export function chartBucket(period: NamedPeriod): BucketSize {
  if (period === "today" || period === "yesterday") return "hour";
  if (period === "this_year") return "month";
  return "day";
}

export type CostFilters = { agent?: string; model?: string; tag?: string };

function clean(f: CostFilters): CostFilters {
  const out: CostFilters = {};
  for (const k of ["agent", "model", "tag"] as const) {
    const v = f[k]?.trim();
    if (v) out[k] = v;
  }
  return out;
}

export function costSummaryQuery(api: Api, period: NamedPeriod, filters: CostFilters) {
  const f = clean(filters);
  return {
    queryKey: ["costs", "summary", period, f] as const,
    queryFn: ({ signal }: { signal: AbortSignal }) => ok(api.GET("/api/v1/costs/summary", { params: { query: { period, ...f } }, signal })),
  };
}

export function costBreakdownQuery(api: Api, period: NamedPeriod, filters: CostFilters, by: Dimension | null, bucket: BucketSize) {
  const f = clean(filters);
  return {
    queryKey: ["costs", "breakdown", period, f, by, bucket] as const,
    queryFn: ({ signal }: { signal: AbortSignal }) =>
      ok(api.GET("/api/v1/costs/breakdown", { params: { query: { period, bucket, ...(by ? { by } : {}), ...f } }, signal })),
  };
}

/** The export's address (the same span and filters). */
export function exportPath(period: NamedPeriod, filters: CostFilters, format: "csv" | "jsonl"): string {
  const q = new URLSearchParams({ period, format, ...clean(filters) });
  return `/api/v1/costs/export?${q.toString()}`;
}

/** USD for display: cents from a dollar up, 4 decimals from a cent, else 6 significant digits. */
export function formatUsd(amount: string): string {
  const n = Number(amount);
  if (!Number.isFinite(n)) return `$${amount}`;
  const abs = Math.abs(n);
  if (abs === 0) return "$0";
  if (abs >= 1) return `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  if (abs >= 0.01) return `$${n.toFixed(4)}`;
  return `$${Number(n.toPrecision(6)).toString()}`;
}

/** Each row's share of the total cost, in % (one decimal); 0 when the total is 0. */
export function share(part: string, total: string): number {
  const t = Number(total);
  if (!(t > 0)) return 0;
  return Math.round((Number(part) / t) * 1000) / 10;
}

/** A bar per row placed on the window's time axis: x and width in [0, 1], height in [0, 1]. */
export function bars(rows: ReadonlyArray<BreakdownRow>, from: string, until: string): Array<{ x: number; w: number; h: number; row: BreakdownRow }> {
  const a = Date.parse(from);
  const z = Date.parse(until);
  const span = z - a;
  if (!(span > 0) || rows.length === 0) return [];
  const starts = rows.map((r) => Date.parse(r.bucket_start ?? from));
  const max = Math.max(...rows.map((r) => Number(r.cost)), 0);
  // A bucket is as wide as the smallest gap between starts (or the rest of the window).
  const sorted = [...starts].sort((p, q) => p - q);
  let step = span;
  for (let i = 1; i < sorted.length; i++) step = Math.min(step, (sorted[i] ?? 0) - (sorted[i - 1] ?? 0));
  return rows.map((row, i) => ({
    x: ((starts[i] ?? a) - a) / span,
    w: Math.min(step, z - (starts[i] ?? a)) / span,
    h: max > 0 ? Number(row.cost) / max : 0,
    row,
  }));
}

let lastRefresh = 0;
let pending: ReturnType<typeof setTimeout> | null = null;
export const COSTS_REFRESH_MS = 5_000;

/** A new ledger row: reload the costs queries, at most once per COSTS_REFRESH_MS. */
export function costsStale(client: QueryClient, now: number = Date.now()): void {
  if (pending) return;
  const wait = Math.max(0, lastRefresh + COSTS_REFRESH_MS - now);
  pending = setTimeout(() => {
    pending = null;
    lastRefresh = Date.now();
    void client.invalidateQueries({ queryKey: ["costs"] }, { cancelRefetch: false });
  }, wait);
}
