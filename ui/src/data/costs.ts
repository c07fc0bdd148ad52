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
export type BudgetStatus = components["schemas"]["BudgetStatus"];
export type BudgetConfig = components["schemas"]["BudgetConfig"];
export type AlertRecord = components["schemas"]["AlertRecord"];

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

export function budgetsQuery(api: Api) {
  return {
    queryKey: ["costs", "budgets"] as const,
    queryFn: ({ signal }: { signal: AbortSignal }) => ok(api.GET("/api/v1/budgets", { signal })),
  };
}

export function alertsQuery(api: Api) {
  return {
    queryKey: ["costs", "alerts"] as const,
    queryFn: ({ signal }: { signal: AbortSignal }) => ok(api.GET("/api/v1/costs/alerts", { params: { query: { limit: 50 } }, signal })),
  };
}

/** What a fired alert is about, in words (the Alerts table's "What"). */
export function alertText(a: Pick<AlertRecord, "kind" | "threshold">): string {
  switch (a.kind) {
    case "threshold":
      return `${String(a.threshold)}% reached`;
    case "blocked":
      return "refused a call";
    case "projected":
      return "projected to run out";
  }
}

/** A budget bar: spent and reserved as % of the limit (together at most 100), and whether it is over a threshold. */
export function budgetBar(b: Pick<BudgetStatus, "spent" | "reserved" | "limit_usd" | "config">): { spent: number; reserved: number; level: "ok" | "warn" | "over" } {
  const limit = Number(b.limit_usd);
  if (!(limit > 0)) return { spent: 0, reserved: 0, level: "ok" };
  const spent = Math.min(100, (Number(b.spent) / limit) * 100);
  const reserved = Math.min(100 - spent, (Number(b.reserved) / limit) * 100);
  const thresholds = b.config.thresholds ?? [50, 80, 100];
  const lowest = Math.min(...(thresholds.length > 0 ? thresholds : [100]));
  const level = spent >= 100 ? "over" : spent >= lowest ? "warn" : "ok";
  return { spent: Math.round(spent * 10) / 10, reserved: Math.round(reserved * 10) / 10, level };
}

/** The scope of a budget in words ("everything" without keys). */
export function scopeText(c: BudgetConfig): string {
  const keys = (["agent", "client", "route", "provider", "model", "tag"] as const)
    .filter((k) => c[k])
    .map((k) => `${k} ${String(c[k])}`);
  if (keys.length === 0) keys.push("every call");
  if (c.include_free) keys.push("free models too");
  return keys.join(" · ");
}

/** A budget form's fields as the API's body; errors by field for what can be checked here. */
export type BudgetDraft = {
  name: string;
  limit_usd: string;
  period: BudgetConfig["period"];
  action: NonNullable<BudgetConfig["action"]>;
  thresholds: string;
  agent: string;
  model: string;
  tag: string;
  route: string;
  include_free: boolean;
};

export function draftFrom(b?: BudgetStatus): BudgetDraft {
  const c = b?.config;
  return {
    name: b?.name ?? "",
    limit_usd: c?.limit_usd ?? "",
    period: c?.period ?? "monthly",
    action: c?.action ?? "alert",
    thresholds: (c?.thresholds ?? [50, 80, 100]).join(", "),
    agent: c?.agent ?? "",
    model: c?.model ?? "",
    tag: c?.tag ?? "",
    route: c?.route ?? "",
    include_free: c?.include_free ?? false,
  };
}

export function budgetBody(d: BudgetDraft): { body: BudgetConfig } | { error: string } {
  if (!/^[A-Za-z0-9_.:/-]{1,128}$/.test(d.name)) return { error: "A name is 1-128 of a-z, 0-9, - _ . : /" };
  const limit = Number(d.limit_usd);
  if (!d.limit_usd.trim() || !Number.isFinite(limit) || limit <= 0) return { error: "The limit is an amount of USD above 0" };
  const thresholds = d.thresholds
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "")
    .map(Number);
  if (thresholds.some((t) => !Number.isInteger(t) || t < 1 || t > 1000)) return { error: "Thresholds are whole percentages from 1 to 1000" };
  const body: BudgetConfig = { limit_usd: d.limit_usd.trim(), period: d.period, action: d.action, thresholds, include_free: d.include_free };
  for (const k of ["agent", "model", "tag", "route"] as const) {
    const v = d[k].trim();
    if (v) body[k] = v;
  }
  return { body };
}
