// Reports (`#/reports`): the schedule and where reports go (read-only: set in the config
// file's `[reports]`), a report made now (a day or a week, complete or to date, in HTML and/or
// PDF, delivered when asked) with a progress state while the node gathers the figures and
// draws the charts, and the reports made: their files (fetched with the client as blobs: the
// token stays in a header), pages, size and deliveries (sent, failed with the server's answer,
// pending), delivered again on demand. Nothing polls: `reports` events reload the list, and a
// delivery that failed raises an alert wherever the user is (feed/FeedProvider.tsx).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState, type ReactNode } from "react";
import { useApi } from "../api/context";
import { ok } from "../api/client";
import { DataTable, type Column } from "../components/DataTable";
import { Icon } from "../components/Icon";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { useToasts } from "../components/Toasts";
import {
  deliveries,
  deliveryConfigured,
  deliveryFailed,
  deliveryTargets,
  deliveryText,
  draftFormats,
  failureText,
  durationText,
  emptyGenerateDraft,
  errorCode,
  errorText,
  fetchReportFile,
  fileOf,
  FORMATS,
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
  REPORTS_CONFIG_EXAMPLE,
  REPORTS_SHOWN,
  reportsQuery,
  scheduleMeaning,
  scheduleText,
  sizeText,
  toggleFormat,
  type GenerateDraft,
  type ReportList,
  type Period,
  type ReportFormat,
  type ReportRecord,
  type ScheduleInfo,
} from "../data/reports";
import { useNow } from "../data/useNow";
import { formatInt, formatRelative, formatTimestamp } from "../format";

/** An error beside a form: the node's message as it is, and its code. */
function FormError({ error, testId, children }: { error: unknown; testId: string; children?: ReactNode }) {
  const code = errorCode(error);
  return (
    <div className="error-note rp-error" role="alert" data-testid={testId} data-code={code ?? undefined}>
      <Icon name="alert" />
      <div>
        <div className="rp-error-message">{errorText(error)}</div>
        {children}
        {code ? <div className="muted small mono">code: {code}</div> : null}
      </div>
    </div>
  );
}

// ---------- the schedule ----------

function SchedulePanel({ schedule, error, onRetry, now }: { schedule: ScheduleInfo | undefined; error: unknown; onRetry: () => void; now: number }) {
  return (
    <Panel title="Schedule" className="rp-schedule">
      {schedule ? (
        <>
          <dl className="kv rp-kv" data-testid="report-schedule" data-schedule={schedule.schedule}>
            <dt>Schedule</dt>
            <dd>
              <strong data-testid="report-schedule-text">{scheduleText(schedule)}</strong>
              <div className="muted small">{scheduleMeaning(schedule)}</div>
            </dd>
            <dt>Hour</dt>
            <dd>
              <span className="mono">{hourText(schedule.at_hour)}</span> <span className="muted">in {schedule.time_zone}</span>
            </dd>
            <dt>Next due</dt>
            <dd data-testid="report-next-due">
              {schedule.next_due ? (
                <span title={formatTimestamp(schedule.next_due)}>
                  {formatTimestamp(schedule.next_due)} <span className="muted">({formatRelative(schedule.next_due, now)})</span>
                </span>
              ) : (
                <span className="muted">{schedule.schedule === "off" ? "— (no schedule)" : "—"}</span>
              )}
            </dd>
            <dt>Folder</dt>
            <dd className="mono small" data-testid="report-folder">
              {schedule.folder}
            </dd>
            <dt>Formats</dt>
            <dd>{formatsText(schedule.formats)}</dd>
            <dt>Email to</dt>
            <dd data-testid="report-recipients">
              {schedule.email_to.length > 0 ? (
                <ul className="rp-recipients">
                  {schedule.email_to.map((to) => (
                    <li key={to} className="mono small">
                      {to}
                    </li>
                  ))}
                </ul>
              ) : (
                <span className="muted">no one</span>
              )}
            </dd>
            <dt>Webhook</dt>
            <dd data-testid="report-webhook">{schedule.webhook ? "yes" : <span className="muted">no</span>}</dd>
          </dl>
          <details className="rp-config">
            <summary className="small">
              Set in the config file, not here: <span className="mono">[reports]</span>
            </summary>
            <pre className="code-block rp-code">{REPORTS_CONFIG_EXAMPLE}</pre>
            <p className="muted small">
              <span className="mono">schedule</span> is <span className="mono">"off"</span>, <span className="mono">"daily"</span> (the day before) or{" "}
              <span className="mono">"weekly"</span> (the week before), made at <span className="mono">at_hour</span> in <span className="mono">[costs] time_zone</span>.{" "}
              <span className="mono">email_to</span> needs <span className="mono">[reports.smtp]</span> (its password is a secret, named by{" "}
              <span className="mono">password_secret</span>); <span className="mono">webhook</span> is POSTed a JSON summary of each report. This screen shows what is in
              force; it updates when the file is saved.
            </p>
          </details>
        </>
      ) : error ? (
        <ErrorNote error={error} onRetry={onRetry} />
      ) : (
        <div className="kv-skeleton">
          <Skeleton className="skeleton-wide" />
          <Skeleton className="skeleton-wide" />
        </div>
      )}
    </Panel>
  );
}

