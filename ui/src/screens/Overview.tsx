// Overview: who this node is, whether it is healthy, and what it is doing right now (live).
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link } from "wouter";
import { useApi } from "../api/context";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { Sparkline } from "../components/Sparkline";
import { StatusBadge } from "../components/StatusBadge";
import { useNow } from "../data/useNow";
import { healthQuery } from "../data/queries";
import { useFeed } from "../feed/FeedProvider";
import { SPARK_CAPACITY } from "../feed/feedState";
import { formatBytes, formatDuration, formatInt, formatRate, formatRelative, formatTimestamp } from "../format";
import { healthCounts } from "../node/health";
import { useNodeInfo } from "../node/useNodeInfo";
import { pathFor } from "../routes";

function peak(values: readonly (number | null)[]): number | null {
  const nums = values.filter((v): v is number => v !== null);
  return nums.length > 0 ? Math.max(...nums) : null;
}

function formatMiB(v: number | null): string {
  return v === null ? "—" : formatBytes(v * 1024 * 1024);
}

function Stat({ label, children, sub, long = false }: { label: string; children: ReactNode; sub?: ReactNode; long?: boolean }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className={`stat-value${long ? " stat-value-long" : ""}`}>{children}</div>
      {sub !== undefined ? <div className="stat-sub">{sub}</div> : null}
    </div>
  );
}

export function Overview() {
  const api = useApi();
  const feed = useFeed();
  const info = useNodeInfo();
  const now = useNow(1000);
  // No polling: the feed's health events and reconnections mark it stale.
  const health = useQuery(healthQuery(api));
  const m = feed.metrics;
  const lastPoint = feed.points.at(-1);
  const rates = feed.points.map((p) => p.requestsPerSec);
  const rss = feed.points.map((p) => p.rssMiB);
  const waiting = <span className="muted waiting">waiting for the feed…</span>;
  // Live numbers stop moving while the feed is down; say so rather than show them as current.
  const stale = feed.conn !== "connected" && m !== null;

  return (
    <div className="screen" data-testid="screen-overview">
      {stale ? (
        <div className="stale-note muted small" data-testid="live-stale">
          Live data paused at #{feed.lastSeq ?? "—"} while the connection is restored.
        </div>
      ) : null}
      <div className={`stats${stale ? " stale" : ""}`}>
        <Stat label="HTTP requests" sub={m ? <>{formatRate(lastPoint?.requestsPerSec ?? null)} req/s · {m.http_requests_in_flight} in flight</> : waiting}>
          {m ? <span data-testid="live-requests">{m.http_requests_total}</span> : <Skeleton />}
        </Stat>
        <Stat
          label="Uptime"
          sub={m ? <><span data-testid="live-uptime">{m.uptime_seconds}</span> s since start</> : waiting}
        >
          {m ? formatDuration(m.uptime_seconds) : <Skeleton />}
        </Stat>
        <Stat
          label="Live feed"
          sub={
            feed.lastSeq !== null ? (
              <>
                seq <span className="mono" data-testid="live-seq">{feed.lastSeq}</span>
                {m ? <> · {formatInt(m.feed_subscribers)} subscriber{m.feed_subscribers === 1 ? "" : "s"}</> : null}
              </>
            ) : (
              waiting
            )
          }
        >
          {m ? <>{formatInt(m.events_published_total)} <span className="stat-unit">events</span></> : <Skeleton />}
        </Stat>
        <Stat
          label="Health"
          sub={
            health.data ? (
              <Link className="link" href={pathFor("health")}>
                {(() => {
                  const c = healthCounts(health.data);
                  const n = health.data.dependencies.length;
                  return c.healthy === n ? `all ${n} dependencies healthy` : `${c.degraded} degraded · ${c.unhealthy} unhealthy of ${n}`;
                })()}
              </Link>
            ) : health.error ? (
              <span className="muted">unavailable right now</span>
            ) : (
              waiting
            )
          }
        >
          {health.data ? (
            <StatusBadge status={health.data.status} large />
          ) : health.error ? (
            <span className="muted">—</span>
          ) : (
            <Skeleton />
          )}
        </Stat>
      </div>

      <div className={`charts${stale ? " stale" : ""}`}>
        <Panel
          title="Requests per second"
          actions={<span className="chart-now mono">{formatRate(lastPoint?.requestsPerSec ?? null)}</span>}
        >
          <Sparkline values={rates} capacity={SPARK_CAPACITY} baseline="zero" tone="accent" label="Requests per second, last 60 samples" />
          <div className="chart-foot muted small">
            last {SPARK_CAPACITY} s · peak {formatRate(peak(rates))} req/s
          </div>
        </Panel>
        <Panel
          title="Resident memory"
          actions={<span className="chart-now mono">{m ? formatBytes(m.rss_bytes) : "—"}</span>}
        >
          <Sparkline values={rss} capacity={SPARK_CAPACITY} baseline="auto" tone="violet" label="Resident memory in MiB, last 60 samples" />
          <div className="chart-foot muted small">
            last {SPARK_CAPACITY} s · peak {formatMiB(peak(rss))} · database {m ? formatBytes(m.db_size_bytes) : "—"}
          </div>
        </Panel>
      </div>

      <Panel title="Node">
        {info.error && !info.data ? <ErrorNote error={info.error} onRetry={() => void info.refetch()} /> : null}
        {info.data ? (
          <dl className="kv">
            <dt>Version</dt>
            <dd data-testid="node-version" className="mono">{info.data.version}</dd>
            <dt>Node ID</dt>
            <dd data-testid="node-id" className="mono">{info.data.node_id}</dd>
            <dt>Data directory</dt>
            <dd className="mono">{info.data.data_dir}</dd>
            <dt>Database</dt>
            <dd>
              <span className="mono">{info.data.database_path}</span>
              <span className="muted"> · schema v{info.data.schema_version}</span>
            </dd>
            <dt>Started</dt>
            <dd title={formatTimestamp(info.data.started_at)}>
              {formatRelative(info.data.started_at, now)}
              <span className="muted"> · up {formatDuration(m?.uptime_seconds ?? info.data.uptime_seconds)}</span>
            </dd>
            <dt>Configuration</dt>
            <dd>
              <span className={`pill pill-${info.data.config.state}`}>{info.data.config.state}</span>{" "}
              <span className="mono muted">{info.data.config.path ?? "defaults (no file)"}</span>
            </dd>
          </dl>
        ) : !info.error ? (
          <div className="kv-skeleton">
            <Skeleton />
            <Skeleton />
            <Skeleton />
          </div>
        ) : null}
      </Panel>
    </div>
  );
}
