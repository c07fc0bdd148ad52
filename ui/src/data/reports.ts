// Reports (`#/reports`): the reports made and the schedule, as one query under the `reports`
// key — a `reports` feed event (a report made, a delivery sent or failed) makes it stale, and
// so does a `config` event (the schedule, formats and recipients live in `[reports]`); see
// invalidation.ts. Also the words the screen uses: the schedule, periods, durations, sizes,
// delivery states, the "generate now" body, the node's `delivery_failed` message (which names
// the report that was made and kept), where a report's files are fetched from, and the toasts
// of live events (a failed delivery is an alert that stays; a scheduled report a notice).
import { queryOptions, type QueryClient } from "@tanstack/react-query";
import { ok, type Api } from "../api/client";
import { ApiError, describeError } from "../backend/apiError";
import type { ToastInput } from "../components/Toasts";
import type { components } from "../generated/api";
import { formatBytes, formatDuration } from "../format";

export type ReportList = components["schemas"]["ReportList"];
export type ReportRecord = components["schemas"]["ReportRecord"];
export type ReportFile = components["schemas"]["ReportFile"];
export type ReportFormat = components["schemas"]["ReportFormat"];
export type ReportRequest = components["schemas"]["ReportRequest"];
export type ReportEvent = components["schemas"]["ReportEvent"];
export type ScheduleInfo = components["schemas"]["ScheduleInfo"];
export type Delivery = components["schemas"]["Delivery"];
export type DeliveryState = components["schemas"]["DeliveryState"];
export type Period = components["schemas"]["Period"];

/** Reports listed at most (newest first). */
export const REPORTS_SHOWN = 50;

export const FORMATS: readonly ReportFormat[] = ["html", "pdf"];

export const reportKeys = {
  all: ["reports"] as const,
  list: ["reports", "list", REPORTS_SHOWN] as const,
};

export function reportsQuery(api: Api) {
  return queryOptions({
    queryKey: reportKeys.list,
    queryFn: ({ signal }) => ok(api.GET("/api/v1/reports", { params: { query: { limit: REPORTS_SHOWN } }, signal })),
  });
}

/** Puts a report just made (or delivered) into the cached list at once, newest first. */
export function withReport(list: ReportList | undefined, r: ReportRecord): ReportList | undefined {
  if (!list) return list;
  const at = list.items.findIndex((x) => x.id === r.id);
  if (at >= 0) return { ...list, items: list.items.map((x) => (x.id === r.id ? r : x)) };
  return { ...list, items: [r, ...list.items] };
}

/** Shows a report in the list now; the list loads again after (the feed says so too). */
export function reportChanged(client: QueryClient, r: ReportRecord): void {
  client.setQueryData<ReportList>(reportKeys.list, (old) => withReport(old, r));
  void client.invalidateQueries({ queryKey: reportKeys.all });
}

// ---------- the schedule ----------

/** Whether a report can be delivered: recipients (through `[reports.smtp]`) or a webhook. */
export function deliveryConfigured(s: Pick<ScheduleInfo, "email_to" | "webhook"> | undefined): boolean {
  return s !== undefined && (s.email_to.length > 0 || s.webhook);
}

/** Where reports go, in words: "email to a@b, c@d and the webhook"; null for nowhere. */
export function deliveryTargets(s: Pick<ScheduleInfo, "email_to" | "webhook">): string | null {
  const parts: string[] = [];
  if (s.email_to.length > 0) parts.push(`email to ${s.email_to.join(", ")}`);
  if (s.webhook) parts.push("the webhook");
  return parts.length > 0 ? parts.join(" and ") : null;
}

/** "07:00". */
export function hourText(h: number): string {
  return `${String(Math.min(23, Math.max(0, Math.trunc(h)))).padStart(2, "0")}:00`;
}

/** "Weekly at 07:00 (Europe/Paris)", "Daily at 06:00 (UTC)", "Off". */
export function scheduleText(s: Pick<ScheduleInfo, "schedule" | "at_hour" | "time_zone">): string {
  switch (s.schedule) {
    case "off":
      return "Off";
    case "daily":
      return `Daily at ${hourText(s.at_hour)} (${s.time_zone})`;
    case "weekly":
      return `Weekly at ${hourText(s.at_hour)} (${s.time_zone})`;
  }
}

/** What a scheduled run makes, in words. */
export function scheduleMeaning(s: Pick<ScheduleInfo, "schedule">): string {
  switch (s.schedule) {
    case "off":
      return "No report is made on its own: only those generated here or through the API.";
    case "daily":
      return "Every day, the report of the day before.";
    case "weekly":
      return "Every week, the report of the week before.";
  }
}

