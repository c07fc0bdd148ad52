// Approvals, policies and the audit log: queries under the `approvals` topic (an `approvals`
// event — a request created, voted on, decided, warned or escalated; a standing approval
// changed — makes them stale; see invalidation.ts). The policies in force live in the config,
// so they are keyed under `config`.
import { queryOptions } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";
import type { ApprovalState, Risk } from "../generated/api";

export const APPROVALS_PAGE = 200;

export function approvalsQuery(api: Api, state: ApprovalState | undefined, risk: Risk | undefined) {
  return queryOptions({
    queryKey: ["approvals", "list", state ?? "all", risk ?? "any"] as const,
    queryFn: ({ signal }) => {
      const query: { limit: number; status?: ApprovalState; risk?: Risk } = { limit: APPROVALS_PAGE };
      if (state) query.status = state;
      if (risk) query.risk = risk;
      return ok(api.GET("/api/v1/approvals", { params: { query }, signal }));
    },
  });
}

export function approvalQuery(api: Api, id: string) {
  return queryOptions({
    queryKey: ["approvals", "one", id] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/approvals/{id}", { params: { path: { id } }, signal })),
  });
}

/** SLA figures; the sidebar's badge counts their pending requests. */
export function approvalStatsQuery(api: Api) {
  return queryOptions({
    queryKey: ["approvals", "stats"] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/approvals/stats", { signal })),
  });
}

export function policiesQuery(api: Api) {
  return queryOptions({
    queryKey: ["config", "policies"] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/policies", { signal })),
  });
}

export function standingQuery(api: Api, all: boolean) {
  return queryOptions({
    queryKey: ["approvals", "standing", all] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/policies/standing", { params: { query: { all } }, signal })),
  });
}

export function auditQuery(api: Api) {
  return queryOptions({
    queryKey: ["approvals", "audit"] as const,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/audit", { params: { query: { limit: 200 } }, signal })),
  });
}

/** Pending requests in all: the sidebar badge. */
export function pendingCount(pending: Record<string, number> | undefined): number {
  return pending ? Object.values(pending).reduce((a, b) => a + b, 0) : 0;
}

const RISK_ORDER: Record<Risk, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/** The inbox order: pending first, highest risk, then the soonest SLA (overdue first). */
export function inboxOrder<T extends { status: ApprovalState; risk: Risk; sla_due?: string | null; created_at: string }>(
  rows: readonly T[],
): T[] {
  return rows.slice().sort((a, b) => {
    const pa = a.status === "pending" ? 0 : 1;
    const pb = b.status === "pending" ? 0 : 1;
    if (pa !== pb) return pa - pb;
    if (pa === 0) {
      if (RISK_ORDER[a.risk] !== RISK_ORDER[b.risk]) return RISK_ORDER[a.risk] - RISK_ORDER[b.risk];
      return Date.parse(a.sla_due ?? "9999-12-31") - Date.parse(b.sla_due ?? "9999-12-31");
    }
    return Date.parse(b.created_at) - Date.parse(a.created_at);
  });
}

/** The SLA as text: "12m left", "overdue 3m", or "" when there is none. */
export function slaText(due: string | null | undefined, now: number): { text: string; overdue: boolean } {
  if (!due) return { text: "", overdue: false };
  const ms = Date.parse(due) - now;
  const minutes = Math.round(Math.abs(ms) / 60000);
  const span = minutes >= 120 ? `${String(Math.round(minutes / 60))}h` : minutes >= 1 ? `${String(minutes)}m` : "<1m";
  return ms < 0 ? { text: `overdue ${span}`, overdue: true } : { text: `${span} left`, overdue: false };
}
