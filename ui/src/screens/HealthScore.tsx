// The business health score on the Forecasts screen: 0-100 with its change since the previous
// point and its trend, and each KPI's contribution (a stacked bar of the points each adds and
// those lost, and a table with notes for KPIs without data). Without `[health_score.*]` in the
// config file it says how to configure one. Live: `forecasts` and `config` events reload it.
import { useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { useApi } from "../api/context";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { Sparkline } from "../components/Sparkline";
import {
  formatDs,
  formatInstant,
  formatNumber,
  formatValue,
  HEALTH_SCORE_EXAMPLE,
  healthScoreQuery,
  percentText,
  scoreBarLabel,
  scoreSegments,
  scoreTone,
  signedText,
  type HealthScore,
  type SeriesInfo,
} from "../data/forecasts";
import { formatRelative, formatTimestamp } from "../format";

function NotConfigured() {
  return (
    <div className="fc-score-empty" data-testid="health-score-none">
      <p className="muted">
        No health score is configured. It combines KPI series into one figure from 0 to 100: each KPI’s latest value against its target, weighted. Add a section per
        series to the config file:
      </p>
      <pre className="code-block fc-code">{HEALTH_SCORE_EXAMPLE}</pre>
      <p className="muted small">
        <span className="mono">target</span> counts as fully healthy; <span className="mono">weight</span> is its share against the others (default 1);{" "}
        <span className="mono">direction</span> is <span className="mono">"at_least"</span> (default) or <span className="mono">"at_most"</span>. The score updates
        when the file is saved.
      </p>
    </div>
  );
}

function Score({ hs, units, now }: { hs: HealthScore & { score: number }; units: Map<string, string>; now: number }) {
  const tone = scoreTone(hs.score);
  const seg = scoreSegments(hs.contributions);
  const trend = hs.trend.map((p) => p.score);
  const prev = hs.trend.at(-2);
  const change = hs.change;
  return (
    <>
      <div className="fc-score">
        <div className={`fc-score-value fc-score-${tone}`} data-testid="health-score-value" data-tone={tone}>
          {formatNumber(Math.round(hs.score * 10) / 10)}
          <span className="fc-score-max">/ 100</span>
        </div>
        <div className="fc-score-side">
          <div className={`fc-score-change${change !== null && change !== undefined ? (change > 0 ? " fc-up" : change < 0 ? " fc-down" : "") : ""}`} data-testid="health-score-change">
            {change !== null && change !== undefined ? (
              <>
                <span aria-hidden="true">{change > 0 ? "▲" : change < 0 ? "▼" : "■"}</span> {signedText(change)}
                <span className="muted small"> since {prev ? formatInstant(prev.ds) : "the previous point"}</span>
              </>
            ) : (
              <span className="muted small">no earlier point to compare</span>
            )}
          </div>
          {trend.length >= 2 ? (
            <div className="fc-score-spark" data-testid="health-score-trend">
              <Sparkline
                values={trend}
                capacity={trend.length}
                baseline="auto"
                tone="accent"
                label={`Score over the last ${String(trend.length)} points: ${hs.trend.map((p) => `${formatInstant(p.ds)} ${formatNumber(p.score)}`).join(", ")}`}
              />
            </div>
          ) : null}
          <div className="muted small" title={formatTimestamp(hs.computed_at)}>
            computed {formatRelative(hs.computed_at, now)}
          </div>
        </div>
      </div>
      <div className="fc-score-bar" role="img" aria-label={scoreBarLabel(hs.contributions)} data-testid="health-score-bar">
        {seg.parts.map((p) =>
          p.w > 0 ? (
            <div key={p.series} className={`fc-seg fc-seg-${String(p.index % 5)}`} style={{ left: `${String(p.x)}%`, width: `${String(p.w)}%` }} title={`${p.series}: ${formatNumber(p.w)} points`} />
          ) : null,
        )}
        {seg.lost.w > 0 ? <div className="fc-seg fc-seg-lost" style={{ left: `${String(seg.lost.x)}%`, width: `${String(seg.lost.w)}%` }} title={`${formatNumber(seg.lost.w)} points lost`} /> : null}
      </div>
      <table className="table small fc-contributions" data-testid="health-score-kpis">
        <thead>
          <tr>
            <th>KPI</th>
            <th className="num">Latest</th>
            <th className="num">Target</th>
            <th className="num">Attained</th>
            <th className="num">Points</th>
            <th className="num">Lost</th>
          </tr>
        </thead>
        <tbody>
          {hs.contributions.map((c, i) => {
            const unit = units.get(c.series) ?? "";
            return (
              <tr key={c.series} className={c.note ? "fc-row-note" : undefined} data-testid="health-score-kpi" data-series={c.series}>
                <td>
                  <span className={`fc-key fc-seg-${String(i % 5)}`} aria-hidden="true" />
                  <Link className="link mono" href={`/${c.series}`}>
                    {c.series}
                  </Link>{" "}
                  <span className="muted small">
                    ×{formatNumber(c.weight)} · {c.direction === "at_most" ? "at most" : "at least"}
                  </span>
                  {c.note ? (
                    <div className="fc-note small" data-testid="health-score-note">
                      {c.note}
                    </div>
                  ) : null}
                </td>
                <td className="num mono" title={c.ds ? formatTimestamp(c.ds) : undefined}>
                  {formatValue(c.value, unit)}
                  {c.ds ? <div className="muted small">{formatDs(c.ds, null)}</div> : null}
                </td>
                <td className="num mono">{formatValue(c.target, unit)}</td>
                <td className="num mono">{percentText(c.attainment)}</td>
                <td className="num mono">{formatNumber(c.points)}</td>
                <td className={`num mono${c.lost > 0 ? " text-warn" : ""}`}>{formatNumber(c.lost)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

export function HealthScorePanel({ series, now }: { series: readonly SeriesInfo[] | undefined; now: number }) {
  const api = useApi();
  const hs = useQuery(healthScoreQuery(api));
  const units = new Map((series ?? []).map((s) => [s.name, s.unit]));
  const data = hs.data;
  return (
    <Panel title="Health score">
      {hs.error ? (
        <ErrorNote error={hs.error} onRetry={() => void hs.refetch()} />
      ) : !data ? (
        <Skeleton className="skeleton-wide" />
      ) : data.score === null || data.score === undefined ? (
        <NotConfigured />
      ) : (
        <Score hs={{ ...data, score: data.score }} units={units} now={now} />
      )}
    </Panel>
  );
}
