// The CSV import dialog of the Forecasts screen: a series name, a file (or its text pasted),
// a description and unit, merge or replace. A dry run first previews what the node would do
// (points, new / changed / removed, the frequency found, what was done to put the file on its
// grid, its first and last rows); "Import" then writes it. The node checks the file whole:
// a bad row is refused with its line number, and nothing is imported.
import { useMutation } from "@tanstack/react-query";
import { useId, useState } from "react";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { Icon } from "../components/Icon";
import { Modal } from "../components/Modal";
import {
  badRows,
  emptyImportDraft,
  errorCode,
  errorText,
  formatDs,
  formatValue,
  importRequest,
  nameFromFile,
  previewRows,
  reportItems,
  type ImportDraft,
  type ImportOutcome,
  type SeriesInfo,
} from "../data/forecasts";
import { formatInt } from "../format";

/** The node's refusal beside the form: bad rows one per line, else its message; and its code. */
export function ImportError({ error }: { error: unknown }) {
  const code = errorCode(error);
  const text = errorText(error);
  const rows = code === "invalid_rows" ? badRows(text) : null;
  return (
    <div className="error-note fc-error" role="alert" data-testid="import-error" data-code={code ?? undefined}>
      <Icon name="alert" />
      <div>
        {rows && rows.lines.length > 0 ? (
          <>
            <div>{rows.summary}</div>
            <ul className="fc-bad-rows mono small" data-testid="import-bad-rows">
              {rows.lines.map((l) => (
                <li key={l}>{l}</li>
              ))}
            </ul>
          </>
        ) : (
          <div className="fc-error-message">{text}</div>
        )}
        <div className="muted small">
          Nothing was imported.{code ? <span className="mono"> code: {code}</span> : null}
        </div>
      </div>
    </div>
  );
}

