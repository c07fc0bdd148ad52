// Unit tests of the reports data layer: keys and the list query, the cached list kept in step
// with a report just made, the schedule and delivery in words, the "generate now" body, the
// span a report covers in the node's time zone, durations and sizes, the report a
// `delivery_failed` answer names, the file fetched as a blob, and the toasts of live events.
import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import { createApi } from "../api/client";
import { ApiError } from "../backend/apiError";
import type { Backend } from "../backend/backend";
import {
  cachedTitle,
  deliveries,
  deliveryConfigured,
  deliveryFailed,
  deliveryTargets,
  deliveryText,
  draftFormats,
  failureText,
  durationText,
  emptyGenerateDraft,
  fetchReportFile,
  filePath,
  formatsText,
  generateBody,
  hourText,
  keptReportId,
  newReportId,
  pagesOf,
  periodHint,
  periodText,
  rangeText,
  reportChanged,
  reportKeys,
  reportNotice,
  reportsQuery,
  scheduleText,
  sizeText,
  toggleFormat,
  withReport,
  type ReportList,
  type ReportRecord,
  type ScheduleInfo,
} from "./reports";

const SCHEDULE: ScheduleInfo = {
  schedule: "weekly",
  at_hour: 7,
  next_due: "2026-12-14T06:00:00Z",
  time_zone: "Europe/Paris",
  folder: "/var/lib/flightdeck/reports",
  formats: ["html", "pdf"],
  email_to: ["ops@example.com", "cfo@example.com"],
  webhook: true,
};

function report(extra: Partial<ReportRecord> = {}): ReportRecord {
  return {
    id: "rep_0123456789abcdef",
    period: "week",
    from: "2026-11-30T00:00:00Z",
    until: "2026-12-07T00:00:00Z",
    to_date: false,
    trigger: "manual",
    title: "Flightdeck weekly report, 30 November to 6 December 2026",
    created_at: "2026-12-07T08:00:00Z",
    duration_ms: 1840,
    files: [
      { format: "html", name: "flightdeck-week-2026-11-30-01234567.html", bytes: 180_000 },
      { format: "pdf", name: "flightdeck-week-2026-11-30-01234567.pdf", bytes: 95_000, pages: 3 },
    ],
    ...extra,
  };
}

describe("queries", () => {
  it("sit under the reports topic, with the limit in the key and the request", async () => {
    expect(reportKeys.list).toEqual(["reports", "list", 50]);
    const seen: string[] = [];
    const backend: Backend = {
      kind: "web",
      baseUrl: "http://node.test",
      session: null,
      fetch: (req) => {
        seen.push(new URL(req.url).pathname + new URL(req.url).search);
        return Promise.resolve(new Response(JSON.stringify({ items: [], schedule: SCHEDULE }), { status: 200, headers: { "content-type": "application/json" } }));
      },
      subscribe: () => () => undefined,
    };
    const q = reportsQuery(createApi(backend));
    expect(q.queryKey).toEqual(reportKeys.list);
    const list = await new QueryClient().query(q);
    expect(list.schedule.schedule).toBe("weekly");
    expect(seen).toEqual(["/api/v1/reports?limit=50"]);
  });

  it("put a report just made at the head of the cached list (or replace it) and mark the list stale", () => {
    const old = report({ id: "rep_old", title: "old" });
    const list: ReportList = { items: [old], schedule: SCHEDULE };
    const made = report({ id: "rep_new", title: "new" });
    expect(withReport(list, made)?.items.map((r) => r.id)).toEqual(["rep_new", "rep_old"]);
    const delivered = { ...old, webhook: { state: "sent" as const, attempts: 1 } };
    expect(withReport(list, delivered)?.items).toEqual([delivered]);
    expect(withReport(undefined, made)).toBeUndefined();

    const client = new QueryClient();
    client.setQueryData(reportKeys.list, list);
    reportChanged(client, made);
    expect(client.getQueryData<ReportList>(reportKeys.list)?.items.map((r) => r.id)).toEqual(["rep_new", "rep_old"]);
    expect(client.getQueryState(reportKeys.list)?.isInvalidated).toBe(true);
    expect(cachedTitle(client, "rep_new")).toBe("new");
    expect(cachedTitle(client, "rep_gone")).toBeUndefined();
  });
});

