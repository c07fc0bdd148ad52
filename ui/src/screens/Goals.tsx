// Goals on the Forecasts screen: each goal's progress from its baseline to its target (with
// where the forecast puts the series at the due date, and its 80 % interval), the probability
// of reaching it, the goals at risk (below their alert level) highlighted, and why (the
// node's reason, in a tooltip); create and remove. Live: `forecasts` events reload them.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { useConfirm } from "../components/ConfirmDialog";
import { Icon } from "../components/Icon";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import {
  emptyGoalDraft,
  errorCode,
  errorText,
  expectedMarks,
  expectedText,
  forecastKeys,
  formatValue,
  goalBody,
  goalSentence,
  goalsQuery,
  goalTone,
  percentText,
  progressPct,
  type Goal,
  type GoalDraft,
  type SeriesInfo,
} from "../data/forecasts";
import { formatRelative, formatTimestamp } from "../format";

/** A reason shown on hover and on focus (a tooltip a keyboard reaches too). */
export function Tip({ text, label, testId }: { text: string; label: string; testId?: string }) {
  return (
    <button type="button" className="fc-tip" aria-label={`${label}: ${text}`} data-tip={text} data-testid={testId}>
      <Icon name="info" />
    </button>
  );
}

function GoalBar({ g }: { g: Goal }) {
  const pct = progressPct(g.progress);
  const marks = expectedMarks(g);
  const label = `${String(Math.round(pct))}% of the way from ${formatValue(g.baseline)} to ${formatValue(g.target)}${
    marks ? `; the forecast at the due date is ${String(Math.round(marks.mean))}% of the way (80 % interval ${String(Math.round(marks.lo))}–${String(Math.round(marks.hi))}%)` : ""
  }`;
  return (
    <div className={`fc-goal-bar fc-goal-bar-${goalTone(g)}`} role="img" aria-label={label} data-testid="goal-bar">
      <div className="fc-goal-fill" style={{ width: `${String(pct)}%` }} />
      {marks ? (
        <>
          <div className="fc-goal-band" style={{ left: `${String(marks.lo)}%`, width: `${String(Math.max(0, Math.round((marks.hi - marks.lo) * 10) / 10))}%` }} />
          <div className="fc-goal-expected" style={{ left: `calc(${String(marks.mean)}% - ${String(Math.round(marks.mean * 2) / 100)}px)` }} />
        </>
      ) : null}
    </div>
  );
}

function GoalItem({ g, unit, now, onRemove }: { g: Goal; unit: string; now: number; onRemove: () => void }) {
  const tone = goalTone(g);
  return (
    <li className={`fc-goal fc-goal-${tone}`} data-testid="goal" data-name={g.name} data-at-risk={g.at_risk ? "true" : "false"}>
      <div className="fc-goal-head">
        <strong className="mono">{g.name}</strong>
        <Link className="link small mono" href={`/${g.series}`}>
          {g.series}
        </Link>
        {g.at_risk ? (
          <span className="pill pill-error" data-testid="goal-at-risk">
            <Icon name="alert" className="icon fc-pill-icon" /> at risk
          </span>
        ) : null}
        <span className="fc-goal-actions">
          <button type="button" className="btn btn-ghost small" onClick={onRemove} data-testid="goal-remove" aria-label={`Remove goal ${g.name}`}>
            Remove
          </button>
        </span>
      </div>
      <div className="muted small">
        {goalSentence(g, unit)} <span title={formatTimestamp(g.due)}>({formatRelative(g.due, now)})</span> · alert below {percentText(g.alert_below)}
      </div>
      <GoalBar g={g} />
      <div className="fc-goal-figures small">
        <span>
          <span className="muted">Now</span> <strong>{formatValue(g.current, unit)}</strong> <span className="muted">from {formatValue(g.baseline, unit)}</span> ·{" "}
          <strong>{g.progress !== null && g.progress !== undefined ? percentText(Math.max(0, g.progress)) : "—"}</strong> <span className="muted">of the way</span>
        </span>
        <span className={`fc-probability fc-probability-${tone}`} data-testid="goal-probability">
          <span className="muted">Probability</span> <strong>{percentText(g.probability)}</strong>
          <Tip text={g.reason} label="How it was found" testId="goal-reason" />
        </span>
        <span data-testid="goal-expected">
          <span className="muted">Expected at due</span> <strong>{expectedText(g, unit)}</strong>
        </span>
      </div>
    </li>
  );
}

