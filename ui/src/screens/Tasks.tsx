// Agents & Tasks: the configured agents, a form to enqueue a task, and the task list, live
// from the feed (a `tasks` event makes the list stale; no polling). A row opens the task's
// timeline (`#/agents/tasks/<id>`, a deep link): its attempts, every step (model calls,
// tool results, re-asks with their validation errors) and its LLM calls with tokens and cost;
// cancel and requeue are there too. "Dead letters" narrows the list to tasks that used up
// their attempts. Multi-agent runs have their panel and drawer (`Runs.tsx`).
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type SyntheticEvent } from "react";
import { useLocation, useRoute } from "wouter";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { DataTable, type Column } from "../components/DataTable";
import { Drawer } from "../components/Drawer";
import { JsonView } from "../components/JsonView";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useConfirm } from "../components/ConfirmDialog";
import { useToasts } from "../components/Toasts";
import { agentsQuery, taskQuery, tasksQuery } from "../data/tasks";
import { useNow } from "../data/useNow";
import { formatRelative, formatTimestamp } from "../format";
import type { AgentInfo, Task, TaskState } from "../generated/api";
import { pathFor } from "../routes";
import { AgentDetail } from "./AgentDetail";
import { RunDetail, RunsList } from "./Runs";

const TONE: Record<TaskState, string> = {
  queued: "degraded",
  scheduled: "degraded",
  running: "degraded",
  waiting_for_provider: "degraded",
  waiting_approval: "degraded",
  succeeded: "healthy",
  failed: "unhealthy",
  dead: "unhealthy",
  cancelled: "unknown",
};

const TASK_STATES = Object.keys(TONE) as TaskState[];

function StateBadge({ state }: { state: TaskState }) {
  return (
    <span className={`badge badge-${TONE[state]}`} data-testid="task-state">
      {state.replaceAll("_", " ")}
    </span>
  );
}

/** A model step's context budget (`detail.context`), if it has one. */
function contextOf(detail: unknown): { budget: number; used: number; dropped: number; summarized: number } | null {
  if (typeof detail !== "object" || detail === null || !("context" in detail)) return null;
  const c: unknown = detail.context;
  if (typeof c !== "object" || c === null) return null;
  const { budget, used, dropped, summarized } = c as Record<string, unknown>;
  return typeof budget === "number" && typeof used === "number" && typeof dropped === "number"
    ? { budget, used, dropped, summarized: typeof summarized === "number" ? summarized : 0 }
    : null;
}

/** What a summary step stands for (`detail.from`..`detail.to`). */
function summaryOf(detail: unknown): string {
  if (typeof detail !== "object" || detail === null) return "";
  const { from, to } = detail as Record<string, unknown>;
  return typeof from === "number" && typeof to === "number" ? ` of steps ${String(from + 1)}–${String(to + 1)}` : "";
}

function columns(now: number): Column<Task>[] {
  return [
    {
      id: "created",
      header: "Created",
      cell: (t) => <span title={formatTimestamp(t.created_at)}>{formatRelative(t.created_at, now)}</span>,
      sortValue: (t) => Date.parse(t.created_at),
    },
    { id: "agent", header: "Agent", cell: (t) => <span className="mono">{t.agent ?? t.capability ?? "—"}</span>, sortValue: (t) => t.agent ?? "" },
    { id: "state", header: "State", cell: (t) => <StateBadge state={t.state} />, sortValue: (t) => t.state },
    { id: "attempts", header: "Attempts", numeric: true, cell: (t) => `${String(t.attempts)}/${String(t.max_attempts)}`, sortValue: (t) => t.attempts },
    { id: "priority", header: "Priority", numeric: true, cell: (t) => t.priority, sortValue: (t) => t.priority },
    { id: "error", header: "Error", cell: (t) => (t.error ? <span className="mono small">{t.error.code}</span> : <span className="muted">—</span>), sortValue: (t) => t.error?.code ?? "" },
  ];
}

