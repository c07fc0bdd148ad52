// @vitest-environment happy-dom
// The Reports screen against a fake node: the list (files, pages, size, deliveries) beside the
// schedule, read-only; "generate now" (a progress state while the node works, then the new
// report highlighted); a delivery that failed (the node's message, the report kept and shown
// with its failed delivery, an alert from the feed); a request the node refuses (its message);
// nothing to deliver to (the checkbox disabled with a hint); files fetched through the client as
// blobs (opened in a new tab, downloaded); a report delivered again.
import { QueryClientProvider } from "@tanstack/react-query";
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiProvider } from "../api/context";
import type { Backend, ConnState } from "../backend/backend";
import { BackendProvider } from "../backend/context";
import { ConfirmProvider } from "../components/ConfirmDialog";
import { ToastProvider } from "../components/Toasts";
import { createQueryClient } from "../data/queryClient";
import { FeedProvider } from "../feed/FeedProvider";
import type { ReportRecord, ReportRequest, ScheduleInfo, ServerMessage } from "../generated/api";
import { Reports } from "./Reports";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const SCHEDULE: ScheduleInfo = {
  schedule: "weekly",
  at_hour: 7,
  next_due: "2026-12-14T06:00:00Z",
  time_zone: "UTC",
  folder: "/var/lib/flightdeck/reports",
  formats: ["html", "pdf"],
  email_to: ["ops@example.com"],
  webhook: true,
};

const NONE: ScheduleInfo = { ...SCHEDULE, schedule: "off", next_due: null, email_to: [], webhook: false };

function record(extra: Partial<ReportRecord> = {}): ReportRecord {
  return {
    id: "rep_old",
    period: "week",
    from: "2026-11-23T00:00:00Z",
    until: "2026-11-30T00:00:00Z",
    to_date: false,
    trigger: "schedule",
    title: "Flightdeck weekly report, 23 to 29 November 2026",
    created_at: "2026-11-30T07:00:02Z",
    duration_ms: 2150,
    files: [
      { format: "html", name: "flightdeck-week-2026-11-23-aaaaaaaa.html", bytes: 200_000 },
      { format: "pdf", name: "flightdeck-week-2026-11-23-aaaaaaaa.pdf", bytes: 100_000, pages: 4 },
    ],
    email: { state: "sent", attempts: 1 },
    webhook: { state: "failed", attempts: 3, error: "HTTP 500 Internal Server Error from the webhook" },
    ...extra,
  };
}

const MADE = record({
  id: "rep_new",
  trigger: "manual",
  title: "Flightdeck weekly report, 30 November to 6 December 2026",
  from: "2026-11-30T00:00:00Z",
  until: "2026-12-07T00:00:00Z",
  created_at: "2026-12-07T10:00:00Z",
  duration_ms: 900,
  email: null,
  webhook: null,
});

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const fail = (status: number, code: string, message: string) => json(status, { error: { code, message, request_id: "r1" } });

class FakeBackend implements Backend {
  readonly kind = "web" as const;
  readonly baseUrl = "http://node.test";
  readonly session = null;
  requests: string[] = [];
  posts: Array<{ path: string; body: unknown }> = [];
  schedule: ScheduleInfo = SCHEDULE;
  reports: ReportRecord[] = [record()];
  /** While set, a POST /reports waits for it. */
  gate: Promise<void> | null = null;
  /** How the node answers POST /reports (default: made, put first in the list). */
  make: (req: ReportRequest) => Response = () => {
    this.reports = [MADE, ...this.reports];
    return json(201, MADE);
  };
  deliver: (id: string) => Response = (id) => {
    const r = this.reports.find((x) => x.id === id);
    if (!r) return fail(404, "not_found", "no such report");
    const done = { ...r, email: { state: "sent" as const, attempts: 1 }, webhook: { state: "sent" as const, attempts: 1 } };
    this.reports = this.reports.map((x) => (x.id === id ? done : x));
    return json(200, done);
  };
  onMessage: ((m: ServerMessage) => void) | null = null;

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.requests.push(`${request.method} ${url.pathname}${url.search}`);
    const route = `${request.method} ${url.pathname}`;
    const text = request.method === "POST" ? await request.text() : "";
    const body = text ? (JSON.parse(text) as unknown) : undefined;
    if (request.method === "POST") this.posts.push({ path: url.pathname, body });
    if (route === "GET /api/v1/reports") return json(200, { items: this.reports, schedule: this.schedule });
    if (route === "POST /api/v1/reports") {
      if (this.gate) await this.gate;
      return this.make(body as ReportRequest);
    }
    const deliver = /^POST \/api\/v1\/reports\/([^/]+)\/deliver$/.exec(route);
    if (deliver) return this.deliver(deliver[1] ?? "");
    const file = /^GET \/api\/v1\/reports\/([^/]+)\/(html|pdf)$/.exec(route);
    if (file) {
      if (file[2] === "pdf" && file[1] === "rep_nopdf") return fail(404, "not_found", "report rep_nopdf has no pdf");
      return file[2] === "html"
        ? new Response("<!doctype html><title>Report</title><h1>Report</h1>", { status: 200, headers: { "content-type": "text/html; charset=utf-8" } })
        : new Response("%PDF-1.7\n", { status: 200, headers: { "content-type": "application/pdf" } });
    }
    return fail(404, "not_found", "no route");
  }
  subscribe(onMessage: (m: ServerMessage) => void, onState: (s: ConnState) => void) {
    this.onMessage = onMessage;
    onState("connected");
    return () => {
      this.onMessage = null;
    };
  }
}

