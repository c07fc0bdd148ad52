// Multi-agent runs on the Agents & Tasks screen: the newest runs, live from the feed (a
// `runs` event makes them stale; no polling); a form that plans a definition (a dry run:
// steps by level, model calls, worst-case cost) and starts it; and a run's drawer
// (`#/agents/runs/<id>`) with its DAG, level by level, each step's state and task (a click
// opens the task's timeline), the aggregate, who decided it and where the answers differed.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type SyntheticEvent } from "react";
import { useLocation } from "wouter";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { DataTable, type Column } from "../components/DataTable";
import { JsonView } from "../components/JsonView";
import { ErrorNote, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import { runDefinitionsQuery, runQuery, runsQuery } from "../data/runs";
import { useNow } from "../data/useNow";
import { formatRelative, formatTimestamp } from "../format";
import type { NewRun, Run, RunPlan, RunSpec, RunState, RunStep, StepState } from "../generated/api";

const RUN_TONE: Record<RunState, string> = {
  running: "degraded",
  succeeded: "healthy",
  failed: "unhealthy",
  cancelled: "unknown",
};

const STEP_TONE: Record<StepState, string> = {
  pending: "unknown",
  running: "degraded",
  succeeded: "healthy",
  failed: "unhealthy",
  skipped: "unknown",
  cancelled: "unknown",
};

function RunBadge({ state }: { state: RunState }) {
  return (
    <span className={`badge badge-${RUN_TONE[state]}`} data-testid="run-state">
      {state}
    </span>
  );
}

function done(r: Run): string {
  return `${String(r.steps.filter((s) => !["pending", "running"].includes(s.state)).length)}/${String(r.steps.length)}`;
}

function columns(now: number): Column<Run>[] {
  return [
    {
      id: "created",
      header: "Started",
      cell: (r) => <span title={formatTimestamp(r.created_at)}>{formatRelative(r.created_at, now)}</span>,
      sortValue: (r) => Date.parse(r.created_at),
    },
    { id: "name", header: "Run", cell: (r) => <span className="mono">{r.name ?? "(posted)"}</span>, sortValue: (r) => r.name ?? "" },
    { id: "mode", header: "Aggregate", cell: (r) => r.spec.mode.replaceAll("_", " "), sortValue: (r) => r.spec.mode },
    { id: "state", header: "State", cell: (r) => <RunBadge state={r.state} />, sortValue: (r) => r.state },
    { id: "steps", header: "Steps done", numeric: true, cell: done, sortValue: (r) => r.steps.length },
    { id: "error", header: "Error", cell: (r) => (r.error ? <span className="mono small">{r.error.code}</span> : <span className="muted">—</span>), sortValue: (r) => r.error?.code ?? "" },
  ];
}

const EXAMPLE = `{
  "agents": [],
  "aggregate": { "mode": "all" }
}`;

function Plan({ plan }: { plan: RunPlan }) {
  return (
    <div data-testid="run-plan">
      <table className="table small">
        <thead>
          <tr>
            <th>Level</th>
            <th>Step</th>
            <th>Agent</th>
            <th>Chain</th>
            <th className="num">Calls at most</th>
            <th className="num">Worst case</th>
          </tr>
        </thead>
        <tbody>
          {plan.steps.map((s) => (
            <tr key={s.id} data-testid="plan-step">
              <td>{s.level}</td>
              <td className="mono">{s.id}</td>
              <td className="mono">{s.agent}</td>
              <td className="mono">{s.chain.join(" → ")}</td>
              <td className="num">{s.max_calls}</td>
              <td className="num" title={s.cost_unknown ?? undefined}>
                {s.worst_case_cost_usd ? `$${s.worst_case_cost_usd}` : "unknown"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="small" data-testid="plan-summary">
        {plan.min_calls} to {plan.max_calls} model calls · worst case{" "}
        {plan.worst_case_cost_usd ? `$${plan.worst_case_cost_usd}` : `unknown (at least $${plan.known_worst_case_cost_usd})`} · aggregate{" "}
        {plan.mode.replaceAll("_", " ")} of {plan.of.join(", ")}
      </p>
      {plan.steps
        .filter((s) => s.cost_unknown)
        .map((s) => (
          <p key={s.id} className="muted small">
            {s.id}: {s.cost_unknown}
          </p>
        ))}
    </div>
  );
}

function StartRunForm() {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const configured = useQuery(runDefinitionsQuery(api));
  const [named, setNamed] = useState("");
  const [definition, setDefinition] = useState(EXAMPLE);
  const [input, setInput] = useState("{}");
  const [problem, setProblem] = useState<string | null>(null);
  const [plan, setPlan] = useState<RunPlan | null>(null);
  const body = (): NewRun | null => {
    try {
      if (named) return { run: named, input: JSON.parse(input) as unknown };
      return { definition: JSON.parse(definition) as RunSpec, input: JSON.parse(input) as unknown };
    } catch (err) {
      setProblem(`Not JSON: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
  };
  const planIt = useMutation({
    mutationFn: (b: NewRun) => ok(api.POST("/api/v1/runs/plan", { body: b })),
    onSuccess: (p) => {
      setProblem(null);
      setPlan(p);
    },
    onError: (e) => {
      setPlan(null);
      setProblem(e instanceof Error ? e.message : String(e));
    },
  });
  const start = useMutation({
    mutationFn: (b: NewRun) => ok(api.POST("/api/v1/runs", { body: b })),
    onSuccess: (run) => {
      void queryClient.invalidateQueries({ queryKey: ["runs"] });
      toasts.push({ tone: "success", title: "Run started", message: run.id });
      navigate(`/runs/${run.id}`);
    },
    onError: (e) => setProblem(e instanceof Error ? e.message : String(e)),
  });
  const submit = (e: SyntheticEvent, dry: boolean) => {
    e.preventDefault();
    const b = body();
    if (!b) return;
    setProblem(null);
    if (dry) planIt.mutate(b);
    else start.mutate(b);
  };
  return (
    <form className="enqueue" onSubmit={(e) => submit(e, false)} data-testid="run-form">
      {configured.data?.length ? (
        <label>
          Run
          <select
            value={named}
            onChange={(e) => {
              setNamed(e.target.value);
              setPlan(null);
            }}
            data-testid="run-named"
          >
            <option value="">a definition written here</option>
            {configured.data.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name} (configured)
              </option>
            ))}
          </select>
        </label>
      ) : null}
      {named ? (
        <JsonView value={configured.data?.find((d) => d.name === named)?.definition} testId="run-named-definition" />
      ) : (
        <label>
          Definition (JSON: <span className="mono">agents</span> to fan out, or <span className="mono">steps</span> with <span className="mono">needs</span>; and{" "}
          <span className="mono">aggregate</span>)
          <textarea
            rows={6}
            className="mono"
            value={definition}
            onChange={(e) => {
              setDefinition(e.target.value);
              setPlan(null);
            }}
            data-testid="run-definition"
          />
        </label>
      )}
      <label>
        Input (JSON object: the steps&apos; variables)
        <textarea
          rows={2}
          className="mono"
          value={input}
          onChange={(e) => {
            setInput(e.target.value);
            setPlan(null);
          }}
          data-testid="run-input"
        />
      </label>
      {problem ? (
        <p className="error small" role="alert" data-testid="run-problem">
          {problem}
        </p>
      ) : null}
      <div className="actions">
        <button type="button" className="btn btn-ghost" onClick={(e) => submit(e, true)} disabled={planIt.isPending} data-testid="run-plan-button">
          Dry run
        </button>
        <button type="submit" className="btn" disabled={start.isPending} data-testid="run-start">
          Start run
        </button>
      </div>
      {plan ? <Plan plan={plan} /> : null}
    </form>
  );
}

export function RunsList() {
  const api = useApi();
  const now = useNow(1000);
  const runs = useQuery(runsQuery(api));
  const [, navigate] = useLocation();
  return (
    <>
      <DataTable
        testId="runs-table"
        columns={columns(now)}
        rows={runs.data?.items}
        rowKey={(r) => r.id}
        rowAttrs={(r) => ({ "data-testid": "run-row", "data-state": r.state, "data-id": r.id })}
        error={runs.error}
        onRetry={() => void runs.refetch()}
        filterText={(r) => `${r.name ?? ""} ${r.state} ${r.spec.mode} ${r.error?.code ?? ""} ${r.id}`}
        filterLabel="Filter by run, state or error"
        pageSize={10}
        empty="No runs yet. Start one below, with `flightdeck run start`, or POST /api/v1/runs."
        onRowClick={(r) => navigate(`/runs/${r.id}`)}
      />
      <StartRunForm />
    </>
  );
}

function StepBox({ step, onOpenTask }: { step: RunStep; onOpenTask: (id: string) => void }) {
  return (
    <li className="dag-step" data-testid="run-step" data-step={step.id} data-state={step.state}>
      <div>
        <span className="mono">{step.id}</span> <span className={`badge badge-${STEP_TONE[step.state]}`}>{step.state}</span>
      </div>
      <div className="muted small">
        {step.agent}
        {step.attempts ? ` · ${String(step.attempts)} attempt${step.attempts === 1 ? "" : "s"}` : ""}
      </div>
      {step.needs.length ? <div className="muted small">needs {step.needs.join(", ")}</div> : null}
      {step.error ? <div className="error small">{`${step.error.code}: ${step.error.message}`}</div> : null}
      {step.task_id ? (
        <button type="button" className="link small" onClick={() => onOpenTask(step.task_id ?? "")} data-testid="run-step-task">
          task timeline
        </button>
      ) : null}
    </li>
  );
}

export function RunDetail({ id }: { id: string }) {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const detail = useQuery(runQuery(api, id));
  const cancel = useMutation({
    mutationFn: () => ok(api.POST("/api/v1/runs/{id}/cancel", { params: { path: { id } } })),
    onSuccess: (run) => {
      void queryClient.invalidateQueries({ queryKey: ["runs"] });
      toasts.push({ tone: "success", title: "Run cancelled", message: run.id });
    },
  });
  if (detail.error) return <ErrorNote error={detail.error} onRetry={() => void detail.refetch()} />;
  const r = detail.data;
  if (!r) return <Skeleton className="skeleton-wide" />;
  const depth = Math.max(0, ...r.steps.map((s) => s.level));
  const levels = Array.from({ length: depth + 1 }, (_, l) => r.steps.filter((s) => s.level === l));
  return (
    <>
      <dl className="kv" data-testid="run-detail" data-state={r.state}>
        <dt>State</dt>
        <dd>
          <RunBadge state={r.state} />
        </dd>
        <dt>Run</dt>
        <dd className="mono">{r.name ?? "(posted definition)"}</dd>
        <dt>Started</dt>
        <dd>
          {formatTimestamp(r.created_at)} <span className="muted small">by {r.created_by}</span>
        </dd>
        <dt>Aggregate</dt>
        <dd>
          {r.spec.mode.replaceAll("_", " ")}
          {r.spec.field ? ` on ${r.spec.field}` : ""} of {r.spec.of.join(", ")} · {r.spec.concurrency} at once
        </dd>
        {r.decided_by.length ? (
          <>
            <dt>Decided by</dt>
            <dd className="mono" data-testid="run-decided-by">
              {r.decided_by.join(", ")}
            </dd>
          </>
        ) : null}
        {r.error ? (
          <>
            <dt>Error</dt>
            <dd data-testid="run-error">
              <span className="mono">{r.error.code}</span>: {r.error.message}
            </dd>
          </>
        ) : null}
      </dl>
      {r.state === "running" ? (
        <div className="actions">
          <button type="button" className="btn btn-ghost" onClick={() => cancel.mutate()} disabled={cancel.isPending} data-testid="run-cancel">
            Cancel run
          </button>
        </div>
      ) : null}
      <h3 className="drawer-sub">Steps</h3>
      <div className="dag" data-testid="run-dag">
        {levels.map((steps, l) => (
          <ol key={l} className="dag-level" aria-label={`level ${String(l)}`}>
            {steps.map((s) => (
              <StepBox key={s.id} step={s} onOpenTask={(task) => navigate(`/tasks/${task}`)} />
            ))}
          </ol>
        ))}
      </div>
      {r.result !== undefined && r.result !== null ? (
        <>
          <h3 className="drawer-sub">Result</h3>
          <JsonView value={r.result} testId="run-result" />
        </>
      ) : null}
      {r.disagreements.length ? (
        <>
          <h3 className="drawer-sub">Disagreements</h3>
          <ul className="timeline" data-testid="run-disagreements">
            {r.disagreements.map((g, i) => (
              <li key={i} data-testid="run-disagreement">
                <span className="mono">{g.steps.join(", ")}</span> answered <code>{JSON.stringify(g.value)}</code>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <h3 className="drawer-sub">Input</h3>
      <JsonView value={r.input} />
    </>
  );
}
