// Health: the node's overall status, each dependency it checks, and the history of status
// changes. Nothing polls: the screen refetches on every (re)connection and at once when the
// node announces a status change on the feed (`health` topic), and on Refresh.
import { useCallback } from "react";
import { useBackend } from "../backend/context";
import { Icon } from "../components/Icon";
import { ErrorNote, Panel, Skeleton, TableStateRow } from "../components/Panel";
import { StatusBadge } from "../components/StatusBadge";
import { useNow } from "../data/useNow";
import { useResource } from "../data/useResource";
import { useFeed } from "../feed/FeedProvider";
import { formatDuration, formatRelative, formatTimestamp } from "../format";
import { fetchHealth, fetchTransitions, healthCounts } from "../node/health";

/** Transitions shown in the history. */
const HISTORY = 20;

export function Health() {
  const backend = useBackend();
  const feed = useFeed();
  const now = useNow(1000);
  const load = useCallback(() => fetchHealth(backend), [backend]);
  const loadHistory = useCallback(() => fetchTransitions(backend, HISTORY), [backend]);
  const key = `${feed.connections}:${feed.lastHealth?.seq ?? ""}`;
  const health = useResource(load, key);
  const history = useResource(loadHistory, key);
  const report = health.data;
  const counts = report ? healthCounts(report) : null;

  return (
    <div className="screen" data-testid="screen-health">
      <Panel
        title="Overall"
        actions={
          <div className="panel-actions">
            <span className="muted small">
              live: changes arrive from the node
              {health.loadedAt !== null ? ` · checked ${formatRelative(new Date(health.loadedAt).toISOString(), now)}` : ""}
            </span>
            <button
              type="button"
              className="btn btn-ghost"
              onClick={() => {
                health.reload();
                history.reload();
              }}
              disabled={health.loading}
              data-testid="health-refresh"
            >
              <Icon name="refresh" className={`icon${health.loading ? " spin" : ""}`} />
              Refresh
            </button>
          </div>
        }
      >
        {health.error ? <ErrorNote error={health.error} onRetry={health.reload} /> : null}
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
        <table className="table">
          <thead>
            <tr>
              <th>Dependency</th>
              <th>Status</th>
              <th className="num">Response time</th>
              <th>Last check</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {report?.dependencies.map((d) => (
              <tr key={d.name} data-testid={`health-row-${d.name}`} data-status={d.status}>
                <td className="mono strong">{d.name}</td>
                <td>
                  <StatusBadge status={d.status} />
                </td>
                <td className="num mono">{d.response_time_ms.toFixed(d.response_time_ms < 10 ? 1 : 0)} ms</td>
                <td title={formatTimestamp(d.last_check)}>{formatRelative(d.last_check, now)}</td>
                <td className={d.message ? "" : "muted"}>{d.message ?? "—"}</td>
              </tr>
            ))}
            {report && report.dependencies.length === 0 ? (
              <TableStateRow cols={5}>This node reports no dependencies.</TableStateRow>
            ) : null}
            {!report && !health.error ? (
              <TableStateRow cols={5} />
            ) : null}
          </tbody>
        </table>
      </Panel>

      <Panel title="History">
        {history.error ? <ErrorNote error={history.error} onRetry={history.reload} /> : null}
        <table className="table" data-testid="health-history">
          <thead>
            <tr>
              <th>When</th>
              <th>Dependency</th>
              <th>Change</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {history.data?.items.map((t) => (
              <tr key={t.id} data-testid="health-transition" data-dependency={t.dependency} data-to={t.to}>
                <td title={formatTimestamp(t.at)}>{formatRelative(t.at, now)}</td>
                <td className="mono strong">{t.dependency}</td>
                <td>
                  {t.from ? (
                    <>
                      <StatusBadge status={t.from} /> → <StatusBadge status={t.to} />
                    </>
                  ) : (
                    <>
                      <span className="muted">first check:</span> <StatusBadge status={t.to} />
                    </>
                  )}
                </td>
                <td className={t.message ? "" : "muted"}>{t.message ?? "—"}</td>
              </tr>
            ))}
            {history.data && history.data.items.length === 0 ? (
              <TableStateRow cols={4}>No status changes recorded yet.</TableStateRow>
            ) : null}
            {!history.data && !history.error ? (
              <TableStateRow cols={4} />
            ) : null}
          </tbody>
        </table>
      </Panel>
    </div>
  );
}
