// Health: the node's overall status, each dependency it checks, and the history of status
// changes, each openable in a drawer (`#/health/transitions/<id>`, a deep link). Nothing
// polls: a `health` event on the feed or a reconnection marks these queries stale.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useLocation, useRoute } from "wouter";
import { useApi } from "../api/context";
import { DataTable, type Column } from "../components/DataTable";
import { Drawer } from "../components/Drawer";
import { Icon } from "../components/Icon";
import { JsonView } from "../components/JsonView";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { StatusBadge } from "../components/StatusBadge";
import { useNow } from "../data/useNow";
import { healthQuery } from "../data/queries";
import { allTransitions, transitionPagesQuery } from "../data/transitions";
import { formatDuration, formatRelative, formatTimestamp } from "../format";
import type { DependencyHealth, HealthStatus, HealthTransition } from "../generated/api";
import { HEALTH_STATUSES, healthCounts } from "../node/health";
import { pathFor } from "../routes";

const severity = (s: HealthStatus) => HEALTH_STATUSES.indexOf(s);

function dependencyColumns(now: number): Column<DependencyHealth>[] {
  return [
    { id: "name", header: "Dependency", cell: (d) => <span className="mono strong">{d.name}</span>, sortValue: (d) => d.name },
    { id: "status", header: "Status", cell: (d) => <StatusBadge status={d.status} />, sortValue: (d) => severity(d.status) },
    {
      id: "latency",
      header: "Response time",
      numeric: true,
      cell: (d) => `${d.response_time_ms.toFixed(d.response_time_ms < 10 ? 1 : 0)} ms`,
      sortValue: (d) => d.response_time_ms,
    },
    {
      id: "checked",
      header: "Last check",
      cell: (d) => <span title={formatTimestamp(d.last_check)}>{formatRelative(d.last_check, now)}</span>,
      sortValue: (d) => Date.parse(d.last_check),
    },
    { id: "message", header: "Message", cell: (d) => d.message ?? <span className="muted">—</span> },
  ];
}

function transitionColumns(now: number): Column<HealthTransition>[] {
  return [
    {
      id: "at",
      header: "When",
      cell: (t) => <span title={formatTimestamp(t.at)}>{formatRelative(t.at, now)}</span>,
      sortValue: (t) => Date.parse(t.at),
    },
    { id: "dependency", header: "Dependency", cell: (t) => <span className="mono strong">{t.dependency}</span>, sortValue: (t) => t.dependency },
    {
      id: "change",
      header: "Change",
      sortValue: (t) => severity(t.to),
      cell: (t) =>
        t.from ? (
          <>
            <StatusBadge status={t.from} /> → <StatusBadge status={t.to} />
          </>
        ) : (
          <>
            <span className="muted">first check:</span> <StatusBadge status={t.to} />
          </>
        ),
    },
    { id: "message", header: "Message", cell: (t) => t.message ?? <span className="muted">—</span> },
  ];
}

export function Health() {
  const api = useApi();
  const now = useNow(1000);
  const health = useQuery(healthQuery(api));
  const history = useInfiniteQuery(transitionPagesQuery(api));
  const transitions = allTransitions(history.data?.pages);
  const [, navigate] = useLocation();
  const [drawerOpen, params] = useRoute<{ id: string }>("/transitions/:id");
  const selected = drawerOpen ? transitions?.find((t) => String(t.id) === params.id) : undefined;
  const report = health.data;
  const counts = report ? healthCounts(report) : null;
  const loading = health.isFetching || history.isFetching;

  return (
    <div className="screen" data-testid="screen-health">
      <Panel
        title="Overall"
        actions={
          <div className="panel-actions">
            <span className="muted small">
              live: changes arrive from the node
              {health.dataUpdatedAt ? ` · checked ${formatRelative(new Date(health.dataUpdatedAt).toISOString(), now)}` : ""}
            </span>
            <button
              type="button"
              className="btn btn-ghost"
              onClick={() => {
                void health.refetch();
                void history.refetch();
              }}
              disabled={loading}
              data-testid="health-refresh"
            >
              <Icon name="refresh" className={`icon${loading ? " spin" : ""}`} />
              Refresh
            </button>
          </div>
        }
      >
        {health.error ? <ErrorNote error={health.error} onRetry={() => void health.refetch()} /> : null}
        {report && counts ? (
          <div className="overall">
            <span data-testid="health-overall" data-status={report.status}>
              <StatusBadge status={report.status} large />
            </span>
            <div className="overall-facts">
              <span>
                <strong>{counts.healthy}</strong> healthy
              </span>
              <span>
                <strong>{counts.degraded}</strong> degraded
              </span>
              <span>
                <strong>{counts.unhealthy}</strong> unhealthy
              </span>
              <span className="muted">
                v{report.version} · up {formatDuration(report.uptime_seconds)}
              </span>
            </div>
          </div>
        ) : !health.error ? (
          <Skeleton className="skeleton-wide" />
        ) : null}
      </Panel>

      <Panel title="Dependencies">
        <DataTable
          testId="health-dependencies"
          columns={dependencyColumns(now)}
          rows={report?.dependencies}
          rowKey={(d) => d.name}
          rowAttrs={(d) => ({ "data-testid": `health-row-${d.name}`, "data-status": d.status })}
          initialSort={{ column: "status", dir: "desc" }}
          empty="This node reports no dependencies."
        />
      </Panel>

      <Panel title="History">
        <DataTable
          testId="health-history"
          columns={transitionColumns(now)}
          rows={transitions}
          rowKey={(t) => String(t.id)}
          rowAttrs={(t) => ({ "data-testid": "health-transition", "data-dependency": t.dependency, "data-to": t.to })}
          error={history.error}
          onRetry={() => void history.refetch()}
          filterText={(t) => `${t.dependency} ${t.from ?? ""} ${t.to} ${t.message ?? ""}`}
          filterLabel="Filter by dependency, status or message"
          pageSize={20}
          empty="No status changes recorded yet."
          onRowClick={(t) => navigate(`/transitions/${t.id}`)}
          more={{ hasMore: history.hasNextPage, loading: history.isFetchingNextPage, load: () => void history.fetchNextPage() }}
        />
      </Panel>

      <Drawer open={drawerOpen} title="Status change" onClose={() => navigate(`~${pathFor("health")}`)} testId="transition-drawer">
        {selected ? (
          <>
            <dl className="kv">
              <dt>When</dt>
              <dd>{formatTimestamp(selected.at)}</dd>
              <dt>Dependency</dt>
              <dd className="mono">{selected.dependency}</dd>
              <dt>Change</dt>
              <dd>
                {selected.from ? <StatusBadge status={selected.from} /> : <span className="muted">first check</span>} →{" "}
                <StatusBadge status={selected.to} />
              </dd>
              <dt>Message</dt>
              <dd>{selected.message ?? <span className="muted">—</span>}</dd>
            </dl>
            <JsonView value={selected} />
          </>
        ) : transitions ? (
          <p className="muted">This change is not among the loaded history (it may have been pruned).</p>
        ) : (
          <Skeleton className="skeleton-wide" />
        )}
      </Drawer>
    </div>
  );
}
