// Approvals: the inbox of requests for a human decision (pending first, highest risk, then
// the soonest SLA, overdue first), live from the feed (an `approvals` event makes it stale),
// with filters, a detail drawer (`#/approvals/requests/<id>`), bulk approval of selected
// low-risk requests and keyboard work: j/k move, Enter opens, a approves (asking first for
// high and critical risk), r rejects with a reason, e edits. Tabs: Policies (rules,
// standing approvals, explain) and Audit (verify, export, the log).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { tinykeys } from "tinykeys";
import { Link, useLocation, useRoute } from "wouter";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { useConfirm } from "../components/ConfirmDialog";
import { Drawer } from "../components/Drawer";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import { approvalStatsQuery, approvalsQuery, inboxOrder } from "../data/approvals";
import { useNow } from "../data/useNow";
import { formatRelative, formatTimestamp } from "../format";
import type { ApprovalRequest, ApprovalState, Risk } from "../generated/api";
import { pathFor } from "../routes";
import { typingIn } from "../shortcuts/Shortcuts";
import { ApprovalDetail, ApprovalStateBadge, RiskBadge, Sla } from "./ApprovalDetail";
import { AuditPanel } from "./Audit";
import { PoliciesPanel } from "./Policies";

const STATES: ApprovalState[] = ["pending", "approved", "rejected", "expired", "allowed", "denied"];
const RISKS: Risk[] = ["critical", "high", "medium", "low"];

function Tabs({ current }: { current: "inbox" | "policies" | "audit" }) {
  const tab = (id: typeof current, href: string, label: string) => (
    <Link href={href} className={`tab${current === id ? " active" : ""}`} aria-current={current === id ? "page" : undefined} data-testid={`tab-${id}`}>
      {label}
    </Link>
  );
  return (
    <nav className="tabs" aria-label="Approvals">
      {tab("inbox", "/", "Inbox")}
      {tab("policies", "/policies", "Policies")}
      {tab("audit", "/audit", "Audit")}
    </nav>
  );
}

function Stats() {
  const api = useApi();
  const stats = useQuery(approvalStatsQuery(api));
  if (!stats.data) return null;
  const s = stats.data;
  const secs = (v: number | null | undefined) => (v === null || v === undefined ? "—" : v < 120 ? `${v.toFixed(0)} s` : `${(v / 60).toFixed(0)} min`);
  return (
    <p className="muted small" data-testid="approval-stats">
      {s.overdue} overdue · decided in {secs(s.time_to_decision_p50_secs)} (p50), {secs(s.time_to_decision_p95_secs)} (p95) · {s.breaches} SLA
      breaches · {s.auto_decisions} decided by timeout
    </p>
  );
}

