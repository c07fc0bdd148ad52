// JSON for people: `JsonView` prints a value indented, with keys, strings, numbers and
// literals told apart; `JsonDiff` lists what changed between two values, path by path (for
// config reloads now; edited approvals and agent versions later).
import diff, { type Difference } from "microdiff";
import type { ReactNode } from "react";


function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function scalar(v: unknown): ReactNode {
  if (v === null || v === undefined) return <span className="json-lit">null</span>;
  if (typeof v === "string") return <span className="json-str">{JSON.stringify(v)}</span>;
  if (typeof v === "number") return <span className="json-num">{String(v)}</span>;
  if (typeof v === "boolean") return <span className="json-lit">{String(v)}</span>;
  return <span>{JSON.stringify(v)}</span>;
}

function render(v: unknown, indent: number): ReactNode {
  const pad = "  ".repeat(indent + 1);
  const end = "  ".repeat(indent);
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return (
      <>
        {"[\n"}
        {v.map((item, i) => (
          <span key={i}>
            {pad}
            {render(item, indent + 1)}
            {i < v.length - 1 ? ",\n" : "\n"}
          </span>
        ))}
        {end}]
      </>
    );
  }
  if (isObject(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) return "{}";
    return (
      <>
        {"{\n"}
        {entries.map(([k, item], i) => (
          <span key={k}>
            {pad}
            <span className="json-key">{JSON.stringify(k)}</span>: {render(item, indent + 1)}
            {i < entries.length - 1 ? ",\n" : "\n"}
          </span>
        ))}
        {end}
        {"}"}
      </>
    );
  }
  return scalar(v);
}

export function JsonView({ value, testId = "json-view" }: { value: unknown; testId?: string }) {
  return (
    <pre className="code-block json" data-testid={testId}>
      {render(value, 0)}
    </pre>
  );
}

export type Change = { path: string; kind: "added" | "removed" | "changed"; before: unknown; after: unknown };

/** Dotted path of a difference: `server.allowed_hosts[1]`. */
function pathOf(d: Difference): string {
  return d.path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

/** The changes from `before` to `after`, sorted by path. */
export function changesBetween(before: unknown, after: unknown): Change[] {
  const wrap = (v: unknown): Record<string, unknown> | unknown[] =>
    isObject(v) || Array.isArray(v) ? v : { value: v };
  return diff(wrap(before), wrap(after))
    .map((d): Change => {
      const path = pathOf(d);
      if (d.type === "CREATE") return { path, kind: "added", before: undefined, after: d.value };
      if (d.type === "REMOVE") return { path, kind: "removed", before: d.oldValue, after: undefined };
      return { path, kind: "changed", before: d.oldValue, after: d.value };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}

export function JsonDiff({ before, after, empty = "No differences." }: { before: unknown; after: unknown; empty?: string }) {
  const changes = changesBetween(before, after);
  if (changes.length === 0) return <p className="muted small">{empty}</p>;
  return (
    <table className="table json-diff" data-testid="json-diff">
      <thead>
        <tr>
          <th>Key</th>
          <th>Before</th>
          <th>After</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((c) => (
          <tr key={c.path} data-kind={c.kind} data-testid="json-diff-row" data-path={c.path}>
            <td className="mono strong">{c.path}</td>
            <td className="mono diff-before">{c.kind === "added" ? <span className="muted">—</span> : render(c.before, 0)}</td>
            <td className="mono diff-after">{c.kind === "removed" ? <span className="muted">—</span> : render(c.after, 0)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