function GoalEditor({ series, onDone }: { series: readonly SeriesInfo[]; onDone: () => void }) {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [d, setD] = useState<GoalDraft>(() => emptyGoalDraft(series.find((s) => s.points >= 3)?.name ?? series[0]?.name ?? ""));
  const save = useMutation({
    meta: { toastErrors: false },
    mutationFn: async () => {
      const checked = goalBody(d);
      if ("error" in checked) throw new Error(checked.error);
      return ok(api.POST("/api/v1/goals", { body: checked.body }));
    },
    onSuccess: (g) => {
      queryClient.setQueryData(forecastKeys.goals, (cur: { items: Goal[] } | undefined) => (cur ? { items: [...cur.items.filter((x) => x.name !== g.name), g] } : cur));
      void queryClient.invalidateQueries({ queryKey: forecastKeys.goals });
      toasts.push({ tone: g.at_risk ? "info" : "success", title: `Goal ${g.name} set`, message: `${percentText(g.probability)} chance of ${goalSentence(g)}` });
      onDone();
    },
  });
  const set = (next: Partial<GoalDraft>) => {
    setD((cur) => ({ ...cur, ...next }));
    save.reset();
  };
  const unit = series.find((s) => s.name === d.series)?.unit ?? "";
  return (
    <form
      className="fc-goal-editor"
      data-testid="goal-editor"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <label className="field">
        <span className="field-label">Name</span>
        <input className="mono" value={d.name} placeholder="q1-revenue" autoFocus required onChange={(e) => set({ name: e.target.value })} data-testid="goal-name" />
      </label>
      <label className="field">
        <span className="field-label">Series</span>
        <select className="fc-select" value={d.series} onChange={(e) => set({ series: e.target.value })} data-testid="goal-series">
          {series.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span className="field-label">Direction</span>
        <select className="fc-select" value={d.direction} onChange={(e) => set({ direction: e.target.value as GoalDraft["direction"] })} data-testid="goal-direction">
          <option value="at_least">at least the target</option>
          <option value="at_most">at most the target</option>
        </select>
      </label>
      <label className="field">
        <span className="field-label">Target{unit ? ` (${unit})` : ""}</span>
        <input className="mono" inputMode="decimal" value={d.target} required onChange={(e) => set({ target: e.target.value })} data-testid="goal-target" />
      </label>
      <label className="field">
        <span className="field-label">Due (UTC day)</span>
        <input className="mono" type="date" value={d.due} required onChange={(e) => set({ due: e.target.value })} data-testid="goal-due" />
      </label>
      <label className="field">
        <span className="field-label">Alert below (% probability)</span>
        <input className="mono" type="number" min={0} max={100} step="any" value={d.alertBelow} onChange={(e) => set({ alertBelow: e.target.value })} data-testid="goal-alert" />
      </label>
      {save.error ? (
        <p className="error-text fc-form-error" role="alert" data-testid="goal-error" data-code={errorCode(save.error) ?? undefined}>
          {errorText(save.error)}
        </p>
      ) : null}
      <div className="btn-row fc-form-buttons">
        <button type="submit" className="btn btn-primary" disabled={save.isPending} data-testid="goal-save">
          {save.isPending ? "Saving…" : "Set goal"}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function GoalsPanel({ series, now }: { series: readonly SeriesInfo[] | undefined; now: number }) {
  const api = useApi();
  const confirm = useConfirm();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const goals = useQuery(goalsQuery(api));
  const [editing, setEditing] = useState(false);
  const remove = useMutation({
    meta: { toastErrors: false },
    mutationFn: (name: string) => ok(api.DELETE("/api/v1/goals/{name}", { params: { path: { name } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: forecastKeys.goals }),
    onError: (e) => toasts.error(e, "Could not remove the goal"),
  });
  const units = new Map((series ?? []).map((s) => [s.name, s.unit]));
  const items = goals.data?.items;
  const risky = items?.filter((g) => g.at_risk).length ?? 0;
  return (
    <Panel
      title={
        <>
          Goals
          {risky > 0 ? (
            <span className="pill pill-error fc-title-pill" data-testid="goals-at-risk">
              {risky} at risk
            </span>
          ) : null}
        </>
      }
      actions={
        <button type="button" className="btn btn-ghost small" onClick={() => setEditing(true)} disabled={editing || !series || series.length === 0} data-testid="goal-new">
          New goal
        </button>
      }
    >
      {editing && series ? <GoalEditor series={series} onDone={() => setEditing(false)} /> : null}
      {goals.error ? (
        <ErrorNote error={goals.error} onRetry={() => void goals.refetch()} />
      ) : !items ? (
        <Skeleton className="skeleton-wide" />
      ) : items.length === 0 ? (
        <p className="muted" data-testid="goals-empty">
          No goals yet. A goal is a target on a series by a date: its probability is read from the forecast, and you are notified when it falls below the alert level.
        </p>
      ) : (
        <ul className="fc-goals" data-testid="goals">
          {items.map((g) => (
            <GoalItem
              key={g.name}
              g={g}
              unit={units.get(g.series) ?? ""}
              now={now}
              onRemove={() =>
                void confirm({
                  title: `Remove goal ${g.name}?`,
                  body: `The goal (${goalSentence(g, units.get(g.series))} on ${g.series}) is removed. The series is not touched.`,
                  action: "Remove",
                  danger: true,
                }).then((yes) => yes && remove.mutate(g.name))
              }
            />
          ))}
        </ul>
      )}
    </Panel>
  );
}