function Agents({ agents, onOpen }: { agents: AgentInfo[] | undefined; onOpen: (name: string) => void }) {
  if (!agents) return <Skeleton className="skeleton-wide" />;
  if (agents.length === 0) {
    return (
      <p className="muted small" data-testid="agents-empty">
        No agents yet: add an <span className="mono">[agents.&lt;name&gt;]</span> section (route, prompt, output_schema) to the configuration.
      </p>
    );
  }
  return (
    <ul className="agent-list" data-testid="agents-list">
      {agents.map((a) => (
        <li key={a.name} data-testid="agent-item" data-name={a.name}>
          <button type="button" className="link mono" onClick={() => onOpen(a.name)} data-testid="agent-open">
            {a.name}
          </button>{" "}
          <span className={`badge badge-${a.healthy ? "healthy" : "degraded"}`}>{a.healthy ? "ready" : "no provider"}</span>
          <span className="muted small">
            {" "}
            {a.route} · v{a.version}
            {a.capabilities?.length ? ` · ${a.capabilities.join(", ")}` : ""}
          </span>
          {a.description ? <div className="muted small">{a.description}</div> : null}
        </li>
      ))}
    </ul>
  );
}

function EnqueueForm({ agents }: { agents: AgentInfo[] | undefined }) {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [agent, setAgent] = useState("");
  const [input, setInput] = useState("{}");
  const [problem, setProblem] = useState<string | null>(null);
  const chosen = agent || agents?.[0]?.name || "";
  const enqueue = useMutation({
    mutationFn: (body: { agent: string; input: unknown }) => ok(api.POST("/api/v1/tasks", { body })),
    onSuccess: (task) => {
      void queryClient.invalidateQueries({ queryKey: ["tasks"] });
      toasts.push({ tone: "success", title: "Task enqueued", message: `${task.agent ?? ""} · ${task.id}` });
      navigate(`/tasks/${task.id}`);
    },
  });
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch (err) {
      setProblem(`The input is not JSON: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    setProblem(null);
    enqueue.mutate({ agent: chosen, input: parsed });
  };
  if (!agents?.length) return null;
  return (
    <form className="enqueue" onSubmit={submit} data-testid="enqueue-form">
      <label>
        Agent
        <select value={chosen} onChange={(e) => setAgent(e.target.value)} data-testid="enqueue-agent">
          {agents.map((a) => (
            <option key={a.name} value={a.name}>
              {a.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Input (JSON: the prompt's variables)
        <textarea rows={4} className="mono" value={input} onChange={(e) => setInput(e.target.value)} data-testid="enqueue-input" />
      </label>
      {problem ? (
        <p className="error small" role="alert">
          {problem}
        </p>
      ) : null}
      <button type="submit" className="btn" disabled={enqueue.isPending || !chosen} data-testid="enqueue-submit">
        Enqueue
      </button>
    </form>
  );
}

function TaskDetail({ id }: { id: string }) {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const detail = useQuery(taskQuery(api, id));
  const act = useMutation({
    mutationFn: (verb: "cancel" | "requeue") =>
      verb === "cancel"
        ? ok(api.POST("/api/v1/tasks/{id}/cancel", { params: { path: { id } } }))
        : ok(api.POST("/api/v1/tasks/{id}/requeue", { params: { path: { id } } })),
    onSuccess: (task) => {
      void queryClient.invalidateQueries({ queryKey: ["tasks"] });
      toasts.push({ tone: "success", title: `Task ${task.state.replaceAll("_", " ")}`, message: task.id });
    },
  });
  if (detail.error) return <ErrorNote error={detail.error} onRetry={() => void detail.refetch()} />;
  const t = detail.data;
  if (!t) return <Skeleton className="skeleton-wide" />;
  const finished = ["succeeded", "failed", "dead", "cancelled"].includes(t.state);
  const requeueable = ["failed", "dead", "cancelled"].includes(t.state);
  return (
    <>
      <dl className="kv" data-testid="task-detail" data-state={t.state}>
        <dt>State</dt>
        <dd>
          <StateBadge state={t.state} />
          {t.cancel_requested && !finished ? <span className="muted small"> · cancel asked</span> : null}
        </dd>
        <dt>Agent</dt>
        <dd className="mono">
          {t.agent ?? "—"}
          {t.agent_version ? <span className="muted small"> · definition {t.agent_version}</span> : null}
        </dd>
        <dt>Created</dt>
        <dd>
          {formatTimestamp(t.created_at)} <span className="muted small">by {t.created_by}</span>
        </dd>
        <dt>Attempts</dt>
        <dd>{`${String(t.attempts)} of ${String(t.max_attempts)}`}</dd>
        {t.error ? (
          <>
            <dt>Error</dt>
            <dd data-testid="task-error">
              <span className="mono">{t.error.code}</span>: {t.error.message}
            </dd>
          </>
        ) : null}
      </dl>
      <div className="actions">
        {!finished ? (
          <button type="button" className="btn btn-ghost" onClick={() => act.mutate("cancel")} disabled={act.isPending} data-testid="task-cancel">
            Cancel
          </button>
        ) : null}
        {requeueable ? (
          <button type="button" className="btn btn-ghost" onClick={() => act.mutate("requeue")} disabled={act.isPending} data-testid="task-requeue">
            Requeue
          </button>
        ) : null}
      </div>
      {t.result !== undefined && t.result !== null ? (
        <>
          <h3 className="drawer-sub">Result</h3>
          <JsonView value={t.result} testId="task-result" />
        </>
      ) : null}
      <h3 className="drawer-sub">Timeline</h3>
      <ol className="timeline" data-testid="task-timeline">
        {t.history.map((a) => (
          <li key={`a${String(a.attempt)}`} data-testid="timeline-attempt">
            Attempt {a.attempt} on <span className="mono">{a.worker}</span> — {a.outcome ?? "running"}
            {a.error ? <div className="muted small">{`${a.error.code}: ${a.error.message}`}</div> : null}
          </li>
        ))}
        {t.steps.map((s) => {
          const call = t.calls.find((c) => c.id === s.call_id);
          return (
            <li key={`s${String(s.step)}`} data-testid="timeline-step" data-kind={s.kind}>
              Step {s.step + 1}:{" "}
              {s.kind === "model"
                ? "model call"
                : s.kind === "tool"
                  ? `tool ${s.name ?? ""}`
                  : s.kind === "summary"
                    ? `summary${summaryOf(s.detail)}`
                    : "asked again"}
              {call ? (
                <span className="muted small" data-testid="timeline-call">
                  {" "}
                  · <span className="mono">{`${call.provider ?? ""}/${call.model ?? ""}`}</span> · {call.usage.input} → {call.usage.output} tokens ·{" "}
                  {call.cost === undefined || call.cost === null ? "cost unknown" : `$${call.cost}`} · {Math.round(call.latency_us / 1000)} ms
                  {call.cache_hit ? " · cache hit" : ""}
                  {call.hops.length > 1 ? ` · ${String(call.hops.length)} hops` : ""}
                </span>
              ) : null}
              {s.kind === "reask" && Array.isArray(s.detail) ? <div className="muted small">{(s.detail as string[]).join("; ")}</div> : null}
              {(() => {
                const c = s.kind === "model" ? contextOf(s.detail) : null;
                return c ? (
                  <div className="muted small" data-testid="timeline-context">
                    context: {c.used} of {c.budget} tokens{c.summarized ? `, ${String(c.summarized)} earlier messages summarized` : ""}
                    {c.dropped ? `, ${String(c.dropped)} earlier messages left out` : ""}
                  </div>
                ) : null;
              })()}
            </li>
          );
        })}
      </ol>
      <JsonView value={t.input} />
    </>
  );
}

/** "Requeue all" of the dead-letter view: every dead task (of the chosen agent), at once. */
function RequeueAll({ agent }: { agent: string }) {
  const api = useApi();
  const toasts = useToasts();
  const confirm = useConfirm();
  const queryClient = useQueryClient();
  const requeue = useMutation({
    mutationFn: () => ok(api.POST("/api/v1/tasks/requeue", { body: agent ? { state: "dead", agent } : { state: "dead" } })),
    onSuccess: (out) => {
      void queryClient.invalidateQueries({ queryKey: ["tasks"] });
      toasts.push({
        tone: out.refused.length ? "info" : "success",
        title: `${String(out.requeued.length)} tasks requeued`,
        message: out.refused.length ? `${String(out.refused.length)} refused` : "each with a fresh round of attempts",
      });
    },
  });
  const ask = async () => {
    const yes = await confirm({
      title: "Requeue every dead letter?",
      body: `Every dead task${agent ? ` of ${agent}` : ""} goes back to the queue with a fresh round of attempts (its history is kept).`,
      action: "Requeue all",
    });
    if (yes) requeue.mutate();
  };
  return (
    <button type="button" className="btn btn-ghost small" onClick={() => void ask()} disabled={requeue.isPending} data-testid="requeue-all">
      Requeue all
    </button>
  );
}

export function Tasks() {
  const api = useApi();
  const now = useNow(1000);
  const [state, setState] = useState<TaskState | "">("");
  const [agentFilter, setAgentFilter] = useState("");
  const deadOnly = state === "dead";
  const agents = useQuery(agentsQuery(api));
  const tasks = useInfiniteQuery(tasksQuery(api, state || undefined, agentFilter || undefined));
  const [, navigate] = useLocation();
  const [open, params] = useRoute<{ id: string }>("/tasks/:id");
  const [agentOpen, agentParams] = useRoute<{ name: string }>("/agent/:name");
  const [runOpen, runParams] = useRoute<{ id: string }>("/runs/:id");
  const openAgent = agentOpen ? agents.data?.find((a) => a.name === agentParams.name) : undefined;
  return (
    <div className="screen" data-testid="screen-agents">
      <Panel title="Agents">
        {agents.error ? (
          <ErrorNote error={agents.error} onRetry={() => void agents.refetch()} />
        ) : (
          <Agents agents={agents.data} onOpen={(name) => navigate(`/agent/${encodeURIComponent(name)}`)} />
        )}
        <EnqueueForm agents={agents.data} />
      </Panel>
      <Panel
        title={deadOnly ? "Dead letters" : "Tasks"}
        actions={
          <span className="filters small">
            <label>
              <input type="checkbox" checked={deadOnly} onChange={(e) => setState(e.target.checked ? "dead" : "")} data-testid="dead-only" /> dead
              letters only
            </label>{" "}
            <select value={state} onChange={(e) => setState(e.target.value as TaskState | "")} aria-label="State" data-testid="tasks-state">
              <option value="">every state</option>
              {TASK_STATES.map((s) => (
                <option key={s} value={s}>
                  {s.replaceAll("_", " ")}
                </option>
              ))}
            </select>{" "}
            <select value={agentFilter} onChange={(e) => setAgentFilter(e.target.value)} aria-label="Agent" data-testid="tasks-agent">
              <option value="">every agent</option>
              {agents.data?.map((a) => (
                <option key={a.name} value={a.name}>
                  {a.name}
                </option>
              ))}
            </select>
            {deadOnly ? (
              <>
                {" "}
                <RequeueAll agent={agentFilter} />
              </>
            ) : null}
          </span>
        }
      >
        <DataTable
          testId="tasks-table"
          columns={columns(now)}
          rows={tasks.data?.pages.flatMap((p) => p.items)}
          rowKey={(t) => t.id}
          rowAttrs={(t) => ({ "data-testid": "task-row", "data-state": t.state, "data-id": t.id })}
          error={tasks.error}
          onRetry={() => void tasks.refetch()}
          filterText={(t) => `${t.agent ?? ""} ${t.state} ${t.error?.code ?? ""} ${t.tags.join(" ")} ${t.id}`}
          filterLabel="Filter by agent, state, error or tag"
          pageSize={25}
          empty={deadOnly ? "No dead letters." : "No tasks yet. Enqueue one above, with `flightdeck task add`, or POST /api/v1/tasks."}
          onRowClick={(t) => navigate(`/tasks/${t.id}`)}
          more={{ hasMore: tasks.hasNextPage, loading: tasks.isFetchingNextPage, load: () => void tasks.fetchNextPage() }}
        />
      </Panel>
      <Panel title="Runs">
        <RunsList />
      </Panel>
      <Drawer open={runOpen} title="Run" onClose={() => navigate(`~${pathFor("agents")}`)} testId="run-drawer">
        {runOpen ? <RunDetail id={runParams.id} /> : null}
      </Drawer>
      <Drawer open={open} title="Task" onClose={() => navigate(`~${pathFor("agents")}`)} testId="task-drawer">
        {open ? <TaskDetail id={params.id} /> : null}
      </Drawer>
      <Drawer open={agentOpen} title={agentOpen ? `Agent ${agentParams.name}` : "Agent"} onClose={() => navigate(`~${pathFor("agents")}`)} testId="agent-drawer">
        {agentOpen ? openAgent ? <AgentDetail agent={openAgent} /> : <Skeleton className="skeleton-wide" /> : null}
      </Drawer>
    </div>
  );
}