describe("the schedule", () => {
  it("reads in words", () => {
    expect(scheduleText(SCHEDULE)).toBe("Weekly at 07:00 (Europe/Paris)");
    expect(scheduleText({ ...SCHEDULE, schedule: "daily", at_hour: 23, time_zone: "UTC" })).toBe("Daily at 23:00 (UTC)");
    expect(scheduleText({ ...SCHEDULE, schedule: "off" })).toBe("Off");
    expect(hourText(0)).toBe("00:00");
    expect(formatsText(["pdf", "html"])).toBe("HTML and PDF");
    expect(formatsText(["pdf"])).toBe("PDF");
  });

  it("says where reports are delivered, and whether anywhere", () => {
    expect(deliveryConfigured(SCHEDULE)).toBe(true);
    expect(deliveryTargets(SCHEDULE)).toBe("email to ops@example.com, cfo@example.com and the webhook");
    expect(deliveryConfigured({ email_to: [], webhook: true })).toBe(true);
    expect(deliveryTargets({ email_to: [], webhook: true })).toBe("the webhook");
    expect(deliveryConfigured({ email_to: [], webhook: false })).toBe(false);
    expect(deliveryTargets({ email_to: [], webhook: false })).toBeNull();
    expect(deliveryConfigured(undefined)).toBe(false);
  });
});

describe("generate now", () => {
  it("sends the period, the formats ticked (the configured ones until changed), to date and delivery only when set", () => {
    expect(generateBody(emptyGenerateDraft, SCHEDULE)).toEqual({ body: { period: "week", formats: ["html", "pdf"] } });
    expect(generateBody(emptyGenerateDraft, { ...SCHEDULE, formats: ["pdf"] })).toEqual({ body: { period: "week", formats: ["pdf"] } });
    expect(generateBody({ period: "day", toDate: true, formats: ["html"], deliver: true }, SCHEDULE)).toEqual({
      body: { period: "day", formats: ["html"], to_date: true, deliver: true },
    });
    // Nothing configured: `deliver` is not sent (the node would refuse the report).
    expect(generateBody({ ...emptyGenerateDraft, deliver: true }, { ...SCHEDULE, email_to: [], webhook: false })).toEqual({
      body: { period: "week", formats: ["html", "pdf"] },
    });
    expect(generateBody({ ...emptyGenerateDraft, formats: [] }, SCHEDULE)).toEqual({ error: "Choose at least one format." });
  });

  it("toggles formats in a stable order", () => {
    expect(toggleFormat(["pdf"], "html", true)).toEqual(["html", "pdf"]);
    expect(toggleFormat(["html", "pdf"], "html", false)).toEqual(["pdf"]);
    expect(draftFormats({ formats: null }, undefined)).toEqual(["html", "pdf"]);
    expect(draftFormats({ formats: null }, ["pdf"])).toEqual(["pdf"]);
    expect(draftFormats({ formats: ["pdf", "html"] }, ["pdf"])).toEqual(["html", "pdf"]);
  });

  it("says which span a report will cover", () => {
    expect(periodHint("week", false)).toBe("Last week (the last complete week)");
    expect(periodHint("week", true)).toBe("This week so far");
    expect(periodHint("day", false)).toBe("Yesterday (the last complete day)");
    expect(periodHint("day", true)).toBe("Today so far");
  });
});

