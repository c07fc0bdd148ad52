// Audit (`#/approvals/audit`): the hash-chained log, newest first; verify the whole chain
// (the first altered, removed or reordered entry is named), optionally against a head kept
// earlier; export as JSON Lines or CSV (a download, with the head it ends at).
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { ok } from "../api/client";
import { useApi } from "../api/context";
import { useBackend } from "../backend/context";
import { JsonView } from "../components/JsonView";
import { ErrorNote, Panel, Skeleton } from "../components/Panel";
import { auditQuery } from "../data/approvals";
import { formatTimestamp } from "../format";
import type { ChainHead, Verification } from "../generated/api";

function Result({ v }: { v: Verification }) {
  return (
    <div className={v.ok ? "note-ok" : "error-note"} data-testid="audit-verification" data-ok={String(v.ok)}>
      {v.ok ? (
        <>
          Intact: {v.entries} entries
          {v.head ? (
            <>
              , head <span className="mono">{v.head.seq}</span> <span className="mono small">{v.head.hash.slice(0, 16)}…</span>
            </>
          ) : null}
        </>
      ) : (
        <>
          <strong>Tampered</strong> ({v.problem?.kind}, entry {v.problem?.seq}): {v.problem?.message}
        </>
      )}
    </div>
  );
}

export function AuditPanel() {
  const api = useApi();
  const backend = useBackend();
  const log = useQuery(auditQuery(api));
  const [kept, setKept] = useState("");
  const [keptError, setKeptError] = useState<string | null>(null);
  const [exportError, setExportError] = useState<string | null>(null);
  const verify = useMutation({
    mutationFn: (head: ChainHead | null) =>
      head ? ok(api.POST("/api/v1/audit/verify", { body: head })) : ok(api.GET("/api/v1/audit/verify")),
  });
  const download = async (format: "jsonl" | "csv") => {
    const res = await backend.fetch(new Request(`${backend.baseUrl}/api/v1/audit/export?format=${format}`));
    if (!res.ok) {
      setExportError(`The export failed (${String(res.status)} ${res.statusText}).`);
      return;
    }
    setExportError(null);
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `flightdeck-audit.${format}`;
    a.click();
    // After the download has taken the blob.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  return (
    <div className="stack" data-testid="audit">
      <Panel title="Verify">
        <div className="btn-row">
          <button type="button" className="btn btn-primary" onClick={() => verify.mutate(null)} disabled={verify.isPending} data-testid="audit-verify">
            Verify the chain
          </button>
          <button type="button" className="btn" onClick={() => void download("jsonl")} data-testid="audit-export-jsonl">
            Export JSONL
          </button>
          <button type="button" className="btn" onClick={() => void download("csv")} data-testid="audit-export-csv">
            Export CSV
          </button>
        </div>
        <label className="field">
          <span>A head kept earlier (JSON from `flightdeck audit head`), to prove nothing was cut or rewritten since</span>
          <input className="mono" value={kept} onChange={(e) => setKept(e.target.value)} placeholder='{"seq": 42, "hash": "…"}' data-testid="audit-kept" />
        </label>
        <button
          type="button"
          className="btn btn-ghost"
          disabled={!kept.trim() || verify.isPending}
          onClick={() => {
            try {
              const head = JSON.parse(kept) as ChainHead;
              setKeptError(null);
              verify.mutate(head);
            } catch (e) {
              setKeptError(`Not JSON: ${e instanceof Error ? e.message : String(e)}`);
            }
          }}
        >
          Verify against this head
        </button>
        {keptError ? <p className="error-text">{keptError}</p> : null}
        {exportError ? <p className="error-text">{exportError}</p> : null}
        {verify.data ? <Result v={verify.data} /> : null}
        {verify.error ? <ErrorNote error={verify.error} /> : null}
      </Panel>
      <Panel title="Log">
        {log.error ? (
          <ErrorNote error={log.error} onRetry={() => void log.refetch()} />
        ) : !log.data ? (
          <Skeleton className="skeleton-wide" />
        ) : (
          <table className="table small" data-testid="audit-table">
            <thead>
              <tr>
                <th className="num">#</th>
                <th>When</th>
                <th>What</th>
                <th>Who</th>
                <th>About</th>
                <th>Detail</th>
              </tr>
            </thead>
            <tbody>
              {log.data.items.map((e) => (
                <tr key={e.seq} data-testid="audit-row" data-kind={e.kind}>
                  <td className="num">{e.seq}</td>
                  <td>{formatTimestamp(e.at)}</td>
                  <td className="mono">{e.kind.replaceAll("_", " ")}</td>
                  <td className="mono">{e.actor}</td>
                  <td className="mono">{e.subject}</td>
                  <td>
                    <details>
                      <summary>show</summary>
                      <JsonView value={e.detail} />
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
    </div>
  );
}
