import { describe, expect, it } from "vitest";
import type { ApprovalState, Risk } from "../generated/api";
import { inboxOrder, pendingCount, slaText } from "./approvals";

type Row = { id: string; status: ApprovalState; risk: Risk; sla_due: string | null; created_at: string };

describe("the approvals inbox", () => {
  it("puts pending first, by risk, then the soonest SLA (overdue first); decided ones newest first", () => {
    const rows: Row[] = [
      { id: "done-old", status: "approved", risk: "critical", sla_due: null, created_at: "2026-12-01T00:00:00Z" },
      { id: "low", status: "pending", risk: "low", sla_due: "2026-12-07T09:00:00Z", created_at: "2026-12-07T08:00:00Z" },
      { id: "high-later", status: "pending", risk: "high", sla_due: "2026-12-07T12:00:00Z", created_at: "2026-12-07T08:00:00Z" },
      { id: "high-overdue", status: "pending", risk: "high", sla_due: "2026-12-07T07:00:00Z", created_at: "2026-12-07T06:00:00Z" },
      { id: "critical", status: "pending", risk: "critical", sla_due: "2026-12-08T00:00:00Z", created_at: "2026-12-07T08:00:00Z" },
      { id: "done-new", status: "rejected", risk: "low", sla_due: null, created_at: "2026-12-06T00:00:00Z" },
    ];
    expect(inboxOrder(rows).map((r) => r.id)).toEqual(["critical", "high-overdue", "high-later", "low", "done-new", "done-old"]);
  });

  it("says how long is left, or how long overdue", () => {
    const now = Date.parse("2026-12-07T09:00:00Z");
    expect(slaText("2026-12-07T09:12:00Z", now)).toEqual({ text: "12m left", overdue: false });
    expect(slaText("2026-12-07T08:57:00Z", now)).toEqual({ text: "overdue 3m", overdue: true });
    expect(slaText("2026-12-07T13:00:00Z", now)).toEqual({ text: "4h left", overdue: false });
    expect(slaText("2026-12-07T09:00:20Z", now)).toEqual({ text: "<1m left", overdue: false });
    expect(slaText(null, now)).toEqual({ text: "", overdue: false });
  });

  it("counts pending requests across risks for the badge", () => {
    expect(pendingCount({ low: 1, medium: 0, high: 2, critical: 1 })).toBe(4);
    expect(pendingCount(undefined)).toBe(0);
  });
});
