// Forecasts (`#/forecasts`, `#/forecasts/<series>`): the KPI series (the built-in cost.daily
// first), and for the one selected its forecast — a chart of the history, the forecast's
// mean in its 80 % and 95 % bands, the backtest's held-out points and the anomalies — beside
// the model chosen and why, the candidates' scores, the intervals' measured coverage and
// what was done to put the series on its grid; its anomalies; a CSV import (preview first);
// the goals and the business health score. Nothing polls: `forecasts` events reload it all.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useLocation, useRoute } from "wouter";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { apiErrorFromResponse, describeError } from "../backend/apiError";
import { useBackend } from "../backend/context";
import { useConfirm } from "../components/ConfirmDialog";
import { DataTable, type Column } from "../components/DataTable";
import { Icon } from "../components/Icon";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import {
  anomaliesQuery,
  backtestText,
  chartPath,
  chosenParts,
  COST_SERIES,
  coverageTone,
  defaultSeries,
  DEFAULT_HORIZON,
  errorCode,
  forecastKeys,
  forecastQuery,
  formatDs,
  formatInstant,
  formatRange,
  formatValue,
  horizonOptions,
  P80,
  P95,
  percentText,
  rankedCandidates,
  reportItems,
  seriesListQuery,
  stepsText,
  type Anomaly,
  type Forecast,
  type ImportOutcome,
  type SeriesForecast,
  type SeriesInfo,
} from "../data/forecasts";
import { useNow } from "../data/useNow";
import { formatInt, formatRelative, formatTimestamp } from "../format";
import { useTheme, type Theme } from "../theme/theme";
import { ForecastChartView } from "./ForecastChart";
import { GoalsPanel } from "./Goals";
import { HealthScorePanel } from "./HealthScore";
import { ImportDialog } from "./SeriesImport";

function seriesColumns(now: number, onRemove: (s: SeriesInfo) => void): Column<SeriesInfo>[] {
  return [
    {
      id: "name",
      header: "Series",
      sortValue: (s) => s.name,
      cell: (s) => (
        <span className="fc-series-name">
          <Link className="link mono strong" href={`/${s.name}`} onClick={(e) => e.stopPropagation()} data-testid="series-link">
            {s.name}
          </Link>
          {s.builtin ? (
            <span className="pill fc-pill-builtin" title="Built in and read-only: the ledger's spend per day">
              built-in
            </span>
          ) : null}
          {s.description ? <span className="muted small fc-series-description">{s.description}</span> : null}
        </span>
      ),
    },
    { id: "unit", header: "Unit", cell: (s) => (s.unit ? <span className="mono">{s.unit}</span> : <span className="muted">—</span>), sortValue: (s) => s.unit },
    { id: "points", header: "Points", numeric: true, cell: (s) => formatInt(s.points), sortValue: (s) => s.points },
    {
      id: "last",
      header: "Last value",
      numeric: true,
      sortValue: (s) => (s.last ? Date.parse(s.last) : null),
      cell: (s) =>
        s.last_value !== null && s.last_value !== undefined ? (
          <span title={s.last ? formatTimestamp(s.last) : undefined}>
            {formatValue(s.last_value, s.unit)}
            {s.last ? <span className="muted small fc-block">{formatInstant(s.last)}</span> : null}
          </span>
        ) : (
          <span className="muted">no points</span>
        ),
    },
    {
      id: "anomalies",
      header: "Anomalies",
      numeric: true,
      sortValue: (s) => s.anomalies,
      cell: (s) =>
        s.anomalies > 0 ? (
          <span className="pill pill-error" data-testid="series-anomalies">
            {formatInt(s.anomalies)}
          </span>
        ) : (
          <span className="muted" data-testid="series-anomalies">
            0
          </span>
        ),
    },
    {
      id: "updated",
      header: "Updated",
      sortValue: (s) => (s.updated_at ? Date.parse(s.updated_at) : null),
      cell: (s) => (s.updated_at ? <span title={formatTimestamp(s.updated_at)}>{formatRelative(s.updated_at, now)}</span> : <span className="muted">{s.builtin ? "live" : "—"}</span>),
    },
    {
      id: "actions",
      header: <span className="sr-only">Actions</span>,
      cell: (s) =>
        s.builtin ? null : (
          <button
            type="button"
            className="btn btn-ghost small"
            onClick={(e) => {
              e.stopPropagation();
              onRemove(s);
            }}
            onKeyDown={(e) => e.stopPropagation()}
            aria-label={`Remove series ${s.name}`}
            data-testid="series-remove"
          >
            Remove
          </button>
        ),
    },
  ];
}