function Inbox() {
  const api = useApi();
  const now = useNow(1000);
  const toasts = useToasts();
  const confirm = useConfirm();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [state, setState] = useState<ApprovalState | "">("pending");
  const [risk, setRisk] = useState<Risk | "">("");
  // The focus follows a request, not a row number: a request arriving above (the list is
  // live) never slides another one under the keys.
  const [focusedId, setFocusedId] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const list = useQuery(approvalsQuery(api, state || undefined, risk || undefined));
  const rows = useMemo(() => inboxOrder(list.data?.items ?? []), [list.data]);
  const found = focusedId === null ? -1 : rows.findIndex((r) => r.id === focusedId);
  const at = found >= 0 ? found : 0;
  const focused: ApprovalRequest | undefined = rows[at];

  const decide = useMutation({
    mutationFn: (r: ApprovalRequest) =>
      ok(api.POST("/api/v1/approvals/{id}/decision", { params: { path: { id: r.id } }, body: { decision: "approve" } })),
    onSuccess: (r) => {
      void queryClient.invalidateQueries({ queryKey: ["approvals"] });
      toasts.push({ tone: "success", title: r.status === "pending" ? `Recorded (${String(r.approvals)}/${String(r.quorum)})` : `${r.action}: ${r.status}`, message: r.id });
    },
  });
  const bulk = useMutation({
    mutationFn: async (ids: string[]) => {
      const out: ApprovalRequest[] = [];
      for (const id of ids) {
        out.push(await ok(api.POST("/api/v1/approvals/{id}/decision", { params: { path: { id } }, body: { decision: "approve" } })));
      }
      return out;
    },
    onSuccess: (done) => {
      setSelected(new Set());
      void queryClient.invalidateQueries({ queryKey: ["approvals"] });
      toasts.push({ tone: "success", title: `Approved ${String(done.length)} low-risk requests`, message: null });
    },
    onSettled: () => void queryClient.invalidateQueries({ queryKey: ["approvals"] }),
  });
  useEffect(() => {
    const guard = (fn: () => void) => (e: KeyboardEvent) => {
      if (typingIn(e.target) || document.querySelector("dialog[open]")) return;
      e.preventDefault();
      fn();
    };
    const approveFocused = async () => {
      if (!focused || focused.status !== "pending") return;
      if (focused.risk === "high" || focused.risk === "critical") {
        const yes = await confirm({
          title: `Approve ${focused.action}?`,
          body: `A ${focused.risk}-risk action proposed by ${focused.proposer}. Open it (Enter) to see its arguments first.`,
          action: "Approve",
          danger: true,
        });
        if (!yes) return;
      }
      decide.mutate(focused);
    };
    const move = (by: number) => {
      const next = rows[Math.min(Math.max(at + by, 0), Math.max(rows.length - 1, 0))];
      if (next) setFocusedId(next.id);
    };
    return tinykeys(window, {
      j: guard(() => move(1)),
      k: guard(() => move(-1)),
      // Enter on a focused button or link is theirs.
      Enter: (e: KeyboardEvent) => {
        if (typingIn(e.target) || document.querySelector("dialog[open]")) return;
        if (e.target instanceof HTMLElement && e.target.closest("button, a, select")) return;
        e.preventDefault();
        if (focused) navigate(`/requests/${focused.id}`);
      },
      a: guard(() => void approveFocused()),
      r: guard(() => focused?.status === "pending" && navigate(`/requests/${focused.id}/reject`)),
      e: guard(() => focused?.status === "pending" && navigate(`/requests/${focused.id}/edit`)),
    });
  }, [rows, at, focused, navigate, confirm, decide]);
  const lowRisk = rows.filter((r) => r.status === "pending" && r.risk === "low");
  const approveSelected = async () => {
    const ids = lowRisk.filter((r) => selected.has(r.id)).map((r) => r.id);
    if (ids.length === 0) return;
    const yes = await confirm({ title: `Approve ${String(ids.length)} low-risk requests?`, body: "Each is approved as you, one after the other.", action: "Approve all" });
    if (yes) bulk.mutate(ids);
  };
  return (
    <Panel
      title="Inbox"
      actions={
        <span className="filters small">
          <select value={state} onChange={(e) => setState(e.target.value as ApprovalState | "")} aria-label="State" data-testid="approvals-state">
            <option value="">every state</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>{" "}
          <select value={risk} onChange={(e) => setRisk(e.target.value as Risk | "")} aria-label="Risk" data-testid="approvals-risk">
            <option value="">every risk</option>
            {RISKS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>{" "}
          <button
            type="button"
            className="btn btn-ghost small"
            disabled={bulk.isPending || !lowRisk.some((r) => selected.has(r.id))}
            onClick={() => void approveSelected()}
            data-testid="bulk-approve"
          >
            Approve selected low-risk
          </button>
        </span>
      }
    >
      <Stats />
      {list.error ? (
        <ErrorNote error={list.error} onRetry={() => void list.refetch()} />
      ) : !list.data ? (
        <Skeleton className="skeleton-wide" />
      ) : rows.length === 0 ? (
        <p className="muted" data-testid="approvals-empty">
          {state === "pending" ? "Nothing waits for a decision." : "No requests match."}
        </p>
      ) : (
        <table className="table" data-testid="approvals-table">
          <thead>
            <tr>
              <th aria-label="Select" />
              <th>Risk</th>
              <th>Action</th>
              <th>Proposed by</th>
              <th>State</th>
              <th className="num">Votes</th>
              <th>SLA</th>
              <th>Asked</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr
                key={r.id}
                className={`clickable${i === at ? " row-focused" : ""}${r.status === "pending" && r.sla_due && Date.parse(r.sla_due) < now ? " row-overdue" : ""}`}
                onClick={() => {
                  setFocusedId(r.id);
                  navigate(`/requests/${r.id}`);
                }}
                data-testid="approval-row"
                data-id={r.id}
                data-risk={r.risk}
                data-state={r.status}
                aria-selected={i === at}
              >
                <td onClick={(e) => e.stopPropagation()}>
                  {r.status === "pending" && r.risk === "low" ? (
                    <input
                      type="checkbox"
                      aria-label={`Select ${r.action}`}
                      checked={selected.has(r.id)}
                      onChange={(e) => {
                        const next = new Set(selected);
                        if (e.target.checked) next.add(r.id);
                        else next.delete(r.id);
                        setSelected(next);
                      }}
                      data-testid="approval-select"
                    />
                  ) : null}
                </td>
                <td>
                  <RiskBadge risk={r.risk} />
                </td>
                <td className="mono">{r.tool ?? r.action}</td>
                <td className="mono small">{r.proposer}</td>
                <td>
                  <ApprovalStateBadge state={r.status} />
                </td>
                <td className="num">
                  {r.approvals}/{r.quorum}
                </td>
                <td>
                  <Sla due={r.sla_due} state={r.status} />
                </td>
                <td title={formatTimestamp(r.created_at)}>{formatRelative(r.created_at, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p className="muted small">
        <kbd>j</kbd>/<kbd>k</kbd> move · <kbd>Enter</kbd> open · <kbd>a</kbd> approve · <kbd>r</kbd> reject · <kbd>e</kbd> edit
      </p>
    </Panel>
  );
}

export function Approvals() {
  const [, navigate] = useLocation();
  const [policies] = useRoute("/policies");
  const [audit] = useRoute("/audit");
  const [open, params] = useRoute<{ id: string; mode?: string }>("/requests/:id/:mode?");
  const mode = params?.mode === "reject" ? "reject" : params?.mode === "edit" ? "edit" : "none";
  return (
    <div className="screen" data-testid="screen-approvals">
      <Tabs current={policies ? "policies" : audit ? "audit" : "inbox"} />
      {policies ? <PoliciesPanel /> : audit ? <AuditPanel /> : <Inbox />}
      <Drawer open={open} title="Approval request" onClose={() => navigate(`~${pathFor("approvals")}`)} testId="approval-drawer">
        {open ? <ApprovalDetail key={`${params.id}-${mode}`} id={params.id} initialMode={mode} /> : null}
      </Drawer>
    </div>
  );
}
