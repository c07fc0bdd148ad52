// One agent (`#/agents/agent/<name>`): its definition, the history of its prompt templates
// (a version per config change) with the diff between any version and the one before, and a
// template editor with a live preview that renders the edited template with sample input the
// way a task would, with no model call; "Save" writes it to the config file (PUT
// /api/v1/templates/<agent>), which records a new version.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ok } from "../api/client";
import { ApiError } from "../backend/apiError";
import { useApi } from "../api/context";
import { ErrorNote, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import { agentStatsQuery, templateDiffQuery, templatesQuery } from "../data/tasks";
import { formatTimestamp } from "../format";
import type { AgentInfo, AgentStats, PreviewResponse } from "../generated/api";

function DiffView({ text }: { text: string }) {
  if (!text) return <p className="muted small">No difference.</p>;
  return (
    <pre className="code-block diff" data-testid="template-diff">
      {text.split("\n").map((line, i) => (
        <span key={i} className={line.startsWith("+") ? "diff-add" : line.startsWith("-") ? "diff-del" : undefined}>
          {line}
          {"\n"}
        </span>
      ))}
    </pre>
  );
}

/** Renders `prompt` with `input` (JSON text) on the node, debounced. */
function usePreview(prompt: string, system: string, input: string) {
  const api = useApi();
  const [state, setState] = useState<{ result: PreviewResponse | null; error: string | null }>({ result: null, error: null });
  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      let parsed: unknown;
      try {
        parsed = input.trim() ? JSON.parse(input) : {};
      } catch (err) {
        setState({ result: null, error: `The sample input is not JSON: ${err instanceof Error ? err.message : String(err)}` });
        return;
      }
      ok(api.POST("/api/v1/templates/preview", { body: { prompt, system: system || null, input: parsed }, signal: controller.signal }))
        .then((result) => setState({ result, error: null }))
        .catch((err: unknown) => {
          if (controller.signal.aborted) return;
          const message = err instanceof ApiError || err instanceof Error ? err.message : "The preview failed.";
          setState({ result: null, error: message });
        });
    }, 250);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [api, prompt, system, input]);
  return state;
}

function Preview({ agent }: { agent: AgentInfo }) {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [prompt, setPrompt] = useState(agent.prompt ?? "");
  const [system, setSystem] = useState(agent.system ?? "");
  const [input, setInput] = useState("{}");
  const preview = usePreview(prompt, system, input);
  const changed = prompt !== (agent.prompt ?? "") || system !== (agent.system ?? "");
  const save = useMutation({
    mutationFn: () =>
      ok(api.PUT("/api/v1/templates/{agent}", { params: { path: { agent: agent.name } }, body: { prompt, system: system || null } })),
    onSuccess: (versions) => {
      void queryClient.invalidateQueries({ queryKey: ["config"] });
      toasts.push({ tone: "success", title: `Saved as version ${String(versions[0]?.version ?? "")}`, message: agent.name });
    },
  });
  return (
    <div className="preview" data-testid="template-preview">
      <label>
        Prompt template
        <textarea rows={4} className="mono" value={prompt} onChange={(e) => setPrompt(e.target.value)} data-testid="preview-prompt" />
      </label>
      <label>
        System (optional)
        <textarea rows={2} className="mono" value={system} onChange={(e) => setSystem(e.target.value)} />
      </label>
      <label>
        Sample input (JSON)
        <textarea rows={3} className="mono" value={input} onChange={(e) => setInput(e.target.value)} data-testid="preview-input" />
      </label>
      {preview.error ? (
        <p className="error small" role="alert" data-testid="preview-error">
          {preview.error}
        </p>
      ) : null}
      {preview.result ? (
        <pre className="code-block" data-testid="preview-output">
          {preview.result.system ? `[system]\n${preview.result.system}\n[prompt]\n` : ""}
          {preview.result.prompt}
        </pre>
      ) : null}
      {save.error ? (
        <p className="error small" role="alert" data-testid="template-save-error">
          {save.error.message}
        </p>
      ) : null}
      {agent.prompt_file ? (
        <p className="muted small">
          The prompt comes from <span className="mono">{agent.prompt_file}</span>: edit that file, and the node reloads it and records a new
          version.
        </p>
      ) : (
        <div className="actions">
          <button type="button" className="btn" onClick={() => save.mutate()} disabled={!changed || save.isPending} data-testid="template-save">
            Save as a new version
          </button>
        </div>
      )}
      <p className="muted small">
        The preview calls no model. Saving writes <span className="mono">[agents.{agent.name}]</span> in the configuration file; new tasks use the
        new version, running ones keep theirs.
      </p>
    </div>
  );
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)} %`);
const ms = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${Math.round(v).toLocaleString()} ms`);