// ---------- generate now ----------

function GeneratePanel({
  schedule,
  items,
  kept,
  onMade,
  onKept,
}: {
  schedule: ScheduleInfo | undefined;
  /** The reports listed now: a report a failed delivery kept is the one not among them. */
  items: readonly ReportRecord[] | undefined;
  /** The report a failed delivery kept, once the list shows it. */
  kept: ReportRecord | undefined;
  onMade: (r: ReportRecord) => void;
  onKept: (id: string | null, before: ReadonlySet<string>) => void;
}) {
  const api = useApi();
  const hintId = useId();
  const [d, setD] = useState<GenerateDraft>(emptyGenerateDraft);
  const [made, setMade] = useState<ReportRecord | null>(null);
  const canDeliver = deliveryConfigured(schedule);
  const formats = draftFormats(d, schedule?.formats);
  const make = useMutation({
    meta: { toastErrors: false },
    mutationFn: (draft: GenerateDraft) => {
      const checked = generateBody(draft, schedule);
      if ("error" in checked) return Promise.reject(new Error(checked.error));
      return ok(api.POST("/api/v1/reports", { body: checked.body }));
    },
    onMutate: () => {
      setMade(null);
      return { before: new Set((items ?? []).map((r) => r.id)) };
    },
    onSuccess: (r) => {
      setMade(r);
      onMade(r);
    },
    // A failed delivery: the report was made and kept, and the list shows its failed delivery.
    onError: (e, _draft, ctx) => {
      if (errorCode(e) === "delivery_failed") onKept(keptReportId(e), ctx?.before ?? new Set());
    },
  });
  const targets = schedule ? deliveryTargets(schedule) : null;
  return (
    <Panel title="Generate now" className="rp-generate">
      <form
        className="rp-form"
        data-testid="report-form"
        onSubmit={(e) => {
          e.preventDefault();
          make.mutate(d);
        }}
      >
        <fieldset className="rp-fieldset" disabled={make.isPending}>
          <legend className="field-label">Period</legend>
          <div className="rp-choices">
            {(["day", "week"] as const satisfies readonly Period[]).map((p) => (
              <label key={p} className="field-check">
                <input type="radio" name="report-period" value={p} checked={d.period === p} onChange={() => setD({ ...d, period: p })} data-testid={`report-period-${p}`} />
                {p === "day" ? "Day" : "Week"}
              </label>
            ))}
            <label className="field-check">
              <input type="checkbox" checked={d.toDate} onChange={(e) => setD({ ...d, toDate: e.target.checked })} data-testid="report-to-date" />
              Period to date
            </label>
          </div>
          <p className="muted small rp-hint" data-testid="report-period-hint">
            {periodHint(d.period, d.toDate)}
            {schedule ? `, in ${schedule.time_zone}` : ""}.
          </p>
        </fieldset>
        <fieldset className="rp-fieldset" disabled={make.isPending}>
          <legend className="field-label">Formats</legend>
          <div className="rp-choices">
            {FORMATS.map((f) => (
              <label key={f} className="field-check">
                <input
                  type="checkbox"
                  checked={formats.includes(f)}
                  onChange={(e) => setD({ ...d, formats: toggleFormat(formats, f, e.target.checked) })}
                  data-testid={`report-format-${f}`}
                />
                {f === "html" ? "HTML (self-contained page)" : "PDF"}
              </label>
            ))}
          </div>
          {formats.length === 0 ? (
            <p className="error-text small rp-hint" data-testid="report-formats-hint">
              Choose at least one format.
            </p>
          ) : null}
        </fieldset>
        <fieldset className="rp-fieldset" disabled={make.isPending}>
          <legend className="field-label">Delivery</legend>
          <label className="field-check">
            <input
              type="checkbox"
              checked={d.deliver && canDeliver}
              disabled={!canDeliver}
              aria-describedby={hintId}
              onChange={(e) => setD({ ...d, deliver: e.target.checked })}
              data-testid="report-deliver"
            />
            Deliver it
          </label>
          <p id={hintId} className="muted small rp-hint" data-testid="report-deliver-hint">
            {canDeliver && targets ? (
              <>By {targets}, as configured.</>
            ) : schedule ? (
              <>
                Nothing to deliver to: set <span className="mono">email_to</span> (with <span className="mono">[reports.smtp]</span>) or{" "}
                <span className="mono">webhook</span> under <span className="mono">[reports]</span> in the config file.
              </>
            ) : (
              <>Delivery is known once the schedule loads.</>
            )}
          </p>
        </fieldset>
        <div className="btn-row rp-actions">
          <button type="submit" className="btn btn-primary" disabled={make.isPending || formats.length === 0} data-testid="report-generate">
            {make.isPending ? "Generating…" : "Generate now"}
          </button>
        </div>
      </form>
      {make.isPending ? (
        <div className="rp-progress" role="status" aria-live="polite" data-testid="report-progress">
          <div className="rp-bar" role="progressbar" aria-label="Making the report" aria-busy="true">
            <div className="rp-bar-fill" />
          </div>
          <span className="small">Gathering figures and drawing charts…</span>
        </div>
      ) : null}
      {make.error ? (
        <FormError error={make.error} testId="report-error">
          {errorCode(make.error) === "delivery_failed" ? (
            <div className="small rp-kept" data-testid="report-kept">
              The report was made and kept: it is in the list below with its failed delivery, and can be delivered again from there.
              {kept && failureText(kept) ? (
                <div className="rp-kept-detail" data-testid="report-kept-detail" data-id={kept.id}>
                  <strong>{kept.title}</strong> · {failureText(kept)}
                </div>
              ) : null}
            </div>
          ) : null}
        </FormError>
      ) : null}
      {made && !make.isPending && !make.error ? (
        <div className="note-ok rp-made small" role="status" data-testid="report-made" data-id={made.id}>
          Made <strong>{made.title}</strong> in {durationText(made.duration_ms)}
          {deliveries(made).length > 0 ? ` and delivered by ${deliveries(made).map((x) => x.channel).join(" and ")}` : ""}. It is highlighted below.
        </div>
      ) : null}
    </Panel>
  );
}

