// Budgets on the Costs screen: each budget's bar (spent, reserved by calls in flight, what
// is left, the spend projected to the period's end: `BudgetForecast`), its period and scope,
// the thresholds fired; create, edit and remove (written to the config file by the node,
// admin scope); the alerts fired, newest first. Live: `costs` events (an alert) and new calls
// reload them.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { useConfirm } from "../components/ConfirmDialog";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import { forecastMarks, P80, projectedText } from "../data/burn";
import { alertsQuery, alertText, budgetBar, budgetBody, budgetsQuery, draftFrom, formatUsd, scopeText, type BudgetDraft, type BudgetStatus } from "../data/costs";
import { formatTimestamp } from "../format";
import { BudgetForecast, ForecastBand } from "./BudgetForecast";

function Bar({ b }: { b: BudgetStatus }) {
  const bar = budgetBar(b);
  const marks = forecastMarks(b);
  const projected = b.forecast ? projectedText(b, b.forecast) : null;
  const label = `${String(bar.spent)}% spent, ${String(bar.reserved)}% reserved${marks ? `; ${marks.label}` : ""}`;
  return (
    <div className="budget-meter">
      <div className={`budget-bar budget-${bar.level}`} role="img" aria-label={label} data-testid="budget-bar">
        <div className="budget-spent" style={{ width: `${String(bar.spent)}%` }} />
        <div className="budget-reserved" style={{ width: `${String(bar.reserved)}%` }} />
        {marks ? <ForecastBand marks={marks} title={projected ?? marks.label} /> : null}
        {(b.config.thresholds ?? []).map((t) => (t <= 100 ? <div key={t} className="budget-mark" style={{ left: `${String(t)}%` }} title={`${String(t)}%`} /> : null))}
      </div>
      <span
        className={`budget-overflow${marks?.overflow ? " budget-overflow-on" : ""}${marks?.meanOver ? " budget-overflow-mean" : ""}`}
        aria-hidden="true"
        data-testid={marks?.overflow ? "budget-overflow" : undefined}
        title={marks?.meanOver ? "Projected past the limit" : marks?.overflow ? `The ${P80} interval reaches past the limit` : undefined}
      />
    </div>
  );
}