function Coverage({ label, nominal, measured }: { label: string; nominal: number; measured: number | null | undefined }) {
  const tone = coverageTone(measured, nominal);
  const pct = measured !== null && measured !== undefined && Number.isFinite(measured) ? Math.round(Math.min(1, Math.max(0, measured)) * 1000) / 10 : null;
  return (
    <div className={`fc-coverage fc-coverage-${tone}`} data-testid="forecast-coverage" data-level={String(Math.round(nominal * 100))}>
      <div className="fc-coverage-head small">
        <span>
          {label} interval <span className="muted">held</span>
        </span>
        <strong className="mono">{percentText(measured)}</strong>
      </div>
      <div
        className="fc-coverage-bar"
        role="img"
        aria-label={pct === null ? `${label} interval coverage not measured` : `${label} interval: ${String(pct)}% of held-out points inside (stated ${String(Math.round(nominal * 100))}%)`}
      >
        {pct !== null ? <div className="fc-coverage-fill" style={{ width: `${String(pct)}%` }} /> : null}
        <div className="fc-coverage-nominal" style={{ left: `${String(nominal * 100)}%` }} title={`stated: ${label}`} />
      </div>
    </div>
  );
}

function Downloads({ series }: { series: string }) {
  const backend = useBackend();
  // The UI's own theme until one is picked here.
  const ui = useTheme();
  const [picked, setPicked] = useState<Theme | null>(null);
  const theme = picked ?? ui.theme;
  const [busy, setBusy] = useState<"svg" | "png" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const download = async (format: "svg" | "png") => {
    setBusy(format);
    try {
      const res = await backend.fetch(new Request(`${backend.baseUrl}${chartPath(series, format, theme)}`));
      if (!res.ok) {
        const err = apiErrorFromResponse(res.status, await res.text().catch(() => ""), res.statusText);
        setError(`The ${format.toUpperCase()} could not be made: ${describeError(err)} (${String(res.status)}).`);
        return;
      }
      setError(null);
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `${series}-forecast-${theme}.${format}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (e) {
      setError(`The ${format.toUpperCase()} could not be downloaded: ${describeError(e)}`);
    } finally {
      setBusy(null);
    }
  };
  return (
    <div className="fc-downloads">
      <span className="field-label">Download the chart</span>
      <div className="fc-downloads-row">
        <select className="fc-select small" value={theme} onChange={(e) => setPicked(e.target.value as Theme)} aria-label="Chart theme" data-testid="chart-theme">
          <option value="dark">dark</option>
          <option value="light">light</option>
        </select>
        <button type="button" className="btn small" disabled={busy !== null} onClick={() => void download("svg")} data-testid="chart-download-svg">
          {busy === "svg" ? "…" : "SVG"}
        </button>
        <button type="button" className="btn small" disabled={busy !== null} onClick={() => void download("png")} data-testid="chart-download-png">
          {busy === "png" ? "…" : "PNG"}
        </button>
      </div>
      {error ? (
        <p className="error-text small" role="alert" data-testid="chart-download-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

function ModelPanel({ f, series }: { f: Forecast; series: string }) {
  const parts = chosenParts(f.model);
  const averaged = parts.length > 1;
  return (
    <Panel title="Model" className="fc-model">
      <div className="fc-model-name">
        <code className="mono strong" data-testid="forecast-model">
          {f.model}
        </code>
      </div>
      <p className="fc-reason small" data-testid="forecast-reason">
        {f.reason}
      </p>
      <table className="table small fc-candidates" data-testid="forecast-candidates">
        <caption className="sr-only">Candidate models, scored on the backtest (lower is better)</caption>
        <thead>
          <tr>
            <th>Candidate</th>
            <th className="num" title="Mean absolute scaled error: below 1 beats the seasonal naive in-sample">
              MASE
            </th>
            <th className="num" title="Symmetric mean absolute percentage error">
              sMAPE
            </th>
            <th>Fitted</th>
          </tr>
        </thead>
        <tbody>
          {rankedCandidates(f.candidates).map((c) => {
            const chosen = c.model === f.model;
            const part = averaged && parts.includes(c.model);
            return (
              <tr key={c.model} className={chosen ? "fc-chosen" : part ? "fc-part" : undefined} data-testid="forecast-candidate" data-chosen={chosen ? "true" : "false"} aria-current={chosen ? "true" : undefined}>
                <td className="mono">
                  {c.model}
                  {chosen ? <span className="pill pill-ok fc-chosen-pill">chosen</span> : part ? <span className="pill fc-part-pill">averaged</span> : null}
                </td>
                <td className="num mono">{c.mase.toFixed(3)}</td>
                <td className="num mono">{c.smape.toFixed(1)}%</td>
                <td>{c.fitted ? <span className="muted">yes</span> : <span className="text-warn" title="Could not be fitted at every origin">no</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h3 className="subhead">Measured coverage</h3>
      <Coverage label={P80} nominal={0.8} measured={f.coverage80} />
      <Coverage label={P95} nominal={0.95} measured={f.coverage95} />
      <p className="muted small" data-testid="forecast-backtest">
        Backtest: {backtestText(f)}; each origin’s intervals from the others’ errors.
      </p>
      <h3 className="subhead">Series</h3>
      <dl className="fc-report-list small" data-testid="forecast-report">
        <dt>Frequency</dt>
        <dd>
          {f.frequency}
          {f.periods.length > 0 ? <span className="muted"> · season {f.periods.join(", ")} steps</span> : <span className="muted"> · no season</span>}
        </dd>
        {reportItems(f.series).map((i) => (
          <div key={i.key} className="fc-report-row">
            <dt>{i.label}</dt>
            <dd className={`mono${i.key !== "rows" && i.value > 0 ? " fc-report-hit" : ""}`}>{formatInt(i.value)}</dd>
          </div>
        ))}
      </dl>
      <Downloads series={series} />
    </Panel>
  );
}

function anomalyColumns(f: Forecast | undefined, unit: string, now: number): Column<Anomaly>[] {
  const freq = f?.frequency ?? null;
  return [
    { id: "ds", header: "When", cell: (a) => <span className="mono">{formatDs(a.ds, freq)}</span>, sortValue: (a) => Date.parse(a.ds) },
    { id: "value", header: "Value", numeric: true, cell: (a) => <strong>{formatValue(a.value, unit)}</strong>, sortValue: (a) => a.value },
    { id: "expected", header: "Expected", numeric: true, cell: (a) => formatValue(a.expected, unit), sortValue: (a) => a.expected },
    {
      id: "interval",
      header: "Interval",
      numeric: true,
      cell: (a) => (
        <span title={a.source === "history" ? "Trend and seasons ± 3.5 robust standard deviations" : `The forecast's ${P95} interval`}>
          {formatRange(a.lo95, a.hi95, unit)}
        </span>
      ),
    },
    {
      id: "source",
      header: "Found by",
      cell: (a) =>
        a.source === "forecast" ? (
          <span className="pill pill-error" title="A new point outside the interval of the forecast made before it">
            new point
          </span>
        ) : a.source === "history" ? (
          <span className="pill fc-pill-backtest" title="A point of the history far from the series' own trend and seasons (more than 3.5 robust standard deviations: the interval shown)">
            history
          </span>
        ) : (
          <span className="pill fc-pill-backtest" title="A held-out point outside the interval its backtest origin gave">
            backtest
          </span>
        ),
      sortValue: (a) => a.source,
    },
    { id: "detected", header: "Flagged", cell: (a) => <span title={formatTimestamp(a.detected_at)}>{formatRelative(a.detected_at, now)}</span>, sortValue: (a) => Date.parse(a.detected_at) },
  ];
}