// ---------- the reports made ----------

function DeliveryBadges({ r }: { r: ReportRecord }) {
  const list = deliveries(r);
  if (list.length === 0) return <span className="muted small rp-nowrap">not delivered</span>;
  return (
    <span className="rp-deliveries">
      {list.map(({ channel, delivery }) => (
        <span key={channel} className="rp-delivery" data-testid="report-delivery" data-channel={channel} data-state={delivery.state}>
          <span
            className={`pill ${delivery.state === "sent" ? "pill-ok" : delivery.state === "failed" ? "pill-error" : "rp-pill-pending"}`}
            title={delivery.error ? `${channel} ${deliveryText(delivery)}: ${delivery.error}` : `${channel} ${deliveryText(delivery)}`}
          >
            {channel} {delivery.state}
          </span>
          {delivery.state === "failed" && delivery.error ? (
            <span className="small rp-delivery-error" data-testid="report-delivery-error" title={delivery.error}>
              {delivery.error}
            </span>
          ) : null}
        </span>
      ))}
    </span>
  );
}

/** Under a failed "deliver again": which report, and each channel's answer as the report keeps it. */
function DeliverFailure({ report }: { report: ReportRecord | undefined }) {
  const why = report ? failureText(report) : null;
  return (
    <div className="small" data-testid="report-deliver-failure">
      {report ? <strong>{report.title}</strong> : "The report"} was not delivered{why ? `: ${why}` : ""}. The attempts and the server’s answer are kept on the report
      below.
    </div>
  );
}

type FileAction = "download" | "open";