describe("a report", () => {
  it("reads its period, span in the node's zone, duration, size and pages", () => {
    expect(periodText(report())).toBe("Week");
    expect(periodText(report({ period: "day", to_date: true }))).toBe("Day to date");
    // A week in Paris: Monday 00:00 CET is 23:00 UTC the day before; the end is excluded.
    expect(rangeText("2026-11-29T23:00:00Z", "2026-12-06T23:00:00Z", "Europe/Paris")).toBe("2026-11-30 → 2026-12-06");
    expect(rangeText("2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z", "UTC")).toBe("2026-12-06");
    expect(rangeText("2026-12-06T00:00:00Z", "2026-12-07T00:00:00Z", "Not/AZone")).toBe("2026-12-06");
    expect(durationText(850)).toBe("850 ms");
    expect(durationText(1840)).toBe("1.8 s");
    expect(durationText(65_000)).toBe("1m 05s");
    expect(sizeText(report())).toBe("269 KiB");
    expect(sizeText(report({ files: [] }))).toBe("—");
    expect(pagesOf(report())).toBe(3);
    expect(pagesOf(report({ files: [{ format: "html", name: "a.html", bytes: 1 }] }))).toBeNull();
    expect(filePath("rep_1", "pdf")).toBe("/api/v1/reports/rep_1/pdf");
  });

  it("lists its deliveries and their states", () => {
    const r = report({ email: { state: "sent", attempts: 1 }, webhook: { state: "failed", attempts: 3, error: "HTTP 500 from the webhook" } });
    expect(deliveries(r).map((d) => `${d.channel}:${deliveryText(d.delivery)}`)).toEqual(["email:sent", "webhook:failed after 3 attempts"]);
    expect(deliveryFailed(r)).toBe(true);
    expect(deliveries(report())).toEqual([]);
    expect(deliveryFailed(report())).toBe(false);
    expect(deliveryText({ state: "pending", attempts: 1 })).toBe("pending (1 attempt so far)");
    expect(deliveryText({ state: "pending", attempts: 0 })).toBe("pending");
    expect(deliveryText({ state: "sent", attempts: 2 })).toBe("sent after 2 attempts");
  });

  it("is fetched as a blob through the client (its path carries no token), typed to open as a page", async () => {
    const seen: Array<{ url: string }> = [];
    const backend: Backend = {
      kind: "web",
      baseUrl: "http://node.test",
      session: null,
      fetch: (req) => {
        seen.push({ url: req.url });
        if (req.url.endsWith("/pdf")) return Promise.resolve(new Response(JSON.stringify({ error: { code: "not_found", message: "no pdf of this report" } }), { status: 404 }));
        return Promise.resolve(new Response("<!doctype html><title>r</title>", { status: 200 }));
      },
      subscribe: () => () => undefined,
    };
    const api = createApi(backend);
    const blob = await fetchReportFile(api, "rep_1", "html");
    expect(await blob.text()).toBe("<!doctype html><title>r</title>");
    expect(blob.type).toMatch(/^text\/html/);
    await expect(fetchReportFile(api, "rep_1", "pdf")).rejects.toMatchObject({ code: "not_found", message: "no pdf of this report" });
    expect(seen.map((s) => s.url)).toEqual(["http://node.test/api/v1/reports/rep_1/html", "http://node.test/api/v1/reports/rep_1/pdf"]);
  });
});

describe("errors", () => {
  it("find the report a failed delivery kept", () => {
    const kept = new ApiError(502, "delivery_failed", "report rep_9f8e7d6c5b4a was made (it is kept) but its delivery failed: webhook: HTTP 500");
    expect(keptReportId(kept)).toBe("rep_9f8e7d6c5b4a");
    expect(keptReportId(new ApiError(502, "delivery_failed", "the delivery failed"))).toBeNull();
    expect(keptReportId(new ApiError(400, "bad_request", "report rep_1 was made"))).toBeNull();
    expect(keptReportId(new Error("report rep_1"))).toBeNull();
  });

  it("find the report a request made as the newest one not listed before, and say how its deliveries failed", () => {
    const before = new Set(["rep_a", "rep_b"]);
    expect(newReportId([{ id: "rep_c" }, { id: "rep_a" }, { id: "rep_b" }], before)).toBe("rep_c");
    expect(newReportId([{ id: "rep_a" }, { id: "rep_b" }], before)).toBeNull();
    expect(newReportId(undefined, before)).toBeNull();
    expect(failureText(report({ email: { state: "failed", attempts: 3 }, webhook: { state: "failed", attempts: 1, error: "HTTP 500" } }))).toBe("email: no answer; webhook: HTTP 500");
    expect(failureText(report({ email: { state: "sent", attempts: 1 } }))).toBeNull();
  });
});

describe("live notices", () => {
  it("alert on a failed delivery (with the report's title when known), note a scheduled report, and stay quiet otherwise", () => {
    expect(reportNotice({ type: "delivery", id: "rep_1", channel: "webhook", state: "failed", attempts: 3, error: "HTTP 500" }, "Weekly report")).toEqual({
      tone: "error",
      title: "The webhook delivery of a report failed",
      message: "Weekly report: HTTP 500 (3 attempts). The report is kept: deliver it again from the Reports screen.",
      code: "delivery_failed",
    });
    expect(reportNotice({ type: "delivery", id: "rep_1", channel: "email", state: "failed", attempts: 1 })?.message).toBe(
      "rep_1: no answer (1 attempt). The report is kept: deliver it again from the Reports screen.",
    );
    expect(reportNotice({ type: "delivery", id: "rep_1", channel: "email", state: "sent", attempts: 1 })).toBeNull();
    expect(reportNotice({ type: "generated", id: "rep_1", period: "week", trigger: "schedule", title: "Weekly report" })).toEqual({
      tone: "info",
      title: "Scheduled report made",
      message: "Weekly report",
    });
    expect(reportNotice({ type: "generated", id: "rep_1", period: "week", trigger: "manual", title: "Weekly report" })).toBeNull();
  });
});
