import type { ReactNode } from "react";
import { ApiError, describeError } from "../backend/apiError";
import { Icon } from "./Icon";

export function Panel({
  title,
  actions,
  children,
  className = "",
}: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section className={`panel ${className}`}>
      {title !== undefined || actions !== undefined ? (
        <header className="panel-head">
          <h2 className="panel-title">{title}</h2>
          {actions}
        </header>
      ) : null}
      {children}
    </section>
  );
}

export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const code = error instanceof ApiError ? error.code : null;
  return (
    <div className="error-note" role="alert" data-testid="error-note" data-code={code ?? undefined}>
      <Icon name="alert" />
      <div>
        <div>{describeError(error)}</div>
        {code ? <div className="muted small mono">code: {code}</div> : null}
      </div>
      {onRetry ? (
        <button type="button" className="btn btn-ghost" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

export function Skeleton({ className = "" }: { className?: string }) {
  return <span className={`skeleton ${className}`} aria-hidden="true" />;
}

/** A table's one-row state: a muted message (empty list), or a skeleton while loading. */
export function TableStateRow({ cols, children }: { cols: number; children?: ReactNode }) {
  return (
    <tr>
      <td colSpan={cols} className={children ? "muted empty-row" : undefined}>
        {children ?? <Skeleton className="skeleton-wide" />}
      </td>
    </tr>
  );
}
