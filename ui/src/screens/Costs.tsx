// Costs (`#/costs`): what the ledger adds up to over a period in the configured time zone:
// totals (every token kind; calls of unknown cost shown apart, never as $0), cache savings,
// the estimated share, cost per successful task; spend over time; a breakdown by agent,
// model, provider, route, client, tag or node; the period's calls with CSV / JSONL export;
// billing exports reconciled with the ledger, and the calls still without a price.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { useBackend } from "../backend/context";
import { DataTable, type Column } from "../components/DataTable";
import { BudgetsPanel } from "./Budgets";
import { PriceGapsPanel, ReconciliationPanel } from "./Reconciliation";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import {
  bars,
  chartBucket,
  costBreakdownQuery,
  costSummaryQuery,
  DIMENSIONS,
  exportPath,
  formatUsd,
  PERIODS,
  share,
  type BreakdownRow,
  type CostFilters,
  type CostSummary,
  type Dimension,
  type NamedPeriod,
} from "../data/costs";
import { formatInt, formatTimestamp } from "../format";
import type { CallRecord } from "../generated/api";

function Stat({ label, value, sub, testId }: { label: string; value: string; sub?: string; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {sub !== undefined ? <div className="stat-sub">{sub}</div> : null}
    </div>
  );
}

function Totals({ s }: { s: CostSummary }) {
  const t = s.totals;
  const tokens = t.tokens.input + t.tokens.output + t.tokens.cached_input + t.tokens.cache_write + t.tokens.reasoning;
  const task = s.per_successful_task;
  return (
    <div className="stats" data-testid="cost-totals">
      <Stat
        label="Spend"
        value={formatUsd(t.cost)}
        sub={t.unknown_cost_calls > 0 ? `+ ${formatInt(t.unknown_cost_calls)} calls of unknown cost` : `exact: $${t.cost}`}
        testId="cost-total"
      />
      <Stat label="Calls" value={formatInt(t.calls)} sub={`${formatInt(t.ok)} ok · ${formatInt(t.errors)} errors · ${formatInt(t.cancelled)} cancelled`} />
      <Stat
        label="Tokens"
        value={formatInt(tokens)}
        sub={`${formatInt(t.tokens.input)} in · ${formatInt(t.tokens.output)} out · ${formatInt(t.tokens.cached_input)} cached · ${formatInt(t.tokens.cache_write)} cache write · ${formatInt(t.tokens.reasoning)} reasoning`}
      />
      <Stat
        label="Per successful task"
        value={task.per_task !== undefined && task.per_task !== null ? formatUsd(task.per_task) : "—"}
        sub={`${formatInt(task.tasks)} tasks · cache saved ${formatUsd(t.saved_cost)} over ${formatInt(t.cache_hits)} hits${
          s.estimated_calls_pct !== undefined && s.estimated_calls_pct !== null ? ` · ${String(s.estimated_calls_pct)}% estimated` : ""
        }`}
      />
    </div>
  );
}

function SpendChart({ rows, from, until, zone }: { rows: BreakdownRow[]; from: string; until: string; zone: string }) {
  const placed = bars(rows, from, until);
  if (placed.length === 0) return <p className="muted">No calls in this period.</p>;
  const fmt = new Intl.DateTimeFormat(undefined, { timeZone: zone, month: "short", day: "numeric", hour: "2-digit" });
  return (
    <svg className="cost-chart" viewBox="0 0 1000 160" preserveAspectRatio="none" role="img" aria-label="Spend over time" data-testid="cost-chart">
      {placed.map((b) => (
        <rect
          key={b.row.bucket_start ?? ""}
          className="cost-bar"
          x={b.x * 1000 + 1}
          width={Math.max(1, b.w * 1000 - 2)}
          y={150 - b.h * 140}
          height={Math.max(b.h * 140, 1)}
          data-testid="cost-bar"
        >
          <title>{`${b.row.bucket_start ? fmt.format(new Date(b.row.bucket_start)) : ""}: ${formatUsd(b.row.cost)} over ${String(b.row.calls)} calls`}</title>
        </rect>
      ))}
      <line x1="0" x2="1000" y1="150" y2="150" className="spark-axis" />
    </svg>
  );
}

