// Policies (`#/approvals/policies`): the action types and the rules in force (in file order,
// with their priority: deny wins at equal priority, an evaluation error asks a human), the
// default, standing approvals with their author and expiry (revocable), and the explain tool:
// which rule a proposed action would meet and why, creating nothing.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { useConfirm } from "../components/ConfirmDialog";
import { JsonView } from "../components/JsonView";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { policiesQuery, standingQuery } from "../data/approvals";
import { formatTimestamp } from "../format";
import type { ExplainInput, Explanation, OneOrMany } from "../generated/api";
import { RiskBadge } from "./ApprovalDetail";

function list(v: OneOrMany | null | undefined): string {
  if (v === null || v === undefined) return "any";
  return Array.isArray(v) ? v.join(", ") : v;
}

function Explain({ actions }: { actions: string[] }) {
  const api = useApi();
  const [action, setAction] = useState(actions[0] ?? "");
  const [args, setArgs] = useState("{}");
  const [agent, setAgent] = useState("");
  const [parseError, setParseError] = useState<string | null>(null);
  const explain = useMutation({
    mutationFn: (body: ExplainInput) => ok(api.POST("/api/v1/policies/explain", { body })),
  });
  const result: Explanation | undefined = explain.data;
  return (
    <form
      className="explain"
      onSubmit={(e) => {
        e.preventDefault();
        let parsed: unknown;
        try {
          parsed = JSON.parse(args);
        } catch (err) {
          setParseError(`Not JSON: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        setParseError(null);
        explain.mutate(agent ? { action, arguments: parsed, agent } : { action, arguments: parsed });
      }}
      data-testid="explain-form"
    >
      <div className="form-row">
        <label className="field">
          <span>Action</span>
          <select value={action} onChange={(e) => setAction(e.target.value)} data-testid="explain-action">
            {actions.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>As agent (empty: as you, a client)</span>
          <input value={agent} onChange={(e) => setAgent(e.target.value)} data-testid="explain-agent" />
        </label>
      </div>
      <label className="field">
        <span>Arguments (JSON)</span>
        <textarea className="mono" rows={4} value={args} onChange={(e) => setArgs(e.target.value)} data-testid="explain-arguments" />
      </label>
      {parseError ? <p className="error-text">{parseError}</p> : null}
      <button type="submit" className="btn btn-primary" disabled={!action || explain.isPending} data-testid="explain-submit">
        Explain
      </button>
      {explain.error ? <ErrorNote error={explain.error} /> : null}
      {result ? (
        <div className="explain-result" data-testid="explain-result" data-outcome={result.outcome}>
          <p>
            <strong>{result.outcome}</strong>
            {result.verdict ? (
              <>
                {" "}
                — rule <span className="mono">{result.verdict.rule}</span>: {result.verdict.reason}
              </>
            ) : null}
            {result.standing ? <> (standing approval {result.standing.id})</> : null}
          </p>
          {result.schema_errors.length ? (
            <ul className="plain small error-text">
              {result.schema_errors.map((e) => (
                <li key={e}>{e}</li>
              ))}
            </ul>
          ) : null}
          {result.verdict ? (
            <table className="table small">
              <thead>
                <tr>
                  <th>Rule</th>
                  <th>Decision</th>
                  <th>Outcome</th>
                  <th>Why</th>
                </tr>
              </thead>
              <tbody>
                {result.verdict.trace.map((t) => (
                  <tr key={t.index}>
                    <td className="mono">{t.name}</td>
                    <td>{t.decision.replaceAll("_", " ")}</td>
                    <td>{t.outcome.replaceAll("_", " ")}</td>
                    <td>{t.why}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </div>
      ) : null}
    </form>
  );
}

function Standing() {
  const api = useApi();
  const confirm = useConfirm();
  const queryClient = useQueryClient();
  const [all, setAll] = useState(false);
  const q = useQuery(standingQuery(api, all));
  const revoke = useMutation({
    mutationFn: (id: string) => ok(api.DELETE("/api/v1/policies/standing/{id}", { params: { path: { id } } })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["approvals"] }),
  });
  return (
    <Panel
      title="Standing approvals"
      actions={
        <label className="small">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> include expired and revoked
        </label>
      }
    >
      {q.error ? (
        <ErrorNote error={q.error} onRetry={() => void q.refetch()} />
      ) : !q.data ? (
        <Skeleton className="skeleton-wide" />
      ) : q.data.length === 0 ? (
        <p className="muted">None. Approving "always for these arguments" creates one.</p>
      ) : (
        <table className="table" data-testid="standing-table">
          <thead>
            <tr>
              <th>Action</th>
              <th>For</th>
              <th>Scope</th>
              <th>By</th>
              <th>Expires</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {q.data.map((s) => (
              <tr key={s.id} data-testid="standing-row" data-id={s.id}>
                <td className="mono">{s.action}</td>
                <td className="mono small">{s.proposer ?? s.agent ?? "any"}</td>
                <td>{s.scope === "exact_arguments" ? <JsonView value={s.arguments} /> : "any arguments"}</td>
                <td className="mono small">{s.author}</td>
                <td>{s.revoked_at ? `revoked by ${s.revoked_by ?? "?"}` : s.expires_at ? formatTimestamp(s.expires_at) : "until revoked"}</td>
                <td>
                  {s.revoked_at ? null : (
                    <button
                      type="button"
                      className="btn btn-ghost small"
                      data-testid="standing-revoke"
                      onClick={() =>
                        void confirm({ title: "Revoke this standing approval?", body: `${s.action} will need a decision again.`, action: "Revoke", danger: true }).then(
                          (yes) => yes && revoke.mutate(s.id),
                        )
                      }
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

export function PoliciesPanel() {
  const api = useApi();
  const q = useQuery(policiesQuery(api));
  if (q.error) return <ErrorNote error={q.error} onRetry={() => void q.refetch()} />;
  if (!q.data) return <Skeleton className="skeleton-wide" />;
  const p = q.data;
  return (
    <div className="stack" data-testid="policies">
      <Panel title="Actions">
        {p.actions.length === 0 ? (
          <p className="muted">
            No <code className="mono">[actions.&lt;name&gt;]</code> in the config: agents have only the builtins.
          </p>
        ) : (
          <table className="table">
            <thead>
              <tr>
                <th>Action</th>
                <th>Risk</th>
                <th>Executor</th>
                <th>Description</th>
              </tr>
            </thead>
            <tbody>
              {p.actions.map((a) => (
                <tr key={a.name}>
                  <td className="mono">{a.name}</td>
                  <td>
                    <RiskBadge risk={a.risk} />
                  </td>
                  <td className="mono">{a.executor}</td>
                  <td>{a.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
      <Panel title="Rules">
        <table className="table" data-testid="rules-table">
          <thead>
            <tr>
              <th>#</th>
              <th>Name</th>
              <th>Action</th>
              <th>Who</th>
              <th>When</th>
              <th>Decision</th>
              <th className="num">Priority</th>
              <th>Approvers</th>
              <th>SLA</th>
              <th>On timeout</th>
            </tr>
          </thead>
          <tbody>
            {p.rules.map((r, i) => (
              <tr key={i} data-testid="rule-row">
                <td>{i}</td>
                <td className="mono">{r.name ?? `policies[${String(i)}]`}</td>
                <td className="mono">{list(r.action)}</td>
                <td className="mono small">{r.agent ? `agent ${list(r.agent)}` : r.client ? `client ${list(r.client)}` : "anyone"}</td>
                <td className="mono small">{r.when ?? "—"}</td>
                <td>{r.decision.replaceAll("_", " ")}</td>
                <td className="num">{r.priority ?? 0}</td>
                <td className="small">
                  {r.decision !== "require_approval"
                    ? "—"
                    : r.approvers === null || r.approvers === undefined
                      ? "1"
                      : Array.isArray(r.approvers)
                        ? `${String(r.quorum ?? 1)} of ${r.approvers.join(", ")}`
                        : String(r.approvers)}
                </td>
                <td>{r.decision === "require_approval" ? (r.sla ?? p.approvals.default.sla) : "—"}</td>
                <td>{r.decision === "require_approval" ? (r.on_timeout ?? "reject") : "—"}</td>
              </tr>
            ))}
            <tr data-testid="rule-default">
              <td />
              <td className="mono">default</td>
              <td>any</td>
              <td>anyone</td>
              <td className="small">no rule matches</td>
              <td>
                {p.approvals.default.decision.replaceAll("_", " ")} (low risk: {p.approvals.default.low_risk.replaceAll("_", " ")})
              </td>
              <td />
              <td>{p.approvals.default.approvers}</td>
              <td>{p.approvals.default.sla}</td>
              <td>{p.approvals.default.on_timeout}</td>
            </tr>
          </tbody>
        </table>
        <p className="muted small">
          Higher priority first; at one priority a matching deny wins, then a rule that could not be evaluated (a human decides), then require
          approval, then allow. Escalation: warn {p.approvals.escalation.warn_before} before the SLA, then{" "}
          {(p.approvals.escalation.steps ?? []).map((s) => `${s.notify} after ${s.after}`).join(", ") || "no steps"}, then the rule's timeout action{" "}
          {p.approvals.escalation.timeout_after} after the SLA.
        </p>
      </Panel>
      <Standing />
      <Panel title="Explain">
        <Explain actions={[...p.actions.map((a) => a.name), "builtin:log", "builtin:webhook"]} />
      </Panel>
    </div>
  );
}