let container: HTMLDivElement;
let root: Root;

beforeEach(() => {
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(async () => {
  await act(async () => root.unmount());
  container.remove();
  vi.restoreAllMocks();
});

async function settle() {
  for (let i = 0; i < 8; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

async function render(backend: FakeBackend) {
  const client = createQueryClient(() => undefined);
  await act(async () => {
    root.render(
      <BackendProvider backend={backend}>
        <ToastProvider>
          <QueryClientProvider client={client}>
            <ApiProvider>
              <ConfirmProvider>
                <FeedProvider>
                  <Reports />
                </FeedProvider>
              </ConfirmProvider>
            </ApiProvider>
          </QueryClientProvider>
        </ToastProvider>
      </BackendProvider>,
    );
  });
  await settle();
}

const q = (id: string, scope: ParentNode = container) => scope.querySelector(`[data-testid="${id}"]`);
const qa = (id: string, scope: ParentNode = container) => [...scope.querySelectorAll(`[data-testid="${id}"]`)];
const text = (el: Element | null | undefined) => el?.textContent ?? "";
const row = (id: string) => container.querySelector(`[data-testid="report-row"][data-id="${id}"]`);
const toasts = () => [...document.querySelectorAll('[data-testid="toast"]')];

async function click(el: Element | null | undefined) {
  if (!(el instanceof HTMLElement)) throw new Error("nothing to click");
  await act(async () => el.click());
  await settle();
}

async function push(b: FakeBackend, payload: Extract<ServerMessage, { type: "event"; topic: "reports" }>["payload"], seq = 1) {
  await act(async () => b.onMessage?.({ type: "event", seq, time: "2026-12-07T10:00:00Z", topic: "reports", payload }));
  await settle();
}

describe("the list and the schedule", () => {
  it("lists each report's period, trigger, files, pages, size and deliveries; the schedule is shown read-only with its config", async () => {
    const b = new FakeBackend();
    await render(b);
    expect(q("screen-reports")).not.toBeNull();
    expect(b.requests).toContain("GET /api/v1/reports?limit=50");

    const r = row("rep_old");
    expect(text(q("report-title", r!))).toBe("Flightdeck weekly report, 23 to 29 November 2026");
    expect(text(r)).toContain("2026-11-23 → 2026-11-29");
    expect(text(r)).toContain("Week");
    expect(text(r)).toContain("scheduled");
    expect(text(r)).toContain("2.2 s");
    expect(text(q("report-pages", r!))).toBe("4");
    expect(text(r)).toContain("293 KiB");
    expect(q("report-open-html", r!)).not.toBeNull();
    expect(q("report-download-html", r!)).not.toBeNull();
    expect(q("report-download-pdf", r!)).not.toBeNull();
    expect(r?.getAttribute("data-failed")).toBe("true");
    const badges = qa("report-delivery", r!);
    expect(badges.map((x) => `${x.getAttribute("data-channel") ?? ""}:${x.getAttribute("data-state") ?? ""}`)).toEqual(["email:sent", "webhook:failed"]);
    // The server's answer: in the tooltip and under the badge.
    expect(badges[1]?.querySelector(".pill")?.getAttribute("title")).toBe("webhook failed after 3 attempts: HTTP 500 Internal Server Error from the webhook");
    expect(text(q("report-delivery-error", r!))).toBe("HTTP 500 Internal Server Error from the webhook");
    expect(text(q("report-deliver-again", r!))).toBe("Deliver again");

    const s = q("report-schedule");
    expect(s?.getAttribute("data-schedule")).toBe("weekly");
    expect(text(q("report-schedule-text"))).toBe("Weekly at 07:00 (UTC)");
    expect(text(q("report-next-due"))).toContain("2026-12-14 06:00:00 UTC");
    expect(text(q("report-folder"))).toBe("/var/lib/flightdeck/reports");
    expect(text(q("report-recipients"))).toBe("ops@example.com");
    expect(text(q("report-webhook"))).toBe("yes");
    expect(text(container.querySelector(".rp-config"))).toContain('schedule = "weekly"');
    expect(text(container.querySelector(".rp-config"))).toContain("[reports.smtp]");
    // Read-only: no field edits the schedule.
    expect(s?.querySelector("input, select, textarea")).toBeNull();

    expect(container.querySelector<HTMLInputElement>('[data-testid="report-deliver"]')?.disabled).toBe(false);
    expect(text(q("report-deliver-hint"))).toBe("By email to ops@example.com and the webhook, as configured.");
  });
});

describe("generate now", () => {
  it("shows a progress state while the node works, then the new report highlighted at the top", async () => {
    const b = new FakeBackend();
    let release: () => void = () => undefined;
    b.gate = new Promise<void>((r) => {
      release = r;
    });
    await render(b);
    await click(q("report-to-date"));
    await click(q("report-format-pdf"));
    expect(text(q("report-period-hint"))).toBe("This week so far, in UTC.");
    await click(q("report-generate"));

    const progress = q("report-progress");
    expect(progress).not.toBeNull();
    expect(text(progress)).toContain("Gathering figures and drawing charts…");
    expect(progress?.querySelector('[role="progressbar"]')?.hasAttribute("aria-valuenow")).toBe(false);
    expect(container.querySelector<HTMLButtonElement>('[data-testid="report-generate"]')?.disabled).toBe(true);
    expect(text(q("report-generate"))).toBe("Generating…");
    expect(b.posts).toEqual([{ path: "/api/v1/reports", body: { period: "week", formats: ["html"], to_date: true } }]);

    b.gate = null;
    await act(async () => release());
    await settle();
    expect(q("report-progress")).toBeNull();
    expect(q("report-error")).toBeNull();
    expect(text(q("report-made"))).toContain("Made Flightdeck weekly report, 30 November to 6 December 2026 in 900 ms");
    const rows = qa("report-row");
    expect(rows.map((x) => x.getAttribute("data-id"))).toEqual(["rep_new", "rep_old"]);
    expect(rows[0]?.getAttribute("data-fresh")).toBe("true");
    expect(rows[1]?.hasAttribute("data-fresh")).toBe(false);
    expect(text(rows[0])).toContain("not delivered");
  });

  it("a failed delivery: the node's message, the report kept and highlighted with its failed delivery and the server's answer, and an alert from the feed", async () => {
    const b = new FakeBackend();
    const kept = record({ ...MADE, id: "rep_kept", webhook: { state: "failed", attempts: 3, error: "HTTP 503 from https://hooks.example.com" }, email: { state: "sent", attempts: 1 } });
    // As the node answers a 5xx: a generic message, the report not named.
    b.make = () => {
      b.reports = [kept, ...b.reports];
      return fail(502, "delivery_failed", "failed inside the node; its log has the details under this request id");
    };
    await render(b);
    await click(q("report-deliver"));
    const loads = () => b.requests.filter((r) => r === "GET /api/v1/reports?limit=50").length;
    const before = loads();
    await click(q("report-generate"));
    expect(b.posts[0]?.body).toEqual({ period: "week", formats: ["html", "pdf"], deliver: true });

    const err = q("report-error");
    expect(err?.getAttribute("data-code")).toBe("delivery_failed");
    expect(err?.getAttribute("role")).toBe("alert");
    expect(text(err)).toContain("failed inside the node; its log has the details under this request id");
    expect(q("report-kept")).not.toBeNull();
    // The report it kept: found as the one new in the list, with each channel's answer.
    expect(q("report-kept-detail")?.getAttribute("data-id")).toBe("rep_kept");
    expect(text(q("report-kept-detail"))).toBe("Flightdeck weekly report, 30 November to 6 December 2026 · webhook: HTTP 503 from https://hooks.example.com");
    expect(loads()).toBe(before + 1);
    const r = row("rep_kept");
    expect(r?.getAttribute("data-fresh")).toBe("true");
    expect(r?.getAttribute("data-failed")).toBe("true");
    expect(text(q("report-delivery-error", r!))).toBe("HTTP 503 from https://hooks.example.com");

    // The feed's word on it: an alert that stays, with the report's title.
    await push(b, { type: "delivery", id: "rep_kept", channel: "webhook", state: "failed", attempts: 3, error: "HTTP 503 from https://hooks.example.com" });
    const alert = toasts().find((t) => /webhook delivery of a report failed/.test(text(t)));
    expect(alert?.getAttribute("role")).toBe("alert");
    expect(alert?.getAttribute("data-code")).toBe("delivery_failed");
    expect(text(alert)).toContain("Flightdeck weekly report, 30 November to 6 December 2026: HTTP 503 from https://hooks.example.com (3 attempts)");
    expect(loads()).toBe(before + 2);
  });

  it("a failed delivery whose message names the report highlights that one", async () => {
    const b = new FakeBackend();
    const kept = record({ ...MADE, id: "rep_named", webhook: { state: "failed", attempts: 1, error: "HTTP 500" }, email: null });
    b.make = () => {
      b.reports = [kept, ...b.reports];
      return fail(502, "delivery_failed", "report rep_named was made (it is kept) but its delivery failed: webhook: HTTP 500");
    };
    await render(b);
    await click(q("report-deliver"));
    await click(q("report-generate"));
    expect(text(q("report-error"))).toContain("report rep_named was made (it is kept) but its delivery failed: webhook: HTTP 500");
    expect(row("rep_named")?.getAttribute("data-fresh")).toBe("true");
    expect(text(q("report-kept-detail"))).toContain("webhook: HTTP 500");
  });

  it("a request the node refuses shows its message; nothing made", async () => {
    const b = new FakeBackend();
    b.make = () => fail(400, "bad_request", "no delivery is configured: set [reports] email_to (with [reports.smtp]) or webhook");
    await render(b);
    await click(q("report-period-day"));
    await click(q("report-deliver"));
    await click(q("report-generate"));
    expect(b.posts[0]?.body).toEqual({ period: "day", formats: ["html", "pdf"], deliver: true });
    const err = q("report-error");
    expect(err?.getAttribute("data-code")).toBe("bad_request");
    expect(text(err)).toContain("no delivery is configured: set [reports] email_to (with [reports.smtp]) or webhook");
    expect(q("report-kept")).toBeNull();
    expect(q("report-made")).toBeNull();
    expect(qa("report-row").map((x) => x.getAttribute("data-id"))).toEqual(["rep_old"]);
    expect(container.querySelector('[data-fresh="true"]')).toBeNull();
    // The form is usable again.
    expect(container.querySelector<HTMLButtonElement>('[data-testid="report-generate"]')?.disabled).toBe(false);
  });

  it("with nothing to deliver to, the deliver box is disabled with a hint and no report offers delivery; no format, no report", async () => {
    const b = new FakeBackend();
    b.schedule = NONE;
    b.reports = [record({ email: null, webhook: null })];
    await render(b);
    const box = container.querySelector<HTMLInputElement>('[data-testid="report-deliver"]');
    expect(box?.disabled).toBe(true);
    expect(box?.getAttribute("aria-describedby")).toBe(q("report-deliver-hint")?.id);
    expect(text(q("report-deliver-hint"))).toContain("Nothing to deliver to: set email_to (with [reports.smtp]) or webhook under [reports] in the config file.");
    expect(q("report-deliver-again")).toBeNull();
    expect(text(q("report-schedule-text"))).toBe("Off");
    expect(text(q("report-recipients"))).toBe("no one");
    expect(text(q("report-webhook"))).toBe("no");
    expect(text(row("rep_old"))).toContain("not delivered");

    await click(q("report-format-html"));
    await click(q("report-format-pdf"));
    expect(text(q("report-formats-hint"))).toBe("Choose at least one format.");
    expect(container.querySelector<HTMLButtonElement>('[data-testid="report-generate"]')?.disabled).toBe(true);
  });

  it("an empty list says how reports come about", async () => {
    const b = new FakeBackend();
    b.reports = [];
    await render(b);
    expect(text(q("report-list"))).toContain("No report yet.");
  });
});

describe("files", () => {
  it("are fetched through the client as blobs (no token in any URL): the HTML opens in a new tab, the PDF downloads; a failure says why", async () => {
    const b = new FakeBackend();
    b.reports = [record(), record({ id: "rep_nopdf", title: "No PDF" })];
    const created: Blob[] = [];
    vi.spyOn(URL, "createObjectURL").mockImplementation((blob: Blob | MediaSource) => {
      created.push(blob as Blob);
      return `blob:http://node.test/${String(created.length)}`;
    });
    vi.spyOn(URL, "revokeObjectURL").mockImplementation(() => undefined);
    const tab = { opener: {} as unknown, location: { href: "" }, close: vi.fn() };
    const open = vi.spyOn(window, "open").mockImplementation(() => tab as unknown as Window);
    const downloads: Array<{ href: string; download: string }> = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      downloads.push({ href: this.href, download: this.download });
    });
    await render(b);

    await click(q("report-open-html", row("rep_old")!));
    expect(b.requests).toContain("GET /api/v1/reports/rep_old/html");
    // Opened in the click (not a pop-up), then given the file.
    expect(open).toHaveBeenCalledWith("about:blank", "_blank");
    expect(tab.opener).toBeNull();
    expect(tab.location.href).toBe("blob:http://node.test/1");
    expect(created[0]?.type).toMatch(/^text\/html/);
    expect(await created[0]?.text()).toContain("<h1>Report</h1>");

    await click(q("report-download-pdf", row("rep_old")!));
    expect(b.requests).toContain("GET /api/v1/reports/rep_old/pdf");
    expect(downloads).toEqual([{ href: "blob:http://node.test/2", download: "flightdeck-week-2026-11-23-aaaaaaaa.pdf" }]);
    expect(created[1]?.type).toBe("application/pdf");
    expect(q("report-file-error")).toBeNull();

    await click(q("report-download-pdf", row("rep_nopdf")!));
    expect(text(q("report-file-error"))).toBe("The PDF of “No PDF” could not be fetched: report rep_nopdf has no pdf");
    expect(b.requests.every((r) => !/token/i.test(r))).toBe(true);
  });
});

describe("deliver again", () => {
  it("delivers a report again and shows its new states; a failure shows the node's message", async () => {
    const b = new FakeBackend();
    await render(b);
    await click(q("report-deliver-again", row("rep_old")!));
    expect(b.posts.map((p) => p.path)).toEqual(["/api/v1/reports/rep_old/deliver"]);
    expect(qa("report-delivery", row("rep_old")!).map((x) => x.getAttribute("data-state"))).toEqual(["sent", "sent"]);
    expect(row("rep_old")?.hasAttribute("data-failed")).toBe(false);
    expect(toasts().some((t) => /Report delivered/.test(text(t)))).toBe(true);

    b.deliver = (id) => {
      b.reports = b.reports.map((x) => (x.id === id ? { ...x, email: { state: "failed", attempts: 3, error: "550 mailbox unavailable" } } : x));
      return fail(502, "delivery_failed", "failed inside the node; its log has the details under this request id");
    };
    await click(q("report-deliver-again", row("rep_old")!));
    const err = q("report-deliver-error");
    expect(err?.getAttribute("data-code")).toBe("delivery_failed");
    expect(text(err)).toContain("failed inside the node");
    // What each channel answered, as the report (loaded again) keeps it.
    expect(text(q("report-deliver-failure"))).toBe(
      "Flightdeck weekly report, 23 to 29 November 2026 was not delivered: email: 550 mailbox unavailable. The attempts and the server’s answer are kept on the report below.",
    );
    expect(qa("report-delivery", row("rep_old")!).map((x) => x.getAttribute("data-state"))).toEqual(["failed", "sent"]);
  });
});
