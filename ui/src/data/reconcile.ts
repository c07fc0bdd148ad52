// Reconciliation and price gaps on the Costs screen: the queries (under the `costs` key, so a
// `costs` feed event — a new or removed reconciliation, a re-pricing — and new calls reload
// them), the import form's body, and the pure helpers the panels draw with: the drift chart's
// geometry (numbers only for the geometry: money stays a decimal string everywhere else),
// signed amounts and percentages, and error messages to show beside a form.
import { ok, type Api } from "../api/client";
import { ApiError, describeError } from "../backend/apiError";
import type { components } from "../generated/api";
import { formatUsd } from "./costs";

export type BillFormat = components["schemas"]["BillFormat"];
export type ImportBody = components["schemas"]["ImportBody"];
export type Reconciliation = components["schemas"]["Reconciliation"];
export type ReconciliationSummary = components["schemas"]["ReconciliationSummary"];
export type ReconcileDay = components["schemas"]["ReconcileDay"];
export type ReconcileLine = components["schemas"]["ReconcileLine"];
export type PriceGap = components["schemas"]["PriceGap"];
export type RepriceRequest = components["schemas"]["RepriceRequest"];
export type RepriceReport = components["schemas"]["RepriceReport"];

/** Reconciliations listed at most (newest first). */
export const RECONCILIATIONS_SHOWN = 50;

export const BILL_FORMATS: ReadonlyArray<{ id: BillFormat | "auto"; label: string }> = [
  { id: "auto", label: "Detect from the header" },
  { id: "openai", label: "OpenAI cost export" },
  { id: "anthropic", label: "Anthropic cost report" },
  { id: "generic", label: "Generic (date, model, cost_usd)" },
];

export const reconcileKeys = {
  all: ["costs", "reconciliations"] as const,
  list: ["costs", "reconciliations", "list", RECONCILIATIONS_SHOWN] as const,
  one: (id: string) => ["costs", "reconciliations", "one", id] as const,
  priceGaps: ["costs", "price-gaps"] as const,
};

export function reconciliationsQuery(api: Api) {
  return {
    queryKey: reconcileKeys.list,
    queryFn: ({ signal }: { signal: AbortSignal }) =>
      ok(api.GET("/api/v1/reconciliations", { params: { query: { limit: RECONCILIATIONS_SHOWN } }, signal })),
  };
}

export function reconciliationQuery(api: Api, id: string) {
  return {
    queryKey: reconcileKeys.one(id),
    queryFn: ({ signal }: { signal: AbortSignal }) => ok(api.GET("/api/v1/reconciliations/{id}", { params: { path: { id } }, signal })),
  };
}

export function priceGapsQuery(api: Api) {
  return {
    queryKey: reconcileKeys.priceGaps,
    queryFn: ({ signal }: { signal: AbortSignal }) => ok(api.GET("/api/v1/costs/price-gaps", { signal })),
  };
}

/** The import form's fields besides the file. */
export type ImportDraft = { format: BillFormat | "auto"; providers: string; driftPct: string };

export const emptyImportDraft: ImportDraft = { format: "auto", providers: "", driftPct: "" };

