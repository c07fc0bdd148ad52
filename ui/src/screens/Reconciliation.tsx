// Reconciliation and price gaps on the Costs screen. Reconciliation: import a provider's
// billing export (CSV, read in the browser and sent as text), list the imported ones, and set
// the selected one beside the ledger: totals, a drift chart (billed against ledger per day,
// drifted days outlined and labelled) and a table per day × model. Price gaps: the models
// whose calls have no cost, and re-pricing them (a dry run first; admin scope). Live: `costs`
// events (an import, a removal, a re-pricing) and new calls reload them.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { useConfirm } from "../components/ConfirmDialog";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import { formatUsd } from "../data/costs";
import {
  BILL_FORMATS,
  chartSummary,
  dayRange,
  driftChart,
  emptyImportDraft,
  errorCode,
  errorText,
  formatDiffPct,
  formatSignedUsd,
  gapModelLabel,
  importBody,
  modelLabel,
  priceGapsQuery,
  reconcileKeys,
  reconciliationName,
  reconciliationQuery,
  reconciliationsQuery,
  utcDay,
  type BillFormat,
  type ImportDraft,
  type Reconciliation,
  type ReconciliationSummary,
  type RepriceReport,
} from "../data/reconcile";
import { ApiError } from "../backend/apiError";
import { formatInt, formatTimestamp } from "../format";

/** An error beside a form: the node's message as it is, and its code. */
function FormError({ error, testId }: { error: unknown; testId: string }) {
  const code = errorCode(error);
  return (
    <div className="error-note rec-error" role="alert" data-testid={testId} data-code={code ?? undefined}>
      <div>
        <div className="rec-error-message">{errorText(error)}</div>
        {code ? <div className="muted small mono">code: {code}</div> : null}
      </div>
    </div>
  );
}