function reportColumns(opts: {
  now: number;
  zone: string | undefined;
  busy: string | null;
  onFile: (r: ReportRecord, format: ReportFormat, action: FileAction) => void;
  canDeliver: boolean;
  delivering: string | null;
  onDeliver: (r: ReportRecord) => void;
}): Column<ReportRecord>[] {
  const { now, zone, busy, onFile, canDeliver, delivering, onDeliver } = opts;
  const key = (r: ReportRecord, f: ReportFormat, a: FileAction) => `${r.id}/${f}/${a}`;
  return [
    {
      id: "title",
      header: "Report",
      sortValue: (r) => r.title,
      cell: (r) => (
        <span className="rp-title">
          <span className="strong" data-testid="report-title">
            {r.title}
          </span>
          <span className="muted small mono">{rangeText(r.from, r.until, zone)}</span>
        </span>
      ),
    },
    { id: "period", header: "Period", sortValue: (r) => periodText(r), cell: (r) => periodText(r) },
    {
      id: "trigger",
      header: "Trigger",
      sortValue: (r) => r.trigger,
      cell: (r) => (r.trigger === "schedule" ? <span className="pill rp-pill-schedule">scheduled</span> : <span className="pill rp-pill-manual">manual</span>),
    },
    {
      id: "created",
      header: "Made",
      sortValue: (r) => Date.parse(r.created_at),
      cell: (r) => (
        <span className="rp-nowrap" title={formatTimestamp(r.created_at)}>
          {formatRelative(r.created_at, now)}
        </span>
      ),
    },
    { id: "duration", header: "Took", numeric: true, sortValue: (r) => r.duration_ms, cell: (r) => durationText(r.duration_ms) },
    {
      id: "files",
      header: "Files",
      cell: (r) => (
        <span className="rp-files">
          {fileOf(r, "html") ? (
            <>
              <button
                type="button"
                className="btn small"
                disabled={busy !== null}
                onClick={() => onFile(r, "html", "open")}
                title="Open the HTML in a new tab"
                aria-label="Open the HTML in a new tab"
                data-testid="report-open-html"
              >
                {busy === key(r, "html", "open") ? "…" : "Open"}
              </button>
              <button
                type="button"
                className="btn btn-ghost small"
                disabled={busy !== null}
                onClick={() => onFile(r, "html", "download")}
                title={`Download ${fileOf(r, "html")?.name ?? "the HTML"}`}
                aria-label="Download the HTML"
                data-testid="report-download-html"
              >
                {busy === key(r, "html", "download") ? "…" : "↓ HTML"}
              </button>
            </>
          ) : null}
          {fileOf(r, "pdf") ? (
            <button
              type="button"
              className="btn btn-ghost small"
              disabled={busy !== null}
              onClick={() => onFile(r, "pdf", "download")}
              title={`Download ${fileOf(r, "pdf")?.name ?? "the PDF"}`}
              aria-label="Download the PDF"
              data-testid="report-download-pdf"
            >
              {busy === key(r, "pdf", "download") ? "…" : "↓ PDF"}
            </button>
          ) : null}
        </span>
      ),
    },
    {
      id: "pages",
      header: "Pages",
      numeric: true,
      sortValue: (r) => pagesOf(r),
      cell: (r) => {
        const p = pagesOf(r);
        return p === null ? <span className="muted">—</span> : <span data-testid="report-pages">{formatInt(p)}</span>;
      },
    },
    {
      id: "size",
      header: "Size",
      numeric: true,
      sortValue: (r) => r.files.reduce((n, f) => n + f.bytes, 0),
      cell: (r) => <span className="rp-nowrap">{sizeText(r)}</span>,
    },
    {
      id: "delivery",
      header: "Delivery",
      cell: (r) => (
        <span className="rp-delivery-cell">
          <DeliveryBadges r={r} />
          {canDeliver ? (
            <button
              type="button"
              className="btn btn-ghost small rp-deliver-again"
              disabled={delivering !== null}
              onClick={() => onDeliver(r)}
              aria-label={`Deliver ${r.title} again`}
              data-testid="report-deliver-again"
            >
              {delivering === r.id ? "Delivering…" : deliveries(r).length > 0 ? "Deliver again" : "Deliver"}
            </button>
          ) : null}
        </span>
      ),
    },
  ];
}

/** Downloads and opens a report's files: fetched with the client (token in a header) as blobs. */
function useReportFiles() {
  const api = useApi();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = async (r: ReportRecord, format: ReportFormat, action: FileAction) => {
    // The tab is opened in the click itself, then given the file: one opened after the fetch
    // is a pop-up to browsers and to the desktop's WebKit, which refuse it.
    let tab: Window | null = null;
    if (action === "open") {
      tab = window.open("about:blank", "_blank");
      if (tab === null) {
        setError("No new tab or window could be opened (a pop-up blocker?): download the HTML instead.");
        return;
      }
      tab.opener = null;
    }
    setBusy(`${r.id}/${format}/${action}`);
    try {
      const blob = await fetchReportFile(api, r.id, format);
      const url = URL.createObjectURL(blob);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      if (tab !== null) {
        tab.location.href = url;
      } else {
        const a = document.createElement("a");
        a.href = url;
        a.download = fileOf(r, format)?.name ?? `${r.id}.${format}`;
        a.click();
      }
      setError(null);
    } catch (e) {
      tab?.close();
      setError(`The ${format.toUpperCase()} of “${r.title}” could not be fetched: ${errorText(e)}`);
    } finally {
      setBusy(null);
    }
  };
  return { busy, error, run };
}