function breakdownColumns(total: string, by: Dimension): Column<BreakdownRow>[] {
  const label = DIMENSIONS.find((d) => d.id === by)?.label ?? by;
  return [
    { id: "key", header: label, cell: (r) => (r.key ? <span className="mono">{r.key}</span> : <span className="muted">(none)</span>), sortValue: (r) => r.key ?? "" },
    { id: "calls", header: "Calls", numeric: true, cell: (r) => formatInt(r.calls), sortValue: (r) => r.calls },
    { id: "in", header: "In", numeric: true, cell: (r) => formatInt(r.tokens.input), sortValue: (r) => r.tokens.input },
    { id: "out", header: "Out", numeric: true, cell: (r) => formatInt(r.tokens.output), sortValue: (r) => r.tokens.output },
    { id: "cached", header: "Cached", numeric: true, cell: (r) => formatInt(r.tokens.cached_input), sortValue: (r) => r.tokens.cached_input },
    { id: "write", header: "Cache write", numeric: true, cell: (r) => formatInt(r.tokens.cache_write), sortValue: (r) => r.tokens.cache_write },
    { id: "reasoning", header: "Reasoning", numeric: true, cell: (r) => formatInt(r.tokens.reasoning), sortValue: (r) => r.tokens.reasoning },
    {
      id: "cost",
      header: "Cost",
      numeric: true,
      cell: (r) => (
        <span title={`$${r.cost}`}>
          {formatUsd(r.cost)}
          {r.unknown_cost_calls > 0 ? <span className="muted small"> +{r.unknown_cost_calls} unknown</span> : null}
        </span>
      ),
      sortValue: (r) => Number(r.cost),
    },
    { id: "share", header: "Share", numeric: true, cell: (r) => `${String(share(r.cost, total))}%`, sortValue: (r) => Number(r.cost) },
  ];
}

const callColumns: Column<CallRecord>[] = [
  { id: "started", header: "When", cell: (c) => formatTimestamp(c.started_at), sortValue: (c) => Date.parse(c.started_at) },
  { id: "client", header: "Client", cell: (c) => <span className="mono">{c.client}</span>, sortValue: (c) => c.client },
  { id: "model", header: "Model", cell: (c) => <span className="mono">{c.provider ? `${c.provider}/${c.model ?? ""}` : "—"}</span>, sortValue: (c) => `${c.provider ?? ""}/${c.model ?? ""}` },
  { id: "tags", header: "Tags", cell: (c) => <span className="mono small">{(c.tags ?? []).join(" ")}</span> },
  { id: "tokens", header: "Tokens", numeric: true, cell: (c) => formatInt(c.usage.input + c.usage.cached_input + c.usage.cache_write + c.usage.output + c.usage.reasoning) },
  {
    id: "cost",
    header: "Cost",
    numeric: true,
    cell: (c) => (c.cost === undefined || c.cost === null ? <span className="muted">unknown</span> : <span title={`$${c.cost}`}>{formatUsd(c.cost)}</span>),
    sortValue: (c) => (c.cost ? Number(c.cost) : null),
  },
];

/** `provider/model` or a bare model, as the calls list's filters. */
function modelFilter(model: string | undefined): { provider?: string; model?: string } {
  const m = model?.trim();
  if (!m) return {};
  const i = m.indexOf("/");
  return i < 0 ? { model: m } : { provider: m.slice(0, i), model: m.slice(i + 1) };
}