function ImportForm({ onImported }: { onImported: (r: Reconciliation) => void }) {
  const api = useApi();
  const fileInput = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [d, setD] = useState<ImportDraft>(emptyImportDraft);
  const upload = useMutation({
    meta: { toastErrors: false },
    mutationFn: async (f: File) => {
      const checked = importBody(await f.text(), f.name, d);
      if ("error" in checked) throw new Error(checked.error);
      return ok(api.POST("/api/v1/reconciliations", { body: checked.body }));
    },
    onSuccess: (r) => {
      setFile(null);
      if (fileInput.current) fileInput.current.value = "";
      onImported(r);
    },
  });
  return (
    <form
      className="rec-import"
      data-testid="rec-import-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (file) upload.mutate(file);
      }}
    >
      <label className="field">
        <span className="field-label">Billing export (CSV)</span>
        <input
          ref={fileInput}
          type="file"
          accept=".csv,text/csv"
          onChange={(e) => {
            setFile(e.target.files?.[0] ?? null);
            upload.reset();
          }}
          data-testid="rec-file"
        />
      </label>
      <label className="field">
        <span className="field-label">Format</span>
        <select value={d.format} onChange={(e) => setD({ ...d, format: e.target.value as BillFormat | "auto" })} data-testid="rec-format">
          {BILL_FORMATS.map((f) => (
            <option key={f.id} value={f.id}>
              {f.label}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span className="field-label">Providers (comma separated)</span>
        <input className="mono" value={d.providers} placeholder="from the file or its vendor" onChange={(e) => setD({ ...d, providers: e.target.value })} data-testid="rec-providers" />
      </label>
      <label className="field">
        <span className="field-label">Drift above (%)</span>
        <input
          className="mono"
          type="number"
          min={0}
          max={100}
          step="any"
          value={d.driftPct}
          placeholder="configured"
          onChange={(e) => setD({ ...d, driftPct: e.target.value })}
          data-testid="rec-drift"
        />
      </label>
      <div className="btn-row">
        <button type="submit" className="btn btn-primary" disabled={file === null || upload.isPending} data-testid="rec-import">
          {upload.isPending ? "Importing…" : "Import"}
        </button>
      </div>
      {upload.error ? <FormError error={upload.error} testId="rec-error" /> : null}
    </form>
  );
}

function DriftChartView({ rec }: { rec: Reconciliation }) {
  const c = driftChart(rec.days);
  if (c.groups.length === 0) return <p className="muted">No billed days.</p>;
  const zero = (b: { y: number; h: number }) => ({ y: Math.min(b.y, c.baseline - 1), height: Math.max(b.h, 1) });
  return (
    <figure className="rec-figure">
      <svg className="rec-chart" viewBox={`0 0 ${String(c.width)} ${String(c.height)}`} role="img" aria-label={chartSummary(rec)} data-testid="rec-chart">
        <text className="rec-axis-title" x={4} y={12}>
          USD
        </text>
        {c.ticks.map((t) => (
          <g key={t.value}>
            <line className="rec-grid" x1={c.plot.x} x2={c.plot.x + c.plot.w} y1={t.y} y2={t.y} />
            <text className="rec-axis-label" x={c.plot.x - 6} y={t.y + 4} textAnchor="end">
              {t.label}
            </text>
          </g>
        ))}
        {c.groups.map((g) => (
          <g key={g.day.day} data-testid="rec-chart-day" data-day={g.day.day} data-drift={g.day.drift ? "true" : "false"}>
            {g.day.drift ? (
              <>
                <rect className="rec-drift-band" x={g.x + 1} y={c.plot.y} width={Math.max(g.w - 2, 1)} height={c.plot.h} rx={3}>
                  <title>{`${g.day.day}: drift of ${formatSignedUsd(g.day.diff)} (${formatDiffPct(g.day.diff_pct, g.day.diff)})`}</title>
                </rect>
                <text className="rec-drift-label" x={g.x + g.w / 2} y={c.plot.y - 6} textAnchor="middle">
                  {g.w >= 34 ? "drift" : "!"}
                </text>
              </>
            ) : null}
            <rect className="rec-bar-billed" x={g.billed.x} width={g.billed.w} {...zero(g.billed)}>
              <title>{`${g.day.day}: billed ${formatUsd(g.day.billed)}`}</title>
            </rect>
            <rect className="rec-bar-ledger" x={g.ledger.x} width={g.ledger.w} {...zero(g.ledger)}>
              <title>{`${g.day.day}: ledger ${formatUsd(g.day.ledger)}${g.day.unknown_cost_calls > 0 ? ` (+${String(g.day.unknown_cost_calls)} calls of unknown cost)` : ""}`}</title>
            </rect>
            {g.label !== null ? (
              <text className="rec-axis-label" x={g.x + g.w / 2} y={c.baseline + 15} textAnchor="middle">
                {g.label}
              </text>
            ) : null}
          </g>
        ))}
        <line className="spark-axis" x1={c.plot.x} x2={c.plot.x + c.plot.w} y1={c.baseline} y2={c.baseline} />
        <text className="rec-axis-title" x={c.plot.x + c.plot.w / 2} y={c.height - 3} textAnchor="middle">
          Day (UTC)
        </text>
      </svg>
      <figcaption className="rec-legend small muted">
        <span>
          <span className="rec-swatch rec-swatch-billed" aria-hidden="true" /> Billed
        </span>
        <span>
          <span className="rec-swatch rec-swatch-ledger" aria-hidden="true" /> Ledger
        </span>
        <span>
          <span className="rec-swatch rec-swatch-drift" aria-hidden="true" /> “drift”: off by more than {String(rec.drift_pct)}% and a cent
        </span>
      </figcaption>
    </figure>
  );
}

function Lines({ rec }: { rec: Reconciliation }) {
  if (rec.lines.length === 0) return <p className="muted">No lines.</p>;
  return (
    <table className="table small" data-testid="rec-lines">
      <thead>
        <tr>
          <th>Day</th>
          <th>Model</th>
          <th className="num">Billed</th>
          <th className="num">Ledger</th>
          <th className="num">Difference</th>
          <th className="num">Diff %</th>
          <th className="num">Calls</th>
          <th className="num">Unknown cost</th>
          <th>Drift</th>
        </tr>
      </thead>
      <tbody>
        {rec.lines.map((l) => (
          <tr key={`${l.day}/${l.model}`} className={l.drift ? "row-drift" : undefined} data-testid="rec-line" data-drift={l.drift ? "true" : "false"}>
            <td className="mono">{l.day}</td>
            <td className={l.model === "" ? "muted" : "mono"}>{modelLabel(l.model)}</td>
            <td className="num mono" title={`$${l.billed}`}>
              {formatUsd(l.billed)}
            </td>
            <td className="num mono" title={`$${l.ledger}`}>
              {formatUsd(l.ledger)}
            </td>
            <td className="num mono" title={`$${l.diff}`}>
              {formatSignedUsd(l.diff)}
            </td>
            <td className="num mono">{formatDiffPct(l.diff_pct, l.diff)}</td>
            <td className="num mono">{formatInt(l.ledger_calls)}</td>
            <td className="num mono">{l.unknown_cost_calls > 0 ? formatInt(l.unknown_cost_calls) : "—"}</td>
            <td>{l.drift ? <span className="pill pill-error">drift</span> : <span className="muted">ok</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Detail({ id }: { id: string }) {
  const api = useApi();
  const one = useQuery(reconciliationQuery(api, id));
  if (one.error) {
    if (one.error instanceof ApiError && one.error.code === "not_found") return <p className="muted">This reconciliation was removed.</p>;
    return <ErrorNote error={one.error} onRetry={() => void one.refetch()} />;
  }
  const r = one.data;
  if (!r) return <Skeleton className="skeleton-wide" />;
  return (
    <div className="rec-detail" data-testid="rec-detail" data-id={r.id}>
      <h3 className="subhead">
        {reconciliationName(r)} · {dayRange(r.first_day, r.last_day)}
      </h3>
      <div className="stats" data-testid="rec-totals">
        <div className="stat">
          <div className="stat-label">Billed</div>
          <div className="stat-value" title={`$${r.billed}`}>
            {formatUsd(r.billed)}
          </div>
          <div className="stat-sub">
            {formatInt(r.rows)} rows · {r.format}
          </div>
        </div>
        <div className="stat">
          <div className="stat-label">Ledger</div>
          <div className="stat-value" title={`$${r.ledger}`}>
            {formatUsd(r.ledger)}
          </div>
          <div className="stat-sub mono">{r.providers.join(", ")}</div>
        </div>
        <div className="stat">
          <div className="stat-label">Difference</div>
          <div className="stat-value" title={`$${r.diff}`} data-testid="rec-diff">
            {formatSignedUsd(r.diff)}
          </div>
          <div className="stat-sub">billed − ledger</div>
        </div>
        <div className="stat">
          <div className="stat-label">Drift</div>
          <div className="stat-value" data-testid="rec-drifted-days">
            {formatInt(r.drifted_days)} days
          </div>
          <div className="stat-sub">
            {formatInt(r.drifted_lines)} day × model lines above {String(r.drift_pct)}%
          </div>
        </div>
      </div>
      <DriftChartView rec={r} />
      <Lines rec={r} />
      <p className="muted small">
        Imported {formatTimestamp(r.created_at)} by <span className="mono">{r.actor}</span>. The ledger side is read now: later corrections and
        late calls count.
      </p>
    </div>
  );
}

function DriftBadge({ r }: { r: ReconciliationSummary }) {
  return r.drifted_days > 0 ? (
    <span className="pill pill-error" data-testid="rec-drift-badge">
      {r.drifted_days} drifted day{r.drifted_days === 1 ? "" : "s"}
    </span>
  ) : (
    <span className="pill pill-ok" data-testid="rec-drift-badge">
      no drift
    </span>
  );
}

export function ReconciliationPanel() {
  const api = useApi();
  const confirm = useConfirm();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const list = useQuery(reconciliationsQuery(api));
  const [selected, setSelected] = useState<string | null>(null);
  const shown = selected ?? list.data?.items[0]?.id ?? null;
  const remove = useMutation({
    mutationFn: (id: string) => ok(api.DELETE("/api/v1/reconciliations/{id}", { params: { path: { id } } })),
    onSuccess: (_v, id) => {
      if (selected === id) setSelected(null);
      queryClient.removeQueries({ queryKey: reconcileKeys.one(id) });
      void queryClient.invalidateQueries({ queryKey: reconcileKeys.list });
    },
    onError: (e) => toasts.error(e, "Could not remove the reconciliation"),
    meta: { toastErrors: false },
  });
  const imported = (r: Reconciliation) => {
    queryClient.setQueryData(reconcileKeys.one(r.id), r);
    setSelected(r.id);
    void queryClient.invalidateQueries({ queryKey: reconcileKeys.list });
    toasts.push({
      tone: r.drifted_days > 0 ? "info" : "success",
      title: `Imported ${reconciliationName(r)}`,
      message: `${formatUsd(r.billed)} billed, ${formatUsd(r.ledger)} in the ledger; ${String(r.drifted_days)} drifted days`,
    });
  };
  return (
    <Panel title="Reconciliation">
      <p className="muted small">
        Set a provider’s billing export beside the ledger, per UTC day and model. A file is imported once; remove it to import a corrected one.
      </p>
      <ImportForm onImported={imported} />
      {list.error ? (
        <ErrorNote error={list.error} onRetry={() => void list.refetch()} />
      ) : !list.data ? (
        <Skeleton className="skeleton-wide" />
      ) : list.data.items.length === 0 ? (
        <p className="muted">No billing export imported yet.</p>
      ) : (
        <table className="table small" data-testid="rec-list">
          <thead>
            <tr>
              <th>File</th>
              <th>Format</th>
              <th>Days</th>
              <th className="num">Billed</th>
              <th className="num">Ledger</th>
              <th className="num">Difference</th>
              <th>Drift</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((r) => (
              <tr
                key={r.id}
                className={`clickable${r.id === shown ? " row-selected" : ""}`}
                onClick={() => setSelected(r.id)}
                data-testid="rec-row"
                data-id={r.id}
              >
                <td>
                  <button type="button" className="link mono" onClick={() => setSelected(r.id)} aria-current={r.id === shown ? "true" : undefined}>
                    {reconciliationName(r)}
                  </button>
                </td>
                <td>{r.format}</td>
                <td className="mono">{dayRange(r.first_day, r.last_day)}</td>
                <td className="num mono">{formatUsd(r.billed)}</td>
                <td className="num mono">{formatUsd(r.ledger)}</td>
                <td className="num mono">{formatSignedUsd(r.diff)}</td>
                <td>
                  <DriftBadge r={r} />
                </td>
                <td className="num">
                  <button
                    type="button"
                    className="btn btn-ghost small"
                    data-testid="rec-remove"
                    onClick={(e) => {
                      e.stopPropagation();
                      void confirm({
                        title: `Remove ${reconciliationName(r)}?`,
                        body: "The imported export is removed (so a corrected file can be imported again). The ledger is not touched.",
                        action: "Remove",
                        danger: true,
                      }).then((yes) => yes && remove.mutate(r.id));
                    }}
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown !== null ? <Detail id={shown} /> : null}
    </Panel>
  );
}

function Report({ report }: { report: RepriceReport }) {
  const shown = report.corrections.slice(0, 20);
  return (
    <div className="rec-report" data-testid="reprice-report" data-dry-run={report.dry_run ? "true" : "false"}>
      <p>
        <strong>{report.dry_run ? "Dry run: nothing was changed." : report.batch ? `Re-priced (batch ${report.batch}).` : "Re-priced: nothing changed."}</strong>
      </p>
      <div className="budget-figures small">
        <span>{formatInt(report.examined)} calls examined</span>
        <span data-testid="reprice-corrected">
          {formatInt(report.corrected)} {report.dry_run ? "would be corrected" : "corrected"}
        </span>
        <span>{formatInt(report.filled)} of them had no cost</span>
        <span title={`$${report.delta}`}>{formatSignedUsd(report.delta)} in total</span>
        <span className={report.still_unpriced > 0 ? "error-text" : undefined}>{formatInt(report.still_unpriced)} still without a price</span>
      </div>
      {shown.length > 0 ? (
        <table className="table small">
          <thead>
            <tr>
              <th>Call</th>
              <th>Started</th>
              <th>Model</th>
              <th className="num">Was</th>
              <th className="num">Now</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => (
              <tr key={c.call_id}>
                <td className="mono">{c.call_id}</td>
                <td>{formatTimestamp(c.started_at)}</td>
                <td className="mono">
                  {c.provider}/{c.model}
                </td>
                <td className="num mono">{c.old_cost === undefined || c.old_cost === null ? <span className="muted">unknown</span> : formatUsd(c.old_cost)}</td>
                <td className="num mono" title={c.new_price_source}>
                  {formatUsd(c.new_cost)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {report.corrections.length > shown.length ? (
        <p className="muted small">
          The first {shown.length} of {formatInt(report.corrected)} corrections.
        </p>
      ) : null}
    </div>
  );
}

export function PriceGapsPanel() {
  const api = useApi();
  const confirm = useConfirm();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const gaps = useQuery(priceGapsQuery(api));
  const reprice = useMutation({
    meta: { toastErrors: false },
    mutationFn: (dryRun: boolean) => ok(api.POST("/api/v1/costs/reprice", { body: { dry_run: dryRun } })),
    onSuccess: (report) => {
      if (report.dry_run) return;
      void queryClient.invalidateQueries({ queryKey: ["costs"] });
      void queryClient.invalidateQueries({ queryKey: ["calls"] });
      toasts.push({ tone: "success", title: `Re-priced ${formatInt(report.corrected)} calls`, message: `${formatSignedUsd(report.delta)} in total` });
    },
  });
  return (
    <Panel
      title="Price gaps"
      actions={
        <span className="btn-row">
          <button type="button" className="btn" disabled={reprice.isPending} onClick={() => reprice.mutate(true)} data-testid="reprice-dry">
            Re-price (dry run)
          </button>
          <button
            type="button"
            className="btn btn-primary"
            disabled={reprice.isPending}
            onClick={() =>
              void confirm({
                title: "Re-price the ledger?",
                body: "Every call's cost is recomputed with the prices in force at its time; each change is recorded as a correction keeping the previous cost. Needs an admin token.",
                action: "Re-price",
              }).then((yes) => yes && reprice.mutate(false))
            }
            data-testid="reprice-run"
          >
            Re-price
          </button>
        </span>
      }
    >
      {gaps.error ? (
        <ErrorNote error={gaps.error} onRetry={() => void gaps.refetch()} />
      ) : !gaps.data ? (
        <Skeleton className="skeleton-wide" />
      ) : gaps.data.items.length === 0 ? (
        <p className="muted" data-testid="price-gaps-empty">
          Every call has a cost.
        </p>
      ) : (
        <table className="table small" data-testid="price-gaps">
          <thead>
            <tr>
              <th>Provider</th>
              <th>Model</th>
              <th className="num">Calls</th>
              <th>First day</th>
              <th>Last day</th>
              <th>Priced now</th>
            </tr>
          </thead>
          <tbody>
            {gaps.data.items.map((g) => (
              <tr key={`${g.provider}/${g.model}`} data-testid="price-gap" title={g.sample_call_ids.length > 0 ? `e.g. ${g.sample_call_ids.join(", ")}` : undefined}>
                <td className="mono">{g.provider}</td>
                <td className={g.model === "" ? "muted" : "mono"}>{gapModelLabel(g.model)}</td>
                <td className="num mono">{formatInt(g.calls)}</td>
                <td className="mono">{utcDay(g.first_day)}</td>
                <td className="mono">{utcDay(g.last_day)}</td>
                <td>{g.priced_now ? <span className="pill pill-ok">yes</span> : <span className="pill pill-error">no</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {reprice.error ? <FormError error={reprice.error} testId="reprice-error" /> : null}
      {reprice.data ? <Report report={reprice.data} /> : null}
    </Panel>
  );
}