function TooShort({ message, series }: { message: string; series: string }) {
  return (
    <div className="fc-too-short" role="status" data-testid="forecast-too-short">
      <Icon name="info" />
      <div>
        <div>
          <strong>Not enough points to forecast yet.</strong> {message}
        </div>
        <div className="muted small">
          {series === COST_SERIES
            ? "cost.daily holds complete days of spend from the first day with any: it fills in as days pass."
            : "Import more rows, or push points to it (POST /api/v1/series/{name}/points)."}
        </div>
      </div>
    </div>
  );
}

function SeriesForecastView({ name, info, now }: { name: string; info: SeriesInfo | undefined; now: number }) {
  const api = useApi();
  const [horizons, setHorizons] = useState<Record<string, number>>({});
  const horizon = horizons[name] ?? null;
  const fc = useQuery(forecastQuery(api, name, horizon));
  const anomalies = useQuery(anomaliesQuery(api, name));
  const data: SeriesForecast | undefined = fc.data;
  const f = data?.forecast;
  const unit = data?.series.unit ?? info?.unit ?? "";
  const code = errorCode(fc.error);
  const freq = f?.frequency;
  const options = freq ? horizonOptions(freq, horizon) : [];
  const shown = horizon ?? (freq ? DEFAULT_HORIZON[freq] : null);

  return (
    <>
      <div className="fc-main">
        <Panel
          title={
            <>
              <span className="mono fc-title-name">{name}</span> forecast
            </>
          }
          className="fc-chart-panel"
          actions={
            freq ? (
              <label className="fc-horizon small">
                <span className="muted">Horizon</span>
                <select
                  className="fc-select"
                  value={shown ?? ""}
                  onChange={(e) => {
                    const v = Number(e.target.value);
                    setHorizons((cur) => ({ ...cur, [name]: v }));
                  }}
                  data-testid="forecast-horizon"
                >
                  {options.map((o) => (
                    <option key={o.value} value={o.value}>
                      {o.label}
                    </option>
                  ))}
                </select>
                {fc.isFetching ? <Icon name="refresh" className="icon spin" /> : null}
              </label>
            ) : null
          }
        >
          {(data?.series.description ?? info?.description) ? <p className="muted small fc-description">{data?.series.description ?? info?.description}</p> : null}
          {fc.error && !data ? (
            code === "series_too_short" ? (
              <TooShort message={describeError(fc.error)} series={name} />
            ) : code === "not_found" ? (
              <p className="muted" data-testid="forecast-not-found">
                There is no series named <span className="mono">{name}</span>. <Link href="/">Show the first series</Link>.
              </p>
            ) : (
              <ErrorNote error={fc.error} onRetry={() => void fc.refetch()} />
            )
          ) : data && f ? (
            <div data-testid="forecast-view" data-series={name} data-horizon={String(f.rows.length)}>
              {fc.error && !fc.isFetching ? (
                <div className="fc-stale-note small" role="status" data-testid="forecast-stale" data-code={code ?? undefined}>
                  <Icon name="alert" />
                  <span>
                    The forecast could not be made again after the latest change: <span className="fc-error-message">{describeError(fc.error)}</span> The one
                    shown is from before it.
                  </span>
                  <button type="button" className="btn btn-ghost small" onClick={() => void fc.refetch()}>
                    Retry
                  </button>
                </div>
              ) : null}
              <ForecastChartView data={data} />
              <p className="muted small fc-chart-foot">
                {formatInt(data.history.length)} recent of {formatInt(data.series.points)} points · forecast {stepsText(f.rows.length, f.frequency)} ahead ·{" "}
                last {formatValue(data.series.last_value, unit)} {data.series.last ? `on ${formatDs(data.series.last, f.frequency)}` : ""}
              </p>
            </div>
          ) : (
            <div data-testid="forecast-loading" aria-busy="true">
              <Skeleton className="skeleton-wide fc-skeleton-chart" />
            </div>
          )}
        </Panel>
        {f ? (
          <ModelPanel f={f} series={name} />
        ) : (
          <Panel title="Model" className="fc-model">
            {fc.error ? <p className="muted small">No model: there is no forecast.</p> : <Skeleton className="skeleton-wide" />}
          </Panel>
        )}
      </div>
      {/* Shown beside a forecast, and on its own when one cannot be made but points were flagged. */}
      {anomalies.data && (anomalies.data.items.length > 0 || data) ? (
        <Panel
          title={
            <>
              Anomalies <span className="muted fc-title-count">{formatInt(anomalies.data.items.length)}</span>
            </>
          }
        >
          <p className="muted small">
            Points outside their {P95} interval: held-out points of the backtest, and new points checked against the forecast made before them (a toast says so
            as they arrive).
          </p>
          <DataTable
            columns={anomalyColumns(f, unit, now)}
            rows={anomalies.data.items}
            rowKey={(a) => `${a.ds}-${a.source}`}
            rowAttrs={(a) => ({ "data-testid": "anomaly-row", "data-source": a.source, "data-ds": a.ds })}
            initialSort={{ column: "ds", dir: "desc" }}
            pageSize={10}
            empty="No point has fallen outside its 95 % interval."
            testId="forecast-anomalies"
          />
        </Panel>
      ) : null}
    </>
  );
}