function Preview({ o, unit, replace }: { o: ImportOutcome; unit: string; replace: boolean }) {
  const rows = previewRows(o);
  return (
    <section className="fc-preview" data-testid="import-preview" aria-label="Preview of the import" ref={(el) => el?.scrollIntoView({ block: "nearest" })}>
      <h3 className="subhead">Preview · nothing is imported yet</h3>
      <div className="fc-preview-stats">
        <div className="fc-fact">
          <span className="fc-fact-label">Points</span>
          <strong data-testid="import-preview-points">{formatInt(o.points)}</strong>
        </div>
        <div className="fc-fact">
          <span className="fc-fact-label">New</span>
          <strong>{formatInt(o.new_points)}</strong>
        </div>
        <div className="fc-fact">
          <span className="fc-fact-label">Changed</span>
          <strong>{formatInt(o.changed_points)}</strong>
        </div>
        <div className="fc-fact">
          <span className="fc-fact-label">Removed</span>
          <strong className={o.removed_points > 0 ? "text-warn" : undefined}>{formatInt(o.removed_points)}</strong>
          {!replace ? <span className="muted small">(merge keeps the rest)</span> : null}
        </div>
        <div className="fc-fact">
          <span className="fc-fact-label">Frequency</span>
          <strong data-testid="import-preview-frequency">{o.frequency}</strong>
        </div>
        <div className="fc-fact fc-fact-wide">
          <span className="fc-fact-label">Span</span>
          <strong className="mono">
            {formatDs(o.first, o.frequency)} → {formatDs(o.last, o.frequency)}
          </strong>
        </div>
      </div>
      <p className="fc-report small" data-testid="import-preview-report">
        {reportItems(o.report).map((i) => (
          <span key={i.key} className={i.key !== "rows" && i.value > 0 ? "fc-report-hit" : "muted"}>
            {formatInt(i.value)} {i.label}
          </span>
        ))}
      </p>
      <table className="table small fc-preview-rows">
        <thead>
          <tr>
            <th>Date</th>
            <th className="num">Value</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((p, i) =>
            p === "gap" ? (
              <tr key="gap" className="fc-gap-row">
                <td colSpan={2} className="muted">
                  … {formatInt(o.points - o.head.length - o.tail.length)} more …
                </td>
              </tr>
            ) : (
              <tr key={`${p.ds}-${String(i)}`}>
                <td className="mono">{formatDs(p.ds, o.frequency)}</td>
                <td className="num mono">{formatValue(p.value, unit)}</td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </section>
  );
}

function ImportForm({ series, onDone, onImported }: { series: readonly SeriesInfo[]; onDone: () => void; onImported: (o: ImportOutcome) => void }) {
  const api = useApi();
  const [d, setD] = useState<ImportDraft>(emptyImportDraft);
  const [fileName, setFileName] = useState<string | null>(null);
  const [preview, setPreview] = useState<ImportOutcome | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const run = useMutation({
    meta: { toastErrors: false },
    mutationFn: async (dryRun: boolean) => {
      const checked = importRequest(d, dryRun);
      if ("error" in checked) throw new Error(checked.error);
      return ok(api.POST("/api/v1/series/{name}/import", { params: { path: { name: checked.name } }, body: checked.body }));
    },
    onSuccess: (o, dryRun) => {
      if (dryRun) setPreview(o);
      else onImported(o);
    },
  });
  // Any change makes the preview stale: it is made again before an import.
  const change = (next: Partial<ImportDraft>) => {
    setD((cur) => ({ ...cur, ...next }));
    setPreview(null);
    setProblem(null);
    run.reset();
  };
  const existing = series.find((s) => s.name === d.name.trim());
  const unit = d.unit.trim() || existing?.unit || "";
  const writable = series.filter((s) => !s.builtin);
  const listId = useId();
  return (
    <form
      className="fc-import-form"
      data-testid="import-form"
      onSubmit={(e) => {
        e.preventDefault();
        run.mutate(true);
      }}
    >
      <div className="fc-import-fields">
        <label className="field">
          <span className="field-label">Series name</span>
          <input
            className="mono"
            value={d.name}
            list={listId}
            placeholder="orders"
            autoFocus
            required
            autoComplete="off"
            onChange={(e) => change({ name: e.target.value })}
            data-testid="import-name"
          />
          <datalist id={listId}>
            {writable.map((s) => (
              <option key={s.name} value={s.name} />
            ))}
          </datalist>
          <span className="muted small">
            {existing ? `Adds to ${existing.name} (${formatInt(existing.points)} points).` : "a-z, 0-9, . _ -; a new name makes a new series."}
          </span>
        </label>
        <label className="field">
          <span className="field-label">Description</span>
          <input value={d.description} placeholder={existing?.description || "optional"} onChange={(e) => change({ description: e.target.value })} data-testid="import-description" />
        </label>
        <label className="field">
          <span className="field-label">Unit</span>
          <input className="mono" value={d.unit} placeholder={existing?.unit || "USD, orders, %…"} onChange={(e) => change({ unit: e.target.value })} data-testid="import-unit" />
        </label>
      </div>
      <label className="field">
        <span className="field-label">CSV file</span>
        <input
          type="file"
          accept=".csv,text/csv,text/plain"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (!file) return;
            setFileName(file.name);
            void file.text().then(
              (text) => change({ csv: text, ...(d.name.trim() === "" ? { name: nameFromFile(file.name) } : {}) }),
              () => setProblem(`Could not read ${file.name}.`),
            );
          }}
          data-testid="import-file"
        />
      </label>
      <label className="field">
        <span className="field-label">
          {fileName ? (
            <>
              Contents of <span className="mono">{fileName}</span> (editable)
            </>
          ) : (
            "Or paste the CSV"
          )}
        </span>
        <textarea
          className="mono fc-csv"
          rows={7}
          spellCheck={false}
          value={d.csv}
          placeholder={"date,value\n2026-01-01,120\n2026-01-02,131.5"}
          onChange={(e) => change({ csv: e.target.value })}
          data-testid="import-csv"
        />
        <span className="muted small">
          A header <span className="mono">date,value</span> (or <span className="mono">ds,y</span>), then one row per point. The node finds the frequency; rows on the
          same instant are averaged, missing ones filled in.
        </span>
      </label>
      <label className="field-check">
        <input type="checkbox" checked={d.replace} onChange={(e) => change({ replace: e.target.checked })} data-testid="import-replace" /> Replace every point the
        series has (default: merge, the file winning on the same instant)
      </label>
      {problem ? (
        <p className="error-text" role="alert">
          {problem}
        </p>
      ) : null}
      {run.error ? <ImportError error={run.error} /> : null}
      {preview ? <Preview o={preview} unit={unit} replace={d.replace} /> : null}
      <div className="fc-dialog-actions">
        <button type="button" className="btn btn-ghost" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className={`btn${preview ? "" : " btn-primary"}`} disabled={run.isPending} data-testid="import-preview-button">
          {run.isPending && run.variables ? "Checking…" : preview ? "Preview again" : "Preview"}
        </button>
        <button
          type="button"
          className="btn btn-primary"
          disabled={preview === null || run.isPending}
          onClick={() => run.mutate(false)}
          data-testid="import-confirm"
          title={preview ? undefined : "Preview first"}
        >
          {run.isPending && !run.variables ? "Importing…" : preview ? `Import ${formatInt(preview.points)} points` : "Import"}
        </button>
      </div>
    </form>
  );
}

export function ImportDialog({
  open,
  series,
  onClose,
  onImported,
}: {
  open: boolean;
  series: readonly SeriesInfo[];
  onClose: () => void;
  onImported: (o: ImportOutcome) => void;
}) {
  const titleId = useId();
  return (
    <Modal open={open} onClose={onClose} className="fc-dialog" labelledBy={titleId} testId="import-dialog">
      <header className="drawer-head">
        <h2 id={titleId} className="panel-title">
          Import a series from CSV
        </h2>
        <button type="button" className="btn btn-ghost btn-icon" aria-label="Close" onClick={onClose} data-testid="import-close">
          ×
        </button>
      </header>
      <div className="drawer-body">
        <ImportForm series={series} onDone={onClose} onImported={onImported} />
      </div>
    </Modal>
  );
}
