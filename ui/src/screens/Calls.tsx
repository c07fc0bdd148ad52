// Calls: every LLM call (gateway and agents) from the usage ledger, live from the feed: a
// `calls` event puts the row on top. A row opens its detail (`#/calls/<id>`, a deep link):
// tokens by kind, cost, latency, and each hop of the fallback chain with its reason.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useLocation, useRoute } from "wouter";
import { useApi } from "../api/context";
import { DataTable, type Column } from "../components/DataTable";
import { Drawer } from "../components/Drawer";
import { JsonView } from "../components/JsonView";
import { Panel, Skeleton } from "../components/Panel";
import { allCalls, callPagesQuery, callQuery } from "../data/calls";
import { useNow } from "../data/useNow";
import { formatInt, formatRelative, formatTimestamp } from "../format";
import type { CallRecord } from "../generated/api";
import { pathFor } from "../routes";

function cost(c: CallRecord): string {
  if (c.cost === undefined || c.cost === null) return "unknown";
  return `$${c.cost}`;
}

function ms(us: number): string {
  return us >= 10_000 ? `${formatInt(Math.round(us / 1000))} ms` : `${(us / 1000).toFixed(1)} ms`;
}

function tokens(c: CallRecord): string {
  const u = c.usage;
  const est = u.estimated ? "~" : "";
  return `${est}${formatInt(u.input + u.cached_input + u.cache_write)} → ${est}${formatInt(u.output + u.reasoning)}`;
}

function columns(now: number): Column<CallRecord>[] {
  return [
    {
      id: "started",
      header: "When",
      cell: (c) => <span title={formatTimestamp(c.started_at)}>{formatRelative(c.started_at, now)}</span>,
      sortValue: (c) => Date.parse(c.started_at),
    },
    { id: "client", header: "Client", cell: (c) => <span className="mono">{c.client}</span>, sortValue: (c) => c.client },
    { id: "route", header: "Route", cell: (c) => c.route ?? <span className="muted">—</span>, sortValue: (c) => c.route ?? "" },
    {
      id: "model",
      header: "Provider / model",
      cell: (c) => (c.provider ? <span className="mono">{`${c.provider}/${c.model ?? ""}`}</span> : <span className="muted">—</span>),
      sortValue: (c) => `${c.provider ?? ""}/${c.model ?? ""}`,
    },
    {
      id: "outcome",
      header: "Outcome",
      cell: (c) => (
        <span className={`badge badge-${c.outcome === "ok" ? "healthy" : c.outcome === "error" ? "unhealthy" : "degraded"}`}>
          {c.outcome}
          {c.error_code ? ` · ${c.error_code}` : ""}
        </span>
      ),
      sortValue: (c) => c.outcome,
    },
    { id: "tokens", header: "Tokens in → out", numeric: true, cell: tokens, sortValue: (c) => c.usage.input + c.usage.output },
    { id: "cost", header: "Cost", numeric: true, cell: (c) => (c.cache_hit ? `${cost(c)} (cache)` : cost(c)), sortValue: (c) => Number(c.cost ?? -1) },
    { id: "latency", header: "Latency", numeric: true, cell: (c) => ms(c.latency_us), sortValue: (c) => c.latency_us },
    { id: "hops", header: "Hops", numeric: true, cell: (c) => c.hops.length, sortValue: (c) => c.hops.length },
  ];
}

function CallDetail({ id }: { id: string }) {
  const api = useApi();
  const call = useQuery(callQuery(api, id));
  if (call.error) return <p className="muted">This call is not in the ledger.</p>;
  const c = call.data;
  if (!c) return <Skeleton className="skeleton-wide" />;
  const u = c.usage;
  return (
    <>
      <dl className="kv" data-testid="call-detail">
        <dt>Started</dt>
        <dd>{formatTimestamp(c.started_at)}</dd>
        <dt>Client</dt>
        <dd className="mono">{c.client}</dd>
        <dt>Asked for</dt>
        <dd className="mono">{c.requested_model}</dd>
        <dt>Answered by</dt>
        <dd className="mono">{c.provider ? `${c.provider}/${c.model ?? ""}` : "—"}</dd>
        <dt>Outcome</dt>
        <dd data-testid="call-outcome">
          {c.outcome}
          {c.error_code ? ` (${c.error_code})` : ""}
          {c.error_message ? `: ${c.error_message}` : ""}
        </dd>
        <dt>Tokens{u.estimated ? " (estimated)" : ""}</dt>
        <dd data-testid="call-tokens">
          input {formatInt(u.input)} · cached {formatInt(u.cached_input)} · cache write {formatInt(u.cache_write)} · output{" "}
          {formatInt(u.output)} · reasoning {formatInt(u.reasoning)}
        </dd>
        <dt>Cost</dt>
        <dd data-testid="call-cost">
          {cost(c)}
          {c.price_source ? <span className="muted"> ({c.price_source} price)</span> : null}
          {c.cache_hit ? <span className="muted"> · cache hit, saved ${c.saved_cost ?? "?"}</span> : null}
        </dd>
        <dt>Latency</dt>
        <dd>
          {ms(c.latency_us)}
          {c.ttft_us !== undefined && c.ttft_us !== null ? <span className="muted"> · first token {ms(c.ttft_us)}</span> : null}
        </dd>
      </dl>
      <h3 className="drawer-sub">Hops</h3>
      <ol className="hops" data-testid="call-hops">
        {c.hops.map((h, i) => (
          <li key={i} data-outcome={h.outcome}>
            <span className="mono">{`${h.provider}/${h.model}`}</span> — {h.outcome}
            {h.attempts > 1 ? `, ${String(h.attempts)} attempts` : ""}
            {h.error_code ? ` · ${h.error_code}` : ""}
            {h.reason ? <div className="muted small">{h.reason}</div> : null}
          </li>
        ))}
      </ol>
      <JsonView value={c} />
    </>
  );
}

export function Calls() {
  const api = useApi();
  const now = useNow(1000);
  const pages = useInfiniteQuery(callPagesQuery(api));
  const calls = allCalls(pages.data?.pages);
  const [, navigate] = useLocation();
  const [open, params] = useRoute<{ id: string }>("/:id");
  return (
    <div className="screen" data-testid="screen-calls">
      <Panel title="Calls" actions={<span className="muted small">live: new calls arrive from the node</span>}>
        <DataTable
          testId="calls-table"
          columns={columns(now)}
          rows={calls}
          rowKey={(c) => c.id}
          rowAttrs={(c) => ({ "data-testid": "call-row", "data-outcome": c.outcome, "data-id": c.id })}
          error={pages.error}
          onRetry={() => void pages.refetch()}
          filterText={(c) => `${c.client} ${c.route ?? ""} ${c.provider ?? ""}/${c.model ?? ""} ${c.outcome} ${c.error_code ?? ""}`}
          filterLabel="Filter by client, route, model or outcome"
          pageSize={25}
          empty="No LLM calls yet. Point an OpenAI or Anthropic SDK at this node's /v1 to make one."
          onRowClick={(c) => navigate(`/${c.id}`)}
          more={{ hasMore: pages.hasNextPage, loading: pages.isFetchingNextPage, load: () => void pages.fetchNextPage() }}
        />
      </Panel>
      <Drawer open={open} title="Call" onClose={() => navigate(`~${pathFor("calls")}`)} testId="call-drawer">
        {open ? <CallDetail id={params.id} /> : null}
      </Drawer>
    </div>
  );
}
