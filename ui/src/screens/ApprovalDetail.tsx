// One approval request (`#/approvals/requests/<id>`): the tool and what it does, risk, the
// agent's rationale and a link to its conversation (the task's timeline), the arguments
// (pretty JSON, and the diff of every edit), the rule that required the decision and why
// (every rule's outcome), an SLA countdown, votes and history; approve, approve always for
// these arguments, edit then approve (re-validated by the node), reject with a reason.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { JsonDiff, JsonView } from "../components/JsonView";
import { ErrorNote, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import { approvalQuery, slaText } from "../data/approvals";
import { useNow } from "../data/useNow";
import { formatTimestamp } from "../format";
import type { ApprovalRequest, ApprovalState, DecisionInput, Risk } from "../generated/api";

export const RISK_TONE: Record<Risk, string> = {
  low: "healthy",
  medium: "degraded",
  high: "unhealthy",
  critical: "unhealthy",
};

export const STATE_TONE: Record<ApprovalState, string> = {
  pending: "degraded",
  approved: "healthy",
  allowed: "healthy",
  rejected: "unhealthy",
  denied: "unhealthy",
  expired: "unknown",
};

export function RiskBadge({ risk }: { risk: Risk }) {
  return (
    <span className={`badge badge-${RISK_TONE[risk]}${risk === "critical" ? " badge-strong" : ""}`} data-testid="risk">
      {risk}
    </span>
  );
}

export function ApprovalStateBadge({ state }: { state: ApprovalState }) {
  return (
    <span className={`badge badge-${STATE_TONE[state]}`} data-testid="approval-state">
      {state}
    </span>
  );
}

export function Sla({ due, state }: { due: string | null | undefined; state: ApprovalState }) {
  const now = useNow(1000);
  if (state !== "pending" || !due) return <span className="muted">—</span>;
  const s = slaText(due, now);
  return (
    <span className={s.overdue ? "sla-overdue" : undefined} title={formatTimestamp(due)} data-testid="sla">
      {s.text}
    </span>
  );
}

/** Sends a decision; the node answers the request as it is now. */
export function useDecide(id: string) {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: DecisionInput) =>
      ok(api.POST("/api/v1/approvals/{id}/decision", { params: { path: { id } }, body })),
    onSuccess: (r: ApprovalRequest) => {
      void queryClient.invalidateQueries({ queryKey: ["approvals"] });
      toasts.push({
        tone: "success",
        title:
          r.status === "pending"
            ? `Recorded: ${String(r.approvals)} of ${String(r.quorum)} approvals`
            : `${r.action}: ${r.status}`,
        message: r.id,
      });
    },
  });
}

type Mode = "none" | "reject" | "edit";