export function Forecasts() {
  const api = useApi();
  const confirm = useConfirm();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const now = useNow(30_000);
  const [, navigate] = useLocation();
  const [, params] = useRoute<{ name: string }>("/:name");
  const list = useQuery(seriesListQuery(api));
  const items = list.data?.items;
  const selected = params?.name ?? defaultSeries(items);
  const [importing, setImporting] = useState(false);
  const remove = useMutation({
    meta: { toastErrors: false },
    mutationFn: (name: string) => ok(api.DELETE("/api/v1/series/{name}", { params: { path: { name } } })),
    onSuccess: (_v, name) => {
      queryClient.removeQueries({ queryKey: ["forecasts", "forecast", name] });
      void queryClient.invalidateQueries({ queryKey: forecastKeys.all });
      toasts.push({ tone: "success", title: `Series ${name} removed`, message: null });
      if (params?.name === name) navigate("/");
    },
    onError: (e) => toasts.error(e, "Could not remove the series"),
  });
  const imported = (o: ImportOutcome) => {
    setImporting(false);
    void queryClient.invalidateQueries({ queryKey: forecastKeys.all });
    toasts.push({
      tone: "success",
      title: `Imported ${formatInt(o.points)} points into ${o.series}`,
      message: `${o.frequency}, ${formatDs(o.first, o.frequency)} → ${formatDs(o.last, o.frequency)} · ${formatInt(o.new_points)} new, ${formatInt(o.changed_points)} changed${
        o.removed_points > 0 ? `, ${formatInt(o.removed_points)} removed` : ""
      }`,
    });
    navigate(`/${o.series}`);
  };
  const askRemove = (s: SeriesInfo) =>
    void confirm({
      title: `Remove series ${s.name}?`,
      body: `Its ${formatInt(s.points)} points and ${formatInt(s.anomalies)} flagged anomalies are deleted. Goals on it stop being evaluated.`,
      action: "Remove",
      danger: true,
    }).then((yes) => yes && remove.mutate(s.name));
  const info = items?.find((s) => s.name === selected);
  const anomalyTotal = items?.reduce((n, s) => n + s.anomalies, 0) ?? 0;

  return (
    <div className="screen" data-testid="screen-forecasts">
      <Panel
        title={
          <>
            Series{" "}
            {items ? (
              <span className="muted fc-title-count">
                {formatInt(items.length)}
                {anomalyTotal > 0 ? ` · ${formatInt(anomalyTotal)} anomalies` : ""}
              </span>
            ) : null}
          </>
        }
        actions={
          <button type="button" className="btn btn-primary small" onClick={() => setImporting(true)} data-testid="import-open">
            Import CSV
          </button>
        }
      >
        <DataTable
          columns={seriesColumns(now, askRemove)}
          rows={items}
          rowKey={(s) => s.name}
          error={list.error}
          onRetry={() => void list.refetch()}
          onRowClick={(s) => navigate(`/${s.name}`)}
          rowAttrs={(s) => ({
            "data-testid": "series-row",
            "data-name": s.name,
            "data-selected": s.name === selected ? "true" : "false",
            "aria-current": s.name === selected ? "true" : undefined,
          })}
          filterText={(s) => `${s.name} ${s.description} ${s.unit}`}
          filterLabel="Filter series"
          pageSize={10}
          empty="No series."
          testId="series-list"
        />
        <p className="muted small fc-hint">
          <span className="mono">cost.daily</span> is built in: the ledger’s spend per complete day. Add KPI series by importing a CSV, or push points to{" "}
          <span className="mono">POST /api/v1/series/&lt;name&gt;/points</span>.
        </p>
      </Panel>
      {selected !== null ? <SeriesForecastView name={selected} info={info} now={now} /> : list.error ? null : <Skeleton className="skeleton-wide" />}
      <div className="fc-bottom">
        <GoalsPanel series={items} now={now} />
        <HealthScorePanel series={items} now={now} />
      </div>
      <ImportDialog open={importing} series={items ?? []} onClose={() => setImporting(false)} onImported={imported} />
    </div>
  );
}