export function Reports() {
  const api = useApi();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const now = useNow(30_000);
  const list = useQuery(reportsQuery(api));
  const schedule = list.data?.schedule;
  const items = list.data?.items;
  const canDeliver = deliveryConfigured(schedule);
  // The report just made (or kept after a failed delivery): highlighted in the list.
  const [fresh, setFresh] = useState<string | null>(null);
  const files = useReportFiles();
  const [deliverError, setDeliverError] = useState<{ id: string; error: unknown } | null>(null);
  const deliver = useMutation({
    meta: { toastErrors: false },
    mutationFn: (id: string) => ok(api.POST("/api/v1/reports/{id}/deliver", { params: { path: { id } } })),
    onMutate: () => setDeliverError(null),
    onSuccess: (r) => {
      reportChanged(queryClient, r);
      toasts.push({ tone: "success", title: "Report delivered", message: `${r.title}: ${deliveries(r).map((x) => `${x.channel} ${deliveryText(x.delivery)}`).join(", ")}` });
    },
    onError: (error, id) => {
      setDeliverError({ id, error });
      // The attempts and the server's answer are kept on the report.
      void queryClient.invalidateQueries({ queryKey: reportKeys.all });
    },
  });
  const failed = items?.filter(deliveryFailed).length ?? 0;

  return (
    <div className="screen" data-testid="screen-reports">
      <div className="rp-top">
        <GeneratePanel
          schedule={schedule}
          items={items}
          kept={fresh === null ? undefined : items?.find((r) => r.id === fresh && deliveryFailed(r))}
          onMade={(r) => {
            setFresh(r.id);
            reportChanged(queryClient, r);
          }}
          onKept={(id, before) => {
            setFresh(id);
            // The list as it is now, with the report and its failed delivery.
            void queryClient.invalidateQueries({ queryKey: reportKeys.all }).then(() => {
              if (id === null) setFresh(newReportId(queryClient.getQueryData<ReportList>(reportKeys.list)?.items, before));
            });
          }}
        />
        <SchedulePanel schedule={schedule} error={list.error} onRetry={() => void list.refetch()} now={now} />
      </div>
      <Panel
        title={
          <>
            Reports{" "}
            {items ? (
              <span className="muted rp-title-count">
                {formatInt(items.length)}
                {failed > 0 ? ` · ${formatInt(failed)} with a failed delivery` : ""}
              </span>
            ) : null}
          </>
        }
        className="rp-list"
      >
        {files.error ? (
          <p className="error-text small" role="alert" data-testid="report-file-error">
            {files.error}
          </p>
        ) : null}
        {deliverError ? (
          <FormError error={deliverError.error} testId="report-deliver-error">
            {errorCode(deliverError.error) === "delivery_failed" ? (
              <DeliverFailure report={items?.find((r) => r.id === deliverError.id)} />
            ) : null}
          </FormError>
        ) : null}
        <DataTable
          columns={reportColumns({
            now,
            zone: schedule?.time_zone,
            busy: files.busy,
            onFile: (r, f, a) => void files.run(r, f, a),
            canDeliver,
            delivering: deliver.isPending ? deliver.variables : null,
            onDeliver: (r) => deliver.mutate(r.id),
          })}
          rows={items}
          rowKey={(r) => r.id}
          error={list.error}
          onRetry={() => void list.refetch()}
          rowAttrs={(r) => ({
            "data-testid": "report-row",
            "data-id": r.id,
            "data-fresh": r.id === fresh ? "true" : undefined,
            "data-failed": deliveryFailed(r) ? "true" : undefined,
            "aria-current": r.id === fresh ? "true" : undefined,
          })}
          filterText={(r) => `${r.title} ${periodText(r)} ${r.trigger}`}
          filterLabel="Filter reports"
          initialSort={{ column: "created", dir: "desc" }}
          pageSize={15}
          empty="No report yet. Generate one above, or set a schedule in the config file."
          testId="report-list"
        />
        <p className="muted small rp-foot">
          The newest {formatInt(REPORTS_SHOWN)} reports. Files are kept in {schedule ? <span className="mono">{schedule.folder}</span> : "the reports folder"}; HTML reports are self-contained
          (charts included) and make no requests when opened.
        </p>
      </Panel>
    </div>
  );
}