function Editor({ initial, onDone }: { initial: BudgetDraft; onDone: () => void }) {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [d, setD] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: async () => {
      const checked = budgetBody(d);
      if ("error" in checked) throw new Error(checked.error);
      return ok(api.PUT("/api/v1/budgets/{name}", { params: { path: { name: d.name } }, body: checked.body }));
    },
    onSuccess: (b) => {
      setError(null);
      void queryClient.invalidateQueries({ queryKey: ["costs"] });
      toasts.push({ tone: "success", title: `Budget ${b.name} saved`, message: `${formatUsd(b.limit_usd)} ${b.config.period}` });
      onDone();
    },
    onError: (e) => setError(e instanceof Error ? e.message : String(e)),
  });
  const field = (k: "agent" | "model" | "tag" | "route", placeholder: string) => (
    <label className="field">
      <span>{k}</span>
      <input className="mono" value={d[k]} placeholder={placeholder} onChange={(e) => setD({ ...d, [k]: e.target.value })} data-testid={`budget-${k}`} />
    </label>
  );
  return (
    <form
      className="budget-editor"
      data-testid="budget-editor"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <label className="field">
        <span>Name</span>
        <input className="mono" value={d.name} disabled={initial.name !== ""} onChange={(e) => setD({ ...d, name: e.target.value })} data-testid="budget-name" />
      </label>
      <label className="field">
        <span>Limit (USD)</span>
        <input className="mono" inputMode="decimal" value={d.limit_usd} onChange={(e) => setD({ ...d, limit_usd: e.target.value })} data-testid="budget-limit" />
      </label>
      <label className="field">
        <span>Period</span>
        <select value={d.period} onChange={(e) => setD({ ...d, period: e.target.value as BudgetDraft["period"] })} data-testid="budget-period">
          <option value="daily">daily</option>
          <option value="weekly">weekly</option>
          <option value="monthly">monthly</option>
        </select>
      </label>
      <label className="field">
        <span>At the limit</span>
        <select value={d.action} onChange={(e) => setD({ ...d, action: e.target.value as BudgetDraft["action"] })} data-testid="budget-action">
          <option value="alert">alert only</option>
          <option value="block">block calls</option>
        </select>
      </label>
      <label className="field">
        <span>Alert at (%)</span>
        <input className="mono" value={d.thresholds} onChange={(e) => setD({ ...d, thresholds: e.target.value })} />
      </label>
      {field("agent", "any agent")}
      {field("model", "any model (provider/model)")}
      {field("tag", "any tag")}
      {field("route", "any route")}
      <label className="field-check">
        <input type="checkbox" checked={d.include_free} onChange={(e) => setD({ ...d, include_free: e.target.checked })} /> Also hold free (local) models
      </label>
      {error ? (
        <p className="error-text" role="alert" data-testid="budget-error">
          {error}
        </p>
      ) : null}
      <div className="btn-row">
        <button type="submit" className="btn btn-primary" disabled={save.isPending} data-testid="budget-save">
          Save
        </button>
        <button type="button" className="btn btn-ghost" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function BudgetsPanel() {
  const api = useApi();
  const confirm = useConfirm();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const budgets = useQuery(budgetsQuery(api));
  const alerts = useQuery(alertsQuery(api));
  const [editing, setEditing] = useState<BudgetDraft | null>(null);
  const remove = useMutation({
    mutationFn: (name: string) => ok(api.DELETE("/api/v1/budgets/{name}", { params: { path: { name } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["costs"] }),
    onError: (e) => toasts.error(e, "Could not remove the budget"),
  });
  return (
    <>
      <Panel
        title="Budgets"
        actions={
          <button type="button" className="btn btn-ghost small" onClick={() => setEditing(draftFrom())} data-testid="budget-new">
            New budget
          </button>
        }
      >
        {editing ? <Editor initial={editing} onDone={() => setEditing(null)} /> : null}
        {budgets.error ? (
          <ErrorNote error={budgets.error} onRetry={() => void budgets.refetch()} />
        ) : !budgets.data ? (
          <Skeleton className="skeleton-wide" />
        ) : budgets.data.items.length === 0 ? (
          <p className="muted">No budgets yet. A budget alerts at its thresholds, and with “block calls” refuses any call that could take it past its limit.</p>
        ) : (
          <ul className="budget-list" data-testid="budgets">
            {budgets.data.items.map((b) => (
              <li key={b.name} className="budget" data-testid="budget" data-name={b.name}>
                <div className="budget-head">
                  <strong className="mono">{b.name}</strong>
                  <span className={`pill ${b.config.action === "block" ? "pill-error" : ""}`}>{b.config.action === "block" ? "blocks" : "alerts"}</span>
                  <span className="muted small">{scopeText(b.config)}</span>
                  <span className="budget-actions">
                    <button type="button" className="btn btn-ghost small" onClick={() => setEditing(draftFrom(b))}>
                      Edit
                    </button>
                    <button
                      type="button"
                      className="btn btn-ghost small"
                      onClick={() =>
                        void confirm({ title: `Remove budget ${b.name}?`, body: "It is removed from the config file.", action: "Remove", danger: true }).then(
                          (yes) => yes && remove.mutate(b.name),
                        )
                      }
                    >
                      Remove
                    </button>
                  </span>
                </div>
                <Bar b={b} />
                <div className="budget-figures small" data-testid="budget-figures">
                  <span>
                    <strong title={`$${b.spent}`}>{formatUsd(b.spent)}</strong> of {formatUsd(b.limit_usd)} ({String(b.percent)}%)
                  </span>
                  <span title="Held by calls in flight">{formatUsd(b.reserved)} reserved</span>
                  <span>{formatUsd(b.remaining)} left</span>
                  {b.unknown_cost_calls > 0 ? <span className="muted">+{b.unknown_cost_calls} calls of unknown cost</span> : null}
                  <span className="muted">
                    {b.config.period}
                    {b.period_end ? `, resets ${formatTimestamp(b.period_end)}` : ""}
                    {b.active ? "" : " (not open)"}
                  </span>
                </div>
                <BudgetForecast b={b} />
              </li>
            ))}
          </ul>
        )}
      </Panel>
      <Panel title="Alerts">
        {alerts.error ? (
          <ErrorNote error={alerts.error} onRetry={() => void alerts.refetch()} />
        ) : !alerts.data ? (
          <Skeleton className="skeleton-wide" />
        ) : alerts.data.items.length === 0 ? (
          <p className="muted">No alert has fired.</p>
        ) : (
          <table className="table small" data-testid="budget-alerts">
            <thead>
              <tr>
                <th>When</th>
                <th>Budget</th>
                <th>What</th>
                <th className="num">Spent</th>
                <th className="num">Limit</th>
                <th>Webhook</th>
              </tr>
            </thead>
            <tbody>
              {alerts.data.items.map((a) => (
                <tr key={`${a.budget}-${a.period_start}-${a.kind}-${String(a.threshold)}`} data-testid="budget-alert">
                  <td>{formatTimestamp(a.fired_at)}</td>
                  <td className="mono">{a.budget}</td>
                  <td>{alertText(a)}</td>
                  <td className="num">{formatUsd(a.spent)}</td>
                  <td className="num">{formatUsd(a.limit_usd)}</td>
                  <td className="muted">{a.delivered_at ? `sent ${formatTimestamp(a.delivered_at)}` : a.attempts > 0 ? `${String(a.attempts)} failed tries` : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
    </>
  );
}