/** Its tasks and calls over the last 24 hours. */
function Figures({ stats }: { stats: AgentStats }) {
  const t = stats.tasks;
  const c = stats.calls;
  return (
    <dl className="kv" data-testid="agent-stats">
      <dt>Tasks (24 h)</dt>
      <dd data-testid="agent-stats-tasks">
        {t.tasks} · {t.succeeded} succeeded · {t.failed} failed · {t.open} open
      </dd>
      <dt>Success rate</dt>
      <dd data-testid="agent-stats-success">{pct(t.success_rate)}</dd>
      <dt>Validation pass rate</dt>
      <dd>{pct(t.validation_pass_rate)}</dd>
      <dt>Attempt duration</dt>
      <dd>
        p50 {ms(t.duration_p50_ms)} · p95 {ms(t.duration_p95_ms)}
      </dd>
      <dt>Retries · steps per task</dt>
      <dd>
        {t.retries} · {t.steps_per_task === null || t.steps_per_task === undefined ? "—" : t.steps_per_task.toFixed(1)}
      </dd>
      <dt>Calls</dt>
      <dd>
        {c.calls} · {c.fallbacks} fallbacks · {c.cache_hits} cache hits · p50 {ms(c.latency_p50_ms)}
      </dd>
      <dt>Cost</dt>
      <dd data-testid="agent-stats-cost">
        ${c.cost}
        {stats.cost_per_task ? ` · $${stats.cost_per_task} per task` : ""}
        {c.unpriced ? ` · ${String(c.unpriced)} calls without a price` : ""}
      </dd>
    </dl>
  );
}

export function AgentDetail({ agent }: { agent: AgentInfo }) {
  const api = useApi();
  const versions = useQuery(templatesQuery(api, agent.name));
  const stats = useQuery(agentStatsQuery(api, agent.name));
  const [picked, setPicked] = useState<number | null>(null);
  const latest = versions.data?.[0]?.version ?? null;
  const to = picked ?? latest;
  const diff = useQuery({ ...templateDiffQuery(api, agent.name, to ?? 1), enabled: to !== null && to > 1 });
  return (
    <div data-testid="agent-detail" data-name={agent.name}>
      <dl className="kv">
        <dt>Route</dt>
        <dd className="mono">{agent.route}</dd>
        <dt>Version</dt>
        <dd className="mono">{agent.version}</dd>
        <dt>Capabilities</dt>
        <dd>{agent.capabilities?.join(", ") || "—"}</dd>
        <dt>Tools</dt>
        <dd>{agent.tools?.join(", ") || "—"}</dd>
      </dl>
      <h3 className="drawer-sub">Figures</h3>
      {stats.error ? <ErrorNote error={stats.error} onRetry={() => void stats.refetch()} /> : null}
      {stats.data ? <Figures stats={stats.data} /> : !stats.error ? <Skeleton className="skeleton-wide" /> : null}
      <h3 className="drawer-sub">Template history</h3>
      {versions.error ? <ErrorNote error={versions.error} onRetry={() => void versions.refetch()} /> : null}
      {versions.data ? (
        <ol className="versions" data-testid="template-versions">
          {versions.data.map((v) => (
            <li key={v.version} data-testid="template-version" data-version={v.version}>
              <button type="button" className={`btn btn-ghost small${v.version === to ? " active" : ""}`} onClick={() => setPicked(v.version)}>
                v{v.version}
              </button>{" "}
              <span className="muted small">{formatTimestamp(v.created_at)}</span>
            </li>
          ))}
        </ol>
      ) : !versions.error ? (
        <Skeleton className="skeleton-wide" />
      ) : null}
      {to !== null && to > 1 ? (
        diff.data ? (
          <>
            <p className="muted small">
              v{diff.data.from} → v{diff.data.to}
            </p>
            <DiffView text={diff.data.diff} />
          </>
        ) : (
          <Skeleton className="skeleton-wide" />
        )
      ) : to === 1 ? (
        <p className="muted small">The first version: nothing to compare with.</p>
      ) : null}
      <h3 className="drawer-sub">Try the template</h3>
      {/* Keyed by name: a reload elsewhere does not throw away what is being edited. */}
      <Preview key={agent.name} agent={agent} />
    </div>
  );
}