/** "HTML and PDF", "PDF". */
export function formatsText(formats: readonly ReportFormat[]): string {
  const names = FORMATS.filter((f) => formats.includes(f)).map((f) => f.toUpperCase());
  return names.length > 0 ? names.join(" and ") : "—";
}

/** The config that sets the schedule and delivery (shown beside the values in force). */
export const REPORTS_CONFIG_EXAMPLE = `[reports]
schedule = "weekly"        # "off" (default), "daily" or "weekly"
at_hour = 7                # local hour, in [costs] time_zone
formats = ["html", "pdf"]
email_to = ["ops@example.com"]
webhook = "https://hooks.example.com/flightdeck"

[reports.smtp]
host = "smtp.example.com"
from = "Flightdeck <flightdeck@example.com>"
username = "flightdeck"
password_secret = "SMTP_PASSWORD"`;

// ---------- generating ----------

/** The form: `formats` null until changed (then the configured ones are used). */
export type GenerateDraft = { period: Period; toDate: boolean; formats: ReportFormat[] | null; deliver: boolean };

export const emptyGenerateDraft: GenerateDraft = { period: "week", toDate: false, formats: null, deliver: false };

/** The formats the form has ticked: its own once changed, else the configured ones. */
export function draftFormats(d: Pick<GenerateDraft, "formats">, configured: readonly ReportFormat[] | undefined): ReportFormat[] {
  const f = d.formats ?? configured ?? FORMATS;
  return FORMATS.filter((x) => f.includes(x));
}

/** Adds or removes a format, keeping html before pdf. */
export function toggleFormat(formats: readonly ReportFormat[], f: ReportFormat, on: boolean): ReportFormat[] {
  const set = new Set(formats);
  if (on) set.add(f);
  else set.delete(f);
  return FORMATS.filter((x) => set.has(x));
}

/** The POST body; an error for what can be checked here (the node checks the rest). */
export function generateBody(d: GenerateDraft, schedule: Pick<ScheduleInfo, "email_to" | "webhook" | "formats"> | undefined): { body: ReportRequest } | { error: string } {
  const formats = draftFormats(d, schedule?.formats);
  if (formats.length === 0) return { error: "Choose at least one format." };
  const body: ReportRequest = { period: d.period, formats };
  if (d.toDate) body.to_date = true;
  // Sent only when something is configured; else the node would refuse the whole request.
  if (d.deliver && deliveryConfigured(schedule)) body.deliver = true;
  return { body };
}

/** Which span a report covers, before it is made. */
export function periodHint(period: Period, toDate: boolean): string {
  if (period === "day") return toDate ? "Today so far" : "Yesterday (the last complete day)";
  return toDate ? "This week so far" : "Last week (the last complete week)";
}

// ---------- a report ----------

/** "Week", "Day", "Week to date". */
export function periodText(r: Pick<ReportRecord, "period" | "to_date">): string {
  const p = r.period === "week" ? "Week" : "Day";
  return r.to_date ? `${p} to date` : p;
}

function dayIn(t: number, zone: string | undefined): string {
  const d = new Date(t);
  try {
    // en-CA writes ISO dates (2026-12-07).
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
  } catch {
    return d.toISOString().slice(0, 10);
  }
}

/**
 * The days a report covers in the node's time zone ("2026-11-30 → 2026-12-06"; one day alone);
 * `until` is the end, excluded.
 */
export function rangeText(from: string, until: string, zone?: string): string {
  const a = Date.parse(from);
  const b = Date.parse(until);
  if (Number.isNaN(a) || Number.isNaN(b)) return `${from} → ${until}`;
  const first = dayIn(a, zone);
  const last = dayIn(Math.max(a, b - 1), zone);
  return first === last ? first : `${first} → ${last}`;
}

