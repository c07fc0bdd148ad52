// The forecast chart (geometry in data/forecastChart.ts): history, the forecast's mean in its
// 80 % and 95 % bands, the backtest's held-out points with what was forecast for them, and
// the anomalies. The pointer, or the arrow keys once the chart has focus, moves a cursor
// over its instants; the readout line under it says what is known there (the date, the value,
// the forecast and its intervals, the held-out forecast, the anomaly).
import { useId, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { chartSummary, forecastChart, nearestSlot, readout, readoutText } from "../data/forecastChart";
import { P80, P95, type SeriesForecast } from "../data/forecasts";

export function ForecastChartView({ data }: { data: SeriesForecast }) {
  const f = data.forecast;
  const unit = data.series.unit;
  const chart = useMemo(
    () => forecastChart({ history: data.history, rows: f.rows, backtest: f.backtest, anomalies: data.anomalies, frequency: f.frequency, unit }),
    [data.history, data.anomalies, f.rows, f.backtest, f.frequency, unit],
  );
  const summary = useMemo(() => chartSummary(data), [data]);
  const svg = useRef<SVGSVGElement>(null);
  const readoutId = useId();
  const [cursor, setCursor] = useState<number | null>(null);
  if (!chart) return <p className="muted">Nothing to draw yet.</p>;
  const slots = chart.slots;
  const active = cursor !== null ? slots[Math.min(cursor, slots.length - 1)] : undefined;
  const lastHistory = (() => {
    for (let i = slots.length - 1; i >= 0; i--) if (slots[i]?.row === null) return i;
    return slots.length - 1;
  })();

  const onPointer = (e: PointerEvent<SVGSVGElement>) => {
    const box = svg.current?.getBoundingClientRect();
    if (!box || box.width === 0) return;
    const x = ((e.clientX - box.left) / box.width) * chart.width;
    if (x < chart.plot.x - 8 || x > chart.plot.x + chart.plot.w + 8) {
      setCursor(null);
      return;
    }
    setCursor(nearestSlot(slots, x));
  };
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const cur = cursor ?? lastHistory;
    const page = Math.max(1, Math.round(slots.length / 10));
    const to: Record<string, number> = {
      ArrowLeft: cur - 1,
      ArrowRight: cur + 1,
      PageUp: cur - page,
      PageDown: cur + page,
      Home: 0,
      End: slots.length - 1,
    };
    if (e.key === "Escape" && cursor !== null) {
      e.stopPropagation();
      setCursor(null);
      return;
    }
    const next = to[e.key];
    if (next === undefined) return;
    e.preventDefault();
    setCursor(Math.min(slots.length - 1, Math.max(0, cursor === null && (e.key === "ArrowLeft" || e.key === "ArrowRight") ? lastHistory : next)));
  };
  const r = active ? readout(active, f.frequency, unit) : null;

  return (
    <figure className="fc-figure">
      <div
        className="fc-plot"
        tabIndex={0}
        role="group"
        aria-label={`Forecast chart of ${data.series.name}. Left and right arrow keys read the values point by point; Home and End jump to the ends.`}
        aria-describedby={readoutId}
        onKeyDown={onKey}
        onFocus={() => setCursor((c) => c ?? lastHistory)}
        onBlur={() => setCursor(null)}
        data-testid="forecast-plot"
      >
        <svg
          ref={svg}
          className="fc-chart"
          viewBox={`0 0 ${String(chart.width)} ${String(chart.height)}`}
          role="img"
          aria-label={summary}
          data-testid="forecast-chart"
          data-series={data.series.name}
          onPointerMove={onPointer}
          onPointerDown={onPointer}
          onPointerLeave={() => setCursor(null)}
        >
          {chart.yTicks.map((t) => (
            <g key={t.label + String(t.y)}>
              <line className="fc-grid" x1={chart.plot.x} x2={chart.plot.x + chart.plot.w} y1={t.y} y2={t.y} />
              <text className="fc-axis-label" x={chart.plot.x - 6} y={t.y + 3.5} textAnchor="end">
                {t.label}
              </text>
            </g>
          ))}
          {chart.xTicks.map((t) => (
            <text key={`${t.label}-${String(t.x)}`} className="fc-axis-label" x={t.x} y={chart.plot.y + chart.plot.h + 17} textAnchor="middle">
              {t.label}
            </text>
          ))}
          {chart.nowX !== null ? (
            <>
              <rect className="fc-future" x={chart.nowX} y={chart.plot.y} width={Math.max(0, chart.plot.x + chart.plot.w - chart.nowX)} height={chart.plot.h} />
              <line className="fc-now" x1={chart.nowX} x2={chart.nowX} y1={chart.plot.y} y2={chart.plot.y + chart.plot.h} />
            </>
          ) : null}
          <path d={chart.heldBand} className="fc-held-band" data-testid="forecast-held-band" />
          <path d={chart.heldMean} className="fc-held-mean" data-testid="forecast-held-mean" />
          <path d={chart.band95} className="fc-band95" data-testid="forecast-band95" />
          <path d={chart.band80} className="fc-band80" data-testid="forecast-band80" />
          <path d={chart.history} className="fc-history" data-testid="forecast-history" />
          <path d={chart.mean} className="fc-mean" data-testid="forecast-mean" />
          {chart.held.map((p) => (
            <circle key={p.ds} className="fc-held-dot" cx={p.x} cy={p.y} r={2} data-testid="forecast-held-point" />
          ))}
          {chart.anomalies.map((a) => (
            <path
              key={a.ds}
              className={`fc-anomaly fc-anomaly-${a.anomaly.source}`}
              d={`M${String(a.x)} ${String(a.y - 6)} L${String(a.x + 6)} ${String(a.y)} L${String(a.x)} ${String(a.y + 6)} L${String(a.x - 6)} ${String(a.y)} Z`}
              data-testid="forecast-anomaly"
              data-ds={a.ds}
              data-source={a.anomaly.source}
            >
              <title>{readoutText({ ds: a.ds, x: a.x, value: a.anomaly.value, valueY: a.y, row: null, meanY: null, held: null, anomaly: a.anomaly }, f.frequency, unit)}</title>
            </path>
          ))}
          {active ? (
            <g className="fc-cursor" aria-hidden="true">
              <line x1={active.x} x2={active.x} y1={chart.plot.y} y2={chart.plot.y + chart.plot.h} />
              {active.valueY !== null ? <circle className="fc-cursor-value" cx={active.x} cy={active.valueY} r={4} /> : null}
              {active.meanY !== null ? <circle className="fc-cursor-mean" cx={active.x} cy={active.meanY} r={4} /> : null}
            </g>
          ) : null}
          <line className="fc-axis" x1={chart.plot.x} x2={chart.plot.x + chart.plot.w} y1={chart.plot.y + chart.plot.h} y2={chart.plot.y + chart.plot.h} />
        </svg>
      </div>
      <div className="fc-readout small" id={readoutId} aria-live="polite" data-testid="forecast-readout">
        {r ? (
          <>
            <strong className="mono">{r.date}</strong>
            {r.items.map((i) => (
              <span key={i.key} className={`fc-readout-item fc-readout-${i.key}`}>
                <span className="muted">{i.label}</span> <span className="mono">{i.text}</span>
              </span>
            ))}
          </>
        ) : (
          <span className="muted">Point at the chart, or focus it and use the arrow keys, to read its values.</span>
        )}
      </div>
      <figcaption className="fc-legend small muted">
        <span>
          <span className="fc-swatch fc-swatch-history" aria-hidden="true" /> history
        </span>
        <span>
          <span className="fc-swatch fc-swatch-mean" aria-hidden="true" /> forecast mean
        </span>
        <span>
          <span className="fc-swatch fc-swatch-80" aria-hidden="true" /> {P80} interval
        </span>
        <span>
          <span className="fc-swatch fc-swatch-95" aria-hidden="true" /> {P95} interval
        </span>
        {chart.held.length > 0 ? (
          <span>
            <span className="fc-swatch fc-swatch-held" aria-hidden="true" /> held-out points and their backtest forecast
          </span>
        ) : null}
        {chart.anomalies.length > 0 ? (
          <span>
            <span className="fc-swatch fc-swatch-anomaly" aria-hidden="true" /> anomaly (outside its {P95} interval)
          </span>
        ) : null}
      </figcaption>
    </figure>
  );
}