/** "openai, azure,,openai" → ["openai", "azure"]: trimmed, blanks and repeats dropped. */
export function parseProviders(text: string): string[] {
  const out: string[] = [];
  for (const p of text.split(",")) {
    const t = p.trim();
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

/** The import's body from the file's text and name and the form; an error for what can be checked here. */
export function importBody(csv: string, fileName: string, d: ImportDraft): { body: ImportBody } | { error: string } {
  if (csv.trim() === "") return { error: "The file is empty." };
  const body: ImportBody = { csv };
  if (fileName) body.file_name = fileName;
  if (d.format !== "auto") body.format = d.format;
  const providers = parseProviders(d.providers);
  if (providers.length > 0) body.providers = providers;
  const drift = d.driftPct.trim();
  if (drift !== "") {
    const n = Number(drift);
    if (!Number.isFinite(n) || n < 0 || n > 100) return { error: "The drift threshold is a percentage from 0 to 100." };
    body.drift_pct = n;
  }
  return { body };
}

/** What an error reads as beside a form: the node's message verbatim, a missing scope said so. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError && err.code === "insufficient_scope") return `This token may not do that (it needs a broader scope): ${err.message}`;
  return describeError(err);
}

/** The error's stable code, when the node gave one. */
export function errorCode(err: unknown): string | null {
  return err instanceof ApiError ? err.code : null;
}

function isNegative(amount: string): boolean {
  return amount.trim().startsWith("-");
}

function isZero(amount: string): boolean {
  return /^[-+]?0*(\.0*)?$/.test(amount.trim());
}

/** A difference with its sign: "+$0.0100", "−$1.00", "$0". */
export function formatSignedUsd(amount: string): string {
  if (isZero(amount)) return "$0";
  const a = amount.trim();
  return isNegative(a) ? `−${formatUsd(a.slice(1))}` : `+${formatUsd(a.replace(/^\+/, ""))}`;
}

/** A difference's share (of the larger side, always ≥ 0 from the node) signed like the difference; "—" without one. */
export function formatDiffPct(pct: number | null | undefined, diff: string): string {
  if (pct === null || pct === undefined || !Number.isFinite(pct)) return "—";
  if (pct === 0 || isZero(diff)) return "0%";
  const text = `${(Math.round(Math.abs(pct) * 100) / 100).toString()}%`;
  return isNegative(diff) ? `−${text}` : `+${text}`;
}

/** A line's model: charges without one read "(no model)". */
export function modelLabel(model: string): string {
  return model === "" ? "(no model)" : model;
}

/** A gap's model: "-" when the ledger has none. */
export function gapModelLabel(model: string): string {
  return model === "" ? "-" : model;
}

/** "2026-03-01" or "2026-03-01 → 2026-03-05". */
export function dayRange(first: string, last: string): string {
  return first === last ? first : `${first} → ${last}`;
}

/** An RFC 3339 instant's UTC day ("2026-03-01"); the text itself when it does not parse. */
export function utcDay(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().slice(0, 10);
}

/** What a reconciliation's name is: its file name, else its id. */
export function reconciliationName(r: Pick<ReconciliationSummary, "file_name" | "id">): string {
  return r.file_name ?? r.id;
}

/** The drift chart's size and margins (SVG user units). */
export const CHART = { width: 720, height: 220, left: 72, right: 12, top: 26, bottom: 34 } as const;

export type ChartBar = { x: number; y: number; w: number; h: number };
export type ChartGroup = {
  day: ReconcileDay;
  /** The group's slot: left edge and width. */
  x: number;
  w: number;
  billed: ChartBar;
  ledger: ChartBar;
  /** The day's label under the axis, or null where labels would crowd. */
  label: string | null;
};
export type ChartTick = { value: number; y: number; label: string };
export type DriftChart = {
  width: number;
  height: number;
  /** The plot area: bars stand on `baseline`. */
  plot: { x: number; y: number; w: number; h: number };
  baseline: number;
  groups: ChartGroup[];
  ticks: ChartTick[];
};

/** The smallest 1, 2 or 5 × 10ⁿ step that covers `max` in about `count` steps. */
export function niceStep(max: number, count = 4): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const m = raw / pow;
  const f = m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10;
  return Number((f * pow).toPrecision(12));
}

/** An axis tick in USD with as many decimals as the step needs: "$0", "$0.5", "$1.5"; "$0.002". */
export function tickLabel(value: number, step: number): string {
  const decimals = step > 0 && Number.isFinite(step) ? Math.min(12, Math.max(0, -Math.floor(Math.log10(step) + 1e-9))) : 0;
  if (value === 0) return "$0";
  return `$${value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals })}`;
}

/** Amounts to chart heights (the only place money becomes a float); credits stand at 0. */
function amount(text: string): number {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * The drift chart's geometry from a reconciliation's days: a slot per day (in the node's
 * order: oldest first) with a billed and a ledger bar side by side, a y axis of round USD
 * ticks from 0 to above the largest amount, and day labels thinned to fit about 12.
 */
export function driftChart(days: ReadonlyArray<ReconcileDay>, size: { width: number; height: number } = CHART): DriftChart {
  const plot = { x: CHART.left, y: CHART.top, w: size.width - CHART.left - CHART.right, h: size.height - CHART.top - CHART.bottom };
  const baseline = plot.y + plot.h;
  const max = Math.max(0, ...days.map((d) => Math.max(amount(d.billed), amount(d.ledger))));
  const step = niceStep(max);
  const top = max > 0 ? step * Math.ceil(max / step - 1e-9) : step;
  const ticks: ChartTick[] = [];
  for (let i = 0; i * step <= top + step * 1e-9; i++) {
    const value = Number((i * step).toPrecision(12));
    ticks.push({ value, y: baseline - (value / top) * plot.h, label: tickLabel(value, step) });
  }
  const n = days.length;
  const slot = n > 0 ? plot.w / n : 0;
  const every = Math.max(1, Math.ceil(n / 12));
  const groups = days.map((day, i) => {
    const x = plot.x + i * slot;
    const pad = slot * 0.15;
    const bw = (slot - 2 * pad) / 2;
    const bar = (v: number, left: number): ChartBar => {
      const h = (v / top) * plot.h;
      return { x: left, y: baseline - h, w: bw, h };
    };
    return {
      day,
      x,
      w: slot,
      billed: bar(amount(day.billed), x + pad),
      ledger: bar(amount(day.ledger), x + pad + bw),
      label: i % every === 0 ? day.day.slice(5) : null,
    };
  });
  return { width: size.width, height: size.height, plot, baseline, groups, ticks };
}

/** The chart in words (its aria-label): the span, the totals and which days drifted. */
export function chartSummary(r: Pick<Reconciliation, "days" | "billed" | "ledger" | "drift_pct">): string {
  const days = r.days;
  const first = days[0]?.day;
  const last = days.at(-1)?.day;
  if (first === undefined || last === undefined) return "No billed days.";
  const drifted = days.filter((d) => d.drift).map((d) => d.day);
  const span = `${String(days.length)} day${days.length === 1 ? "" : "s"}, ${dayRange(first, last)}`;
  const totals = `billed ${formatUsd(r.billed)}, ledger ${formatUsd(r.ledger)}`;
  const drift =
    drifted.length === 0
      ? `no day drifted more than ${String(r.drift_pct)}%`
      : `${String(drifted.length)} day${drifted.length === 1 ? "" : "s"} drifted more than ${String(r.drift_pct)}%: ${drifted.join(", ")}`;
  return `Billed against ledger per day over ${span}: ${totals}; ${drift}.`;
}