/** "850 ms", "2.4 s", "1m 05s". */
export function durationText(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${String(Math.round(ms))} ms`;
  if (ms < 60_000) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
  return formatDuration(ms / 1000);
}

export function fileOf(r: Pick<ReportRecord, "files">, format: ReportFormat): ReportFile | undefined {
  return r.files.find((f) => f.format === format);
}

/** The files' bytes together, in words. */
export function sizeText(r: Pick<ReportRecord, "files">): string {
  if (r.files.length === 0) return "—";
  return formatBytes(r.files.reduce((n, f) => n + f.bytes, 0));
}

/** The PDF's pages; null without a PDF. */
export function pagesOf(r: Pick<ReportRecord, "files">): number | null {
  return fileOf(r, "pdf")?.pages ?? null;
}

export type Channel = "email" | "webhook";

/** The deliveries a report has (a channel not configured when it was made has none). */
export function deliveries(r: Pick<ReportRecord, "email" | "webhook">): Array<{ channel: Channel; delivery: Delivery }> {
  const out: Array<{ channel: Channel; delivery: Delivery }> = [];
  if (r.email) out.push({ channel: "email", delivery: r.email });
  if (r.webhook) out.push({ channel: "webhook", delivery: r.webhook });
  return out;
}

/** "sent", "failed after 3 attempts", "pending (attempt 1)". */
export function deliveryText(d: Delivery): string {
  const n = `${String(d.attempts)} attempt${d.attempts === 1 ? "" : "s"}`;
  switch (d.state) {
    case "sent":
      return d.attempts > 1 ? `sent after ${n}` : "sent";
    case "failed":
      return `failed after ${n}`;
    case "pending":
      return d.attempts > 0 ? `pending (${n} so far)` : "pending";
  }
}

/** Whether any of a report's deliveries failed. */
export function deliveryFailed(r: Pick<ReportRecord, "email" | "webhook">): boolean {
  return r.email?.state === "failed" || r.webhook?.state === "failed";
}

/** Where to fetch a file from (through the authenticated client: the token goes in a header). */
export function filePath(id: string, format: ReportFormat): string {
  return `/api/v1/reports/${encodeURIComponent(id)}/${format}`;
}

/** A report's file as a blob, fetched with the typed client (the token in its header, never in the URL). */
export async function fetchReportFile(api: Api, id: string, format: ReportFormat): Promise<Blob> {
  const blob = await ok(api.GET("/api/v1/reports/{id}/{format}", { params: { path: { id, format } }, parseAs: "blob" }));
  // The node says `text/html; charset=utf-8` or `application/pdf`; a blob of another type would not open as a page.
  const type = format === "html" ? "text/html" : "application/pdf";
  return blob.type.startsWith(type) ? blob : new Blob([blob], { type: format === "html" ? "text/html;charset=utf-8" : type });
}

// ---------- errors ----------

/** The error's stable code, when the node gave one. */
export function errorCode(err: unknown): string | null {
  return err instanceof ApiError ? err.code : null;
}

/** What an error reads as beside a form: the node's message verbatim. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError && err.code === "insufficient_scope") return `This token may not do that (it needs a broader scope): ${err.message}`;
  return describeError(err);
}

/**
 * The report a `delivery_failed` answer names, when its message does: it was made and kept
 * ("report rep_… was made (it is kept) but its delivery failed: …"). Null otherwise (a node
 * may answer a 5xx with a generic message: then `newReportId` finds it in the list).
 */
export function keptReportId(err: unknown): string | null {
  if (!(err instanceof ApiError) || err.code !== "delivery_failed") return null;
  return /\breport (rep_[A-Za-z0-9]+)\b/.exec(err.message)?.[1] ?? null;
}

/**
 * The report a request made, found in the list loaded after it: the newest one that was not
 * there before (a `delivery_failed` answer may not name it). Null when none is new.
 */
export function newReportId(items: readonly Pick<ReportRecord, "id">[] | undefined, before: ReadonlySet<string>): string | null {
  return items?.find((r) => !before.has(r.id))?.id ?? null;
}

/** A report's failed deliveries with the server's answer: "webhook: HTTP 500 …". */
export function failureText(r: Pick<ReportRecord, "email" | "webhook">): string | null {
  const failed = deliveries(r).filter((d) => d.delivery.state === "failed");
  if (failed.length === 0) return null;
  return failed.map((d) => `${d.channel}: ${d.delivery.error ?? "no answer"}`).join("; ");
}

// ---------- live notices ----------

/**
 * The toast for a `reports` event worth interrupting for: a delivery that failed after every
 * attempt (an alert that stays until dismissed), or a report the schedule made. Null for the
 * rest (a report made here shows in the list; a delivery sent shows its badge). `title` is
 * the report's, when the list holds it (a delivery event carries only the id).
 */
export function reportNotice(e: ReportEvent, title?: string): ToastInput | null {
  switch (e.type) {
    case "delivery":
      if (e.state !== "failed") return null;
      return {
        tone: "error",
        title: `The ${e.channel} delivery of a report failed`,
        message: `${title ?? e.id}: ${e.error ?? "no answer"} (${String(e.attempts)} attempt${e.attempts === 1 ? "" : "s"}). The report is kept: deliver it again from the Reports screen.`,
        code: "delivery_failed",
      };
    case "generated":
      return e.trigger === "schedule" ? { tone: "info", title: "Scheduled report made", message: e.title } : null;
  }
}

/** The title of a report in the cached list, if it is there. */
export function cachedTitle(client: QueryClient, id: string): string | undefined {
  return client.getQueryData<ReportList>(reportKeys.list)?.items.find((r) => r.id === id)?.title;
}
