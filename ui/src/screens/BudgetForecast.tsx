// A budget's burn forecast on the Costs screen (`data/burn`): the projected end-of-period spend
// on its bar (a marker for the mean, a faint band for the 80 % interval, an arrow when the
// interval reaches past the limit), and under it the projection and when the limit is reached
// in words, a small chart of the projected cumulative spend, the model and its measured
// backtest coverage. Without a projection: why, in muted text.
import { Icon } from "../components/Icon";
import { burnChart, burnSummary, exhaustionLine, formatMinute, hasProjection, modelDetail, P80, P95, projectedText, type ForecastBudget, type ForecastMarks } from "../data/burn";

/** The forecast's marks inside a budget bar (`.budget-bar`, which clips them to the limit). */
export function ForecastBand({ marks, title }: { marks: ForecastMarks; title: string }) {
  // `left: calc(p% - p·0.02px)` keeps the 2 px marker inside the bar at both ends.
  return (
    <>
      <div
        className={`budget-forecast-band${marks.overflow ? " budget-forecast-band-over" : ""}`}
        style={{ left: `${String(marks.lo)}%`, width: `${String(Math.max(0, Math.round((marks.hi - marks.lo) * 10) / 10))}%` }}
        data-testid="budget-forecast-band"
        data-overflow={marks.overflow ? "true" : "false"}
        title={title}
      />
      <div
        className={`budget-forecast-mean${marks.meanOver ? " budget-forecast-mean-over" : ""}`}
        style={{ left: `calc(${String(marks.mean)}% - ${String(Math.round(marks.mean * 2) / 100)}px)` }}
        data-testid="budget-forecast-mean"
        title={title}
      />
    </>
  );
}

function BurnChartView({ b }: { b: ForecastBudget }) {
  const f = b.forecast;
  if (!f || !hasProjection(f)) return null;
  const c = burnChart(f, Number(b.spent), Number(b.limit_usd));
  if (!c) return null;
  return (
    <svg className="burn-chart" viewBox={`0 0 ${String(c.width)} ${String(c.height)}`} preserveAspectRatio="none" role="img" aria-label={burnSummary(b, f)} data-testid="budget-burn-chart">
      <path d={c.band95} className="burn-band95" />
      <path d={c.band80} className="burn-band80" />
      <line x1={0} x2={c.width} y1={c.limitY} y2={c.limitY} className="burn-limit" vectorEffect="non-scaling-stroke" data-testid="budget-burn-limit" />
      {c.atX !== null ? <line x1={c.atX} x2={c.atX} y1={0} y2={c.height} className="burn-at" vectorEffect="non-scaling-stroke" /> : null}
      <path d={c.mean} className="burn-mean" vectorEffect="non-scaling-stroke" />
      <line x1={0} x2={c.width} y1={c.height - 0.5} y2={c.height - 0.5} className="spark-axis" />
    </svg>
  );
}

/** The forecast under a budget bar; nothing for a node that sends none. */
export function BudgetForecast({ b }: { b: ForecastBudget }) {
  const f = b.forecast;
  if (!f) return null;
  if (!hasProjection(f)) {
    return (
      <p className="budget-forecast budget-forecast-none muted small" data-testid="budget-forecast" data-model="none">
        No projection: {f.reason}
      </p>
    );
  }
  const projected = projectedText(b, f);
  const line = exhaustionLine(b, f);
  const detail = modelDetail(f);
  const end = f.end?.ds ?? f.path.at(-1)?.ds;
  return (
    <div className="budget-forecast" data-testid="budget-forecast" data-model={f.model} data-status={line?.status}>
      <div className="budget-forecast-text small">
        {projected ? <span data-testid="budget-projected">{projected}</span> : null}
        {line ? (
          <span className={`budget-exhaustion budget-exhaustion-${line.tone}`} data-testid="budget-exhaustion">
            {line.tone === "ok" ? null : <Icon name="alert" />}
            {line.text}
          </span>
        ) : null}
      </div>
      <figure className="burn-figure">
        <BurnChartView b={b} />
        <figcaption className="burn-legend small muted">
          <span data-testid="budget-forecast-model" title={f.reason ? `Why this model: ${f.reason}` : undefined}>
            {detail}
          </span>
          <span className="burn-keys" aria-hidden="true">
            <span>
              <span className="burn-swatch burn-swatch-mean" /> mean
            </span>
            <span>
              <span className="burn-swatch burn-swatch-80" /> {P80}
            </span>
            <span>
              <span className="burn-swatch burn-swatch-95" /> {P95}
            </span>
            <span>
              <span className="burn-swatch burn-swatch-limit" /> limit
            </span>
            {end ? <span>now → {formatMinute(end)}</span> : null}
          </span>
        </figcaption>
      </figure>
    </div>
  );
}