export function ApprovalDetail({ id, initialMode = "none" }: { id: string; initialMode?: Mode }) {
  const api = useApi();
  const q = useQuery(approvalQuery(api, id));
  const decide = useDecide(id);
  const [mode, setMode] = useState<Mode>(initialMode);
  const [reason, setReason] = useState("");
  const [edited, setEdited] = useState<string | null>(null);
  const [editError, setEditError] = useState<string | null>(null);
  if (q.error) return <ErrorNote error={q.error} onRetry={() => void q.refetch()} />;
  if (!q.data) return <Skeleton className="skeleton-wide" />;
  const { request: r, verdict, votes, history } = q.data;
  const current = r.final_arguments ?? r.arguments;
  const pending = r.status === "pending";
  const approveEdited = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(edited ?? "");
    } catch (e) {
      setEditError(`Not JSON: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    setEditError(null);
    decide.mutate({ decision: "approve", arguments: parsed }, { onSuccess: () => setMode("none") });
  };
  return (
    <div className="approval-detail" data-testid="approval-detail" data-state={r.status}>
      <div className="kv-row">
        <ApprovalStateBadge state={r.status} /> <RiskBadge risk={r.risk} />{" "}
        <span className="mono strong" data-testid="approval-tool">
          {r.tool ?? r.action}
        </span>
      </div>
      <p data-testid="approval-description">{r.description}</p>
      <dl className="kv">
        <dt>Proposed by</dt>
        <dd className="mono">{r.proposer}</dd>
        {r.task_id ? (
          <>
            <dt>Conversation</dt>
            <dd>
              <Link href={`~/agents/tasks/${r.task_id}`} className="mono" data-testid="approval-task">
                task {r.task_id.slice(0, 8)}
              </Link>
            </dd>
          </>
        ) : null}
        <dt>Rule</dt>
        <dd data-testid="approval-rule">
          <span className="mono">{r.rule}</span> — {r.why.replace(`rule ${r.rule} matches: `, "")}
          {verdict.failed_closed ? <span className="badge badge-degraded">failed closed</span> : null}
        </dd>
        <dt>SLA</dt>
        <dd>
          <Sla due={r.sla_due} state={r.status} /> {r.sla_due ? <span className="muted small">due {formatTimestamp(r.sla_due)}</span> : null}
        </dd>
        <dt>Approvals</dt>
        <dd data-testid="approval-votes">
          {r.approvals} of {r.quorum}
          {r.approvers.length ? <span className="muted small"> · approvers: {r.approvers.join(", ")}</span> : null}
        </dd>
        {r.reason ? (
          <>
            <dt>Reason</dt>
            <dd data-testid="approval-reason">{r.reason}</dd>
          </>
        ) : null}
      </dl>
      {r.rationale ? (
        <>
          <h3 className="subhead">The agent's rationale</h3>
          <blockquote className="rationale" data-testid="approval-rationale">
            {r.rationale}
          </blockquote>
        </>
      ) : null}
      <h3 className="subhead">Arguments</h3>
      <JsonView value={current} />
      {r.edits.length ? (
        <>
          <h3 className="subhead">Edited</h3>
          <JsonDiff before={r.arguments} after={current} />
          <p className="muted small">
            {r.edits.map((e) => `${e.actor} at ${formatTimestamp(e.at)}`).join("; ")}
          </p>
        </>
      ) : null}
      {pending ? (
        <div className="decision" data-testid="decision">
          {mode === "none" ? (
            <div className="btn-row">
              <button type="button" className="btn btn-primary" onClick={() => decide.mutate({ decision: "approve" })} disabled={decide.isPending} data-testid="approve">
                Approve
              </button>
              <button
                type="button"
                className="btn"
                onClick={() => decide.mutate({ decision: "approve", always: { scope: "exact_arguments" } })}
                disabled={decide.isPending}
                data-testid="approve-always"
                title="Approve, and allow exactly these arguments from the same proposer from now on"
              >
                Approve always for these arguments
              </button>
              <button
                type="button"
                className="btn"
                onClick={() => {
                  setEdited(JSON.stringify(current, null, 2));
                  setMode("edit");
                }}
                data-testid="edit"
              >
                Edit…
              </button>
              <button type="button" className="btn btn-danger" onClick={() => setMode("reject")} data-testid="reject">
                Reject…
              </button>
            </div>
          ) : null}
          {mode === "reject" ? (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                decide.mutate({ decision: "reject", reason }, { onSuccess: () => setMode("none") });
              }}
            >
              <label className="field">
                <span>Reason (the agent gets it, to adapt)</span>
                <textarea value={reason} onChange={(e) => setReason(e.target.value)} rows={3} required autoFocus data-testid="reject-reason" />
              </label>
              <div className="btn-row">
                <button type="submit" className="btn btn-danger" disabled={!reason.trim() || decide.isPending} data-testid="reject-confirm">
                  Reject
                </button>
                <button type="button" className="btn btn-ghost" onClick={() => setMode("none")}>
                  Cancel
                </button>
              </div>
            </form>
          ) : null}
          {mode === "edit" ? (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                approveEdited();
              }}
            >
              <label className="field">
                <span>Arguments to approve (checked against the action's schema)</span>
                <textarea
                  className="mono"
                  value={edited ?? ""}
                  onChange={(e) => setEdited(e.target.value)}
                  rows={8}
                  autoFocus
                  data-testid="edit-arguments"
                />
              </label>
              {editError ? (
                <p className="error-text" data-testid="edit-error">
                  {editError}
                </p>
              ) : null}
              <div className="btn-row">
                <button type="submit" className="btn btn-primary" disabled={decide.isPending} data-testid="edit-approve">
                  Approve edited
                </button>
                <button type="button" className="btn btn-ghost" onClick={() => setMode("none")}>
                  Cancel
                </button>
              </div>
            </form>
          ) : null}
          {decide.error ? <ErrorNote error={decide.error} /> : null}
        </div>
      ) : null}
      <h3 className="subhead">Why this rule</h3>
      <table className="table small" data-testid="verdict-trace">
        <thead>
          <tr>
            <th>Rule</th>
            <th>Decision</th>
            <th>Priority</th>
            <th>Outcome</th>
            <th>Why</th>
          </tr>
        </thead>
        <tbody>
          {verdict.trace.map((t) => (
            <tr key={t.index} className={t.name === r.rule ? "row-selected" : undefined}>
              <td className="mono">{t.name}</td>
              <td>{t.decision.replaceAll("_", " ")}</td>
              <td className="num">{t.priority}</td>
              <td>{t.outcome.replaceAll("_", " ")}</td>
              <td className="small">{t.why}</td>
            </tr>
          ))}
          {verdict.trace.length === 0 ? (
            <tr>
              <td colSpan={5} className="muted">
                No rules: the default decided.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {votes.length ? (
        <>
          <h3 className="subhead">Votes</h3>
          <ul className="plain small" data-testid="vote-list">
            {votes.map((v) => (
              <li key={`${String(v.round)}-${v.actor}`}>
                <span className="mono">{v.actor}</span> {v.decision} {v.reason ? `— ${v.reason}` : ""}{" "}
                <span className="muted">{formatTimestamp(v.at)}</span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <h3 className="subhead">History</h3>
      <ol className="plain small" data-testid="approval-history">
        {history.map((e) => (
          <li key={e.seq}>
            <span className="muted">{formatTimestamp(e.at)}</span> <span className="mono">{e.kind.replaceAll("_", " ")}</span> by{" "}
            <span className="mono">{e.actor}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}