export function Costs() {
  const api = useApi();
  const backend = useBackend();
  const [period, setPeriod] = useState<NamedPeriod>("this_month");
  const [by, setBy] = useState<Dimension>("agent");
  const [draft, setDraft] = useState<CostFilters>({});
  const [filters, setFilters] = useState<CostFilters>({});
  const [exportError, setExportError] = useState<string | null>(null);
  const summary = useQuery(costSummaryQuery(api, period, filters));
  const chart = useQuery(costBreakdownQuery(api, period, filters, null, chartBucket(period)));
  const breakdown = useQuery(costBreakdownQuery(api, period, filters, by, "total"));
  const window = summary.data?.window;
  const calls = useQuery({
    queryKey: ["costs", "calls", window?.from, window?.until, filters] as const,
    enabled: window !== undefined,
    queryFn: ({ signal }) =>
      ok(
        api.GET("/api/v1/calls", {
          params: {
            query: {
              ...(window ? { since: window.from, until: window.until } : {}),
              limit: 200,
              ...(filters.agent ? { agent: filters.agent } : {}),
              ...(filters.tag ? { tag: filters.tag } : {}),
              ...modelFilter(filters.model),
            },
          },
          signal,
        }),
      ),
  });
  const apply = (e: { preventDefault: () => void }) => {
    e.preventDefault();
    setFilters(draft);
  };
  const download = async (format: "csv" | "jsonl") => {
    const res = await backend.fetch(new Request(`${backend.baseUrl}${exportPath(period, filters, format)}`));
    if (!res.ok) {
      setExportError(`The export failed (${String(res.status)} ${res.statusText}).`);
      return;
    }
    setExportError(null);
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `flightdeck-ledger-${period}.${format}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  return (
    <div className="screen" data-testid="screen-costs">
      <form className="filters small cost-controls" onSubmit={apply}>
        <select value={period} onChange={(e) => setPeriod(e.target.value as NamedPeriod)} aria-label="Period" data-testid="cost-period">
          {PERIODS.map((p) => (
            <option key={p.id} value={p.id}>
              {p.label}
            </option>
          ))}
        </select>
        {(["agent", "model", "tag"] as const).map((k) => (
          <input
            key={k}
            className="mono"
            placeholder={k === "model" ? "provider/model" : k}
            aria-label={`Filter by ${k}`}
            value={draft[k] ?? ""}
            onChange={(e) => setDraft({ ...draft, [k]: e.target.value })}
            data-testid={`cost-filter-${k}`}
          />
        ))}
        <button type="submit" className="btn btn-ghost small">
          Apply
        </button>
        {window ? (
          <span className="muted">
            {formatTimestamp(window.from)} → {formatTimestamp(window.until)} ({window.time_zone})
          </span>
        ) : null}
      </form>
      {summary.error ? (
        <ErrorNote error={summary.error} onRetry={() => void summary.refetch()} />
      ) : summary.data ? (
        <Totals s={summary.data} />
      ) : (
        <Skeleton className="skeleton-wide" />
      )}
      <BudgetsPanel />
      <Panel title="Spend over time">
        {chart.error ? (
          <ErrorNote error={chart.error} onRetry={() => void chart.refetch()} />
        ) : chart.data ? (
          <SpendChart rows={chart.data.rows} from={chart.data.window.from} until={chart.data.window.until} zone={chart.data.window.time_zone} />
        ) : (
          <Skeleton className="skeleton-wide" />
        )}
      </Panel>
      <Panel
        title="Breakdown"
        actions={
          <select value={by} onChange={(e) => setBy(e.target.value as Dimension)} aria-label="Group by" data-testid="cost-by">
            {DIMENSIONS.map((d) => (
              <option key={d.id} value={d.id}>
                by {d.label.toLowerCase()}
              </option>
            ))}
          </select>
        }
      >
        <DataTable
          columns={breakdownColumns(breakdown.data?.totals.cost ?? "0", by)}
          rows={breakdown.data?.rows}
          rowKey={(r) => r.key ?? ""}
          error={breakdown.error}
          onRetry={() => void breakdown.refetch()}
          initialSort={{ column: "cost", dir: "desc" }}
          empty="No calls in this period."
          testId="cost-breakdown"
        />
      </Panel>
      <Panel
        title="Ledger"
        actions={
          <span className="btn-row">
            <button type="button" className="btn" onClick={() => void download("csv")} data-testid="cost-export-csv">
              Export CSV
            </button>
            <button type="button" className="btn" onClick={() => void download("jsonl")}>
              Export JSONL
            </button>
          </span>
        }
      >
        {exportError ? <p className="error-text">{exportError}</p> : null}
        <DataTable
          columns={callColumns}
          rows={calls.data?.items}
          rowKey={(c) => c.id}
          error={calls.error}
          onRetry={() => void calls.refetch()}
          filterText={(c) => `${c.client} ${c.provider ?? ""}/${c.model ?? ""} ${(c.tags ?? []).join(" ")}`}
          filterLabel="Filter calls"
          empty="No calls in this period."
          testId="cost-ledger"
        />
        <p className="muted small">The newest 200 calls of the period; the export has all of them.</p>
      </Panel>
      <ReconciliationPanel />
      <PriceGapsPanel />
    </div>
  );
}
